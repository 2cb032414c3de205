//! No client can take the gateway or a shared part down (issue 23, items 7–15): an
//! oversized request is the client's 413 and never quarantines a shared adapter, a
//! request's shape is capped, count_tokens meets the rate limits, a gateway whose key
//! store was never read is not open, objects belong to a key's id, a form names one
//! model, a refused reload shows no secret, admin sign-in guesses are throttled, a
//! continuation never races its save, and streams, denials and stored conversations
//! are bounded.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;
use crate::mock::{Fault, Mock};

const POLICY: &str = env!("SWITCHBOARD_GUEST_TEST_HOSTILE_POLICY");

fn keyed(extra: &str) -> String {
    format!(
        r#"
[[keys]]
name = "team"
secret_env = "TEAM_KEY"

[providers.an]
adapter = "builtin:anthropic"
base_url = "{{mock}}/an/v1"
api_key_env = "PROVIDER_KEY"
memory_mib = 16

[providers.p]
adapter = "builtin:openai"
base_url = "{{mock}}/p/v1"
api_key_env = "PROVIDER_KEY"

[models."a"]
targets = [{{ provider = "an", model = "claude-x" }}]

[models."b"]
targets = [{{ provider = "an", model = "claude-y" }}]

[models."m"]
targets = [{{ provider = "p", model = "x" }}]

{extra}
"#
    )
}

async fn send(gw: &Gw, path: &str, body: &Value) -> (u16, Value) {
    let r = gw
        .client
        .post(format!("{}{path}", gw.url))
        .bearer_auth(TEAM_KEY)
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn small(model: &str) -> Value {
    json!({ "model": model, "messages": user("hi") })
}

#[tokio::test]
async fn oversized_requests_are_the_clients_and_never_quarantine_a_shared_adapter() {
    // Megabytes through an adapter, a dozen times: not beside a test that measures latency.
    let _cpu = cpu_heavy_async().await;
    let mock = Mock::start().await;
    let gw = start(&mock, &keyed("")).await;
    // 5 MB of text for an adapter with 16 MiB: refused before it runs.
    let big = json!({ "model": "a", "messages": user(&"x".repeat(5 << 20)) });
    // 80 000 tiny parts in 2 MB: an out-of-memory on that is the client's too.
    let parts: Vec<Value> = (0..80_000)
        .map(|_| json!({ "type": "text", "text": "x" }))
        .collect();
    let many = json!({ "model": "a", "messages": [{ "role": "user", "content": parts }] });
    for _ in 0..6 {
        let (status, v) = send(&gw, "/v1/chat/completions", &big).await;
        assert_eq!(status, 413, "{v}");
        assert_eq!(v["error"]["code"], "request_too_large");
        let (status, v) = send(&gw, "/v1/chat/completions", &many).await;
        assert!(status == 413 || status == 200, "{status} {v}");
    }
    // The adapter is not quarantined: not for the other route, not for this one.
    let (status, v) = send(&gw, "/v1/chat/completions", &small("b")).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = send(&gw, "/v1/chat/completions", &small("a")).await;
    assert_eq!(status, 200, "{v}");
    let plugins = gw.admin_plugins().await.to_string();
    assert!(!plugins.contains("\"quarantined\":true"), "{plugins}");
}

#[tokio::test]
async fn a_request_holds_no_more_items_than_the_cap_and_count_tokens_meets_rate_limits() {
    let _cpu = cpu_heavy_async().await;
    let mock = Mock::start().await;
    let limit = "[policies.two]\nplugin = \"builtin:request-limit\"\nsettings = { limit = 2, window_secs = 3600 }\n\n[models.\"limited\"]\ntargets = [{ provider = \"an\", model = \"claude-x\" }]\npolicies = [\"two\"]\n";
    let gw = start(&mock, &keyed(limit)).await;
    let items: Vec<Value> = (0..150_000)
        .map(|_| json!({ "role": "user", "content": "x" }))
        .collect();
    let (status, v) = send(
        &gw,
        "/v1/responses",
        &json!({ "model": "m", "input": items }),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert!(error_message(&v).contains("server.max_items"), "{v}");
    let count = json!({ "model": "limited", "messages": user("hi") });
    for i in 0..3 {
        let r = gw
            .client
            .post(format!("{}/v1/messages/count_tokens", gw.url))
            .header("x-api-key", TEAM_KEY)
            .json(&count)
            .send()
            .await
            .unwrap();
        let want = if i < 2 { 200 } else { 429 };
        assert_eq!(r.status(), want, "count {i}");
    }
}

#[tokio::test]
async fn a_gateway_whose_key_store_was_never_read_is_not_open() {
    let mock = Mock::start().await;
    let cfg = "[store]\npostgres_url_env = \"DEAD_PG\"\n\n[providers.p]\nadapter = \"builtin:openai\"\nbase_url = \"{mock}/p/v1\"\n\n[models.\"m\"]\ntargets = [{ provider = \"p\", model = \"x\" }]\n";
    let env = [(
        "DEAD_PG",
        "postgres://gw:pw@127.0.0.1:1/sb?connect_timeout=1",
    )];
    let gw = start_env(&mock, "", cfg, &env).await;
    let r = gw.post("/v1/chat/completions", &small("m")).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "key_store_unavailable", "{v}");
    assert_eq!(mock.count("p"), 0);
}

#[tokio::test]
async fn a_reissued_key_name_reads_nothing_of_the_revoked_keys() {
    let mock = Mock::start().await;
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let extra = format!(
        "[store]\nsqlite_path = {:?}\n\n[responses]\nsqlite_path = {:?}\n",
        dir.join(format!("sb-reissue-keys-{pid}.db"))
            .display()
            .to_string(),
        dir.join(format!("sb-reissue-resp-{pid}.db"))
            .display()
            .to_string(),
    );
    for f in ["keys", "resp"] {
        let _ = std::fs::remove_file(dir.join(format!("sb-reissue-{f}-{pid}.db")));
    }
    let gw = start(&mock, &keyed(&extra)).await;
    let make = || async {
        let (s, made) = gw
            .admin_json(
                Method::POST,
                "/admin/keys",
                Some(json!({ "name": "alice" })),
            )
            .await;
        assert_eq!(s, 201, "{made}");
        (
            made["key"]["id"].as_str().unwrap().to_string(),
            made["secret"].as_str().unwrap().to_string(),
        )
    };
    let (id, old) = make().await;
    let url = format!("{}/v1/responses", gw.url);
    let r = gw
        .ask(
            Method::POST,
            &url,
            &old,
            Some(&json!({ "model": "m", "input": "secret plans" })),
        )
        .await;
    assert_eq!(r.status(), 200);
    let stored = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let by_id = format!("{url}/{stored}");
    assert_eq!(gw.ask(Method::GET, &by_id, &old, None).await.status(), 200);
    let (s, _) = gw
        .admin_json(Method::DELETE, &format!("/admin/keys/{id}"), None)
        .await;
    assert_eq!(s, 200);
    let (_, new) = make().await;
    assert_eq!(gw.ask(Method::GET, &by_id, &new, None).await.status(), 404);
}

#[tokio::test]
async fn a_form_with_two_model_fields_is_refused() {
    let mock = Mock::start().await;
    let extra = "[models.\"whisper\"]\ntargets = [{ provider = \"p\", model = \"whisper-up\" }]\n";
    let gw = start(&mock, &keyed(extra)).await;
    for second in ["name=\"model\"", "NAME=model"] {
        let form = format!(
            "--B0\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper\r\n--B0\r\nContent-Disposition: form-data; {second}\r\n\r\ngpt-4o-expensive\r\n--B0\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp3\"\r\n\r\nRIFF\r\n--B0--\r\n"
        );
        let r = gw
            .client
            .post(format!("{}/v1/audio/transcriptions", gw.url))
            .bearer_auth(TEAM_KEY)
            .header("content-type", "multipart/form-data; boundary=B0")
            .body(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["param"], "model", "{v}");
    }
    assert_eq!(mock.count("p"), 0);
}

#[tokio::test]
async fn a_refused_reload_shows_no_secret_of_the_line_it_quotes() {
    let mock = Mock::start().await;
    let gw = start(&mock, &keyed("")).await;
    let path = std::env::temp_dir().join(format!("sb-masked-{}.toml", std::process::id()));
    let text = config_text(&mock, &keyed(""))
        + "\n[store]\npostgres_url = \"postgres://gw:hunter2@127.0.0.1:1/sb\" oops\n";
    std::fs::write(&path, text).unwrap();
    *gw.running.gateway.reload.path.lock() = Some(path);
    let (status, v) = gw.admin_json(Method::POST, "/admin/reload", None).await;
    assert_eq!(status, 422, "{v}");
    let said = v.to_string();
    assert!(said.contains("line"), "{said}");
    assert!(!said.contains("hunter2"), "{said}");
    let (_, audit) = gw.admin_json(Method::GET, "/admin/audit", None).await;
    assert!(audit.to_string().contains("config.reload"), "{audit}");
    assert!(!audit.to_string().contains("hunter2"), "{audit}");
}

#[tokio::test]
async fn failed_admin_sign_ins_are_throttled_per_address() {
    let mock = Mock::start().await;
    let gw = start(&mock, &keyed("")).await;
    let from = |ip: [u8; 4]| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(ip))
            .build()
            .unwrap()
    };
    let (guesser, operator) = (from([127, 0, 0, 1]), from([127, 0, 0, 2]));
    let health = format!("{}/admin/health", gw.admin);
    for i in 0..10 {
        let r = guesser
            .get(&health)
            .bearer_auth(format!("guess-{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    // Past ten failures a minute, this address is refused even the right token.
    let r = guesser
        .get(&health)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // Another address signs in.
    let r = operator
        .get(&health)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let m = gw.metrics_text().await;
    assert!(
        m.contains("switchboard_admin_auth_failures_total 10"),
        "{m}"
    );
    assert!(
        m.contains("switchboard_admin_auth_throttled_total 1"),
        "{m}"
    );
}

#[tokio::test]
async fn a_continuation_right_after_its_answer_finds_it() {
    let _cpu = cpu_heavy_async().await;
    let mock = Mock::start().await;
    let db = std::env::temp_dir().join(format!("sb-chain-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let extra = format!(
        "[responses]\nsqlite_path = {:?}\nmax_mib_per_key = 1\n",
        db.display().to_string()
    );
    let gw = start(&mock, &keyed(&extra)).await;
    let mut previous: Option<String> = None;
    let turn = "t".repeat(2048);
    for i in 0..150 {
        let mut body = json!({ "model": "m", "input": turn, "stream": i % 2 == 1 });
        if let Some(p) = &previous {
            body["previous_response_id"] = json!(p);
        }
        let r = gw
            .client
            .post(format!("{}/v1/responses", gw.url))
            .bearer_auth(TEAM_KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "turn {i}");
        let text = r.text().await.unwrap();
        let id = match i % 2 {
            0 => serde_json::from_str::<Value>(&text).unwrap()["id"].clone(),
            _ => data_lines(&text)
                .iter()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|e| e["type"] == "response.completed")
                .map(|e| e["response"]["id"].clone())
                .unwrap_or_else(|| panic!("turn {i}: {text}")),
        };
        previous = Some(id.as_str().unwrap().to_string());
    }
    // The chain stored its conversation at every turn, held to the key's quota.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let conn = rusqlite::Connection::open(&db).unwrap();
    let kept: i64 = conn
        .query_row(
            "SELECT SUM(length(response) + length(input)) FROM responses",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(kept <= 3 << 20, "{kept} bytes kept for one key");
}

#[tokio::test]
async fn streams_denials_and_panics_are_bounded_and_counted() {
    let mock = Mock::start().await;
    let extra = format!(
        "[providers.slow]\nadapter = \"builtin:openai\"\nbase_url = \"{{mock}}/slow/v1\"\nmax_stream_duration = \"1s\"\n\n[models.\"slow\"]\ntargets = [{{ provider = \"slow\", model = \"x\" }}]\n\n[policies.essay]\nplugin = {POLICY:?}\nsettings = {{ mode = \"essay\" }}\n\n[models.\"denied\"]\ntargets = [{{ provider = \"p\", model = \"x\" }}]\npolicies = [\"essay\"]\n"
    );
    let gw = start(&mock, &keyed(&extra)).await;
    assert!(
        gw.metrics_text()
            .await
            .contains("switchboard_request_panics_total 0")
    );
    // A stream that would run four seconds ends at one, with an error event.
    mock.set_fault(
        "slow",
        Some(Fault::Drip(
            "abcd".repeat(40),
            4,
            Duration::from_millis(100),
        )),
    );
    let started = std::time::Instant::now();
    let r = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(TEAM_KEY)
        .json(&json!({ "model": "slow", "stream": true, "messages": user("hi") }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let lines = data_lines(&r.text().await.unwrap());
    assert!(started.elapsed() < Duration::from_secs(3));
    let last = lines.last().cloned().unwrap_or_default();
    assert!(last.contains("max_stream_duration"), "{lines:?}");
    // A policy's 3 MB denial reaches the client cut to 2 KB.
    let (status, v) = send(&gw, "/v1/chat/completions", &small("denied")).await;
    assert_eq!(status, 429);
    let said = error_message(&v);
    assert!(
        said.len() <= 2048 && said.starts_with("no no"),
        "{}",
        said.len()
    );
}
