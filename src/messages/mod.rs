//! `POST /v1/messages`: Anthropic's Messages API in front of every route, so Anthropic
//! SDKs and tools can point at the gateway too. The request is translated to the
//! OpenAI chat request the pipeline runs (any provider, strategy, policy, redactor
//! and the cache apply as usual), and the answer back: a message, an Anthropic event
//! stream, or an Anthropic-shaped error with the same status and headers.

pub(crate) mod request;
mod response;

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use serde_json::Value;

use crate::cache::Directive;
use crate::live::Principal;
use crate::pipeline::{self, Gateway};
use crate::reply::{Body, full};
use crate::types::Endpoint;
use crate::types::SseEvent;
use crate::upstream::sse::{SseFramer, encode_all};
use response::StreamTranslator;

/// Runs an Anthropic Messages request through the pipeline.
pub async fn handle(
    gw: &Gateway,
    principal: &Principal,
    directive: Directive,
    body: Bytes,
) -> http::Response<Body> {
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(400, &format!("the request body is not valid JSON: {e}")),
    };
    let chat = match request::to_chat(&req) {
        Ok(c) => c,
        Err(e) => return error(400, &e),
    };
    let model = chat["model"].as_str().unwrap_or_default().to_string();
    let body = Bytes::from(chat.to_string());
    let req = pipeline::Request {
        protocol: pipeline::Protocol::AnthropicMessages,
        principal,
        endpoint: Endpoint::Chat,
        directive,
        body,
    };
    let resp = pipeline::handle(gw, req).await;
    let streaming = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if resp.status().is_success() && streaming {
        let (parts, body) = resp.into_parts();
        let translated = Translating {
            inner: body,
            framer: SseFramer::new(),
            translator: StreamTranslator::new(&model),
        };
        return http::Response::from_parts(parts, Body::new(translated));
    }
    if !resp.status().is_success() {
        return anthropic_error(resp).await;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = collect(body).await;
    let completion: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    http::Response::from_parts(
        parts,
        full(response::message(&completion, &model).to_string()),
    )
}

async fn collect(body: Body) -> Bytes {
    match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(never) => match never {},
    }
}

fn error(status: u16, message: &str) -> http::Response<Body> {
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

/// The pipeline's SSE body, re-framed and translated event by event.
struct Translating {
    inner: Body,
    framer: SseFramer,
    translator: StreamTranslator,
}

impl hyper::body::Body for Translating {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        loop {
            let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Ok(f))) => f,
                Poll::Ready(Some(Err(never))) => match never {},
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let me = &mut *self;
            let mut events: Vec<SseEvent> = Vec::new();
            // The gateway frames its own output: it is well-formed SSE.
            let _ = me.framer.push(&data, &mut events);
            let mut out = Vec::new();
            for ev in &events {
                me.translator.on_event(ev, &mut out);
            }
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(encode_all(&out)))));
            }
        }
    }
}
