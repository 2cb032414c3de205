//! The listeners: hyper 1 (HTTP/1.1 and h2c, or TLS with ALPN), TCP_NODELAY on every
//! accepted socket, and graceful shutdown that lets in-flight requests finish.

pub mod admin;
mod admin_auth;
mod admin_compare;
mod admin_control;
mod admin_counters;
mod admin_keys;
mod admin_people;
mod admin_registry;
mod admin_reports;
mod admin_requests;
mod admin_usage;
mod cors;
mod me;
pub mod permissions;
mod routes;
mod sso;
mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::gateway::Gateway;
pub use routes::handle;

pub use crate::reply::{ApiError, Body, full};

/// Runs one request; a panic anywhere in it is a 500 `internal_error` for this
/// request (and a count in `/metrics`), never a dropped connection.
async fn guarded(
    gw: Arc<Gateway>,
    kind: Listener,
    peer: SocketAddr,
    req: http::Request<hyper::body::Incoming>,
) -> http::Response<Body> {
    let metrics = gw.metrics.clone();
    catch_panic(&metrics, handle(gw, kind, peer, req)).await
}

/// `fut`'s response, or a 500 if it panicked.
async fn catch_panic(
    metrics: &crate::metrics::Metrics,
    fut: impl Future<Output = http::Response<Body>>,
) -> http::Response<Body> {
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(fut).catch_unwind().await {
        Ok(resp) => resp,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(panic = %crate::secrets::scrub(&what), "a request panicked; answered 500");
            metrics.panicked();
            ApiError::internal("the gateway failed to handle this request")
                .with_code("internal_error")
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_panicking_request_is_a_500_and_counted() {
        let m = crate::metrics::Metrics::default();
        let resp = super::catch_panic(&m, async {
            if std::hint::black_box(true) {
                panic!("boom");
            }
            http::Response::new(super::full("never"))
        })
        .await;
        assert_eq!(resp.status(), 500);
        let ok = super::catch_panic(&m, async { http::Response::new(super::full("fine")) }).await;
        assert_eq!(ok.status(), 200);
        assert!(
            m.text().contains("switchboard_request_panics_total 1"),
            "{}",
            m.text()
        );
    }
}

/// Which service a listener runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    Api,
    Admin,
}

/// Serves `listener` until `shutdown` resolves, then waits up to `grace` for
/// in-flight connections to finish.
pub async fn serve(
    gw: Arc<Gateway>,
    listener: TcpListener,
    kind: Listener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let gw = gw.clone();
        let svc = service_fn(move |req| {
            let gw = gw.clone();
            async move { Ok::<_, Infallible>(guarded(gw, kind, peer, req).await) }
        });
        match &tls {
            None => {
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let Ok(Ok(tls_stream)) =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                            .await
                    else {
                        return;
                    };
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(tls_stream), svc);
                    let _ = watcher.watch(conn.into_owned()).await;
                });
            }
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(grace) => tracing::warn!("shutdown grace period over; closing remaining connections"),
    }
}

pub use tls::acceptor as tls_acceptor;

/// Binds an address, with a message that says which listener failed.
pub async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for the {what}: {e}"))
}
