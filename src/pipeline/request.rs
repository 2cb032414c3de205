//! What the pipeline is given: one client request (`Request`), the client's own
//! request for targets that speak its API (`Native`), and the plan to pass it through
//! (`native_plan`: which route can take it as it is).

use bytes::Bytes;

use super::body::{self, Endpoint};
use super::ctx::Protocol;
use super::error::Error;
use crate::cache::Directive;
use crate::live::{LiveRoute, LiveState, Principal};
use crate::native::NativeApi;
use crate::reply::Body;

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
    /// Made by a guardrail's model call for this request (`models.infer`/`embed`): it
    /// runs no guardrails of its own.
    pub parent: Option<String>,
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
    pub(super) model_span: Option<std::ops::Range<usize>>,
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
    pub(super) fn cache_kind(&self, stream: bool) -> String {
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
pub(super) fn native_plan(
    live: &LiveState,
    route: &LiveRoute,
    native: Option<Native>,
) -> Result<Option<Native>, Error> {
    let Some(mut n) = native else { return Ok(None) };
    if !live.serves_natively(&route.route.name, n.api) {
        return match n.only {
            Some(why) => Err(Error::invalid(
                format!(
                    "no target of model `{}` takes /v1/{} as it is (none speaks it, or the route redacts or judges answers), and {why}",
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
