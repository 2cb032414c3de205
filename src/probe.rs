//! Active health checks: for each provider with `health_check`, a GET of a cheap path
//! on an interval, sent with the provider's headers and credentials the way its
//! adapter asks for them. A failed probe counts as a failure on every target of that
//! provider (so enough of them open the circuit before a client request fails); a
//! good probe closes a circuit whose cooldown is over.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use tokio::sync::watch;

use crate::gateway::Gateway;
use crate::plugins::calls;
use crate::types::{AuthScheme, Operation, RequestContext};

/// The adapter's auth scheme and extra headers, learnt from a `to-upstream` call on a
/// minimal request (adapters decide these without looking at the body).
async fn credentials(gw: &Gateway, provider: &str) -> Option<(AuthScheme, Vec<(String, String)>)> {
    let live = gw.live.load_full();
    let p = live.providers.get(provider)?;
    let ctx = RequestContext {
        request_id: "health-check".into(),
        operation: Operation::ChatCompletions,
        route: String::new(),
        provider: provider.to_string(),
        target_model: "health-check".into(),
        stream: false,
        include_usage: false,
        created: 0,
    };
    let body = br#"{"model":"health-check","messages":[{"role":"user","content":"ping"}]}"#;
    let up = calls::to_upstream(&p.adapter, &ctx, body)
        .await
        .ok()?
        .ok()?;
    Some((
        up.auth,
        up.headers.into_iter().map(|h| (h.name, h.value)).collect(),
    ))
}

/// One probe: true if the provider answered 2xx in time.
async fn probe(gw: &Gateway, provider: &str) -> Option<bool> {
    let live = gw.live.load_full();
    let p = live.providers.get(provider)?;
    let check = p.provider.health_check.as_ref()?;
    if p.provider.inactive.is_some() {
        return None;
    }
    let (auth, headers) = credentials(gw, provider)
        .await
        .unwrap_or((AuthScheme::None, Vec::new()));
    let up = crate::types::UpstreamRequest {
        method: crate::types::HttpMethod::Get,
        path: check.path.clone(),
        query: Vec::new(),
        headers: headers
            .into_iter()
            .map(|(name, value)| crate::types::Header { name, value })
            .collect(),
        auth,
        body: crate::types::BodyEdit::Keep,
        translate_response: false,
        stream_format: crate::types::StreamFormat::Sse,
    };
    let req = crate::upstream::request::build(crate::upstream::request::Outbound {
        base: &p.base_url,
        up: &up,
        provider_headers: &p.provider.headers,
        key: p.provider.api_key.as_ref().map(|k| k.expose()),
        aws: p.provider.aws.as_ref(),
        body: bytes::Bytes::new(),
        now: crate::pipeline::now_secs(),
    });
    let Ok(req) = req else {
        return Some(false);
    };
    let sent = tokio::time::timeout(check.timeout, crate::upstream::client().send(req)).await;
    Some(matches!(sent, Ok(Ok(r)) if r.status().is_success()))
}

fn apply(gw: &Gateway, provider: &str, ok: bool) {
    let live = gw.live.load_full();
    for route in live.routes.values() {
        for t in route
            .targets
            .iter()
            .filter(|t| t.target.provider == provider)
        {
            let b = &t.signals.breaker;
            if !ok {
                b.failure();
            } else if b.remaining().is_none() {
                b.success();
            }
        }
    }
}

/// The supervisor wakes when the next probe is due, and at least this often to notice
/// reloads (so it sleeps a second at a time when no provider has a health check).
const IDLE: Duration = Duration::from_secs(1);

/// Starts the probe supervisor: it reads the live state on every tick, so providers
/// added, changed or removed by a reload are probed on their current `health_check`.
/// Each probe runs as its own task, at most one at a time per provider. Ends with `stop`.
pub fn spawn(gw: Arc<Gateway>, mut stop: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut due: HashMap<String, Instant> = HashMap::new();
        let running: Arc<Mutex<HashSet<String>>> = Arc::default();
        let mut wake = Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let live = gw.live.load_full();
            due.retain(|name, _| {
                live.providers
                    .get(name)
                    .is_some_and(|p| p.provider.health_check.is_some())
            });
            let now = Instant::now();
            for (name, p) in &live.providers {
                let Some(check) = &p.provider.health_check else {
                    continue;
                };
                let next = due.entry(name.clone()).or_insert(now);
                if now < *next || !running.lock().insert(name.clone()) {
                    continue;
                }
                *next = now + check.interval.max(Duration::from_millis(10));
                let (gw, name, running) = (gw.clone(), name.clone(), running.clone());
                tokio::spawn(async move {
                    if let Some(ok) = probe(&gw, &name).await {
                        if !ok {
                            tracing::warn!(provider = %name, "health check failed");
                        }
                        apply(&gw, &name, ok);
                    }
                    running.lock().remove(&name);
                });
            }
            // A probe still running when its next turn comes is retried shortly.
            let soonest = due.values().min().copied().unwrap_or(now + IDLE);
            wake = soonest.clamp(now + Duration::from_millis(5), now + IDLE);
        }
    });
}
