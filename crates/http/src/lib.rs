//! Serving a hyper service on a listener until told to stop, then draining
//! in-flight requests up to a deadline. HTTP/1.1 with keep-alive and HTTP/2
//! (prior knowledge) from clients.
//!
//! Its own crate because three listeners need exactly this loop: the
//! embedded router (`canaryd-proxy`, its proxy and admin listeners), the
//! operator API (`canaryd-server`) and the sample service (`canaryd-sim`),
//! and none should depend on another. With the `client` feature it also
//! builds the one outbound client ([`client`]) every edge that calls out
//! uses, so TLS is set up the same way everywhere.
//!
//! Every listener is bounded ([`ConnectionLimits`]): a client that opens a connection
//! and sends nothing (or half a request) is closed after the header timeout,
//! an idle keep-alive connection after the idle timeout, and past
//! `max_connections` open connections the loop stops accepting (new clients
//! wait in the kernel's listen backlog) and says so in the log. Without these,
//! a few thousand idle sockets exhaust the process's file descriptors and
//! take every listener down with them, `/healthz` included.

// One libc call needs unsafe; it is allowed where it is, with its SAFETY note.
#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

#[cfg(feature = "client")]
mod client;
mod limits;
mod watch_conn;

#[cfg(feature = "client")]
pub use client::{client, install_crypto_provider};
pub use limits::{fd_limit, ConnectionLimits};

use hyper::body::Incoming;
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// [`serve_with`] with [`ConnectionLimits::default`], for a listener called "listener".
pub async fn serve<M, S, B>(
    listener: TcpListener,
    make: M,
    stop: watch::Receiver<bool>,
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
    serve_with(
        listener,
        make,
        stop,
        drain,
        ConnectionLimits::default(),
        "listener",
    )
    .await
}

/// Accepts connections until `stop` turns true; each connection is served by
/// the service `make(peer)` returns, within `limits`. `what` names the
/// listener in log lines ("proxy listener", "operator API"). On stop: no new
/// connections, in-flight requests get `drain` to finish, then whatever is
/// left is aborted.
pub async fn serve_with<M, S, B>(
    listener: TcpListener,
    make: M,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
    limits: ConnectionLimits,
    what: &'static str,
) where
    M: Fn(SocketAddr) -> S,
    S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut conns = JoinSet::new();
    let mut at_cap = false;
    loop {
        // A free slot first: at the cap, stop accepting rather than fail
        // later for want of a file descriptor.
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => {
                if at_cap {
                    tracing::info!(
                        listener = what,
                        "below the connection limit again; accepting"
                    );
                    at_cap = false;
                }
                p
            }
            Err(_) => {
                if !at_cap {
                    tracing::warn!(
                        listener = what,
                        max_connections = limits.max_connections,
                        "connection limit reached: new connections wait in the listen backlog \
                         until one closes (idle ones close after {:?}; raise the limit with \
                         --max-connections)",
                        limits.idle_timeout
                    );
                    at_cap = true;
                }
                tokio::select! {
                    p = slots.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                    changed = stop.changed() => {
                        if changed.is_err() || *stop.borrow() {
                            break;
                        }
                        continue;
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => continue,
                }
            }
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(listener = what, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (builder, stop) = (builder.clone(), stop.clone());
                let service = make(peer);
                conns.spawn(async move {
                    let _permit = permit;
                    watch_conn::run(&builder, TokioIo::new(stream), service, limits, stop, peer)
                        .await;
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
    let drained = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(drain, drained).await.is_err() {
        tracing::debug!(
            listener = what,
            left = conns.len(),
            "drain deadline passed, aborting connections"
        );
    }
    conns.shutdown().await;
}
