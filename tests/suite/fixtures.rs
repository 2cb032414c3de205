//! Recorded-shape requests of the two agents people point at a gateway — Claude Code
//! (`/v1/messages`: a large cached system prompt, twenty tools, thinking, a document,
//! beta headers) and Codex (`/v1/responses`: long instructions, developer messages,
//! reasoning items, a function-call round trip, twenty tools) — against an
//! OpenAI-shaped target, checked field by field at the mock: what reaches the provider
//! is what the client sent except the documented mappings, and every loss is named.

use crate::common::*;
use crate::mock::Mock;
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn dropped(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get("x-switchboard-dropped")
        .map(|v| v.to_str().unwrap().split(',').map(String::from).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_claude_code_request_arrives_as_sent_but_for_the_mappings() {
    let mock = Mock::start().await;
    let gw = start(&mock, TWO_PROVIDERS).await;
    let req = fixture("claude_code_request.json");
    let r = gw
        .client
        .post(format!("{}/v1/messages", gw.url))
        .header("x-api-key", TEAM_KEY)
        .header("anthropic-version", "2023-06-01")
        .header(
            "anthropic-beta",
            "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14",
        )
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut lost = dropped(&r);
    lost.sort();
    assert_eq!(lost, ["anthropic-beta", "cache_control", "thinking_blocks"]);
    let text = r.text().await.unwrap();
    assert!(text.contains("event: message_stop"), "{text}");
    let sent = &mock.seen("oa")[0].body;
    // System: both blocks, in order, one string.
    let system = sent["messages"][0]["content"].as_str().unwrap();
    let want = format!(
        "{}\n\n{}",
        req["system"][0]["text"].as_str().unwrap(),
        req["system"][1]["text"].as_str().unwrap()
    );
    assert_eq!(system, want);
    // Tools: every one, name, description and schema unchanged.
    let tools = sent["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 20);
    for (got, asked) in tools.iter().zip(req["tools"].as_array().unwrap()) {
        assert_eq!(got["function"]["name"], asked["name"]);
        assert_eq!(got["function"]["description"], asked["description"]);
        assert_eq!(got["function"]["parameters"], asked["input_schema"]);
    }
    // Turns: the document as a file part, the tool call and its result in chat form.
    let m = sent["messages"].as_array().unwrap();
    assert_eq!(m[1]["content"][1]["file"]["filename"], "design.pdf");
    assert_eq!(m[1]["content"][2]["text"], "Fix the failing test.");
    assert_eq!(m[2]["content"], "I'll read the test file.");
    assert_eq!(
        m[2]["tool_calls"][0]["function"]["arguments"],
        "{\"arg_read\":\"tests/a.rs\"}"
    );
    assert_eq!(
        m[3],
        json!({ "role": "tool", "tool_call_id": "toolu_01", "content": "fn a() { assert!(false) }" })
    );
    assert_eq!(m[4]["content"][0]["text"], "Go on.");
    assert_eq!(m.len(), 5);
    // The rest: model, limits, user, effort, the stream with its usage chunk.
    assert_eq!(sent["model"], "gpt-x");
    // Thinking asks for reasoning: OpenAI's reasoning models take only this name.
    assert_eq!(sent["max_completion_tokens"], 32000);
    assert!(sent.get("max_tokens").is_none());
    assert_eq!(sent["user"], "user_abc_account_123_session_456");
    assert_eq!(sent["reasoning_effort"], "high");
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn a_codex_request_arrives_as_sent_but_for_the_mappings() {
    let mock = Mock::start().await;
    let gw = start(&mock, TWO_PROVIDERS).await;
    let req = fixture("codex_request.json");
    let r = gw
        .client
        .post(format!("{}/v1/responses", gw.url))
        .bearer_auth(TEAM_KEY)
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut lost = dropped(&r);
    lost.sort();
    assert_eq!(lost, ["include", "reasoning.summary", "reasoning_items"]);
    let text = r.text().await.unwrap();
    assert!(text.contains("event: response.completed"), "{text}");
    let sent = &mock.seen("oa")[0].body;
    let m = sent["messages"].as_array().unwrap();
    assert_eq!(
        m[0],
        json!({ "role": "system", "content": req["instructions"] })
    );
    assert_eq!(m[1]["role"], "system", "developer → system");
    assert_eq!(m[1]["content"], req["input"][0]["content"][0]["text"]);
    assert_eq!(
        m[2]["content"][0]["text"],
        req["input"][1]["content"][0]["text"]
    );
    assert_eq!(m[3]["content"][0]["text"], "Run the tests.");
    assert_eq!(m[4]["tool_calls"][0]["id"], "call_01");
    assert_eq!(
        m[4]["tool_calls"][0]["function"]["arguments"],
        "{\"arg_bash\":\"cargo test\"}"
    );
    assert_eq!(
        m[5],
        json!({ "role": "tool", "tool_call_id": "call_01", "content": "test result: FAILED. 1 failed" })
    );
    assert_eq!(
        m[6],
        json!({ "role": "assistant", "content": "One test fails; fixing it." })
    );
    assert_eq!(m.len(), 7);
    let tools = sent["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 20);
    for (got, asked) in tools.iter().zip(req["tools"].as_array().unwrap()) {
        assert_eq!(got["function"]["name"], asked["name"]);
        assert_eq!(got["function"]["parameters"], asked["parameters"]);
        assert_eq!(got["function"]["strict"], asked["strict"]);
    }
    assert_eq!(sent["tool_choice"], "auto");
    assert_eq!(sent["parallel_tool_calls"], false);
    assert_eq!(sent["reasoning_effort"], "medium");
    assert_eq!(sent["verbosity"], "medium");
    assert_eq!(sent["stream_options"]["include_usage"], true);
    for absent in [
        "store",
        "include",
        "prompt_cache_key",
        "reasoning",
        "text",
        "instructions",
        "input",
    ] {
        assert!(
            sent.get(absent).is_none(),
            "{absent} must not reach a chat provider"
        );
    }
}
