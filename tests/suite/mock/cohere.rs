//! Cohere v2 wire format for the mock (public reference:
//! https://docs.cohere.com/reference/chat, https://docs.cohere.com/reference/chat-stream
//! and https://docs.cohere.com/reference/embed, shapes checked 2026-12): `/v2/chat`
//! answers (text, or a tool plan with two tool calls), the typed SSE stream
//! (message-start, content-*, tool-plan-delta, tool-call-*, message-end), `/v2/embed`,
//! and Cohere's `{"id","message"}` error shape for requests it would refuse.

use serde_json::{Value, json};

use super::{answering_tool_results, sse};

const CALLS: [(&str, &str); 2] = [("call_1", "Paris"), ("call_2", "Oslo")];

/// Cohere's error JSON (the same shape for every status).
pub fn error_body(_status: u16, message: &str) -> String {
    json!({ "id": "err_mock", "message": message }).to_string()
}

fn bad(message: &str) -> (u16, Value) {
    (400, json!({ "id": "err_mock", "message": message }))
}

fn messages(req: &Value) -> &[Value] {
    req["messages"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// The text of the last user message (a string, or its text parts joined by a space).
pub fn last_user_text(req: &Value) -> String {
    super::last_user_text(messages(req))
}

/// Refuses what the real API refuses: `stream_options` (an OpenAI field v2 does not
/// know), no `messages`, an unknown role, a tool message without `tool_call_id`, tool
/// call arguments that are not a JSON string.
fn validate(req: &Value) -> Result<(), (u16, Value)> {
    if req.get("stream_options").is_some() {
        return Err(bad(
            "invalid request: unknown field: parameter stream_options is not a valid field",
        ));
    }
    let msgs = req["messages"]
        .as_array()
        .ok_or_else(|| bad("invalid request: messages must be provided"))?;
    for (i, m) in msgs.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or("");
        if !["system", "user", "assistant", "tool"].contains(&role) {
            return Err(bad(&format!(
                "invalid request: messages[{i}].role must be one of system, user, assistant, tool"
            )));
        }
        if role == "tool" && !m["tool_call_id"].is_string() {
            return Err(bad(&format!(
                "invalid request: messages[{i}].tool_call_id is required"
            )));
        }
        if m["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| !c["function"]["arguments"].is_string())
        {
            return Err(bad(&format!(
                "invalid request: messages[{i}].tool_calls[].function.arguments must be a string"
            )));
        }
    }
    Ok(())
}

fn wants_tools(req: &Value) -> bool {
    req["tools"].as_array().is_some_and(|t| !t.is_empty()) && !answering_tool_results(messages(req))
}

fn finish_reason(req: &Value) -> &'static str {
    if wants_tools(req) {
        "TOOL_CALL"
    } else if req["max_tokens"].as_u64().is_some_and(|m| m < 3) {
        "MAX_TOKENS"
    } else if req["stop_sequences"]
        .as_array()
        .is_some_and(|s| !s.is_empty())
    {
        "STOP_SEQUENCE"
    } else {
        "COMPLETE"
    }
}

fn usage() -> Value {
    json!({
        "billed_units": { "input_tokens": 11, "output_tokens": 7 },
        "tokens": { "input_tokens": 11, "output_tokens": 7 },
    })
}

fn arguments(city: &str) -> String {
    format!("{{\"city\":\"{city}\"}}")
}

/// `text`: what the model says (unless it calls tools).
pub fn reply(req: &Value, text: &str) -> Result<Value, (u16, Value)> {
    validate(req)?;
    let message = if wants_tools(req) {
        let calls: Vec<Value> = CALLS
            .iter()
            .map(|(id, city)| {
                json!({ "id": id, "type": "function",
                        "function": { "name": "get_weather", "arguments": arguments(city) } })
            })
            .collect();
        json!({ "role": "assistant", "tool_plan": "Let me check.", "tool_calls": calls })
    } else {
        json!({ "role": "assistant", "content": [{ "type": "text", "text": text }] })
    };
    Ok(json!({
        "id": "chat_mock", "finish_reason": finish_reason(req), "message": message,
        "usage": usage(),
    }))
}

/// One stream event: `event: <type>` and the JSON with the same `type`.
fn event(kind: &str, mut body: Value) -> Vec<u8> {
    body["type"] = json!(kind);
    sse(Some(kind), &body).into_bytes()
}

fn tool_events(out: &mut Vec<Vec<u8>>) {
    for plan in ["Let me ", "check."] {
        out.push(event(
            "tool-plan-delta",
            json!({ "delta": { "message": { "tool_plan": plan } } }),
        ));
    }
    for (i, (id, city)) in CALLS.iter().enumerate() {
        out.push(event(
            "tool-call-start",
            json!({ "index": i, "delta": { "message": {
            "tool_calls": { "id": id, "type": "function",
                            "function": { "name": "get_weather", "arguments": "" } } } } }),
        ));
        let args = arguments(city);
        let (head, tail) = args.split_at("{\"city\":".len());
        for part in [head, tail] {
            out.push(event(
                "tool-call-delta",
                json!({ "index": i, "delta": { "message": {
                "tool_calls": { "function": { "arguments": part } } } } }),
            ));
        }
        out.push(event("tool-call-end", json!({ "index": i })));
    }
}

/// `pieces`: what the model says, one content-delta each.
pub fn stream(req: &Value, pieces: &[String]) -> Result<Vec<Vec<u8>>, (u16, Value)> {
    validate(req)?;
    let mut out = vec![event(
        "message-start",
        json!({ "id": "chat_mock", "delta": { "message": {
            "role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": [] } } }),
    )];
    if wants_tools(req) {
        tool_events(&mut out);
    } else {
        out.push(event(
            "content-start",
            json!({ "index": 0, "delta": { "message": { "content": { "type": "text", "text": "" } } } }),
        ));
        for piece in pieces {
            out.push(event(
                "content-delta",
                json!({ "index": 0, "delta": { "message": { "content": { "text": piece } } } }),
            ));
        }
        out.push(event("content-end", json!({ "index": 0 })));
    }
    out.push(event(
        "message-end",
        json!({ "delta": { "finish_reason": finish_reason(req), "usage": usage() } }),
    ));
    Ok(out)
}

/// The vector every mock gives a text: its length in characters, then 0.5 and -1.
fn vector(text: &str) -> Vec<f64> {
    vec![text.chars().count() as f64, 0.5, -1.0]
}

/// `/v2/embed`: `{model, texts, input_type, embedding_types}` → embeddings by type
/// (`float` unless others are asked for), billed at 2 input tokens a text.
pub fn embeddings(req: &Value) -> Result<Value, (u16, Value)> {
    if !req["input_type"].is_string() {
        return Err(bad(
            "invalid request: valid input_type must be provided with the provided model",
        ));
    }
    let texts = req["texts"]
        .as_array()
        .ok_or_else(|| bad("invalid request: one of texts, images or inputs must be provided"))?;
    let vectors: Vec<Vec<f64>> = texts
        .iter()
        .map(|t| vector(t.as_str().unwrap_or("")))
        .collect();
    let kinds: Vec<&str> = match req["embedding_types"].as_array() {
        Some(k) if !k.is_empty() => k.iter().filter_map(Value::as_str).collect(),
        _ => vec!["float"],
    };
    let mut by_type = serde_json::Map::new();
    for kind in kinds {
        let v = if kind == "float" {
            json!(vectors)
        } else {
            // int8, uint8, binary, ubinary: whole numbers.
            let whole: Vec<Vec<i64>> = vectors
                .iter()
                .map(|v| v.iter().map(|x| x.round() as i64).collect())
                .collect();
            json!(whole)
        };
        by_type.insert(kind.to_string(), v);
    }
    Ok(json!({
        "id": "embed_mock", "embeddings": by_type, "texts": texts,
        "meta": { "api_version": { "version": "2" }, "billed_units": { "input_tokens": texts.len() * 2 } },
        "response_type": "embeddings_by_type",
    }))
}
