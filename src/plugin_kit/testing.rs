//! `switchboard plugin test`: a component run in the real engine on cases from a JSON
//! file — a strategy's order for given targets, a policy's decision on a request, a
//! redactor's texts, an adapter's translations (`adapter_cases`) — each output printed
//! with its call time and memory and compared with the case's `expect`, when it has one.
//!
//! The file: `{"settings": {…}, "cases": [ … ]}` (or just the array). A case of a
//! strategy: `{"targets": [{"provider": "a", "model": "x", "weight": 1, "latency_ms": 80,
//! "error_rate": 0.1, "open": false, "tags": ["code"]}], "route": "m", "text": "…",
//! "shape": {"images": true}, "expect": [1, 0]}` (`tags` and `shape`: what
//! `host::target-tags` and `host::current-request-shape` answer); of a policy:
//! `{"request": {"key": "k", "team": "t", "user": "u", "route": "m",
//! "estimated_input_tokens": 100, "max_output_tokens": 50, "n": 1}, "expect": "allow"}`;
//! of a redactor: `{"texts": ["…"], "direction": "request", "expect": ["…"]}`; of a
//! guardrail: see `guard_cases`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::config::{OnError, PluginLimits, PluginSource, PluginSpec};
use crate::plugins::PluginRuntime;
use crate::plugins::world::{Adapter, Guardrail, Kind, Policy, Redactor, Strategy};
use crate::types::{
    Decision, Direction, Health, PolicyRequest, RequestShape, RouteRequest, TargetStats,
};

/// One case's outcome: what came out, how long the call took, whether it was expected.
pub struct Outcome {
    pub output: Value,
    pub micros: f64,
    /// The instance's linear memory after the call (its peak so far), bytes.
    pub memory: u64,
    pub ok: bool,
}

fn targets(case: &Value) -> Vec<TargetStats> {
    let n = |t: &Value, k: &str| t[k].as_f64().unwrap_or(0.0);
    case["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, t)| TargetStats {
            provider: t["provider"].as_str().unwrap_or("p").to_string(),
            model: t["model"].as_str().unwrap_or("m").to_string(),
            weight: t["weight"].as_u64().unwrap_or(1) as u32,
            priority: t["priority"].as_u64().unwrap_or(i as u64) as u32,
            health: if t["open"] == true {
                Health::Open
            } else {
                Health::Healthy
            },
            in_flight: t["in_flight"].as_u64().unwrap_or(0) as u32,
            latency_ewma_us: (n(t, "latency_ms") * 1000.0) as u64,
            ttft_ewma_us: (n(t, "ttft_ms") * 1000.0) as u64,
            error_rate: n(t, "error_rate") as f32,
            input_price_per_mtok: n(t, "input_price"),
            output_price_per_mtok: n(t, "output_price"),
            ratelimit_remaining_requests: t["remaining_requests"].as_u64(),
            ratelimit_remaining_tokens: t["remaining_tokens"].as_u64(),
            retry_after_secs: None,
        })
        .collect()
}

/// What `host::target-tags` answers during a case: its targets' `tags`.
fn route_facts(case: &Value) -> std::collections::HashMap<String, crate::plugins::RouteFacts> {
    let tags = case["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let s = |k: &str, d: &str| t[k].as_str().unwrap_or(d).to_string();
            let tags = t["tags"].as_array().into_iter().flatten();
            let tags = tags
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect();
            (s("provider", "p"), s("model", "m"), tags)
        })
        .collect();
    let route = case["route"].as_str().unwrap_or("m").to_string();
    let facts = crate::plugins::RouteFacts {
        prices: (0.0, 0.0),
        tags,
    };
    [(route, facts)].into_iter().collect()
}

/// A strategy case's request (the `i`th of the file).
fn route_request(case: &Value, i: usize) -> RouteRequest {
    RouteRequest {
        route: case["route"].as_str().unwrap_or("m").to_string(),
        sequence: i as u64,
        random: case["random"].as_u64().unwrap_or(i as u64 * 7919),
        estimated_input_tokens: case["estimated_input_tokens"].as_u64().unwrap_or(100),
        max_output_tokens: case["max_output_tokens"].as_u64(),
        stream: false,
        text: case["text"].as_str().map(str::to_string),
        shape: shape(case),
    }
}

/// A case's `"shape": {"images": true, "tools": true, "messages": 3}`.
fn shape(case: &Value) -> RequestShape {
    let s = &case["shape"];
    RequestShape {
        images: s["images"] == true,
        audio: s["audio"] == true,
        tools: s["tools"] == true,
        json_output: s["json_output"] == true,
        messages: s["messages"].as_u64().unwrap_or(1) as u32,
    }
}

fn policy_request(case: &Value) -> PolicyRequest {
    let r = &case["request"];
    let s = |k: &str| r[k].as_str().map(str::to_string);
    PolicyRequest {
        request_id: "test".into(),
        key_name: s("key").unwrap_or_else(|| "test-key".into()),
        team: s("team"),
        user: s("user"),
        route: s("route").unwrap_or_else(|| "m".into()),
        tags: r["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
        n: r["n"].as_u64().unwrap_or(1) as u32,
        estimated_input_tokens: r["estimated_input_tokens"].as_u64().unwrap_or(100),
        max_output_tokens: r["max_output_tokens"].as_u64(),
        stream: r["stream"] == true,
    }
}

/// Whether `output` is what the case expects: equal, or (an adapter's) a superset.
fn expected(case: &Value, output: &Value, kind: Kind) -> bool {
    if kind == Kind::Adapter {
        return case["expect"].is_null() || super::adapter_cases::subset(&case["expect"], output);
    }
    if kind == Kind::Guardrail {
        return super::guard_cases::expected(&case["expect"], output);
    }
    match &case["expect"] {
        Value::Null => true,
        e => e == output || (output["decision"].is_string() && *e == output["decision"]),
    }
}

/// A redactor's case: its texts in the case's direction.
async fn redact_case(
    pool: &std::sync::Arc<crate::plugins::calls::RedactorPool>,
    case: &Value,
) -> Result<Value, crate::plugins::PluginError> {
    let texts: Vec<String> = case["texts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    let dir = if case["direction"] == "response" {
        Direction::Response
    } else {
        Direction::Request
    };
    crate::plugins::calls::redact(pool, dir, &texts)
        .await
        .map(|o| json!(o))
}

/// Runs `cases` through the component at `file` as world `kind`.
pub async fn run(
    runtime: &PluginRuntime,
    file: &std::path::Path,
    kind: Kind,
    settings: BTreeMap<String, String>,
    cases: &[Value],
) -> Result<Vec<Outcome>, String> {
    let spec = PluginSpec {
        name: file.display().to_string(),
        source: PluginSource::File(file.to_path_buf()),
        settings,
        limits: PluginLimits {
            deadline: Duration::from_millis(100),
            memory_bytes: 64 << 20,
        },
        on_error: OnError::FailClosed,
    };
    let mut out = Vec::with_capacity(cases.len());
    macro_rules! each {
        ($pool:expr, |$case:ident, $i:ident| $call:expr) => {{
            let pool = $pool.map_err(|e| e.to_string())?;
            for ($i, $case) in cases.iter().enumerate() {
                let started = Instant::now();
                let output = $call(&pool).await;
                let micros = started.elapsed().as_secs_f64() * 1e6;
                let output = output.unwrap_or_else(|e: crate::plugins::PluginError| json!({ "error": e.to_string() }));
                let ok = expected($case, &output, kind) && output.get("error").is_none();
                let memory = pool.stats.peak_memory.load(std::sync::atomic::Ordering::Relaxed);
                out.push(Outcome { output, micros, memory, ok });
            }
        }};
    }
    match kind {
        Kind::Strategy => each!(runtime.load::<Strategy>(&spec, "test").await, |case, i| {
            |pool| async move {
                runtime
                    .route_table()
                    .store(std::sync::Arc::new(route_facts(case)));
                let req = route_request(case, i);
                crate::plugins::calls::select(pool, &req, &targets(case))
                    .await
                    .map(|o| json!(o))
            }
        }),
        Kind::Policy => each!(runtime.load::<Policy>(&spec, "test").await, |case, _i| {
            |pool| async move {
                let counting = crate::plugins::calls::Counting {
                    at: crate::plugins::counters::now_secs(),
                    caller: "test".into(),
                };
                crate::plugins::calls::check(pool, &policy_request(case), &counting).await.map(|d| match d {
                Decision::Allow(h) => json!({ "decision": "allow", "headers": h.iter().map(|h| [&h.name, &h.value]).collect::<Vec<_>>() }),
                Decision::Deny(d) => json!({ "decision": "deny", "status": d.status, "message": d.message, "code": d.code }),
            })
            }
        }),
        Kind::Redactor => each!(runtime.load::<Redactor>(&spec, "test").await, |case, _i| {
            |pool| redact_case(pool, case)
        }),
        Kind::Adapter => each!(runtime.load::<Adapter>(&spec, "test").await, |case, _i| {
            |pool| async move { super::adapter_cases::run(pool, case).await }
        }),
        Kind::Guardrail => each!(
            runtime.load::<Guardrail>(&spec, "test").await,
            |case, _i| { |pool| async move { super::guard_cases::run(pool, case).await } }
        ),
    }
    Ok(out)
}
