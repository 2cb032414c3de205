//! The request lifecycle for `/v1/chat/completions` and `/v1/embeddings`:
//! parse → route → policy check → redact → strategy → attempts with failover →
//! policy record. The drawing is in `docs/architecture.md`.

mod attempt;
pub mod body;
mod cached;
mod failover;
mod policies;
pub mod redact;
mod stream;

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::StatusCode;

pub use attempt::Usage;
use body::{Endpoint, RequestFacts};

use crate::cache::Directive;
use crate::live::{LiveRoute, Principal};
use crate::metrics::Trace;
use crate::plugins::calls;
use crate::reply::ApiError;
use crate::reply::Body;
use crate::types::{Operation, PolicyRequest, RouteRequest, TargetStats};

pub use crate::gateway::Gateway;

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn request_id() -> String {
    format!("req_{:016x}", rand::random::<u64>())
}

/// How one attempt at one target ended.
pub enum Outcome {
    /// An answer for the client (success, or an error that is the client's own).
    Respond(http::Response<Body>),
    /// This target failed in a way another target may not: try the next one.
    /// `status` is what the provider's failure amounts to (`None`: it was not
    /// reached); `plugin` says the adapter failed, not the provider.
    Failover {
        reason: String,
        status: Option<u16>,
        plugin: bool,
    },
}

fn target_stats(route: &LiveRoute) -> Vec<TargetStats> {
    route
        .targets
        .iter()
        .map(|t| {
            let (lat, ttft, err) = t.signals.snapshot();
            let (remaining_requests, remaining_tokens) = t.signals.remaining();
            TargetStats {
                provider: t.target.provider.clone(),
                model: t.target.model.clone(),
                weight: t.signals.effective_weight(t.target.weight),
                priority: t.target.priority,
                health: t.signals.breaker.health(),
                in_flight: t
                    .signals
                    .in_flight
                    .load(std::sync::atomic::Ordering::Relaxed),
                latency_ewma_us: lat,
                ttft_ewma_us: ttft,
                error_rate: err,
                input_price_per_mtok: t.target.input_price,
                output_price_per_mtok: t.target.output_price,
                ratelimit_remaining_requests: remaining_requests,
                ratelimit_remaining_tokens: remaining_tokens,
                retry_after_secs: t
                    .signals
                    .breaker
                    .remaining()
                    .max(t.signals.cooling())
                    .map(|d| d.as_secs().max(1)),
            }
        })
        .collect()
}

pub(crate) fn plugin_failed(kind: &str, e: &crate::plugins::PluginError) -> ApiError {
    tracing::warn!(error = %e, "{kind} plugin failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "server_error",
        format!("the route's {kind} plugin failed: {e}"),
    )
    .with_code("plugin_failed")
}

/// Runs one client request through the lifecycle.
pub async fn handle(
    gw: &Gateway,
    principal: &Principal,
    endpoint: Endpoint,
    directive: Directive,
    body: Bytes,
) -> http::Response<Body> {
    let trace = Trace::default();
    let resp = match run(gw, principal, endpoint, directive, body, &trace).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    };
    gw.metrics.finish(&trace, resp.status().as_u16());
    if let Some(w) = gw.usage.sink()
        && let Some(r) = trace.record(resp.status().as_u16())
    {
        w.record(r);
    }
    resp
}

async fn run(
    gw: &Gateway,
    principal: &Principal,
    endpoint: Endpoint,
    directive: Directive,
    body: Bytes,
    trace: &Trace,
) -> Result<http::Response<Body>, ApiError> {
    let live = gw.live.load_full();
    let facts: RequestFacts = body::parse(&body, endpoint)?;
    let route = live
        .routes
        .get(&facts.model)
        .ok_or_else(|| ApiError::model_not_found(&facts.model))?;
    trace.route(&route.route.name);
    trace.key(&principal.key_name);
    if let Some(models) = &principal.models
        && !models.contains(&facts.model)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            format!(
                "key '{}' may not use model `{}`",
                principal.key_name, facts.model
            ),
        )
        .with_code("model_not_allowed"));
    }
    if facts.n > route.route.max_n {
        return Err(ApiError::invalid(
            format!(
                "'n' is {}, more than the {} choices model `{}` allows",
                facts.n, route.route.max_n, facts.model
            ),
            Some("n"),
        ));
    }
    let request_id = request_id();
    let preq = PolicyRequest {
        request_id: request_id.clone(),
        key_name: principal.key_name.clone(),
        team: None,
        user: facts.user.clone(),
        route: facts.model.clone(),
        tags: Vec::new(),
        n: facts.n as u32,
        estimated_input_tokens: facts.estimated_input_tokens,
        // Per choice; quotas reserve for all `n` (0.1 policies get it multiplied).
        max_output_tokens: facts.max_output_tokens,
        stream: facts.stream,
    };
    let (admitted, policy_headers) = policies::check(route, preq, &gw.metrics).await?;
    let result = async {
        let lookup = cached::lookup(
            live.cache.as_ref(),
            route,
            principal,
            endpoint,
            directive,
            facts.stream,
            &body,
        )
        .await;
        let (store, cache_header) = match lookup {
            cached::Lookup::Hit(stored) => {
                let saved = attempt::usage_of(&stored);
                match cached::hit_response(stored, &facts, &request_id, &policy_headers) {
                    Some(mut resp) => {
                        gw.metrics.cache_result(&route.route.name, "hit", saved);
                        trace.answered_by("cache", "");
                        // A hit costs no provider tokens: policies are told so.
                        let extra = admitted.record(Usage::default()).await;
                        cached::insert_headers(resp.headers_mut(), &extra);
                        return Ok(resp);
                    }
                    // Not servable to this client (a stream of a non-chat answer): go on.
                    None => (None, Some("miss")),
                }
            }
            cached::Lookup::Miss { store, header } => (store, header),
        };
        if let Some(result) = cache_header {
            gw.metrics.cache_result(&route.route.name, result, None);
        }

        // Redaction rewrites the body, so what routing read from it is read again.
        let (body, facts) = if route.redactors.is_empty() || endpoint != Endpoint::Chat {
            (body, facts)
        } else {
            let redacted = redact::request(route, &body).await?;
            let facts = body::parse(&redacted, endpoint)?;
            (redacted, facts)
        };

        let rr = RouteRequest {
            route: facts.model.clone(),
            sequence: route
                .sequence
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            random: rand::random(),
            estimated_input_tokens: facts.estimated_input_tokens,
            max_output_tokens: facts.max_output_tokens,
            stream: facts.stream,
            text: route.wants_text.then(|| body::last_user_text(&body)),
        };
        let order = calls::select(&route.strategy, &rr, &target_stats(route))
            .await
            .map_err(|e| plugin_failed("strategy", &e))?;

        let operation = match endpoint {
            Endpoint::Chat => Operation::ChatCompletions,
            Endpoint::Embeddings => Operation::Embeddings,
        };
        let shared = failover::Shared {
            request_id: &request_id,
            operation,
            facts: &facts,
            body: &body,
            admitted: &admitted,
            policy_headers: &policy_headers,
            cache: store.as_ref(),
            redact: match (&route.route.redact_response, endpoint) {
                (Some(r), Endpoint::Chat) => Some((&route.redactors, r.window)),
                _ => None,
            },
            metrics: &gw.metrics,
            usage: gw.usage.sink(),
            trace,
        };
        let mut resp = failover::try_targets(&live, route, &order, shared).await?;
        if let Some(v) = cache_header {
            resp.headers_mut()
                .insert(cached::HEADER, http::HeaderValue::from_static(v));
        }
        Ok(resp)
    }
    .await;
    // Whatever became of the request, the policies that admitted it hear so.
    admitted.record(Usage::default()).await;
    result
}
