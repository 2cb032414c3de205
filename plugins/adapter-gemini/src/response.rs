//! Gemini `GenerateContentResponse` → OpenAI `chat.completion` (whole) and
//! `chat.completion.chunk`s (each streamed response is a partial one), and
//! `BatchEmbedContentsResponse` → an embeddings list.

use serde_json::Value;
use switchboard_sdk::openai::{self, Answer, ChunkWriter, Finish, Usage};
use switchboard_sdk::types::{AdapterError, RequestContext, SseEvent, TokenUsage};

/// Gemini `finishReason` → OpenAI's; function calls make `tool_calls` of a plain stop.
pub fn finish(reason: Option<&str>, calls: bool) -> Finish {
    match reason {
        Some("MAX_TOKENS") => Finish::Length,
        Some(
            "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY",
        ) => Finish::ContentFilter,
        _ if calls => Finish::ToolCalls,
        _ => Finish::Stop,
    }
}

/// `usageMetadata`: prompt (cached included), candidates and thoughts as completion.
pub fn usage(u: Option<&Value>) -> Option<Usage> {
    let u = u?;
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    Some(Usage {
        prompt: n("promptTokenCount"),
        completion: n("candidatesTokenCount") + n("thoughtsTokenCount"),
        cached: n("cachedContentTokenCount"),
    })
}

/// A function call of a candidate: its id if Gemini gave one, name, arguments as JSON
/// text, and its thought signature (Gemini 3 wants it back with the call).
type Call = (Option<String>, String, String, Option<String>);

/// Text (thought parts left out) and function calls of a candidate.
fn parts(candidate: Option<&Value>) -> (String, Vec<Call>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    let parts = candidate
        .and_then(|c| c.get("content"))
        .and_then(|c| c.get("parts"))
        .and_then(Value::as_array);
    for p in parts.into_iter().flatten() {
        if p.get("thought") == Some(&Value::Bool(true)) {
            continue;
        }
        if let Some(t) = p.get("text").and_then(Value::as_str) {
            text.push_str(t);
        }
        if let Some(f) = p.get("functionCall") {
            let args = f
                .get("args")
                .cloned()
                .unwrap_or(Value::Object(Default::default()));
            calls.push((
                f.get("id").and_then(Value::as_str).map(str::to_string),
                f.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                args.to_string(),
                p.get("thoughtSignature")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            ));
        }
    }
    (text, calls)
}

/// A prompt Gemini blocked before answering says so in `promptFeedback`.
fn blocked(v: &Value) -> Option<&str> {
    v.get("promptFeedback")?.get("blockReason")?.as_str()
}

pub fn answer(ctx: &RequestContext, body: &[u8]) -> Result<(Vec<u8>, TokenUsage), AdapterError> {
    let v = openai::provider_json(body, "Gemini")?;
    let candidate = v.get("candidates").and_then(|c| c.get(0));
    if candidate.is_none() && blocked(&v).is_none() {
        return Err(openai::broken("Gemini answered no candidate"));
    }
    let (text, calls) = parts(candidate);
    let reason = candidate
        .and_then(|c| c.get("finishReason"))
        .and_then(Value::as_str)
        .or(blocked(&v).map(|_| "SAFETY"));
    let usage = usage(v.get("usageMetadata")).unwrap_or_default();
    let a = Answer {
        id: v
            .get("responseId")
            .and_then(Value::as_str)
            .unwrap_or(&ctx.request_id)
            .to_string(),
        model: v
            .get("modelVersion")
            .and_then(Value::as_str)
            .unwrap_or(&ctx.target_model)
            .to_string(),
        finish: finish(reason, !calls.is_empty()),
        tool_calls: calls
            .into_iter()
            .enumerate()
            .map(|(i, (id, name, args, sig))| {
                let id = id.unwrap_or_else(|| openai::call_id(ctx, i));
                (crate::signature::attach(&id, sig.as_deref()), name, args)
            })
            .collect(),
        text,
        usage,
    };
    Ok(openai::answer_with_usage(ctx, &a))
}

/// One streamed `GenerateContentResponse`: its text and calls as chunks, its finish
/// reason as the finish chunk, its usage kept for the end.
pub fn stream_event(
    ctx: &RequestContext,
    w: &mut ChunkWriter,
    data: &str,
    out: &mut Vec<SseEvent>,
) -> Result<(), AdapterError> {
    let v = openai::provider_json(data.as_bytes(), "Gemini")?;
    if let Some(e) = v.get("error") {
        let status = e.get("code").and_then(Value::as_u64).unwrap_or(502) as u16;
        return Err(openai::upstream_error(status, data.as_bytes()));
    }
    if let Some(model) = v.get("modelVersion").and_then(Value::as_str) {
        w.model = model.to_string();
    }
    if let Some(id) = v.get("responseId").and_then(Value::as_str) {
        w.id = id.to_string();
    }
    let candidate = v.get("candidates").and_then(|c| c.get(0));
    let (text, calls) = parts(candidate);
    w.start(out);
    w.text(&text, out);
    for (id, name, args, sig) in calls {
        let id = id.unwrap_or_else(|| openai::call_id(ctx, w.tool_count()));
        let id = crate::signature::attach(&id, sig.as_deref());
        let i = w.tool_start(&id, &name, out);
        w.tool_arguments(i, &args, out);
    }
    if let Some(u) = usage(v.get("usageMetadata")) {
        w.usage = u;
    }
    let reason = candidate
        .and_then(|c| c.get("finishReason"))
        .and_then(Value::as_str)
        .or(blocked(&v).map(|_| "SAFETY"));
    if let Some(r) = reason {
        let f = finish(Some(r), w.tool_count() > 0);
        w.finish(f, out);
    }
    Ok(())
}

/// Gemini's `batchEmbedContents` reports no token counts: the usage is 0.
pub fn embeddings(
    ctx: &RequestContext,
    body: &[u8],
) -> Result<(Vec<u8>, TokenUsage), AdapterError> {
    let v = openai::provider_json(body, "Gemini")?;
    openai::translated_embeddings(ctx, v.get("embeddings"), 0, "Gemini")
}

/// Vertex AI's `:predict` answer: `predictions[].embeddings.values`, tokens counted per
/// instance in `statistics.token_count`.
pub fn vertex_embeddings(
    ctx: &RequestContext,
    body: &[u8],
) -> Result<(Vec<u8>, TokenUsage), AdapterError> {
    let v = openai::provider_json(body, "Vertex AI")?;
    let predictions = v.get("predictions").and_then(Value::as_array);
    let list: Vec<Value> = predictions
        .into_iter()
        .flatten()
        .map(|p| p["embeddings"].clone())
        .collect();
    let tokens: u64 = list
        .iter()
        .filter_map(|e| e["statistics"]["token_count"].as_f64())
        .map(|n| n as u64)
        .sum();
    let list = predictions.map(|_| Value::Array(list));
    openai::translated_embeddings(ctx, list.as_ref(), tokens, "Vertex AI")
}
