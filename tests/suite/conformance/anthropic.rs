//! What only the Anthropic adapter does: refusals of what Messages cannot carry,
//! structured output and thinking.

use super::{Adapter, gateway};
use crate::common::*;
use crate::mock::Mock;
use serde_json::json;

#[tokio::test]
async fn anthropic_refuses_what_it_cannot_translate() {
    let mock = Mock::start().await;
    let gw = gateway(&mock, Adapter::Anthropic).await;
    let r = gw
        .post("/v1/embeddings", &json!({ "model": "m", "input": "x" }))
        .await;
    assert_eq!(r.status(), 400);
    assert!(error_message(&r.json().await.unwrap()).contains("embeddings"));
    let (status, v) = gw
        .chat(&json!({ "model": "m", "messages": user("x"), "n": 2 }))
        .await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["param"], "n");
    let (status, v) = gw.chat(&json!({ "model": "m", "messages": [{ "role": "assistant", "content": "x", "tool_calls": [{ "id": "c", "type": "function", "function": { "name": "f", "arguments": "{broken" } }] }] })).await;
    assert_eq!(status, 400);
    assert!(error_message(&v).contains("arguments"));
    assert_eq!(mock.count("p"), 0);
}

/// Chat → Anthropic: a JSON schema becomes Anthropic's structured output, a reasoning
/// effort a thinking budget inside `max_tokens` (sampling changes are not sent with it).
#[tokio::test]
async fn anthropic_gets_structured_output_and_thinking() {
    let mock = Mock::start().await;
    let gw = gateway(&mock, Adapter::Anthropic).await;
    let schema = json!({ "type": "object", "properties": { "a": { "type": "string" } } });
    let (status, v) = gw
        .chat(&json!({
            "model": "m", "messages": user("x"), "max_tokens": 16000, "temperature": 0.2,
            "reasoning_effort": "medium",
            "response_format": { "type": "json_schema", "json_schema": { "name": "out", "schema": schema } },
        }))
        .await;
    assert_eq!(status, 200, "{v}");
    let body = &mock.seen("p")[0].body;
    assert_eq!(
        body["output_config"],
        json!({ "format": { "type": "json_schema", "schema": schema } })
    );
    assert_eq!(
        body["thinking"],
        json!({ "type": "enabled", "budget_tokens": 8000 }),
        "at most half of max_tokens"
    );
    assert!(body.get("temperature").is_none(), "{body}");
    // A tool loop: Anthropic would want earlier thinking blocks the chat form does not
    // carry, so no thinking.
    let (status, _) = gw
        .chat(&json!({ "model": "m", "max_tokens": 16000, "reasoning_effort": "high", "messages": [
            { "role": "user", "content": "w?" },
            { "role": "assistant", "content": null, "tool_calls": [{ "id": "c1", "type": "function", "function": { "name": "get_weather", "arguments": "{}" } }] },
            { "role": "tool", "tool_call_id": "c1", "content": "18C" },
        ]}))
        .await;
    assert_eq!(status, 200);
    assert!(mock.seen("p")[1].body.get("thinking").is_none());
    mock.reset();
    // A budget that does not fit: no thinking rather than a refused request.
    let (status, _) = gw
        .chat(&json!({ "model": "m", "messages": user("x"), "max_tokens": 500, "reasoning_effort": "high", "response_format": { "type": "json_object" } }))
        .await;
    assert_eq!(status, 200);
    let body = &mock.seen("p")[0].body;
    assert!(body.get("thinking").is_none(), "{body}");
    assert_eq!(
        body["output_config"]["format"]["schema"],
        json!({ "type": "object" })
    );
    let (status, v) = gw
        .chat(&json!({ "model": "m", "messages": user("x"), "reasoning_effort": "extreme" }))
        .await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["param"], "reasoning_effort");
}
