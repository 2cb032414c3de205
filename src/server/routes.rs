//! Request dispatch for both listeners, authentication with gateway keys, and the
//! bounded reading of request bodies.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use hyper::body::Incoming;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::wire::{bearer, json_response, read_body, ready};
use super::{Body, Listener, admin};
use crate::live::{LiveState, Principal};
use crate::pipeline::{self, Gateway};
use crate::reply::ApiError;
use crate::types::Endpoint;

pub async fn handle(
    gw: Arc<Gateway>,
    kind: Listener,
    peer: SocketAddr,
    req: http::Request<Incoming>,
) -> http::Response<Body> {
    match kind {
        Listener::Api => Box::pin(api(gw, req)).await,
        Listener::Admin => Box::pin(admin::handle(gw, peer.ip(), req)).await,
    }
}

fn authenticate(
    gw: &Gateway,
    live: &LiveState,
    req: &http::Request<Incoming>,
) -> Result<Principal, Box<ApiError>> {
    // Until the key store has been read, no one can say which keys exist: a virtual
    // key cannot be checked, and the gateway must not fall open.
    let unavailable = || {
        Box::new(
            ApiError::new(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "api_error",
                "the gateway's key store has not been read yet; try again shortly",
            )
            .with_code("key_store_unavailable")
            .with_retry_after(1),
        )
    };
    let loaded = gw.vkeys.loaded();
    if live.keys.is_empty() && !loaded {
        return Err(unavailable());
    }
    if live.keys.is_empty() && !gw.vkeys.any() {
        return Ok(Principal::anonymous());
    }
    let token = bearer(req).ok_or_else(|| {
        Box::new(ApiError::unauthorized(
            "You didn't provide an API key. Send it as `Authorization: Bearer <key>`.",
        ))
    })?;
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    if let Some(p) = live.keys.get(&digest) {
        return Ok(p.clone());
    }
    if !loaded {
        return Err(unavailable());
    }
    match gw.vkeys.find(&digest) {
        Some(k) if k.usable(crate::access::vkeys::now_secs()) => {
            Ok(k.principal(&live.config.teams))
        }
        Some(k) if k.revoked_at.is_none() => Err(Box::new(ApiError::unauthorized(
            "This API key has expired.",
        ))),
        _ => Err(Box::new(ApiError::unauthorized(
            "Incorrect API key provided.",
        ))),
    }
}

/// Checks the end-user token the request carries (`[auth.end_users]`), naming its end
/// user on `p`; a key that takes its end user from tokens only needs one.
/// Who asks: the key (`authenticate`), the end user (`end_user`), and the page it came
/// from, held to its key's origins when the gateway has CORS.
async fn principal_of(
    gw: &Gateway,
    live: &LiveState,
    req: &http::Request<Incoming>,
) -> Result<Principal, Box<http::Response<Body>>> {
    let mut principal = authenticate(gw, live, req).map_err(|e| Box::new(e.into_response()))?;
    end_user(gw, live, req, &mut principal)
        .await
        .map_err(|e| Box::new(e.into_response()))?;
    if let Some(cors) = &live.config.cors {
        principal.origin = super::cors::origin_of(req);
        super::cors::check(cors, &principal)?;
    }
    Ok(principal)
}

async fn end_user(
    gw: &Gateway,
    live: &LiveState,
    req: &http::Request<Incoming>,
    p: &mut Principal,
) -> Result<(), ApiError> {
    let Some(cfg) = &live.config.auth.end_users else {
        return Ok(());
    };
    let Some(token) = req.headers().get(&cfg.header) else {
        if p.user_from_jwt && p.user.is_none() {
            return Err(ApiError::new(
                http::StatusCode::UNAUTHORIZED,
                "authentication_error",
                format!(
                    "this key's requests carry a signed end-user token in {}",
                    cfg.header
                ),
            )
            .with_code("end_user_token_required"));
        }
        return Ok(());
    };
    let token = token.to_str().unwrap_or_default().trim();
    let token = token.strip_prefix("Bearer ").unwrap_or(token);
    match gw.end_users.verify(cfg, token).await {
        Ok(user) => {
            p.verified_user = Some(user);
            Ok(())
        }
        Err(e @ crate::access::end_users::EndUserError::Invalid(_)) => Err(ApiError::new(
            http::StatusCode::UNAUTHORIZED,
            "authentication_error",
            e.to_string(),
        )
        .with_code("end_user_token_invalid")),
        Err(e) => Err(ApiError::new(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            e.to_string(),
        )
        .with_code("end_user_keys_unavailable")
        .with_retry_after(1)),
    }
}

/// A route as OpenAI's model object, with what its config says of it beyond that.
fn model_object(id: &str, created: u64, route: &crate::config::Route) -> serde_json::Value {
    let mut m =
        json!({ "id": id, "object": "model", "created": created, "owned_by": "switchboard" });
    let meta = &route.meta;
    if let Some(w) = meta.context_window {
        m["context_window"] = json!(w);
    }
    if !meta.capabilities.is_empty() {
        m["capabilities"] = json!(meta.capabilities);
    }
    if let Some(d) = &meta.description {
        m["description"] = json!(d);
    }
    if !route.tags.is_empty() {
        m["tags"] = json!(route.tags);
    }
    m
}

pub(super) async fn api(gw: Arc<Gateway>, req: http::Request<Incoming>) -> http::Response<Body> {
    if req.headers().contains_key(http::header::ORIGIN)
        && let Some(cors) = gw.live.load().config.cors.clone()
        && let Some(origin) = super::cors::origin_of(&req)
    {
        if let Some(resp) = super::cors::preflight(&cors, &origin, &req) {
            return resp;
        }
        let mut resp = traced(gw, req).await;
        super::cors::allow(&cors, &origin, resp.headers_mut());
        return resp;
    }
    traced(gw, req).await
}

async fn traced(gw: Arc<Gateway>, req: http::Request<Incoming>) -> http::Response<Body> {
    // A traced gateway continues the client's trace, when it names one.
    let parent = match gw.telemetry {
        Some(_) => req
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok()),
        None => None,
    };
    if let Some(parent) = parent.and_then(crate::telemetry::traceparent) {
        return crate::telemetry::continuing(parent, api_in_trace(gw, req)).await;
    }
    api_in_trace(gw, req).await
}

async fn api_in_trace(gw: Arc<Gateway>, req: http::Request<Incoming>) -> http::Response<Body> {
    // Anthropic clients get every error in Anthropic's shape, auth errors included.
    if req.uri().path().starts_with("/v1/messages") {
        let resp = openai_api(gw, req).await;
        if resp.status().is_success() {
            return resp;
        }
        return crate::api::messages::anthropic_error(resp).await;
    }
    openai_api(gw, req).await
}

async fn openai_api(gw: Arc<Gateway>, req: http::Request<Incoming>) -> http::Response<Body> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if path == "/health" {
        return json_response(StatusCode::OK, json!({ "status": "ok" }));
    }
    if path == "/ready" {
        return ready(&gw);
    }
    let live = gw.live.load_full();
    let endpoint = match path.as_str() {
        "/v1/chat/completions" | "/v1/messages" | "/v1/messages/count_tokens" | "/v1/responses" => {
            Some(Endpoint::Chat)
        }
        "/v1/embeddings" => Some(Endpoint::Embeddings),
        _ => None,
    };
    if path.starts_with("/v1/responses/") || path == "/v1/me" || is_kept_object(&path) {
        drop(live);
        return Box::pin(by_id(gw, req, path)).await;
    }
    let is_models = path == "/v1/models" || path.starts_with("/v1/models/");
    let surface = path
        .strip_prefix("/v1/")
        .and_then(crate::native::NativeApi::surface);
    if endpoint.is_none() && !is_models && surface.is_none() {
        return ApiError::not_found(format!(
            "Unknown request URL: {method} {path}. Served: {}.",
            crate::api::surface::supported()
        ))
        .into_response();
    }
    let principal = match principal_of(&gw, &live, &req).await {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    if is_models {
        return models(&live, &principal, &method, &path);
    }
    if method != Method::POST {
        return method_not_allowed(&method, &path);
    }
    let limit = live.config.server.max_body_bytes;
    let timeout = live.config.server.client_timeout;
    drop(live);
    let posted = Posted {
        directive: crate::cache::key::directive(req.headers()),
        prompt: req
            .headers()
            .get("x-switchboard-prompt")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        // An Anthropic client's headers: forwarded when its request is passed through.
        forwarded: crate::native::client_headers(crate::native::NativeApi::Messages, req.headers()),
        content_type: req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: match read_body(req, limit, timeout).await {
            Ok(b) => b,
            Err(e) => return e.into_response(),
        },
    };
    match surface {
        Some(api) => {
            let Posted {
                directive,
                content_type,
                body,
                ..
            } = posted;
            Box::pin(crate::api::surface::handle(
                &gw,
                &principal,
                api,
                directive,
                content_type,
                body,
            ))
            .await
        }
        None => Box::pin(post(&gw, &principal, &path, endpoint, posted)).await,
    }
}

fn is_kept_object(path: &str) -> bool {
    ["/v1/files", "/v1/batches"]
        .iter()
        .any(|p| path == *p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
}

/// `/v1/files…` and `/v1/batches…`, any method.
async fn files(
    gw: Arc<Gateway>,
    req: http::Request<Incoming>,
    path: String,
) -> http::Response<Body> {
    let live = gw.live.load_full();
    let principal = match principal_of(&gw, &live, &req).await {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    let (limit, timeout) = (
        live.config.server.max_body_bytes,
        live.config.server.client_timeout,
    );
    drop(live);
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_string)
    };
    let (route, content_type) = (
        header("x-switchboard-route"),
        header(http::header::CONTENT_TYPE.as_str()),
    );
    let method = req.method().clone();
    let directive = crate::cache::key::directive(req.headers());
    let body = if method == Method::POST {
        match read_body(req, limit, timeout).await {
            Ok(b) => b,
            Err(e) => return e.into_response(),
        }
    } else {
        Bytes::new()
    };
    let req = crate::api::files::Request {
        method,
        path: &path["/v1/".len()..],
        directive,
        route,
        content_type,
        body,
    };
    Box::pin(crate::api::files::handle(&gw, &principal, req)).await
}

/// A POST's parts the handlers read, taken before its body is.
struct Posted {
    directive: crate::cache::Directive,
    /// `x-switchboard-prompt`: the prompt template a chat request is made from.
    prompt: Option<String>,
    forwarded: Vec<(String, String)>,
    content_type: Option<String>,
    body: Bytes,
}

/// A model request's shape within `server.max_items`, and for the APIs translated
/// into the chat form, its share of the translation budget (held until translated).
fn shaped(
    gw: &Gateway,
    path: &str,
    body: &[u8],
) -> Result<Option<crate::request_limits::Held>, Box<ApiError>> {
    if path == "/v1/embeddings" {
        return Ok(None);
    }
    let (max_items, memory) = {
        let live = gw.live.load();
        let s = &live.config.server;
        (s.max_items, s.translation_memory_bytes)
    };
    let items = crate::request_limits::check_items(body, max_items)?;
    if !matches!(
        path,
        "/v1/messages" | "/v1/messages/count_tokens" | "/v1/responses"
    ) {
        return Ok(None);
    }
    let budget = gw.translation_budget(memory);
    budget.hold(body, items).map(Some)
}

/// A POST to one of the model APIs: each inbound API to its handler.
async fn post(
    gw: &Gateway,
    principal: &Principal,
    path: &str,
    endpoint: Option<Endpoint>,
    p: Posted,
) -> http::Response<Body> {
    let Posted {
        directive,
        forwarded,
        mut body,
        prompt,
        ..
    } = p;
    let held = match shaped(gw, path, &body) {
        Ok(held) => held,
        Err(e) => return e.into_response(),
    };
    match path {
        "/v1/messages/count_tokens" => {
            let beta = forwarded
                .iter()
                .find(|(k, _)| k == "anthropic-beta")
                .map(|(_, v)| v.clone());
            let live = gw.live.load_full();
            return Box::pin(crate::api::messages::count_tokens(
                &live, principal, &body, beta,
            ))
            .await;
        }
        "/v1/messages" => {
            return Box::pin(crate::api::messages::handle(
                gw, principal, directive, body, forwarded, held,
            ))
            .await;
        }
        "/v1/responses" => {
            return Box::pin(crate::api::responses::handle(
                gw, principal, directive, body, held,
            ))
            .await;
        }
        _ => {}
    }
    let endpoint = endpoint.unwrap_or(Endpoint::Chat);
    let prompt = match (prompt, endpoint) {
        (Some(reference), Endpoint::Chat) => {
            match crate::manage::prompts::chat(&gw.live.load().config, &reference, &body) {
                Ok((made, label)) => {
                    body = Bytes::from(made);
                    Some(label)
                }
                Err(e) => return (*e).into_response(),
            }
        }
        _ => None,
    };
    let protocol = match endpoint {
        Endpoint::Chat => pipeline::Protocol::ChatCompletions,
        Endpoint::Embeddings => pipeline::Protocol::Embeddings,
    };
    let req = pipeline::Request {
        protocol,
        principal,
        endpoint,
        directive,
        body,
        native: None,
        pin: None,
        prompt,
        admin: false,
        parent: None,
    };
    pipeline::handle(gw, req).await
}

/// The paths that are not model requests: a response by id, the key itself, files
/// and batches.
async fn by_id(
    gw: Arc<Gateway>,
    req: http::Request<Incoming>,
    path: String,
) -> http::Response<Body> {
    if is_kept_object(&path) {
        return Box::pin(files(gw, req, path)).await;
    }
    let live = gw.live.load_full();
    let principal = match principal_of(&gw, &live, &req).await {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    drop(live);
    match path.strip_prefix("/v1/responses/") {
        Some(id) => {
            Box::pin(crate::api::responses::stored(
                &gw,
                &principal,
                req.method(),
                &percent_decode(id),
            ))
            .await
        }
        None => Box::pin(super::me::me(&gw, &principal)).await,
    }
}

/// `GET /v1/models` and `GET /v1/models/{id}`: the routes this key may use.
fn models(
    live: &LiveState,
    principal: &Principal,
    method: &Method,
    path: &str,
) -> http::Response<Body> {
    if method != Method::GET {
        return method_not_allowed(method, path);
    }
    let allowed = |m: &str| {
        principal
            .models
            .as_ref()
            .is_none_or(|ms| ms.iter().any(|x| x == m))
    };
    let created = 0;
    let now = pipeline::now_secs() as i64;
    let allowed = |m: &str| allowed(m) && pipeline::lifecycle::visible(live, m, principal, now);
    if path == "/v1/models" {
        let data: Vec<_> = live
            .config
            .routes
            .iter()
            .filter(|(m, _)| allowed(m))
            .map(|(m, r)| model_object(m, created, r))
            .collect();
        return json_response(StatusCode::OK, json!({ "object": "list", "data": data }));
    }
    let id = percent_decode(&path["/v1/models/".len()..]);
    if let Some(r) = live.config.routes.get(&id).filter(|_| allowed(&id)) {
        return json_response(StatusCode::OK, model_object(&id, created, r));
    }
    ApiError::model_not_found(&id).into_response()
}

fn method_not_allowed(method: &Method, path: &str) -> http::Response<Body> {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        format!("{method} is not allowed on {path}"),
    )
    .with_code("method_not_allowed")
    .into_response()
}

fn percent_decode(s: &str) -> String {
    String::from_utf8_lossy(&crate::percent::decode(s.as_bytes())).into_owned()
}
