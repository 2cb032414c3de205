//! `/metrics` after real traffic: every figure DESIGN.md §6 names is there with the
//! right value, and the exposition parses with the official Prometheus client's text
//! parser (histograms cumulative, one family per name). No secret appears in it.

use std::process::{Command, Stdio};

use crate::common::*;
use crate::mock::{Fault, Mock};
use serde_json::{Value, json};

const CONFIG: &str = r#"
[providers.bad]
adapter = "builtin:openai"
base_url = "{mock}/bad/v1"
api_key_env = "PROVIDER_KEY"

[providers.good]
adapter = "builtin:openai"
base_url = "{mock}/good/v1"
api_key_env = "PROVIDER_KEY"

[policies.two-per-minute]
plugin = "builtin:request-limit"
settings = { limit = 2, window_secs = 60 }

[models."priced"]
strategy = "builtin:priority"
targets = [
  { provider = "bad", model = "b", input_price = 1.0, output_price = 2.0 },
  { provider = "good", model = "g", input_price = 3.0, output_price = 5.0 },
]

[models."cached"]
targets = [{ provider = "good", model = "g" }]
cache = { ttl = "10m" }

[models."limited"]
targets = [{ provider = "good", model = "g" }]
policies = ["two-per-minute"]
"#;

/// Value of the one sample with this name and these labels (others ignored).
fn value(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = samples
        .iter()
        .filter(|s| s["name"] == name)
        .filter(|s| labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .map(|s| s["value"].as_f64().unwrap())
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{name} {labels:?}: {} samples match",
        found.len()
    );
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exposition_parses_and_carries_every_figure() {
    let python = tokio::task::spawn_blocking(python_venv);
    let mock = Mock::start().await;
    let gw = start(&mock, CONFIG).await;
    mock.set_fault("bad", Some(Fault::Status(503, "{}".into())));

    // Failover (bad → good) with prices: 2 JSON answers and 1 stream.
    for _ in 0..2 {
        let (s, _) = gw
            .chat(&json!({"model": "priced", "messages": user("hi")}))
            .await;
        assert_eq!(s, 200);
    }
    let (s, lines) = gw
        .chat_stream(
            &json!({"model": "priced", "messages": user("hi"), "stream": true,
            "stream_options": {"include_usage": true}}),
        )
        .await;
    assert_eq!((s, lines.last().map(String::as_str)), (200, Some("[DONE]")));
    // Cache: a miss then a hit.
    for _ in 0..2 {
        let (s, _) = gw
            .chat(&json!({"model": "cached", "messages": user("c")}))
            .await;
        assert_eq!(s, 200);
    }
    // A quota denial on the third request.
    for expect in [200, 200, 429] {
        let (s, _) = gw
            .chat(&json!({"model": "limited", "messages": user("l")}))
            .await;
        assert_eq!(s, expect);
    }
    // An unknown model: counted, without the name as a label.
    let (s, _) = gw
        .chat(&json!({"model": "no-such-model-xyz", "messages": user("x")}))
        .await;
    assert_eq!(s, 404);
    // Reloads: one good, one refused.
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("metrics-{}.toml", std::process::id()));
    std::fs::write(&path, config_text(&mock, CONFIG)).unwrap();
    let g = gw.running.gateway.clone();
    *g.reload.path.lock() = Some(path.clone());
    switchboard::manage::reload::reload(&g).await.unwrap();
    std::fs::write(&path, "[models.broken\n").unwrap();
    assert!(switchboard::manage::reload::reload(&g).await.is_err());
    let _ = std::fs::remove_file(&path);

    let text = gw.metrics_text().await;
    assert!(!text.contains(PROVIDER_KEY));
    assert!(
        !text.contains("no-such-model-xyz"),
        "unknown names are not labels"
    );

    let python = python.await.unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/prom_check.py");
    let input = text.clone();
    let out = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = parsed["samples"].as_array().unwrap();

    let priced_good = [("route", "priced"), ("provider", "good"), ("model", "g")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut l = priced_good.to_vec();
        l.extend_from_slice(extra);
        l
    };
    // Requests by route, target, status.
    assert_eq!(
        value(s, "switchboard_requests_total", &with(&[("status", "200")])),
        3.0
    );
    assert_eq!(
        value(
            s,
            "switchboard_requests_total",
            &[
                ("route", "cached"),
                ("provider", "cache"),
                ("status", "200")
            ]
        ),
        1.0
    );
    assert_eq!(
        value(
            s,
            "switchboard_requests_total",
            &[("route", "limited"), ("status", "429")]
        ),
        1.0
    );
    assert_eq!(
        value(
            s,
            "switchboard_requests_total",
            &[("route", ""), ("status", "404")]
        ),
        1.0
    );
    // Durations (JSON and streamed), TTFT, overhead.
    assert_eq!(
        value(
            s,
            "gen_ai_server_request_duration_seconds_count",
            &priced_good
        ),
        3.0
    );
    assert_eq!(
        value(
            s,
            "gen_ai_server_time_to_first_token_seconds_count",
            &priced_good
        ),
        1.0
    );
    let overhead = value(
        s,
        "switchboard_gateway_overhead_seconds_count",
        &[("route", "priced")],
    );
    assert_eq!(overhead, 3.0);
    // Tokens (the mock charges 11 in, 7 out) and cost at good's prices.
    assert_eq!(
        value(
            s,
            "gen_ai_client_token_usage_sum",
            &with(&[("gen_ai_token_type", "input")])
        ),
        33.0
    );
    assert_eq!(
        value(
            s,
            "gen_ai_client_token_usage_sum",
            &with(&[("gen_ai_token_type", "output")])
        ),
        21.0
    );
    let cost = value(s, "switchboard_request_cost_usd_sum", &priced_good);
    assert!(
        (cost - 3.0 * (11.0 * 3.0 + 7.0 * 5.0) / 1e6).abs() < 1e-12,
        "{cost}"
    );
    // Retries and failovers: each priced request failed on bad first.
    assert_eq!(
        value(
            s,
            "switchboard_failovers_total",
            &[("route", "priced"), ("provider", "bad")]
        ),
        3.0
    );
    // Cache results and what a hit saved.
    for (result, n) in [("hit", 1.0), ("miss", 1.0)] {
        assert_eq!(
            value(
                s,
                "switchboard_cache_requests_total",
                &[("route", "cached"), ("result", result)]
            ),
            n
        );
    }
    assert_eq!(
        value(
            s,
            "switchboard_cache_saved_tokens_total",
            &[("route", "cached")]
        ),
        18.0
    );
    assert_eq!(value(s, "switchboard_cache_entries", &[]), 1.0);
    // Quota denials, circuit state, plugin calls and their durations, reloads.
    assert_eq!(
        value(
            s,
            "switchboard_policy_denials_total",
            &[("route", "limited"), ("policy", "two-per-minute")]
        ),
        1.0
    );
    assert!(
        value(
            s,
            "switchboard_target_circuit_state",
            &[("route", "priced"), ("provider", "good")]
        ) == 0.0
    );
    let adapter_calls = value(
        s,
        "switchboard_plugin_call_duration_seconds_count",
        &[("plugin", "builtin:openai@good"), ("kind", "adapter")],
    );
    assert!(adapter_calls >= 3.0, "{adapter_calls}");
    assert_eq!(
        value(
            s,
            "switchboard_plugin_failures_total",
            &[
                ("plugin", "builtin:openai@good"),
                ("kind", "adapter"),
                ("reason", "deadline")
            ]
        ),
        0.0
    );
    assert_eq!(
        value(s, "switchboard_reloads_total", &[("result", "ok")]),
        1.0
    );
    assert_eq!(
        value(s, "switchboard_reloads_total", &[("result", "error")]),
        1.0
    );
    gw.running.shutdown().await;
}

#[tokio::test]
async fn streams_count_tokens_the_client_did_not_ask_for() {
    let mock = Mock::start().await;
    let cfg = r#"
[providers.up]
adapter = "builtin:openai"
base_url = "{mock}/up/v1"

[providers.strict]
adapter = "builtin:openai"
base_url = "{mock}/strict/v1"
stream_usage = false

[models."m"]
targets = [{ provider = "up", model = "x" }]

[models."strict"]
targets = [{ provider = "strict", model = "x" }]
"#;
    let gw = start(&mock, cfg).await;
    let (s, lines) = gw
        .chat_stream(&json!({"model": "m", "messages": user("count me"), "stream": true}))
        .await;
    assert_eq!((s, lines.last().map(String::as_str)), (200, Some("[DONE]")));
    // The provider was asked for usage; the client, who did not ask, sees no usage chunk.
    let sent = &mock.seen("up")[0].body;
    assert_eq!(sent["stream_options"]["include_usage"], true, "{sent}");
    for l in lines.iter().filter(|l| *l != "[DONE]") {
        let v: Value = serde_json::from_str(l).unwrap();
        assert!(
            !v["choices"].as_array().unwrap().is_empty(),
            "usage chunk leaked: {l}"
        );
    }
    // A provider that refuses stream_options gets the body as the client sent it.
    let (s, _) = gw
        .chat_stream(&json!({"model": "strict", "messages": user("x"), "stream": true}))
        .await;
    assert_eq!(s, 200);
    assert!(mock.seen("strict")[0].body.get("stream_options").is_none());

    let text = gw.metrics_text().await;
    for line in [
        r#"gen_ai_client_token_usage_sum{route="m",provider="up",model="x",gen_ai_token_type="input"} 11"#,
        r#"gen_ai_client_token_usage_sum{route="m",provider="up",model="x",gen_ai_token_type="output"} 7"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }
    gw.running.shutdown().await;
}
