//! Typed calls into each world, with the host's checks on what comes back: a plugin
//! answer that is out of range or malformed is an `invalid_output` failure of that
//! call, never something the gateway acts on.

use std::sync::Arc;

use wasmtime::component::ResourceAny;

use super::convert::Conv;
use super::pool::World;
use super::world::{Adapter, Policy, Redactor, Strategy};
use super::{InstancePool, Lease, PluginError};
use crate::types::{
    AdapterError, AuthScheme, Direction, Header, RequestContext, RouteRequest, SseEvent,
    TargetStats, TranslatedAnswer, TranslatedEvents, UpstreamRequest, UpstreamResponse,
};

/// The same call on whichever contract version the bindings are, its arguments and
/// answer converted between the host's types and the version's.
macro_rules! each_version {
    ($b:expr, $W:ident, |$v:ident| $call:expr) => {
        match $b {
            $W::V0_1($v) => $call,
            $W::V0_2($v) => $call,
            $W::V0_3($v) => $call,
        }
    };
}

/// Runs one guest call on a lease under its CPU deadline and wall-clock bound.
macro_rules! guest_call {
    ($lease:expr, |$store:ident, $b:ident| $call:expr) => {{
        let limit = $lease.wall_limit();
        $lease.slot().await?;
        let r = {
            let ($store, $b) = $lease.begin()?;
            crate::plugins::pool::bounded(limit, $call).await
        };
        $lease.end(r)
    }};
}

pub type AdapterPool = InstancePool<Adapter>;
pub type StrategyPool = InstancePool<Strategy>;
pub type PolicyPool = InstancePool<Policy>;
pub type RedactorPool = InstancePool<Redactor>;

/// Most headers one plugin answer may carry (a flood of them once panicked hyper).
pub const MAX_HEADERS: usize = 64;

/// Hop-by-hop headers and framing: the host's, never a plugin's.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "content-type",
    "host",
];

/// Headers the host owns on requests to providers; an adapter may not set them.
const UPSTREAM_RESERVED: &[&str] = &["authorization", "cookie"];

/// The one `x-switchboard-` family a policy may set on answers: budget figures.
const POLICY_PREFIX: &str = "x-switchboard-budget-";

/// Headers the host owns on answers to clients; a policy may not set them.
const CLIENT_RESERVED: &[&str] = &["x-request-id", "set-cookie"];

/// Why a plugin's header is refused, if it is.
fn header_problem(h: &Header, reserved: &[&str]) -> Option<String> {
    let is_one_of = |list: &[&str]| list.iter().any(|r| r.eq_ignore_ascii_case(&h.name));
    if http::HeaderName::from_bytes(h.name.as_bytes()).is_err() {
        return Some(format!("header name {:?} is malformed", h.name));
    }
    if http::HeaderValue::from_str(&h.value).is_err() {
        return Some(format!("header {:?} has a malformed value", h.name));
    }
    let starts = |prefix: &str| {
        h.name
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    };
    // The host's own headers, but a policy's budget figures to a client.
    let policy_owned = reserved == CLIENT_RESERVED && starts(POLICY_PREFIX);
    if is_one_of(HOP_BY_HOP) || is_one_of(reserved) || (starts("x-switchboard-") && !policy_owned) {
        return Some(format!("header {:?} is reserved for the host", h.name));
    }
    None
}

/// The first problem of a plugin's header list: too many, malformed, reserved or
/// repeated (case-insensitively).
pub fn headers_problem(hs: &[Header], reserved: &[&str]) -> Option<String> {
    if hs.len() > MAX_HEADERS {
        return Some(format!(
            "{} headers is more than the {MAX_HEADERS} allowed",
            hs.len()
        ));
    }
    for (i, h) in hs.iter().enumerate() {
        if let Some(p) = header_problem(h, reserved) {
            return Some(p);
        }
        if hs[..i].iter().any(|o| o.name.eq_ignore_ascii_case(&h.name)) {
            return Some(format!("header {:?} is set twice", h.name));
        }
    }
    None
}

/// Why an upstream path is refused: it must start with '/', hold no backslash,
/// control character, query or fragment, and, once percent-decoded, no `.` or `..`
/// segment (URL parsers read `%2e%2e` as `..`), so it stays under the base path.
pub fn path_problem(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return Some(format!("upstream path {path:?} must start with '/'"));
    }
    if path.contains(['\\', '#', '?']) || path.chars().any(char::is_control) {
        return Some(format!(
            "upstream path {path:?} holds a backslash, query, fragment or control character"
        ));
    }
    let decoded = crate::percent::decode(path.as_bytes());
    if decoded.contains(&b'\\') || decoded.iter().any(u8::is_ascii_control) {
        return Some(format!(
            "upstream path {path:?} encodes a backslash or control character"
        ));
    }
    let leaves = decoded
        .split(|b| *b == b'/')
        .any(|seg| seg == b"." || seg == b"..");
    leaves.then(|| format!("upstream path {path:?} leaves the provider's base path"))
}

/// Why the header an adapter names for the key is refused: it must be a valid name
/// that is not framing, hop-by-hop or otherwise the host's.
fn auth_problem(auth: &AuthScheme) -> Option<String> {
    match auth {
        AuthScheme::Header(name) => header_problem(
            &Header {
                name: name.clone(),
                value: String::new(),
            },
            &["cookie"],
        )
        .map(|p| format!("auth {p}")),
        AuthScheme::Query(name)
            if name.is_empty()
                || name.contains(['&', '=', '#', '?'])
                || name.chars().any(char::is_control) =>
        {
            Some(format!("auth query parameter {name:?} is malformed"))
        }
        AuthScheme::AwsSigv4(scope) => {
            let ok = |s: &str| {
                (1..=32).contains(&s.len())
                    && s.bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
            };
            (!ok(&scope.region) || !ok(&scope.service)).then(|| {
                format!(
                    "aws-sigv4 region {:?} or service {:?} is not 1-32 lowercase letters, digits or '-'",
                    scope.region, scope.service
                )
            })
        }
        _ => None,
    }
}

fn check_adapter_error(e: &AdapterError) -> Result<(), String> {
    if !(400..=599).contains(&e.status) {
        return Err(format!(
            "adapter error status {} is not an HTTP error status",
            e.status
        ));
    }
    Ok(())
}

/// Most query parameters an adapter may ask for.
pub const MAX_QUERY: usize = 64;

/// Why an adapter's query is refused: too many parameters, or text with control
/// characters or longer than 2,000 bytes.
fn query_problem(query: &[(String, String)]) -> Option<String> {
    if query.len() > MAX_QUERY {
        return Some(format!(
            "{} query parameters is more than the {MAX_QUERY} allowed",
            query.len()
        ));
    }
    query
        .iter()
        .find(|(k, v)| {
            k.is_empty()
                || k.len() + v.len() > 2000
                || k.chars().chain(v.chars()).any(char::is_control)
        })
        .map(|(k, _)| {
            format!("query parameter {k:?} is empty, too long or holds a control character")
        })
}

fn upstream_problem(req: &UpstreamRequest) -> Option<String> {
    path_problem(&req.path)
        .or_else(|| auth_problem(&req.auth))
        .or_else(|| query_problem(&req.query))
        .or_else(|| headers_problem(&req.headers, UPSTREAM_RESERVED))
        .or_else(|| match &req.auth {
            AuthScheme::Header(n) if req.headers.iter().any(|h| h.name.eq_ignore_ascii_case(n)) => {
                Some(format!("header {n:?} is the key's header"))
            }
            AuthScheme::Query(n) if req.query.iter().any(|(k, _)| k == n) => {
                Some(format!("query parameter {n:?} is the key's parameter"))
            }
            _ => None,
        })
}

pub async fn to_upstream(
    pool: &Arc<AdapterPool>,
    ctx: &RequestContext,
    body: &[u8],
) -> Result<Result<UpstreamRequest, AdapterError>, PluginError> {
    if let Some(e) = pool.oversize(body.len()) {
        return Err(e);
    }
    let mut lease = pool.lease(&ctx.route).await?;
    lease.input(body.len());
    let out: Result<UpstreamRequest, AdapterError> = guest_call!(lease, |store, b| async {
        each_version!(b, Adapter, |b| b
            .switchboard_plugin_provider_adapter()
            .call_to_upstream(store, &ctx.clone().conv(), body)
            .await
            .map(|r| r.map(Conv::conv).map_err(Conv::conv)))
    })?;
    let problem = match &out {
        Ok(req) => upstream_problem(req),
        Err(e) => check_adapter_error(e).err(),
    };
    match problem {
        Some(p) => Err(lease.invalid_output(p)),
        None => Ok(out),
    }
}

pub async fn from_upstream(
    pool: &Arc<AdapterPool>,
    ctx: &RequestContext,
    resp: UpstreamResponse,
) -> Result<Result<TranslatedAnswer, AdapterError>, PluginError> {
    let mut lease = pool.lease(&ctx.route).await?;
    let out: Result<TranslatedAnswer, AdapterError> = guest_call!(lease, |store, b| async {
        match b {
            Adapter::V0_1(b) => b
                .switchboard_plugin_provider_adapter()
                .call_from_upstream(store, &ctx.clone().conv(), &resp.conv())
                .await
                .map(|r| {
                    r.map(|body| TranslatedAnswer { body, usage: None })
                        .map_err(Conv::conv)
                }),
            Adapter::V0_2(b) => b
                .switchboard_plugin_provider_adapter()
                .call_from_upstream(store, &ctx.clone().conv(), &resp.conv())
                .await
                .map(|r| r.map(Conv::conv).map_err(Conv::conv)),
            Adapter::V0_3(b) => b
                .switchboard_plugin_provider_adapter()
                .call_from_upstream(store, &ctx.clone().conv(), &resp.conv())
                .await
                .map(|r| r.map(Conv::conv).map_err(Conv::conv)),
        }
    })?;
    if let Err(e) = &out
        && let Err(p) = check_adapter_error(e)
    {
        return Err(lease.invalid_output(p));
    }
    Ok(out)
}

/// Calls the component's `validate-settings` (0.2.0) with its configured settings.
pub async fn validate_settings<W: World>(
    pool: &Arc<InstancePool<W>>,
    settings: &[(String, String)],
) -> Result<Result<(), String>, PluginError> {
    // 0.1.0 has no `validate-settings`: no instance is taken for nothing.
    if pool.version() == super::Version::V0_1 {
        return Ok(Ok(()));
    }
    let mut lease = pool.lease("").await?;
    guest_call!(lease, |store, b| b.validate_settings(store, settings))
}

/// Asks a strategy once (at load) whether it wants the request's text.
pub async fn wants_request_text(pool: &Arc<StrategyPool>) -> Result<bool, PluginError> {
    if pool.version() == super::Version::V0_1 {
        return Ok(false);
    }
    let mut lease = pool.lease("").await?;
    guest_call!(lease, |store, b| async {
        match b {
            Strategy::V0_1(_) => Ok(false),
            Strategy::V0_2(b) => {
                b.switchboard_plugin_load_balancer()
                    .call_wants_request_text(store)
                    .await
            }
            Strategy::V0_3(b) => {
                b.switchboard_plugin_load_balancer()
                    .call_wants_request_text(store)
                    .await
            }
        }
    })
}

/// Most events a translator may make of one upstream event.
pub const MAX_EVENTS_PER_EVENT: usize = 64;

/// Why a translator's events are refused: too many, or a name with a line break
/// (data is framed line by line by the host; a name cannot be).
fn events_problem(events: &[SseEvent]) -> Option<String> {
    if events.len() > MAX_EVENTS_PER_EVENT {
        return Some(format!(
            "stream translator made {} events of one (at most {MAX_EVENTS_PER_EVENT})",
            events.len()
        ));
    }
    events
        .iter()
        .filter_map(|e| e.event.as_deref())
        .find(|n| n.contains(['\r', '\n']) || n.len() > 256)
        .map(|n| format!("stream translator named an event {n:?}: a line break or too long"))
}

/// One stream being translated: holds its instance until the stream ends. Call
/// `close` at the end to drop the guest resource and return the instance; a
/// translation dropped without `close` discards its instance.
pub struct StreamTranslation {
    lease: Lease<Adapter>,
    resource: Option<ResourceAny>,
}

impl StreamTranslation {
    pub async fn new(pool: &Arc<AdapterPool>, ctx: &RequestContext) -> Result<Self, PluginError> {
        let mut lease = pool.lease(&ctx.route).await?;
        let resource = guest_call!(lease, |store, b| async {
            each_version!(b, Adapter, |b| b
                .switchboard_plugin_provider_adapter()
                .stream_translator()
                .call_constructor(store, &ctx.clone().conv())
                .await)
        })?;
        Ok(StreamTranslation {
            lease,
            resource: Some(resource),
        })
    }

    fn checked(
        &mut self,
        out: Result<Result<TranslatedEvents, AdapterError>, PluginError>,
    ) -> Result<Result<TranslatedEvents, AdapterError>, PluginError> {
        let out = match out {
            Ok(o) => o,
            Err(e) => {
                self.resource = None;
                return Err(e);
            }
        };
        let problem = match &out {
            Ok(t) => events_problem(&t.events),
            Err(e) => check_adapter_error(e).err(),
        };
        if let Some(p) = problem {
            self.resource = None;
            return Err(self.lease.invalid_output(p));
        }
        Ok(out)
    }

    pub async fn on_event(
        &mut self,
        ev: &SseEvent,
    ) -> Result<Result<TranslatedEvents, AdapterError>, PluginError> {
        let Some(res) = self.resource else {
            return Ok(Ok(TranslatedEvents::default()));
        };
        let lease = &mut self.lease;
        let out = guest_call!(lease, |store, b| async {
            match b {
                Adapter::V0_1(b) => b
                    .switchboard_plugin_provider_adapter()
                    .stream_translator()
                    .call_on_event(store, res, &ev.clone().conv())
                    .await
                    .map(|r| r.map(events_only).map_err(Conv::conv)),
                Adapter::V0_2(b) => b
                    .switchboard_plugin_provider_adapter()
                    .stream_translator()
                    .call_on_event(store, res, &ev.clone().conv())
                    .await
                    .map(|r| r.map(Conv::conv).map_err(Conv::conv)),
                Adapter::V0_3(b) => b
                    .switchboard_plugin_provider_adapter()
                    .stream_translator()
                    .call_on_event(store, res, &ev.clone().conv())
                    .await
                    .map(|r| r.map(Conv::conv).map_err(Conv::conv)),
            }
        });
        self.checked(out)
    }

    pub async fn finish(&mut self) -> Result<Result<TranslatedEvents, AdapterError>, PluginError> {
        let Some(res) = self.resource else {
            return Ok(Ok(TranslatedEvents::default()));
        };
        let lease = &mut self.lease;
        let out = guest_call!(lease, |store, b| async {
            match b {
                Adapter::V0_1(b) => b
                    .switchboard_plugin_provider_adapter()
                    .stream_translator()
                    .call_finish(store, res)
                    .await
                    .map(|r| r.map(events_only).map_err(Conv::conv)),
                Adapter::V0_2(b) => b
                    .switchboard_plugin_provider_adapter()
                    .stream_translator()
                    .call_finish(store, res)
                    .await
                    .map(|r| r.map(Conv::conv).map_err(Conv::conv)),
                Adapter::V0_3(b) => b
                    .switchboard_plugin_provider_adapter()
                    .stream_translator()
                    .call_finish(store, res)
                    .await
                    .map(|r| r.map(Conv::conv).map_err(Conv::conv)),
            }
        });
        self.checked(out)
    }

    /// Drops the guest resource and returns the instance to its pool.
    pub async fn close(mut self) {
        let Some(res) = self.resource.take() else {
            return;
        };
        let limit = self.lease.wall_limit();
        if self.lease.interrupted() || self.lease.slot().await.is_err() {
            self.lease.discard();
            return;
        }
        let r = match self.lease.begin() {
            Ok((store, _)) => {
                crate::plugins::pool::bounded(limit, res.resource_drop_async(store)).await
            }
            Err(_) => return,
        };
        let _ = self.lease.end(r);
    }
}

/// A 0.1.0 translator's events: it reports no usage (the host reads it from them).
fn events_only<E: Conv<SseEvent>>(events: Vec<E>) -> TranslatedEvents {
    TranslatedEvents {
        events: events.conv(),
        usage: None,
    }
}

impl Drop for StreamTranslation {
    fn drop(&mut self) {
        if self.resource.is_some() {
            // The guest resource is still alive in this instance and cannot be
            // dropped here (it needs an async call): do not reuse the instance.
            self.lease.discard();
        }
    }
}

/// Asks a strategy for the order of targets. The answer must be non-empty, in
/// range and without repeats.
pub async fn select(
    pool: &Arc<StrategyPool>,
    req: &RouteRequest,
    targets: &[TargetStats],
) -> Result<Vec<usize>, PluginError> {
    let mut lease = pool.lease(&req.route).await?;
    let out = guest_call!(lease, |store, b| async {
        store.data_mut().shape = req.shape;
        each_version!(b, Strategy, |b| b
            .switchboard_plugin_load_balancer()
            .call_select(store, &req.clone().conv(), &targets.to_vec().conv())
            .await)
    })?;
    let order = match out {
        Ok(o) => o,
        Err(msg) => {
            let msg: String = msg.chars().take(300).collect();
            return Err(lease.invalid_output(format!("strategy refused to choose: {msg}")));
        }
    };
    if order.is_empty() {
        return Err(lease.invalid_output("strategy chose no target".into()));
    }
    let mut seen = vec![false; targets.len()];
    for &i in &order {
        let i = i as usize;
        if i >= targets.len() {
            return Err(lease.invalid_output(format!(
                "strategy chose target {i}, but there are only {}",
                targets.len()
            )));
        }
        if std::mem::replace(&mut seen[i], true) {
            return Err(lease.invalid_output(format!("strategy chose target {i} twice")));
        }
    }
    Ok(order.into_iter().map(|i| i as usize).collect())
}

#[path = "policy_calls.rs"]
mod policy;
pub use policy::{Counting, MAX_DENIAL_MESSAGE, check, record};

#[path = "guard_calls.rs"]
mod guard;
pub use guard::{GuardrailPool, Window, check_request, check_response, check_stream, phases};

pub async fn redact(
    pool: &Arc<RedactorPool>,
    dir: Direction,
    texts: &[String],
) -> Result<Vec<String>, PluginError> {
    let mut lease = pool.lease("").await?;
    let out = guest_call!(lease, |store, b| async {
        each_version!(b, Redactor, |b| b
            .switchboard_plugin_text_redactor()
            .call_redact(store, dir.conv(), texts)
            .await)
    })?;
    if out.len() != texts.len() {
        return Err(lease.invalid_output(format!(
            "redactor returned {} texts for {}",
            out.len(),
            texts.len()
        )));
    }
    Ok(out)
}
