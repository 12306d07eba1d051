//! Active health probes of both upstreams: `GET <probe path>` every interval
//! with a deadline. A window in which the canary (or stable) probe failed is
//! unreliable, not a breach: the collectors could not see the upstream.

use crate::config::{ProbeConfig, Upstream};
use crate::split::idx;
use bytes::Bytes;
use canaryd_core::vocab::Cohort;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The outcome of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub ok: bool,
    /// When the probe finished.
    pub at: Instant,
    pub took: Duration,
    /// `HTTP 200`, `timed out after 500ms`, `connection refused`…
    pub detail: String,
}

/// Latest results and running totals per cohort.
#[derive(Default)]
pub(crate) struct ProbeState {
    latest: [Mutex<Option<ProbeResult>>; 2],
    pub failures: [AtomicU64; 2],
    pub successes: [AtomicU64; 2],
    /// Bumped after each round (both upstreams probed); tests wait on it.
    pub rounds: AtomicU64,
}

impl ProbeState {
    pub fn latest(&self, c: Cohort) -> Option<ProbeResult> {
        self.latest[idx(c)].lock().ok().and_then(|g| g.clone())
    }

    fn store(&self, c: Cohort, r: ProbeResult) {
        let i = idx(c);
        if r.ok {
            self.successes[i].fetch_add(1, Ordering::SeqCst);
        } else {
            self.failures[i].fetch_add(1, Ordering::SeqCst);
        }
        if let Ok(mut g) = self.latest[i].lock() {
            *g = Some(r);
        }
    }
}

async fn probe_once(
    client: &Client<HttpConnector, Empty<Bytes>>,
    upstream: &Upstream,
    cfg: &ProbeConfig,
) -> ProbeResult {
    let started = Instant::now();
    let done = |ok: bool, detail: String| ProbeResult {
        ok,
        at: Instant::now(),
        took: started.elapsed(),
        detail,
    };
    let uri = match upstream.uri_for(&cfg.path) {
        Ok(u) => u,
        Err(e) => return done(false, format!("bad probe URL: {e}")),
    };
    let req = match Request::get(uri).body(Empty::new()) {
        Ok(r) => r,
        Err(e) => return done(false, format!("bad probe request: {e}")),
    };
    let fut = async {
        let resp = client.request(req).await?;
        let status = resp.status();
        // Drain the body so the connection can be reused.
        let _ = resp.into_body().collect().await;
        Ok::<_, hyper_util::client::legacy::Error>(status)
    };
    match tokio::time::timeout(cfg.timeout, fut).await {
        Ok(Ok(status)) => done(status.is_success(), format!("HTTP {}", status.as_u16())),
        Ok(Err(e)) => {
            let why = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.to_string());
            done(false, format!("request failed: {why}"))
        }
        Err(_) => done(false, format!("timed out after {:?}", cfg.timeout)),
    }
}

/// Probes both upstreams every `cfg.interval` until `stop` turns true.
pub(crate) async fn run(
    stable: Upstream,
    canary: Upstream,
    cfg: ProbeConfig,
    state: Arc<ProbeState>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(cfg.timeout));
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    let mut tick = tokio::time::interval(cfg.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let (s, c) = tokio::join!(
            probe_once(&client, &stable, &cfg),
            probe_once(&client, &canary, &cfg)
        );
        if !s.ok {
            tracing::warn!(upstream = %stable, detail = %s.detail, "stable health probe failed");
        }
        if !c.ok {
            tracing::warn!(upstream = %canary, detail = %c.detail, "canary health probe failed");
        }
        state.store(Cohort::Baseline, s);
        state.store(Cohort::Canary, c);
        state.rounds.fetch_add(1, Ordering::SeqCst);
    }
}
