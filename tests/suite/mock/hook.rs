//! A webhook receiver, as an alert's webhook would post to (Slack, a pager, a chat
//! bot): it keeps every JSON body it is sent, and can be told to fail the next N
//! deliveries (503 with `retry-after: 0`) or to hang, to exercise retries and timeouts.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::net::TcpListener;

#[derive(Default)]
struct State {
    bodies: Mutex<Vec<Value>>,
    attempts: AtomicUsize,
    fail_next: AtomicUsize,
    hang: AtomicBool,
}

pub struct Hook {
    pub url: String,
    state: Arc<State>,
}

async fn handle(
    st: Arc<State>,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<String> {
    st.attempts.fetch_add(1, Ordering::SeqCst);
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if st.hang.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let failing = st
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        return hyper::Response::builder()
            .status(503)
            .header("retry-after", "0")
            .body("busy".into())
            .unwrap();
    }
    st.bodies
        .lock()
        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
    hyper::Response::new("ok".into())
}

impl Hook {
    pub async fn start() -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let state = Arc::new(State::default());
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let st = st.clone();
                        async move { Ok::<_, Infallible>(handle(st, req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Hook { url, state }
    }

    /// The bodies delivered so far.
    pub fn bodies(&self) -> Vec<Value> {
        self.state.bodies.lock().clone()
    }

    /// Deliveries tried so far (failed ones included).
    pub fn attempts(&self) -> usize {
        self.state.attempts.load(Ordering::SeqCst)
    }

    pub fn fail_next(&self, n: usize) {
        self.state.fail_next.store(n, Ordering::SeqCst);
    }

    pub fn hang(&self, on: bool) {
        self.state.hang.store(on, Ordering::SeqCst);
    }

    /// Waits (up to 10 s) until `n` bodies have arrived; the bodies.
    pub async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..200 {
            if self.bodies().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.bodies()
    }
}
