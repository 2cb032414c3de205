//! Anthropic's Messages API at `/v1/messages`: the official Anthropic Python SDK
//! against the gateway (plain, streamed, tools both ways, its error classes), and the
//! wire details it does not show: what the provider was sent, the event sequence,
//! errors in Anthropic's shape with their headers.

use crate::common::*;
use crate::mock::Mock;
use serde_json::{Value, json};

const CONFIG: &str = r#"
[[keys]]
name = "team"
secret_env = "TEAM_KEY"

[providers.oa]
adapter = "builtin:openai"
base_url = "{mock}/oa/v1"
api_key_env = "PROVIDER_KEY"

[providers.an]
adapter = "builtin:anthropic"
base_url = "{mock}/an/v1"
api_key_env = "PROVIDER_KEY"

[policies.one-per-hour]
plugin = "builtin:request-limit"
settings = { limit = 1, window_secs = 3600 }

[models."m"]
targets = [{ provider = "oa", model = "gpt-x" }]

[models."claude"]
targets = [{ provider = "an", model = "claude-x" }]

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
    let gw = start(&mock, CONFIG).await;
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
    let gw = start(&mock, CONFIG).await;
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
    let gw = start(&mock, CONFIG).await;
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
    let bad = json!({ "model": "m", "max_tokens": 8, "messages": [{ "role": "system", "content": "x" }] });
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
