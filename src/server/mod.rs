//! The listeners: hyper 1 (HTTP/1.1 and h2c, or TLS with ALPN), TCP_NODELAY on every
//! accepted socket, and graceful shutdown that lets in-flight requests finish.

pub mod admin;
mod cors;
mod me;
pub mod permissions;
mod routes;
mod tls;
mod wire;

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
fn guarded(
    gw: Arc<Gateway>,
    kind: Listener,
    peer: SocketAddr,
    req: http::Request<hyper::body::Incoming>,
) -> impl Future<Output = http::Response<Body>> {
    let metrics = gw.metrics.clone();
    catch_panic(metrics, handle(gw, kind, peer, req))
}

/// `fut`'s response, or a 500 if it panicked. Not an `async fn`: that would hold `fut`
/// twice (the argument and the awaited copy), and hyper moves this future by value.
fn catch_panic(
    metrics: Arc<crate::metrics::Metrics>,
    fut: impl Future<Output = http::Response<Body>>,
) -> impl Future<Output = http::Response<Body>> {
    use futures_util::FutureExt;
    std::panic::AssertUnwindSafe(fut)
        .catch_unwind()
        .map(move |done| match done {
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
        })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    /// The size of the future `f` returns, without calling it.
    pub(crate) fn future_size<F: Future>(_: impl FnOnce() -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// hyper moves the service's future by value when it makes and starts it, so its
    /// size is copied for every request: the request's state lives in one box instead.
    #[test]
    #[allow(unreachable_code, clippy::diverging_sub_expression)]
    fn the_future_each_request_moves_is_small() {
        let service = future_size(|| {
            super::guarded(
                unreachable!(),
                unreachable!(),
                unreachable!(),
                unreachable!(),
            )
        });
        let api = future_size(|| super::routes::api(unreachable!(), unreachable!()));
        let pipeline = future_size(|| crate::pipeline::handle(unreachable!(), unreachable!()));
        eprintln!("futures: service {service} B, api {api} B, pipeline::handle {pipeline} B");
        assert!(service <= 1024, "the service future is {service} bytes");
    }

    #[tokio::test]
    async fn a_panicking_request_is_a_500_and_counted() {
        let m = Arc::new(crate::metrics::Metrics::default());
        let resp = super::catch_panic(m.clone(), async {
            if std::hint::black_box(true) {
                panic!("boom");
            }
            http::Response::new(super::full("never"))
        })
        .await;
        assert_eq!(resp.status(), 500);
        let ok = super::catch_panic(m.clone(), async {
            http::Response::new(super::full("fine"))
        })
        .await;
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
            futures_util::FutureExt::map(guarded(gw, kind, peer, req), Ok::<_, Infallible>)
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
