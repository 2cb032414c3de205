//! Ollama native API wire format for the mock (public reference:
//! https://docs.ollama.com/api — formerly docs/api.md in github.com/ollama/ollama —
//! shapes checked 2026-12): `/api/chat` answers (text, or text with two tool calls whose
//! arguments are objects), its NDJSON stream (which is what Ollama sends when `stream`
//! is absent), `/api/embed`, and its `{"error": ...}` shape for requests it would refuse.

use serde_json::{Value, json};

use super::answering_tool_results;

/// Every answer's `created_at`.
pub const CREATED_AT: &str = "2026-12-03T00:00:00Z";

/// Whether Ollama streams this request: `stream` defaults to true.
pub fn streams(req: &Value) -> bool {
    req["stream"].as_bool() != Some(false)
}

/// Ollama's error JSON (the same shape for every status).
pub fn error_body(_status: u16, message: &str) -> String {
    json!({ "error": message }).to_string()
}

fn bad(message: &str) -> (u16, Value) {
    (400, json!({ "error": message }))
}

fn messages(req: &Value) -> &[Value] {
    req["messages"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// The text of the last user message (`content` is a string in Ollama).
pub fn last_user_text(req: &Value) -> String {
    super::last_user_text(messages(req))
}

/// Standard base64 (what Go decodes into `[]byte`): a `data:` URL is refused.
fn is_base64(s: &str) -> bool {
    s.len().is_multiple_of(4)
        && s.trim_end_matches('=')
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// Refuses what the real server refuses: no `model`, no `messages` (the real server
/// would load the model and answer `done_reason: "load"`; the mock is stricter), images
/// that are not bare base64, tool-call arguments that are not a JSON object.
fn validate(req: &Value) -> Result<(), (u16, Value)> {
    if req["model"].as_str().is_none_or(str::is_empty) {
        return Err(bad("model is required"));
    }
    let msgs = req["messages"]
        .as_array()
        .ok_or_else(|| bad("messages is required"))?;
    for m in msgs {
        if m["images"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|i| !i.as_str().is_some_and(is_base64))
        {
            return Err(bad("illegal base64 data at input byte 4"));
        }
        if m["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| !c["function"]["arguments"].is_object())
        {
            return Err(bad(
                "json: cannot unmarshal string into Go struct field ToolCallFunction.messages.tool_calls.function.arguments of type api.ToolCallFunctionArguments",
            ));
        }
    }
    Ok(())
}

fn wants_tools(req: &Value) -> bool {
    req["tools"].as_array().is_some_and(|t| !t.is_empty()) && !answering_tool_results(messages(req))
}

/// "length" when `options.num_predict` is 0..=2; otherwise "stop" (tool calls and stop
/// sequences included: Ollama has no other reason).
fn done_reason(req: &Value) -> &'static str {
    match req["options"]["num_predict"].as_i64() {
        Some(0..=2) if !wants_tools(req) => "length",
        _ => "stop",
    }
}

fn tool_calls() -> Value {
    json!([
        { "function": { "name": "get_weather", "arguments": { "city": "Paris" } } },
        { "function": { "name": "get_weather", "arguments": { "city": "Oslo" } } },
    ])
}

/// The closing fields: reason, counts and durations (nanoseconds).
fn finish(v: &mut Value, req: &Value) {
    let fields = json!({
        "done": true, "done_reason": done_reason(req),
        "total_duration": 5_000_000, "load_duration": 1_000_000,
        "prompt_eval_count": 11, "prompt_eval_duration": 2_000_000,
        "eval_count": 7, "eval_duration": 2_000_000,
    });
    if let (Some(obj), Value::Object(add)) = (v.as_object_mut(), fields) {
        obj.extend(add);
    }
}

/// `text`: what the model says (unless it calls tools). For `stream: false`.
pub fn reply(req: &Value, text: &str) -> Result<Value, (u16, Value)> {
    validate(req)?;
    let message = if wants_tools(req) {
        json!({ "role": "assistant", "content": "Let me check.", "tool_calls": tool_calls() })
    } else {
        json!({ "role": "assistant", "content": text })
    };
    let mut v = json!({ "model": req["model"], "created_at": CREATED_AT, "message": message });
    finish(&mut v, req);
    Ok(v)
}

/// `pieces`: what the model says, one NDJSON line each (`{json}\n`); tool calls arrive
/// whole in one line; the last line is `done: true` with the counts.
pub fn stream(req: &Value, pieces: &[String]) -> Result<Vec<Vec<u8>>, (u16, Value)> {
    validate(req)?;
    let line = |message: Value| {
        let v = json!({ "model": req["model"], "created_at": CREATED_AT, "message": message, "done": false });
        format!("{v}\n").into_bytes()
    };
    let mut out = Vec::new();
    if wants_tools(req) {
        out.push(line(
            json!({ "role": "assistant", "content": "Let me check." }),
        ));
        out.push(line(
            json!({ "role": "assistant", "content": "", "tool_calls": tool_calls() }),
        ));
    } else {
        for piece in pieces {
            out.push(line(json!({ "role": "assistant", "content": piece })));
        }
    }
    let mut last = json!({ "model": req["model"], "created_at": CREATED_AT,
                           "message": { "role": "assistant", "content": "" } });
    finish(&mut last, req);
    out.push(format!("{last}\n").into_bytes());
    Ok(out)
}

/// The vector every mock gives a text: its length in characters, then 0.5 and -1.
fn vector(text: &str) -> Vec<f64> {
    vec![text.chars().count() as f64, 0.5, -1.0]
}

/// `/api/embed`: `input` a string or strings → one vector each, 2 prompt tokens a text.
pub fn embeddings(req: &Value) -> Result<Value, (u16, Value)> {
    if req["model"].as_str().is_none_or(str::is_empty) {
        return Err(bad("model is required"));
    }
    let inputs: Vec<&str> = match &req["input"] {
        Value::Null => Vec::new(),
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a
            .iter()
            .map(|s| s.as_str().ok_or_else(|| bad("invalid input type")))
            .collect::<Result<_, _>>()?,
        _ => return Err(bad("invalid input type")),
    };
    let vectors: Vec<Vec<f64>> = inputs.iter().map(|t| vector(t)).collect();
    Ok(json!({
        "model": req["model"], "embeddings": vectors,
        "total_duration": 3_000_000, "load_duration": 1_000_000,
        "prompt_eval_count": inputs.len() * 2,
    }))
}
