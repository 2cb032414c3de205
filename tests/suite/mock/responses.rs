//! OpenAI Responses wire format for the mock (what OpenAI itself serves at
//! `/v1/responses`): a `response` object with a message item (and a `web_search_call`
//! item when the request asks for the built-in tool), and the event stream with
//! sequence numbers ending in `response.completed` with usage.

use serde_json::{Value, json};

use super::sse;

/// The text of the last user input (a string `input`, or its last user item).
pub fn last_input_text(req: &Value) -> String {
    match &req["input"] {
        Value::String(s) => s.clone(),
        Value::Array(items) => super::last_user_text(items),
        _ => String::new(),
    }
}

fn searches(req: &Value) -> bool {
    req["tools"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t["type"] == "web_search"))
}

fn usage() -> Value {
    json!({ "input_tokens": 9, "input_tokens_details": { "cached_tokens": 2 },
            "output_tokens": 7, "output_tokens_details": { "reasoning_tokens": 0 }, "total_tokens": 16 })
}

fn message(text: &str) -> Value {
    json!({ "type": "message", "id": "msg_mock", "status": "completed", "role": "assistant",
            "content": [{ "type": "output_text", "text": text, "annotations": [] }] })
}

fn object(req: &Value, status: &str, output: Vec<Value>, usage: Value) -> Value {
    json!({ "id": "resp_mock", "object": "response", "created_at": 1, "status": status,
            "model": req["model"], "output": output, "usage": usage,
            "previous_response_id": req["previous_response_id"], "store": req["store"] })
}

pub fn reply(req: &Value, text: &str) -> Value {
    let mut output = Vec::new();
    if searches(req) {
        output.push(json!({ "type": "web_search_call", "id": "ws_mock", "status": "completed" }));
    }
    output.push(message(text));
    object(req, "completed", output, usage())
}

/// `pieces`: what the model says, one text delta each.
pub fn stream(req: &Value, pieces: &[String]) -> Vec<String> {
    let mut seq = 0u64;
    let mut out = Vec::new();
    let mut ev = |kind: &str, mut data: Value| {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(seq);
        seq += 1;
        out.push(sse(Some(kind), &data));
    };
    ev(
        "response.created",
        json!({ "response": object(req, "in_progress", vec![], Value::Null) }),
    );
    let empty = json!({ "type": "message", "id": "msg_mock", "status": "in_progress", "role": "assistant", "content": [] });
    ev(
        "response.output_item.added",
        json!({ "output_index": 0, "item": empty }),
    );
    let part = json!({ "type": "output_text", "text": "", "annotations": [] });
    ev(
        "response.content_part.added",
        json!({ "item_id": "msg_mock", "output_index": 0, "content_index": 0, "part": part }),
    );
    for p in pieces {
        ev(
            "response.output_text.delta",
            json!({ "item_id": "msg_mock", "output_index": 0, "content_index": 0, "delta": p }),
        );
    }
    let text: String = pieces.concat();
    ev(
        "response.output_text.done",
        json!({ "item_id": "msg_mock", "output_index": 0, "content_index": 0, "text": text }),
    );
    ev(
        "response.output_item.done",
        json!({ "output_index": 0, "item": message(&text) }),
    );
    ev(
        "response.completed",
        json!({ "response": object(req, "completed", vec![message(&text)], usage()) }),
    );
    out
}

/// `GET` / `DELETE /v1/responses/{id}`: what OpenAI keeps (the mock keeps `resp_mock`).
pub fn by_id(method: &http::Method, id: &str) -> http::Response<super::MockBody> {
    if id != "resp_mock" {
        let e = json!({ "error": { "message": format!("No response with id '{id}' found."), "type": "invalid_request_error" } });
        return super::json_resp(404, e.to_string());
    }
    let body = if method == http::Method::DELETE {
        json!({ "id": id, "object": "response", "deleted": true })
    } else {
        object(
            &json!({ "model": "gpt-up" }),
            "completed",
            vec![message("kept at openai")],
            usage(),
        )
    };
    super::json_resp(200, body.to_string())
}
