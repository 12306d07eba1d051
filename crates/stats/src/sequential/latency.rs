//! Anytime-valid latency test: a sequential test on tail exceedances.

use super::{AnytimeTest, ErrorCountTest};
use crate::error::{Result, StatsError};
use crate::sample::{quantile_type7, validate};
use crate::types::Alternative;

/// Sequential test of "the canary's latency tail is no heavier than the
/// baseline's", valid however often it is checked.
///
/// **Idea**: a request slower than a threshold t is an "exceedance". If both
/// cohorts have the same latency distribution, every request exceeds t with
/// the same probability, so — exactly as for errors — each exceedance lands
/// on the canary with probability equal to its share of requests. The test
/// is [`ErrorCountTest`] on exceedance counts.
///
/// **Threshold**: either fixed (an SLO latency, [`LatencyTest::with_threshold`])
/// or adaptive ([`LatencyTest::new`]): after each look, the pooled q-quantile
/// of that look's canary and baseline latencies becomes the threshold for
/// the *next* look. Because the threshold only uses past data it is
/// predictable, and under the null the next look's exceedances are still
/// exchangeable between cohorts: the guarantee holds, and the threshold
/// follows load-driven drift of both cohorts. The first look only sets the
/// threshold. q = 0.95 watches the p95 region; higher q reacts to tail
/// regressions but sees fewer events.
///
/// **Assumes** requests' latencies independent given the look (in practice:
/// canary and baseline sharing the same load, which a canary deployment
/// arranges). It detects a heavier tail past the threshold, not a shift
/// confined below it; pair it with Mann-Whitney per window for the median.
#[derive(Debug, Clone)]
pub struct LatencyTest {
    counts: ErrorCountTest,
    q: f64,
    threshold: Option<f64>,
    fixed: bool,
    scratch: Vec<f64>,
}

impl LatencyTest {
    /// Adaptive threshold at the pooled q-quantile of the previous look.
    pub fn new(alpha: f64, q: f64, alternative: Alternative) -> Result<LatencyTest> {
        if !(q > 0.0 && q < 1.0) {
            return Err(StatsError::InvalidParameter {
                name: "q",
                value: q,
                why: "the threshold quantile must be strictly between 0 and 1",
            });
        }
        Ok(LatencyTest {
            counts: ErrorCountTest::new(alpha, alternative)?,
            q,
            threshold: None,
            fixed: false,
            scratch: Vec::new(),
        })
    }

    /// Fixed threshold (e.g. the SLO latency).
    pub fn with_threshold(
        alpha: f64,
        threshold: f64,
        alternative: Alternative,
    ) -> Result<LatencyTest> {
        if !threshold.is_finite() {
            return Err(StatsError::InvalidParameter {
                name: "threshold",
                value: threshold,
                why: "must be finite",
            });
        }
        Ok(LatencyTest {
            counts: ErrorCountTest::new(alpha, alternative)?,
            q: f64::NAN,
            threshold: Some(threshold),
            fixed: true,
            scratch: Vec::new(),
        })
    }

    /// Adds one look's latencies (either side may be empty).
    pub fn update(&mut self, canary: &[f64], baseline: &[f64]) -> Result<()> {
        if !canary.is_empty() {
            validate("canary", canary)?;
        }
        if !baseline.is_empty() {
            validate("baseline", baseline)?;
        }
        let total = canary.len() + baseline.len();
        if total == 0 {
            return Ok(());
        }
        if let Some(t) = self.threshold {
            let ec = canary.iter().filter(|&&v| v > t).count() as u64;
            let eb = baseline.iter().filter(|&&v| v > t).count() as u64;
            let share = canary.len() as f64 / total as f64;
            self.counts.update(ec, eb, share)?;
        }
        if !self.fixed {
            self.scratch.clear();
            self.scratch.extend_from_slice(canary);
            self.scratch.extend_from_slice(baseline);
            self.scratch.sort_unstable_by(f64::total_cmp);
            self.threshold = Some(quantile_type7(&self.scratch, self.q));
        }
        Ok(())
    }

    /// The threshold the next look will be judged against.
    pub fn threshold(&self) -> Option<f64> {
        self.threshold
    }

    /// Exceedances so far: (canary, baseline).
    pub fn exceedances(&self) -> (u64, u64) {
        self.counts.errors()
    }
}

impl AnytimeTest for LatencyTest {
    fn p_value(&self) -> f64 {
        self.counts.p_value()
    }

    fn rejected(&self) -> bool {
        self.counts.rejected()
    }
}
