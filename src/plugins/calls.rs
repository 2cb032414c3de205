//! Typed calls into each world, with the host's checks on what comes back: a plugin
//! answer that is out of range or malformed is an `invalid_output` failure of that
//! call, never something the gateway acts on.

use std::sync::Arc;

use wasmtime::component::ResourceAny;

use super::bindings::types::{
    AdapterError, Decision, Direction, Header, PolicyRequest, RequestContext, RouteRequest,
    SseEvent, TargetStats, TokenUsage, UpstreamRequest, UpstreamResponse,
};
use super::bindings::{adapter::Adapter, policy::Policy, redactor::Redactor, strategy::Strategy};
use super::{InstancePool, Lease, PluginError};

/// Runs one guest call on a lease under its CPU deadline and wall-clock bound.
macro_rules! guest_call {
    ($lease:expr, |$store:ident, $b:ident| $call:expr) => {{
        let limit = $lease.wall_limit();
        let r = {
            let ($store, $b) = $lease.begin()?;
            tokio::time::timeout(limit, $call).await
        };
        $lease.end(r)
    }};
}

pub type AdapterPool = InstancePool<Adapter>;
pub type StrategyPool = InstancePool<Strategy>;
pub type PolicyPool = InstancePool<Policy>;
pub type RedactorPool = InstancePool<Redactor>;

/// Headers the host owns; an adapter may not set them.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
];

fn valid_header(h: &Header) -> bool {
    http::HeaderName::from_bytes(h.name.as_bytes()).is_ok()
        && http::HeaderValue::from_str(&h.value).is_ok()
        && !RESERVED_HEADERS.contains(&h.name.to_ascii_lowercase().as_str())
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

pub async fn to_upstream(
    pool: &Arc<AdapterPool>,
    ctx: &RequestContext,
    body: &[u8],
) -> Result<Result<UpstreamRequest, AdapterError>, PluginError> {
    let mut lease = pool.lease().await?;
    let out = guest_call!(lease, |store, b| b
        .switchboard_plugin_provider_adapter()
        .call_to_upstream(store, ctx, body))?;
    let problem = match &out {
        Ok(req)
            if !req.path.starts_with('/')
                || req.path.contains("..")
                || req.path.contains(['\r', '\n', '#']) =>
        {
            Some(format!(
                "upstream path {:?} must start with '/' and stay under the base URL",
                req.path
            ))
        }
        Ok(req) => req
            .headers
            .iter()
            .find(|h| !valid_header(h))
            .map(|h| format!("header {:?} is invalid or reserved", h.name)),
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
    resp: &UpstreamResponse,
) -> Result<Result<Option<Vec<u8>>, AdapterError>, PluginError> {
    let mut lease = pool.lease().await?;
    let out = guest_call!(lease, |store, b| b
        .switchboard_plugin_provider_adapter()
        .call_from_upstream(store, ctx, resp))?;
    if let Err(e) = &out
        && let Err(p) = check_adapter_error(e)
    {
        return Err(lease.invalid_output(p));
    }
    Ok(out)
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
        let mut lease = pool.lease().await?;
        let resource = guest_call!(lease, |store, b| b
            .switchboard_plugin_provider_adapter()
            .stream_translator()
            .call_constructor(store, ctx))?;
        Ok(StreamTranslation {
            lease,
            resource: Some(resource),
        })
    }

    fn checked(
        &mut self,
        out: Result<Result<Vec<SseEvent>, AdapterError>, PluginError>,
    ) -> Result<Result<Vec<SseEvent>, AdapterError>, PluginError> {
        let out = match out {
            Ok(o) => o,
            Err(e) => {
                self.resource = None;
                return Err(e);
            }
        };
        if let Err(e) = &out
            && let Err(p) = check_adapter_error(e)
        {
            self.resource = None;
            return Err(self.lease.invalid_output(p));
        }
        Ok(out)
    }

    pub async fn on_event(
        &mut self,
        ev: &SseEvent,
    ) -> Result<Result<Vec<SseEvent>, AdapterError>, PluginError> {
        let Some(res) = self.resource else {
            return Ok(Ok(Vec::new()));
        };
        let lease = &mut self.lease;
        let out = guest_call!(lease, |store, b| b
            .switchboard_plugin_provider_adapter()
            .stream_translator()
            .call_on_event(store, res, ev));
        self.checked(out)
    }

    pub async fn finish(&mut self) -> Result<Result<Vec<SseEvent>, AdapterError>, PluginError> {
        let Some(res) = self.resource else {
            return Ok(Ok(Vec::new()));
        };
        let lease = &mut self.lease;
        let out = guest_call!(lease, |store, b| b
            .switchboard_plugin_provider_adapter()
            .stream_translator()
            .call_finish(store, res));
        self.checked(out)
    }

    /// Drops the guest resource and returns the instance to its pool.
    pub async fn close(mut self) {
        let Some(res) = self.resource.take() else {
            return;
        };
        let limit = self.lease.wall_limit();
        let r = match self.lease.begin() {
            Ok((store, _)) => tokio::time::timeout(limit, res.resource_drop_async(store)).await,
            Err(_) => return,
        };
        let _ = self.lease.end(r);
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
    let mut lease = pool.lease().await?;
    let out = guest_call!(lease, |store, b| b
        .switchboard_plugin_load_balancer()
        .call_select(store, req, targets))?;
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

pub async fn check(pool: &Arc<PolicyPool>, req: &PolicyRequest) -> Result<Decision, PluginError> {
    let mut lease = pool.lease().await?;
    let d = guest_call!(lease, |store, b| b
        .switchboard_plugin_admission_policy()
        .call_check(store, req))?;
    let problem = match &d {
        Decision::Allow(h) => h
            .iter()
            .find(|h| !valid_header(h))
            .map(|h| format!("header {:?} is invalid", h.name)),
        Decision::Deny(den) if !(400..=599).contains(&den.status) => Some(format!(
            "denial status {} is not an HTTP error status",
            den.status
        )),
        Decision::Deny(den) => den
            .headers
            .iter()
            .find(|h| !valid_header(h))
            .map(|h| format!("header {:?} is invalid", h.name)),
    };
    match problem {
        Some(p) => Err(lease.invalid_output(p)),
        None => Ok(d),
    }
}

pub async fn record(
    pool: &Arc<PolicyPool>,
    req: &PolicyRequest,
    usage: TokenUsage,
) -> Result<Vec<Header>, PluginError> {
    let mut lease = pool.lease().await?;
    let h = guest_call!(lease, |store, b| b
        .switchboard_plugin_admission_policy()
        .call_record(store, req, usage))?;
    if let Some(bad) = h.iter().find(|h| !valid_header(h)) {
        return Err(lease.invalid_output(format!("header {:?} is invalid", bad.name)));
    }
    Ok(h)
}

pub async fn redact(
    pool: &Arc<RedactorPool>,
    dir: Direction,
    texts: &[String],
) -> Result<Vec<String>, PluginError> {
    let mut lease = pool.lease().await?;
    let out = guest_call!(lease, |store, b| b
        .switchboard_plugin_text_redactor()
        .call_redact(store, dir, texts))?;
    if out.len() != texts.len() {
        return Err(lease.invalid_output(format!(
            "redactor returned {} texts for {}",
            out.len(),
            texts.len()
        )));
    }
    Ok(out)
}
