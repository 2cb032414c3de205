//! The contract's errors as adapters make them: a client mistake (400 with the
//! field), a provider that broke its own format (502), and a provider's error answer
//! read from whichever shape it uses (`{"error":{"message"}}`, `{"error":"…"}`,
//! `{"message"}`, `{"detail"}`), its status kept and its kind derived from the status.

use serde_json::Value;

use crate::types::{AdapterError, ErrorKind};

/// A client-side error (HTTP 400), about `param` when given.
pub fn invalid(message: impl Into<String>, param: Option<&str>) -> AdapterError {
    AdapterError {
        status: 400,
        kind: ErrorKind::InvalidRequest,
        message: message.into(),
        param: param.map(str::to_string),
    }
}

/// The provider answered something its own format does not allow (HTTP 502).
pub fn broken(message: impl Into<String>) -> AdapterError {
    AdapterError {
        status: 502,
        kind: ErrorKind::Upstream,
        message: message.into(),
        param: None,
    }
}

/// The kind OpenAI's clients expect for an HTTP status.
pub fn kind_for_status(status: u16) -> ErrorKind {
    match status {
        400 | 413 | 422 => ErrorKind::InvalidRequest,
        401 => ErrorKind::Authentication,
        403 => ErrorKind::Permission,
        404 => ErrorKind::NotFound,
        408 | 504 => ErrorKind::Timeout,
        429 => ErrorKind::RateLimit,
        503 | 529 => ErrorKind::Overloaded,
        _ => ErrorKind::Upstream,
    }
}

/// An error with `status`, its kind from the status.
pub fn status_error(status: u16, message: impl Into<String>) -> AdapterError {
    AdapterError {
        status,
        kind: kind_for_status(status),
        message: message.into(),
        param: None,
    }
}

/// The message of a provider's error body, in any of the usual shapes.
pub fn error_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let v = match &v {
        Value::Array(a) => a.first()?.clone(),
        _ => v,
    };
    let e = v.get("error").unwrap_or(&v);
    if let Some(s) = e.as_str() {
        return Some(s.to_string());
    }
    ["message", "Message", "detail"]
        .iter()
        .find_map(|k| e.get(*k).and_then(Value::as_str))
        .map(str::to_string)
}

/// Maps a provider's non-2xx answer to the contract's error: its own message when it
/// gave one (else the start of the body), its status, the kind for that status.
pub fn upstream_error(status: u16, body: &[u8]) -> AdapterError {
    let message = error_message(body).unwrap_or_else(|| {
        let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
        if text.trim().is_empty() {
            format!("upstream answered HTTP {status}")
        } else {
            format!("upstream answered HTTP {status}: {text}")
        }
    });
    let param = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error")?.get("param")?.as_str().map(str::to_string));
    AdapterError {
        status,
        kind: kind_for_status(status),
        message,
        param,
    }
}
