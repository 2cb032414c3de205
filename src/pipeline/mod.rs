//! The request lifecycle for `/v1/chat/completions` and `/v1/embeddings` (and the
//! inbound APIs translated onto them): a `RequestCtx` is made, then parse → route →
//! policy check → cache → redact → strategy → attempts with failover, and one
//! `settle` however it ends. The drawing is in `docs/src/architecture.md`.

mod attempt;
pub mod body;
mod cached;
mod capture;
mod child;
pub mod ctx;
pub mod error;
mod failover;
pub mod guard;
pub mod lifecycle;
pub mod offline;
mod params;
pub mod redact;
mod request;
mod semantic;

pub use attempt::stream::binary;

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use body::{Endpoint, RequestFacts};
pub use ctx::{Protocol, RequestCtx};
pub use error::Error;
pub use request::{Native, NativeAnswer, OnId, Request, is_native};

use crate::live::{LiveRoute, LiveState};
use crate::plugins::calls;
use crate::reply::Body;
use crate::types::{Operation, PolicyRequest, RouteRequest, TargetStats};
use crate::usage::story::Side;

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
    Failover(attempt::Failure),
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

/// The header every answer says the gateway's own time on it in (milliseconds: to the
/// answer's head, less the time spent waiting on providers).
pub const OVERHEAD_HEADER: &str = "x-switchboard-overhead-ms";

/// Runs one client request through the lifecycle and settles it, unless its answer
/// is a stream (then the stream settles when it ends).
pub async fn handle(gw: &Gateway, req: Request<'_>) -> http::Response<Body> {
    let ctx = RequestCtx::new(
        req.protocol,
        &req.principal.key_name,
        gw.metrics.clone(),
        gw.usage.sink(),
        gw.access_log.sink(),
        gw.telemetry.clone(),
    );
    if let Some(p) = &req.parent {
        ctx.child_of(p);
    }
    let run = crate::telemetry::scope(ctx.call_log(), run(gw, &ctx, req));
    let mut resp = match run.await {
        Ok(resp) => resp,
        Err(e) => {
            ctx.failed(e.label());
            e.into_response()
        }
    };
    ctx.head_ready();
    // Every answer names its request, errors too: its record can be found by it.
    if let Ok(v) = http::HeaderValue::from_str(&ctx.id) {
        resp.headers_mut().entry("x-request-id").or_insert(v);
    }
    let overhead = ctx.overhead().as_secs_f64() * 1000.0;
    if let Ok(v) = http::HeaderValue::from_str(&format!("{overhead:.3}")) {
        resp.headers_mut().insert(OVERHEAD_HEADER, v);
    }
    if !ctx.is_stream() {
        let extra = ctx.settle(resp.status().as_u16()).await;
        cached::insert_headers(resp.headers_mut(), &extra);
    }
    resp
}

/// The request's end user: the one its key is bound to, else the one a verified token
/// names (a `user` field that disagrees is refused), else the `user` field — unless
/// the route or key takes it from a token only.
pub(crate) fn end_user(
    p: &crate::live::Principal,
    route: &LiveRoute,
    sent: Option<String>,
) -> Result<Option<String>, Error> {
    if let Some(bound) = &p.user {
        return Ok(Some(bound.clone()));
    }
    if let Some(verified) = &p.verified_user {
        if let Some(s) = sent.filter(|s| s != verified) {
            return Err(Error::UserMismatch { sent: s });
        }
        return Ok(Some(verified.clone()));
    }
    if p.user_from_jwt || route.route.user_from == crate::config::UserFrom::Jwt {
        return Err(Error::UserTokenRequired(format!(
            "model `{}` takes its end user from a signed token: send one (see [auth.end_users])",
            route.route.name
        )));
    }
    Ok(sent)
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
    req: &mut Request<'_>,
) -> Result<Admitted<'l>, Error> {
    let mut facts: RequestFacts = body::parse(&req.body, req.endpoint)?;
    let lifecycle::Served {
        route,
        headers: mut lifecycle_headers,
        ..
    } = route_of(live, ctx, req, &facts.model)?;
    ctx.route(&route.route.name, &route.outcomes);
    capture::begin(ctx, route, req.principal);
    if route.targets.is_empty() {
        return Err(Error::NoTarget {
            code: "targets_disabled",
            message: format!("every target of model `{}` is disabled", facts.model),
        });
    }
    facts.user = end_user(req.principal, route, facts.user.take())?;
    ctx.who(req.principal.team.as_ref(), facts.user.as_ref());
    ctx.prompt_estimate(facts.estimated_input_tokens);
    if route.route.show_cost {
        ctx.show_cost();
    }
    let p = req.principal;
    if let (Some(o), Some(allowed)) = (&p.origin, &route.route.cors_origins)
        && !allowed.contains(o)
    {
        return Err(Error::OriginNotAllowed {
            model: facts.model.clone(),
            origin: o.clone(),
        });
    }
    let named = crate::config::lifecycle::pinned(&facts.model).map_or(&*facts.model, |(b, _)| b);
    if let Some(models) = &p.models
        && !models.iter().any(|m| m == named)
    {
        return Err(Error::ModelNotAllowed {
            key: p.key_name.clone(),
            model: facts.model.clone(),
        });
    }
    if let Some(b) = params::apply(&route.route, &req.body, &mut facts)? {
        req.body = b;
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
    let extra = live.principal_policies(p);
    let checked = ctx::policies::check(route, &extra, preq, ctx).await?;
    if let Some(cap) = checked.output_cap
        && facts.max_output_tokens.is_none()
        && req.endpoint == Endpoint::Chat
    {
        params::cap_output(req, cap);
    }
    let mut policy_headers = checked.headers;
    policy_headers.append(&mut lifecycle_headers);
    Ok(Admitted {
        route,
        facts,
        policy_headers,
    })
}

/// The route serving `model`, as its lifecycle says (an admin request reaches any),
/// and the headers its state adds.
fn route_of<'l>(
    live: &'l LiveState,
    ctx: &RequestCtx,
    req: &Request<'_>,
    model: &str,
) -> Result<lifecycle::Served<'l>, Error> {
    if let Some(p) = &req.prompt {
        ctx.note("prompt", p);
    }
    if req.admin {
        let route = live
            .routes
            .get(model)
            .ok_or_else(|| Error::ModelNotFound(model.to_string()))?;
        return Ok(lifecycle::Served {
            route,
            headers: Vec::new(),
            redirected_from: None,
        });
    }
    let now = now_secs() as i64;
    let served = lifecycle::serve(live, model, req.principal, now, Some(ctx.metrics()))?;
    if let Some(from) = &served.redirected_from {
        ctx.note("requested", from);
    }
    Ok(served)
}

async fn run(
    gw: &Gateway,
    ctx: &std::sync::Arc<RequestCtx>,
    mut req: Request<'_>,
) -> Result<http::Response<Body>, Error> {
    let live = gw.live.load_full();
    let pin = req.pin.take();
    let Admitted {
        route,
        facts,
        policy_headers,
    } = admit(&live, ctx, &mut req).await?;
    ctx.story(|s| s.headers(&policy_headers));
    // Guardrails judge conversations; a guardrail's own model call is judged by none.
    let guards = match (&req.parent, req.endpoint) {
        (None, Endpoint::Chat) => {
            guard::Guards::new(gw, route, ctx, req.principal, &facts, &req.body)
        }
        _ => None,
    };
    let (facts, native) = guard::guarded(&live, route, &mut req, guards.as_ref(), facts).await?;
    let (store, cache_header) = match cached::from_cache(
        (gw, &live),
        route,
        ctx,
        &req,
        (native.as_ref(), guards.as_ref()),
        &facts,
        &policy_headers,
    )
    .await?
    {
        cached::Cached::Served(resp) => return Ok(resp),
        cached::Cached::Go(store, header) => (store, header),
    };
    if let Some(result) = cache_header {
        ctx.cache(result, None);
    }

    let (body, facts) = redacted(route, ctx, req.endpoint, req.body, facts).await?;
    let native = redact::passed_through(route, native, ctx).await?;
    capture::request(ctx, &body, native.as_ref());
    let order = order(route, &facts, &body, pin.as_ref()).await?;
    let shared = attempt::Shared {
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
        native: native.as_ref(),
        guards: guards.as_ref(),
    };
    let mut resp = failover::try_targets(&live, route, &order, shared).await?;
    if let Some(g) = guards.as_ref().filter(|g| g.judges_answers())
        && !facts.stream
        && native.is_none()
        && req.endpoint == Endpoint::Chat
    {
        resp = guard::guard_answer(g, resp).await?;
    }
    if let Some(v) = cache_header {
        resp.headers_mut()
            .insert(cached::HEADER, http::HeaderValue::from_static(v.label()));
    }
    Ok(resp)
}

/// The request through the route's redactors; what routing read from it is read
/// again when they changed it.
async fn redacted(
    route: &LiveRoute,
    ctx: &RequestCtx,
    endpoint: Endpoint,
    body: Bytes,
    facts: RequestFacts,
) -> Result<(Bytes, RequestFacts), Error> {
    if route.redactors.is_empty() || endpoint != Endpoint::Chat {
        return Ok((body, facts));
    }
    match redact::request(route, &body).await? {
        None => Ok((body, facts)),
        Some(redacted) => {
            ctx.story(|s| s.masked(Side::Request, &lossy(&body), &lossy(&redacted)));
            let facts = body::parse(&redacted, endpoint)?;
            Ok((redacted, facts))
        }
    }
}

pub(super) fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// The targets to try, in order: the one pinned (a comparison), or the strategy's order.
async fn order(
    route: &LiveRoute,
    facts: &RequestFacts,
    body: &[u8],
    pin: Option<&(String, String)>,
) -> Result<Vec<usize>, Error> {
    let Some((provider, model)) = pin else {
        return select(route, facts, body).await;
    };
    let at = route
        .targets
        .iter()
        .position(|t| t.target.provider == *provider && t.target.model == *model);
    at.map(|i| vec![i]).ok_or_else(|| Error::NoTarget {
        code: "target_not_found",
        message: format!(
            "route `{}` has no enabled target {provider}/{model}",
            facts.model
        ),
    })
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
        shape: if route.wants_text {
            body::request_shape(body)
        } else {
            Default::default()
        },
    };
    let mut order = calls::select(&route.strategy, &rr, &target_stats(route))
        .await
        .map_err(|e| Error::plugin("strategy", e))?;
    if route.route.steer_by_provider_limits {
        // Before a 429: a target whose provider said it cannot take this many tokens
        // (or no more requests) goes after those that can, in the strategy's order.
        let (prompt, output) = (facts.estimated_input_tokens, facts.max_output_tokens);
        order.sort_by_key(|i| {
            !route.targets[*i]
                .signals
                .can_hold(prompt, output.unwrap_or(0))
        });
    }
    Ok(order)
}
