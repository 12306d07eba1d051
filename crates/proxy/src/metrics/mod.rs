//! Measurement of every proxied request, per route and cohort: counts, errors
//! and an HDR latency histogram (µs, 2 significant digits, auto-resizing, so
//! an idle route costs a few KB).
//!
//! Everything here is *cumulative* since the router started. Windows are
//! differences of two snapshots ([`Snapshot::since`]), so `/metrics` counters
//! stay monotonic (as Prometheus requires) and any number of readers can take
//! windows without stealing each other's data.

mod exposition;
mod snapshot;

pub use snapshot::{CohortSnapshot, Snapshot};

use crate::routes::method_label;
use crate::split::idx;
use canaryd_core::vocab::Cohort;
use hdrhistogram::Histogram;
use http::Method;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// One cohort on one route.
#[derive(Clone)]
pub(crate) struct CohortStats {
    pub requests: u64,
    pub errors: u64,
    pub latency_us_sum: u64,
    /// `None` only if the histogram could not be created (it always can with
    /// these parameters; the request path must not panic on it anyway).
    pub hist: Option<Histogram<u64>>,
}

impl CohortStats {
    fn new() -> Self {
        // 2 significant digits (1% resolution), auto-resizing from 1 µs up.
        let hist = Histogram::new(2).ok().map(|mut h| {
            h.auto(true);
            h
        });
        CohortStats {
            requests: 0,
            errors: 0,
            latency_us_sum: 0,
            hist,
        }
    }
}

pub(crate) struct RouteStats {
    cohorts: [Mutex<CohortStats>; 2],
}

/// Why a request was refused before or while reaching an upstream (counted,
/// but not against either cohort: it is the client's doing).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rejection {
    BodyTooLarge,
    ClientBodyFailed,
}

/// Upstream-side failures per cohort, beyond the error count.
#[derive(Default)]
pub(crate) struct Failures {
    pub connect: [AtomicU64; 2],
    /// The connection broke before a response (reset, closed mid-request).
    pub reset: [AtomicU64; 2],
    pub timeout: [AtomicU64; 2],
}

pub(crate) struct Recorder {
    routes: RwLock<HashMap<String, Arc<RouteStats>>>,
    max_routes: usize,
    pub failures: Failures,
    rejected_body: AtomicU64,
    rejected_client: AtomicU64,
    completed: AtomicU64,
    pub started: Instant,
}

impl Recorder {
    pub fn new(max_routes: usize) -> Self {
        Recorder {
            routes: RwLock::new(HashMap::new()),
            max_routes,
            failures: Failures::default(),
            rejected_body: AtomicU64::new(0),
            rejected_client: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// The stats slot of a route name, interning it; past the cap the request
    /// is counted under `METHOD /other`.
    pub fn slot(&self, name: String, method: &Method) -> Arc<RouteStats> {
        if let Ok(g) = self.routes.read() {
            if let Some(s) = g.get(&name) {
                return s.clone();
            }
        }
        let Ok(mut g) = self.routes.write() else {
            // A poisoned lock only means a panic elsewhere; measure into a detached slot.
            return Arc::new(new_route());
        };
        if let Some(s) = g.get(&name) {
            return s.clone();
        }
        let key = if g.len() < self.max_routes {
            name
        } else {
            format!("{} /other", method_label(method))
        };
        g.entry(key)
            .or_insert_with(|| Arc::new(new_route()))
            .clone()
    }

    pub fn record(&self, slot: &RouteStats, cohort: Cohort, error: bool, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        if let Ok(mut c) = slot.cohorts[idx(cohort)].lock() {
            c.requests += 1;
            if error {
                c.errors += 1;
            }
            c.latency_us_sum = c.latency_us_sum.saturating_add(us);
            if let Some(h) = c.hist.as_mut() {
                // `record` auto-resizes; `saturating_record` would clamp to the
                // current range instead, so it is only the fallback.
                if h.record(us).is_err() {
                    h.saturating_record(us);
                }
            }
        }
        self.completed.fetch_add(1, Ordering::SeqCst);
    }

    pub fn reject(&self, why: Rejection) {
        match why {
            Rejection::BodyTooLarge => self.rejected_body.fetch_add(1, Ordering::SeqCst),
            Rejection::ClientBodyFailed => self.rejected_client.fetch_add(1, Ordering::SeqCst),
        };
    }

    pub fn rejected_client_body(&self) -> u64 {
        self.rejected_client.load(Ordering::SeqCst)
    }

    pub fn rejected_body_too_large(&self) -> u64 {
        self.rejected_body.load(Ordering::SeqCst)
    }

    /// Requests whose measurement is complete (response ended or failed).
    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::SeqCst)
    }

    /// A consistent-per-cohort copy of all cumulative figures.
    pub fn snapshot(&self) -> Snapshot {
        let routes: Vec<(String, Arc<RouteStats>)> = match self.routes.read() {
            Ok(g) => g.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Err(_) => Vec::new(),
        };
        let mut snap = Snapshot::default();
        for (name, stats) in routes {
            let get = |i: usize| {
                stats.cohorts[i]
                    .lock()
                    .map(|c| CohortSnapshot::from_stats(&c))
                    .unwrap_or_default()
            };
            snap.routes.insert(name, [get(0), get(1)]);
        }
        snap
    }
}

fn new_route() -> RouteStats {
    RouteStats {
        cohorts: [
            Mutex::new(CohortStats::new()),
            Mutex::new(CohortStats::new()),
        ],
    }
}

pub(crate) use exposition::render;
