//! `POST /v1/responses`: OpenAI's Responses API in front of every route, for the
//! clients that speak nothing else (Codex, the Vercel AI SDK's default provider, the
//! OpenAI Agents SDK). The request is translated to the chat request the pipeline runs
//! (so every provider, strategy, policy, redactor and the cache apply as usual), and
//! the answer back: a `response` object, the Responses event stream, or the pipeline's
//! error (already in OpenAI's shape). What the translation had to drop is named in
//! the answer's `x-switchboard-dropped` header.

mod kept;
mod request;
mod response;
mod stream;

pub use kept::stored;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::api::translate::{Translating, collect, is_stream};
use crate::cache::Directive;
use crate::live::Principal;
use crate::native::NativeApi;
use crate::pipeline::{self, Gateway, now_secs};
use crate::reply::{ApiError, Body, full};
use crate::types::Endpoint;

/// An answer that refuses the request.
type Refusal = Box<http::Response<Body>>;

/// The request's `input` as a list of items.
fn input_items(input: &Value) -> Vec<Value> {
    match input {
        Value::String(s) => vec![json!({ "role": "user", "content": s })],
        Value::Array(items) => items.clone(),
        _ => Vec::new(),
    }
}

/// The conversation so far: a stored response's items (its inputs, then its output)
/// before the request's own; or an error answer.
async fn continued(
    gw: &Gateway,
    principal: &Principal,
    req: &mut Value,
) -> Result<Vec<Value>, Refusal> {
    let own = resolve_references(gw, principal, input_items(&req["input"])).await?;
    let Some(prev) = req
        .as_object_mut()
        .and_then(|o| o.remove("previous_response_id"))
        .filter(|v| !v.is_null())
    else {
        if req["input"].is_array()
            && let Some(o) = req.as_object_mut()
        {
            o.insert("input".into(), Value::Array(own.clone()));
        }
        return Ok(own);
    };
    let id = prev.as_str().unwrap_or_default().to_string();
    let refuse =
        |m: String| Box::new(ApiError::invalid(m, Some("previous_response_id")).into_response());
    let stored = match gw.responses.load(principal.owner.clone(), id.clone()).await {
        None => {
            return Err(refuse(
                "previous_response_id: this gateway keeps no responses (configure [responses] to continue a conversation by id)"
                    .into(),
            ));
        }
        Some(Err(e)) => {
            tracing::warn!(error = %e, "reading a stored response failed");
            return Err(refuse(format!(
                "Previous response with id '{id}' could not be read."
            )));
        }
        Some(Ok(None)) => {
            return Err(refuse(format!(
                "Previous response with id '{id}' not found."
            )));
        }
        Some(Ok(Some(s))) => s,
    };
    let mut items = stored.input;
    items.extend(
        stored.response["output"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    );
    items.extend(own);
    // The whole conversation is bounded like any request body.
    let limit = gw.live.load().config.server.max_body_bytes;
    if serde_json::to_vec(&items).map_or(0, |b| b.len()) > limit {
        return Err(refuse(format!(
            "the conversation continued from '{id}' is longer than the {limit} bytes a request may be"
        )));
    }
    if let Some(o) = req.as_object_mut() {
        o.insert("input".into(), Value::Array(items.clone()));
    }
    Ok(items)
}

/// `item_reference` inputs replaced by the stored output items they name (this key's
/// only); one that cannot be found is a 400.
async fn resolve_references(
    gw: &Gateway,
    principal: &Principal,
    items: Vec<Value>,
) -> Result<Vec<Value>, Refusal> {
    let ids: Vec<String> = items
        .iter()
        .filter(|i| i["type"] == "item_reference")
        .map(|i| i["id"].as_str().unwrap_or_default().to_string())
        .collect();
    if ids.is_empty() {
        return Ok(items);
    }
    let refuse = |m: String| Box::new(ApiError::invalid(m, Some("input")).into_response());
    let found = match gw.responses.items(principal.owner.clone(), ids).await {
        None => {
            return Err(refuse(
                "item_reference: this gateway keeps no responses (configure [responses], or send the items themselves)"
                    .into(),
            ));
        }
        Some(Err(e)) => return Err(refuse(format!("item_reference: the store failed: {e}"))),
        Some(Ok(found)) => found,
    };
    items
        .into_iter()
        .map(|i| {
            if i["type"] != "item_reference" {
                return Ok(i);
            }
            let id = i["id"].as_str().unwrap_or_default();
            found
                .iter()
                .find(|(f, _)| f == id)
                .map(|(_, item)| item.clone())
                .ok_or_else(|| refuse(format!("item_reference: no stored item with id '{id}'")))
        })
        .collect()
}

/// A Responses request as it goes to the pipeline: the chat form (or a stand-in
/// when it may only be passed through), the client's own body for targets that speak
/// the Responses API, the conversation so far (for the store).
struct Prepared {
    translated: request::Translated,
    native: Option<pipeline::Native>,
    items: Vec<Value>,
}

/// Whether a request names responses or items kept somewhere.
fn continues(req: &Value) -> bool {
    req.get("previous_response_id")
        .is_some_and(|v| !v.is_null())
        || input_items(&req["input"])
            .iter()
            .any(|i| i["type"] == "item_reference")
}

/// What a Responses request that cannot be translated stands in as for policies and
/// routing (it may only be passed through).
fn stand_in(req: &Value) -> request::Translated {
    let text = format!("{}{}", req["instructions"], req["input"]);
    let chat = crate::native::facts_only(
        &req["model"],
        text,
        &req["max_output_tokens"],
        &req["stream"],
    );
    request::Translated {
        chat,
        dropped: Vec::new(),
    }
}

/// Records which key made a response a provider keeps (when this gateway has a store
/// and the request lets the provider keep it).
fn owner_hook(gw: &Gateway, principal: &Principal, req: &Value) -> Option<pipeline::OnId> {
    let store = gw.responses.current()?;
    if req.get("store") == Some(&Value::Bool(false)) {
        return None;
    }
    let key = principal.owner.clone();
    Some(std::sync::Arc::new(move |id: &str, provider: &str| {
        store.own_detached(crate::stores::response_store::Kept {
            id: id.to_string(),
            kind: "response".into(),
            key: key.clone(),
            provider: provider.to_string(),
        })
    }))
}

/// Resolves a continuation from this gateway's store and translates. A request
/// a target can take as it is (the route has an OpenAI target) goes that way when
/// its continuation is not ours to resolve, or it cannot be translated.
async fn prepare(
    gw: &Gateway,
    principal: &Principal,
    req: &mut Value,
    body: Bytes,
) -> Result<Prepared, Refusal> {
    let model = req["model"].as_str().unwrap_or_default().to_string();
    let serves = gw.live.load().serves_natively(&model, NativeApi::Responses);
    let continues = continues(req);
    let own = owner_hook(gw, principal, req);
    let native = |only: Option<String>| {
        let mut n = pipeline::Native::new(NativeApi::Responses, body.clone(), Vec::new());
        n.only = only;
        n.on_id = own.clone();
        n
    };
    let previous = req["previous_response_id"].as_str().map(str::to_string);
    let items = match continued(gw, principal, req).await {
        Ok(items) => items,
        Err(resp) if serves => {
            // Not kept here: the provider's own (`store` at OpenAI), at the provider
            // that made it for this key; another key's does not exist for this one.
            let why = "it continues a response this gateway does not keep";
            let mut n = native(Some(why.into()));
            if let Some(prev) = previous {
                n.provider = kept::keeper(gw, principal, &prev).await.map_err(|_| resp)?;
            }
            return Ok(Prepared {
                translated: stand_in(req),
                native: Some(n),
                items: Vec::new(),
            });
        }
        Err(resp) => return Err(resp),
    };
    // A continuation resolved here is ours: the provider has never seen its items.
    let mut native = (serves && !continues).then(|| native(None));
    let drop_builtin = gw
        .live
        .load()
        .routes
        .get(&model)
        .is_some_and(|r| r.route.builtin_tools == crate::config::BuiltinTools::Drop);
    let translated = match (request::to_chat(req, drop_builtin), native.as_mut()) {
        (Ok(t), _) => t,
        (Err(e), Some(n)) => {
            n.only = Some(format!("it cannot be translated: {e}"));
            stand_in(req)
        }
        (Err(e), None) => return Err(Box::new(ApiError::invalid(e, None).into_response())),
    };
    if let Err(e) = crate::api::translate::check_dropped(&gw.live, &translated, native.as_mut()) {
        let mut resp = ApiError::invalid(e, None).into_response();
        crate::api::translate::finish_dropped(&gw.metrics, "responses", &translated, &mut resp);
        return Err(Box::new(resp));
    }
    Ok(Prepared {
        translated,
        native,
        items,
    })
}

/// A stored prompt (`prompt: {id, version, variables}`) made into the input it makes:
/// its label, and the request's body as it now is.
fn with_prompt(
    gw: &Gateway,
    req: &mut Value,
    body: Bytes,
) -> Result<(Option<String>, Bytes), Box<ApiError>> {
    Ok(
        match crate::manage::prompts::responses(&gw.live.load().config, req)? {
            Some(label) => (
                Some(label),
                Bytes::from(serde_json::to_vec(req).unwrap_or_default()),
            ),
            None => (None, body),
        },
    )
}

/// Runs a Responses API request through the pipeline.
pub async fn handle(
    gw: &Gateway,
    principal: &Principal,
    directive: Directive,
    body: Bytes,
    held: Option<crate::request_limits::Held>,
) -> http::Response<Body> {
    let mut req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return ApiError::invalid(format!("the request body is not valid JSON: {e}"), None)
                .into_response();
        }
    };
    let (prompt, body) = match with_prompt(gw, &mut req, body) {
        Ok(p) => p,
        Err(e) => return (*e).into_response(),
    };
    let previous = req.get("previous_response_id").cloned();
    let Prepared {
        mut translated,
        native,
        items,
    } = match prepare(gw, principal, &mut req, body).await {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    let store = gw
        .responses
        .current()
        .filter(|_| req.get("store") != Some(&Value::Bool(false)));
    let mut echo = response::Echo::of(&req);
    echo.fields
        .insert("store".into(), Value::Bool(store.is_some()));
    if let Some(p) = previous {
        echo.fields.insert("previous_response_id".into(), p);
    }
    let chat = translated.take_body();
    // Translated: the parsed request and its budget are let go before the wait on
    // the provider (the input items stay, to be stored with the answer).
    drop((req, held));
    let pipeline_req = pipeline::Request {
        protocol: pipeline::Protocol::Responses,
        principal,
        endpoint: Endpoint::Chat,
        directive,
        body: chat,
        native,
        pin: None,
        prompt,
        admin: false,
        parent: None,
    };
    let resp = pipeline::handle(gw, pipeline_req).await;
    if pipeline::is_native(&resp) {
        return resp;
    }
    let key = principal.owner.clone();
    let mut resp = if !resp.status().is_success() {
        resp
    } else if is_stream(&resp) {
        let (parts, body) = resp.into_parts();
        let mut translator = stream::StreamTranslator::new(echo, now_secs());
        if let Some(store) = store {
            translator.on_done(Box::new(move |r| {
                crate::stores::response_store::save_detached(store, key, r, items)
            }));
        }
        http::Response::from_parts(parts, Translating::body(body, translator))
    } else {
        let (mut parts, body) = resp.into_parts();
        let completion: Value = serde_json::from_slice(&collect(body).await).unwrap_or(Value::Null);
        parts.headers.remove(http::header::CONTENT_LENGTH);
        let object = response::from_completion(&completion, &echo, now_secs());
        if let Some(store) = store {
            crate::stores::response_store::save_detached(store, key, object.clone(), items);
        }
        http::Response::from_parts(parts, full(object.to_string()))
    };
    crate::api::translate::finish_dropped(&gw.metrics, "responses", &translated, &mut resp);
    resp
}
