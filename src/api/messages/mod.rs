//! `POST /v1/messages`: Anthropic's Messages API in front of every route, so Anthropic
//! SDKs and tools can point at the gateway too. The request is translated to the
//! OpenAI chat request the pipeline runs (any provider, strategy, policy, redactor
//! and the cache apply as usual), and the answer back: a message, an Anthropic event
//! stream, or an Anthropic-shaped error with the same status and headers.

mod count;
pub(crate) mod request;
mod response;

pub use count::count_tokens;

use bytes::Bytes;
use serde_json::Value;

use crate::api::translate::{Translated, Translating, collect, is_stream};
use crate::cache::Directive;
use crate::live::Principal;
use crate::native::NativeApi;
use crate::pipeline::{self, Gateway};
use crate::reply::{Body, full};
use crate::types::Endpoint;
use response::StreamTranslator;

/// Runs an Anthropic Messages request through the pipeline: passed through to a
/// target that speaks Anthropic, translated for any other. `forwarded`: the client's
/// Anthropic headers (`anthropic-beta`, `anthropic-version`).
pub async fn handle(
    gw: &Gateway,
    principal: &Principal,
    directive: Directive,
    body: Bytes,
    forwarded: Vec<(String, String)>,
    held: Option<crate::request_limits::Held>,
) -> http::Response<Body> {
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(400, &format!("the request body is not valid JSON: {e}")),
    };
    // The body a target that speaks Anthropic is given has its system messages hoisted
    // (Anthropic refuses them in `messages`); a translation keeps them where they are.
    let mut hoisted = None;
    if req["messages"]
        .as_array()
        .is_some_and(|m| m.iter().any(|m| m["role"] == "system"))
    {
        let mut native = req.clone();
        request::hoist_system(&mut native);
        hoisted = Some(Bytes::from(native.to_string()));
    }
    let changed_body = hoisted.is_some();
    let body = hoisted.unwrap_or(body);
    let resp = answer(gw, principal, directive, body, forwarded, held, req).await;
    changed(resp, changed_body)
}

/// Says in `x-switchboard-changed` that a passed-through body had its system messages
/// hoisted into `system`.
fn changed(mut resp: http::Response<Body>, hoisted: bool) -> http::Response<Body> {
    if hoisted && pipeline::is_native(&resp) {
        resp.headers_mut().insert(
            request::CHANGED,
            http::HeaderValue::from_static("messages.system"),
        );
    }
    resp
}

async fn answer(
    gw: &Gateway,
    principal: &Principal,
    directive: Directive,
    body: Bytes,
    forwarded: Vec<(String, String)>,
    held: Option<crate::request_limits::Held>,
    req: Value,
) -> http::Response<Body> {
    let model = req["model"].as_str().unwrap_or_default();
    let anthropic_beta = forwarded.iter().any(|(k, _)| k == "anthropic-beta");
    let mut native = gw
        .live
        .load()
        .serves_natively(model, NativeApi::Messages)
        .then(|| pipeline::Native::new(NativeApi::Messages, body, forwarded));
    let mut translated = match (request::to_chat(&req), native.as_mut()) {
        (Ok(c), _) => c,
        (Err(e), Some(n)) => {
            n.only = Some(format!("it cannot be translated: {e}"));
            let text = format!("{}{}", req["system"], req["messages"]);
            let chat =
                crate::native::facts_only(&req["model"], text, &req["max_tokens"], &req["stream"]);
            Translated {
                chat,
                dropped: Vec::new(),
            }
        }
        (Err(e), None) => return error(400, &e),
    };
    if anthropic_beta {
        Translated::drop_field(&mut translated.dropped, "anthropic-beta");
    }
    if let Err(e) = crate::api::translate::check_dropped(&gw.live, &translated, native.as_mut()) {
        let mut resp = error(400, &e);
        crate::api::translate::finish_dropped(&gw.metrics, "messages", &translated, &mut resp);
        return resp;
    }
    let model = translated.chat["model"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let chat = translated.take_body();
    // Translated: the parsed request and its budget are let go before the wait on
    // the provider (only the texts stay).
    drop((req, held));
    let req = pipeline::Request {
        protocol: pipeline::Protocol::AnthropicMessages,
        principal,
        endpoint: Endpoint::Chat,
        directive,
        body: chat,
        native,
        pin: None,
        prompt: None,
        admin: false,
        parent: None,
    };
    let resp = pipeline::handle(gw, req).await;
    let mut resp = if pipeline::is_native(&resp) {
        return resp;
    } else if !resp.status().is_success() {
        anthropic_error(resp).await
    } else if is_stream(&resp) {
        let (parts, body) = resp.into_parts();
        let stream = Translating::body(body, StreamTranslator::new(&model));
        http::Response::from_parts(parts, stream)
    } else {
        let (mut parts, body) = resp.into_parts();
        let bytes = collect(body).await;
        let completion: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        parts.headers.remove(http::header::CONTENT_LENGTH);
        let message = response::message(&completion, &model).to_string();
        http::Response::from_parts(parts, full(message))
    };
    crate::api::translate::finish_dropped(&gw.metrics, "messages", &translated, &mut resp);
    resp
}

pub(crate) fn error(status: u16, message: &str) -> http::Response<Body> {
    let mut resp = http::Response::new(full(response::error_body(status, message).to_string()));
    *resp.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// An OpenAI-shaped error response in Anthropic's shape; status and headers
/// (`retry-after`, rate-limit figures, request id) stay.
pub async fn anthropic_error(resp: http::Response<Body>) -> http::Response<Body> {
    let (mut parts, body) = resp.into_parts();
    let bytes = collect(body).await;
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if v["type"] == "error" {
        return http::Response::from_parts(parts, full(bytes));
    }
    let message = v["error"]["message"]
        .as_str()
        .unwrap_or("the request failed");
    parts.headers.remove(http::header::CONTENT_LENGTH);
    parts.headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    let body = response::error_body(parts.status.as_u16(), message).to_string();
    http::Response::from_parts(parts, full(body))
}
