//! What the plugin-call benches share: the engine they load components into, a
//! built-in plugin's spec, the request context and chat body they translate, and how
//! a run of samples is reported.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use switchboard::config::{EngineConfig, OnError, PluginLimits, PluginSource, PluginSpec};
use switchboard::types::{Operation, RequestContext};

pub fn limits() -> PluginLimits {
    PluginLimits {
        deadline: Duration::from_millis(100),
        memory_bytes: 64 << 20,
    }
}

/// `builtin:<name>` with `settings` (name, JSON text).
pub fn spec(name: &str, settings: &[(&str, &str)]) -> PluginSpec {
    PluginSpec {
        name: format!("builtin:{name}"),
        source: PluginSource::Builtin(name.to_string()),
        settings: settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        limits: limits(),
        on_error: OnError::FailClosed,
    }
}

/// The engine: a compile cache in the temp dir, no function cache, a warm pool.
pub fn engine() -> EngineConfig {
    EngineConfig {
        cache_dir: std::env::temp_dir().join("switchboard-bench-cache"),
        cache_max_bytes: 512 << 20,
        function_cache_bytes: 0,
        max_instances: 100,
        max_idle: 8,
        recycle_after: 1_000_000,
        default_limits: limits(),
        isolation: Default::default(),
    }
}

pub fn ctx(stream: bool) -> RequestContext {
    RequestContext {
        request_id: "req_1".into(),
        operation: Operation::ChatCompletions,
        route: "m".into(),
        provider: "p".into(),
        target_model: "model-x".into(),
        stream,
        include_usage: true,
        created: 1,
    }
}

/// A 1.2 KB chat body: a system prompt and a long user message.
pub fn chat_body() -> Vec<u8> {
    let filler = "The quick brown fox jumps over the lazy dog. ".repeat(24);
    serde_json::to_vec(&serde_json::json!({
        "model": "m",
        "messages": [{ "role": "system", "content": "You are terse." }, { "role": "user", "content": filler }],
        "temperature": 0.2, "max_tokens": 100
    }))
    .unwrap()
}

pub fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let us = |d: Duration| d.as_nanos() as f64 / 1000.0;
    let p = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{name:<52} mean {:>7.2} µs   p50 {:>7.2} µs   p99 {:>7.2} µs",
        us(mean),
        us(p(0.5)),
        us(p(0.99))
    );
}

/// `f` `n` times after `warm` calls of warm-up, reported under `name`.
pub async fn time<F, Fut>(name: &str, n: usize, warm: usize, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..warm {
        f().await;
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f().await;
        samples.push(t.elapsed());
    }
    report(name, samples);
}
