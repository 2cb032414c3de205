//! What every response is made of: the body type (`Body`, `full`) and the one error a
//! client ever sees, OpenAI's shape
//! `{"error":{"message","type","param","code"}}` with the matching status.
//! Messages are written for the client; nothing internal (paths, keys, traces).

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use serde_json::json;

use http_body_util::{BodyExt, Full};

use crate::secrets;

/// Every response body.
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::convert::Infallible>;

pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed_unsync()
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// OpenAI's error `type`.
    pub kind: Cow<'static, str>,
    pub message: String,
    pub param: Option<String>,
    pub code: Option<Cow<'static, str>>,
    /// Extra response headers (e.g. `retry-after`).
    pub headers: Vec<(String, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind: Cow::Borrowed(kind),
            message: message.into(),
            param: None,
            code: None,
            headers: Vec::new(),
        }
    }

    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message);
        e.param = param.map(str::to_string);
        e
    }

    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.headers.push(("retry-after".into(), secs.to_string()));
        self
    }

    pub fn with_param(mut self, param: &str) -> Self {
        self.param = Some(param.to_string());
        self
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(Cow::Borrowed(code));
        self
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "authentication_error", message)
            .with_code("invalid_api_key")
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "invalid_request_error", message).with_code("not_found")
    }

    pub fn model_not_found(model: &str) -> Self {
        let mut e = Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("The model `{model}` does not exist or you do not have access to it."),
        )
        .with_code("model_not_found");
        e.param = Some("model".into());
        e
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("request body is larger than the limit of {limit} bytes"),
        )
        .with_code("request_too_large")
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message)
    }

    /// The body, with every provider key masked in every field (the one place every
    /// error passes, whatever built it).
    pub fn body_json(&self) -> Bytes {
        Bytes::from(
            json!({ "error": {
                "message": secrets::scrub(&self.message),
                "type": self.kind,
                "param": self.param.as_deref().map(secrets::scrub),
                "code": self.code,
            }})
            .to_string(),
        )
    }

    pub fn into_response(self) -> http::Response<Body> {
        let mut resp = http::Response::new(full(self.body_json()));
        *resp.status_mut() = self.status;
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (k, v) in &self.headers {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(&secrets::scrub(v)),
            ) {
                resp.headers_mut().append(k, v);
            }
        }
        resp
    }
}

/// A body fed by `rx` as it sends (server-sent events, a forwarded stream).
pub fn channel(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Body {
    Body::new(ChannelBody(rx))
}

struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::convert::Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|o| o.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}
