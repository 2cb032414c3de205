//! Streaming answers: the pump reads upstream chunks, frames SSE events, runs them
//! through the adapter's stream translator (or forwards them as they are), and a
//! task feeds the client through a bounded channel. When the client goes away the
//! task ends and drops the upstream response, which cancels the upstream request.

use std::sync::Arc;

use std::time::{Duration, Instant};

use bytes::Bytes;

use tokio::sync::mpsc;

use super::InFlight;
use crate::cache::Store;
use crate::cache::sse::Assembler;
use crate::native::StreamUsage;
use crate::pipeline::body::usage_of;
use crate::pipeline::ctx::RequestCtx;
use crate::pipeline::redact::StreamRedactor;
use crate::plugins::PluginError;
use crate::plugins::calls::StreamTranslation;
use crate::reply::Body;
use crate::types::{AdapterError, SseEvent, StreamFormat, Usage};
use crate::upstream::UpstreamError;
use crate::upstream::framing::Framer;
use crate::upstream::sse::{SseError, encode_all};

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("{0}")]
    Upstream(#[from] UpstreamError),
    #[error("{0}")]
    Framing(#[from] SseError),
    #[error("provider error (HTTP {}): {}", .0.status, .0.message)]
    Adapter(AdapterError),
    #[error("adapter failed: {0}")]
    Plugin(#[from] PluginError),
    #[error("upstream stream ended before it was complete")]
    Truncated,
    #[error("upstream stream ran longer than the provider's max_stream_duration ({0:?})")]
    TooLong(Duration),
}

impl StreamError {
    pub fn status(&self) -> Option<u16> {
        match self {
            StreamError::Upstream(UpstreamError::Timeout(_)) => Some(504),
            StreamError::Adapter(e) => Some(e.status),
            _ => None,
        }
    }
}

pub struct Pump {
    body: hyper::body::Incoming,
    framer: Framer,
    translator: Option<StreamTranslation>,
    idle_timeout: Duration,
    /// When the stream must be over (`max_stream_duration` from its start).
    deadline: Instant,
    max_duration: Duration,
    ended: bool,
    saw_done: bool,
    pub usage: Option<Usage>,
    /// The usage the translator reported (contract 0.2), which wins over `usage`.
    reported: Option<Usage>,
    /// Folds the answer for the cache, on a cached route.
    pub assembler: Option<Assembler>,
    /// The usage chunk was asked for by the gateway, not the client: keep it from them.
    pub strip_usage: bool,
    /// Masks the answer's text on a route that redacts answers.
    pub redactor: Option<StreamRedactor>,
    /// The request's guardrails judging the answer's text window by window.
    pub guard: Option<crate::pipeline::guard::StreamGuard>,
    /// A passed-through stream: its API's end event and usage.
    pub native: Option<StreamUsage>,
    /// A passed-through Bedrock stream: its `chunk` messages carry the API's events.
    pub bedrock_chunks: bool,
    /// The bytes a passed-through stream gave the client, for the cache (dropped
    /// when they outgrow what the cache keeps).
    pub raw: Option<Vec<u8>>,
    /// The most bytes `raw` may hold (the route's cache entry bound).
    pub raw_limit: usize,
    /// Told the id a passed-through Responses stream announces, with the provider.
    pub on_id: Option<(crate::pipeline::OnId, String)>,
    /// The request is traced: the chunks' `finish_reason` is kept for its span.
    pub trace_finish: bool,
    finish: Option<String>,
    /// Characters of answer text the client was sent (what an abandoned stream is
    /// charged for when the provider never says its usage).
    streamed_chars: u64,
    /// What the request's story keeps of the stream.
    pub told: Told,
}

/// What a stream keeps for its request's story: the masks its redactors wrote (when
/// `count_masks`), and where capture is on the answer, assembled, at most `limit` bytes.
#[derive(Default)]
pub struct Told {
    pub count_masks: bool,
    masked: std::collections::BTreeMap<String, u64>,
    pub capture: Option<StreamCapture>,
}

pub struct StreamCapture {
    limit: usize,
    fed: usize,
    cut: bool,
    assembler: Assembler,
    /// A passed-through stream's bytes as the client got them.
    raw: Vec<u8>,
}

impl StreamCapture {
    pub fn new(limit: usize) -> Self {
        StreamCapture {
            limit,
            fed: 0,
            cut: false,
            assembler: Assembler::default(),
            raw: Vec::new(),
        }
    }

    fn event(&mut self, data: &str) {
        self.fed += data.len();
        match self.fed > self.limit {
            true => self.cut = true,
            false => self.assembler.push(data),
        }
    }

    fn bytes(&mut self, b: &[u8]) {
        let room = self.limit.saturating_sub(self.raw.len());
        self.cut |= b.len() > room;
        self.raw.extend_from_slice(&b[..b.len().min(room)]);
    }

    /// What was kept, and whether it is less than the whole answer.
    fn finish(self) -> (Vec<u8>, bool) {
        if !self.raw.is_empty() {
            return (self.raw, self.cut);
        }
        match self.assembler.finish() {
            Some(b) => (b.to_vec(), self.cut),
            None => (Vec::new(), true),
        }
    }
}

impl Pump {
    pub fn new(
        resp: crate::upstream::Answer,
        format: StreamFormat,
        translator: Option<StreamTranslation>,
        (idle_timeout, max_duration): (Duration, Duration),
    ) -> Self {
        Pump {
            body: resp.into_body(),
            framer: Framer::new(format),
            translator,
            idle_timeout,
            deadline: Instant::now() + max_duration,
            max_duration,
            ended: false,
            saw_done: false,
            usage: None,
            reported: None,
            assembler: None,
            strip_usage: false,
            redactor: None,
            guard: None,
            native: None,
            bedrock_chunks: false,
            raw: None,
            raw_limit: 0,
            on_id: None,
            trace_finish: false,
            finish: None,
            streamed_chars: 0,
            told: Told::default(),
        }
    }

    async fn translate(
        &mut self,
        events: Vec<SseEvent>,
        out: &mut Vec<SseEvent>,
    ) -> Result<(), StreamError> {
        let events = if self.bedrock_chunks {
            super::claude::unwrap_chunks(events).map_err(StreamError::Adapter)?
        } else {
            events
        };
        match &mut self.translator {
            None => out.extend(events),
            Some(t) => {
                for ev in &events {
                    let t = t.on_event(ev).await?.map_err(StreamError::Adapter)?;
                    out.extend(t.events);
                    if t.usage.is_some() {
                        self.reported = t.usage;
                    }
                }
            }
        }
        Ok(())
    }

    /// The stream reached its end (`[DONE]` or the upstream's end): what `next` gave
    /// last is all there is.
    pub fn is_done(&self) -> bool {
        self.ended && self.saw_done
    }

    /// Ends the stream: returns the translator's instance to its pool.
    pub async fn close(&mut self) {
        if let Some(t) = self.translator.take() {
            t.close().await;
        }
    }

    /// The next bytes for the client; `None` once the stream is complete.
    pub async fn next(&mut self) -> Result<Option<Bytes>, StreamError> {
        loop {
            if self.ended {
                return Ok(None);
            }
            let mut events = Vec::new();
            let next = crate::upstream::next_data(&mut self.body);
            let left = self.deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(self.idle_timeout.min(left), next).await {
                Err(_) if left <= self.idle_timeout => {
                    return Err(StreamError::TooLong(self.max_duration));
                }
                Err(_) => return Err(UpstreamError::Timeout(self.idle_timeout).into()),
                Ok(Some(Err(e))) => return Err(e.into()),
                Ok(Some(Ok(chunk))) => self.framer.push(&chunk, &mut events)?,
                Ok(None) => {
                    self.framer.finish(&mut events)?;
                    self.ended = true;
                }
            }
            let mut out = Vec::with_capacity(events.len());
            self.translate(events, &mut out).await?;
            if self.ended
                && let Some(t) = &mut self.translator
            {
                let t = t.finish().await?.map_err(StreamError::Adapter)?;
                out.extend(t.events);
                if t.usage.is_some() {
                    self.reported = t.usage;
                }
            }
            out = self.judged(out).await?;
            if self.native.is_some() {
                if let Some(bytes) = self.native_events(&out)? {
                    return Ok(Some(bytes));
                }
                continue;
            }
            // Nothing follows `[DONE]`, whoever wrote it.
            if let Some(done) = out.iter().position(|e| e.data == "[DONE]") {
                out.truncate(done + 1);
                self.ended = true;
            }
            let mut usage_only = None;
            for (i, ev) in out.iter().enumerate() {
                self.streamed_chars += crate::pipeline::body::text_chars(&ev.data);
                if let Some(a) = &mut self.assembler {
                    a.push(&ev.data);
                }
                if let Some(c) = &mut self.told.capture {
                    c.event(&ev.data);
                }
                if self.trace_finish
                    && let Some(f) = crate::pipeline::body::finish_reason(ev.data.as_bytes())
                {
                    self.finish = Some(f);
                }
                if ev.data == "[DONE]" {
                    self.saw_done = true;
                } else if ev.data.contains("\"usage\"")
                    && let Some(u) = usage_of(ev.data.as_bytes())
                {
                    self.usage = Some(u);
                    if self.strip_usage && is_usage_only(&ev.data) {
                        usage_only = Some(i);
                    }
                }
            }
            if let Some(i) = usage_only {
                out.remove(i);
            }
            if self.ended && !self.saw_done {
                return Err(StreamError::Truncated);
            }
            if !out.is_empty() {
                // Whatever field of an event a provider put a key in.
                return Ok(Some(crate::secrets::scrub_body(encode_all(&out))));
            }
        }
    }
}

impl Pump {
    /// The stages a translated stream's events pass before the client: the route's
    /// redactors (their masks counted for the story), then its guardrails (a stopped
    /// answer is not kept for the cache).
    async fn judged(&mut self, mut out: Vec<SseEvent>) -> Result<Vec<SseEvent>, StreamError> {
        if let Some(r) = &mut self.redactor {
            let before = self.told.count_masks.then(|| data_of(&out));
            out = r.process(out).await?;
            if let Some(before) = before {
                let masked = crate::usage::story::new_masks(&before, &data_of(&out));
                for (kind, n) in masked {
                    *self.told.masked.entry(kind).or_default() += n;
                }
            }
        }
        if let Some(g) = &mut self.guard {
            out = g.process(out).await?;
            if g.stopped() {
                self.assembler = None;
            }
        }
        Ok(out)
    }

    /// A passed-through stream's events: usage folded, its end event ends it, the
    /// bytes kept for the cache; `None` when there is nothing to send yet.
    fn native_events(&mut self, out: &[SseEvent]) -> Result<Option<Bytes>, StreamError> {
        let Some(n) = &mut self.native else {
            return Ok(None);
        };
        for ev in out {
            if let Some((on_id, provider)) = &self.on_id
                && let Some(id) = crate::native::created_id(ev)
            {
                on_id(&id, provider);
                self.on_id = None;
            }
            n.observe(ev);
            self.streamed_chars += crate::pipeline::body::text_chars(&ev.data);
            if n.api.is_end(ev) {
                self.saw_done = true;
                self.ended = true;
            }
        }
        self.usage = n.usage();
        if self.ended && !self.saw_done {
            return Err(StreamError::Truncated);
        }
        if out.is_empty() {
            return Ok(None);
        }
        let bytes = crate::secrets::scrub_body(encode_all(out));
        if let Some(c) = &mut self.told.capture {
            c.bytes(&bytes);
        }
        if let Some(raw) = &mut self.raw {
            if raw.len() + bytes.len() <= self.raw_limit {
                raw.extend_from_slice(&bytes);
            } else {
                self.raw = None;
            }
        }
        Ok(Some(bytes))
    }

    /// The event that tells the client its stream broke, in its own API.
    pub(super) fn error_event(&self, message: String) -> Bytes {
        match &self.native {
            Some(n) => encode_all(&[n.api.error_event(&message)]),
            None => error_event(message),
        }
    }
}

/// The events' data, one after another (what mask counting reads).
fn data_of(events: &[SseEvent]) -> String {
    events
        .iter()
        .map(|e| e.data.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(serde::Deserialize)]
struct ChoicesOnly {
    #[serde(default)]
    choices: Vec<serde::de::IgnoredAny>,
}

/// Whether a chunk is the usage chunk (no choices): the one a client that did not ask
/// for usage must not see.
fn is_usage_only(data: &str) -> bool {
    serde_json::from_str::<ChoicesOnly>(data).is_ok_and(|c| c.choices.is_empty())
}

/// What the stream's end closes out.
pub struct Finish {
    /// The attempt's own account: settled first.
    pub tally: super::tally::Tally,
    pub store: Option<Store>,
    /// The request's context: settled when the stream ends.
    pub ctx: Arc<RequestCtx>,
}

impl Finish {
    /// The stream is over (`complete`: it reached its end and the client took all of
    /// it): signals, the cache, then the request's one settle.
    pub(super) async fn close(mut self, pump: &mut Pump, complete: bool, plugin_broke: bool) {
        let tally = &mut self.tally;
        tally.served(complete || plugin_broke);
        if complete
            && let (Some(store), Some(a)) = (&self.store, pump.assembler.take())
            && let Some(completion) = a.finish()
        {
            tally.keep(store, completion);
        }
        if complete && let (Some(store), Some(raw)) = (&self.store, pump.raw.take()) {
            tally.keep(store, Bytes::from(raw));
        }
        // The attempt is settled before the request is.
        drop(self.tally);
        let told = pump.reported.or(pump.usage).unwrap_or_default();
        if pump.is_done() {
            self.ctx.spent(told);
        } else {
            self.ctx.spent_at_least(told, pump.streamed_chars);
        }
        if let Some(f) = &pump.finish {
            self.ctx.finish_reason(f);
        }
        let told = std::mem::take(&mut pump.told);
        if let Some(c) = told.capture {
            let (kept, cut) = c.finish();
            crate::pipeline::capture::response(&self.ctx, &kept, cut);
        }
        if !told.masked.is_empty() {
            let side = crate::usage::story::Side::Response;
            self.ctx.story(|s| s.add_masked(side, told.masked));
        }
        self.ctx.settle(200).await;
    }
}

fn error_event(message: String) -> Bytes {
    let data = serde_json::json!({ "error": {
        "message": message,
        "type": "upstream_error",
        "param": null,
        "code": "stream_failed",
    }});
    encode_all(&[SseEvent {
        event: None,
        data: data.to_string(),
    }])
}

/// A binary answer (audio) forwarded as it arrives, never held whole: each chunk
/// within the provider's idle timeout; a broken or stalled upstream ends it early.
pub fn binary(
    mut body: hyper::body::Incoming,
    idle: Duration,
    in_flight: Option<InFlight>,
) -> Body {
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let _in_flight = in_flight;
        while let Ok(Some(Ok(chunk))) =
            tokio::time::timeout(idle, crate::upstream::next_data(&mut body)).await
        {
            if tx.send(chunk).await.is_err() {
                break;
            }
        }
    });
    crate::reply::channel(rx)
}
