//! The request lifecycle for `/v1/chat/completions` and `/v1/embeddings` (and the
//! inbound APIs translated onto them): a `RequestCtx` is made, then parse → route →
//! policy check → cache → redact → strategy → attempts with failover, and one
//! `settle` however it ends. The drawing is in `docs/src/architecture.md`.

mod attempt;
pub mod body;
mod cached;
mod capture;
pub mod ctx;
pub mod error;
mod failover;
pub mod lifecycle;
pub mod offline;
mod params;
pub mod redact;

pub use attempt::stream::binary;

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use body::{Endpoint, RequestFacts};
pub use ctx::{Protocol, RequestCtx};
pub use error::Error;

use crate::cache::Directive;
use crate::live::{LiveRoute, LiveState, Principal};
use crate::native::NativeApi;
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

/// One client request, as the pipeline is given it.
pub struct Request<'a> {
    pub protocol: Protocol,
    pub principal: &'a Principal,
    pub endpoint: Endpoint,
    pub directive: Directive,
    /// The chat (or embeddings) request: what policies, the strategy and translating
    /// targets read.
    pub body: Bytes,
    /// The client's own request, for targets that speak its API.
    pub native: Option<Native>,
    /// (provider, model): only this target of the route is asked (a comparison).
    pub pin: Option<(String, String)>,
    /// The prompt template the request was made from (`name@version`).
    pub prompt: Option<String>,
    /// Made by the admin API (a comparison, a route test): a model's lifecycle does
    /// not hide it.
    pub admin: bool,
}

/// A request in the client's own API, passed through to targets that speak it (the
/// model set, the key swapped) instead of being translated.
pub struct Native {
    pub api: NativeApi,
    pub body: Bytes,
    /// The client's headers the provider is given (e.g. `anthropic-beta`).
    pub headers: Vec<(String, String)>,
    /// Set when only such targets may take the request, saying why (translating it
    /// would lose what the client asked for).
    pub only: Option<String>,
    /// The client's content type, forwarded with a body that is not JSON (an upload).
    pub content_type: Option<String>,
    /// Only this provider may take the request (it keeps what the request continues).
    pub provider: Option<String>,
    /// Told (id, provider) of a passed-through Responses answer, to record who made it.
    pub on_id: Option<OnId>,
    /// Where the `model` value sits in `body` (found by the pipeline; none in an upload
    /// that names no model).
    model_span: Option<std::ops::Range<usize>>,
}

impl Native {
    pub fn new(api: NativeApi, body: Bytes, headers: Vec<(String, String)>) -> Native {
        Native {
            api,
            body,
            headers,
            only: None,
            content_type: None,
            provider: None,
            on_id: None,
            model_span: None,
        }
    }

    /// What the cache keeps a passed-through answer under (a stream is kept as the
    /// events the client got, so it is its own kind).
    fn cache_kind(&self, stream: bool) -> String {
        let tail = if stream { "-stream" } else { "" };
        format!("native-{}{tail}", self.api.name())
    }
}

/// What learns the id of a passed-through Responses answer, and where it was made.
pub type OnId = std::sync::Arc<dyn Fn(&str, &str) + Send + Sync>;

/// Marks an answer already in the client's own API (passed through, or a cached
/// pass-through): the inbound layer gives it to the client as it is.
#[derive(Debug, Clone, Copy)]
pub struct NativeAnswer;

/// Whether the pipeline passed this answer through in the client's own API.
pub fn is_native(resp: &http::Response<Body>) -> bool {
    resp.extensions().get::<NativeAnswer>().is_some()
}

/// The request's pass-through, if the route can take it: some target speaks its API
/// and the route does not redact. A request that may only be passed through and
/// cannot be is refused.
fn native_plan(
    live: &LiveState,
    route: &LiveRoute,
    native: Option<Native>,
) -> Result<Option<Native>, Error> {
    let Some(mut n) = native else { return Ok(None) };
    if !live.serves_natively(&route.route.name, n.api) {
        return match n.only {
            Some(why) => Err(Error::invalid(
                format!(
                    "no target of model `{}` takes /v1/{} as it is (none speaks it, or the route redacts), and {why}",
                    route.route.name,
                    n.api.name()
                ),
                None,
            )),
            None => Ok(None),
        };
    }
    if !n.api.has_model() {
        return Ok(Some(n));
    }
    let span = match n
        .content_type
        .as_deref()
        .and_then(crate::multipart::boundary)
    {
        Some(b) => crate::multipart::field(&n.body, b, "model"),
        None => body::model_span(&n.body),
    };
    n.model_span = Some(
        span.ok_or_else(|| Error::invalid("you must provide a model parameter", Some("model")))?,
    );
    Ok(Some(n))
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
    let run = crate::telemetry::scope(ctx.call_log(), run(gw, &ctx, req));
    let mut resp = match run.await {
        Ok(resp) => resp,
        Err(e) => {
            ctx.failed(e.label());
            e.into_response()
        }
    };
    ctx.head_ready();
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
    let native = native_plan(&live, route, req.native.take())?;
    let (store, cache_header) = match from_cache(
        &live,
        route,
        ctx,
        &req,
        native.as_ref(),
        &facts,
        &policy_headers,
    )
    .await
    {
        Cached::Served(resp) => return Ok(resp),
        Cached::Go(store, header) => (store, header),
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
                ctx.story(|s| s.masked(Side::Request, &lossy(&req.body), &lossy(&redacted)));
                let facts = body::parse(&redacted, req.endpoint)?;
                (redacted, facts)
            }
        }
    };
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
    };
    let mut resp = failover::try_targets(&live, route, &order, shared).await?;
    if let Some(v) = cache_header {
        resp.headers_mut()
            .insert(cached::HEADER, http::HeaderValue::from_static(v.label()));
    }
    Ok(resp)
}

pub(super) fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// What the cache made of a request.
enum Cached {
    /// A stored answer, ready for the client.
    Served(http::Response<Body>),
    /// Go to the providers: where the answer is kept, and the cache's header.
    Go(Option<crate::cache::Store>, Option<ctx::CacheResult>),
}

/// Looks the request up in the route's cache: a passed-through request under its own
/// API's bytes, any other in chat (or embeddings) form.
async fn from_cache(
    live: &LiveState,
    route: &LiveRoute,
    ctx: &RequestCtx,
    req: &Request<'_>,
    native: Option<&Native>,
    facts: &RequestFacts,
    policy_headers: &[(String, String)],
) -> Cached {
    let kind;
    let keyed: (&str, &[u8]) = match native {
        Some(n) => {
            kind = n.cache_kind(facts.stream);
            (&kind, &n.body)
        }
        None => (req.endpoint.label(), &req.body),
    };
    let lookup = cached::lookup(
        live.cache.as_ref(),
        route,
        req.principal,
        keyed,
        req.directive,
        facts.stream,
    )
    .await;
    match lookup {
        cached::Lookup::Hit(stored) => match native {
            Some(n) => {
                let saved = match facts.stream {
                    true => crate::native::stream_usage(n.api, &stored),
                    false => n.api.usage(&stored),
                };
                ctx.cache(ctx::CacheResult::Hit, saved);
                Cached::Served(cached::native_hit(
                    stored,
                    facts.stream,
                    &ctx.id,
                    policy_headers,
                ))
            }
            None => {
                let saved = body::usage_of(&stored);
                match cached::hit_response(stored, facts, &ctx.id, policy_headers) {
                    Some(resp) => {
                        ctx.cache(ctx::CacheResult::Hit, saved);
                        Cached::Served(resp)
                    }
                    // Not servable to this client (a stream of a non-chat answer): go on.
                    None => Cached::Go(None, Some(ctx::CacheResult::Miss)),
                }
            }
        },
        cached::Lookup::Miss { store, result } => Cached::Go(store, result),
    }
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
