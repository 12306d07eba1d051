//! Active health probes of both upstreams: `GET <probe path>` every interval
//! with a deadline.
//!
//! A probe is a second view of an upstream beside its users' requests; what
//! a failed probe means is decided in [`crate::source`]. Here a failure is
//! only *counted* when it says something about the upstream, not about this
//! process: on a busy machine the router itself can be starved of CPU, and
//! then every deadline it measures runs long. So:
//! - a round that started late (the tick fired a probe timeout or more
//!   after it was due) is not counted: the process was behind;
//! - timeouts of *both* upstreams in one round are not counted: one
//!   observer slow to see both is the observer, not a partition;
//! - a timeout of one upstream alone counts from its second round in a row;
//!   refused connections and non-2xx answers count at once.

use crate::config::{ProbeConfig, Upstream};
use crate::split::idx;
use crate::upstreams::Upstreams;
use bytes::Bytes;
use canaryd_core::vocab::Cohort;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The outcome of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    /// The upstream answered 2xx in time.
    pub ok: bool,
    /// Failed by its deadline rather than by an answer or a refusal.
    pub timed_out: bool,
    /// When the probe finished.
    pub at: Instant,
    /// How long the probe waited for its answer.
    pub took: Duration,
    /// `HTTP 200`, `timed out after 500ms`, `connection refused`…
    pub detail: String,
}

/// Latest results and running totals per cohort.
#[derive(Default)]
pub(crate) struct ProbeState {
    latest: [Mutex<Option<ProbeResult>>; 2],
    /// Counted failures (see the module docs).
    pub failures: [AtomicU64; 2],
    pub successes: [AtomicU64; 2],
    /// Of the counted failures, those by deadline (no answer in time).
    pub timeouts: [AtomicU64; 2],
    /// Whether the upstream's latest counted outcome is a failure.
    pub failing: [AtomicBool; 2],
    /// Whether that failure was a timeout (else a refusal or a bad answer).
    pub failing_by_timeout: [AtomicBool; 2],
    /// Rounds set aside because this process was behind (late, or both
    /// upstreams timed out at once).
    pub starved_rounds: AtomicU64,
    /// Bumped after each round (both upstreams probed); tests wait on it.
    pub rounds: AtomicU64,
}

impl ProbeState {
    pub fn latest(&self, c: Cohort) -> Option<ProbeResult> {
        self.latest[idx(c)].lock().ok().and_then(|g| g.clone())
    }

    pub fn is_failing(&self, c: Cohort) -> bool {
        self.failing[idx(c)].load(Ordering::SeqCst)
    }

    /// Failing by refusal or a bad answer, not by a deadline.
    pub fn is_failing_hard(&self, c: Cohort) -> bool {
        self.is_failing(c) && !self.failing_by_timeout[idx(c)].load(Ordering::SeqCst)
    }

    /// Records `r`; `counted` says whether a failure counts (module docs).
    fn store(&self, c: Cohort, r: ProbeResult, counted: bool) {
        let i = idx(c);
        if r.ok {
            self.successes[i].fetch_add(1, Ordering::SeqCst);
            self.failing[i].store(false, Ordering::SeqCst);
        } else if counted {
            self.failures[i].fetch_add(1, Ordering::SeqCst);
            if r.timed_out {
                self.timeouts[i].fetch_add(1, Ordering::SeqCst);
            }
            self.failing[i].store(true, Ordering::SeqCst);
            self.failing_by_timeout[i].store(r.timed_out, Ordering::SeqCst);
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
        timed_out: false,
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
        Err(_) => ProbeResult {
            timed_out: true,
            ..done(false, format!("timed out after {:?}", cfg.timeout))
        },
    }
}

/// Probes both upstreams every `cfg.interval` until `stop` turns true.
pub(crate) async fn run(
    upstreams: Arc<Upstreams>,
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
    let mut timeouts_in_a_row = [0u32; 2];
    loop {
        let due = tokio::select! {
            due = tick.tick() => due,
            _ = stop.changed() => return,
        };
        let late = due.elapsed();
        // Re-read every round: a release switches the canary while running.
        let pair = upstreams.get();
        let (stable, canary) = (&pair.stable, &pair.canary);
        let (s, c) = tokio::join!(
            probe_once(&client, stable, &cfg),
            probe_once(&client, canary, &cfg)
        );
        let starved = late >= cfg.timeout || (s.timed_out && c.timed_out);
        if starved {
            state.starved_rounds.fetch_add(1, Ordering::SeqCst);
            tracing::info!(
                late = ?late,
                stable = %s.detail,
                canary = %c.detail,
                "probe round set aside: this process is behind (busy machine), not an upstream"
            );
        }
        for (cohort, r, upstream) in [(Cohort::Baseline, s, stable), (Cohort::Canary, c, canary)] {
            let i = idx(cohort);
            timeouts_in_a_row[i] = match (r.timed_out, starved) {
                (true, false) => timeouts_in_a_row[i] + 1,
                (true, true) => timeouts_in_a_row[i],
                (false, _) => 0,
            };
            let counted = !starved && (!r.timed_out || timeouts_in_a_row[i] >= 2);
            if !r.ok && counted {
                tracing::warn!(%upstream, %cohort, detail = %r.detail, "health probe failed");
            }
            state.store(cohort, r, counted);
        }
        state.rounds.fetch_add(1, Ordering::SeqCst);
    }
}
