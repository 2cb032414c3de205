//! Load balancing and resilience against the mock with per-target delays and faults:
//! each strategy component moves load the way it promises (with counts), the circuit
//! breaker opens and stays open, `retry-after` cools a target, retries back off within
//! a deadline. (The breaker's timing is tested on a paused clock in `src/health.rs`.)

use std::time::Duration;

use crate::common::*;
use crate::mock::{Fault, Mock};
use serde_json::{Value, json};

fn providers(names: &[&str]) -> String {
    names
        .iter()
        .map(|p| format!("[providers.{p}]\nadapter = \"builtin:openai\"\nbase_url = \"{{mock}}/{p}/v1\"\ntimeout = \"5s\"\n"))
        .collect()
}

fn route(strategy: &str, targets: &[(&str, &str)], extra: &str) -> String {
    let t: Vec<String> = targets
        .iter()
        .map(|(p, more)| format!("{{ provider = \"{p}\", model = \"x\"{more} }}"))
        .collect();
    format!(
        "[models.\"m\"]\nstrategy = \"{strategy}\"\ntargets = [{}]\n{extra}\n",
        t.join(", ")
    )
}

fn req() -> Value {
    json!({ "model": "m", "messages": user("hi") })
}

#[tokio::test]
async fn least_connections_moves_load_off_a_slow_target() {
    let mock = Mock::start().await;
    let gw = start(
        &mock,
        &(providers(&["slow", "fast"])
            + &route(
                "builtin:least-connections",
                &[("slow", ""), ("fast", "")],
                "",
            )),
    )
    .await;
    mock.set_fault("slow", Some(Fault::Delay(Duration::from_millis(400))));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (client, url) = (gw.client.clone(), gw.url.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(15 * i)).await;
            client
                .post(format!("{url}/v1/chat/completions"))
                .json(&req())
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert!(
        mock.count("slow") <= 2,
        "slow target got {} of 20",
        mock.count("slow")
    );
}

#[tokio::test]
async fn latency_strategy_prefers_the_faster_target_once_measured() {
    let mock = Mock::start().await;
    let gw = start(
        &mock,
        &(providers(&["slow", "fast"])
            + &route("builtin:latency", &[("slow", ""), ("fast", "")], "")),
    )
    .await;
    mock.set_fault("slow", Some(Fault::Delay(Duration::from_millis(40))));
    for _ in 0..40 {
        assert_eq!(gw.chat(&req()).await.0, 200);
    }
    assert!(
        mock.count("slow") <= 2,
        "slow target got {} of 40",
        mock.count("slow")
    );
    assert!(mock.count("fast") >= 38);
}

#[tokio::test]
async fn ttft_strategy_prefers_the_first_token_sooner() {
    let mock = Mock::start().await;
    let gw = start(
        &mock,
        &(providers(&["late", "early"])
            + &route("builtin:ttft", &[("late", ""), ("early", "")], "")),
    )
    .await;
    mock.set_fault("late", Some(Fault::Delay(Duration::from_millis(40))));
    let body = json!({ "model": "m", "messages": user("hi"), "stream": true });
    for _ in 0..20 {
        let (status, lines) = gw.chat_stream(&body).await;
        assert_eq!(status, 200);
        assert_eq!(lines.last().unwrap(), "[DONE]");
    }
    assert!(
        mock.count("late") <= 2,
        "late target got {} of 20",
        mock.count("late")
    );
}

#[tokio::test]
async fn cost_picks_the_cheapest_healthy_target() {
    let mock = Mock::start().await;
    let targets = [
        ("dear", ", input_price = 10.0, output_price = 30.0"),
        ("cheap", ", input_price = 0.5, output_price = 1.5"),
        ("mid", ", input_price = 3.0, output_price = 6.0"),
    ];
    let gw = start(
        &mock,
        &(providers(&["dear", "cheap", "mid"]) + &route("builtin:cost", &targets, "")),
    )
    .await;
    for _ in 0..10 {
        assert_eq!(gw.chat(&req()).await.0, 200);
    }
    assert_eq!(
        [mock.count("dear"), mock.count("cheap"), mock.count("mid")],
        [0, 10, 0]
    );
    mock.set_fault("cheap", Some(Fault::Status(503, "{}".into())));
    let r = gw.post("/v1/chat/completions", &req()).await;
    assert_eq!(
        r.headers()["x-switchboard-provider"],
        "mid",
        "the next cheapest takes over"
    );
}

#[tokio::test]
async fn random_spreads_within_tolerance() {
    let mock = Mock::start().await;
    let gw = start(
        &mock,
        &(providers(&["a", "b", "c"])
            + &route("builtin:random", &[("a", ""), ("b", ""), ("c", "")], "")),
    )
    .await;
    for _ in 0..300 {
        assert_eq!(gw.chat(&req()).await.0, 200);
    }
    for p in ["a", "b", "c"] {
        // Expected 100 each; binomial sd ≈ 8.2, so ±40 is about 5 sd.
        assert!(
            (60..=140).contains(&mock.count(p)),
            "{p}: {}",
            mock.count(p)
        );
    }
}

#[tokio::test]
async fn usage_aware_follows_the_providers_remaining_quota() {
    let mock = Mock::start().await;
    let gw = start(
        &mock,
        &(providers(&["low", "high"])
            + &route("builtin:usage-aware", &[("low", ""), ("high", "")], "")),
    )
    .await;
    mock.set_fault(
        "low",
        Some(Fault::Header(
            "x-ratelimit-remaining-tokens".into(),
            "100".into(),
        )),
    );
    mock.set_fault(
        "high",
        Some(Fault::Header(
            "x-ratelimit-remaining-tokens".into(),
            "900000".into(),
        )),
    );
    for _ in 0..20 {
        assert_eq!(gw.chat(&req()).await.0, 200);
    }
    // Until both have reported, the rotation may pick either once.
    assert!(mock.count("low") <= 1, "low got {}", mock.count("low"));
    let health = gw.admin_health().await;
    let high = &health["routes"][0]["targets"][1];
    assert_eq!(high["ratelimit_remaining_tokens"], 900000);
}

/// A gateway whose priority route puts `bad` (answering with `fault`) before `good`, with
/// a breaker that opens after two failures; six requests sent. Returns it once `bad`'s
/// circuit is checked open.
async fn breaker_opened_by(mock: &Mock, fault: Fault) -> Gw {
    let cfg = providers(&["bad", "good"])
        + &route(
            "builtin:priority",
            &[("bad", ""), ("good", "")],
            "breaker = { failures = 2, cooldown = \"1h\" }",
        );
    let gw = start(mock, &cfg).await;
    mock.set_fault("bad", Some(fault.clone()));
    for _ in 0..6 {
        assert_eq!(gw.chat(&req()).await.0, 200, "{fault:?}");
    }
    assert_eq!(
        mock.count("bad"),
        2,
        "{fault:?}: an open circuit must not be tried"
    );
    gw
}

#[tokio::test]
async fn a_target_answering_garbage_with_200_counts_as_failing() {
    let mock = Mock::start().await;
    let gw = breaker_opened_by(&mock, Fault::Malformed).await;
    let health = gw.admin_health().await;
    assert_eq!(health["routes"][0]["targets"][0]["health"], "open");
    gw.running.shutdown().await;
}

#[tokio::test]
async fn the_breaker_opens_and_keeps_traffic_off_a_failing_target() {
    let mock = Mock::start().await;
    let gw = breaker_opened_by(&mock, Fault::Status(503, "{}".into())).await;
    assert_eq!(mock.count("good"), 6);
    let health = gw.admin_health().await;
    let bad = &health["routes"][0]["targets"][0];
    assert_eq!(bad["health"], "open", "{health}");
    assert_eq!(bad["failures"], 2);

    // Every circuit open: the route does not black-hole itself (panic threshold), it
    // sends to the target whose cooldown ends first; the provider's own error comes back.
    mock.set_fault("good", Some(Fault::Status(503, "{}".into())));
    for _ in 0..2 {
        gw.chat(&req()).await;
    }
    let before = mock.count("bad") + mock.count("good");
    let (status, v) = gw.chat(&req()).await;
    assert_eq!(
        status, 503,
        "every provider unavailable: 503, as they said: {v}"
    );
    assert!(mock.count("bad") + mock.count("good") > before, "{v}");
    // The provider is fine again: the very next request is answered.
    mock.set_fault("good", None);
    mock.set_fault("bad", None);
    let (status, v) = gw.chat(&req()).await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test]
async fn a_fail_fast_route_answers_503_when_every_circuit_is_open() {
    let mock = Mock::start().await;
    let cfg = providers(&["only"])
        + &route(
            "builtin:round-robin",
            &[("only", "")],
            "breaker = { failures = 2, cooldown = \"1h\", fail_fast = true }",
        );
    let gw = start(&mock, &cfg).await;
    mock.set_fault("only", Some(Fault::Status(500, "{}".into())));
    for _ in 0..2 {
        assert_eq!(gw.chat(&req()).await.0, 502);
    }
    mock.set_fault("only", None);
    let (status, v) = gw.chat(&req()).await;
    assert_eq!(status, 503, "{v}");
    assert!(error_message(&v).contains("circuit open"), "{v}");
    assert_eq!(mock.count("only"), 2);
}

#[tokio::test]
async fn a_single_target_route_never_black_holes_itself() {
    // Before: five upstream errors (or one 429 with retry-after) made every request for
    // the next 30 s a local 503 `circuit open`, the client's own 400s included.
    let mock = Mock::start().await;
    let gw = start(
        &mock,
        &(providers(&["only"]) + &route("builtin:round-robin", &[("only", "")], "")),
    )
    .await;
    mock.set_fault("only", Some(Fault::Status(500, "{}".into())));
    for _ in 0..6 {
        assert_eq!(gw.chat(&req()).await.0, 502);
    }
    let health = gw.admin_health().await;
    assert_eq!(
        health["routes"][0]["targets"][0]["health"], "open",
        "{health}"
    );
    mock.set_fault(
        "only",
        Some(Fault::Status(
            400,
            r#"{"error":{"message":"bad field"}}"#.into(),
        )),
    );
    let (status, v) = gw.chat(&req()).await;
    assert_eq!(
        status, 400,
        "the client's own error, not `circuit open`: {v}"
    );
    mock.set_fault("only", None);
    assert_eq!(gw.chat(&req()).await.0, 200);
    mock.set_fault("only", Some(Fault::RateLimited(30)));
    assert_eq!(gw.chat(&req()).await.0, 429);
    mock.set_fault("only", None);
    let (status, v) = gw.chat(&req()).await;
    assert_eq!(
        status, 200,
        "retry-after orders targets, it does not refuse: {v}"
    );
}

#[tokio::test]
async fn retry_after_cools_a_target_for_as_long_as_asked() {
    let mock = Mock::start().await;
    let gw = start(
        &mock,
        &(providers(&["a", "b"]) + &route("builtin:round-robin", &[("a", ""), ("b", "")], "")),
    )
    .await;
    mock.set_fault("a", Some(Fault::RateLimited(120)));
    for _ in 0..10 {
        assert_eq!(gw.chat(&req()).await.0, 200);
    }
    assert_eq!(
        mock.count("a"),
        1,
        "a asked for 120 s of quiet: it goes last"
    );
    let health = gw.admin_health().await;
    let a = &health["routes"][0]["targets"][0];
    let secs = a["retry_after_secs"].as_f64().unwrap();
    assert!(secs > 100.0 && secs <= 120.0, "{secs}");
    assert_eq!(a["health"], "healthy", "a wait is not an open circuit");
    // With b failing, a is still tried (last): the route does not refuse on its own.
    mock.set_fault("b", Some(Fault::Status(500, "{}".into())));
    mock.set_fault("a", None);
    assert_eq!(gw.chat(&req()).await.0, 200);
    assert_eq!(mock.count("a"), 2);
}

#[tokio::test]
async fn retries_back_off_and_respect_the_deadline() {
    let mock = Mock::start().await;
    let cfg = providers(&["only"])
        + &route(
            "builtin:round-robin",
            &[("only", "")],
            "retry = { attempts = 3, backoff = \"20ms\" }\nbreaker = { failures = 100 }",
        );
    let gw = start(&mock, &cfg).await;
    mock.push_fault("only", Fault::Status(503, "{}".into()));
    mock.push_fault("only", Fault::Status(502, "{}".into()));
    let (status, v) = gw.chat(&req()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(mock.count("only"), 3, "two retries of the one target");

    let cfg = providers(&["only"])
        + &route(
            "builtin:round-robin",
            &[("only", "")],
            "retry = { attempts = 10, backoff = \"100ms\", deadline = \"250ms\" }\nbreaker = { failures = 100 }",
        );
    let mock = Mock::start().await;
    let gw = start(&mock, &cfg).await;
    mock.set_fault("only", Some(Fault::Status(503, "{}".into())));
    let (status, v) = gw.chat(&req()).await;
    assert_eq!(status, 504, "{v}");
    assert!(error_message(&v).contains("deadline"), "{v}");
    assert!(
        mock.count("only") < 10,
        "the deadline must stop the retries"
    );
}

#[tokio::test]
async fn health_checks_follow_reloads() {
    let mock = Mock::start().await;
    let plain = providers(&["a"]) + &route("builtin:priority", &[("a", "")], "");
    let checked = "[providers.a]\nadapter = \"builtin:openai\"\nbase_url = \"{mock}/a/v1\"\nhealth_check = { interval = \"50ms\", timeout = \"1s\" }\n".to_string()
        + &route("builtin:priority", &[("a", "")], "");
    let gw = start(&mock, &plain).await;
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("probe-reload-{}.toml", std::process::id()));
    let g = gw.running.gateway.clone();
    *g.reload.path.lock() = Some(path.clone());
    let probes = || {
        mock.seen("a")
            .iter()
            .filter(|s| s.path == "/v1/models")
            .count()
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(probes(), 0, "no health_check, no probes");

    // A reload that adds a health check starts probing.
    std::fs::write(&path, config_text(&mock, &checked)).unwrap();
    switchboard::manage::reload::reload(&g).await.unwrap();
    for _ in 0..100 {
        if probes() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(probes() >= 2, "the reloaded provider is not probed");

    // A reload that removes it stops probing.
    std::fs::write(&path, config_text(&mock, &plain)).unwrap();
    switchboard::manage::reload::reload(&g).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = probes();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        probes(),
        after,
        "probes went on after the reload removed them"
    );
    let _ = std::fs::remove_file(&path);
    gw.running.shutdown().await;
}

#[tokio::test]
async fn active_health_checks_open_and_close_the_circuit() {
    let mock = Mock::start().await;
    let cfg = "[providers.a]\nadapter = \"builtin:anthropic\"\nbase_url = \"{mock}/a/v1\"\napi_key_env = \"PROVIDER_KEY\"\nhealth_check = { interval = \"50ms\", timeout = \"1s\" }\n".to_string()
        + &providers(&["b"])
        + &route("builtin:priority", &[("a", ""), ("b", "")], "breaker = { failures = 2, cooldown = \"300ms\" }");
    mock.set_fault("a", Some(Fault::Status(503, "{}".into())));
    let gw = start(&mock, &cfg).await;
    let health = async |gw: &Gw| {
        gw.admin_health().await["routes"][0]["targets"][0]["health"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // Probes alone open the circuit: no client request has failed.
    let mut state = String::new();
    for _ in 0..100 {
        state = health(&gw).await;
        if state == "open" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(state, "open");
    let probe = &mock.seen("a")[0];
    assert_eq!(probe.path, "/v1/models");
    assert_eq!(
        probe.headers["x-api-key"], PROVIDER_KEY,
        "the probe authenticates the way the adapter does"
    );
    let r = gw.post("/v1/chat/completions", &req()).await;
    assert_eq!(r.headers()["x-switchboard-provider"], "b");

    // The provider recovers: after the cooldown a good probe closes the circuit.
    mock.set_fault("a", None);
    for _ in 0..100 {
        state = health(&gw).await;
        if state == "healthy" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(state, "healthy");
}

#[tokio::test]
async fn a_failing_targets_weight_falls_so_it_is_tried_less() {
    let mock = Mock::start().await;
    let cfg = providers(&["a", "b"])
        + &route(
            "builtin:weighted",
            &[("a", ", weight = 10"), ("b", ", weight = 10")],
            "breaker = { failures = 1000 }",
        );
    let gw = start(&mock, &cfg).await;
    mock.set_fault("a", Some(Fault::Status(500, "{}".into())));
    for _ in 0..100 {
        assert_eq!(gw.chat(&req()).await.0, 200, "b serves whatever a fails");
    }
    // With equal static weights a would be tried first 50 times; its effective
    // weight falls towards 1 (of 11) as its error rate climbs.
    assert!(
        mock.count("a") <= 25,
        "a was tried first {} times",
        mock.count("a")
    );
    let health = gw.admin_health().await;
    assert_eq!(health["routes"][0]["targets"][0]["effective_weight"], 1);
}

#[tokio::test]
async fn metrics_expose_the_same_figures() {
    let mock = Mock::start().await;
    let cfg = providers(&["bad", "good"])
        + &route(
            "builtin:priority",
            &[("bad", ""), ("good", "")],
            "breaker = { failures = 2, cooldown = \"1h\" }",
        );
    let gw = start(&mock, &cfg).await;
    mock.set_fault("bad", Some(Fault::Status(503, "{}".into())));
    mock.set_fault(
        "good",
        Some(Fault::Header(
            "x-ratelimit-remaining-requests".into(),
            "77".into(),
        )),
    );
    for _ in 0..4 {
        assert_eq!(gw.chat(&req()).await.0, 200);
    }
    let text = gw.metrics_text().await;
    for line in [
        r#"switchboard_target_circuit_state{route="m",provider="bad",model="x"} 2"#,
        r#"switchboard_target_circuit_state{route="m",provider="good",model="x"} 0"#,
        r#"switchboard_target_failures_total{route="m",provider="bad",model="x"} 2"#,
        r#"switchboard_target_attempts_total{route="m",provider="good",model="x"} 4"#,
        r#"switchboard_target_ratelimit_remaining_requests{route="m",provider="good",model="x"} 77"#,
        r#"switchboard_plugin_calls_total{plugin="builtin:priority@m",kind="strategy"} 4"#,
        r#"switchboard_plugin_failures_total{plugin="builtin:priority@m",kind="strategy",reason="trap"} 0"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }
    assert!(!text.contains(PROVIDER_KEY));
}

/// A provider whose remaining tokens shrink below what a request needs is passed over
/// before it answers 429: by `steer_by_provider_limits` under any strategy.
#[tokio::test]
async fn a_target_whose_provider_cannot_hold_the_request_is_passed_over_first() {
    let mock = Mock::start().await;
    let gw = start(
        &mock,
        &(providers(&["cheap", "spare"])
            + &route(
                "builtin:priority",
                &[("cheap", ""), ("spare", "")],
                "steer_by_provider_limits = true",
            )),
    )
    .await;
    let body = json!({ "model": "m", "messages": user("hi"), "max_tokens": 1000 });
    let ask = || gw.chat(&body);
    // The budget shrinks: 5000 left, then 3000, then 500 — too little for 1000 tokens.
    for left in ["5000", "3000", "500"] {
        mock.push_fault(
            "cheap",
            Fault::Header("x-ratelimit-remaining-tokens".into(), left.into()),
        );
        assert_eq!(ask().await.0, 200);
    }
    assert_eq!((mock.count("cheap"), mock.count("spare")), (3, 0));
    assert_eq!(ask().await.0, 200);
    assert_eq!(mock.count("spare"), 1, "passed over before a 429");
    assert_eq!(mock.count("cheap"), 3);
}
