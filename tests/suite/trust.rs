//! Trust (issue "Trust: provider keys never leave, …"): each attack of the review,
//! replayed against the real gateway, real wasmtime and real hostile components
//! (`plugins/test-hostile*`), with the mock playing a provider that redirects, echoes
//! keys or resets. Each test failed on the code before the fix.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;
use crate::mock::{Fault, Mock};

const ADAPTER: &str = env!("SWITCHBOARD_GUEST_TEST_HOSTILE_ADAPTER");
const POLICY: &str = env!("SWITCHBOARD_GUEST_TEST_HOSTILE_POLICY");
const STRATEGY: &str = env!("SWITCHBOARD_GUEST_TEST_HOSTILE");

fn keyed(name: &str, adapter: &str) -> String {
    format!(
        "[providers.{name}]\nadapter = {adapter:?}\nbase_url = \"{{mock}}/{name}/v1\"\napi_key_env = \"PROVIDER_KEY\"\n\n"
    )
}

fn model(name: &str, provider: &str, target: &str, extra: &str) -> String {
    format!(
        "[models.{name:?}]\ntargets = [{{ provider = \"{provider}\", model = \"{target}\" }}]\n{extra}\n"
    )
}

fn chat(model: &str) -> Value {
    json!({ "model": model, "messages": user("hi") })
}

/// A gateway with one route per mode of the hostile adapter (route name = mode).
async fn hostile_adapter(mock: &Mock, modes: &[&str]) -> Gw {
    let mut cfg = keyed("up", ADAPTER);
    for m in modes {
        cfg += &model(m, "up", m, "");
    }
    start(mock, &cfg).await
}

/// The request was refused as the plugin's `invalid_output` (503 `plugin_failed`).
fn refused_as_invalid_output(what: &str, status: u16, v: &Value) {
    assert_eq!(status, 503, "{what}: {v}");
    assert_eq!(v["error"]["code"], "plugin_failed", "{what}: {v}");
    assert!(error_message(v).contains("invalid_output"), "{what}: {v}");
}

#[tokio::test]
async fn redirects_are_failures_and_never_carry_the_key() {
    let mock = Mock::start().await;
    let elsewhere = Mock::start().await;
    let gw = start(
        &mock,
        &(keyed("up", "builtin:openai") + &model("m", "up", "x", "")),
    )
    .await;
    for code in [307, 302, 301, 308] {
        let to = format!("http://{}/evil/v1/chat/completions", elsewhere.addr);
        mock.set_fault("up", Some(Fault::Redirect(code, to)));
        let (status, v) = gw.chat(&chat("m")).await;
        assert_eq!(status, 502, "{code}: {v}");
        assert_eq!(v["error"]["type"], "upstream_error");
        assert!(error_message(&v).contains(&code.to_string()), "{v}");
    }
    assert_eq!(elsewhere.count("evil"), 0, "the redirect was followed");
}

#[tokio::test]
async fn adapter_paths_cannot_leave_the_base_path() {
    let mock = Mock::start().await;
    let modes = ["traverse-1", "traverse-2", "traverse-3", "traverse-4"];
    let gw = hostile_adapter(&mock, &modes).await;
    for m in modes {
        let (status, v) = gw.chat(&chat(m)).await;
        refused_as_invalid_output(m, status, &v);
    }
    assert!(mock.seen("up").is_empty(), "{:?}", mock.seen("up"));
    assert_eq!(mock.count("admin"), 0);
}

#[tokio::test]
async fn the_key_header_an_adapter_names_is_checked() {
    let mock = Mock::start().await;
    let modes = ["auth-host", "auth-length", "auth-bad", "header-flood"];
    let gw = hostile_adapter(&mock, &modes).await;
    for m in modes {
        let (status, v) = gw.chat(&chat(m)).await;
        refused_as_invalid_output(m, status, &v);
    }
    assert!(mock.seen("up").is_empty());
    // The provider was not blamed for its adapter.
    let health = gw.admin_health().await;
    for r in health["routes"].as_array().unwrap() {
        assert_eq!(r["targets"][0]["failures"], 0, "{r}");
    }
}

/// Every form a key takes in a provider's error: in `param`, cut at 200 characters by
/// the adapter, `\u`-escaped, and in a text body.
#[tokio::test]
async fn keys_are_scrubbed_from_every_field_and_form() {
    let mock = Mock::start().await;
    let gw = start(
        &mock,
        &(keyed("up", "builtin:openai") + &model("m", "up", "x", "")),
    )
    .await;
    let escaped: String = PROVIDER_KEY
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    // The adapter cuts a text body at 200 characters: before the fix that left the
    // first characters of the key.
    let cut_at = "x".repeat(180);
    let bodies = [
        format!(r#"{{"error":{{"message":"bad","param":"{PROVIDER_KEY}"}}}}"#),
        format!(r#"{{"error":{{"message":"bad key {escaped}"}}}}"#),
        format!("<html>{cut_at}{PROVIDER_KEY}</html>"),
        format!(
            r#"{{"error":{{"message":"{}","param":"{escaped}"}}}}"#,
            PROVIDER_KEY.replace('-', "%2D")
        ),
    ];
    let fragment = &PROVIDER_KEY[..12];
    for body in bodies {
        mock.set_fault("up", Some(Fault::Status(400, body.clone())));
        let r = gw.post("/v1/chat/completions", &chat("m")).await;
        assert_eq!(r.status(), 400);
        let text = r.text().await.unwrap();
        assert!(!text.contains(fragment), "{body}\n -> {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(!v.to_string().contains(fragment), "decoded: {v}");
        assert!(text.contains("[REDACTED]"), "{text}");
    }
    // A 200 answer that echoes the key, whole and as a stream cut into 3-char pieces.
    let echo = format!("your key is {PROVIDER_KEY}, keep it safe");
    mock.set_fault("up", Some(Fault::Says(echo.clone(), 3)));
    let (status, v) = gw.chat(&chat("m")).await;
    assert_eq!(status, 200);
    assert!(!v.to_string().contains(fragment), "{v}");
    let (status, events) = gw
        .chat_stream(&json!({ "model": "m", "stream": true, "messages": user("hi") }))
        .await;
    assert_eq!(status, 200);
    let text: String = events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(text, "your key is [REDACTED], keep it safe");
    // Nor in the admin API or the metrics.
    for path in [
        "/admin/config",
        "/admin/health",
        "/admin/plugins",
        "/metrics",
    ] {
        let t = gw
            .client
            .get(format!("{}{path}", gw.admin))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!t.contains(fragment), "{path}");
    }
}

#[tokio::test]
async fn stream_translators_cannot_inject_events() {
    let mock = Mock::start().await;
    let gw = hostile_adapter(&mock, &["inject", "after-done", "event-flood", "bad-name"]).await;
    let stream = |m: &str| json!({ "model": m, "stream": true, "messages": user("hi") });
    let r = gw.post("/v1/chat/completions", &stream("inject")).await;
    let text = r.text().await.unwrap();
    // Framed as a client's parser frames it: CR, LF and CRLF all end a line.
    let mut framer = switchboard::upstream::sse::SseFramer::new();
    let mut events = Vec::new();
    framer.push(text.as_bytes(), &mut events).unwrap();
    framer.finish(&mut events).unwrap();
    let data: Vec<&str> = events.iter().map(|e| e.data.as_str()).collect();
    assert_eq!(
        data.iter().filter(|d| **d == "[DONE]").count(),
        1,
        "{text:?}"
    );
    assert_eq!(data.last(), Some(&"[DONE]"), "{text:?}");
    assert!(
        !data.iter().any(|d| d.starts_with("{\"injected\"")),
        "{text:?}"
    );
    let (_, events) = gw.chat_stream(&stream("after-done")).await;
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert!(
        !events.iter().any(|e| e.contains("\"after\"")),
        "{events:?}"
    );
    for m in ["event-flood", "bad-name"] {
        let (status, v) = gw.chat(&stream(m)).await;
        refused_as_invalid_output(m, status, &v);
    }
    let health = gw.admin_health().await;
    for r in health["routes"].as_array().unwrap() {
        assert_eq!(
            r["targets"][0]["failures"], 0,
            "a broken translator blamed the target: {r}"
        );
    }
}

#[tokio::test]
async fn policy_headers_are_bounded_and_cannot_take_host_headers() {
    let mock = Mock::start().await;
    let mut cfg = keyed("up", "builtin:openai");
    for mode in ["flood", "reserved"] {
        cfg += &format!(
            "[policies.{mode}]\nplugin = {POLICY:?}\nsettings = {{ mode = \"{mode}\" }}\n\n"
        );
        cfg += &model(mode, "up", "x", &format!("policies = [\"{mode}\"]"));
    }
    let gw = start(&mock, &cfg).await;
    for mode in ["flood", "reserved"] {
        let (status, v) = gw.chat(&chat(mode)).await;
        refused_as_invalid_output(mode, status, &v);
    }
    assert_eq!(mock.count("up"), 0);
}

#[tokio::test]
async fn client_controlled_counter_keys_are_bounded() {
    let mock = Mock::start().await;
    let cfg = keyed("up", "builtin:openai")
        + "[policies.per-user]\nplugin = \"builtin:token-quota\"\nsettings = { limit = 100000, window_secs = 60, per = \"user\" }\n\n"
        + &format!(
            "[policies.fresh]\nplugin = {POLICY:?}\ndeadline = \"2s\"\nsettings = {{ mode = \"counters\" }}\n\n"
        )
        + &model("m", "up", "x", "policies = [\"per-user\"]")
        + &model("fresh", "up", "x", "policies = [\"fresh\"]");
    let gw = start_with(&mock, "max_counters = 5000", &cfg).await;
    let big = "u".repeat(1 << 20);
    let (status, v) = gw
        .chat(&json!({ "model": "m", "user": big, "messages": user("hi") }))
        .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["param"], "user");
    let (status, _) = gw
        .chat(&json!({ "model": "m", "user": "u".repeat(200), "messages": user("hi") }))
        .await;
    assert_eq!(status, 200);
    // A plugin adding fresh keys in a loop for one key sheds that key's oldest past
    // its share (a tenth of max_counters): host memory stays bounded, and the loop
    // ends at the plugin's own deadline.
    let (status, v) = gw.chat(&chat("fresh")).await;
    assert_eq!(status, 503, "{v}");
    let counters = gw.admin_get("/admin/counters").await;
    let held = counters["counters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["plugin"] == "fresh")
        .count();
    assert!((1..=500).contains(&held), "{held} counters of one key");
    let text = gw.metrics_text().await;
    assert!(
        text.lines()
            .any(|l| l.starts_with("switchboard_counters_shed_total") && !l.ends_with(" 0")),
        "{text}"
    );
}

#[tokio::test]
async fn fresh_counter_keys_stop_at_the_limit_in_redis_too() {
    let redis = Redis::start().await;
    let mock = Mock::start().await;
    let cfg = keyed("up", "builtin:openai")
        + &format!(
            "[counters]\nredis_url = \"{}\"\nredis_timeout = \"2s\"\n\n",
            redis.url()
        )
        + &format!(
            "[policies.fresh]\nplugin = {POLICY:?}\ndeadline = \"5s\"\nsettings = {{ mode = \"counters\" }}\n\n"
        )
        + &model("fresh", "up", "x", "policies = [\"fresh\"]");
    let gw = start_with(&mock, "max_counters = 300", &cfg).await;
    let (status, v) = gw.chat(&chat("fresh")).await;
    assert_eq!(status, 503, "{v}");
    // One key makes at most its share (a tenth of max_counters); no other key is refused.
    assert!(error_message(&v).contains("max_counters_per_key"), "{v}");
    let mut conn = redis.conn().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        keys.len(),
        30,
        "Redis holds what the key's share allows and no more"
    );
}

#[tokio::test]
async fn n_is_capped_and_reserved_for() {
    let mock = Mock::start().await;
    let cfg = keyed("up", "builtin:openai")
        + "[policies.tokens]\nplugin = \"builtin:token-quota\"\nsettings = { limit = 10000, window_secs = 60 }\n\n"
        + &model("m", "up", "x", "policies = [\"tokens\"]\nmax_n = 4");
    let gw = start(&mock, &cfg).await;
    let (status, v) = gw
        .chat(&json!({ "model": "m", "n": 1000000, "max_tokens": 100, "messages": user("hi") }))
        .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["param"], "n");
    // n = 4 × 3000 max tokens is more than the 10,000 left: denied before the call.
    let (status, v) = gw
        .chat(&json!({ "model": "m", "n": 4, "max_tokens": 3000, "messages": user("hi") }))
        .await;
    assert_eq!(status, 429, "{v}");
    let (status, v) = gw
        .chat(&json!({ "model": "m", "n": 1, "max_tokens": 3000, "messages": user("hi") }))
        .await;
    assert_eq!(status, 200, "{v}");
}

/// Raw bytes in the request line once panicked the connection task.
#[tokio::test]
async fn no_request_line_panics_the_server() {
    let mock = Mock::start().await;
    let gw = start(
        &mock,
        &(keyed("up", "builtin:openai") + &model("m", "up", "x", "")),
    )
    .await;
    let mut conn = tokio::net::TcpStream::connect(gw.running.api_addr)
        .await
        .unwrap();
    let mut req = b"GET /v1/models/a%4".to_vec();
    req.extend_from_slice("é".as_bytes());
    req.extend_from_slice(b" HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    conn.write_all(&req).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let head = String::from_utf8_lossy(&out);
    assert!(
        head.starts_with("HTTP/1.1 404") || head.starts_with("HTTP/1.1 400"),
        "{head}"
    );
}

#[tokio::test]
async fn status_codes_say_what_happened() {
    let mock = Mock::start().await;
    let gw = start(
        &mock,
        &(keyed("up", "builtin:openai") + &model("m", "up", "x", "breaker = { failures = 100 }")),
    )
    .await;
    for (fault, want) in [(Fault::Reset, 502), (Fault::Malformed, 502)] {
        mock.set_fault("up", Some(fault.clone()));
        let (status, v) = gw.chat(&chat("m")).await;
        assert_eq!(status, want, "{fault:?}: {v}");
        assert_eq!(v["error"]["type"], "upstream_error", "{fault:?}: {v}");
    }
}

#[tokio::test]
async fn a_looping_plugin_degrades_its_own_route_only() {
    let _quiet = crate::common::timing_sensitive().await;
    let mock = Mock::start().await;
    let cfg = format!(
        "[providers.p]\nadapter = \"builtin:openai\"\nbase_url = \"{{mock}}/p/v1\"\n\n[strategies.hostile]\nplugin = {STRATEGY:?}\ndeadline = \"50ms\"\n\n[models.\"loop\"]\nstrategy = \"hostile\"\ntargets = [{{ provider = \"p\", model = \"x\" }}, {{ provider = \"p\", model = \"x2\" }}]\n\n[models.\"fine\"]\ntargets = [{{ provider = \"p\", model = \"y\" }}]\n"
    );
    let gw = start(&mock, &cfg).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut hammers = Vec::new();
    for _ in 0..100 {
        let client = gw.client.clone();
        let url = format!("{}/v1/chat/completions", gw.url);
        let stop = stop.clone();
        hammers.push(tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 400 {
                let _ = client.post(&url).json(&chat("loop")).send().await;
                n += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut times = Vec::new();
    let mut failures = 0;
    for _ in 0..40 {
        let t = Instant::now();
        let (status, _) = gw.chat(&chat("fine")).await;
        times.push(t.elapsed());
        if status != 200 {
            failures += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for h in hammers {
        let _ = h.await;
    }
    times.sort();
    let median = times[times.len() / 2];
    eprintln!(
        "healthy route while a looping plugin is hammered: median {median:?}, max {:?}, failures {failures}",
        times.last().unwrap()
    );
    assert_eq!(failures, 0);
    // Isolation, not speed: with the looping plugin's calls not contained, the healthy
    // route waits behind 50 ms loops on both cores (seconds). Loaded, shared 2-core
    // machines put the contained case at 10–70 ms alone and up to ~105 ms beside the
    // rest of the suite (2026-12-07): the bound sits well below seconds, above that.
    assert!(median < Duration::from_millis(250), "median {median:?}");
    // The looping plugin was quarantined, and says so.
    let plugins = gw.admin_plugins().await;
    let hostile = plugins["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "hostile@loop")
        .cloned()
        .unwrap();
    assert!(
        hostile["quarantine"]["times"].as_u64().unwrap() >= 1,
        "{hostile}"
    );
    assert!(
        hostile["failures"]["quarantined"].as_u64().unwrap() >= 1,
        "{hostile}"
    );
    let (status, v) = gw.chat(&chat("loop")).await;
    assert_eq!(status, 503);
    assert!(error_message(&v).contains("quarantined"), "{v}");
}

#[tokio::test]
async fn a_trap_keeps_its_cause_and_plugins_have_a_row_per_use() {
    let mock = Mock::start().await;
    let cfg = format!(
        "[providers.a]\nadapter = \"builtin:openai\"\nbase_url = \"{{mock}}/a/v1\"\n\n[providers.b]\nadapter = \"builtin:openai\"\nbase_url = \"{{mock}}/b/v1\"\n\n[strategies.hostile]\nplugin = {STRATEGY:?}\n\n[models.\"trap\"]\nstrategy = \"hostile\"\ntargets = [{{ provider = \"a\", model = \"x\" }}, {{ provider = \"b\", model = \"x\" }}]\n"
    );
    let gw = start(&mock, &cfg).await;
    let (status, v) = gw.chat(&chat("trap")).await;
    assert_eq!(status, 503);
    let msg = error_message(&v);
    assert!(msg.contains("hostile plugin trapped on purpose"), "{msg}");
    let plugins = gw.admin_plugins().await;
    let list = plugins["plugins"].as_array().unwrap();
    let row = list.iter().find(|p| p["name"] == "hostile@trap").unwrap();
    let last = row["last_error"].as_str().unwrap();
    eprintln!("last_error: {last}");
    assert!(
        last.contains("trapped on purpose") && last.contains("wasm backtrace"),
        "{last}"
    );
    for p in ["builtin:openai@a", "builtin:openai@b"] {
        assert!(
            list.iter().any(|r| r["name"] == p),
            "{p} missing: {plugins}"
        );
    }
    // A route with one target has nothing to order: its strategy is not asked.
    let one = cfg.replace(", { provider = \"b\", model = \"x\" }]", "]");
    assert_ne!(one, cfg);
    let gw = start(&mock, &one).await;
    let (status, v) = gw.chat(&chat("trap")).await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test]
async fn component_files_are_bounded_and_directories_named() {
    let mock = Mock::start().await;
    let runtime =
        switchboard::plugins::PluginRuntime::new(&parse(&mock, "").unwrap().engine).unwrap();
    let top = std::env::temp_dir().join(format!("sb-trust-{}", std::process::id()));
    let dir = top.join("dir.wasm");
    std::fs::create_dir_all(&dir).unwrap();
    let big = top.join("big.wasm");
    std::fs::write(&big, vec![0u8; 65 << 20]).unwrap();
    let base = "[providers.p]\nadapter = \"builtin:openai\"\nbase_url = \"{mock}/p/v1\"\n";
    let text = |path: &std::path::Path| {
        format!(
            "{base}[models.\"m\"]\nstrategy = {:?}\ntargets = [{{ provider = \"p\", model = \"x\" }}]\n",
            path.display().to_string()
        )
    };
    let err = parse(&mock, &text(&dir)).unwrap_err().to_string();
    assert!(err.contains("is a directory"), "{err}");
    let cfg = parse(&mock, &text(&big)).unwrap();
    let err = switchboard::app::build_state(cfg, &runtime)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("more than") && err.contains("max_component_mib"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&top);
}
