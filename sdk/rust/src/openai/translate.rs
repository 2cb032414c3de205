//! What every translating adapter has around its own format: a whole answer's status
//! checked before its body is read ([`answered`]; [`forwarded`] when it is OpenAI's already), a stream translator's state kept
//! between the host's calls ([`Translation`]), and embedding vectors read
//! ([`vectors`]).

use std::cell::RefCell;

use serde_json::Value;

use super::{ChunkWriter, broken, upstream_error};
use crate::types::{
    AdapterError, RequestContext, SseEvent, TokenUsage, TranslatedAnswer, TranslatedEvents,
    UpstreamResponse,
};

/// `from-upstream` of a translating adapter: a non-2xx answer is the provider's error
/// (read by [`upstream_error`]); a 2xx body goes through `read`, which gives the
/// OpenAI body and the usage.
pub fn answered(
    resp: UpstreamResponse,
    read: impl FnOnce(&[u8]) -> Result<(Vec<u8>, TokenUsage), AdapterError>,
) -> Result<TranslatedAnswer, AdapterError> {
    if !(200..300).contains(&resp.status) {
        return Err(upstream_error(resp.status, &resp.body));
    }
    let (body, usage) = read(&resp.body)?;
    Ok(TranslatedAnswer {
        body: Some(body),
        usage: Some(usage),
    })
}

/// `from-upstream` of an adapter whose provider answers in OpenAI's format: a 2xx is
/// forwarded as it is (the host reads its `usage`), anything else is the provider's
/// error.
pub fn forwarded(resp: UpstreamResponse) -> Result<TranslatedAnswer, AdapterError> {
    if (200..300).contains(&resp.status) {
        return Ok(TranslatedAnswer {
            body: None,
            usage: None,
        });
    }
    Err(upstream_error(resp.status, &resp.body))
}

/// A stream translator's state: the request, and the [`ChunkWriter`] the upstream's
/// events are written to.
pub struct Translation {
    ctx: RequestContext,
    writer: RefCell<ChunkWriter>,
}

impl Translation {
    pub fn new(ctx: RequestContext) -> Self {
        let writer = RefCell::new(ChunkWriter::new(&ctx));
        Translation { ctx, writer }
    }

    /// One upstream event, written by `f`: the chunks to send and, once the stream is
    /// complete, its usage.
    pub fn event(
        &self,
        f: impl FnOnce(
            &RequestContext,
            &mut ChunkWriter,
            &mut Vec<SseEvent>,
        ) -> Result<(), AdapterError>,
    ) -> Result<TranslatedEvents, AdapterError> {
        let mut w = self.writer.borrow_mut();
        let mut events = Vec::new();
        f(&self.ctx, &mut w, &mut events)?;
        Ok(TranslatedEvents {
            events,
            usage: w.token_usage(),
        })
    }

    /// The upstream stream ended: a stream that said why it stopped is closed (usage
    /// chunk, `[DONE]`); one that did not was cut, and is an error naming `provider`.
    pub fn end(&self, provider: &str) -> Result<TranslatedEvents, AdapterError> {
        let mut w = self.writer.borrow_mut();
        if !w.finished() {
            return Err(broken(format!(
                "{provider}'s stream ended before its answer was complete"
            )));
        }
        let mut events = Vec::new();
        w.close(&mut events);
        Ok(TranslatedEvents {
            events,
            usage: w.token_usage(),
        })
    }
}

/// Embedding vectors from a provider's list: each item an array of numbers or an
/// object with one under `values` (Gemini).
pub fn vectors(list: Option<&Value>, provider: &str) -> Result<Vec<Vec<f64>>, AdapterError> {
    let list = list
        .and_then(Value::as_array)
        .ok_or_else(|| broken(format!("{provider} answered no embeddings")))?;
    list.iter()
        .map(|e| {
            e.get("values")
                .unwrap_or(e)
                .as_array()
                .filter(|a| a.iter().all(Value::is_number))
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .ok_or_else(|| broken(format!("a {provider} embedding is not a list of numbers")))
        })
        .collect()
}
