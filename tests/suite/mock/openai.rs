//! OpenAI wire format for the mock: chat completions (JSON and SSE, tool calls,
//! usage chunk) and embeddings.

use serde_json::{Value, json};

use super::{answering_tool_results, sse};

fn wants_tools(req: &Value) -> bool {
    req["tools"].as_array().is_some_and(|t| !t.is_empty())
        && !answering_tool_results(req["messages"].as_array().map(Vec::as_slice).unwrap_or(&[]))
}

/// The tool the mock calls: `get_weather`, or the first offered tool whose name is
/// namespaced (`<namespace>__<tool>`, as a gateway flattens a Responses namespace).
fn called(req: &Value) -> String {
    let names = req["tools"].as_array().into_iter().flatten();
    names
        .filter_map(|t| t["function"]["name"].as_str())
        .find(|n| n.contains("__"))
        .unwrap_or("get_weather")
        .to_string()
}

/// `text`: what the model says (unless it calls tools).
pub fn reply(req: &Value, text: &str) -> Value {
    let model = req["model"].clone();
    let name = called(req);
    let message = if wants_tools(req) {
        json!({ "role": "assistant", "content": null, "tool_calls": [
            { "id": "call_1", "type": "function", "function": { "name": name, "arguments": "{\"city\":\"Paris\"}" } },
            { "id": "call_2", "type": "function", "function": { "name": name, "arguments": "{\"city\":\"Oslo\"}" } },
        ]})
    } else {
        json!({ "role": "assistant", "content": text })
    };
    let finish = if wants_tools(req) {
        "tool_calls"
    } else {
        "stop"
    };
    json!({
        "id": "chatcmpl-mock", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{ "index": 0, "message": message, "finish_reason": finish }],
        "usage": { "prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18 },
    })
}

/// `pieces`: what the model says, one content delta each.
pub fn stream(req: &Value, pieces: &[String]) -> Vec<String> {
    let model = req["model"].clone();
    let chunk = |delta: Value, finish: Value| {
        sse(
            None,
            &json!({
                "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1, "model": model,
                "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
            }),
        )
    };
    let mut out = vec![chunk(
        json!({ "role": "assistant", "content": "" }),
        Value::Null,
    )];
    if wants_tools(req) {
        let name = called(req);
        for (i, (id, city)) in [("call_1", "Paris"), ("call_2", "Oslo")].iter().enumerate() {
            out.push(chunk(json!({ "tool_calls": [{ "index": i, "id": id, "type": "function", "function": { "name": name, "arguments": "" } }] }), Value::Null));
            out.push(chunk(json!({ "tool_calls": [{ "index": i, "function": { "arguments": "{\"city\":" } }] }), Value::Null));
            out.push(chunk(json!({ "tool_calls": [{ "index": i, "function": { "arguments": format!("\"{city}\"}}") } }] }), Value::Null));
        }
        out.push(chunk(json!({}), json!("tool_calls")));
    } else {
        for piece in pieces {
            out.push(chunk(json!({ "content": piece }), Value::Null));
        }
        out.push(chunk(json!({}), json!("stop")));
    }
    if req.pointer("/stream_options/include_usage") == Some(&json!(true)) {
        out.push(sse(None, &json!({
            "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [],
            "usage": { "prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18 },
        })));
    }
    out.push("data: [DONE]\n\n".to_string());
    out
}

pub fn embeddings(req: &Value) -> Value {
    let n = match &req["input"] {
        Value::Array(a) => a.len(),
        _ => 1,
    };
    let data: Vec<Value> = (0..n)
        .map(|i| json!({ "object": "embedding", "index": i, "embedding": [0.1, 0.2, i as f64] }))
        .collect();
    json!({ "object": "list", "data": data, "model": req["model"], "usage": { "prompt_tokens": 3, "total_tokens": 3 } })
}
