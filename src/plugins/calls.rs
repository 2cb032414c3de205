//! Typed calls into each world, with the host's checks on what comes back: a plugin
//! answer that is out of range or malformed is an `invalid_output` failure of that
//! call, never something the gateway acts on.

use std::sync::Arc;

use wasmtime::component::ResourceAny;

use super::bindings::{adapter::Adapter, policy::Policy, redactor::Redactor, strategy::Strategy};
use super::bindings::types::{
    AdapterError, Decision, Direction, Header, PolicyRequest, RequestContext, RouteRequest, SseEvent,
    TargetStats, TokenUsage, UpstreamRequest, UpstreamResponse,
};
use super::{InstancePool, Lease, PluginError};

pub type AdapterPool = InstancePool<Adapter>;
pub type StrategyPool = InstancePool<Strategy>;
pub type PolicyPool = InstancePool<Policy>;
pub type RedactorPool = InstancePool<Redactor>;

/// Headers the host owns; an adapter may not set them.
const RESERVED_HEADERS: &[&str] = &["authorization", "host", "content-length", "transfer-encoding", "connection"];

fn valid_header(h: &Header) -> bool {
    http::HeaderName::from_bytes(h.name.as_bytes()).is_ok()
        && http::HeaderValue::from_str(&h.value).is_ok()
        && !RESERVED_HEADERS.contains(&h.name.to_ascii_lowercase().as_str())
}

fn check_adapter_error(e: &AdapterError) -> Result<(), String> {
    if !(400..=599).contains(&e.status) {
        return Err(format!("adapter error status {} is not an HTTP error status", e.status));
    }
    Ok(())
}

pub fn to_upstream(
    pool: &Arc<AdapterPool>,
    ctx: &RequestContext,
    body: &[u8],
) -> Result<Result<UpstreamRequest, AdapterError>, PluginError> {
    let mut lease = pool.lease()?;
    let out = lease.call(|store, b| b.switchboard_plugin_provider_adapter().call_to_upstream(store, ctx, body))?;
    let problem = match &out {
        Ok(req) if !req.path.starts_with('/') || req.path.contains("..") || req.path.contains(['\r', '\n', '#']) => {
            Some(format!("upstream path {:?} must start with '/' and stay under the base URL", req.path))
        }
        Ok(req) => req.headers.iter().find(|h| !valid_header(h)).map(|h| format!("header {:?} is invalid or reserved", h.name)),
        Err(e) => check_adapter_error(e).err(),
    };
    match problem {
        Some(p) => Err(lease.invalid_output(p)),
        None => Ok(out),
    }
}

pub fn from_upstream(
    pool: &Arc<AdapterPool>,
    ctx: &RequestContext,
    resp: &UpstreamResponse,
) -> Result<Result<Option<Vec<u8>>, AdapterError>, PluginError> {
    let mut lease = pool.lease()?;
    let out = lease.call(|store, b| b.switchboard_plugin_provider_adapter().call_from_upstream(store, ctx, resp))?;
    if let Err(e) = &out
        && let Err(p) = check_adapter_error(e)
    {
        return Err(lease.invalid_output(p));
    }
    Ok(out)
}

/// One stream being translated: holds its instance until the stream ends.
pub struct StreamTranslation {
    lease: Lease<Adapter>,
    resource: Option<ResourceAny>,
}

impl StreamTranslation {
    pub fn new(pool: &Arc<AdapterPool>, ctx: &RequestContext) -> Result<Self, PluginError> {
        let mut lease = pool.lease()?;
        let resource = lease.call(|store, b| {
            b.switchboard_plugin_provider_adapter().stream_translator().call_constructor(store, ctx)
        })?;
        Ok(StreamTranslation { lease, resource: Some(resource) })
    }

    fn checked(&mut self, out: Result<Vec<SseEvent>, AdapterError>) -> Result<Result<Vec<SseEvent>, AdapterError>, PluginError> {
        if let Err(e) = &out
            && let Err(p) = check_adapter_error(e)
        {
            self.resource = None;
            return Err(self.lease.invalid_output(p));
        }
        Ok(out)
    }

    pub fn on_event(&mut self, ev: &SseEvent) -> Result<Result<Vec<SseEvent>, AdapterError>, PluginError> {
        let Some(res) = self.resource else {
            return Ok(Ok(Vec::new()));
        };
        let out = self.lease.call(|store, b| {
            b.switchboard_plugin_provider_adapter().stream_translator().call_on_event(store, res, ev)
        });
        if out.is_err() {
            self.resource = None;
        }
        self.checked(out?)
    }

    pub fn finish(&mut self) -> Result<Result<Vec<SseEvent>, AdapterError>, PluginError> {
        let Some(res) = self.resource else {
            return Ok(Ok(Vec::new()));
        };
        let out = self.lease.call(|store, b| {
            b.switchboard_plugin_provider_adapter().stream_translator().call_finish(store, res)
        });
        if out.is_err() {
            self.resource = None;
        }
        self.checked(out?)
    }
}

impl Drop for StreamTranslation {
    fn drop(&mut self) {
        if let Some(res) = self.resource.take() {
            // A failed drop discards the instance, which is what we want anyway.
            let _ = self.lease.call(|store, _| res.resource_drop(store));
        }
    }
}

/// Asks a strategy for the order of targets. The answer must be non-empty, in
/// range and without repeats.
pub fn select(pool: &Arc<StrategyPool>, req: &RouteRequest, targets: &[TargetStats]) -> Result<Vec<usize>, PluginError> {
    let mut lease = pool.lease()?;
    let out = lease.call(|store, b| b.switchboard_plugin_load_balancer().call_select(store, req, targets))?;
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
            return Err(lease.invalid_output(format!("strategy chose target {i}, but there are only {}", targets.len())));
        }
        if std::mem::replace(&mut seen[i], true) {
            return Err(lease.invalid_output(format!("strategy chose target {i} twice")));
        }
    }
    Ok(order.into_iter().map(|i| i as usize).collect())
}

pub fn check(pool: &Arc<PolicyPool>, req: &PolicyRequest) -> Result<Decision, PluginError> {
    let mut lease = pool.lease()?;
    let d = lease.call(|store, b| b.switchboard_plugin_admission_policy().call_check(store, req))?;
    let problem = match &d {
        Decision::Allow(h) => h.iter().find(|h| !valid_header(h)).map(|h| format!("header {:?} is invalid", h.name)),
        Decision::Deny(den) if !(400..=599).contains(&den.status) => {
            Some(format!("denial status {} is not an HTTP error status", den.status))
        }
        Decision::Deny(den) => den.headers.iter().find(|h| !valid_header(h)).map(|h| format!("header {:?} is invalid", h.name)),
    };
    match problem {
        Some(p) => Err(lease.invalid_output(p)),
        None => Ok(d),
    }
}

pub fn record(pool: &Arc<PolicyPool>, req: &PolicyRequest, usage: TokenUsage) -> Result<Vec<Header>, PluginError> {
    let mut lease = pool.lease()?;
    let h = lease.call(|store, b| b.switchboard_plugin_admission_policy().call_record(store, req, usage))?;
    if let Some(bad) = h.iter().find(|h| !valid_header(h)) {
        return Err(lease.invalid_output(format!("header {:?} is invalid", bad.name)));
    }
    Ok(h)
}

pub fn redact(pool: &Arc<RedactorPool>, dir: Direction, texts: &[String]) -> Result<Vec<String>, PluginError> {
    let mut lease = pool.lease()?;
    let out = lease.call(|store, b| b.switchboard_plugin_text_redactor().call_redact(store, dir, texts))?;
    if out.len() != texts.len() {
        return Err(lease.invalid_output(format!("redactor returned {} texts for {}", out.len(), texts.len())));
    }
    Ok(out)
}
