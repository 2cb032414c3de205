//! Strategies and failover, end to end: the real strategy components choose, the
//! mock fails on demand, and the counts show who served what.

use std::time::Duration;

use crate::common::*;
use crate::mock::{Fault, Mock};
use serde_json::{Value, json};

fn three_providers(strategy: &str, weights: [u32; 3]) -> String {
    let mut s = String::new();
    for p in ["a", "b", "c"] {
        s.push_str(&format!(
            "[providers.{p}]\nadapter = \"builtin:openai\"\nbase_url = \"{{mock}}/{p}/v1\"\napi_key_env = \"PROVIDER_KEY\"\ntimeout = \"400ms\"\n\n"
        ));
    }
    s.push_str(&format!(
        "[models.\"m\"]\nstrategy = \"{strategy}\"\ntargets = [\n  {{ provider = \"a\", model = \"ma\", weight = {} }},\n  {{ provider = \"b\", model = \"mb\", weight = {} }},\n  {{ provider = \"c\", model = \"mc\", weight = {} }},\n]\n",
        weights[0], weights[1], weights[2]
    ));
    s
}

fn req() -> Value {
    json!({ "model": "m", "messages": user("hi") })
}

#[tokio::test]
async fn round_robin_spreads_evenly() {
    let mock = Mock::start().await;
    let gw = start(&mock, &three_providers("builtin:round-robin", [1, 1, 1])).await;
    for _ in 0..30 {
        assert_eq!(gw.chat(&req()).await.0, 200);
    }
    assert_eq!(
        [mock.count("a"), mock.count("b"), mock.count("c")],
        [10, 10, 10]
    );
}

#[tokio::test]
async fn weighted_splits_by_weight_and_interleaves() {
    let mock = Mock::start().await;
    let gw = start(&mock, &three_providers("builtin:weighted", [5, 3, 2])).await;
    for _ in 0..100 {
        assert_eq!(gw.chat(&req()).await.0, 200);
    }
    // Smooth weighted round-robin is exact over whole cycles of the total weight.
    assert_eq!(
        [mock.count("a"), mock.count("b"), mock.count("c")],
        [50, 30, 20]
    );
}

#[tokio::test]
async fn priority_sticks_to_the_first_and_fails_over_in_order() {
    let mock = Mock::start().await;
    let gw = start(&mock, &three_providers("builtin:priority", [1, 1, 1])).await;
    for _ in 0..5 {
        assert_eq!(gw.chat(&req()).await.0, 200);
    }
    assert_eq!(
        [mock.count("a"), mock.count("b"), mock.count("c")],
        [5, 0, 0]
    );
    mock.set_fault(
        "a",
        Some(Fault::Status(
            503,
            r#"{"error":{"message":"overloaded"}}"#.into(),
        )),
    );
    let r = gw.post("/v1/chat/completions", &req()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-switchboard-provider"], "b");
    assert_eq!(
        [mock.count("a"), mock.count("b"), mock.count("c")],
        [6, 1, 0]
    );
}

#[tokio::test]
async fn each_kind_of_failure_fails_over() {
    let mock = Mock::start().await;
    let gw = start(&mock, &three_providers("builtin:priority", [1, 1, 1])).await;
    let cases = [
        Fault::Status(429, r#"{"error":{"message":"slow down"}}"#.into()),
        Fault::Status(500, "oops".into()),
        Fault::Status(401, r#"{"error":{"message":"bad provider key"}}"#.into()),
        Fault::Hang,
        Fault::Delay(Duration::from_secs(5)),
    ];
    for (i, fault) in cases.into_iter().enumerate() {
        mock.push_fault("a", fault.clone());
        let (status, v) = gw.chat(&req()).await;
        assert_eq!(status, 200, "case {i} {fault:?}: {v}");
        assert_eq!(mock.count("b"), i + 1, "case {i}: b must have served");
    }
}

#[tokio::test]
async fn connection_failures_fail_over() {
    let mock = Mock::start().await;
    // A port that refuses connections, and one that accepts and drops them.
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dropper = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dropper_addr = dropper.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            if let Ok((s, _)) = dropper.accept().await {
                drop(s);
            }
        }
    });
    let cfg = format!(
        r#"
[providers.refused]
adapter = "builtin:openai"
base_url = "http://{refused}/v1"
[providers.reset]
adapter = "builtin:openai"
base_url = "http://{dropper_addr}/v1"
[providers.good]
adapter = "builtin:openai"
base_url = "{{mock}}/good/v1"
[models."m"]
strategy = "builtin:priority"
targets = [{{ provider = "refused", model = "x" }}, {{ provider = "reset", model = "x" }}, {{ provider = "good", model = "x" }}]
"#
    );
    let gw = start(&mock, &cfg).await;
    let (status, v) = gw.chat(&req()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(mock.count("good"), 1);
}

#[tokio::test]
async fn malformed_answers_and_client_errors() {
    let mock = Mock::start().await;
    let gw = start(&mock, &three_providers("builtin:priority", [1, 1, 1])).await;
    // A 400 is about the request: no failover, the client sees the provider's message.
    mock.push_fault(
        "a",
        Fault::Status(
            400,
            r#"{"error":{"message":"bad temperature","param":"temperature"}}"#.into(),
        ),
    );
    let (status, v) = gw.chat(&req()).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["message"], "bad temperature");
    assert_eq!(v["error"]["param"], "temperature");
    assert_eq!(mock.count("b"), 0);

    // A 200 that is not JSON is the provider lying: fail over.
    mock.push_fault("a", Fault::Malformed);
    let r = gw.post("/v1/chat/completions", &req()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-switchboard-provider"], "b");
    assert_eq!(mock.count("b"), 1);
}

#[tokio::test]
async fn when_all_targets_fail_the_client_gets_one_clear_error() {
    let mock = Mock::start().await;
    let gw = start(&mock, &three_providers("builtin:round-robin", [1, 1, 1])).await;
    for p in ["a", "b", "c"] {
        mock.set_fault(
            p,
            Some(Fault::Status(
                503,
                format!(r#"{{"error":{{"message":"{p} is down"}}}}"#),
            )),
        );
    }
    let (status, v) = gw.chat(&req()).await;
    assert_eq!(status, 503, "every provider unavailable: 503, as they said");
    assert_eq!(v["error"]["code"], "upstream_overloaded");
    let msg = error_message(&v);
    assert!(msg.contains("all 3 targets"), "{msg}");
    for p in ["a is down", "b is down", "c is down"] {
        assert!(msg.contains(p), "{msg}");
    }
    assert!(
        !msg.contains(PROVIDER_KEY) && !msg.contains("127.0.0.1"),
        "internal detail leaked: {msg}"
    );

    for p in ["a", "b", "c"] {
        mock.set_fault(
            p,
            Some(Fault::Status(
                429,
                r#"{"error":{"message":"quota"}}"#.into(),
            )),
        );
    }
    let (status, v) = gw.chat(&req()).await;
    assert_eq!(status, 429);
    assert_eq!(v["error"]["type"], "rate_limit_error");

    for p in ["a", "b", "c"] {
        mock.set_fault(p, Some(Fault::Hang));
    }
    let (status, v) = gw.chat(&req()).await;
    assert_eq!(status, 504, "{v}");
}

#[tokio::test]
async fn streams_fail_over_before_the_first_byte_only() {
    let mock = Mock::start().await;
    let gw = start(&mock, &three_providers("builtin:priority", [1, 1, 1])).await;
    let body = json!({ "model": "m", "messages": user("x y"), "stream": true });

    // Broken before any event: the client never notices, b answers.
    mock.push_fault("a", Fault::CutAfter(0));
    let (status, lines) = gw.chat_stream(&body).await;
    assert_eq!(status, 200);
    assert_eq!(lines.last().unwrap(), "[DONE]");
    assert_eq!(mock.count("b"), 1);

    // Broken after two events: already committed, the client gets an error event.
    mock.push_fault("a", Fault::CutAfter(2));
    let (status, lines) = gw.chat_stream(&body).await;
    assert_eq!(status, 200);
    assert_eq!(
        mock.count("b"),
        1,
        "no failover once bytes reached the client"
    );
    let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    error_message(&last);
    assert_eq!(lines.len(), 3);
}

#[tokio::test]
async fn client_disconnect_cancels_the_upstream_stream() {
    let mock = Mock::start().await;
    let gw = start(&mock, &three_providers("builtin:priority", [1, 1, 1])).await;
    mock.set_fault("a", Some(Fault::SlowEvents(Duration::from_millis(100))));
    let body = json!({ "model": "m", "messages": user("one two three four five six seven eight"), "stream": true });
    let mut r = gw.post("/v1/chat/completions", &body).await;
    assert_eq!(r.status(), 200);
    let first = r.chunk().await.unwrap().unwrap();
    assert!(!first.is_empty());
    drop(r);
    let mut waited = 0;
    while mock.cancelled() == 0 && waited < 100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    assert_eq!(mock.cancelled(), 1, "upstream stream was not cancelled");
}
