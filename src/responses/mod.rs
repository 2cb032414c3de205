//! `POST /v1/responses`: OpenAI's Responses API in front of every route, for the
//! clients that speak nothing else (Codex, the Vercel AI SDK's default provider, the
//! OpenAI Agents SDK). The request is translated to the chat request the pipeline runs
//! (so every provider, strategy, policy, redactor and the cache apply as usual), and
//! the answer back: a `response` object, the Responses event stream, or the pipeline's
//! error (already in OpenAI's shape). What the translation had to drop is named in
//! the answer's `x-switchboard-dropped` header.

mod request;
mod response;
mod stream;

use bytes::Bytes;
use serde_json::Value;

use crate::cache::Directive;
use crate::live::Principal;
use crate::pipeline::{self, Gateway, now_secs};
use crate::reply::{ApiError, Body, full};
use crate::translate::{Translating, collect, is_stream};
use crate::types::Endpoint;

/// Runs a Responses API request through the pipeline.
pub async fn handle(
    gw: &Gateway,
    principal: &Principal,
    directive: Directive,
    body: Bytes,
) -> http::Response<Body> {
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return ApiError::invalid(format!("the request body is not valid JSON: {e}"), None)
                .into_response();
        }
    };
    let translated = match request::to_chat(&req) {
        Ok(t) => t,
        Err(e) => return ApiError::invalid(e, None).into_response(),
    };
    if let Err(e) = crate::translate::check_dropped(gw, "responses", &translated) {
        return ApiError::invalid(e, None).into_response();
    }
    let echo = response::Echo::of(&req);
    let req = pipeline::Request {
        protocol: pipeline::Protocol::Responses,
        principal,
        endpoint: Endpoint::Chat,
        directive,
        body: Bytes::from(translated.chat.to_string()),
    };
    let resp = pipeline::handle(gw, req).await;
    let mut resp = if !resp.status().is_success() {
        resp
    } else if is_stream(&resp) {
        let (parts, body) = resp.into_parts();
        let translator = stream::StreamTranslator::new(echo, now_secs());
        http::Response::from_parts(parts, Translating::body(body, translator))
    } else {
        let (mut parts, body) = resp.into_parts();
        let completion: Value = serde_json::from_slice(&collect(body).await).unwrap_or(Value::Null);
        parts.headers.remove(http::header::CONTENT_LENGTH);
        let object = response::from_completion(&completion, &echo, now_secs());
        http::Response::from_parts(parts, full(object.to_string()))
    };
    crate::translate::mark_dropped(&mut resp, &translated.dropped);
    resp
}

/// `GET` or `DELETE /v1/responses/{id}`: nothing is stored by this gateway yet.
pub fn stored(id: &str) -> http::Response<Body> {
    ApiError::not_found(format!(
        "No response with id '{id}' found: this gateway does not store responses (send the whole conversation as `input`)."
    ))
    .into_response()
}
