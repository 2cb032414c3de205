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
    let texts: Vec<String> = match &req["input"] {
        Value::Array(a) => a
            .iter()
            .map(|t| t.as_str().unwrap_or_default().to_string())
            .collect(),
        v => vec![v.as_str().unwrap_or_default().to_string()],
    };
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| json!({ "object": "embedding", "index": i, "embedding": bag_of_words(t) }))
        .collect();
    json!({ "object": "list", "data": data, "model": req["model"], "usage": { "prompt_tokens": 3, "total_tokens": 3 } })
}

/// A deterministic embedding: the text's words (lower-cased, letters and digits) hashed
/// into 64 buckets, scaled to unit length — texts that share most words are close, as a
/// model's embeddings of paraphrases are (a word changed in twenty: about 0.95).
pub fn bag_of_words(text: &str) -> Vec<f64> {
    let mut v = [0f64; 64];
    for w in text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let h = w.bytes().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        });
        v[(h % 64) as usize] += 1.0;
    }
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1.0);
    v.iter().map(|x| x / norm).collect()
}
