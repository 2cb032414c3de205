//! Anthropic's Messages API at `/v1/messages`: the official Anthropic Python SDK
//! against the gateway (plain, streamed, tools both ways, its error classes), and the
//! wire details it does not show: what the provider was sent, the event sequence,
//! errors in Anthropic's shape with their headers.

use crate::common::*;
use crate::mock::Mock;
use serde_json::{Value, json};

/// The shared two providers, and a route that allows one request an hour.
fn config() -> String {
    format!("{TWO_PROVIDERS}\n{LIMITED}")
}

const LIMITED: &str = r#"
[policies.one-per-hour]
plugin = "builtin:request-limit"
settings = { limit = 1, window_secs = 3600 }

[models."limited"]
targets = [{ provider = "oa", model = "gpt-x" }]
policies = ["one-per-hour"]
"#;

async fn messages(gw: &Gw, body: &Value) -> reqwest::Response {
    gw.client
        .post(format!("{}/v1/messages", gw.url))
        .header("x-api-key", TEAM_KEY)
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_anthropic_sdk_works_unchanged() {
    let mock = Mock::start().await;
    let gw = start(&mock, &config()).await;
    let v = run_sdk_script(
        "anthropic_sdk_check.py",
        vec![gw.url.clone(), TEAM_KEY.to_string()],
    )
    .await;
    assert_eq!(v["text"], "oa says: hello sdk");
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["usage"], json!([11, 7]));
    assert_eq!(v["stream_text"], "an says: streamed words");
    assert_eq!(v["stream_stop"], "end_turn");
    assert_eq!(v["stream_output_tokens"], 7);
    let both = json!([{ "city": "Paris" }, { "city": "Oslo" }]);
    assert_eq!(v["tool_inputs"], both);
    assert_eq!(v["tool_stop"], "tool_use");
    assert_eq!(v["stream_tool_inputs"], both);
    assert_eq!(v["after_tools"], "oa says: Weather?");
    assert_eq!(v["not_found"], "not_found_error");
    assert_eq!(v["bad_key"], "authentication_error");
    // What the OpenAI-compatible provider was sent for the tool-results turn.
    let seen = mock.seen("oa");
    let last = &seen.last().unwrap().body;
    let roles: Vec<_> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "tool", "tool"]);
    assert_eq!(last["messages"][2]["content"], "18C");
    assert_eq!(last["model"], "gpt-x");
    let first = &seen[0].body;
    assert_eq!(
        first["messages"][0],
        json!({ "role": "system", "content": "Be brief." })
    );
    assert_eq!(first["max_tokens"], 64);
}

#[tokio::test]
async fn streams_follow_anthropic_s_event_sequence() {
    let mock = Mock::start().await;
    let gw = start(&mock, &config()).await;
    let body = json!({ "model": "m", "max_tokens": 32, "stream": true,
        "messages": [{ "role": "user", "content": "two words" }] });
    let r = messages(&gw, &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = r.text().await.unwrap();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(names[0], "message_start");
    assert_eq!(names[1], "content_block_start");
    assert_eq!(
        &names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    let data: Vec<Value> = data_lines(&text)
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let said: String = data
        .iter()
        .filter(|d| d["type"] == "content_block_delta")
        .map(|d| d["delta"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(said, "oa says: two words");
    let delta = &data[data.len() - 2];
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 7);
    assert!(!text.contains("[DONE]") && !text.contains("chat.completion"));
    // The provider was asked for its usage chunk, which message_delta needs.
    assert_eq!(
        mock.seen("oa")[0].body["stream_options"]["include_usage"],
        true
    );
}

#[tokio::test]
async fn errors_come_in_anthropic_s_shape() {
    let mock = Mock::start().await;
    let gw = start(&mock, &config()).await;
    let ask = |model: &str| json!({ "model": model, "max_tokens": 8, "messages": [{ "role": "user", "content": "x" }] });
    let check = |v: &Value, kind: &str| {
        assert_eq!(v["type"], "error", "{v}");
        assert_eq!(v["error"]["type"], kind, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    };
    let r = messages(&gw, &ask("nope")).await;
    assert_eq!(r.status(), 404);
    check(&r.json().await.unwrap(), "not_found_error");
    let r = gw
        .client
        .post(format!("{}/v1/messages", gw.url))
        .json(&ask("m"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    check(&r.json().await.unwrap(), "authentication_error");
    let bad =
        json!({ "model": "m", "max_tokens": 8, "messages": [{ "role": "tool", "content": "x" }] });
    let r = messages(&gw, &bad).await;
    assert_eq!(r.status(), 400);
    check(&r.json().await.unwrap(), "invalid_request_error");
    // A policy's denial keeps its status and headers.
    assert_eq!(messages(&gw, &ask("limited")).await.status(), 200);
    let r = messages(&gw, &ask("limited")).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    check(&r.json().await.unwrap(), "rate_limit_error");
    assert_eq!(mock.count("oa"), 1);
}

/// What Claude Code sends for its default model, against an OpenAI-shaped target: the
/// mappings arrive at the provider, what has no equivalent is named, server tools are
/// refused, `count_tokens` answers an estimate, and ids are not prefixed twice.
#[tokio::test]
async fn claude_code_requests_map_or_say_what_they_lose() {
    let mock = Mock::start().await;
    let gw = start(&mock, &config()).await;
    let schema = json!({ "type": "object", "properties": { "a": { "type": "string" } } });
    let body = json!({
        "model": "m", "max_tokens": 64, "top_k": 5,
        "system": [{ "type": "text", "text": "You are Claude Code.", "cache_control": { "type": "ephemeral" } }],
        "thinking": { "type": "enabled", "budget_tokens": 8000 },
        "context_management": { "edits": [] },
        "output_config": { "format": { "type": "json_schema", "schema": schema } },
        "tools": [{ "name": "Read", "input_schema": { "type": "object" }, "cache_control": { "type": "ephemeral" } }],
        "messages": [
            { "role": "user", "content": [
                { "type": "document", "title": "spec.pdf", "source": { "type": "base64", "media_type": "application/pdf", "data": "JVBE" } },
                { "type": "text", "text": "Read it." },
            ]},
            { "role": "assistant", "content": [
                { "type": "thinking", "thinking": "hmm", "signature": "sig" },
                { "type": "tool_use", "id": "t1", "name": "Read", "input": { "path": "a" } },
            ]},
            { "role": "user", "content": [
                { "type": "tool_result", "tool_use_id": "t1", "is_error": true, "content": "no such file" },
            ]},
            { "role": "system", "content": "Mid-conversation note." },
            { "role": "user", "content": "Go on." },
        ],
    });
    let r = messages(&gw, &body).await;
    assert_eq!(r.status(), 200);
    let dropped = r.headers()["x-switchboard-dropped"]
        .to_str()
        .unwrap()
        .to_string();
    for name in [
        "cache_control",
        "thinking_blocks",
        "top_k",
        "context_management",
    ] {
        assert!(dropped.split(',').any(|d| d == name), "{name} in {dropped}");
    }
    let sent = &mock.seen("oa")[0].body;
    let m = sent["messages"].as_array().unwrap();
    assert_eq!(
        m[0],
        json!({ "role": "system", "content": "You are Claude Code." })
    );
    assert_eq!(m[1]["content"][0]["type"], "file");
    assert_eq!(
        m[1]["content"][0]["file"]["file_data"],
        "data:application/pdf;base64,JVBE"
    );
    assert_eq!(m[1]["content"][0]["file"]["filename"], "spec.pdf");
    assert_eq!(m[2]["tool_calls"][0]["id"], "t1");
    assert_eq!(
        m[3],
        json!({ "role": "tool", "tool_call_id": "t1", "content": "Error: no such file" })
    );
    assert_eq!(
        m[4],
        json!({ "role": "system", "content": "Mid-conversation note." })
    );
    assert_eq!(m[5], json!({ "role": "user", "content": "Go on." }));
    assert_eq!(sent["reasoning_effort"], "medium");
    assert_eq!(sent["response_format"]["json_schema"]["schema"], schema);
    assert!(sent.get("top_k").is_none() && sent.get("context_management").is_none());

    // Parallel tool use turned off maps; server-side tool sources and unknown fields are refused.
    let one_at_a_time = json!({ "model": "m", "max_tokens": 16,
        "tools": [{ "name": "Read", "input_schema": { "type": "object" } }],
        "tool_choice": { "type": "auto", "disable_parallel_tool_use": true },
        "messages": [{ "role": "user", "content": "x" }] });
    assert_eq!(messages(&gw, &one_at_a_time).await.status(), 200);
    assert_eq!(mock.seen("oa")[1].body["parallel_tool_calls"], false);
    mock.reset();
    for (field, value) in [
        (
            "mcp_servers",
            json!([{ "type": "url", "url": "https://x" }]),
        ),
        ("frobnicate", json!(1)),
    ] {
        let mut b = json!({ "model": "m", "max_tokens": 8, "messages": [{ "role": "user", "content": "x" }] });
        b[field] = value;
        let r = messages(&gw, &b).await;
        assert_eq!(r.status(), 400, "{field}");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["error"]["message"].as_str().unwrap().contains(field),
            "{v}"
        );
    }
    // A server tool is never turned into a custom one.
    let search = json!({ "model": "m", "max_tokens": 64,
        "tools": [{ "type": "web_search_20250305", "name": "web_search", "max_uses": 3 }],
        "messages": [{ "role": "user", "content": "news?" }] });
    let r = messages(&gw, &search).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("web_search_20250305"),
        "{v}"
    );
    assert_eq!(mock.count("oa"), 0, "nothing refused reached the provider");

    // count_tokens: an estimate, flagged; errors in Anthropic's shape.
    let count = |b: Value| {
        gw.client
            .post(format!("{}/v1/messages/count_tokens", gw.url))
            .header("x-api-key", TEAM_KEY)
            .json(&b)
            .send()
    };
    let r = count(json!({ "model": "m", "messages": [{ "role": "user", "content": "How many tokens is this?" }] })).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-switchboard-estimate"], "true");
    let n = r.json::<Value>().await.unwrap()["input_tokens"]
        .as_u64()
        .unwrap();
    assert!((5..100).contains(&n), "{n}");
    // An Anthropic target counts natively (key swapped, beta header forwarded).
    let r = gw
        .client
        .post(format!("{}/v1/messages/count_tokens", gw.url))
        .header("x-api-key", TEAM_KEY)
        .header("anthropic-beta", "token-counting-2024-11-01")
        .json(&json!({ "model": "claude", "messages": [{ "role": "user", "content": "hi" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-switchboard-estimate").is_none());
    assert_eq!(r.json::<Value>().await.unwrap()["input_tokens"], 42);
    let seen = mock.seen("an");
    let asked = seen.last().unwrap();
    assert_eq!(asked.path, "/v1/messages/count_tokens");
    assert_eq!(asked.headers["x-api-key"], PROVIDER_KEY);
    assert_eq!(asked.headers["anthropic-beta"], "token-counting-2024-11-01");
    assert_eq!(asked.body["model"], "claude-x");
    let r = count(json!({ "model": "nope", "messages": [] }))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "not_found_error"
    );

    // An Anthropic upstream's message id comes back as it is, not as `msg_msg_…`.
    let r = messages(&gw, &json!({ "model": "claude", "max_tokens": 16, "messages": [{ "role": "user", "content": "hi" }] })).await;
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        id.starts_with("msg_") && !id.starts_with("msg_msg_"),
        "{id}"
    );
}
