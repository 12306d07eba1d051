//! One connection under its [`ConnectionLimits`]: served until the client closes, the
//! listener stops, or it stays silent past the header or idle timeout.
//!
//! hyper's own header timeout covers HTTP/1 requests once hyper knows the
//! protocol; this watch also covers the first bytes (where the `auto`
//! builder is still deciding between HTTP/1 and HTTP/2) and idle keep-alive
//! connections, for both protocols. It needs no I/O wrapper: it only counts
//! requests in flight and notes when that count last changed.

use crate::ConnectionLimits;
use hyper::body::Incoming;
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Requests in flight on one connection, and when that last changed.
struct Activity {
    opened: Instant,
    busy: AtomicUsize,
    started: AtomicU64,
    /// Milliseconds after `opened`.
    changed_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.changed_ms.store(ms, Ordering::SeqCst);
    }

    /// Resolves when the connection has been silent too long: `true` if no
    /// request ever started on it (nothing to finish: close it now).
    async fn expired(&self, limits: &ConnectionLimits) -> bool {
        loop {
            let deadline = if self.started.load(Ordering::SeqCst) == 0 {
                self.opened + limits.header_timeout
            } else if self.busy.load(Ordering::SeqCst) > 0 {
                Instant::now() + limits.idle_timeout
            } else {
                let since =
                    std::time::Duration::from_millis(self.changed_ms.load(Ordering::SeqCst));
                self.opened + since + limits.idle_timeout
            };
            tokio::time::sleep_until(deadline).await;
            if self.started.load(Ordering::SeqCst) == 0 {
                return true;
            }
            let since = std::time::Duration::from_millis(self.changed_ms.load(Ordering::SeqCst));
            if self.busy.load(Ordering::SeqCst) == 0
                && Instant::now() >= self.opened + since + limits.idle_timeout
            {
                return false;
            }
        }
    }
}

pub(crate) async fn run<S, B>(
    builder: &auto::Builder<TokioExecutor>,
    io: TokioIo<TcpStream>,
    service: S,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
    peer: SocketAddr,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let activity = Arc::new(Activity {
        opened: Instant::now(),
        busy: AtomicUsize::new(0),
        started: AtomicU64::new(0),
        changed_ms: AtomicU64::new(0),
    });
    let service = Tracked {
        inner: service,
        activity: activity.clone(),
    };
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                return;
            }
            _ = stop.changed(), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            never_asked = activity.expired(&limits), if !closing => {
                if never_asked {
                    tracing::debug!(%peer, timeout = ?limits.header_timeout, "no request headers in time; closing");
                    return;
                }
                tracing::debug!(%peer, timeout = ?limits.idle_timeout, "idle keep-alive connection; closing");
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}

/// The service, counting its requests in flight.
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: Service<Request<Incoming>>> Service<Request<Incoming>> for Tracked<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.activity.started.fetch_add(1, Ordering::SeqCst);
        self.activity.busy.fetch_add(1, Ordering::SeqCst);
        self.activity.touch();
        TrackedFuture {
            inner: self.inner.call(req),
            _busy: Busy(self.activity.clone()),
        }
    }
}

/// Ends the request's "in flight" when the response is ready or abandoned.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

pin_project_lite::pin_project! {
    pub(crate) struct TrackedFuture<F> {
        #[pin]
        inner: F,
        _busy: Busy,
    }
}

impl<F: Future> Future for TrackedFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}
