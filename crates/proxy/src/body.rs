//! Body wrappers: a request body that enforces the size limit while
//! streaming, and a response body that records the request's measurement
//! when the response ends (so latency covers the whole body, and an upstream
//! that breaks mid-body counts as an error).

use crate::metrics::{Recorder, RouteStats};
use bytes::Bytes;
use canaryd_core::vocab::Cohort;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Instant;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
#[error("request body larger than {0} bytes")]
pub(crate) struct BodyTooLarge(pub u64);

// What became of a request body, as seen by [`LimitBody`] (0: nothing wrong).
/// More than the limit went by: answer 413.
pub(crate) const BODY_TOO_LARGE: u8 = 1;
/// The client's side of the body failed (aborted upload): answer 400.
pub(crate) const BODY_CLIENT_FAILED: u8 = 2;

/// Shared between a [`LimitBody`] (owned by the upstream request) and the
/// handler: what became of the body, and, once it went over the limit, the
/// rest of it, so the handler can drain it before answering 413 (a client
/// still writing its upload would otherwise get a broken pipe, not the 413).
#[derive(Default)]
pub(crate) struct BodyWatch {
    pub state: AtomicU8,
    pub leftover: Mutex<Option<Incoming>>,
}

impl BodyWatch {
    pub fn take_leftover(&self) -> Option<Incoming> {
        self.leftover.lock().ok().and_then(|mut g| g.take())
    }
}

/// Passes a request body through, failing it once more than `max` bytes
/// went by.
pub(crate) struct LimitBody {
    inner: Option<Incoming>,
    seen: u64,
    max: u64,
    watch: Arc<BodyWatch>,
}

impl LimitBody {
    pub fn new(inner: Incoming, max: u64, watch: Arc<BodyWatch>) -> Self {
        LimitBody {
            inner: Some(inner),
            seen: 0,
            max,
            watch,
        }
    }
}

impl Body for LimitBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match ready!(Pin::new(inner).poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let Some(d) = frame.data_ref() {
                    this.seen = this.seen.saturating_add(d.len() as u64);
                    if this.seen > this.max {
                        this.watch.state.store(BODY_TOO_LARGE, Ordering::SeqCst);
                        if let Ok(mut g) = this.watch.leftover.lock() {
                            *g = this.inner.take();
                        }
                        return Poll::Ready(Some(Err(BodyTooLarge(this.max).into())));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => {
                this.watch.state.store(BODY_CLIENT_FAILED, Ordering::SeqCst);
                Poll::Ready(Some(Err(e.into())))
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map(|b| b.size_hint())
            .unwrap_or_else(|| SizeHint::with_exact(0))
    }
}

/// Reads and discards what is left of a refused upload (at most `cap` bytes
/// or `deadline`), so the client gets to read the answer.
pub(crate) async fn drain(mut body: Incoming, cap: u64, deadline: std::time::Duration) {
    use http_body_util::BodyExt;
    let _ = tokio::time::timeout(deadline, async {
        let mut seen = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(d) = frame.data_ref() {
                seen = seen.saturating_add(d.len() as u64);
                if seen > cap {
                    break;
                }
            }
        }
    })
    .await;
}

/// The pending measurement of one request.
pub(crate) struct Completion {
    pub rec: Arc<Recorder>,
    pub slot: Arc<RouteStats>,
    pub cohort: Cohort,
    pub start: Instant,
    /// Already an error (upstream answered 5xx).
    pub error: bool,
}

impl Completion {
    pub fn finish(self, failed: bool) {
        self.rec.record(
            &self.slot,
            self.cohort,
            self.error || failed,
            self.start.elapsed(),
        );
    }
}

pin_project! {
    /// A response body that records its request when it ends, fails, or is
    /// dropped (client went away: measured as far as it got, not an error).
    pub(crate) struct MeteredBody<B> {
        #[pin]
        inner: B,
        done: Option<Completion>,
    }

    impl<B> PinnedDrop for MeteredBody<B> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(c) = this.project().done.take() {
                c.finish(false);
            }
        }
    }
}

impl<B> MeteredBody<B> {
    pub fn new(inner: B, done: Completion) -> Self {
        MeteredBody {
            inner,
            done: Some(done),
        }
    }
}

impl<B> Body for MeteredBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        let out = ready!(this.inner.as_mut().poll_frame(cx));
        let failed = match &out {
            None => Some(false),
            Some(Err(_)) => Some(true),
            Some(Ok(_)) if this.inner.is_end_stream() => Some(false),
            Some(Ok(_)) => None,
        };
        if let Some(failed) = failed {
            if let Some(c) = this.done.take() {
                c.finish(failed);
            }
        }
        Poll::Ready(out)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
