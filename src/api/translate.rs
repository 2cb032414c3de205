//! What every inbound API translated onto the chat pipeline (`/v1/messages`,
//! `/v1/responses`) shares: the pipeline's SSE answer re-framed and turned, event by
//! event, into the client's own event stream, and a whole body collected.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;

use crate::reply::Body;
use crate::types::SseEvent;
use crate::upstream::sse::{SseFramer, encode_all};

/// An inbound request as the chat request the pipeline runs, and the names of the
/// request fields the translation dropped (sent back in `x-switchboard-dropped`).
pub struct Translated {
    pub chat: serde_json::Value,
    pub dropped: Vec<&'static str>,
}

impl Translated {
    /// The chat body as the pipeline is given it; the parsed form is let go, all but
    /// its `model` (what `finish_dropped` names the route by).
    pub fn take_body(&mut self) -> bytes::Bytes {
        let body = bytes::Bytes::from(self.chat.to_string());
        self.chat = serde_json::json!({ "model": self.chat["model"].take() });
        body
    }

    /// The translated chat body: a stream asks for the usage chunk, which the client's
    /// closing event (its usage) needs.
    pub fn finish(
        stream: bool,
        mut chat: serde_json::Map<String, serde_json::Value>,
        dropped: Vec<&'static str>,
    ) -> Translated {
        if stream {
            chat.insert("stream".into(), serde_json::Value::Bool(true));
            chat.insert(
                "stream_options".into(),
                serde_json::json!({ "include_usage": true }),
            );
        }
        Translated {
            chat: serde_json::Value::Object(chat),
            dropped,
        }
    }

    /// Notes a dropped field once.
    pub fn drop_field(dropped: &mut Vec<&'static str>, name: &'static str) {
        if !dropped.contains(&name) {
            dropped.push(name);
        }
    }
}

/// The answer header that names request fields a translation dropped.
pub const DROPPED: &str = "x-switchboard-dropped";

/// What the route makes of the fields a translation dropped, before routing: `Err`
/// (the message for a 400) when the route refuses unsupported fields and nothing
/// can take the request untranslated; when `native` can, the request may go only
/// where it is passed through. A route that does not exist is the pipeline's to answer.
pub fn check_dropped(
    live: &arc_swap::ArcSwap<crate::live::LiveState>,
    t: &Translated,
    native: Option<&mut crate::pipeline::Native>,
) -> Result<(), String> {
    if t.dropped.is_empty() {
        return Ok(());
    }
    let route = t.chat["model"].as_str().unwrap_or_default();
    let refuses = live
        .load()
        .routes
        .get(route)
        .is_some_and(|r| r.route.unsupported_fields == crate::config::UnsupportedFields::Error);
    if !refuses {
        return Ok(());
    }
    let fields = t.dropped.join(", ");
    match native {
        Some(n) => {
            n.only.get_or_insert(format!(
                "translating it would drop {fields} (the route has unsupported_fields = \"error\")"
            ));
            Ok(())
        }
        None => Err(format!(
            "this route's target cannot carry: {fields} (the route has unsupported_fields = \"error\")"
        )),
    }
}

/// The answer to a translated request: what was dropped is counted by field, logged
/// and named in `x-switchboard-dropped`. A passed-through answer dropped nothing.
pub fn finish_dropped(
    metrics: &crate::metrics::Metrics,
    api: &str,
    t: &Translated,
    resp: &mut http::Response<Body>,
) {
    if t.dropped.is_empty() || crate::pipeline::is_native(resp) {
        return;
    }
    let route = t.chat["model"].as_str().unwrap_or_default();
    for f in &t.dropped {
        metrics.dropped(api, route, f);
    }
    tracing::debug!(api, route, dropped = ?t.dropped, "request fields dropped by the translation");
    mark_dropped(resp, &t.dropped);
}

/// Adds the `x-switchboard-dropped` header when anything was dropped.
pub fn mark_dropped(resp: &mut http::Response<Body>, dropped: &[&'static str]) {
    if !dropped.is_empty()
        && let Ok(v) = http::HeaderValue::from_str(&dropped.join(","))
    {
        resp.headers_mut().insert(DROPPED, v);
    }
}

/// Turns the pipeline's chat-completion chunks into a client protocol's events.
pub trait EventTranslator: Send + Unpin + 'static {
    /// The client's events for one pipeline event (`[DONE]` ends the stream).
    fn on_event(&mut self, ev: &SseEvent, out: &mut Vec<SseEvent>);
}

/// The pipeline's SSE body, re-framed and translated event by event.
pub struct Translating<T> {
    inner: Body,
    framer: SseFramer,
    translator: T,
}

impl<T: EventTranslator> Translating<T> {
    pub fn body(inner: Body, translator: T) -> Body {
        Body::new(Translating {
            inner,
            framer: SseFramer::new(),
            translator,
        })
    }
}

impl<T: EventTranslator> hyper::body::Body for Translating<T> {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        loop {
            let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Ok(f))) => f,
                Poll::Ready(Some(Err(never))) => match never {},
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let me = &mut *self;
            let mut events: Vec<SseEvent> = Vec::new();
            // The gateway frames its own output: it is well-formed SSE.
            let _ = me.framer.push(&data, &mut events);
            let mut out = Vec::new();
            for ev in &events {
                me.translator.on_event(ev, &mut out);
            }
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(encode_all(&out)))));
            }
        }
    }
}

/// A whole body (the gateway's own bodies cannot fail).
pub async fn collect(body: Body) -> Bytes {
    match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(never) => match never {},
    }
}

/// Whether an answer is an event stream.
pub fn is_stream(resp: &http::Response<Body>) -> bool {
    resp.headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
}
