//! What real clients send that the translations must take: Codex's `client_metadata`,
//! its `namespace` tools (flattened to `<namespace>__<tool>` and mapped back) and its
//! default `web_search` tool (refused by name, or dropped where the route says so); a
//! reasoning `/v1/messages` request asking OpenAI-style targets for
//! `max_completion_tokens`; `system` messages inside a passed-through Messages body
//! hoisted into `system`; `count_tokens` without messages refused by the gateway.

use crate::common::*;
use crate::mock::Mock;
use serde_json::{Value, json};

fn config() -> String {
    format!(
        "{TWO_PROVIDERS}\n[models.\"codex\"]\ntargets = [{{ provider = \"oa\", model = \"gpt-x\" }}]\nbuiltin_tools = \"drop\"\n"
    )
}

async fn post(gw: &Gw, path: &str, body: &Value) -> reqwest::Response {
    gw.client
        .post(format!("{}{path}", gw.url))
        .bearer_auth(TEAM_KEY)
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap()
}

fn namespaced_tools() -> Value {
    json!([
        { "type": "namespace", "name": "collaboration", "description": "Agents.", "tools": [
            { "type": "function", "name": "spawn_agent", "description": "Spawns an agent.",
              "parameters": { "type": "object", "properties": { "message": { "type": "string" } } } },
        ]},
        { "type": "function", "name": "bash", "parameters": { "type": "object" } },
    ])
}

#[tokio::test]
async fn codex_metadata_and_namespace_tools_are_taken_and_calls_map_back() {
    let mock = Mock::start().await;
    let gw = start(&mock, &config()).await;
    let body = json!({ "model": "m", "input": "go", "tools": namespaced_tools(),
        "client_metadata": { "originator": "codex_cli_rs", "version": "0.171.0" } });
    let r = post(&gw, "/v1/responses", &body).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let sent = &mock.seen("oa")[0].body;
    assert!(sent.get("client_metadata").is_none(), "{sent}");
    let names: Vec<&str> = sent["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["collaboration__spawn_agent", "bash"]);
    let call = &v["output"][0];
    assert_eq!(call["type"], "function_call", "{v}");
    assert_eq!(
        (call["name"].as_str(), call["namespace"].as_str()),
        (Some("spawn_agent"), Some("collaboration"))
    );
    // The call comes back as the client declared it, and goes out flattened again.
    let next = json!({ "model": "m", "tools": namespaced_tools(), "input": [
        { "type": "message", "role": "user", "content": "go" },
        { "type": "function_call", "call_id": "call_1", "name": "spawn_agent", "namespace": "collaboration", "arguments": "{}" },
        { "type": "function_call_output", "call_id": "call_1", "output": "done" },
    ]});
    assert_eq!(post(&gw, "/v1/responses", &next).await.status(), 200);
    let sent = &mock.seen("oa")[1].body;
    assert_eq!(
        sent["messages"][1]["tool_calls"][0]["function"]["name"],
        "collaboration__spawn_agent"
    );
    // A stream's items say the same.
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let text = post(&gw, "/v1/responses", &streamed)
        .await
        .text()
        .await
        .unwrap();
    let done = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find(|e| e["type"] == "response.output_item.done")
        .expect("an item done");
    assert_eq!(done["item"]["namespace"], "collaboration", "{done}");
    assert_eq!(done["item"]["name"], "spawn_agent");
    // A plain function whose name only looks namespaced stays as it was declared.
    let plain = json!({ "model": "m", "input": "go", "tools": [
        { "type": "function", "name": "collaboration__other", "parameters": { "type": "object" } },
        { "type": "namespace", "name": "collaboration", "tools": [{ "type": "function", "name": "spawn_agent" }] },
    ]});
    let v: Value = post(&gw, "/v1/responses", &plain)
        .await
        .json()
        .await
        .unwrap();
    let call = &v["output"][0];
    assert_eq!(call["name"], "collaboration__other", "{v}");
    assert!(call.get("namespace").is_none(), "{v}");
}

#[tokio::test]
async fn a_builtin_tool_is_refused_by_name_unless_the_route_drops_it() {
    let mock = Mock::start().await;
    let gw = start(&mock, &config()).await;
    let tools = json!([{ "type": "web_search", "external_web_access": false },
        { "type": "function", "name": "bash", "parameters": { "type": "object" } }]);
    let r = post(
        &gw,
        "/v1/responses",
        &json!({ "model": "m", "input": "x", "tools": tools }),
    )
    .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("web_search") && msg.contains("builtin_tools"),
        "{msg}"
    );
    let r = post(
        &gw,
        "/v1/responses",
        &json!({ "model": "codex", "input": "x", "tools": tools }),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-switchboard-dropped"], "tools.web_search");
    let sent = &mock.seen("oa")[0].body;
    assert_eq!(sent["tools"].as_array().unwrap().len(), 1, "{sent}");
}

#[tokio::test]
async fn a_reasoning_messages_request_asks_for_max_completion_tokens() {
    let mock = Mock::start().await;
    let gw = start(&mock, &config()).await;
    let body = json!({ "model": "m", "max_tokens": 1000, "messages": [{ "role": "user", "content": "hi" }],
        "thinking": { "type": "enabled", "budget_tokens": 5000 } });
    let r = post(&gw, "/v1/messages", &body).await;
    assert_eq!(r.status(), 200);
    let sent = &mock.seen("oa")[0].body;
    assert_eq!(sent["max_completion_tokens"], 1000, "{sent}");
    assert!(sent.get("max_tokens").is_none(), "{sent}");
    assert_eq!(sent["reasoning_effort"], "medium");
    // Without reasoning, max_tokens stays what every compatible server knows.
    let plain = json!({ "model": "m", "max_tokens": 10, "messages": [{ "role": "user", "content": "hi" }] });
    post(&gw, "/v1/messages", &plain).await;
    assert_eq!(mock.seen("oa")[1].body["max_tokens"], 10);
}

#[tokio::test]
async fn system_messages_are_hoisted_in_a_passed_through_body_and_said() {
    let mock = Mock::start().await;
    let gw = start(&mock, &config()).await;
    let body = json!({ "model": "claude", "max_tokens": 50, "system": "You are terse.", "messages": [
        { "role": "system", "content": "Answer in French." },
        { "role": "user", "content": "hi" },
    ]});
    let r = post(&gw, "/v1/messages", &body).await;
    assert_eq!(
        r.status(),
        200,
        "Anthropic refuses a system role in messages"
    );
    assert_eq!(r.headers()["x-switchboard-changed"], "messages.system");
    let sent = &mock.seen("an")[0].body;
    assert_eq!(
        sent["system"],
        json!([{ "type": "text", "text": "You are terse." }, { "type": "text", "text": "Answer in French." }])
    );
    assert_eq!(
        sent["messages"],
        json!([{ "role": "user", "content": "hi" }])
    );
    assert_eq!(
        sent["model"], "claude-x",
        "nothing else changed but the model"
    );
    // A body without them passes unchanged and unmarked.
    let clean = json!({ "model": "claude", "max_tokens": 50, "messages": [{ "role": "user", "content": "hi" }] });
    let r = post(&gw, "/v1/messages", &clean).await;
    assert!(r.headers().get("x-switchboard-changed").is_none());
}

#[tokio::test]
async fn count_tokens_without_messages_is_the_gateways_400() {
    let mock = Mock::start().await;
    let gw = start(&mock, &config()).await;
    let r = post(
        &gw,
        "/v1/messages/count_tokens",
        &json!({ "model": "claude" }),
    )
    .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("messages"),
        "{v}"
    );
    assert_eq!(mock.count("an"), 0, "the provider is not asked");
}
