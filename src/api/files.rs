//! `/v1/files` and `/v1/batches`: objects an OpenAI-shaped provider keeps for a key.
//! An upload goes through the pipeline like any request — its route named by the
//! `x-switchboard-route` header, else `[files] route` — so auth, the key's model list,
//! the route's policies, failover, metrics and the usage record apply; the file id it
//! answers is recorded as this key's, at the provider that took it. Everything by id (a
//! file, its content, a batch, its cancel) goes to that provider for that key only; a
//! batch is made where its input file is, and the files it produces become its key's.
//! A list is this key's objects only. Needs the gateway's store (`[responses]`).

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api::kept::{Access, Forward, access, forward, json_answer, own, plain};
use crate::cache::Directive;
use crate::live::Principal;
use crate::native::{NativeApi, facts_only};
use crate::pipeline::{self, Gateway};
use crate::reply::{ApiError, Body};
use crate::types::Endpoint;

/// Most objects a list answers with.
const MAX_LIST: usize = 100;

/// A request to `/v1/files…` or `/v1/batches…`.
pub struct Request<'a> {
    pub method: Method,
    /// The path after `/v1/`.
    pub path: &'a str,
    pub directive: Directive,
    /// `x-switchboard-route`.
    pub route: Option<String>,
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// The path segment of a kind of kept object.
fn plural(kind: &str) -> &'static str {
    if kind == "file" { "files" } else { "batches" }
}

fn no_such(kind: &str, id: &str) -> http::Response<Body> {
    ApiError::not_found(format!("No such {kind} object: {id}")).into_response()
}

pub async fn handle(gw: &Gateway, principal: &Principal, req: Request<'_>) -> http::Response<Body> {
    if gw.responses.current().is_none() {
        return ApiError::invalid(
            "files and batches are kept per key in the gateway's store: configure [responses]",
            None,
        )
        .into_response();
    }
    let parts: Vec<&str> = req.path.split('/').collect();
    let key = principal.owner.as_str();
    match (&req.method, parts.as_slice()) {
        (&Method::POST, ["files"]) => upload(gw, principal, req).await,
        (&Method::GET, ["files"]) => {
            crate::api::kept::served(gw, principal, "files", |ctx| async move {
                list(gw, &ctx, key, "file").await
            })
            .await
        }
        (&Method::POST, ["batches"]) => create_batch(gw, principal, req.body).await,
        (&Method::GET, ["batches"]) => {
            crate::api::kept::served(gw, principal, "batches", |ctx| async move {
                list(gw, &ctx, key, "batch").await
            })
            .await
        }
        (m @ (&Method::GET | &Method::DELETE), ["files", id]) => {
            let ask = ById {
                method: m.clone(),
                kind: "file",
                id,
                tail: "",
            };
            by_id(gw, principal, ask).await
        }
        (&Method::GET, ["files", id, "content"]) => {
            let ask = ById {
                method: Method::GET,
                kind: "file",
                id,
                tail: "/content",
            };
            by_id(gw, principal, ask).await
        }
        (&Method::GET, ["batches", id]) => {
            let ask = ById {
                method: Method::GET,
                kind: "batch",
                id,
                tail: "",
            };
            by_id(gw, principal, ask).await
        }
        (&Method::POST, ["batches", id, "cancel"]) => {
            let ask = ById {
                method: Method::POST,
                kind: "batch",
                id,
                tail: "/cancel",
            };
            by_id(gw, principal, ask).await
        }
        _ => ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            format!("{} is not allowed on /v1/{}", req.method, req.path),
        )
        .into_response(),
    }
}

/// `POST /v1/files`: through the pipeline to the route's OpenAI-shaped targets.
async fn upload(gw: &Gateway, principal: &Principal, req: Request<'_>) -> http::Response<Body> {
    let Some(route) = req
        .route
        .or_else(|| gw.live.load().config.files_route.clone())
    else {
        return ApiError::invalid(
            "name the route an upload goes to with the x-switchboard-route header (or configure [files] route)",
            None,
        )
        .into_response();
    };
    let chat = facts_only(
        &json!(route),
        String::new(),
        &Value::Null,
        &Value::Bool(false),
    );
    let mut native = pipeline::Native::new(NativeApi::Files, req.body, Vec::new());
    native.only = Some("/v1/files has no chat form".into());
    native.content_type = req.content_type;
    let store = gw.responses.current();
    let key = principal.owner.clone();
    native.on_id = store.map(|store| -> pipeline::OnId {
        std::sync::Arc::new(move |id: &str, provider: &str| {
            store.own_detached(crate::stores::response_store::Kept {
                id: id.to_string(),
                kind: "file".into(),
                key: key.clone(),
                provider: provider.to_string(),
            })
        })
    });
    let req = pipeline::Request {
        protocol: pipeline::Protocol::Forwarded(NativeApi::Files),
        principal,
        endpoint: Endpoint::Chat,
        directive: req.directive,
        body: Bytes::from(chat.to_string()),
        native: Some(native),
        pin: None,
        prompt: None,
        admin: false,
        parent: None,
    };
    pipeline::handle(gw, req).await
}

/// What a request by id asks: `method` on object `id` of `kind`, and the path's tail
/// after it (`/content`, `/cancel`).
struct ById<'a> {
    method: Method,
    kind: &'static str,
    id: &'a str,
    tail: &'a str,
}

/// A kept object by id, at the provider that keeps it, for its key only.
async fn by_id(gw: &Gateway, principal: &Principal, ask: ById<'_>) -> http::Response<Body> {
    let kind = plural(ask.kind);
    crate::api::kept::served(gw, principal, kind, |ctx| async move {
        by_id_in(gw, &ctx, &principal.owner, ask).await
    })
    .await
}

async fn by_id_in(
    gw: &Gateway,
    ctx: &pipeline::RequestCtx,
    key: &str,
    ById {
        method,
        kind,
        id,
        tail,
    }: ById<'_>,
) -> http::Response<Body> {
    let label = if kind == "file" { "File" } else { "Batch" };
    let provider = match access(gw, key, id, kind).await {
        Access::Mine(p) if plain(id) => p,
        _ => return no_such(label, id),
    };
    let resp = forward(
        gw,
        Forward {
            ctx: Some(ctx),
            provider: &provider,
            method: method.clone(),
            path: format!("/{}/{id}{tail}", plural(kind)),
            body: None,
            binary: tail == "/content",
        },
    )
    .await;
    crate::api::kept::forget_if_deleted(gw, &method, id, resp.status()).await;
    if kind != "batch" || !resp.status().is_success() {
        return resp;
    }
    // The files a batch made are its key's, where the batch ran.
    let (parts, body) = resp.into_parts();
    let bytes = crate::api::translate::collect(body).await;
    if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
        for field in ["output_file_id", "error_file_id"] {
            if let Some(file) = v[field].as_str().filter(|f| plain(f)) {
                own(gw, file, "file", key, &provider);
            }
        }
    }
    http::Response::from_parts(parts, crate::reply::full(bytes))
}

/// `POST /v1/batches`: made at the provider that keeps its input file. A key limited
/// to some models gets none: the models inside a batch's file are not checked.
async fn create_batch(gw: &Gateway, principal: &Principal, body: Bytes) -> http::Response<Body> {
    if principal.models.is_some() {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            "this key may use only some models, and the models inside a batch cannot be checked",
        )
        .into_response();
    }
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return ApiError::invalid(format!("the request body is not valid JSON: {e}"), None)
                .into_response();
        }
    };
    let file = v["input_file_id"].as_str().unwrap_or_default();
    let provider = match access(gw, &principal.owner, file, "file").await {
        Access::Mine(p) => p,
        _ => {
            return ApiError::invalid(
                format!("No such File object: {file}"),
                Some("input_file_id"),
            )
            .into_response();
        }
    };
    let reservation = match reserve_batch(gw, principal, &provider, file).await {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let resp = forward(
        gw,
        Forward {
            ctx: None,
            provider: &provider,
            method: Method::POST,
            path: "/batches".into(),
            body: Some(("application/json".into(), body)),
            binary: false,
        },
    )
    .await;
    let (parts, body) = resp.into_parts();
    let bytes = crate::api::translate::collect(body).await;
    if let Some(r) = reservation {
        match parts.status.is_success() {
            true => r.charge().await,
            false => r.release(parts.status.as_u16()).await,
        }
    }
    if parts.status.is_success()
        && let Some(id) = crate::native::answer_id(&bytes).filter(|i| plain(i))
    {
        own(gw, &id, "batch", &principal.owner, &provider);
    }
    http::Response::from_parts(parts, crate::reply::full(bytes))
}

/// Largest batch input file read to count and price its requests.
const MAX_BATCH_FILE: usize = 64 << 20;

/// A batch's reservation, when any policy could apply to it: its input file read
/// from the provider, its requests counted and priced per route, and the policies
/// asked (`pipeline::offline`); the refusal as the client's answer.
async fn reserve_batch(
    gw: &Gateway,
    principal: &Principal,
    provider: &str,
    file: &str,
) -> Result<Option<pipeline::offline::Reservation>, Box<http::Response<Body>>> {
    let live = gw.live.load_full();
    let policed = !live.config.gateway_policies.is_empty()
        || !principal.policies.is_empty()
        || live.routes.values().any(|r| !r.policies.is_empty());
    drop(live);
    if !policed {
        return Ok(None);
    }
    let content = crate::api::kept::fetch(
        gw,
        provider,
        format!("/files/{file}/content"),
        MAX_BATCH_FILE,
    )
    .await
    .map_err(|e| {
        let why = format!("the batch's input file cannot be read to reserve for it: {e}");
        Box::new(ApiError::new(StatusCode::BAD_GATEWAY, "upstream_error", why).into_response())
    })?;
    let asks = crate::api::batch_file::asks(&content)
        .map_err(|e| Box::new(ApiError::invalid(e, Some("input_file_id")).into_response()))?;
    pipeline::offline::reserve(gw, principal, &asks)
        .await
        .map(Some)
        .map_err(|e| Box::new(e.into_response()))
}

/// `GET /v1/files` or `/v1/batches`: this key's objects, newest first, each as its
/// provider describes it now (one that is gone is left out).
async fn list(
    gw: &Gateway,
    ctx: &pipeline::RequestCtx,
    key: &str,
    kind: &str,
) -> http::Response<Body> {
    let Some(store) = gw.responses.current() else {
        return json_answer(
            StatusCode::OK,
            json!({ "object": "list", "data": [] }).to_string(),
        );
    };
    let owned = match store.owned(key, kind).await {
        Ok(o) => o,
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let more = owned.len() > MAX_LIST;
    let asks = owned
        .iter()
        .take(MAX_LIST)
        .filter(|(id, _)| plain(id))
        .map(|(id, p)| {
            forward(
                gw,
                Forward {
                    ctx: Some(ctx),
                    provider: p,
                    method: Method::GET,
                    path: format!("/{}/{id}", plural(kind)),
                    body: None,
                    binary: false,
                },
            )
        });
    let mut data = Vec::new();
    for resp in futures_util::future::join_all(asks).await {
        if resp.status().is_success() {
            let bytes = crate::api::translate::collect(resp.into_body()).await;
            if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                data.push(v);
            }
        }
    }
    let body = json!({ "object": "list", "data": data, "has_more": more });
    json_answer(StatusCode::OK, body.to_string())
}
