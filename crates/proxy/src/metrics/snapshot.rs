//! Copies of the cumulative figures, their differences (windows) and their
//! translation into the core's `Observation`.

use super::CohortStats;
use canaryd_core::observation::{Histogram as CoreHistogram, LatencySummary, Observation};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;

/// Upper bounds (ms) of the cumulative histograms handed to the core and
/// exposed on `/metrics` (as seconds).
pub const BUCKETS_MS: [f64; 14] = [
    1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
];

/// One cohort's cumulative (or, after [`Snapshot::since`], windowed) figures.
#[derive(Clone, Default)]
pub struct CohortSnapshot {
    pub requests: u64,
    pub errors: u64,
    pub latency_us_sum: u64,
    /// Latency in µs; `None` if it could not be copied.
    pub(crate) hist: Option<Histogram<u64>>,
}

impl CohortSnapshot {
    pub(crate) fn from_stats(c: &CohortStats) -> Self {
        CohortSnapshot {
            requests: c.requests,
            errors: c.errors,
            latency_us_sum: c.latency_us_sum,
            hist: c.hist.clone(),
        }
    }

    fn minus(&self, earlier: &CohortSnapshot) -> CohortSnapshot {
        let hist = match (&self.hist, &earlier.hist) {
            (Some(now), Some(before)) => {
                let mut h = now.clone();
                h.subtract(before).ok().map(|_| h)
            }
            (Some(now), None) => Some(now.clone()),
            _ => None,
        };
        CohortSnapshot {
            requests: self.requests.saturating_sub(earlier.requests),
            errors: self.errors.saturating_sub(earlier.errors),
            latency_us_sum: self.latency_us_sum.saturating_sub(earlier.latency_us_sum),
            hist,
        }
    }

    /// Latency quantile in ms, if anything was measured.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        self.hist
            .as_ref()
            .filter(|h| !h.is_empty())
            .map(|h| h.value_at_quantile(q) as f64 / 1000.0)
    }

    /// Requests at or below `bound_ms` (within the histogram's 1% resolution).
    pub fn count_le_ms(&self, bound_ms: f64) -> u64 {
        match &self.hist {
            Some(h) if !h.is_empty() => h.count_between(0, (bound_ms * 1000.0) as u64),
            _ => 0,
        }
    }

    /// The core's view of these figures.
    pub fn observation(&self) -> Observation {
        let latency_ms = LatencySummary {
            p50: self.quantile_ms(0.50),
            p95: self.quantile_ms(0.95),
            p99: self.quantile_ms(0.99),
        };
        let latency_buckets_ms = (self.requests > 0 && self.hist.is_some()).then(|| {
            let mut b: BTreeMap<String, f64> = BUCKETS_MS
                .iter()
                .map(|ms| (fmt_bound(*ms), self.count_le_ms(*ms) as f64))
                .collect();
            b.insert("+Inf".into(), self.requests as f64);
            CoreHistogram(b)
        });
        Observation {
            requests: self.requests,
            errors: self.errors,
            latency_ms,
            latency_buckets_ms,
            ..Default::default()
        }
    }
}

/// `2.5` → `"2.5"`, `10` → `"10"`.
pub(crate) fn fmt_bound(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as u64)
    } else {
        format!("{v}")
    }
}

/// All routes: `[baseline (stable), canary]` per route name.
#[derive(Clone, Default)]
pub struct Snapshot {
    pub routes: BTreeMap<String, [CohortSnapshot; 2]>,
}

impl Snapshot {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Snapshot) -> Snapshot {
        let empty = CohortSnapshot::default();
        let routes = self
            .routes
            .iter()
            .map(|(name, [b, c])| {
                let (eb, ec) = earlier
                    .routes
                    .get(name)
                    .map(|[b, c]| (b, c))
                    .unwrap_or((&empty, &empty));
                (name.clone(), [b.minus(eb), c.minus(ec)])
            })
            .collect();
        Snapshot { routes }
    }
}
