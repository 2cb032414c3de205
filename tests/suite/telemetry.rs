//! OpenTelemetry traces against a local OTLP/HTTP receiver (JSON encoding): a span per
//! request with the GenAI attributes, a child span per attempt (a failover makes two)
//! and per plugin call (strategy, policy), streamed answers included; and `[log]
//! format = "json"` making the gateway's own lines JSON.

use std::time::Duration;

use crate::common::*;
use crate::mock::hook::Hook;
use crate::mock::{Fault, Mock};
use serde_json::{Value, json};

fn config(hook: &Hook) -> String {
    format!(
        r#"
[telemetry]
otlp_endpoint = "{}"
protocol = "json"
flush_interval = "100ms"
service_name = "gw-under-test"

[providers.down]
adapter = "builtin:openai"
base_url = "{{mock}}/down/v1"
[providers.up]
adapter = "builtin:openai"
base_url = "{{mock}}/up/v1"

[policies.limit]
plugin = "builtin:request-limit"
settings = {{ limit = 1000, window_secs = 60 }}

[models.m]
strategy = "builtin:priority"
policies = ["limit"]
targets = [{{ provider = "down", model = "d-1" }}, {{ provider = "up", model = "u-1" }}]
"#,
        hook.url.trim_end_matches('/')
    )
}

/// Every span received so far, flattened from the OTLP export requests.
fn spans(bodies: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for b in bodies {
        for rs in b["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    let mut s = s.clone();
                    s["service"] = rs["resource"]["attributes"].clone();
                    out.push(s);
                }
            }
        }
    }
    out
}

fn attr<'a>(span: &'a Value, key: &str) -> &'a Value {
    let a = span["attributes"]
        .as_array()
        .and_then(|a| a.iter().find(|kv| kv["key"] == key));
    a.map_or(&Value::Null, |kv| &kv["value"])
}

async fn wait_spans(hook: &Hook, requests: usize) -> Vec<Value> {
    for _ in 0..100 {
        let all = spans(&hook.bodies());
        if all.iter().filter(|s| s["kind"] == 2).count() >= requests {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the receiver got {:#?}", spans(&hook.bodies()));
}

#[tokio::test]
async fn each_request_is_a_trace_with_its_attempts_and_plugin_calls() {
    let (mock, hook) = (Mock::start().await, Hook::start().await);
    let gw = start(&mock, &config(&hook)).await;
    mock.set_fault(
        "down",
        Some(Fault::Status(500, r#"{"error":{"message":"down"}}"#.into())),
    );
    let (s, v) = gw
        .chat(&json!({ "model": "m", "messages": user("hi") }))
        .await;
    assert_eq!(s, 200, "{v}");
    let all = wait_spans(&hook, 1).await;
    let server: Vec<&Value> = all.iter().filter(|s| s["kind"] == 2).collect();
    let req = server[0];
    assert_eq!(req["name"], "chat m");
    assert_eq!(attr(req, "gen_ai.operation.name")["stringValue"], "chat");
    assert_eq!(attr(req, "gen_ai.request.model")["stringValue"], "m");
    assert_eq!(attr(req, "gen_ai.provider.name")["stringValue"], "up");
    assert_eq!(attr(req, "gen_ai.response.model")["stringValue"], "u-1");
    let usage = &v["usage"];
    assert_eq!(
        attr(req, "gen_ai.usage.input_tokens")["intValue"]
            .to_string()
            .trim_matches('"'),
        usage["prompt_tokens"].to_string()
    );
    assert_eq!(
        attr(req, "gen_ai.usage.output_tokens")["intValue"]
            .to_string()
            .trim_matches('"'),
        usage["completion_tokens"].to_string()
    );
    assert_eq!(
        attr(req, "gen_ai.response.finish_reasons")["arrayValue"]["values"][0]["stringValue"],
        "stop"
    );
    assert_eq!(
        attr(req, "http.response.status_code")["intValue"]
            .to_string()
            .trim_matches('"'),
        "200"
    );
    let service = req["service"].as_array().unwrap();
    assert!(
        service
            .iter()
            .any(|kv| kv["key"] == "service.name" && kv["value"]["stringValue"] == "gw-under-test")
    );

    // Its children: two attempts (the first failed over) and the plugin calls.
    let children: Vec<&Value> = all
        .iter()
        .filter(|s| s["parentSpanId"] == req["spanId"])
        .collect();
    assert!(children.iter().all(|c| c["traceId"] == req["traceId"]));
    let attempts: Vec<&str> = children
        .iter()
        .filter(|c| c["kind"] == 3)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        attempts,
        ["attempt down/d-1", "attempt up/u-1"],
        "{children:#?}"
    );
    let failed = children
        .iter()
        .find(|c| c["name"] == "attempt down/d-1")
        .unwrap();
    assert_eq!(failed["status"]["code"], 2, "an error status: {failed}");
    let plugins: Vec<&str> = children
        .iter()
        .filter(|c| c["kind"] == 1)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        plugins.iter().any(|n| n.starts_with("plugin policy")),
        "{plugins:?}"
    );
    assert!(
        plugins.iter().any(|n| n.starts_with("plugin strategy")),
        "{plugins:?}"
    );
    assert!(
        plugins.iter().any(|n| n.starts_with("plugin adapter")),
        "{plugins:?}"
    );
    // Children lie within their parent.
    let t = |s: &Value, k: &str| s[k].as_str().unwrap().parse::<u128>().unwrap();
    for c in &children {
        assert!(
            t(c, "startTimeUnixNano") >= t(req, "startTimeUnixNano")
                && t(c, "endTimeUnixNano") <= t(req, "endTimeUnixNano"),
            "{c}"
        );
    }

    // A streamed answer, in the client's trace: its finish reason is read from the chunks.
    mock.set_fault("down", None);
    let r = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .json(&json!({ "model": "m", "stream": true, "messages": user("hi") }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = r.text().await.unwrap();
    let all = wait_spans(&hook, 2).await;
    let streamed = all.iter().filter(|s| s["kind"] == 2).nth(1).unwrap();
    assert_eq!(
        attr(streamed, "gen_ai.response.finish_reasons")["arrayValue"]["values"][0]["stringValue"],
        "stop"
    );
    assert_eq!(
        attr(streamed, "gen_ai.provider.name")["stringValue"],
        "down"
    );
    assert_eq!(streamed["traceId"], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(streamed["parentSpanId"], "b7ad6b7169203331");
    gw.running.shutdown().await;
}

#[tokio::test]
async fn bad_telemetry_settings_are_refused_by_name() {
    let mock = Mock::start().await;
    for (body, says) in [
        (
            "[telemetry]\notlp_endpoint = \"collector:4318\"\n",
            "telemetry.otlp_endpoint",
        ),
        (
            "[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318\"\nsample_ratio = 2.0\n",
            "telemetry.sample_ratio",
        ),
        (
            "[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318\"\nprotocol = \"grpc\"\n",
            "protocol",
        ),
        ("[log]\nformat = \"xml\"\n", "format"),
    ] {
        let err = parse(&mock, body).unwrap_err().to_string();
        assert!(err.contains(says), "{body}: {err}");
    }
}

#[test]
fn log_format_json_in_the_config_makes_json_log_lines() {
    use std::io::BufRead;
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("log-json-{}.toml", std::process::id()));
    let config = "[log]\nformat = \"json\"\n[server]\nlisten = \"127.0.0.1:0\"\n";
    std::fs::write(&path, config).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--config"])
        .arg(&path)
        .env_remove("SWITCHBOARD_LOG_FORMAT")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    // The first line the gateway logs as it starts, waited for at most 20 s.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(stderr.lines().next());
    });
    let first = rx.recv_timeout(Duration::from_secs(20));
    let _ = child.kill();
    let _ = child.wait();
    let line = match first {
        Ok(Some(Ok(line))) => line,
        other => panic!("no log line: {other:?}"),
    };
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert!(
        v["level"].is_string() && v["fields"]["message"].is_string(),
        "{v}"
    );
    let _ = std::fs::remove_file(&path);
}
