//! The admin listener: `/health` open, `/admin/*` behind the admin token.
//! Reports plugin call and failure counts and the routes in force (no secrets). Its
//! parts: sign-in and sessions (`auth`, `sso`), the control plane (`control`, `keys`,
//! `people`, `registry`), and the read side (`usage`, `requests`, `reports`,
//! `counters`, `compare`).

mod auth;
mod compare;
mod control;
mod counters;
mod keys;
mod people;
mod registry;
mod reports;
mod requests;
mod sso;
mod usage;

use std::future::Future;
use std::sync::Arc;

use http::StatusCode;
use hyper::body::Incoming;
use serde_json::json;

use super::Body;
use super::wire::json_response;
use crate::gateway::Gateway;
use crate::live::LiveState;
use crate::plugins::FailureKind;
use crate::plugins::pool::{InstancePool, World};
use crate::reply::ApiError;

fn plugin_json<W: World>(pool: &InstancePool<W>) -> serde_json::Value {
    let s = &pool.stats;
    let failures: serde_json::Map<String, serde_json::Value> = FailureKind::ALL
        .iter()
        .map(|k| (k.label().to_string(), json!(s.failures(*k))))
        .collect();
    json!({
        "name": pool.label(),
        "kind": W::KIND.label(),
        "contract": pool.version().as_str(),
        "calls": s.calls.load(std::sync::atomic::Ordering::Relaxed),
        "instantiations": s.instantiations.load(std::sync::atomic::Ordering::Relaxed),
        "failures": failures,
        "quarantine": pool.quarantine.view(),
        "last_error": s.last_error.lock().clone(),
    })
}

/// Serves one admin request; whatever the page, no provider key leaves in it.
pub async fn handle(
    gw: Arc<Gateway>,
    peer: std::net::IpAddr,
    req: http::Request<Incoming>,
) -> http::Response<Body> {
    let resp = respond(gw, peer, req).await;
    let (parts, body) = resp.into_parts();
    let bytes = match http_body_util::BodyExt::collect(body).await {
        Ok(c) => c.to_bytes(),
        Err(never) => match never {},
    };
    let bytes = crate::secrets::scrub_body(bytes);
    let mut resp = http::Response::from_parts(parts, super::full(bytes));
    resp.headers_mut().remove(http::header::CONTENT_LENGTH);
    resp
}

async fn respond(
    gw: Arc<Gateway>,
    peer: std::net::IpAddr,
    req: http::Request<Incoming>,
) -> http::Response<Body> {
    let path = req.uri().path().to_owned();
    let path = path.as_str();
    if path == "/health" {
        return json_response(StatusCode::OK, json!({ "status": "ok" }));
    }
    if path == "/ready" {
        return super::wire::ready(&gw);
    }
    if path == "/metrics" {
        let live = gw.live.load_full();
        gw.metrics.alerts(gw.alerts.figures());
        let mut resp = http::Response::new(super::full(gw.metrics.render(&live, &gw.counts())));
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; version=0.0.4"),
        );
        return resp;
    }
    let req = match self::auth::console_path(&gw, req, path, peer).await {
        Ok(resp) => return resp,
        Err(req) => req,
    };
    if !path.starts_with("/admin/") {
        return ApiError::not_found(format!("Unknown admin URL: {path}")).into_response();
    }
    let actor = match self::auth::gate(&gw, &req, peer).await {
        Ok(a) => a,
        Err(resp) => return *resp,
    };
    if let Err(resp) = self::auth::permitted(&actor, &req) {
        return *resp;
    }
    if path == "/admin/session" {
        return self::auth::session(&actor);
    }
    if let Some(name) = path
        .strip_prefix("/admin/routes/")
        .and_then(|r| r.strip_suffix("/test"))
        .filter(|_| req.method() == http::Method::POST)
    {
        return self::compare::test_route(&gw, name).await;
    }
    let live = gw.live.load_full();
    if let Some(kind) = with_body(path) {
        return body_endpoint(kind, &gw, &live, path, req, &actor).await;
    }
    let at = AdminReq {
        gw,
        live,
        path: path.to_string(),
        req,
        actor,
    };
    match ROUTES.iter().find(|(p, _)| *p == at.path) {
        Some((_, handler)) => handler(at).await,
        None => ApiError::not_found(format!("Unknown admin URL: {}", at.path)).into_response(),
    }
}

/// An endpoint that reads a request body: the body read (bounded), then its handler.
async fn body_endpoint(
    kind: WithBody,
    gw: &Arc<Gateway>,
    live: &LiveState,
    path: &str,
    req: http::Request<Incoming>,
    actor: &crate::access::people::Actor,
) -> http::Response<Body> {
    let method = req.method().clone();
    let query = req.uri().query().map(str::to_string);
    let limit = if matches!(kind, WithBody::Compare | WithBody::Registry) {
        256 * 1024
    } else {
        64 * 1024
    };
    let body = match super::wire::read_body(req, limit, std::time::Duration::from_secs(10)).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match kind {
        WithBody::Keys => self::keys::handle(gw, live, &method, path, body, actor).await,
        WithBody::People => self::people::handle(gw, &method, path, body, actor).await,
        WithBody::Overrides => {
            let actor = actor.label();
            self::control::handle(gw, live, &method, path, body, &actor).await
        }
        WithBody::Compare => self::compare::handle(gw, &method, path, body, &actor.label()).await,
        WithBody::Registry => self::registry::handle(gw, &method, path, body, &actor.label()).await,
        WithBody::Reports => {
            let q = query.as_deref();
            self::reports::handle(gw, &method, path, q, &actor.label()).await
        }
        WithBody::Requests => {
            let q = query.as_deref();
            self::requests::handle(gw, &method, path, q, body, actor).await
        }
    }
}

/// The endpoints that read a request body.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WithBody {
    Keys,
    Overrides,
    Compare,
    Registry,
    People,
    Requests,
    Reports,
}

fn with_body(path: &str) -> Option<WithBody> {
    match path {
        "/admin/overrides" | "/admin/overrides/revert" => Some(WithBody::Overrides),
        p if p == "/admin/keys" || p.starts_with("/admin/keys/") => Some(WithBody::Keys),
        p if p == "/admin/compare" || p.starts_with("/admin/compare/") => Some(WithBody::Compare),
        p if self::registry::serves(p) => Some(WithBody::Registry),
        p if self::people::serves(p) => Some(WithBody::People),
        p if p == "/admin/requests" || p.starts_with("/admin/requests/") => {
            Some(WithBody::Requests)
        }
        p if p == "/admin/reports" || p.starts_with("/admin/reports/") => Some(WithBody::Reports),
        _ => None,
    }
}

/// What an admin endpoint is given: the gateway, the state in force, the request.
pub(super) struct AdminReq {
    pub(super) gw: Arc<Gateway>,
    pub(super) live: Arc<crate::live::LiveState>,
    pub(super) path: String,
    pub(super) req: http::Request<Incoming>,
    /// Who asks, with which role (the audit log names them).
    pub(super) actor: crate::access::people::Actor,
}

type Reply = std::pin::Pin<Box<dyn Future<Output = http::Response<Body>> + Send>>;
type Handler = fn(AdminReq) -> Reply;

/// The admin API: one function per endpoint.
const ROUTES: &[(&str, Handler)] = &[
    ("/admin/plugins", |a| Box::pin(plugins(a))),
    ("/admin/reload", |a| Box::pin(reload(a))),
    ("/admin/cache", |a| Box::pin(cache_endpoint(a))),
    ("/admin/cache/clear", |a| Box::pin(cache_endpoint(a))),
    ("/admin/counters", |a| Box::pin(counters_endpoint(a))),
    ("/admin/counters/reset", |a| Box::pin(counters_endpoint(a))),
    ("/admin/usage", |a| Box::pin(self::usage::usage_endpoint(a))),
    ("/admin/stats", |a| Box::pin(self::usage::stats_endpoint(a))),
    ("/admin/trends", |a| {
        Box::pin(self::requests::trends_endpoint(a))
    }),
    ("/admin/errors", |a| {
        Box::pin(self::requests::errors_endpoint(a))
    }),
    ("/admin/alerts", |a| Box::pin(alerts_endpoint(a))),
    ("/admin/audit", |a| Box::pin(audit_endpoint(a))),
    ("/admin/config", |a| Box::pin(config(a))),
    ("/admin/health", |a| Box::pin(health(a))),
    ("/admin/routes", |a| Box::pin(routes(a))),
];

/// `GET /admin/plugins`: every loaded plugin use, its contract, calls and failures.
async fn plugins(a: AdminReq) -> http::Response<Body> {
    let live = &a.live;
    let mut list = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in live.providers.values() {
        if seen.insert(Arc::as_ptr(&p.adapter) as usize) {
            list.push(plugin_json(&p.adapter));
        }
    }
    for r in live.routes.values() {
        if seen.insert(Arc::as_ptr(&r.strategy) as usize) {
            list.push(plugin_json(&r.strategy));
        }
        for p in &r.policies {
            if seen.insert(Arc::as_ptr(&p.pool) as usize) {
                list.push(plugin_json(&p.pool));
            }
        }
        for p in r.redactors.iter() {
            if seen.insert(Arc::as_ptr(&p.pool) as usize) {
                list.push(plugin_json(&p.pool));
            }
        }
        for g in r.guardrails.iter() {
            if seen.insert(Arc::as_ptr(&g.pool) as usize) {
                list.push(plugin_json(&g.pool));
            }
        }
    }
    json_response(StatusCode::OK, json!({ "plugins": list }))
}

/// `POST /admin/reload`: reads the config file again; refused configs keep the old one.
async fn reload(a: AdminReq) -> http::Response<Body> {
    let AdminReq {
        gw,
        live,
        req,
        actor,
        ..
    } = a;
    if req.method() != http::Method::POST {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            "use POST /admin/reload",
        )
        .into_response();
    }
    drop(live);
    let result = crate::manage::reload::reload(&gw).await;
    let outcome = match &result {
        Ok(_) => json!("reloaded"),
        Err(e) => json!({ "refused": e }),
    };
    self::control::audit(
        &gw,
        &actor.label(),
        "config.reload",
        "config",
        None,
        Some(outcome),
    )
    .await;
    match result {
        Ok(took) => json_response(
            StatusCode::OK,
            json!({ "status": "reloaded", "took_ms": took.as_secs_f64() * 1e3 }),
        ),
        Err(e) => json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "status": "refused", "error": e }),
        ),
    }
}

async fn cache_endpoint(a: AdminReq) -> http::Response<Body> {
    let changes = a.req.method() == http::Method::POST;
    let resp = cache(&a.live, &a.path, a.req.method()).await;
    audited(
        &a.gw,
        &a.actor.label(),
        changes,
        "cache.clear",
        "cache",
        resp,
    )
    .await
}

async fn counters_endpoint(a: AdminReq) -> http::Response<Body> {
    let changes = a.req.method() == http::Method::POST;
    let resp = self::counters::counters(&a.gw, &a.path, a.req).await;
    audited(
        &a.gw,
        &a.actor.label(),
        changes,
        "counters.reset",
        "counters",
        resp,
    )
    .await
}

/// `resp`, after writing a successful change to the audit log with what it answered.
async fn audited(
    gw: &Gateway,
    actor: &str,
    changes: bool,
    action: &str,
    subject: &str,
    resp: http::Response<Body>,
) -> http::Response<Body> {
    use http_body_util::BodyExt;
    if !changes || !resp.status().is_success() {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let after = serde_json::from_slice(&bytes).ok();
    self::control::audit(gw, actor, action, subject, None, after).await;
    http::Response::from_parts(parts, super::full(bytes))
}

async fn audit_endpoint(a: AdminReq) -> http::Response<Body> {
    self::control::audit_log(&a.gw, a.req.uri().query()).await
}

/// `GET /admin/alerts?limit=N` (default 100): the rules, what is firing, the history.
async fn alerts_endpoint(a: AdminReq) -> http::Response<Body> {
    let limit = a
        .req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("limit=")))
        .map(|v| v.parse::<usize>());
    let limit = match limit {
        None => 100,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => {
            return ApiError::invalid("limit must be a whole number from 1 to 1000", None)
                .into_response();
        }
    };
    json_response(
        StatusCode::OK,
        a.gw.alerts.view(&a.gw.live.load_full(), limit).await,
    )
}

/// `GET /admin/config`: the config in force, secrets masked, and how reloads went.
async fn config(a: AdminReq) -> http::Response<Body> {
    let (gw, live) = (&a.gw, &a.live);
    let c = &live.config;
    let providers: Vec<_> = c
        .providers
        .values()
        .map(|p| {
            json!({
                "name": p.name,
                "adapter": p.adapter.name,
                "base_url": p.base_url,
                "api_key": p.api_key.as_ref().map(|_| "***"),
                "inactive": p.inactive,
            })
        })
        .collect();
    let r = &gw.reload;
    json_response(
        StatusCode::OK,
        json!({
            "path": r.path.lock().as_ref().map(|p| p.display().to_string()),
            "routes": c.routes.keys().collect::<Vec<_>>(),
            "providers": providers,
            "cache": {
                "max_bytes": c.cache.max_bytes,
                "max_entry_bytes": c.cache.max_entry_bytes,
                "redis": c.cache.redis.as_ref().map(masked_redis),
                "routes": c.routes.values().filter_map(|r| r.cache.map(|rc| json!({
                    "route": r.name,
                    "ttl_secs": rc.ttl.as_secs_f64(),
                    "per_key": rc.per_key,
                    "max_entry_bytes": rc.max_entry_bytes,
                }))).collect::<Vec<_>>(),
            },
            "counters": {
                "backend": gw.runtime.counters().backend(),
                "redis": c.counters.redis.as_ref().map(masked_redis),
            },
            "overrides": *gw.control.overrides(),
            "policies": c.named_policies.values().map(|p| json!({
                "name": p.name,
                "plugin": match &p.source {
                    crate::config::PluginSource::Builtin(b) => format!("builtin:{b}"),
                    _ => "component".to_string(),
                },
                "settings": p.settings,
            })).collect::<Vec<_>>(),
            "teams": c.teams.values().map(|t| json!({ "name": t.name, "models": t.models, "tags": t.tags, "policies": t.policies })).collect::<Vec<_>>(),
            "reloads": {
                "succeeded": r.succeeded.load(std::sync::atomic::Ordering::Relaxed),
                "failed": r.failed.load(std::sync::atomic::Ordering::Relaxed),
                "last_error": *r.last_error.lock(),
            },
        }),
    )
}

/// `GET /admin/health`: each target's circuit, live signals and weights.
async fn health(a: AdminReq) -> http::Response<Body> {
    let live = &a.live;
    let routes: Vec<_> = live
        .routes
        .values()
        .map(|r| {
            let targets: Vec<_> = r
                .targets
                .iter()
                .map(|t| {
                    let sg = &t.signals;
                    let (lat, ttft, err) = sg.snapshot();
                    let (rem_req, rem_tok) = sg.remaining();
                    let health = match sg.breaker.health() {
                        crate::types::Health::Healthy => "healthy",
                        crate::types::Health::HalfOpen => "half_open",
                        crate::types::Health::Open => "open",
                    };
                    let load = |a: &std::sync::atomic::AtomicU64| {
                        a.load(std::sync::atomic::Ordering::Relaxed)
                    };
                    json!({
                        "provider": t.target.provider,
                        "model": t.target.model,
                        "health": health,
                        "open_for_secs": sg.breaker.remaining().map(|d| d.as_secs_f64()),
                        "retry_after_secs": sg.cooling().map(|d| d.as_secs_f64()),
                        "in_flight": sg.in_flight.load(std::sync::atomic::Ordering::Relaxed),
                        "requests": load(&sg.requests),
                        "failures": load(&sg.failures),
                        "error_rate": err,
                        "latency_ewma_us": lat,
                        "ttft_ewma_us": ttft,
                        "weight": t.target.weight,
                        "effective_weight": sg.effective_weight(t.target.weight),
                        "ratelimit_remaining_requests": rem_req,
                        "ratelimit_remaining_tokens": rem_tok,
                    })
                })
                .collect();
            json!({ "model": r.route.name, "targets": targets })
        })
        .collect();
    json_response(StatusCode::OK, json!({ "routes": routes }))
}

/// `GET /admin/routes`: each route's strategy, targets, policies and redactors.
async fn routes(a: AdminReq) -> http::Response<Body> {
    let live = &a.live;
    let routes: Vec<_> = live.config.routes.values().map(|r| json!({
            "model": r.name,
            "strategy": r.strategy.name,
            "targets": r.targets.iter().map(|t| json!({ "provider": t.provider, "model": t.model, "weight": t.weight, "priority": t.priority, "enabled": t.enabled })).collect::<Vec<_>>(),
            "policies": r.policies.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
            "redactors": r.redactors.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
        })).collect();
    json_response(StatusCode::OK, json!({ "routes": routes }))
}

/// A Redis setting for `/admin/config`: never the URL (it may hold a password).
fn masked_redis(r: &crate::config::RedisConfig) -> serde_json::Value {
    json!({
        "url": "***",
        "prefix": r.prefix,
        "timeout_ms": r.timeout.as_millis() as u64,
    })
}

/// `GET /admin/cache`: size and counts; `POST /admin/cache/clear`: forget every stored
/// answer, in memory and in Redis.
async fn cache(live: &LiveState, path: &str, method: &http::Method) -> http::Response<Body> {
    use std::sync::atomic::Ordering::Relaxed;
    let Some(c) = &live.cache else {
        return json_response(StatusCode::OK, json!({ "enabled": false }));
    };
    let clear = path.ends_with("/clear");
    if clear != (method == http::Method::POST) {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            "use GET /admin/cache or POST /admin/cache/clear",
        )
        .into_response();
    }
    let mut redis_cleared = None;
    if clear {
        redis_cleared = c.clear().await.map(|r| match r {
            Ok(n) => json!({ "removed": n }),
            Err(e) => json!({ "error": e }),
        });
    }
    let (entries, bytes) = c.size();
    let redis = c
        .redis_counts()
        .map(|(hits, errors)| json!({ "hits": hits, "errors": errors }));
    json_response(
        StatusCode::OK,
        json!({
            "enabled": true,
            "entries": entries,
            "bytes": bytes,
            "stored": c.stats.stored.load(Relaxed),
            "too_large": c.stats.too_large.load(Relaxed),
            "redis": redis,
            "redis_cleared": redis_cleared,
        }),
    )
}
