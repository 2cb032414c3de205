//! Each translating adapter's stream translator, in the real host, fed each provider's
//! stream as the gateway would get it had the provider closed the connection after
//! any one of its bytes (framed, then `finish`ed): a cut stream is an error, never a
//! `[DONE]` with text, tool calls or usage missing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use switchboard::config::{EngineConfig, OnError, PluginLimits, PluginSource, PluginSpec};
use switchboard::plugins::{PluginRuntime, calls, world::Adapter};
use switchboard::types::{Operation, RequestContext, SseEvent, StreamFormat};
use switchboard::upstream::framing::Framer;

fn limits() -> PluginLimits {
    PluginLimits {
        deadline: Duration::from_millis(500),
        memory_bytes: 32 << 20,
    }
}

/// The events the gateway's translator gets from the first `n` bytes, then the end.
fn events_of(format: StreamFormat, bytes: &[u8]) -> Option<Vec<SseEvent>> {
    let mut f = Framer::new(format);
    let mut out = Vec::new();
    f.push(bytes, &mut out).ok()?;
    f.finish(&mut out).ok()?;
    Some(out)
}

/// What the translator makes of `events` when it makes a whole stream of them (no
/// error, `[DONE]` last): every event it sent; `None` for an error.
async fn translated(pool: &Arc<calls::AdapterPool>, events: &[SseEvent]) -> Option<Vec<String>> {
    let ctx = RequestContext {
        request_id: "req_cut".into(),
        operation: Operation::ChatCompletions,
        route: "m".into(),
        provider: "p".into(),
        target_model: "x".into(),
        stream: true,
        include_usage: true,
        created: 1,
    };
    let mut tr = calls::StreamTranslation::new(pool, &ctx).await.unwrap();
    let mut sent = Vec::new();
    let mut failed = false;
    for e in events {
        match tr.on_event(e).await.unwrap() {
            Ok(t) => sent.extend(t.events.into_iter().map(|e| e.data)),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    if !failed {
        match tr.finish().await.unwrap() {
            Ok(t) => sent.extend(t.events.into_iter().map(|e| e.data)),
            Err(_) => failed = true,
        }
    }
    tr.close().await;
    (!failed && sent.last().map(String::as_str) == Some("[DONE]")).then_some(sent)
}

#[tokio::test]
async fn a_stream_cut_at_any_byte_is_an_error_or_loses_nothing() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cuts-cache");
    let runtime = PluginRuntime::new(&EngineConfig {
        cache_dir: dir,
        cache_max_bytes: 512 << 20,
        function_cache_bytes: 64 << 20,
        max_instances: 32,
        max_idle: 4,
        recycle_after: 100_000,
        default_limits: limits(),
        isolation: Default::default(),
    })
    .unwrap();
    let mut pools = BTreeMap::new();
    for (name, format, bytes) in super::framing::streams() {
        if name == "openai" {
            continue; // forwarded untouched: the host's own pump sees its end
        }
        if !pools.contains_key(name) {
            let spec = PluginSpec {
                name: format!("builtin:{name}"),
                source: PluginSource::Builtin(name.into()),
                settings: BTreeMap::new(),
                limits: limits(),
                on_error: OnError::FailClosed,
            };
            pools.insert(name, runtime.load::<Adapter>(&spec, "cuts").await.unwrap());
        }
        let pool = &pools[name];
        let all = events_of(format, &bytes).unwrap();
        let full = translated(pool, &all)
            .await
            .expect("the whole stream is whole");
        // Cuts that frame to the same events are one case.
        let mut tried = BTreeSet::new();
        for cut in 0..bytes.len() {
            let Some(events) = events_of(format, &bytes[..cut]) else {
                continue; // the framer itself refused the torn stream
            };
            let key: Vec<(Option<String>, String)> = events
                .iter()
                .map(|e| (e.event.clone(), e.data.clone()))
                .collect();
            if events == all || !tried.insert(key) {
                // The same events as the whole stream: only the trailing bytes of the
                // last frame's separator were missing.
                continue;
            }
            // An error, or — cut after the last event that carries anything (Anthropic's
            // `message_stop` only ends it) — exactly what the whole stream gives.
            if let Some(out) = translated(pool, &events).await {
                assert_eq!(
                    out,
                    full,
                    "{name}: cut after byte {cut} of {} ({} of {} events) passed for whole",
                    bytes.len(),
                    events.len(),
                    all.len()
                );
            }
        }
    }
}
