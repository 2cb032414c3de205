//! Gemini API wire format for the mock (public reference:
//! https://ai.google.dev/api/generate-content and https://ai.google.dev/api/embeddings,
//! shapes checked 2026-12): `generateContent` answers (text, or text then two
//! `functionCall` parts), the `streamGenerateContent?alt=sse` stream (CRLF-framed
//! chunks, function calls whole in one chunk, the last chunk carrying `finishReason`
//! and the full `usageMetadata`), `batchEmbedContents`, and Google's error shape for
//! requests it would refuse.

use serde_json::{Value, json};

/// What every answer names as `modelVersion` (the model is in the URL, not the body).
pub const MODEL_VERSION: &str = "gemini-mock-001";
pub const RESPONSE_ID: &str = "resp_mock";

/// A field by its JSON (camelCase) name or its proto (snake_case) name: the API takes both.
fn field<'a>(v: &'a Value, camel: &str, snake: &str) -> &'a Value {
    match v.get(camel) {
        Some(x) if !x.is_null() => x,
        _ => &v[snake],
    }
}

fn status_name(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        s if s >= 500 => "INTERNAL",
        _ => "INVALID_ARGUMENT",
    }
}

fn error_value(status: u16, message: &str) -> Value {
    json!({ "error": { "code": status, "message": message, "status": status_name(status) } })
}

/// Google's error JSON for `status`: `{"error":{"code","message","status"}}`.
pub fn error_body(status: u16, message: &str) -> String {
    error_value(status, message).to_string()
}

fn bad(message: &str) -> (u16, Value) {
    (400, error_value(400, message))
}

/// The text parts of one `Content`, joined by a space.
fn parts_text(content: &Value) -> String {
    content["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["text"].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The text of the last user content (a content without a role is the user's).
pub fn last_user_text(req: &Value) -> String {
    req["contents"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .find(|c| c["role"].as_str().is_none_or(|r| r == "user"))
        .map(parts_text)
        .unwrap_or_default()
}

/// Refuses what the real API refuses: no (or empty) `contents`, a role other than
/// user/model (a `system` content, say: system text goes in `systemInstruction`),
/// a content without parts.
fn validate(req: &Value) -> Result<(), (u16, Value)> {
    let contents = req["contents"]
        .as_array()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad("* GenerateContentRequest.contents: contents is not specified"))?;
    for (i, c) in contents.iter().enumerate() {
        match &c["role"] {
            Value::Null => {}
            Value::String(r) if r == "user" || r == "model" => {}
            other => {
                return Err(bad(&format!(
                    "Please use a valid role: user, model. (contents[{i}].role: {other})"
                )));
            }
        }
        if c["parts"].as_array().is_none_or(|p| p.is_empty()) {
            return Err(bad(&format!(
                "* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
            )));
        }
    }
    Ok(())
}

fn offers_functions(req: &Value) -> bool {
    req["tools"].as_array().is_some_and(|tools| {
        tools.iter().any(|t| {
            field(t, "functionDeclarations", "function_declarations")
                .as_array()
                .is_some_and(|f| !f.is_empty())
        })
    })
}

/// Whether the last content answers function calls (`functionResponse` parts).
fn answering_function_results(req: &Value) -> bool {
    req["contents"]
        .as_array()
        .and_then(|c| c.last())
        .and_then(|c| c["parts"].as_array())
        .is_some_and(|parts| {
            parts
                .iter()
                .any(|p| !field(p, "functionResponse", "function_response").is_null())
        })
}

fn wants_tools(req: &Value) -> bool {
    offers_functions(req) && !answering_function_results(req)
}

/// STOP for text and for function calls alike (Gemini has no tool-call reason, and a
/// stop sequence also ends in STOP); MAX_TOKENS when the output limit is under 3.
fn finish_reason(req: &Value) -> &'static str {
    let config = field(req, "generationConfig", "generation_config");
    let max = field(config, "maxOutputTokens", "max_output_tokens").as_u64();
    if !wants_tools(req) && max.is_some_and(|m| m < 3) {
        "MAX_TOKENS"
    } else {
        "STOP"
    }
}

fn usage() -> Value {
    json!({
        "promptTokenCount": 11, "candidatesTokenCount": 7, "totalTokenCount": 18,
        "cachedContentTokenCount": 2,
        "promptTokensDetails": [{ "modality": "TEXT", "tokenCount": 11 }],
        "cacheTokensDetails": [{ "modality": "TEXT", "tokenCount": 2 }],
    })
}

fn call(city: &str) -> Value {
    json!({ "functionCall": { "name": "get_weather", "args": { "city": city } } })
}

/// One GenerateContentResponse; `finish` only on the last one.
fn response(parts: Vec<Value>, finish: Option<&str>, usage: Value) -> Value {
    let mut candidate = json!({ "content": { "role": "model", "parts": parts }, "index": 0 });
    if let Some(f) = finish {
        candidate["finishReason"] = json!(f);
    }
    json!({
        "candidates": [candidate], "usageMetadata": usage,
        "modelVersion": MODEL_VERSION, "responseId": RESPONSE_ID,
    })
}

/// `text`: what the model says (unless it calls functions).
pub fn reply(req: &Value, text: &str) -> Result<Value, (u16, Value)> {
    validate(req)?;
    let parts = if wants_tools(req) {
        vec![
            json!({ "text": "Let me check." }),
            call("Paris"),
            call("Oslo"),
        ]
    } else {
        vec![json!({ "text": text })]
    };
    Ok(response(parts, Some(finish_reason(req)), usage()))
}

/// `pieces`: what the model says, one chunk each. Frames are `data: {json}\r\n\r\n`.
/// Chunks before the last carry a partial `usageMetadata` (prompt only), as the real
/// stream does: a client must take the last one, not add them up.
pub fn stream(req: &Value, pieces: &[String]) -> Result<Vec<Vec<u8>>, (u16, Value)> {
    validate(req)?;
    let mut chunks: Vec<Vec<Value>> = if wants_tools(req) {
        vec![
            vec![json!({ "text": "Let me check." })],
            vec![call("Paris"), call("Oslo")],
        ]
    } else {
        pieces.iter().map(|p| vec![json!({ "text": p })]).collect()
    };
    if chunks.is_empty() {
        chunks.push(vec![json!({ "text": "" })]);
    }
    let last = chunks.len() - 1;
    let partial = json!({ "promptTokenCount": 11, "totalTokenCount": 11 });
    Ok(chunks
        .into_iter()
        .enumerate()
        .map(|(i, parts)| {
            let chunk = if i == last {
                response(parts, Some(finish_reason(req)), usage())
            } else {
                response(parts, None, partial.clone())
            };
            format!("data: {chunk}\r\n\r\n").into_bytes()
        })
        .collect())
}

/// The vector every mock gives a text: its length in characters, then 0.5 and -1.
fn vector(text: &str) -> Vec<f64> {
    vec![text.chars().count() as f64, 0.5, -1.0]
}

/// `batchEmbedContents`: `{requests:[{model, content:{parts:[{text}]}}]}` →
/// `{embeddings:[{values}]}`, one vector of 3 per request.
pub fn embeddings(req: &Value) -> Result<Value, (u16, Value)> {
    let requests = req["requests"]
        .as_array()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| bad("* BatchEmbedContentsRequest.requests: requests is not specified"))?;
    let mut out = Vec::with_capacity(requests.len());
    for (i, r) in requests.iter().enumerate() {
        if r["content"]["parts"]
            .as_array()
            .is_none_or(|p| p.is_empty())
        {
            return Err(bad(&format!(
                "* BatchEmbedContentsRequest.requests[{i}].content.parts: contents.parts must not be empty."
            )));
        }
        out.push(json!({ "values": vector(&parts_text(&r["content"])) }));
    }
    Ok(json!({ "embeddings": out }))
}

/// Vertex AI's `:predict` for text embedding models (its "Text embeddings API"):
/// `{instances:[{content}]}` → `{predictions:[{embeddings:{values, statistics:
/// {token_count, truncated}}}]}`.
pub fn vertex_embeddings(req: &Value) -> Result<Value, (u16, Value)> {
    let instances = req["instances"]
        .as_array()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| bad("instances: must not be empty"))?;
    let mut out = Vec::with_capacity(instances.len());
    for i in instances {
        let Some(text) = i["content"].as_str() else {
            return Err(bad("instances[].content: must be a string"));
        };
        let tokens = text.split_whitespace().count();
        out.push(json!({ "embeddings": { "values": vector(text),
            "statistics": { "token_count": tokens, "truncated": false } } }));
    }
    Ok(json!({ "predictions": out }))
}
