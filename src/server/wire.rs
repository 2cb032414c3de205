//! The HTTP pieces every handler of both listeners shares: JSON answers, the bearer
//! token, bounded body reading, `/ready`, and whether the client came over HTTPS.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::json;

use super::{Body, full};
use crate::gateway::Gateway;
use crate::reply::ApiError;

/// A JSON answer with `status`.
pub fn json_response(status: StatusCode, v: serde_json::Value) -> http::Response<Body> {
    let mut resp = http::Response::new(full(v.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// The bearer token of a request, if any (also `x-api-key`, as Anthropic clients send).
pub fn bearer(req: &http::Request<Incoming>) -> Option<&str> {
    if let Some(v) = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        return v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .map(str::trim);
    }
    req.headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Reads a whole request body, refusing more than `limit` bytes and slow senders.
pub async fn read_body(
    req: http::Request<Incoming>,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    if let Some(len) = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(ApiError::too_large(limit));
    }
    match tokio::time::timeout(timeout, Limited::new(req.into_body(), limit).collect()).await {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            "the request body did not arrive in time",
        )),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::too_large(limit))
        }
        Ok(Err(_)) => Err(ApiError::invalid(
            "the request body could not be read",
            None,
        )),
        Ok(Ok(c)) => Ok(c.to_bytes()),
    }
}

/// `GET /ready`: 200 when this replica should get traffic, else 503 and why.
pub fn ready(gw: &Gateway) -> http::Response<Body> {
    match gw.ready() {
        Ok(()) => json_response(StatusCode::OK, json!({ "status": "ready" })),
        Err(why) => json_response(StatusCode::SERVICE_UNAVAILABLE, json!({ "status": why })),
    }
}

pub fn https(req: &http::Request<Incoming>) -> bool {
    req.headers()
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}
