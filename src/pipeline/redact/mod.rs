//! Redaction: texts pass through the route's redactor plugins, in order. A request's
//! message texts are masked before anything leaves for a provider (here); an answer's
//! texts before they reach the client (`response`: whole JSON answers, `stream`: SSE
//! chunks with a held-back window); passed-through bodies and streams in their own
//! API (`native`).

pub mod native;
mod response;
mod stream;

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

pub use response::answer;
pub use stream::{Masks, StreamRedactor};

use super::error::Error;
use crate::config::OnError;
use crate::live::{LivePlugin, LiveRoute};
use crate::plugins::PluginError;
use crate::plugins::calls;
use crate::plugins::world::Redactor;
use crate::types::Direction;

/// A route's redactors, in order.
pub type Chain = Arc<[LivePlugin<Redactor>]>;

/// `texts` through every redactor of `chain`. A failing fail-open redactor is
/// skipped (and logged); a failing fail-closed one fails the whole call.
pub async fn run(
    chain: &[LivePlugin<Redactor>],
    dir: Direction,
    mut texts: Vec<String>,
) -> Result<Vec<String>, PluginError> {
    for r in chain {
        match calls::redact(&r.pool, dir, &texts).await {
            Ok(out) => texts = out,
            Err(e) if r.spec.on_error == OnError::FailOpen => {
                tracing::warn!(redactor = %r.spec.name, error = %e, "redactor failed; skipped (fail-open)")
            }
            Err(e) => return Err(e),
        }
    }
    Ok(texts)
}

/// Where every message text is, (message index, part index if any), and the texts.
fn texts(messages: &[Value]) -> (Vec<(usize, Option<usize>)>, Vec<String>) {
    let (mut at, mut out) = (Vec::new(), Vec::new());
    for (i, m) in messages.iter().enumerate() {
        match m.get("content") {
            Some(Value::String(s)) => {
                at.push((i, None));
                out.push(s.clone());
            }
            Some(Value::Array(parts)) => {
                for (j, p) in parts.iter().enumerate() {
                    if let Some(Value::String(t)) = p.get("text") {
                        at.push((i, Some(j)));
                        out.push(t.clone());
                    }
                }
            }
            _ => {}
        }
    }
    (at, out)
}

/// The request body with its message texts redacted, or `None` when the redactors
/// changed nothing (the body then goes on as it came, and what was read from it
/// still holds).
pub async fn request(route: &LiveRoute, body: &Bytes) -> Result<Option<Bytes>, Error> {
    let mut v: Value = serde_json::from_slice(body)
        .map_err(|e| Error::invalid(format!("request body is not valid JSON: {e}"), None))?;
    let Some(messages) = v.get_mut("messages").and_then(Value::as_array_mut) else {
        return Ok(None);
    };
    let (at, current) = texts(messages);
    let current = run(&route.redactors, Direction::Request, current)
        .await
        .map_err(|e| Error::plugin("redactor", e))?;
    let mut changed = false;
    for ((i, part), text) in at.into_iter().zip(current) {
        let slot = match part {
            None => &mut messages[i]["content"],
            Some(j) => &mut messages[i]["content"][j]["text"],
        };
        if slot.as_str() != Some(text.as_str()) {
            *slot = Value::String(text);
            changed = true;
        }
    }
    // A `Value` read from JSON always encodes.
    Ok(changed.then(|| Bytes::from(serde_json::to_vec(&v).unwrap_or_default())))
}

/// A passed-through request's texts through the route's redactors, as the chat form's
/// are (its `model` found again when its body changed).
pub async fn passed_through(
    route: &LiveRoute,
    native: Option<super::Native>,
    ctx: &super::ctx::RequestCtx,
) -> Result<Option<super::Native>, Error> {
    let Some(mut n) = native else {
        return Ok(None);
    };
    if route.redactors.is_empty() {
        return Ok(Some(n));
    }
    let redacted = native::request(&route.redactors, n.api, &n.body)
        .await
        .map_err(|e| Error::plugin("redactor", e))?;
    if let Some(body) = redacted {
        ctx.story(|s| {
            s.masked(
                crate::usage::story::Side::Request,
                &super::lossy(&n.body),
                &super::lossy(&body),
            )
        });
        n.model_span = super::body::model_span(&body);
        n.body = body;
    }
    Ok(Some(n))
}
