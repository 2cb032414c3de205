//! Calls to providers: one pooled HTTP client (keep-alive, TCP_NODELAY, HTTP/2
//! where the provider offers it) and the SSE framing of their streams.

pub mod framing;
pub mod request;
pub mod sigv4;
pub mod sse;

use std::time::Duration;

/// Largest upstream answer read into memory (non-streaming answers and errors).
pub const MAX_UPSTREAM_BODY: usize = 64 << 20;

/// Errors reaching a provider; each is a reason to try the next target.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Io(String),
    #[error("answer larger than {MAX_UPSTREAM_BODY} bytes")]
    TooLarge,
}

impl UpstreamError {
    /// Classifies a client error without its URL (which may carry a query key).
    pub fn from_reqwest(e: reqwest::Error, timeout: Duration) -> Self {
        let e = e.without_url();
        if e.is_timeout() {
            UpstreamError::Timeout(timeout)
        } else if e.is_connect() {
            UpstreamError::Connect(root_cause(&e))
        } else {
            UpstreamError::Io(root_cause(&e))
        }
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

thread_local! {
    static CLIENT: reqwest::Client = build_client();
}

/// This thread's client. Each server thread runs its own runtime, and a client's
/// connections are driven by tasks of the runtime that opened them: one client per
/// thread keeps every hop of a request on one thread (no cross-thread wake-ups).
pub fn client() -> reqwest::Client {
    CLIENT.with(reqwest::Client::clone)
}

fn build_client() -> reqwest::Client {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .connect_timeout(Duration::from_secs(10))
        .no_proxy()
        // A redirect would carry the key and the body to wherever the provider
        // points: a 3xx is the provider's failure, never followed.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client configuration is static and valid")
}

/// Reads a whole body, refusing more than `limit` bytes.
pub async fn read_body(
    mut resp: reqwest::Response,
    limit: usize,
    timeout: Duration,
) -> Result<bytes::Bytes, UpstreamError> {
    let mut buf = bytes::BytesMut::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if buf.len() + c.len() > limit {
                    return Err(UpstreamError::TooLarge);
                }
                buf.extend_from_slice(&c);
            }
            Ok(None) => return Ok(buf.freeze()),
            Err(e) => return Err(UpstreamError::from_reqwest(e, timeout)),
        }
    }
}
