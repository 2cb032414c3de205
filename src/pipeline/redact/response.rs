//! Redaction of a whole (non-streaming) chat answer: each choice's message `content`
//! and `refusal` pass through the route's redactors before the client (or the cache)
//! sees the answer.

use bytes::Bytes;
use serde_json::Value;

use crate::live::LivePlugin;
use crate::plugins::PluginError;
use crate::plugins::world::Redactor;
use crate::types::Direction;

const FIELDS: [&str; 2] = ["content", "refusal"];

/// The answer with its texts redacted; the same bytes when nothing changed (or the
/// answer is not a chat completion).
pub async fn answer(chain: &[LivePlugin<Redactor>], body: &Bytes) -> Result<Bytes, PluginError> {
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return Ok(body.clone());
    };
    let Some(choices) = v.get_mut("choices").and_then(Value::as_array_mut) else {
        return Ok(body.clone());
    };
    let mut slots = Vec::new();
    let mut texts = Vec::new();
    for (i, c) in choices.iter().enumerate() {
        for f in FIELDS {
            if let Some(Value::String(t)) = c.get("message").and_then(|m| m.get(f)) {
                slots.push((i, f));
                texts.push(t.clone());
            }
        }
    }
    if texts.is_empty() {
        return Ok(body.clone());
    }
    let out = super::run(chain, Direction::Response, texts.clone()).await?;
    if out == texts {
        return Ok(body.clone());
    }
    for ((i, f), text) in slots.into_iter().zip(out) {
        choices[i]["message"][f] = Value::String(text);
    }
    Ok(Bytes::from(
        serde_json::to_vec(&v).expect("a parsed JSON value re-encodes"),
    ))
}
