//! Serving a hyper service on a listener until told to stop, then draining
//! in-flight requests up to a deadline. HTTP/1.1 with keep-alive and HTTP/2
//! (prior knowledge) from clients.
//!
//! Its own crate because two crates need exactly this loop: the embedded
//! router (`canaryd-proxy`, its proxy and admin listeners) and the sample
//! service (`canaryd-sim`), and neither should depend on the other.

use hyper::body::Incoming;
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Accepts connections until `stop` turns true; each connection is served by
/// the service `make(peer)` returns. On stop: no new connections, in-flight
/// requests get `drain` to finish, then whatever is left is aborted.
pub async fn serve<M, S, B>(
    listener: TcpListener,
    make: M,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
) where
    M: Fn(SocketAddr) -> S,
    S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let conn = builder
                    .serve_connection(TokioIo::new(stream), make(peer))
                    .into_owned();
                let fut = graceful.watch(conn);
                conns.spawn(async move {
                    if let Err(e) = fut.await {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                });
            }
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!(
            left = conns.len(),
            "drain deadline passed, aborting connections"
        );
    }
    conns.shutdown().await;
}
