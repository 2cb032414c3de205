//! What every translating adapter has around its own format: its request to the
//! provider ([`translated_post`]; [`forwarded_post`] when the provider speaks OpenAI's
//! format), a whole answer's status checked before its body is read ([`answered`],
//! [`answered_by_operation`]; [`forwarded`] when it is OpenAI's already), the
//! provider's JSON read ([`provider_json`]) and its alternating turns written
//! ([`push_turn`]), a stream translator's state kept between the host's calls
//! ([`Translation`], and the whole `stream-translator` resource in
//! [`TranslatedStream`] over an adapter's [`UpstreamEvents`]), and embedding vectors
//! read ([`vectors`], [`translated_embeddings`]).

use std::cell::RefCell;
use std::marker::PhantomData;

use serde_json::{Map, Value};

use super::{ChunkWriter, Usage, broken, embeddings_answer, upstream_error};
use crate::types::{
    AdapterError, AuthScheme, BodyEdit, HttpMethod, Operation, RequestContext, SseEvent,
    StreamFormat, TokenUsage, TranslatedAnswer, TranslatedEvents, UpstreamRequest,
    UpstreamResponse,
};

/// `to-upstream`'s request of a translating adapter: a POST to `path` carrying `body`
/// (the provider's format, in place of the client's), authenticated by `auth`, its
/// answers translated back and its stream framed as `stream_format`. No query and no
/// extra headers: an adapter that needs them sets them on the result
/// (`UpstreamRequest { query, ..translated_post(…) }`).
pub fn translated_post(
    path: impl Into<String>,
    auth: AuthScheme,
    body: Vec<u8>,
    stream_format: StreamFormat,
) -> UpstreamRequest {
    UpstreamRequest {
        translate_response: true,
        stream_format,
        ..forwarded_post(path, auth, BodyEdit::Replace(body))
    }
}

/// `to-upstream`'s request of an adapter whose provider speaks OpenAI's format: a POST
/// to `path` with the client's body edited by `body`, authenticated by `auth`, its
/// successful answers and SSE streams forwarded untouched (see [`forwarded`]). Query
/// parameters, or translated streams, are set on the result.
pub fn forwarded_post(
    path: impl Into<String>,
    auth: AuthScheme,
    body: BodyEdit,
) -> UpstreamRequest {
    UpstreamRequest {
        method: HttpMethod::Post,
        path: path.into(),
        query: Vec::new(),
        headers: Vec::new(),
        auth,
        body,
        translate_response: false,
        stream_format: StreamFormat::Sse,
    }
}

/// A provider's body (a whole answer or one stream event) read as JSON; one that is not
/// JSON is the provider's fault (502), said with its name.
pub fn provider_json(body: &[u8], provider: &str) -> Result<Value, AdapterError> {
    serde_json::from_slice(body)
        .map_err(|e| broken(format!("{provider} answered invalid JSON: {e}")))
}

/// Appends a turn of `role`, its `blocks` under `key`, to a provider's `turns`, for
/// providers that want the roles to alternate: a turn with no blocks is left out, and
/// one of the last turn's role is merged into it (several tool results answering
/// parallel calls make one turn).
pub fn push_turn(turns: &mut Vec<Value>, role: &str, key: &str, blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some(last) if last["role"] == role => {
            if let Some(merged) = last[key].as_array_mut() {
                merged.extend(blocks);
            }
        }
        _ => {
            let mut turn = Map::new();
            turn.insert("role".into(), Value::from(role));
            turn.insert(key.into(), Value::Array(blocks));
            turns.push(Value::Object(turn));
        }
    }
}

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

/// [`answered`] for an adapter that translates both operations: a 2xx body is read by
/// `chat` or by `embeddings`, as the request's operation says.
pub fn answered_by_operation(
    ctx: &RequestContext,
    resp: UpstreamResponse,
    chat: impl FnOnce(&RequestContext, &[u8]) -> Result<(Vec<u8>, TokenUsage), AdapterError>,
    embeddings: impl FnOnce(&RequestContext, &[u8]) -> Result<(Vec<u8>, TokenUsage), AdapterError>,
) -> Result<TranslatedAnswer, AdapterError> {
    answered(resp, |body| match ctx.operation {
        Operation::ChatCompletions => chat(ctx, body),
        Operation::Embeddings => embeddings(ctx, body),
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

/// One upstream event as [`UpstreamEvents::translate_event`] gets it: the request, the
/// event, the stream's [`ChunkWriter`] and the chunks to send.
pub struct UpstreamEvent<'a> {
    pub ctx: &'a RequestContext,
    pub event: &'a SseEvent,
    pub writer: &'a mut ChunkWriter,
    pub out: &'a mut Vec<SseEvent>,
}

/// How a translating adapter reads its provider's stream, for [`TranslatedStream`]:
/// usually implemented by the adapter's own type.
pub trait UpstreamEvents: 'static {
    /// The provider's name, for the error of a stream cut before its answer was
    /// complete (see [`Translation::end`]).
    const PROVIDER: &'static str;

    /// Writes what one upstream event says to its writer; the chunks to send go to
    /// its `out`.
    fn translate_event(e: UpstreamEvent<'_>) -> Result<(), AdapterError>;
}

/// The `stream-translator` resource of a translating adapter
/// (`type StreamTranslator = TranslatedStream<Self>;`): each upstream event read by
/// `E` into a [`Translation`], the stream's end checked by [`Translation::end`].
pub struct TranslatedStream<E: UpstreamEvents> {
    translation: Translation,
    events: PhantomData<E>,
}

impl<E: UpstreamEvents> crate::adapter::StreamTranslator for TranslatedStream<E> {
    fn new(ctx: RequestContext) -> Self {
        TranslatedStream {
            translation: Translation::new(ctx),
            events: PhantomData,
        }
    }

    fn on_event(&self, ev: SseEvent) -> Result<TranslatedEvents, AdapterError> {
        self.translation.event(|ctx, writer, out| {
            E::translate_event(UpstreamEvent {
                ctx,
                event: &ev,
                writer,
                out,
            })
        })
    }

    fn finish(&self) -> Result<TranslatedEvents, AdapterError> {
        self.translation.end(E::PROVIDER)
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

/// `from-upstream`'s embeddings answer from a provider that numbers its vectors: the
/// objects of `list` in the order of their `index` field, each one's `vector` field
/// (read by [`vectors`]), with `prompt_tokens` as the usage.
pub fn indexed_embeddings(
    ctx: &RequestContext,
    list: Option<&Value>,
    (index, vector): (&str, &str),
    prompt_tokens: u64,
    provider: &str,
) -> Result<(Vec<u8>, TokenUsage), AdapterError> {
    let mut items: Vec<&Value> = list
        .and_then(Value::as_array)
        .ok_or_else(|| broken(format!("{provider} answered no embeddings")))?
        .iter()
        .collect();
    items.sort_by_key(|e| e.get(index).and_then(Value::as_u64).unwrap_or(u64::MAX));
    let vectors: Value = items
        .iter()
        .map(|e| e.get(vector).cloned().unwrap_or(Value::Null))
        .collect();
    translated_embeddings(ctx, Some(&vectors), prompt_tokens, provider)
}

/// `from-upstream`'s embeddings answer: the vectors of the provider's `list` (read by
/// [`vectors`]) as OpenAI's list body, with `prompt_tokens` as its usage.
pub fn translated_embeddings(
    ctx: &RequestContext,
    list: Option<&Value>,
    prompt_tokens: u64,
    provider: &str,
) -> Result<(Vec<u8>, TokenUsage), AdapterError> {
    let vectors = vectors(list, provider)?;
    let usage = Usage {
        prompt: prompt_tokens,
        completion: 0,
        cached: 0,
    };
    Ok((
        embeddings_answer(ctx, &vectors, prompt_tokens),
        usage.to_token_usage(),
    ))
}
