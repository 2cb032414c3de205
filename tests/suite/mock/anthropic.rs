//! Anthropic Messages wire format for the mock: JSON answers and the event stream
//! (message_start, content blocks with text and tool_use deltas, message_delta,
//! message_stop, pings), and its error shape for requests it would refuse.

use serde_json::{Value, json};

use super::{answering_tool_results, sse};

fn wants_tools(req: &Value) -> bool {
    req["tools"].as_array().is_some_and(|t| !t.is_empty())
        && !answering_tool_results(req["messages"].as_array().map(Vec::as_slice).unwrap_or(&[]))
}

/// Refuses what the real API refuses: no max_tokens, a `system` role in messages.
fn validate(req: &Value) -> Result<(), Value> {
    let bad = |m: &str| json!({ "type": "error", "error": { "type": "invalid_request_error", "message": m } });
    if !req["max_tokens"].is_u64() {
        return Err(bad("max_tokens: Field required"));
    }
    for m in req["messages"]
        .as_array()
        .ok_or_else(|| bad("messages: Field required"))?
    {
        if m["role"] != "user" && m["role"] != "assistant" {
            return Err(bad("messages: roles must be user or assistant"));
        }
    }
    Ok(())
}

fn stop_reason(req: &Value) -> &'static str {
    if wants_tools(req) {
        "tool_use"
    } else if req["stop_sequences"]
        .as_array()
        .is_some_and(|s| !s.is_empty())
    {
        "stop_sequence"
    } else {
        "end_turn"
    }
}

/// `text`: what the model says (unless it calls tools).
pub fn reply(req: &Value, text: &str) -> Result<Value, Value> {
    validate(req)?;
    let content = if wants_tools(req) {
        json!([
            { "type": "text", "text": "Let me check." },
            { "type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": { "city": "Paris" } },
            { "type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": { "city": "Oslo" } },
        ])
    } else {
        json!([{ "type": "text", "text": text }])
    };
    Ok(json!({
        "id": "msg_mock", "type": "message", "role": "assistant", "model": req["model"],
        "content": content, "stop_reason": stop_reason(req), "stop_sequence": null,
        "usage": { "input_tokens": 9, "output_tokens": 7, "cache_read_input_tokens": 2, "cache_creation_input_tokens": 0 },
    }))
}

/// `pieces`: what the model says, one text delta each.
pub fn stream(req: &Value, pieces: &[String]) -> Result<Vec<String>, Value> {
    validate(req)?;
    let mut out = vec![
        sse(
            Some("message_start"),
            &json!({ "type": "message_start", "message": {
            "id": "msg_mock", "type": "message", "role": "assistant", "model": req["model"], "content": [],
            "stop_reason": null, "usage": { "input_tokens": 9, "output_tokens": 1, "cache_read_input_tokens": 2 } } }),
        ),
        sse(Some("ping"), &json!({ "type": "ping" })),
    ];
    let block = |i: usize, b: Value| {
        sse(
            Some("content_block_start"),
            &json!({ "type": "content_block_start", "index": i, "content_block": b }),
        )
    };
    let delta = |i: usize, d: Value| {
        sse(
            Some("content_block_delta"),
            &json!({ "type": "content_block_delta", "index": i, "delta": d }),
        )
    };
    let stop = |i: usize| {
        sse(
            Some("content_block_stop"),
            &json!({ "type": "content_block_stop", "index": i }),
        )
    };
    if wants_tools(req) {
        out.push(block(0, json!({ "type": "text", "text": "" })));
        out.push(delta(
            0,
            json!({ "type": "text_delta", "text": "Let me check." }),
        ));
        out.push(stop(0));
        for (i, (id, city)) in [(1, ("toolu_1", "Paris")), (2, ("toolu_2", "Oslo"))] {
            out.push(block(
                i,
                json!({ "type": "tool_use", "id": id, "name": "get_weather", "input": {} }),
            ));
            out.push(delta(
                i,
                json!({ "type": "input_json_delta", "partial_json": "" }),
            ));
            out.push(delta(
                i,
                json!({ "type": "input_json_delta", "partial_json": "{\"city\":" }),
            ));
            out.push(delta(
                i,
                json!({ "type": "input_json_delta", "partial_json": format!("\"{city}\"}}") }),
            ));
            out.push(stop(i));
        }
    } else {
        out.push(block(0, json!({ "type": "text", "text": "" })));
        for piece in pieces {
            out.push(delta(0, json!({ "type": "text_delta", "text": piece })));
        }
        out.push(stop(0));
    }
    out.push(sse(Some("message_delta"), &json!({ "type": "message_delta",
        "delta": { "stop_reason": stop_reason(req), "stop_sequence": null }, "usage": { "output_tokens": 7 } })));
    out.push(sse(
        Some("message_stop"),
        &json!({ "type": "message_stop" }),
    ));
    Ok(out)
}
