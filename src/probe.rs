//! Active health checks: for each provider with `health_check`, on an interval, a GET
//! of a cheap path (`mode = "get"`) or a one-token chat call to each model its targets
//! use (`mode = "chat"`: what a request does, through the adapter), sent with the
//! provider's headers and credentials the way its adapter asks for them. A failed
//! probe counts as a failure on every target it stands for — the provider's, or that
//! model's — (so enough of them open the circuit before a client request fails); a good
//! probe closes a circuit whose cooldown is over.

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

/// One probe of `provider`: (the model it stands for, `None` for all, and whether the
/// provider answered 2xx in time) for each call made.
async fn probe(gw: &Gateway, provider: &str) -> Vec<(Option<String>, bool)> {
    let live = gw.live.load_full();
    let Some(p) = live.providers.get(provider) else {
        return Vec::new();
    };
    let Some(check) = p.provider.health_check.as_ref() else {
        return Vec::new();
    };
    if p.provider.inactive.is_some() {
        return Vec::new();
    }
    if !check.chat {
        return vec![(None, get(gw, provider, check).await)];
    }
    let mut models: Vec<String> = live
        .routes
        .values()
        .flat_map(|r| &r.targets)
        .filter(|t| t.target.provider == provider)
        .map(|t| t.target.model.clone())
        .collect();
    models.sort();
    models.dedup();
    let mut out = Vec::with_capacity(models.len());
    for m in models {
        let ok = chat(gw, provider, &m, check.timeout).await;
        out.push((Some(m), ok));
    }
    out
}

/// Sends `up` (with `body`) to `provider` within `timeout`: whether it answered 2xx.
async fn send(
    gw: &Gateway,
    provider: &str,
    up: &crate::types::UpstreamRequest,
    body: bytes::Bytes,
    timeout: Duration,
) -> bool {
    let live = gw.live.load_full();
    let Some(p) = live.providers.get(provider) else {
        return false;
    };
    let req = crate::upstream::request::build(crate::upstream::request::Outbound {
        base: &p.base_url,
        up,
        provider_headers: &p.provider.headers,
        key: p.provider.api_key.as_ref().map(|k| k.expose()),
        aws: p.provider.aws.as_ref(),
        body,
        now: crate::pipeline::now_secs(),
    });
    let Ok(req) = req else {
        return false;
    };
    let sent = tokio::time::timeout(timeout, crate::upstream::client().send(req)).await;
    matches!(sent, Ok(Ok(r)) if r.status().is_success())
}

/// `mode = "get"`: a GET of the check's path.
async fn get(gw: &Gateway, provider: &str, check: &crate::config::HealthCheck) -> bool {
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
    send(gw, provider, &up, bytes::Bytes::new(), check.timeout).await
}

/// `mode = "chat"`: a one-token chat call to `model`, made by the provider's adapter.
async fn chat(gw: &Gateway, provider: &str, model: &str, timeout: Duration) -> bool {
    let live = gw.live.load_full();
    let Some(p) = live.providers.get(provider) else {
        return false;
    };
    let ctx = RequestContext {
        request_id: "health-check".into(),
        operation: Operation::ChatCompletions,
        route: String::new(),
        provider: provider.to_string(),
        target_model: model.to_string(),
        stream: false,
        include_usage: false,
        created: 0,
    };
    let body = serde_json::json!({ "model": model, "max_tokens": 1,
        "messages": [{ "role": "user", "content": "ping" }] })
    .to_string();
    let Ok(Ok(up)) = calls::to_upstream(&p.adapter, &ctx, body.as_bytes()).await else {
        return false;
    };
    let sent = match &up.body {
        crate::types::BodyEdit::Replace(b) => bytes::Bytes::from(b.clone()),
        _ => bytes::Bytes::from(body),
    };
    send(gw, provider, &up, sent, timeout).await
}

fn apply(gw: &Gateway, provider: &str, model: Option<&str>, ok: bool) {
    let live = gw.live.load_full();
    for route in live.routes.values() {
        for t in route
            .targets
            .iter()
            .filter(|t| t.target.provider == provider)
            .filter(|t| model.is_none_or(|m| t.target.model == m))
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
                    for (model, ok) in probe(&gw, &name).await {
                        if !ok {
                            tracing::warn!(provider = %name, model = ?model, "health check failed");
                        }
                        apply(&gw, &name, model.as_deref(), ok);
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
