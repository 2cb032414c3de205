//! Objects a provider keeps for a gateway key — responses passed through with `store`,
//! uploaded files, batches — reached later by id. The store records which key made each
//! and at which provider (`response_store::Kept`); a request by id is answered only for
//! that key, and forwarded to that provider with the provider's key. Ids are checked to
//! be plain (letters, digits, `_`, `-`, `.`) before they go into a provider's URL.

use bytes::Bytes;
use http::{Method, StatusCode};

use std::sync::Arc;

use crate::live::Principal;
use crate::pipeline::{Gateway, Protocol, RequestCtx};
use crate::reply::{ApiError, Body, full};
use crate::stores::response_store::Kept;

/// Whether an id may name a kept object (and go into a URL).
pub fn plain(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// What a key may do with object `id` of `kind`.
pub enum Access {
    /// Its own, kept at this provider.
    Mine(String),
    /// Another key's (or another kind's): for this key it does not exist.
    Not,
    /// Not made through this gateway (or no store to say).
    Unknown,
}

pub async fn access(gw: &Gateway, key: &str, id: &str, kind: &str) -> Access {
    let Some(store) = gw.responses.current() else {
        return Access::Unknown;
    };
    match store.owner(id).await {
        Ok(Some(k)) if k.key != key || k.kind != kind => Access::Not,
        Ok(Some(k)) => Access::Mine(k.provider),
        Ok(None) => Access::Unknown,
        Err(e) => {
            tracing::warn!(error = %e, "reading a kept object's owner failed");
            Access::Unknown
        }
    }
}

/// Records that `key` made object `id` of `kind` at `provider` (when there is a store).
pub fn own(gw: &Gateway, id: &str, kind: &str, key: &str, provider: &str) {
    if let Some(store) = gw.responses.current() {
        store.own_detached(Kept {
            id: id.to_string(),
            kind: kind.to_string(),
            key: key.to_string(),
            provider: provider.to_string(),
        });
    }
}

/// A JSON answer with this status.
pub fn json_answer(status: StatusCode, body: impl Into<Bytes>) -> http::Response<Body> {
    let mut resp = http::Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

fn unreachable(provider: &str, why: &str) -> http::Response<Body> {
    let message = crate::secrets::scrub_owned(format!(
        "provider '{provider}', which keeps this object, could not be reached: {why}"
    ));
    ApiError::new(StatusCode::BAD_GATEWAY, "upstream_error", message).into_response()
}

/// Serves a request for kept objects through the request context, as every request is
/// served: `kind` (`files`, `batches`, `responses`) in the route's place, the provider
/// that keeps the object as the one that answered, then the one settle — the request's
/// metrics, access-log line and usage record (no tokens).
pub async fn served<F, Fut>(
    gw: &Gateway,
    principal: &Principal,
    kind: &'static str,
    f: F,
) -> http::Response<Body>
where
    F: FnOnce(Arc<RequestCtx>) -> Fut,
    Fut: Future<Output = http::Response<Body>>,
{
    let ctx = RequestCtx::new(
        Protocol::Kept(kind),
        &principal.key_name,
        gw.metrics.clone(),
        gw.usage.sink(),
        gw.access_log.sink(),
        gw.telemetry.clone(),
    );
    ctx.unrouted(kind);
    ctx.who(principal.team.as_ref(), None);
    let resp = crate::telemetry::scope(ctx.call_log(), f(ctx.clone())).await;
    ctx.head_ready();
    ctx.settle(resp.status().as_u16()).await;
    resp
}

/// One request to `provider` at `path` under its base URL.
pub struct Forward<'a> {
    /// The client's request it serves (none for the gateway's own reads).
    pub ctx: Option<&'a RequestCtx>,
    pub provider: &'a str,
    pub method: Method,
    pub path: String,
    /// A body and its content type.
    pub body: Option<(String, Bytes)>,
    /// The answer streams through as it arrives (file content), else it is read whole.
    pub binary: bool,
}

/// Sends `f` with the provider's key: its answer (status and body, keys scrubbed from
/// JSON), or a 502 saying the provider could not be reached.
pub async fn forward(gw: &Gateway, f: Forward<'_>) -> http::Response<Body> {
    let binary = f.binary;
    let (provider, ctx) = (f.provider, f.ctx);
    let (head, timeout) = match send(gw, f).await {
        Ok(sent) => sent,
        Err(resp) => {
            if let Some(ctx) = ctx {
                ctx.failed("upstream_error");
            }
            return resp;
        }
    };
    if let Some(ctx) = ctx {
        ctx.kept_at(provider);
    }
    let status = head.status();
    if binary && status.is_success() {
        let content_type = head.headers().get(http::header::CONTENT_TYPE).cloned();
        let mut resp =
            http::Response::new(crate::pipeline::binary(head.into_body(), timeout, None));
        if let Some(ct) = content_type {
            resp.headers_mut().insert(http::header::CONTENT_TYPE, ct);
        }
        return resp;
    }
    let read = crate::upstream::read_body(head, crate::upstream::MAX_UPSTREAM_BODY);
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(b)) => json_answer(status, crate::secrets::scrub_json_body(b)),
        Ok(Err(e)) => unreachable(provider, &e.to_string()),
        Err(_) => unreachable(provider, "no answer in time"),
    }
}

/// The bytes of a kept object at its provider (a file's content), at most `limit`;
/// the reason when they cannot be had.
pub async fn fetch(
    gw: &Gateway,
    provider: &str,
    path: String,
    limit: usize,
) -> Result<Bytes, String> {
    let f = Forward {
        ctx: None,
        provider,
        method: Method::GET,
        path,
        body: None,
        binary: true,
    };
    let (head, timeout) = send(gw, f)
        .await
        .map_err(|_| format!("provider {provider} could not be reached"))?;
    if !head.status().is_success() {
        return Err(format!(
            "provider {provider} answered HTTP {}",
            head.status()
        ));
    }
    let read = crate::upstream::read_body(head, limit);
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("provider {provider} gave no answer in time")),
    }
}

/// Sends `f` with the provider's key: the answer's head and the provider's timeout,
/// or the 502 saying the provider could not be reached.
async fn send(
    gw: &Gateway,
    f: Forward<'_>,
) -> Result<(crate::upstream::Answer, std::time::Duration), http::Response<Body>> {
    let live = gw.live.load_full();
    let Some(p) = live.providers.get(f.provider) else {
        return Err(unreachable(f.provider, "it is no longer configured"));
    };
    let url = format!("{}{}", p.base_url.as_str().trim_end_matches('/'), f.path);
    let mut req = http::Request::builder().method(f.method).uri(url);
    for (k, v) in &p.provider.headers {
        req = req.header(k, v);
    }
    if let Some(k) = &p.provider.api_key {
        req = req.header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", k.expose()),
        );
    }
    let body = match f.body {
        Some((ct, b)) => {
            req = req.header(http::header::CONTENT_TYPE, ct);
            b
        }
        None => Bytes::new(),
    };
    let Ok(req) = req.body(http_body_util::Full::new(body)) else {
        return Err(unreachable(f.provider, "the request could not be made"));
    };
    let timeout = p.provider.timeout;
    match tokio::time::timeout(timeout, crate::upstream::client().send(req)).await {
        Ok(Ok(r)) => Ok((r, timeout)),
        Ok(Err(e)) => Err(unreachable(f.provider, &e.to_string())),
        Err(_) => Err(unreachable(f.provider, "no answer in time")),
    }
}

/// A deleted object is no one's any more.
pub async fn forget_if_deleted(
    gw: &Gateway,
    method: &http::Method,
    id: &str,
    status: http::StatusCode,
) {
    if *method == http::Method::DELETE
        && status.is_success()
        && let Some(store) = gw.responses.current()
        && let Err(e) = store.disown(id).await
    {
        tracing::warn!(error = %e, "forgetting a kept object's owner failed");
    }
}
