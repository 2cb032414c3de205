//! OpenAI ↔ Cohere v2 `/chat` and `/embed` bodies, and the chat stream's typed events.

use serde_json::{Map, Value, json};
use switchboard_sdk::openai::{
    self, Answer, ChunkWriter, Finish, Part, Request, ResponseFormat, Role, ToolChoice, Usage,
};
use switchboard_sdk::types::{AdapterError, RequestContext, SseEvent, TokenUsage};

use crate::Config;

fn message(r: &Request, i: usize) -> Value {
    let m = &r.messages[i];
    match m.role {
        Role::System => json!({ "role": "system", "content": m.text() }),
        Role::User if m.content.iter().any(|p| matches!(p, Part::Image(_))) => {
            let parts: Vec<Value> = m
                .content
                .iter()
                .map(|p| match p {
                    Part::Text(t) => json!({ "type": "text", "text": t }),
                    Part::Image(u) => json!({ "type": "image_url", "image_url": { "url": u } }),
                })
                .collect();
            json!({ "role": "user", "content": parts })
        }
        Role::User => json!({ "role": "user", "content": m.text() }),
        Role::Tool => {
            json!({ "role": "tool", "tool_call_id": m.tool_call_id, "content": m.text() })
        }
        Role::Assistant => {
            let mut out = json!({ "role": "assistant" });
            let text = m.text();
            if !text.is_empty() {
                out["content"] = json!(text);
            }
            if !m.tool_calls.is_empty() {
                out["tool_calls"] = m
                    .tool_calls
                    .iter()
                    .map(|c| {
                        json!({ "id": c.id, "type": "function",
                        "function": { "name": c.name, "arguments": c.arguments.to_string() } })
                    })
                    .collect();
            }
            out
        }
    }
}

fn sampling(r: &Request, out: &mut Map<String, Value>) {
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            out.insert(k.into(), v);
        }
    };
    put("max_tokens", r.max_tokens.map(Value::from));
    put("temperature", r.temperature.map(Value::from));
    put("p", r.top_p.map(Value::from));
    put("k", r.raw.get("top_k").cloned());
    put("seed", r.seed.map(Value::from));
    put("frequency_penalty", r.frequency_penalty.map(Value::from));
    put("presence_penalty", r.presence_penalty.map(Value::from));
    put(
        "stop_sequences",
        (!r.stop.is_empty()).then(|| json!(r.stop)),
    );
    match &r.response_format {
        ResponseFormat::Text => {}
        ResponseFormat::JsonObject => {
            put("response_format", Some(json!({ "type": "json_object" })))
        }
        ResponseFormat::JsonSchema { schema, .. } => put(
            "response_format",
            Some(json!({ "type": "json_object", "json_schema": schema })),
        ),
    }
}

/// The `/chat` body of an OpenAI chat body.
pub fn chat(ctx: &RequestContext, body: &[u8]) -> Result<Vec<u8>, AdapterError> {
    let r = openai::parse(body)?;
    r.one_choice("Cohere")?;
    let mut out = Map::new();
    out.insert("model".into(), json!(ctx.target_model));
    let messages: Vec<Value> = (0..r.messages.len()).map(|i| message(&r, i)).collect();
    out.insert("messages".into(), Value::Array(messages));
    out.insert("stream".into(), json!(ctx.stream));
    sampling(&r, &mut out);
    // Cohere has REQUIRED and NONE (no naming of one tool): a named tool is offered alone.
    let tools: Vec<_> = match &r.tool_choice {
        ToolChoice::Function(name) => r.tools.iter().filter(|t| &t.name == name).collect(),
        _ => r.tools.iter().collect(),
    };
    if !tools.is_empty() {
        out.insert(
            "tools".into(),
            tools
                .iter()
                .map(|t| json!({ "type": "function", "function": {
                    "name": t.name, "description": t.description.clone().unwrap_or_default(), "parameters": t.parameters } }))
                .collect(),
        );
    }
    match &r.tool_choice {
        ToolChoice::Required | ToolChoice::Function(_) => {
            out.insert("tool_choice".into(), json!("REQUIRED"));
        }
        ToolChoice::None => {
            out.insert("tool_choice".into(), json!("NONE"));
        }
        _ => {}
    }
    Ok(Value::Object(out).to_string().into_bytes())
}

/// The `/embed` body of an OpenAI embeddings body.
pub fn embed(ctx: &RequestContext, config: &Config, body: &[u8]) -> Result<Vec<u8>, AdapterError> {
    let e = openai::parse_embeddings(body)?;
    let mut out = json!({
        "model": ctx.target_model, "texts": e.inputs, "embedding_types": ["float"],
        "input_type": config.input_type.as_deref().unwrap_or("search_document"),
    });
    if let Some(d) = e.dimensions {
        out["output_dimension"] = json!(d);
    }
    Ok(out.to_string().into_bytes())
}

/// `usage.tokens` (what the model saw), else `billed_units`; `cached_tokens` if told.
fn usage(u: Option<&Value>) -> Usage {
    let u = u.unwrap_or(&Value::Null);
    let counts = u.get("tokens").or_else(|| u.get("billed_units"));
    let n = |k: &str| {
        counts
            .and_then(|c| c.get(k))
            .and_then(Value::as_f64)
            .unwrap_or(0.0) as u64
    };
    Usage {
        prompt: n("input_tokens"),
        completion: n("output_tokens"),
        cached: u
            .get("cached_tokens")
            .and_then(Value::as_f64)
            .unwrap_or(0.0) as u64,
    }
}

fn finish(reason: Option<&str>) -> Finish {
    match reason {
        Some("MAX_TOKENS") => Finish::Length,
        Some("TOOL_CALL") => Finish::ToolCalls,
        _ => Finish::Stop,
    }
}

pub fn answer(ctx: &RequestContext, body: &[u8]) -> Result<(Vec<u8>, TokenUsage), AdapterError> {
    let v = openai::provider_json(body, "Cohere")?;
    let m = v
        .get("message")
        .ok_or_else(|| openai::broken("Cohere answered no message"))?;
    let text: String = m
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("text").and_then(Value::as_str))
        .collect();
    let calls: Vec<(String, String, String)> = m
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| {
            let f = c.get("function").unwrap_or(&Value::Null);
            let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
            (
                s(c.get("id")).unwrap_or_else(|| openai::call_id(ctx, i)),
                s(f.get("name")).unwrap_or_default(),
                s(f.get("arguments")).unwrap_or_else(|| "{}".into()),
            )
        })
        .collect();
    let usage = usage(v.get("usage"));
    let a = Answer {
        id: v
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or(&ctx.request_id)
            .to_string(),
        model: ctx.target_model.clone(),
        text,
        finish: finish(v.get("finish_reason").and_then(Value::as_str)),
        tool_calls: calls,
        usage,
    };
    Ok(openai::answer_with_usage(ctx, &a))
}

/// One typed stream event.
pub fn stream_event(
    w: &mut ChunkWriter,
    ev: &SseEvent,
    out: &mut Vec<SseEvent>,
) -> Result<(), AdapterError> {
    let v = openai::provider_json(ev.data.as_bytes(), "Cohere")?;
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .or(ev.event.as_deref())
        .unwrap_or("");
    let delta = v.get("delta").and_then(|d| d.get("message"));
    match kind {
        "message-start" => {
            if let Some(id) = v.get("id").and_then(Value::as_str) {
                w.id = id.to_string();
            }
            w.start(out);
        }
        "content-delta" => {
            let t = delta
                .and_then(|d| d.get("content"))
                .and_then(|c| c.get("text"));
            w.text(t.and_then(Value::as_str).unwrap_or(""), out);
        }
        "tool-call-start" => {
            let c = delta
                .and_then(|d| d.get("tool_calls"))
                .unwrap_or(&Value::Null);
            let f = c.get("function").unwrap_or(&Value::Null);
            let id = c
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let name = f.get("name").and_then(Value::as_str).unwrap_or("");
            let i = w.tool_start(&id, name, out);
            w.tool_arguments(
                i,
                f.get("arguments").and_then(Value::as_str).unwrap_or(""),
                out,
            );
        }
        "tool-call-delta" => {
            let part = delta
                .and_then(|d| d.get("tool_calls"))
                .and_then(|c| c.get("function"))
                .and_then(|f| f.get("arguments"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let i = w.tool_count().checked_sub(1).ok_or_else(|| {
                openai::broken("Cohere's stream sent tool arguments before a tool-call-start")
            })?;
            w.tool_arguments(i, part, out);
        }
        "message-end" => {
            let d = v.get("delta");
            w.usage = usage(d.and_then(|d| d.get("usage")));
            let reason = d
                .and_then(|d| d.get("finish_reason"))
                .and_then(Value::as_str);
            if matches!(reason, Some(r) if r.starts_with("ERROR")) {
                return Err(openai::broken(format!(
                    "Cohere's stream ended with {}",
                    reason.unwrap_or("")
                )));
            }
            w.finish(finish(reason), out);
            w.close(out);
        }
        _ => {}
    }
    Ok(())
}

pub fn embeddings(
    ctx: &RequestContext,
    body: &[u8],
) -> Result<(Vec<u8>, TokenUsage), AdapterError> {
    let v = openai::provider_json(body, "Cohere")?;
    let prompt = v
        .pointer("/meta/billed_units/input_tokens")
        .and_then(Value::as_f64)
        .unwrap_or(0.0) as u64;
    openai::translated_embeddings(ctx, v.pointer("/embeddings/float"), prompt, "Cohere")
}
