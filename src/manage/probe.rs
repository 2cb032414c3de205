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
use crate::live::LiveState;
use crate::plugins::calls;
use crate::types::{AuthScheme, Operation, RequestContext};

/// The adapter's auth scheme and extra headers, learnt from a `to-upstream` call on a
/// minimal request (adapters decide these without looking at the body).
async fn credentials(
    live: &LiveState,
    provider: &str,
) -> Option<(AuthScheme, Vec<(String, String)>)> {
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
        let ok = get(&live, provider, &check.path, check.timeout).await;
        return vec![(None, ok.is_ok())];
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
        let ok = chat(&live, provider, &m, check.timeout).await;
        out.push((Some(m), ok.is_ok()));
    }
    out
}

/// Sends `up` (with `body`) to `provider` within `timeout`: its 2xx status, or why
/// not.
async fn send(
    live: &LiveState,
    provider: &str,
    up: &crate::types::UpstreamRequest,
    body: bytes::Bytes,
    timeout: Duration,
) -> Result<u16, String> {
    let Some(p) = live.providers.get(provider) else {
        return Err(format!("no provider '{provider}'"));
    };
    let credential = p.provider.credential.as_ref();
    let token = crate::upstream::credentials::token_for(credential)
        .await
        .map_err(|e| format!("no credential: {e}"))?;
    let req = crate::upstream::request::build(crate::upstream::request::Outbound {
        base: &p.base_url,
        up,
        provider_headers: &p.provider.headers,
        key: p.provider.api_key.as_ref().map(|k| k.expose()),
        token: token.as_ref().map(|(t, p)| (&**t, *p)),
        aws: p.provider.aws.as_ref(),
        tc3: crate::upstream::credentials::tc3_of(credential),
        body,
        now: crate::pipeline::now_secs(),
    });
    let req = req.map_err(|e| format!("cannot build the request: {e}"))?;
    match tokio::time::timeout(timeout, crate::upstream::client().send(req)).await {
        Ok(Ok(r)) if r.status().is_success() => Ok(r.status().as_u16()),
        Ok(Ok(r)) => Err(format!("the provider answered {}", r.status())),
        Ok(Err(e)) => Err(crate::secrets::scrub_owned(format!(
            "the provider could not be reached: {e}"
        ))),
        Err(_) => Err(format!("the provider did not answer within {timeout:?}")),
    }
}

/// `mode = "get"`: a GET of `path`.
async fn get(
    live: &LiveState,
    provider: &str,
    path: &str,
    timeout: Duration,
) -> Result<u16, String> {
    let (auth, headers) = credentials(live, provider)
        .await
        .unwrap_or((AuthScheme::None, Vec::new()));
    let up = crate::types::UpstreamRequest {
        method: crate::types::HttpMethod::Get,
        path: path.to_string(),
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
    send(live, provider, &up, bytes::Bytes::new(), timeout).await
}

/// One real call with a provider's key (registration's check): a one-token chat call
/// to `model`, else a GET of `/models`. What answered, or why it failed.
pub async fn verify(
    live: &LiveState,
    provider: &str,
    model: Option<&str>,
) -> Result<String, String> {
    let timeout = Duration::from_secs(15);
    if let Some(p) = live.providers.get(provider)
        && let Some(why) = &p.provider.inactive
    {
        return Err(why.to_string());
    }
    match model {
        Some(m) => chat(live, provider, m, timeout)
            .await
            .map(|s| format!("a one-token chat call to '{m}' answered {s}")),
        None => get(live, provider, "/models", timeout)
            .await
            .map(|s| format!("GET /models answered {s}")),
    }
}

/// `mode = "chat"`: a one-token chat call to `model`, made by the provider's adapter.
async fn chat(
    live: &LiveState,
    provider: &str,
    model: &str,
    timeout: Duration,
) -> Result<u16, String> {
    let Some(p) = live.providers.get(provider) else {
        return Err(format!("no provider '{provider}'"));
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
    let up = match calls::to_upstream(&p.adapter, &ctx, body.as_bytes()).await {
        Ok(Ok(up)) => up,
        Ok(Err(e)) => return Err(format!("the adapter refused the request: {e:?}")),
        Err(e) => return Err(format!("the adapter failed: {e}")),
    };
    let sent = match &up.body {
        crate::types::BodyEdit::Replace(b) => bytes::Bytes::from(b.clone()),
        _ => bytes::Bytes::from(body),
    };
    send(live, provider, &up, sent, timeout).await
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
