//! Plugin isolation and the other two plugin kinds, end to end. A deliberately
//! hostile strategy (infinite loop, memory bomb, trap, garbage answers) fails only
//! the call it is in; the failure is counted; the next request through the same
//! plugin works. Policies and redactors are loaded and called on the request path.

use crate::common::*;
use crate::mock::Mock;
use serde_json::{Value, json};

const HOSTILE: &str = env!("SWITCHBOARD_GUEST_TEST_HOSTILE");
const FUTURE: &str = env!("SWITCHBOARD_GUEST_TEST_FUTURE_VERSION");

fn hostile_config() -> String {
    let mut s = format!(
        "[providers.p]\nadapter = \"builtin:openai\"\nbase_url = \"{{mock}}/p/v1\"\n\n[strategies.hostile]\nplugin = {HOSTILE:?}\ndeadline = \"50ms\"\nmemory_mib = 16\n\n"
    );
    for route in [
        "loop", "bomb", "trap", "garbage", "dupes", "empty", "fine", "snoop",
    ] {
        s.push_str(&format!("[models.\"{route}\"]\nstrategy = \"hostile\"\ntargets = [{{ provider = \"p\", model = \"x\" }}, {{ provider = \"p\", model = \"y\" }}]\n\n"));
    }
    s
}

fn failures(plugins: &Value, name: &str) -> Value {
    plugins["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap()["failures"]
        .clone()
}

#[tokio::test]
async fn a_hostile_strategy_fails_one_call_at_a_time() {
    let mock = Mock::start().await;
    let gw = start(&mock, &hostile_config()).await;
    let cases = [
        ("loop", "deadline", "CPU deadline"),
        ("bomb", "memory", "memory limit"),
        ("trap", "trap", "trapped"),
        ("garbage", "invalid_output", "only 2"),
        ("dupes", "invalid_output", "twice"),
        ("empty", "invalid_output", "no target"),
    ];
    for (i, (route, kind, says)) in cases.iter().enumerate() {
        let (status, v) = gw
            .chat(&json!({ "model": route, "messages": user("x") }))
            .await;
        assert_eq!(status, 503, "{route}: {v}");
        let msg = error_message(&v);
        assert!(msg.contains(says), "{route}: {msg}");
        assert!(msg.contains("strategy"), "{route}: {msg}");
        // The very next request through the same plugin works.
        let (status, v) = gw
            .chat(&json!({ "model": "fine", "messages": user("x") }))
            .await;
        assert_eq!(status, 200, "after {route}: {v}");
        assert_eq!(mock.count("p"), i + 1);
        // Each route's use of the plugin has its own row.
        let f = failures(&gw.admin_plugins().await, &format!("hostile@{route}"));
        assert!(
            f[kind].as_u64().unwrap() >= 1,
            "{route} not counted as {kind}: {f}"
        );
    }
    let plugins = gw.admin_plugins().await;
    let mut total = serde_json::Map::new();
    for (route, _, _) in cases {
        let f = failures(&plugins, &format!("hostile@{route}"));
        for (k, v) in f.as_object().unwrap() {
            let sum = total.get(k).and_then(Value::as_u64).unwrap_or(0) + v.as_u64().unwrap();
            total.insert(k.clone(), json!(sum));
        }
    }
    assert_eq!(
        Value::Object(total),
        json!({ "trap": 1, "deadline": 1, "memory": 1, "invalid_output": 3, "capacity": 0, "quarantined": 0, "store": 0, "oversize": 0 })
    );
}

#[tokio::test]
async fn a_plugin_of_the_wrong_world_or_version_is_refused_by_name() {
    let mock = Mock::start().await;
    let runtime =
        switchboard::plugins::PluginRuntime::new(&parse(&mock, "").unwrap().engine).unwrap();
    let build = async |body: &str| {
        let cfg = parse(&mock, body).unwrap();
        switchboard::app::build_state(cfg, &runtime)
            .await
            .err()
            .map(|e| e.to_string())
    };
    let base = "[providers.p]\nadapter = \"builtin:openai\"\nbase_url = \"{mock}/p/v1\"\n";
    let err = build(&format!("{base}[models.\"m\"]\nstrategy = \"builtin:anthropic\"\ntargets = [{{ provider = \"p\", model = \"x\" }}]\n")).await.unwrap();
    assert!(
        err.contains("expected a `strategy` plugin") && err.contains("found a `adapter` plugin"),
        "{err}"
    );

    let err = build(&format!("{base}[models.\"m\"]\nstrategy = {FUTURE:?}\ntargets = [{{ provider = \"p\", model = \"x\" }}]\n")).await.unwrap();
    assert!(
        err.contains("version 0.9.0") && err.contains("switchboard:plugin@0.3.0"),
        "{err}"
    );

    let err =
        build("[providers.p]\nadapter = \"builtin:round-robin\"\nbase_url = \"{mock}/p/v1\"\n")
            .await
            .unwrap();
    assert!(err.contains("expected a `adapter` plugin"), "{err}");

    let junk = std::env::temp_dir().join(format!("junk-{}.wasm", std::process::id()));
    std::fs::write(&junk, b"\0asm not really").unwrap();
    let err = build(&format!("{base}[models.\"m\"]\nstrategy = {:?}\ntargets = [{{ provider = \"p\", model = \"x\" }}]\n", junk.display().to_string())).await.unwrap();
    assert!(err.contains("not a valid WebAssembly component"), "{err}");
    let _ = std::fs::remove_file(junk);

    assert!(build(&format!("{base}[models.\"m\"]\nstrategy = {HOSTILE:?}\ntargets = [{{ provider = \"p\", model = \"x\" }}]\n")).await.is_none());
}

#[tokio::test]
async fn plugins_cannot_read_host_files_or_environment() {
    let mock = Mock::start().await;
    let gw = start(&mock, &hostile_config()).await;
    let (status, v) = gw
        .chat(&json!({ "model": "snoop", "messages": user("x") }))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        mock.seen("p")[0].body["model"],
        "x",
        "the plugin could see the host's files or environment"
    );
}

const POLICY_AND_REDACTOR: &str = r#"
[[keys]]
name = "team"
secret_env = "TEAM_KEY"

[[keys]]
name = "other"
sha256 = "8d969eef6ecad3c29a3a629280e686cf0c3f5d5a86aff3ca12020c923adc6c92"

[providers.p]
adapter = "builtin:openai"
base_url = "{mock}/p/v1"

[policies.three-per-minute]
plugin = "builtin:request-limit"
settings = { limit = 3, window_secs = 60 }

[models."m"]
targets = [{ provider = "p", model = "x" }]
policies = ["three-per-minute"]
redactors = ["builtin:redact-pii"]
"#;

#[tokio::test]
async fn a_quota_policy_admits_then_denies_per_key() {
    let mock = Mock::start().await;
    let gw = start(&mock, POLICY_AND_REDACTOR).await;
    let send = |key: &'static str| {
        gw.client
            .post(format!("{}/v1/chat/completions", gw.url))
            .bearer_auth(key)
            .json(&json!({ "model": "m", "messages": user("hi") }))
            .send()
    };
    for left in [2, 1, 0] {
        let r = send(TEAM_KEY).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["x-ratelimit-remaining-requests"],
            left.to_string().as_str()
        );
    }
    let r = send(TEAM_KEY).await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let v: Value = r.json().await.unwrap();
    assert!(error_message(&v).contains("team"));
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert_eq!(
        mock.count("p"),
        3,
        "a denied request never reaches the provider"
    );
    // Another key has its own count.
    assert_eq!(send("123456").await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_redactor_masks_texts_before_they_leave() {
    let mock = Mock::start().await;
    let gw = start(&mock, POLICY_AND_REDACTOR).await;
    let messages = json!([
        { "role": "system", "content": "Reply to jane.doe@example.com" },
        { "role": "user", "content": [{ "type": "text", "text": "card 4111 1111 1111 1111, order 12345" }] },
    ]);
    let r = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(TEAM_KEY)
        .json(&json!({ "model": "m", "messages": messages }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sent = &mock.seen("p")[0].body["messages"];
    assert_eq!(sent[0]["content"], "Reply to [EMAIL]");
    assert_eq!(sent[1]["content"][0]["text"], "card [CARD], order 12345");
}
