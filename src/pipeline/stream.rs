//! Streaming answers: the pump reads upstream chunks, frames SSE events, runs them
//! through the adapter's stream translator (or forwards them as they are), and a
//! task feeds the client through a bounded channel. When the client goes away the
//! task ends and drops the upstream response, which cancels the upstream request.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::Frame;
use tokio::sync::mpsc;

use super::attempt::{InFlight, Usage, usage_of};
use super::redact::StreamRedactor;
use crate::cache::Store;
use crate::cache::sse::Assembler;
use crate::live::TargetSignals;
use crate::plugins::PluginError;
use crate::plugins::calls::StreamTranslation;
use crate::reply::Body;
use crate::types::{AdapterError, PolicyRequest, SseEvent, StreamFormat};
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
    resp: reqwest::Response,
    framer: Framer,
    translator: Option<StreamTranslation>,
    idle_timeout: Duration,
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
}

impl Pump {
    pub fn new(
        resp: reqwest::Response,
        format: StreamFormat,
        translator: Option<StreamTranslation>,
        idle_timeout: Duration,
    ) -> Self {
        Pump {
            resp,
            framer: Framer::new(format),
            translator,
            idle_timeout,
            ended: false,
            saw_done: false,
            usage: None,
            reported: None,
            assembler: None,
            strip_usage: false,
            redactor: None,
        }
    }

    async fn translate(
        &mut self,
        events: Vec<SseEvent>,
        out: &mut Vec<SseEvent>,
    ) -> Result<(), StreamError> {
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

    /// Ends the stream: returns the translator's instance to its pool.
    pub async fn close(self) {
        if let Some(t) = self.translator {
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
            match tokio::time::timeout(self.idle_timeout, self.resp.chunk()).await {
                Err(_) => return Err(UpstreamError::Timeout(self.idle_timeout).into()),
                Ok(Err(e)) => return Err(UpstreamError::from_reqwest(e, self.idle_timeout).into()),
                Ok(Ok(Some(chunk))) => self.framer.push(&chunk, &mut events)?,
                Ok(Ok(None)) => {
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
            if let Some(r) = &mut self.redactor {
                out = r.process(out).await?;
            }
            // Nothing follows `[DONE]`, whoever wrote it.
            if let Some(done) = out.iter().position(|e| e.data == "[DONE]") {
                out.truncate(done + 1);
                self.ended = true;
            }
            let mut usage_only = None;
            for (i, ev) in out.iter().enumerate() {
                if let Some(a) = &mut self.assembler {
                    a.push(&ev.data);
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

/// What to settle when the stream ends.
pub struct Finish {
    pub signals: Arc<TargetSignals>,
    pub started: Instant,
    pub in_flight: InFlight,
    pub policies: super::policies::Pools,
    pub preq: PolicyRequest,
    /// Whether this stream owes the policies their record.
    pub record: bool,
    pub store: Option<Store>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub route: String,
    pub provider: String,
    pub target: crate::config::Target,
    pub request_started: Instant,
    /// The usage log and this stream's record, completed when it ends.
    pub usage_log: Option<(Arc<crate::usage::Writer>, crate::usage::Record)>,
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

/// Starts the task that feeds the client and returns the response body.
pub fn spawn(mut pump: Pump, first: Bytes, mut finish: Finish) -> Body {
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let mut ok = tx.send(first).await.is_ok();
        let mut plugin_broke = false;
        while ok {
            tokio::select! {
                _ = tx.closed() => {
                    ok = false;
                }
                next = pump.next() => match next {
                    Ok(Some(bytes)) => ok = tx.send(bytes).await.is_ok(),
                    Ok(None) => break,
                    Err(e) => {
                        plugin_broke = matches!(e, StreamError::Plugin(_));
                        let message = crate::secrets::scrub_owned(e.to_string());
                        tracing::warn!(error = %message, "stream failed after it started");
                        let _ = tx.send(error_event(message)).await;
                        ok = false;
                    }
                }
            }
        }
        finish
            .signals
            .record(ok || plugin_broke, finish.started.elapsed());
        // `ok` here means the stream reached its end and the client took all of it.
        if ok
            && let (Some(store), Some(a)) = (&finish.store, pump.assembler.take())
            && let Some(completion) = a.finish()
        {
            store.put(completion);
        }
        let usage = pump.reported.or(pump.usage).unwrap_or_default();
        let m = &finish.metrics;
        m.usage(&finish.route, &finish.provider, &finish.target, usage);
        if let Some((w, mut r)) = finish.usage_log.take() {
            r.prompt_tokens = usage.prompt;
            r.completion_tokens = usage.completion;
            r.cost_usd = crate::metrics::request::cost(&finish.target, usage);
            r.duration_ms = finish.request_started.elapsed().as_millis() as u64;
            w.record(r);
        }
        m.request_duration(
            &finish.route,
            &finish.provider,
            &finish.target.model,
            finish.request_started.elapsed(),
        );
        pump.close().await;
        if finish.record {
            super::policies::record(&finish.policies, &finish.preq, usage).await;
        }
        drop(finish.in_flight);
    });
    Body::new(ChannelBody(rx))
}

struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}
