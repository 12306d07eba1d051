//! Shared test rig: two sample apps (stable `v1`, canary `v2`) behind a router,
//! a client, and bounded waits on conditions (never bare sleeps).
#![allow(dead_code)]

use bytes::Bytes;
use canaryd_proxy::{Router, RouterConfig, RouterHandle};
use canaryd_sim::{SampleApp, SampleAppConfig};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

pub type TestBody = UnsyncBoxBody<Bytes, Infallible>;
pub type C = Client<HttpConnector, TestBody>;

pub struct Rig {
    pub stable: SampleApp,
    pub canary: SampleApp,
    pub router: RouterHandle,
    pub client: C,
}

impl Rig {
    pub async fn start() -> Rig {
        Self::start_with(|_| {}).await
    }

    /// Starts the apps and a router whose config `tweak` may adjust.
    pub async fn start_with(tweak: impl FnOnce(&mut RouterConfig)) -> Rig {
        let stable = SampleApp::start(SampleAppConfig::new("v1")).await.unwrap();
        let canary = SampleApp::start(SampleAppConfig::new("v2")).await.unwrap();
        let mut cfg = RouterConfig::from_urls(&stable.url(), &canary.url()).unwrap();
        cfg.probe.interval = Duration::from_millis(100);
        cfg.probe.timeout = Duration::from_secs(1);
        tweak(&mut cfg);
        let router = Router::start(cfg).await.unwrap();
        Rig {
            stable,
            canary,
            router,
            client: client(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.router.url())
    }

    pub async fn get(&self, path: &str) -> Answer {
        call(
            &self.client,
            Method::GET,
            &self.url(path),
            empty(),
            HeaderMap::new(),
        )
        .await
    }

    /// Waits until every request sent so far has been measured.
    pub async fn settle(&self, expected_completed: u64) {
        let r = self.router.clone();
        wait_until("all requests measured", move || {
            r.completed_requests() >= expected_completed
        })
        .await;
    }

    pub async fn stop(self) {
        self.router.shutdown().await;
        self.stable.shutdown().await;
        self.canary.shutdown().await;
    }
}

pub fn client() -> C {
    Client::builder(TokioExecutor::new()).build_http()
}

pub fn empty() -> TestBody {
    Full::new(Bytes::new()).boxed_unsync()
}

pub fn full(s: impl Into<Bytes>) -> TestBody {
    Full::new(s.into()).boxed_unsync()
}

#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn version(&self) -> &str {
        self.headers
            .get("x-canaryd-version")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub async fn call(c: &C, method: Method, url: &str, body: TestBody, headers: HeaderMap) -> Answer {
    let mut req = Request::builder()
        .method(method)
        .uri(url)
        .body(body)
        .unwrap();
    req.headers_mut().extend(headers);
    let resp = tokio::time::timeout(Duration::from_secs(20), c.request(req))
        .await
        .expect("answered within 20 s")
        .expect("request reached the router");
    let (parts, b) = resp.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: b.collect().await.expect("whole body").to_bytes(),
    }
}

/// Polls `cond` every 5 ms; fails the test after 20 s.
pub async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A streamed body of `total` bytes in `chunk`-byte frames, with no declared
/// length (sent chunked). Byte i is `(i % 251) as u8`.
pub struct Chunks {
    pub sent: u64,
    pub total: u64,
    pub chunk: usize,
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.sent >= self.total {
            return Poll::Ready(None);
        }
        let n = (self.total - self.sent).min(self.chunk as u64);
        let start = self.sent;
        let data: Vec<u8> = (start..start + n).map(|i| (i % 251) as u8).collect();
        self.sent += n;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(data)))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
