//! The request lifecycle for `/v1/chat/completions` and `/v1/embeddings` (and the
//! inbound APIs translated onto them): a `RequestCtx` is made, then parse → route →
//! policy check → cache → redact → strategy → attempts with failover, and one
//! `settle` however it ends. The drawing is in `docs/architecture.md`.

mod attempt;
pub mod body;
mod cached;
pub mod ctx;
pub mod error;
mod failover;
mod policies;
pub mod redact;
mod stream;

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use body::{Endpoint, RequestFacts};
pub use ctx::{Protocol, RequestCtx};
pub use error::Error;

use crate::cache::Directive;
use crate::live::{LiveRoute, LiveState, Principal};
use crate::plugins::calls;
use crate::reply::Body;
use crate::types::{Operation, PolicyRequest, RouteRequest, TargetStats};

pub use crate::gateway::Gateway;

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
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

/// One client request, as the pipeline is given it.
pub struct Request<'a> {
    pub protocol: Protocol,
    pub principal: &'a Principal,
    pub endpoint: Endpoint,
    pub directive: Directive,
    pub body: Bytes,
}

/// Runs one client request through the lifecycle and settles it, unless its answer
/// is a stream (then the stream settles when it ends).
pub async fn handle(gw: &Gateway, req: Request<'_>) -> http::Response<Body> {
    let ctx = RequestCtx::new(
        req.protocol,
        &req.principal.key_name,
        gw.metrics.clone(),
        gw.usage.sink(),
        gw.access_log.sink(),
    );
    let mut resp = match run(gw, &ctx, req).await {
        Ok(resp) => resp,
        Err(e) => {
            ctx.failed(e.label());
            e.into_response()
        }
    };
    ctx.head_ready();
    if !ctx.is_stream() {
        let extra = ctx.settle(resp.status().as_u16()).await;
        cached::insert_headers(resp.headers_mut(), &extra);
    }
    resp
}

/// What admission decided: the route and the request's facts.
struct Admitted<'l> {
    route: &'l LiveRoute,
    facts: RequestFacts,
    policy_headers: Vec<(String, String)>,
}

/// Parse → route → permission → policies.
async fn admit<'l>(
    live: &'l LiveState,
    ctx: &RequestCtx,
    req: &Request<'_>,
) -> Result<Admitted<'l>, Error> {
    let facts: RequestFacts = body::parse(&req.body, req.endpoint)?;
    let route = live
        .routes
        .get(&facts.model)
        .ok_or_else(|| Error::ModelNotFound(facts.model.clone()))?;
    ctx.route(&route.route.name);
    let p = req.principal;
    if let Some(models) = &p.models
        && !models.contains(&facts.model)
    {
        return Err(Error::ModelNotAllowed {
            key: p.key_name.clone(),
            model: facts.model.clone(),
        });
    }
    if facts.n > route.route.max_n {
        return Err(Error::invalid(
            format!(
                "'n' is {}, more than the {} choices model `{}` allows",
                facts.n, route.route.max_n, facts.model
            ),
            Some("n"),
        ));
    }
    let preq = PolicyRequest {
        request_id: ctx.id.clone(),
        key_name: p.key_name.clone(),
        team: p.team.clone(),
        user: facts.user.clone(),
        route: facts.model.clone(),
        tags: p.tags.iter().chain(&route.route.tags).cloned().collect(),
        n: facts.n as u32,
        estimated_input_tokens: facts.estimated_input_tokens,
        // Per choice; quotas reserve for all `n` (0.1 policies get it multiplied).
        max_output_tokens: facts.max_output_tokens,
        stream: facts.stream,
    };
    let policy_headers = policies::check(route, preq, ctx).await?;
    Ok(Admitted {
        route,
        facts,
        policy_headers,
    })
}

async fn run(
    gw: &Gateway,
    ctx: &std::sync::Arc<RequestCtx>,
    req: Request<'_>,
) -> Result<http::Response<Body>, Error> {
    let live = gw.live.load_full();
    let Admitted {
        route,
        facts,
        policy_headers,
    } = admit(&live, ctx, &req).await?;
    let lookup = cached::lookup(
        live.cache.as_ref(),
        route,
        req.principal,
        req.endpoint,
        req.directive,
        facts.stream,
        &req.body,
    )
    .await;
    let (store, cache_header) = match lookup {
        cached::Lookup::Hit(stored) => {
            let saved = attempt::usage_of(&stored);
            if let Some(resp) = cached::hit_response(stored, &facts, &ctx.id, &policy_headers) {
                ctx.cache(ctx::CacheResult::Hit, saved);
                return Ok(resp);
            }
            // Not servable to this client (a stream of a non-chat answer): go on.
            (None, Some(ctx::CacheResult::Miss))
        }
        cached::Lookup::Miss { store, result } => (store, result),
    };
    if let Some(result) = cache_header {
        ctx.cache(result, None);
    }

    // Redaction rewrites the body, so what routing read from it is read again.
    let (body, facts) = if route.redactors.is_empty() || req.endpoint != Endpoint::Chat {
        (req.body, facts)
    } else {
        match redact::request(route, &req.body).await? {
            None => (req.body, facts),
            Some(redacted) => {
                let facts = body::parse(&redacted, req.endpoint)?;
                (redacted, facts)
            }
        }
    };
    let order = select(route, &facts, &body).await?;
    let shared = failover::Shared {
        operation: match req.endpoint {
            Endpoint::Chat => Operation::ChatCompletions,
            Endpoint::Embeddings => Operation::Embeddings,
        },
        facts: &facts,
        body: &body,
        policy_headers: &policy_headers,
        cache: store.as_ref(),
        redact: match (&route.route.redact_response, req.endpoint) {
            (Some(r), Endpoint::Chat) => Some((&route.redactors, r.window)),
            _ => None,
        },
        metrics: &gw.metrics,
        ctx,
    };
    let mut resp = failover::try_targets(&live, route, &order, shared).await?;
    if let Some(v) = cache_header {
        resp.headers_mut()
            .insert(cached::HEADER, http::HeaderValue::from_static(v.label()));
    }
    Ok(resp)
}

/// The strategy's order of the route's targets. A route with one target has nothing
/// to order: its strategy is not asked.
async fn select(route: &LiveRoute, facts: &RequestFacts, body: &[u8]) -> Result<Vec<usize>, Error> {
    if route.targets.len() == 1 {
        return Ok(vec![0]);
    }
    let rr = RouteRequest {
        route: facts.model.clone(),
        sequence: route
            .sequence
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        random: rand::random(),
        estimated_input_tokens: facts.estimated_input_tokens,
        max_output_tokens: facts.max_output_tokens,
        stream: facts.stream,
        text: route.wants_text.then(|| body::last_user_text(body)),
    };
    calls::select(&route.strategy, &rr, &target_stats(route))
        .await
        .map_err(|e| Error::plugin("strategy", e))
}
