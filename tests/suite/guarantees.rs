//! Budgets no key can cheat (issue 23, items 1–6): an absurd `max_tokens` cannot
//! reset a shared budget, an abandoned stream is charged what it used, a batch waits
//! for its policies, a request with no `max_tokens` cannot outspend its reservation,
//! a reservation settles in the window it was made in, and one key's users cannot fill
//! a counter table for everyone — in memory, and across two replicas on Redis.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;
use crate::mock::{Fault, Mock};

const SECOND: &str = "second-key-0123456789";

/// Two keys of team `search` on route `m` (input 1 000, output 2 000 per million), with
/// `policies` (TOML tables) applying to the team.
fn config(head: &str, policies: &str, team: &str) -> String {
    let second = sha256_hex(SECOND);
    format!(
        r#"
{head}

[[keys]]
name = "team"
secret_env = "TEAM_KEY"
team = "search"

[[keys]]
name = "second"
sha256 = "{second}"
team = "search"

[[teams]]
name = "search"
policies = [{team}]

[providers.p]
adapter = "builtin:openai"
base_url = "{{mock}}/p/v1"
api_key_env = "PROVIDER_KEY"
native = ["responses"]

[providers.an]
adapter = "builtin:anthropic"
base_url = "{{mock}}/an/v1"
api_key_env = "PROVIDER_KEY"

{policies}

[models."m"]
targets = [{{ provider = "p", model = "x", input_price = 1000.0, output_price = 2000.0 }}]

[models."claude"]
targets = [{{ provider = "an", model = "claude-x", input_price = 1000.0, output_price = 2000.0 }}]
"#
    )
}

async fn chat(gw: &Gw, key: &str, body: Value) -> (u16, Value) {
    let url = format!("{}/v1/chat/completions", gw.url);
    let r = gw.ask(Method::POST, &url, key, Some(&body)).await;
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn ask(max_tokens: Value) -> Value {
    json!({ "model": "m", "messages": user("hi"), "max_tokens": max_tokens })
}

/// The value of `plugin`'s counter whose key starts with `prefix` (0 when absent): a
/// budget's in millionths.
async fn counter(gw: &Gw, plugin: &str, prefix: &str) -> f64 {
    let shown = gw.admin_get("/admin/counters").await;
    shown["counters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["plugin"] == plugin && c["key"].as_str().unwrap().starts_with(prefix))
        .map_or(0.0, |c| c["value"].as_f64().unwrap())
}

const TEAM_POLICIES: &str = r#"
[policies.team-budget]
plugin = "builtin:budget"
settings = { limit = 0.1, per = "team", period = "day" }

[policies.team-tokens]
plugin = "builtin:token-quota"
settings = { limit = 100, per = "team", window_secs = 3600 }
"#;

/// Item 1 on `a` and `b` (the same gateway, or two replicas on one Redis).
async fn absurd_max_tokens_reset_nothing(a: &Gw, b: &Gw) {
    // Two answers: 0.05 of the team's 0.1, 36 of its 100 tokens.
    assert_eq!(chat(a, TEAM_KEY, ask(json!(7))).await.0, 200);
    assert_eq!(chat(b, TEAM_KEY, ask(json!(7))).await.0, 200);
    let spent = counter(a, "team-budget", "spend:team search").await;
    let tokens = counter(a, "team-tokens", "tokens:team search").await;
    assert_eq!((spent, tokens), (50_000.0, 36.0));
    // Beyond any model's output: a 400 naming the parameter, before any policy.
    for (field, v) in [
        ("max_tokens", json!(u64::MAX)),
        ("max_completion_tokens", json!(2_000_000_000u64)),
    ] {
        let body = json!({ "model": "m", "messages": user("hi"), field: v });
        let (status, e) = chat(b, SECOND, body).await;
        assert_eq!(status, 400, "{e}");
        assert_eq!(e["error"]["param"], field);
    }
    // A reservation past the whole limit is denied without touching the counters.
    let (status, e) = chat(b, SECOND, ask(json!(900_000))).await;
    assert_eq!(status, 429, "{e}");
    assert_eq!(
        counter(a, "team-budget", "spend:team search").await,
        50_000.0
    );
    assert_eq!(counter(b, "team-tokens", "tokens:team search").await, 36.0);
    // So the first key cannot spend the team's budget again.
    assert_eq!(chat(a, TEAM_KEY, ask(json!(7))).await.0, 200);
    assert_eq!(chat(b, TEAM_KEY, ask(json!(7))).await.0, 429);
}

#[tokio::test]
async fn an_absurd_max_tokens_cannot_reset_a_shared_budget() {
    let mock = Mock::start().await;
    let gw = start(
        &mock,
        &config("", TEAM_POLICIES, "\"team-budget\", \"team-tokens\""),
    )
    .await;
    absurd_max_tokens_reset_nothing(&gw, &gw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_max_tokens_cannot_reset_a_budget_two_replicas_share() {
    let redis = Redis::start().await;
    let mock = Mock::start().await;
    let head = format!(
        "[counters]\nredis_url = \"{}\"\nredis_timeout = \"2s\"",
        redis.url()
    );
    let cfg = config(&head, TEAM_POLICIES, "\"team-budget\", \"team-tokens\"");
    let (a, b) = (start(&mock, &cfg).await, start(&mock, &cfg).await);
    absurd_max_tokens_reset_nothing(&a, &b).await;
}

const KEY_POLICIES: &str = r#"
[policies.key-budget]
plugin = "builtin:budget"
settings = { limit = 1.0, per = "key", default_output_tokens = 100 }

[policies.key-tokens]
plugin = "builtin:token-quota"
settings = { limit = 1000000, per = "key", default_output_tokens = 100 }
"#;

/// Item 4 on `a` and `b`: 40 concurrent requests with no `max_tokens` to a provider that
/// would write a million tokens stay within the $1 budget.
async fn no_max_tokens_cannot_overrun(mock: &Mock, a: &Gw, b: &Gw) {
    mock.set_fault("p", Some(Fault::Verbose(1_000_000)));
    let burst = (0..40).map(|i| {
        let gw = if i % 2 == 0 { a } else { b };
        async move {
            chat(
                gw,
                TEAM_KEY,
                json!({ "model": "m", "messages": user("hi") }),
            )
            .await
        }
    });
    let done = futures_util::future::join_all(burst).await;
    let admitted = done.iter().filter(|(s, _)| *s == 200).count();
    assert!(admitted >= 1, "{done:?}");
    assert!(done.iter().all(|(s, _)| *s == 200 || *s == 429), "{done:?}");
    // Each admitted request asked the provider for no more than was reserved for it.
    let seen = mock.seen("p");
    assert_eq!(seen.len(), admitted);
    assert!(seen.iter().all(|s| s.body["max_tokens"] == 100), "{seen:?}");
    let spent = counter(a, "key-budget", "spend:key team").await;
    assert!(
        spent > 0.0 && spent <= 1e6,
        "real spend {spent} millionths on a $1 budget"
    );
    // /v1/me says the real spend, the counter's.
    let url = format!("{}/v1/me", b.url);
    let me: Value = b
        .ask(Method::GET, &url, TEAM_KEY, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        me["budgets"][0]["spent"].as_f64(),
        Some(spent / 1e6),
        "{me}"
    );
    mock.set_fault("p", None);
}

#[tokio::test]
async fn requests_without_max_tokens_cannot_outspend_their_reservation() {
    let mock = Mock::start().await;
    let gw = start(
        &mock,
        &config("", KEY_POLICIES, "\"key-budget\", \"key-tokens\""),
    )
    .await;
    no_max_tokens_cannot_overrun(&mock, &gw, &gw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_cannot_outspend_reservations_of_requests_without_max_tokens() {
    let redis = Redis::start().await;
    let mock = Mock::start().await;
    let head = format!(
        "[counters]\nredis_url = \"{}\"\nredis_timeout = \"2s\"",
        redis.url()
    );
    let cfg = config(&head, KEY_POLICIES, "\"key-budget\", \"key-tokens\"");
    let (a, b) = (start(&mock, &cfg).await, start(&mock, &cfg).await);
    no_max_tokens_cannot_overrun(&mock, &a, &b).await;
}

/// Reads `n` chunks of a streamed answer to `path`, then leaves.
async fn read_then_leave(gw: &Gw, path: &str, body: Value, n: usize) {
    let mut r = gw
        .client
        .post(format!("{}{path}", gw.url))
        .bearer_auth(TEAM_KEY)
        .header("x-api-key", TEAM_KEY)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for _ in 0..n {
        r.chunk().await.unwrap().expect("the stream goes on");
    }
    drop(r);
}

/// Item 2 on `a` and `b`: a stream left after ten of forty pieces is charged what it
/// used on every API and quota kind.
async fn abandoned_streams_are_charged(mock: &Mock, a: &Gw, b: &Gw) {
    let text = "abcdefgh".repeat(40);
    let drip = || Fault::Drip(text.clone(), 8, Duration::from_millis(40));
    let cases = [
        (
            "/v1/chat/completions",
            "p",
            json!({ "model": "m", "stream": true, "messages": user("hi") }),
        ),
        (
            "/v1/messages",
            "an",
            json!({ "model": "claude", "stream": true, "max_tokens": 500, "messages": user("hi") }),
        ),
        (
            "/v1/responses",
            "p",
            json!({ "model": "m", "stream": true, "input": "hi" }),
        ),
    ];
    for (i, (path, provider, body)) in cases.into_iter().enumerate() {
        let gw = if i % 2 == 0 { a } else { b };
        let before = counter(a, "key-tokens", "tokens:key team").await;
        let spent_before = counter(a, "key-budget", "spend:key team").await;
        mock.push_fault(provider, drip());
        let cancelled = mock.cancelled();
        read_then_leave(gw, path, body, 12).await;
        // The gateway sees the client gone, settles, and cancels upstream.
        for _ in 0..100 {
            if mock.cancelled() > cancelled {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            mock.cancelled() > cancelled,
            "{path}: upstream never cancelled"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let used = counter(a, "key-tokens", "tokens:key team").await;
        // The prompt's estimate and what was streamed (≥ 8 pieces of 8 characters,
        // 2 tokens each): never less, whatever usage the provider told before it.
        assert!(
            used - before >= 10.0 + 16.0,
            "{path}: charged {}",
            used - before
        );
        let spent = counter(a, "key-budget", "spend:key team").await;
        assert!(spent > spent_before, "{path}: budget charged nothing");
    }
}

const STREAM_POLICIES: &str = r#"
[policies.key-budget]
plugin = "builtin:budget"
settings = { limit = 100.0, per = "key" }

[policies.key-tokens]
plugin = "builtin:token-quota"
settings = { limit = 1000000, per = "key" }
"#;

#[tokio::test]
async fn abandoned_streams_are_charged_what_they_used() {
    let mock = Mock::start().await;
    let db = std::env::temp_dir().join(format!("sb-abandon-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let head = format!("[usage]\nsqlite_path = {:?}", db.display().to_string());
    let gw = start(
        &mock,
        &config(&head, STREAM_POLICIES, "\"key-budget\", \"key-tokens\""),
    )
    .await;
    abandoned_streams_are_charged(&mock, &gw, &gw).await;
    // The usage records say the charge is an estimate.
    let mut estimated = 0;
    for _ in 0..50 {
        let conn = rusqlite::Connection::open(&db).unwrap();
        estimated = conn
            .query_row(
                "SELECT COUNT(*) FROM usage WHERE estimated = 1 AND completion_tokens >= 16",
                [],
                |r| r.get(0),
            )
            .unwrap_or(0);
        if estimated == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(estimated, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_streams_are_charged_across_two_replicas() {
    let redis = Redis::start().await;
    let mock = Mock::start().await;
    let head = format!(
        "[counters]\nredis_url = \"{}\"\nredis_timeout = \"2s\"",
        redis.url()
    );
    let cfg = config(&head, STREAM_POLICIES, "\"key-budget\", \"key-tokens\"");
    let (a, b) = (start(&mock, &cfg).await, start(&mock, &cfg).await);
    abandoned_streams_are_charged(&mock, &a, &b).await;
}

#[tokio::test]
async fn a_reservation_settles_in_the_window_it_was_made_in() {
    let mock = Mock::start().await;
    let policies = "[policies.short]\nplugin = \"builtin:budget\"\nsettings = { limit = 1.0, per = \"key\", window_secs = 2 }\n";
    let gw = start(&mock, &config("", policies, "\"short\"")).await;
    // Reserved (~0.039) in one window, answered (0.025) in the next.
    mock.push_fault("p", Fault::Delay(Duration::from_millis(2300)));
    assert_eq!(chat(&gw, TEAM_KEY, ask(json!(7))).await.0, 200);
    let shown = gw.admin_get("/admin/counters").await;
    for c in shown["counters"].as_array().unwrap() {
        assert!(c["value"].as_f64().unwrap() >= 0.0, "credited: {shown}");
    }
}

#[tokio::test]
async fn one_keys_users_cannot_fill_a_counter_table_for_everyone() {
    let mock = Mock::start().await;
    let policies = "[policies.per-user]\nplugin = \"builtin:token-quota\"\nsettings = { limit = 100000, per = \"user\", window_secs = 60 }\n";
    let cfg = config("", policies, "\"per-user\"");
    let gw = start_with(&mock, "max_counters = 100", &cfg).await;
    for i in 0..150 {
        let body = json!({ "model": "m", "messages": user("hi"), "user": format!("u{i}") });
        let (status, e) = chat(&gw, TEAM_KEY, body).await;
        assert_eq!(status, 200, "user {i}: {e}");
    }
    for i in 0..5 {
        let body = json!({ "model": "m", "messages": user("hi"), "user": format!("v{i}") });
        let (status, e) = chat(&gw, SECOND, body).await;
        assert_eq!(status, 200, "another key's user {i}: {e}");
    }
    let text = gw.metrics_text().await;
    assert!(
        text.contains("switchboard_counters_refused_total 0"),
        "{text}"
    );
}

/// The batch file of `n` requests to route `m`, each up to 7 tokens.
fn batch_file(n: usize) -> Vec<u8> {
    let line = r#"{"custom_id":"c","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":7}}"#;
    let mut out = Vec::new();
    for _ in 0..n {
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}

async fn upload(gw: &Gw, key: &str, content: &[u8]) -> String {
    let mut form = b"--XB\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--XB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n\r\n".to_vec();
    form.extend_from_slice(content);
    form.extend_from_slice(b"\r\n--XB--\r\n");
    let r = gw
        .client
        .post(format!("{}/v1/files", gw.url))
        .bearer_auth(key)
        .header("content-type", "multipart/form-data; boundary=XB")
        .header("x-switchboard-route", "m")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_batch_is_made_only_when_its_policies_admit_it() {
    let mock = Mock::start().await;
    let db = std::env::temp_dir().join(format!("sb-batch-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let head = format!("[responses]\nsqlite_path = {:?}", db.display().to_string());
    let policies = "[policies.small]\nplugin = \"builtin:budget\"\nsettings = { limit = 0.3, per = \"key\", default_output_tokens = 10 }\n";
    let gw = start(&mock, &config(&head, policies, "\"small\"")).await;
    let gw = &gw;
    let create = |file: String| {
        let body = json!({ "input_file_id": file, "endpoint": "/v1/chat/completions", "completion_window": "24h" });
        let url = format!("{}/v1/batches", gw.url);
        async move {
            let r = gw.ask(Method::POST, &url, TEAM_KEY, Some(&body)).await;
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    // Five requests reserve ~5 × 0.041 and are charged that: the budget admits it.
    let file = upload(gw, TEAM_KEY, &batch_file(5)).await;
    let (status, v) = create(file.clone()).await;
    assert_eq!(status, 200, "{v}");
    let spent = counter(gw, "small", "spend:key team").await;
    assert!((150_000.0..300_000.0).contains(&spent), "charged {spent}");
    // Another five would pass the limit: refused with the budget's answer, not made.
    let made = mock.count("p");
    for _ in 0..3 {
        let (status, v) = create(file.clone()).await;
        assert_eq!(status, 429, "{v}");
        assert_eq!(v["error"]["code"], "budget_exceeded");
    }
    assert_eq!(
        mock.seen("p")
            .iter()
            .filter(|s| s.path == "/v1/batches")
            .count(),
        1
    );
    assert!(mock.count("p") > made, "the file was read to count it");
    assert_eq!(counter(gw, "small", "spend:key team").await, spent);
}

#[tokio::test]
async fn the_counter_arithmetic_fuzz_target_holds_on_redis() {
    let redis = Redis::start().await;
    let c = switchboard::plugins::counters::Counters::default();
    let cfg = switchboard::config::CountersConfig {
        redis: Some(switchboard::config::RedisConfig {
            url: switchboard::config::Secret::new(redis.url()),
            prefix: "fuzz:".into(),
            timeout: Duration::from_secs(2),
        }),
        sqlite_path: None,
    };
    c.configure(&cfg).unwrap();
    switchboard::plugins::counters::fuzz::run(&c, 1000, 7)
        .await
        .unwrap();
}
