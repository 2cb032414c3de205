//! The client's side of a stream: a response body that runs the pump itself, in the
//! client connection's own task, so each chunk goes from the provider's connection to
//! the client's with no task (and no channel) between them — the way a proxy with
//! buffering off relays. Backpressure is the client's: a slow reader slows the reads
//! from the provider. The last bytes are held until the request is settled (its usage
//! and metrics on record before the client sees the end); a client that leaves stops
//! the pump at once and the stream is settled from a task.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::Frame;
use tokio::sync::Notify;

use super::stream::{Finish, Pump, StreamError};
use crate::reply::Body;
use crate::telemetry::CallLog;

/// The stream as it runs: the pump and what its end closes out.
struct Running {
    pump: Pump,
    finish: Option<Finish>,
    calls: Option<Arc<CallLog>>,
}

impl Running {
    /// The stream is over: the request's settle, then the translator's instance back.
    async fn close(&mut self, complete: bool, plugin_broke: bool) {
        if let Some(f) = self.finish.take() {
            f.close(&mut self.pump, complete, plugin_broke).await;
        }
        self.pump.close().await;
    }
}

/// What one step of the pump gave the client.
enum Step {
    /// Bytes, and more to come.
    More(Bytes),
    /// The stream is over and settled; its last bytes, if any.
    End(Option<Bytes>),
    /// The client left while the pump waited on the provider: not yet settled.
    Left,
}

type Stepping = Pin<Box<dyn Future<Output = (Box<Running>, Step)> + Send>>;

/// One step: the pump's next bytes, or its end settled.
async fn step(mut r: Box<Running>, left: Arc<Notify>) -> (Box<Running>, Step) {
    let next = tokio::select! {
        biased;
        _ = left.notified() => return (r, Step::Left),
        next = r.pump.next() => next,
    };
    let step = match next {
        Ok(Some(bytes)) if r.pump.is_done() => {
            r.close(true, false).await;
            Step::End(Some(bytes))
        }
        Ok(Some(bytes)) => Step::More(bytes),
        Ok(None) => {
            r.close(true, false).await;
            Step::End(None)
        }
        Err(e) => {
            let plugin_broke = matches!(e, StreamError::Plugin(_));
            let message = crate::secrets::scrub_owned(e.to_string());
            tracing::warn!(error = %message, "stream failed after it started");
            let event = r.pump.error_event(message);
            r.close(false, plugin_broke).await;
            Step::End(Some(event))
        }
    };
    (r, step)
}

struct Relay {
    first: Option<Bytes>,
    /// The stream between steps; `None` while a step runs or once it is over.
    idle: Option<Box<Running>>,
    stepping: Option<Stepping>,
    /// Told when the client leaves mid-step.
    left: Arc<Notify>,
}

impl Relay {
    fn start(&mut self, r: Box<Running>) -> &mut Stepping {
        let calls = r.calls.clone();
        let fut = crate::telemetry::scope(calls, step(r, self.left.clone()));
        self.stepping.insert(Box::pin(fut))
    }
}

impl hyper::body::Body for Relay {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        let stepping = match (this.stepping.as_mut(), this.idle.take()) {
            (Some(s), _) => s,
            (None, Some(r)) => this.start(r),
            (None, None) => return Poll::Ready(None),
        };
        let Poll::Ready((r, step)) = stepping.as_mut().poll(cx) else {
            return Poll::Pending;
        };
        this.stepping = None;
        match step {
            Step::More(bytes) => {
                this.idle = Some(r);
                Poll::Ready(Some(Ok(Frame::data(bytes))))
            }
            Step::End(Some(bytes)) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
            Step::End(None) | Step::Left => Poll::Ready(None),
        }
    }
}

impl Drop for Relay {
    /// The client left (or the body was dropped) before the end: the pump stops now
    /// and the stream is settled as incomplete, from a task.
    fn drop(&mut self) {
        let idle = self.idle.take();
        let stepping = self.stepping.take();
        if idle.is_none() && stepping.is_none() {
            return;
        }
        self.left.notify_one();
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            let mut r = match (idle, stepping) {
                (Some(r), _) => r,
                (None, Some(s)) => match s.await {
                    (r, Step::More(_) | Step::Left) => r,
                    (_, Step::End(_)) => return,
                },
                (None, None) => return,
            };
            let calls = r.calls.clone();
            crate::telemetry::scope(calls, r.close(false, false)).await;
        });
    }
}

/// The response body of a stream whose first bytes are `first`.
pub fn body(pump: Pump, first: Bytes, finish: Finish) -> Body {
    let calls = finish.ctx.call_log();
    Body::new(Relay {
        first: Some(first),
        idle: Some(Box::new(Running {
            pump,
            finish: Some(finish),
            calls,
        })),
        stepping: None,
        left: Arc::new(Notify::new()),
    })
}
