//! Request-side redaction: the texts of a chat request's messages pass through the
//! route's redactors before anything leaves for a provider.

use bytes::Bytes;
use serde_json::Value;

use crate::config::OnError;
use crate::live::LiveRoute;
use crate::plugins::bindings::types::Direction;
use crate::plugins::calls;
use crate::server::error::ApiError;

/// Pointers to every message text: (message index, part index if any).
fn texts(messages: &[Value]) -> Vec<(usize, Option<usize>, String)> {
    let mut out = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        match m.get("content") {
            Some(Value::String(s)) => out.push((i, None, s.clone())),
            Some(Value::Array(parts)) => {
                for (j, p) in parts.iter().enumerate() {
                    if let Some(Value::String(t)) = p.get("text") {
                        out.push((i, Some(j), t.clone()));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

pub async fn request(route: &LiveRoute, body: &Bytes) -> Result<Bytes, ApiError> {
    let mut v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("request body is not valid JSON: {e}"), None))?;
    let Some(messages) = v.get_mut("messages").and_then(Value::as_array_mut) else {
        return Ok(body.clone());
    };
    let found = texts(messages);
    let mut current: Vec<String> = found.iter().map(|(_, _, t)| t.clone()).collect();
    for r in &route.redactors {
        match calls::redact(&r.pool, Direction::Request, &current).await {
            Ok(out) => current = out,
            Err(e) if r.spec.on_error == OnError::FailOpen => {
                tracing::warn!(error = %e, "redactor failed; skipped (fail-open)")
            }
            Err(e) => return Err(super::plugin_failed("redactor", &e)),
        }
    }
    for ((i, part, _), text) in found.iter().zip(current) {
        let slot = match part {
            None => &mut messages[*i]["content"],
            Some(j) => &mut messages[*i]["content"][*j]["text"],
        };
        *slot = Value::String(text);
    }
    Ok(Bytes::from(serde_json::to_vec(&v).map_err(|e| {
        ApiError::internal(format!("cannot encode request: {e}"))
    })?))
}
