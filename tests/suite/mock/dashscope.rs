//! Alibaba Cloud Model Studio's native DashScope API for the mock (public references:
//! the Qwen API reference, https://www.alibabacloud.com/help/en/model-studio/qwen-api-reference
//! (DashScope protocol part); the error codes,
//! https://www.alibabacloud.com/help/en/model-studio/developer-reference/error-code; and
//! the wire recordings of github.com/cnblogs/dashscope-sdk (test/Cnblogs.DashScope.Tests.Shared/RawHttpData),
//! shapes checked 2026-12):
//! - `POST /api/v1/services/aigc/text-generation/generation`, `{model, input: {messages},
//!   parameters}`: with `result_format: "message"` the answer is `{output: {choices:
//!   [{finish_reason, message: {role, content, tool_calls?}}]}, usage: {input_tokens,
//!   output_tokens, total_tokens, prompt_tokens_details: {cached_tokens}}, request_id}`,
//!   without it the older `{output: {text, finish_reason}}`;
//! - `POST /api/v1/services/aigc/multimodal-generation/generation`: contents are lists of
//!   `{text}` / `{image}`, and so are the answer's;
//! - a stream when the request has `X-DashScope-SSE: enable` (or accepts
//!   `text/event-stream`): `id:N`, `event:result`, `:HTTP_STATUS/200`, `data:{…}` events,
//!   each repeating the usage so far, `finish_reason` the string `"null"` until the last;
//!   with `incremental_output: true` each carries only its new text, without it the whole
//!   text so far; tool calls stream as `{index, id, type, function: {name, arguments}}`
//!   parts (`id` empty after the first of a call);
//! - `POST /api/v1/services/embeddings/text-embedding/text-embedding`, `{model, input:
//!   {texts}}` → `{output: {embeddings: [{text_index, embedding}]}, usage: {total_tokens}}`
//!   (the mock lists them last text first, so an adapter must order them by index);
//! - errors `{code, message, request_id}` with the HTTP status (`InvalidParameter` 400,
//!   `InvalidApiKey` 401, `Throttling.RateQuota` 429, `InternalError` 500, …).
//!
//! Answers follow the other mocks: "<provider> says: <last user text>", usage 11 in
//! (2 of them cached) / 7 out, two parallel `get_weather` calls (Paris, Oslo) when tools
//! are offered and the last message is not a tool result, `length` when `max_tokens` < 3.

use serde_json::{Value, json};

use super::answering_tool_results;

pub const TEXT: &str = "/api/v1/services/aigc/text-generation/generation";
pub const MULTIMODAL: &str = "/api/v1/services/aigc/multimodal-generation/generation";
pub const EMBEDDINGS: &str = "/api/v1/services/embeddings/text-embedding/text-embedding";

const REQUEST_ID: &str = "5d1c7e3a-1b2c-9d4e-8f70-mock0dashscope";
const CALLS: [(&str, &str); 2] = [("call_1", "Paris"), ("call_2", "Oslo")];

/// Which DashScope endpoint `rest` is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Endpoint {
    Chat { multimodal: bool },
    Embeddings,
}

pub fn endpoint(rest: &str) -> Option<Endpoint> {
    match rest {
        TEXT => Some(Endpoint::Chat { multimodal: false }),
        MULTIMODAL => Some(Endpoint::Chat { multimodal: true }),
        EMBEDDINGS => Some(Endpoint::Embeddings),
        _ => None,
    }
}

/// Whether the request asks for a stream (DashScope's body has no `stream`).
pub fn wants_sse(headers: &http::HeaderMap) -> bool {
    let has = |name: &str, want: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains(want))
    };
    has("x-dashscope-sse", "enable") || has("accept", "text/event-stream")
}

fn code_of(status: u16) -> &'static str {
    match status {
        400 => "InvalidParameter",
        401 => "InvalidApiKey",
        403 => "AccessDenied",
        404 => "ModelNotFound",
        429 => "Throttling.RateQuota",
        500 => "InternalError",
        _ => "ServiceUnavailable",
    }
}

/// DashScope's error JSON for `status`.
pub fn error_body(status: u16, message: &str) -> String {
    json!({ "code": code_of(status), "message": message, "request_id": REQUEST_ID }).to_string()
}

fn bad(message: &str) -> (u16, Value) {
    (
        400,
        json!({ "code": "InvalidParameter", "message": message, "request_id": REQUEST_ID }),
    )
}

fn messages(req: &Value) -> &[Value] {
    req["input"]["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The text of the last user message (a string, or the `text` parts of a list).
pub fn last_user_text(req: &Value) -> String {
    super::last_user_text(messages(req))
}

fn valid_content(c: &Value, multimodal: bool) -> bool {
    match c {
        Value::String(_) => !multimodal,
        Value::Array(parts) => {
            multimodal
                && parts
                    .iter()
                    .all(|p| p["text"].is_string() || p["image"].is_string())
        }
        _ => false,
    }
}

/// Refuses what the real API refuses: no model, no messages, an unknown role, a tool
/// message without `tool_call_id`, tool-call arguments that are not a string, and a
/// content of the wrong kind for the endpoint (lists only on the multimodal one).
fn validate(req: &Value, multimodal: bool) -> Result<(), (u16, Value)> {
    if req["model"].as_str().is_none_or(str::is_empty) {
        return Err((
            400,
            json!({ "code": "BadRequest.EmptyModel", "message": "Required parameter \"model\" missing from request.", "request_id": REQUEST_ID }),
        ));
    }
    let msgs = messages(req);
    if msgs.is_empty() {
        return Err(bad("Required input parameter missing from request."));
    }
    for (i, m) in msgs.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or("");
        if !["system", "user", "assistant", "tool"].contains(&role) {
            return Err(bad(
                "Role must be user or assistant and Content length must be greater than 0",
            ));
        }
        if role == "tool" && !m["tool_call_id"].is_string() {
            return Err(bad(&format!("messages[{i}]: tool_call_id is required")));
        }
        let calls = m["tool_calls"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        if calls
            .iter()
            .any(|c| !c["function"]["arguments"].is_string())
        {
            return Err(bad(&format!("messages[{i}]: arguments must be a string")));
        }
        if !valid_content(&m["content"], multimodal) {
            return Err(bad(&format!(
                "messages[{i}].content: {} expected here",
                if multimodal {
                    "a list of {text}/{image}"
                } else {
                    "a string"
                }
            )));
        }
    }
    Ok(())
}

fn params(req: &Value) -> &Value {
    &req["parameters"]
}

fn wants_tools(req: &Value) -> bool {
    params(req)["tools"]
        .as_array()
        .is_some_and(|t| !t.is_empty())
        && !answering_tool_results(messages(req))
}

fn finish_reason(req: &Value) -> &'static str {
    if wants_tools(req) {
        "tool_calls"
    } else if params(req)["max_tokens"].as_u64().is_some_and(|m| m < 3) {
        "length"
    } else {
        "stop"
    }
}

fn usage(output: u64) -> Value {
    json!({ "input_tokens": 11, "output_tokens": output, "total_tokens": 11 + output,
            "prompt_tokens_details": { "cached_tokens": 2 } })
}

fn content(text: &str, multimodal: bool) -> Value {
    if multimodal {
        json!([{ "text": text }])
    } else {
        json!(text)
    }
}

fn arguments(city: &str) -> String {
    format!("{{\"city\":\"{city}\"}}")
}

/// The `output` of an answer: choices, or `{text, finish_reason}` on the text endpoint
/// when `result_format` is not `message`.
fn output(req: &Value, message: Value, finish: &str, multimodal: bool) -> Value {
    if !multimodal && params(req)["result_format"] != "message" {
        let text = message["content"].as_str().unwrap_or("").to_string();
        return json!({ "text": text, "finish_reason": finish });
    }
    json!({ "choices": [{ "finish_reason": finish, "message": message }] })
}

/// `text`: what the model says (unless it calls tools).
pub fn reply(req: &Value, text: &str, multimodal: bool) -> Result<Value, (u16, Value)> {
    validate(req, multimodal)?;
    let message = if wants_tools(req) {
        let calls: Vec<Value> = CALLS
            .iter()
            .enumerate()
            .map(|(i, (id, city))| {
                json!({ "index": i, "id": id, "type": "function",
                        "function": { "name": "get_weather", "arguments": arguments(city) } })
            })
            .collect();
        json!({ "role": "assistant", "content": content("", multimodal), "tool_calls": calls })
    } else {
        json!({ "role": "assistant", "content": content(text, multimodal) })
    };
    Ok(json!({
        "output": output(req, message, finish_reason(req), multimodal),
        "usage": usage(7), "request_id": REQUEST_ID,
    }))
}

/// One event as DashScope frames it.
fn event(n: usize, data: &Value) -> Vec<u8> {
    format!("id:{n}\nevent:result\n:HTTP_STATUS/200\ndata:{data}\n\n").into_bytes()
}

/// The messages of a streamed tool-call answer: per call, its start (id, name, the
/// arguments' head) and the rest of its arguments.
fn tool_messages(multimodal: bool) -> Vec<Value> {
    let mut out = Vec::new();
    for (i, (id, city)) in CALLS.iter().enumerate() {
        let args = arguments(city);
        let (head, tail) = args.split_at("{\"city\":".len());
        for (id, name, part) in [(*id, Some("get_weather"), head), ("", None, tail)] {
            let mut f = json!({ "arguments": part });
            if let Some(n) = name {
                f["name"] = json!(n);
            }
            out.push(
                json!({ "role": "assistant", "content": content("", multimodal),
                "tool_calls": [{ "index": i, "id": id, "type": "function", "function": f }] }),
            );
        }
    }
    out
}

/// The messages of a streamed text answer: each piece (or, without
/// `incremental_output`, the text so far), then an empty last one (or the whole text).
fn text_messages(pieces: &[String], incremental: bool, multimodal: bool) -> Vec<Value> {
    let mut out = Vec::new();
    let mut so_far = String::new();
    for piece in pieces {
        so_far.push_str(piece);
        let said = if incremental { piece } else { &so_far };
        out.push(json!({ "role": "assistant", "content": content(said, multimodal) }));
    }
    let last = if incremental { "" } else { so_far.as_str() };
    out.push(json!({ "role": "assistant", "content": content(last, multimodal) }));
    out
}

/// `pieces`: what the model says, one event each, then a last event with the reason;
/// every event has the usage so far (7 output tokens at the end).
pub fn stream(
    req: &Value,
    pieces: &[String],
    multimodal: bool,
) -> Result<Vec<Vec<u8>>, (u16, Value)> {
    validate(req, multimodal)?;
    let incremental = params(req)["incremental_output"] == true;
    let reason = finish_reason(req);
    let messages = if wants_tools(req) {
        tool_messages(multimodal)
    } else {
        text_messages(pieces, incremental, multimodal)
    };
    let count = messages.len();
    let events = messages
        .into_iter()
        .enumerate()
        .map(|(i, message)| {
            let last = i + 1 == count;
            let (finish, tokens) = if last {
                (reason, 7)
            } else {
                ("null", (i as u64 + 1).min(7))
            };
            let v = json!({
                "output": output(req, message, finish, multimodal),
                "usage": usage(tokens), "request_id": REQUEST_ID,
            });
            event(i + 1, &v)
        })
        .collect();
    Ok(events)
}

/// The vector every mock gives a text: its length in characters, then 0.5 and -1.
fn vector(text: &str) -> Vec<f64> {
    vec![text.chars().count() as f64, 0.5, -1.0]
}

/// `text-embedding`: one vector per text, listed last text first, 2 tokens a text.
pub fn embeddings(req: &Value) -> Result<Value, (u16, Value)> {
    if req["model"].as_str().is_none_or(str::is_empty) {
        return Err(bad("Required parameter \"model\" missing from request."));
    }
    let texts = req["input"]["texts"]
        .as_array()
        .filter(|t| !t.is_empty() && t.iter().all(Value::is_string))
        .ok_or_else(|| bad("input.texts must be a non-empty list of strings"))?;
    let embeddings: Vec<Value> = texts
        .iter()
        .enumerate()
        .rev()
        .map(|(i, t)| json!({ "text_index": i, "embedding": vector(t.as_str().unwrap_or("")) }))
        .collect();
    Ok(json!({
        "output": { "embeddings": embeddings },
        "usage": { "total_tokens": texts.len() * 2 },
        "request_id": REQUEST_ID,
    }))
}
