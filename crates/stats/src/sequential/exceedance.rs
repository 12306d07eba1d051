//! Anytime-valid latency test on bucketed histograms: how often each cohort
//! is slower than the baseline's own tail.

use super::{AnytimeTest, ErrorCountTest};
use crate::error::{Result, StatsError};

/// Sequential test of "the canary is no more often slower than the
/// baseline's q-quantile than the baseline is", on the bucketed latency
/// histograms a router or Prometheus exports; valid however often it is
/// checked.
///
/// **Idea**: a request slower than a threshold t is an *exceedance*. With
/// t at the baseline's p99, a baseline request exceeds it with probability
/// about 1%; a canary whose tail is heavier (p99 × 1.5) exceeds it several
/// times as often. If both cohorts share one latency distribution, each
/// exceedance lands on the canary with probability equal to its share of
/// the requests, whatever t is — so [`ErrorCountTest`] on the exceedance
/// counts is a test martingale, needs no baseline rate, and takes the same
/// transient tolerance ([`ExceedanceTest::tolerating_transients`]).
///
/// **Threshold**: buckets only tell whether a request was above a bucket
/// bound, so t is a bound: the largest one the baseline exceeded in at
/// least a share 1 − q of its requests *in the previous look* (the lower
/// edge of the bucket holding its q-quantile). It uses past data only, so
/// it is fixed before the look it judges and the guarantee holds; it
/// follows drift shared by both cohorts. The first look only sets it.
///
/// **Reading**: a tail regression that stays inside one bucket (p99 300 →
/// 450 ms, both in 250–500 ms) reads as about ×1.3 on an interpolated
/// quantile, a ratio no per-window threshold can separate from noise at
/// 180 requests; as exceedances of 250 ms it is 1.8% → 4.4%, which this
/// test sees after a few hundred canary requests.
#[derive(Debug, Clone, PartialEq)]
pub struct ExceedanceTest {
    counts: ErrorCountTest,
    q: f64,
    /// The bound the next look is judged against.
    next: Option<f64>,
    /// The bound the latest look was judged against.
    last: Option<f64>,
    /// Requests behind the exceedance counts: (canary, baseline), looks
    /// that had a threshold only.
    requests: (u64, u64),
}

/// Largest finite bound that at least a share `1 − q` of `cells` exceeds:
/// the lower edge of the bucket holding the q-quantile. `cells` are
/// per-bucket counts, one per bound and a last one for `+Inf`. `None` when
/// the quantile is in the first bucket or the histogram is empty.
pub fn tail_bound(bounds: &[f64], cells: &[u64], q: f64) -> Option<f64> {
    if cells.len() != bounds.len() + 1 {
        return None;
    }
    let total: u64 = cells.iter().sum();
    if total == 0 {
        return None;
    }
    let need = (1.0 - q) * total as f64;
    let mut above = 0u64;
    // Walk down from +Inf: `above` is what exceeds bounds[i].
    for i in (0..bounds.len()).rev() {
        above += cells[i + 1];
        if above as f64 >= need && above > 0 {
            return Some(bounds[i]);
        }
    }
    None
}

/// Requests in `cells` slower than the bound `t` (which must be one of `bounds`).
pub fn above(bounds: &[f64], cells: &[u64], t: f64) -> Option<u64> {
    if cells.len() != bounds.len() + 1 {
        return None;
    }
    let i = bounds.iter().position(|&b| b == t)?;
    Some(cells[i + 1..].iter().sum())
}

impl ExceedanceTest {
    /// Threshold at the baseline's q-quantile bucket; alternatives are
    /// exceedance-rate ratios (canary / baseline), mixed with equal weights.
    pub fn new(alpha: f64, q: f64, ratios: &[f64]) -> Result<ExceedanceTest> {
        if !(q > 0.0 && q < 1.0) {
            return Err(StatsError::InvalidParameter {
                name: "q",
                value: q,
                why: "the threshold quantile must be strictly between 0 and 1",
            });
        }
        Ok(ExceedanceTest {
            counts: ErrorCountTest::with_ratios(alpha, ratios)?,
            q,
            next: None,
            last: None,
            requests: (0, 0),
        })
    }

    /// Never rejects on the strength of one burst no longer than
    /// `duration_ms` (see [`ErrorCountTest::tolerating_transients`]).
    pub fn tolerating_transients(mut self, duration_ms: i64) -> Result<ExceedanceTest> {
        self.counts = self.counts.tolerating_transients(duration_ms)?;
        Ok(self)
    }

    /// Adds one look: per-bucket counts of each cohort over the same
    /// `bounds` (ascending, finite; one more cell for `+Inf`), and the
    /// look's time span (needed when tolerating transients).
    pub fn update_over(
        &mut self,
        bounds: &[f64],
        canary: &[u64],
        baseline: &[u64],
        span: Option<(i64, i64)>,
    ) -> Result<()> {
        if canary.len() != bounds.len() + 1 || baseline.len() != bounds.len() + 1 {
            return Err(StatsError::Undefined(
                "a histogram needs one count per bound plus one for +Inf",
            ));
        }
        if bounds.windows(2).any(|w| w[0] >= w[1]) || bounds.iter().any(|b| !b.is_finite()) {
            return Err(StatsError::Undefined(
                "histogram bounds must be finite and increasing",
            ));
        }
        let (nc, nb) = (
            canary.iter().copied().fold(0u64, u64::saturating_add),
            baseline.iter().copied().fold(0u64, u64::saturating_add),
        );
        let total = nc.saturating_add(nb);
        let share = if total == 0 {
            0.0
        } else {
            nc as f64 / total as f64
        };
        // The threshold was fixed by earlier looks; a look whose bounds do
        // not include it (a changed histogram layout) carries no evidence.
        let judged = self
            .next
            .and_then(|t| Some((t, above(bounds, canary, t)?, above(bounds, baseline, t)?)));
        let (ec, eb) = match judged {
            Some((t, ec, eb)) if total > 0 => {
                self.last = Some(t);
                self.requests.0 = self.requests.0.saturating_add(nc);
                self.requests.1 = self.requests.1.saturating_add(nb);
                (ec, eb)
            }
            _ => (0, 0),
        };
        self.counts.update_over(ec, eb, share, span)?;
        if let Some(t) = tail_bound(bounds, baseline, self.q) {
            self.next = Some(t);
        }
        Ok(())
    }

    /// The bound the next look will be judged against.
    pub fn threshold(&self) -> Option<f64> {
        self.next
    }

    /// The bound the latest judged look was judged against.
    pub fn last_threshold(&self) -> Option<f64> {
        self.last
    }

    /// Exceedances so far: (canary, baseline).
    pub fn exceedances(&self) -> (u64, u64) {
        self.counts.errors()
    }

    /// Requests of the looks that were judged: (canary, baseline).
    pub fn requests(&self) -> (u64, u64) {
        self.requests
    }

    /// log of the mixture martingale now.
    pub fn log_evidence(&self) -> f64 {
        self.counts.log_evidence()
    }

    /// Looks (first, last) set aside as the strongest burst, if any.
    pub fn set_aside_looks(&self) -> Option<(usize, usize)> {
        self.counts.set_aside_looks()
    }
}

impl AnytimeTest for ExceedanceTest {
    fn p_value(&self) -> f64 {
        self.counts.p_value()
    }

    fn rejected(&self) -> bool {
        self.counts.rejected()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: [f64; 3] = [100.0, 250.0, 500.0];

    #[test]
    fn the_tail_bound_is_the_lower_edge_of_the_quantile_bucket() {
        // 1,000 requests, 18 above 250 ms (1.8%), 2 above 500 ms.
        let cells = [900, 82, 16, 2];
        assert_eq!(tail_bound(&B, &cells, 0.99), Some(250.0));
        assert_eq!(tail_bound(&B, &cells, 0.9), Some(100.0));
        assert_eq!(tail_bound(&B, &cells, 0.999), Some(500.0));
        assert_eq!(tail_bound(&B, &[10, 0, 0, 0], 0.99), None);
        assert_eq!(tail_bound(&B, &[0, 0, 0, 0], 0.99), None);
        assert_eq!(above(&B, &cells, 250.0), Some(18));
        assert_eq!(above(&B, &cells, 300.0), None);
    }

    #[test]
    fn the_first_look_only_sets_the_threshold() {
        let mut t = ExceedanceTest::new(0.05, 0.99, &[2.0]).unwrap();
        t.update_over(&B, &[0, 0, 0, 50], &[900, 82, 16, 2], None)
            .unwrap();
        assert_eq!(t.exceedances(), (0, 0), "no threshold yet");
        assert_eq!(t.threshold(), Some(250.0));
        t.update_over(&B, &[80, 10, 8, 2], &[900, 82, 16, 2], None)
            .unwrap();
        assert_eq!(t.exceedances(), (10, 18));
        assert_eq!(t.last_threshold(), Some(250.0));
        assert!(t.update_over(&B, &[1, 2], &[900, 82, 16, 2], None).is_err());
    }
}
