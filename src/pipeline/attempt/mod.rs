//! One attempt at one target: adapter `to-upstream`, the HTTP call under the
//! provider's timeout, then `from-upstream` or the stream pump. Decides whether
//! a failure is the client's (answer now) or the target's (fail over).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};

mod claude;
mod failure;
mod native;
mod outbound;
mod relay;
pub(super) mod stream;
mod tally;

pub use failure::Failure;
use tally::Tally;

use super::Outcome;
use super::body;
use super::body::RequestFacts;
use super::ctx::RequestCtx;
use super::redact::StreamRedactor;
use crate::live::{LiveProvider, LiveTarget, TargetSignals};
use crate::native::{NativeApi, StreamUsage};
use crate::plugins::calls::{self, StreamTranslation};
use crate::reply::{Body, full};
use crate::secrets;
use crate::types::{AdapterError, Operation, RequestContext, TranslatedAnswer, UpstreamResponse};
use crate::upstream::{self, MAX_UPSTREAM_BODY, UpstreamError};
use stream::{Pump, StreamError};

pub use crate::types::Usage;

/// An answer's headers as the adapter sees them (those that are text).
fn header_list(headers: &http::HeaderMap) -> Vec<crate::types::Header> {
    headers
        .iter()
        .filter_map(|(k, v)| {
            Some(crate::types::Header {
                name: k.to_string(),
                value: v.to_str().ok()?.to_string(),
            })
        })
        .collect()
}

/// `f`'s output, unless `timer` fires first.
async fn within<F: std::future::Future>(
    timer: std::pin::Pin<&mut tokio::time::Sleep>,
    f: F,
) -> Option<F::Output> {
    tokio::select! {
        biased;
        v = f => Some(v),
        _ = timer => None,
    }
}

/// Keeps `in_flight` right however the attempt ends.
pub struct InFlight(Arc<TargetSignals>);

impl InFlight {
    pub fn new(s: &Arc<TargetSignals>) -> Self {
        s.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(s.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts the time from sending to the provider until it has answered (or failed)
/// as waiting, not gateway overhead.
pub(super) struct Waiting<'a> {
    ctx: &'a super::ctx::RequestCtx,
    pub started: Instant,
    open: bool,
}

impl Waiting<'_> {
    pub fn stop(&mut self) {
        if std::mem::take(&mut self.open) {
            self.ctx.waited(self.started.elapsed());
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An answer's head, as the attempt goes on with it.
pub(super) struct Answered<'a> {
    pub resp: upstream::Answer,
    pub translate: bool,
    pub tally: Tally,
    pub waiting: Waiting<'a>,
}

/// What every attempt of one request shares.
pub struct Shared<'a> {
    pub operation: Operation,
    pub facts: &'a RequestFacts,
    pub body: &'a Bytes,
    pub policy_headers: &'a [(String, String)],
    /// Where the whole answer is kept, on a cached route.
    pub cache: Option<&'a crate::cache::Store>,
    /// The route's redactors and stream window, when answers are redacted.
    pub redact: Option<(&'a crate::pipeline::redact::Chain, usize)>,
    pub metrics: &'a Arc<crate::metrics::Metrics>,
    /// The request's context: attempts, the answer and timings are told to it.
    pub ctx: &'a Arc<RequestCtx>,
    /// The client's own request, for targets that speak its API.
    pub native: Option<&'a crate::pipeline::Native>,
    /// The request's guardrails (a stream's stage is made from them).
    pub guards: Option<&'a crate::pipeline::guard::Guards>,
}

pub struct Attempt<'a> {
    pub provider: &'a LiveProvider,
    pub target: &'a LiveTarget,
    pub ctx: RequestContext,
    /// What every attempt of this request shares (body, facts, policies).
    pub shared: &'a Shared<'a>,
}

/// Errors that are about the request itself: another target would refuse it too.
pub(super) fn is_client_error(status: u16) -> bool {
    matches!(status, 400 | 413 | 422)
}

impl<'a> Attempt<'a> {
    /// A successful status with a body that is not JSON: the target failed.
    pub(super) fn not_json(&self, status: u16, e: serde_json::Error, tally: &mut Tally) -> Outcome {
        tally.served(false);
        Outcome::Failover(Failure::InvalidJson {
            status,
            error: e.to_string(),
        })
    }

    /// The adapter's error: the client's own (its `error-kind` says so) is answered,
    /// anything else fails over.
    fn adapter_error(&self, mut e: AdapterError) -> Outcome {
        e.message = secrets::scrub_owned(e.message);
        if super::error::is_clients(&e) {
            let e = super::Error::Provider(e);
            self.shared.ctx.failed(e.label());
            return Outcome::Respond(e.into_response());
        }
        Outcome::Failover(Failure::Refused {
            status: e.status,
            message: e.message,
        })
    }

    pub(super) fn respond(
        &self,
        status: StatusCode,
        content_type: &'static str,
        body: Body,
    ) -> http::Response<Body> {
        let mut resp = http::Response::new(body);
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
        if let Ok(v) = HeaderValue::from_str(&self.ctx.request_id) {
            h.insert("x-request-id", v);
        }
        if let Ok(v) = HeaderValue::from_str(&self.provider.provider.name) {
            h.insert("x-switchboard-provider", v);
        }
        super::cached::insert_headers(h, self.shared.policy_headers);
        resp
    }

    pub async fn run(self) -> Outcome {
        if let Some(n) = self.shared.native
            && self.provider.provider.native.contains(&n.api)
        {
            return self.native(n).await;
        }
        let adapter = &self.provider.adapter;
        let mut up = match calls::to_upstream(adapter, &self.ctx, self.shared.body).await {
            Ok(Ok(up)) => up,
            Ok(Err(e)) => return self.adapter_error(e),
            Err(crate::plugins::PluginError::Call {
                kind: crate::plugins::FailureKind::Oversize,
                message,
                plugin,
            }) => {
                // The client's request, not the adapter: another target would fare
                // no better, and nothing is held against the adapter.
                let e = super::Error::TooLarge(format!("{plugin}: {message}"));
                self.shared.ctx.failed(e.label());
                return Outcome::Respond(e.into_response());
            }
            Err(e) => return Outcome::Failover(Failure::Adapter(e)),
        };
        let translate = up.translate_response;
        let credential = self.provider.provider.credential.as_ref();
        let token = match upstream::credentials::token_for(credential).await {
            Ok(t) => t,
            Err(e) => return self.no_credential(e),
        };
        let req = match self.outbound(&mut up, token.as_ref().map(|(t, p)| (&**t, *p))) {
            Ok(r) => r,
            Err(e) => return Outcome::Failover(Failure::Outbound(e)),
        };
        // One timer for the whole attempt: the answer's head and (for a whole answer)
        // its body must both arrive within the provider's timeout.
        let timer = tokio::time::sleep(self.provider.provider.timeout);
        tokio::pin!(timer);
        let answer = match self.send(req, translate, timer.as_mut()).await {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        self.token_answered(&answer, token.as_ref());
        // A translated stream answered with one JSON document is a whole answer (Tencent
        // Cloud sends its errors so, with 200): the adapter reads it.
        let json_answer = translate
            && answer
                .resp
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with("application/json"));
        if answer.resp.status().is_success() && self.ctx.stream {
            if !json_answer {
                return self.stream(answer, up.stream_format, None).await;
            }
            // Only its error is an answer a stream's client can take.
            return match self.whole(answer, timer).await {
                Outcome::Respond(r) if r.status().is_success() => {
                    Outcome::Failover(Failure::Refused {
                        status: 502,
                        message: "answered a stream request with a whole JSON answer".into(),
                    })
                }
                other => other,
            };
        }
        self.whole(answer, timer).await
    }

    /// Sends the request within the attempt's timer: the answer's head, or what its
    /// failure (a timeout, a broken connection, a redirect) amounts to.
    pub(super) async fn send(
        &self,
        req: http::Request<upstream::OutBody>,
        translate: bool,
        timer: std::pin::Pin<&mut tokio::time::Sleep>,
    ) -> Result<Answered<'a>, Outcome> {
        let signals = &self.target.signals;
        let mut tally = Tally::sent(signals);
        let started = tally.started();
        let waiting = Waiting {
            ctx: self.shared.ctx,
            started,
            open: true,
        };
        let timeout = self.provider.provider.timeout;
        let resp = match within(timer, upstream::client().send(req)).await {
            None => {
                tally.served(false);
                return Err(Outcome::Failover(Failure::Unreachable(
                    UpstreamError::Timeout(timeout),
                )));
            }
            Some(Err(e)) => {
                tally.served(false);
                return Err(Outcome::Failover(Failure::Unreachable(e)));
            }
            Some(Ok(r)) => r,
        };
        let status = resp.status().as_u16();
        signals.observe_headers(resp.headers(), status);
        if resp.status().is_redirection() {
            tally.served(false);
            return Err(Outcome::Failover(Failure::Redirect(status)));
        }
        Ok(Answered {
            resp,
            translate,
            tally,
            waiting,
        })
    }

    /// A whole (non-streamed) answer: read within the attempt's timer, mapped by the
    /// adapter where it translates (and for every error), checked, redacted, cached.
    async fn whole(
        self,
        a: Answered<'_>,
        timer: std::pin::Pin<&mut tokio::time::Sleep>,
    ) -> Outcome {
        let Answered {
            resp,
            translate,
            mut tally,
            mut waiting,
        } = a;
        let p = &self.provider.provider;
        let status = resp.status().as_u16();
        let ok = resp.status().is_success();
        // Headers go to the adapter only when it will see this answer.
        let headers = if translate || !ok {
            header_list(resp.headers())
        } else {
            Vec::new()
        };
        let body = match self.read(resp, timer, &mut tally).await {
            Ok(b) => b,
            Err(outcome) => return outcome,
        };
        waiting.stop();
        tally.answer_in();
        // A client error is an answer, not a failure of the target. A 2xx counts as a
        // success only once it proves to be a usable answer (below).
        if !ok {
            tally.served(is_client_error(status));
        }
        let (out, reported) = match self
            .mapped(ok, translate, status, headers, body, &mut tally)
            .await
        {
            Ok(m) => m,
            Err(outcome) => return outcome,
        };
        // The answer goes to the client as it is, but it must at least be JSON:
        // a provider that answers 200 with garbage is a failed target.
        let usage = match serde_json::from_slice::<super::body::UsageOnly>(&out) {
            Ok(u) => reported.unwrap_or_else(|| {
                u.usage
                    .map(super::body::UsageFields::usage)
                    .unwrap_or_default()
            }),
            Err(e) => return self.not_json(status, e, &mut tally),
        };
        tally.served(true);
        // The tokens are spent whatever happens next.
        let ctx = &self.shared.ctx;
        ctx.answered(&p.name, &self.target.target, usage);
        if ctx.traced()
            && let Some(f) = super::body::finish_reason(&out)
        {
            ctx.finish_reason(&f);
        }
        self.deliver(out, &mut tally).await
    }

    /// A whole answer's body, read within the attempt's timer.
    pub(super) async fn read(
        &self,
        resp: upstream::Answer,
        timer: std::pin::Pin<&mut tokio::time::Sleep>,
        tally: &mut Tally,
    ) -> Result<Bytes, Outcome> {
        let timeout = self.provider.provider.timeout;
        match within(timer, upstream::read_body(resp, MAX_UPSTREAM_BODY)).await {
            None => {
                tally.served(false);
                Err(Outcome::Failover(Failure::Unreachable(
                    UpstreamError::Timeout(timeout),
                )))
            }
            Some(Err(e)) => {
                tally.served(false);
                Err(Outcome::Failover(Failure::Unreachable(e)))
            }
            Some(Ok(b)) => Ok(b),
        }
    }

    /// A usable answer on its way to the client: redacted, cached, with its headers.
    async fn deliver(self, out: Bytes, tally: &mut Tally) -> Outcome {
        let out = match self.shared.redact {
            None => out,
            Some((chain, _)) => match super::redact::answer(chain, &out).await {
                Ok(b) => {
                    if b != out {
                        let lossy = String::from_utf8_lossy;
                        let side = crate::usage::story::Side::Response;
                        self.shared
                            .ctx
                            .story(|s| s.masked(side, &lossy(&out), &lossy(&b)));
                    }
                    b
                }
                // Fail-closed: the answer is not shown rather than shown unredacted.
                Err(e) => {
                    let e = super::Error::plugin("redactor", e);
                    self.shared.ctx.failed(e.label());
                    return Outcome::Respond(e.into_response());
                }
            },
        };
        super::capture::response(self.shared.ctx, &out, false);
        // On a route that passes this API through, the cache keeps only the client's
        // own bytes (a passed-through answer).
        if let Some(store) = self.shared.cache
            && self.shared.native.is_none()
        {
            tally.keep(store, out.clone());
        }
        Outcome::Respond(self.respond(StatusCode::OK, "application/json", full(out)))
    }

    /// The answer as the client gets it, and the usage the adapter reported: mapped by
    /// the adapter where it translates (and for every error answer), else scrubbed.
    async fn mapped(
        &self,
        ok: bool,
        translate: bool,
        status: u16,
        headers: Vec<crate::types::Header>,
        body: Bytes,
        tally: &mut Tally,
    ) -> Result<(Bytes, Option<Usage>), Outcome> {
        let translated = if ok && !translate {
            None
        } else {
            // The adapter sees the answer with any key already masked: what it
            // quotes or cuts of it cannot carry the key or a piece of it.
            let resp = UpstreamResponse {
                status,
                headers,
                body: secrets::scrub_json(&body).into_owned(),
            };
            match calls::from_upstream(&self.provider.adapter, &self.ctx, resp).await {
                Ok(Ok(t)) => Some(t),
                Ok(Err(e)) => {
                    if ok {
                        tally.served(false);
                    }
                    return Err(self.adapter_error(e));
                }
                Err(e) => {
                    if ok {
                        // The adapter broke, not the provider: the target is not blamed.
                        tally.served(true);
                    }
                    return Err(Outcome::Failover(Failure::Adapter(e)));
                }
            }
        };
        if !ok {
            // An adapter must map a non-2xx answer to an error; treat a mapping as one.
            return Err(Outcome::Failover(Failure::Status(status)));
        }
        // A translated answer was made from the scrubbed one above; a pass-through
        // answer is scrubbed here. Usage is what the adapter reported (0.2), else
        // the answer's OpenAI `usage`.
        Ok(match translated {
            Some(TranslatedAnswer {
                body: Some(b),
                usage,
            }) if self.shared.facts.base64_embeddings => {
                let b = super::body::embeddings_as_base64(&b).unwrap_or(b);
                (Bytes::from(b), usage)
            }
            Some(TranslatedAnswer {
                body: Some(b),
                usage,
            }) => (Bytes::from(b), usage),
            Some(TranslatedAnswer { body: None, usage }) => (secrets::scrub_json_body(body), usage),
            None => (secrets::scrub_json_body(body), None),
        })
    }

    /// What the pump does besides forwarding: for a pass-through, its API's usage and
    /// end, the raw bytes for the cache, the id for its owner; otherwise the usage chunk
    /// kept from a client that did not ask, the chat cache, redaction.
    fn set_up(&self, pump: &mut Pump, native: Option<NativeApi>) {
        let p = &self.provider.provider;
        let ctx = self.shared.ctx;
        pump.told.count_masks = self.shared.redact.is_some() && ctx.recording();
        pump.told.capture = ctx.capture_limit().map(stream::StreamCapture::new);
        match (native, self.shared.cache) {
            (Some(api), store) => {
                pump.native = Some(StreamUsage::new(api));
                pump.on_id = self
                    .shared
                    .native
                    .and_then(|n| n.on_id.clone())
                    .map(|f| (f, p.name.clone()));
                pump.redactor = StreamRedactor::for_stream(self.shared.redact, p.api_key.is_some())
                    .map(|r| r.for_native(api));
                pump.raw = store.map(|_| Vec::new());
                pump.raw_limit = store.map_or(0, |s| s.route.max_entry_bytes);
            }
            (None, store) => {
                pump.strip_usage = self.ctx.include_usage && !self.shared.facts.include_usage;
                if store.is_some() && self.shared.native.is_none() {
                    pump.assembler = Some(Default::default());
                }
                pump.redactor = StreamRedactor::for_stream(self.shared.redact, p.api_key.is_some());
                pump.guard = self
                    .shared
                    .guards
                    .and_then(crate::pipeline::guard::Guards::stream);
            }
        }
    }

    /// A streamed answer: translated by the adapter's stream translator, forwarded as
    /// it is, or (`native`) passed through in the client's own API.
    pub(super) async fn stream(
        self,
        answer: Answered<'_>,
        format: crate::types::StreamFormat,
        native: Option<NativeApi>,
    ) -> Outcome {
        let Answered {
            resp,
            translate,
            mut tally,
            mut waiting,
        } = answer;
        let p = &self.provider.provider;
        let translator = if translate && native.is_none() {
            match StreamTranslation::new(&self.provider.adapter, &self.ctx).await {
                Ok(t) => Some(t),
                Err(e) => return Outcome::Failover(Failure::Adapter(e)),
            }
        } else {
            None
        };
        let mut pump = Pump::new(resp, format, translator, (p.timeout, p.max_stream_duration));
        pump.bedrock_chunks =
            native.is_some() && format == crate::types::StreamFormat::AwsEventstream;
        pump.trace_finish = self.shared.ctx.traced();
        self.set_up(&mut pump, native);
        // Nothing has reached the client yet: a failure before the first event
        // still fails over to the next target.
        let first = match pump.next().await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                tally.served(false);
                return Outcome::Failover(Failure::EmptyStream);
            }
            Err(e) => {
                // A broken translator is the adapter's failure, not the provider's.
                tally.served(matches!(e, StreamError::Plugin(_)));
                return Outcome::Failover(Failure::Stream(e));
            }
        };
        waiting.stop();
        tally.first_byte();
        let ctx = self.shared.ctx.clone();
        ctx.first_byte();
        ctx.answered(&p.name, &self.target.target, Usage::default());
        let body = relay::body(
            pump,
            first,
            stream::Finish {
                tally,
                store: self.shared.cache.cloned(),
                ctx,
            },
        );
        let mut resp = self.respond(StatusCode::OK, "text/event-stream", body);
        if native.is_some() {
            resp.extensions_mut().insert(super::NativeAnswer);
        }
        Outcome::Respond(resp)
    }
}
