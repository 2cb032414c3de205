//! The response cache on the request path: after the policies allow a request, a
//! cached route looks its answer up (unless the client said `no-cache` or
//! `no-store`) and serves a hit as JSON or as a replayed SSE stream; a miss carries
//! a `Store` to the attempt so the whole answer is kept once it succeeds. Identical
//! requests that arrive while one is being fetched wait for it (single flight).

use std::sync::Arc;

use bytes::Bytes;
use http::HeaderValue;

use super::body::{self, Endpoint, RequestFacts};
use super::ctx::{self, CacheResult, RequestCtx};
use super::error::Error;
use super::guard;
use super::request::{Native, Request};
use crate::cache::{Claim, Directive, ResponseCache, Store, key, sse};
use crate::live::{LiveRoute, LiveState, Principal};
use crate::reply::{Body, full};

pub const HEADER: &str = "x-switchboard-cache";

/// What the cache said about one request.
pub enum Lookup {
    /// A stored answer.
    Hit(Bytes),
    /// Go to the provider; keep the answer in `store` if there is one. `result` is
    /// the `x-switchboard-cache` value (`None` on routes that do not cache).
    Miss {
        store: Option<Store>,
        result: Option<CacheResult>,
    },
}

pub async fn lookup(
    cache: Option<&Arc<ResponseCache>>,
    route: &LiveRoute,
    principal: &Principal,
    (kind, body): (&str, &[u8]),
    directive: Directive,
    stream: bool,
) -> Lookup {
    let (Some(rc), Some(cache)) = (route.route.cache, cache) else {
        return Lookup::Miss {
            store: None,
            result: None,
        };
    };
    if directive == Directive::Bypass {
        return Lookup::Miss {
            store: None,
            result: Some(CacheResult::Bypass),
        };
    }
    let scope = rc.per_key.then_some(principal.key_name.as_str());
    let Some(key) = key::key(&route.route.name, kind, scope, body) else {
        return Lookup::Miss {
            store: None,
            result: Some(CacheResult::Bypass),
        };
    };
    let mut leader = None;
    if directive == Directive::Use {
        if let Some(hit) = cache.get(&key).await {
            return Lookup::Hit(hit);
        }
        match cache.claim(&key) {
            Claim::Leader(l) => leader = Some(l),
            // A streaming client does not wait for a whole answer: it goes itself.
            Claim::Follower(_) if stream => {}
            Claim::Follower(mut rx) => {
                // Woken (sender dropped) when the leader is done, stored or not.
                let _ = tokio::time::timeout(FOLLOW_FOR, rx.changed()).await;
                if let Some(hit) = cache.get(&key).await {
                    return Lookup::Hit(hit);
                }
            }
        }
    }
    Lookup::Miss {
        store: Some(Store {
            cache: cache.clone(),
            key,
            route: rc,
            leader,
            semantic: None,
        }),
        result: Some(CacheResult::Miss),
    }
}

/// How long an identical request waits for the one already asking the provider
/// before it asks too.
const FOLLOW_FOR: std::time::Duration = std::time::Duration::from_secs(30);

/// The response for a hit: the stored JSON, or for a streaming client the same
/// answer as SSE chunks. `None` when a stream is asked of something that is not a
/// chat completion (then the request goes to the provider).
pub fn hit_response(
    stored: Bytes,
    facts: &RequestFacts,
    request_id: &str,
    headers: &[(String, String)],
) -> Option<http::Response<Body>> {
    let (content_type, body) = if facts.stream {
        (
            "text/event-stream",
            sse::replay(&stored, facts.include_usage)?,
        )
    } else {
        ("application/json", stored)
    };
    Some(hit(content_type, body, request_id, headers))
}

/// The response for a hit on a passed-through answer: the bytes the client of the
/// first request got (its JSON, or its whole event stream), as they were.
pub fn native_hit(
    stored: Bytes,
    stream: bool,
    request_id: &str,
    headers: &[(String, String)],
) -> http::Response<Body> {
    let content_type = match stream {
        true => "text/event-stream",
        false => "application/json",
    };
    let mut resp = hit(content_type, stored, request_id, headers);
    resp.extensions_mut().insert(super::NativeAnswer);
    resp
}

fn hit(
    content_type: &'static str,
    body: Bytes,
    request_id: &str,
    headers: &[(String, String)],
) -> http::Response<Body> {
    let mut resp = http::Response::new(full(body));
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    h.insert(HEADER, HeaderValue::from_static("hit"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-request-id", v);
    }
    insert_headers(h, headers);
    resp
}

/// Adds headers (from policies) that are valid HTTP; others are dropped.
pub fn insert_headers(h: &mut http::HeaderMap, headers: &[(String, String)]) {
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(k, v);
        }
    }
}

/// What the cache made of a request.
pub(super) enum Cached {
    /// A stored answer, ready for the client.
    Served(http::Response<Body>),
    /// Go to the providers: where the answer is kept, and the cache's header.
    Go(Option<crate::cache::Store>, Option<ctx::CacheResult>),
}

/// Looks the request up in the route's cache: a passed-through request under its own
/// API's bytes, any other in chat (or embeddings) form; a chat request the exact cache
/// missed, by its prompt's embedding too (`semantic`).
pub(super) async fn from_cache(
    (gw, live): (&crate::gateway::Gateway, &LiveState),
    route: &LiveRoute,
    ctx: &RequestCtx,
    req: &Request<'_>,
    (native, guards): (Option<&Native>, Option<&guard::Guards>),
    facts: &RequestFacts,
    policy_headers: &[(String, String)],
) -> Result<Cached, Error> {
    let kind;
    let keyed: (&str, &[u8]) = match native {
        Some(n) => {
            kind = n.cache_kind(facts.stream);
            (&kind, &n.body)
        }
        None => (req.endpoint.label(), &req.body),
    };
    let lookup = lookup(
        live.cache.as_ref(),
        route,
        req.principal,
        keyed,
        req.directive,
        facts.stream,
    )
    .await;
    let hit = |stored: Bytes, result| async move {
        chat_hit(stored, result, (ctx, req, guards), facts, policy_headers).await
    };
    Ok(match lookup {
        Lookup::Hit(stored) => match native {
            Some(n) => {
                let saved = match facts.stream {
                    true => crate::native::stream_usage(n.api, &stored),
                    false => n.api.usage(&stored),
                };
                ctx.cache(ctx::CacheResult::Hit, saved);
                Cached::Served(native_hit(stored, facts.stream, &ctx.id, policy_headers))
            }
            None => hit(stored, (CacheResult::Hit, None)).await?,
        },
        Lookup::Miss { mut store, result } => {
            let semantic = store
                .as_ref()
                .and_then(|s| Some((s.cache.clone(), s.cache.semantic_config()?.clone())));
            let asked = native.is_none()
                && req.endpoint == Endpoint::Chat
                && req.directive == Directive::Use;
            if let (Some((cache, cfg)), Some(st), true) = (semantic, store.as_mut(), asked) {
                let per_key = st.route.per_key;
                let who = (req.principal, per_key);
                match super::semantic::lookup(gw, (&cache, &cfg), route, who, ctx, &req.body).await
                {
                    super::semantic::Semantic::Hit(stored, similarity) => {
                        let result = (CacheResult::SemanticHit, Some(similarity));
                        return hit(stored, result).await;
                    }
                    super::semantic::Semantic::Miss(entry) => st.semantic = entry.map(Arc::new),
                }
            }
            Cached::Go(store, result)
        }
    })
}

/// A stored chat answer served: judged by the request's guardrails as a fresh one would
/// be, as JSON or replayed as a stream, with what the cache did (and, for a semantic
/// hit, how similar the prompts were).
async fn chat_hit(
    stored: Bytes,
    (result, similarity): (CacheResult, Option<f32>),
    (ctx, req, guards): (&RequestCtx, &Request<'_>, Option<&guard::Guards>),
    facts: &RequestFacts,
    policy_headers: &[(String, String)],
) -> Result<Cached, Error> {
    let saved = body::usage_of(&stored);
    let stored = match guards {
        Some(g) if req.endpoint == Endpoint::Chat => g.answer(stored).await?,
        _ => stored,
    };
    // Not servable to this client (a stream of a non-chat answer): go on.
    let Some(mut resp) = hit_response(stored, facts, &ctx.id, policy_headers) else {
        return Ok(Cached::Go(None, Some(CacheResult::Miss)));
    };
    ctx.cache(result, saved);
    let h = resp.headers_mut();
    h.insert(HEADER, HeaderValue::from_static(result.label()));
    if let Some(s) = similarity
        && let Ok(v) = HeaderValue::from_str(&format!("{s:.4}"))
    {
        h.insert(super::semantic::SIMILARITY_HEADER, v);
    }
    Ok(Cached::Served(resp))
}
