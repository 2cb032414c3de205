//! Calls to providers: one pooled hyper client per thread (keep-alive, TCP_NODELAY,
//! rustls with the platform's verifier, HTTP/2 where the provider offers it), the
//! outbound request (`request`), SigV4 signing and the framing of their streams.

pub mod credentials;
pub mod framing;
pub mod request;
pub mod sigv4;
pub mod sse;
pub mod tc3;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

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
    /// Classifies a failed send (hyper errors never carry the URL, so no query key).
    pub fn from_client(e: &hyper_util::client::legacy::Error) -> Self {
        if e.is_connect() {
            UpstreamError::Connect(root_cause(e))
        } else {
            UpstreamError::Io(root_cause(e))
        }
    }

    /// Classifies a failed read of an answer's body.
    pub fn from_body(e: &hyper::Error) -> Self {
        UpstreamError::Io(root_cause(e))
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// The body every upstream request is sent with.
pub type OutBody = http_body_util::Full<Bytes>;

/// An answer from a provider.
pub type Answer = http::Response<Incoming>;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The upstream client: hyper's, driven directly (no redirect following, no proxy, no
/// retries of its own: the pipeline decides all of that).
#[derive(Clone)]
pub struct Client(hyper_util::client::legacy::Client<Connector, OutBody>);

impl Client {
    pub async fn send(&self, req: http::Request<OutBody>) -> Result<Answer, UpstreamError> {
        self.0
            .request(req)
            .await
            .map_err(|e| UpstreamError::from_client(&e))
    }
}

thread_local! {
    static CLIENT: Client = build_client();
}

/// This thread's client. Each server thread runs its own runtime, and a client's
/// connections are driven by tasks of the runtime that opened them: one client per
/// thread keeps every hop of a request on one thread (no cross-thread wake-ups).
pub fn client() -> Client {
    CLIENT.with(Client::clone)
}

fn build_client() -> Client {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    http.enforce_http(false);
    let tls = rustls_platform_verifier::BuilderVerifierExt::with_platform_verifier(
        rustls::ClientConfig::builder(),
    )
    .map(|b| b.with_no_client_auth())
    .unwrap_or_else(|e| {
        tracing::warn!(error = %e, "no platform certificate verifier; TLS providers will fail");
        rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    });
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Client(
        hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(https),
    )
}

/// The next data of a body: `None` at its end (trailers are skipped).
pub async fn next_data(body: &mut Incoming) -> Option<Result<Bytes, UpstreamError>> {
    loop {
        match body.frame().await? {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    return Some(Ok(data));
                }
            }
            Err(e) => return Some(Err(UpstreamError::from_body(&e))),
        }
    }
}

/// Reads a whole body, refusing more than `limit` bytes.
pub async fn read_body(resp: Answer, limit: usize) -> Result<Bytes, UpstreamError> {
    let mut body = resp.into_body();
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = next_data(&mut body).await {
        let c = chunk?;
        if buf.len() + c.len() > limit {
            return Err(UpstreamError::TooLarge);
        }
        buf.extend_from_slice(&c);
    }
    Ok(buf.freeze())
}
