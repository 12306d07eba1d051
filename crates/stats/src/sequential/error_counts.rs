//! Anytime-valid two-sample test on error counts that needs no baseline rate.

use super::{AnytimeTest, Evidence};
use crate::error::{Result, StatsError};
use crate::types::{check_alpha, Alternative};

/// Default alternatives: rate ratios 2^(k/2), k = 1..8 (1.41x to 16x).
const STEPS: usize = 8;

/// Sequential test of "the canary's error rate is no higher than the
/// baseline's", valid however often it is checked, that needs neither the
/// baseline rate nor a fixed traffic split.
///
/// **Idea**: condition on the errors. If canary and baseline requests fail
/// at the same rate, each error lands on the canary with probability equal
/// to the canary's share s of the requests, whatever that rate is. If the
/// canary fails r times as often, that probability is r s / (1 + s (r - 1)).
/// So for each look with c canary and b baseline errors the likelihood ratio
/// of "ratio r" against "ratio 1" is r^c / (1 + s (r - 1))^(c + b) — it
/// depends on the errors and the share only, and s may change at every look
/// as the weight ramps.
///
/// **Statistic**: a mixture (equal weights by default,
/// [`ErrorCountTest::with_weighted_ratios`] otherwise) of those likelihood-ratio
/// martingales over a grid of ratios r (1.41x to 16x by default, 8 points
/// spaced by sqrt 2): a test martingale under the null (each component is,
/// and so is any fixed mixture), hence anytime-valid by Ville's inequality.
/// It adapts to the true ratio without knowing it, paying at most ln 8 = 2.1
/// nats of evidence for that over an SPRT tuned to the right ratio. Ratios
/// below 1.4x are still detected (the 1.41x component grows), more slowly;
/// pass a finer grid with [`ErrorCountTest::with_ratios`] to target them. Rejects at
/// M >= 1/alpha; p-value min(1, 1/max M). For `Greater` (the default use) the
/// null is the composite "ratio <= 1": the martingale is a supermartingale
/// for every ratio below 1 as well. `Less` uses 1/r, `TwoSided` both grids.
///
/// **Assumes** errors independent given the traffic (a single client
/// retrying a failing call on the canary creates many correlated errors and
/// will look like a regression — which it usually is). Pass the *observed*
/// share of requests in that look, `canary_requests / (canary + baseline
/// requests)`, not the configured weight: a split that misses its weight
/// (see `sample_ratio_mismatch`) must not bias the test. With Bernoulli
/// rather than Poisson requests the canary's errors given the total are
/// hypergeometric, which is dominated in convex order by the binomial
/// (Hoeffding 1963), so the martingale is still a supermartingale.
///
/// **Transients** ([`ErrorCountTest::tolerating_transients`]): a canary
/// that fails hard for a minute (a cold cache, a restart) is, for that
/// minute, a real regression, and any test that accumulates evidence is
/// convinced by it. When a burst shorter than `D` must never roll back, the
/// test sets aside, in every component, the evidence of the strongest run of
/// looks that a single burst of length `D` could touch (looks i..j with
/// `start_j - end_i < D`), counting only the positive part of each look.
/// The statistic is then at most the martingale of the looks *outside* the
/// burst, so a canary that is healthy except for one burst of length ≤ D —
/// however bad the burst — is rejected with probability ≤ alpha, and a
/// canary healthy throughout still is too (the statistic only went down).
/// The price is the evidence of about `D` worth of looks on a real
/// regression: it is caught that much later.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorCountTest {
    ln_ratio: Vec<f64>,
    ratio_minus_one: Vec<f64>,
    log_m: Vec<f64>,
    /// ln of each component's weight in the mixture (weights sum to 1).
    ln_weights: Vec<f64>,
    log_mixture: f64,
    evidence: Evidence,
    canary_errors: u64,
    baseline_errors: u64,
    transients: Option<Transients>,
}

/// The bookkeeping of [`ErrorCountTest::tolerating_transients`]: the time
/// spans of the looks, and per component the prefix sums of their positive
/// evidence, so the strongest burst-sized run ending at each look is one
/// subtraction (two pointers: the earliest look a burst ending now can reach
/// only moves forward).
#[derive(Debug, Clone, PartialEq)]
struct Transients {
    duration_ms: i64,
    /// (start, end) of every look, in order.
    spans: Vec<(i64, i64)>,
    /// prefix[k][i]: positive evidence of component k over looks 0..i.
    prefix: Vec<Vec<f64>>,
    /// Earliest look a burst that touches the latest look can also touch.
    lo: usize,
    /// Per component, the strongest burst-sized run so far, and its looks
    /// (first, last).
    set_aside: Vec<f64>,
    runs: Vec<(usize, usize)>,
}

impl ErrorCountTest {
    /// The default grid of ratios for the direction of interest.
    pub fn new(alpha: f64, alternative: Alternative) -> Result<ErrorCountTest> {
        let up: Vec<f64> = (1..=STEPS).map(|k| 2f64.powf(k as f64 / 2.0)).collect();
        let ratios: Vec<f64> = match alternative {
            Alternative::Greater => up,
            Alternative::Less => up.iter().map(|r| 1.0 / r).collect(),
            Alternative::TwoSided => up.iter().flat_map(|&r| [r, 1.0 / r]).collect(),
        };
        Self::with_ratios(alpha, &ratios)
    }

    /// A custom grid of alternative ratios (canary rate / baseline rate),
    /// mixed with equal weights. Put the grid where regressions that matter
    /// are: a policy's minimum effect size is a natural lowest point.
    pub fn with_ratios(alpha: f64, ratios: &[f64]) -> Result<ErrorCountTest> {
        Self::with_weighted_ratios(alpha, ratios, &vec![1.0; ratios.len()])
    }

    /// A grid of ratios mixed with the given weights (normalized here).
    /// Still a test martingale under the null for any fixed weights; what
    /// they change is which regressions pay less to be detected. Weights
    /// proportional to the errors a ratio needs to be told from 1
    /// ([`ErrorCountTest::hardness`]) spend the mixture's cost where
    /// detection is slow, and little where it is fast anyway.
    pub fn with_weighted_ratios(
        alpha: f64,
        ratios: &[f64],
        weights: &[f64],
    ) -> Result<ErrorCountTest> {
        check_alpha(alpha)?;
        if weights.len() != ratios.len() || weights.iter().any(|w| !(w.is_finite() && *w > 0.0)) {
            return Err(StatsError::Undefined(
                "one finite, positive weight per alternative ratio is needed",
            ));
        }
        let total: f64 = weights.iter().sum();
        if ratios.is_empty() {
            return Err(StatsError::Undefined("the grid of ratios is empty"));
        }
        if let Some(&r) = ratios.iter().find(|r| !(r.is_finite() && **r > 0.0)) {
            return Err(StatsError::InvalidParameter {
                name: "ratio",
                value: r,
                why: "alternative ratios must be finite and positive",
            });
        }
        Ok(ErrorCountTest {
            ln_ratio: ratios.iter().map(|r| r.ln()).collect(),
            ratio_minus_one: ratios.iter().map(|r| r - 1.0).collect(),
            log_m: vec![0.0; ratios.len()],
            ln_weights: weights.iter().map(|w| (w / total).ln()).collect(),
            log_mixture: 0.0,
            evidence: Evidence::new(alpha),
            canary_errors: 0,
            baseline_errors: 0,
            transients: None,
        })
    }

    /// Never rejects on the strength of one burst no longer than
    /// `duration_ms` (see the type's docs). Every look must then come with
    /// its time span ([`ErrorCountTest::update_over`]).
    pub fn tolerating_transients(mut self, duration_ms: i64) -> Result<ErrorCountTest> {
        if duration_ms <= 0 {
            return Err(StatsError::InvalidParameter {
                name: "duration_ms",
                value: duration_ms as f64,
                why: "the longest transient to tolerate must be a positive duration",
            });
        }
        let k = self.log_m.len();
        self.transients = Some(Transients {
            duration_ms,
            spans: Vec::new(),
            prefix: vec![vec![0.0]; k],
            lo: 0,
            set_aside: vec![0.0; k],
            runs: vec![(0, 0); k],
        });
        Ok(self)
    }

    /// Adds one look: errors since the last look on each side, and the
    /// canary's share of the requests during that look.
    pub fn update(
        &mut self,
        canary_errors: u64,
        baseline_errors: u64,
        canary_share: f64,
    ) -> Result<()> {
        self.update_over(canary_errors, baseline_errors, canary_share, None)
    }

    /// [`ErrorCountTest::update`] for a look that covered `span` = (start,
    /// end) in milliseconds. A test that tolerates transients needs the span
    /// of every look, in time order.
    pub fn update_over(
        &mut self,
        canary_errors: u64,
        baseline_errors: u64,
        canary_share: f64,
        span: Option<(i64, i64)>,
    ) -> Result<()> {
        if !(0.0..=1.0).contains(&canary_share) {
            return Err(StatsError::InvalidParameter {
                name: "canary_share",
                value: canary_share,
                why: "a share of requests must be in [0, 1]",
            });
        }
        if (canary_share == 0.0 && canary_errors > 0)
            || (canary_share == 1.0 && baseline_errors > 0)
        {
            return Err(StatsError::Undefined(
                "errors reported for a cohort that received no requests",
            ));
        }
        if let Some(t) = &self.transients {
            t.check(span)?;
        }
        let n = canary_errors
            .checked_add(baseline_errors)
            .ok_or(StatsError::Undefined("error counts overflow"))?;
        self.canary_errors = self.canary_errors.saturating_add(canary_errors);
        self.baseline_errors = self.baseline_errors.saturating_add(baseline_errors);
        let (c, nf) = (canary_errors as f64, n as f64);
        let ratios = self.ln_ratio.iter().zip(&self.ratio_minus_one);
        // A look without errors carries no evidence, but its span still
        // counts: a burst cannot reach across it for free.
        let look: Vec<f64> = ratios
            .map(|(&lr, &rm1)| {
                if n == 0 {
                    0.0
                } else {
                    c * lr - nf * (canary_share * rm1).ln_1p()
                }
            })
            .collect();
        for (lm, x) in self.log_m.iter_mut().zip(&look) {
            *lm += x;
        }
        if let (Some(t), Some(span)) = (&mut self.transients, span) {
            t.push(span, &look);
        } else if n == 0 {
            return Ok(());
        }
        let set_aside = self.transients.as_ref().map(|t| t.set_aside.as_slice());
        let trimmed =
            |k: usize| self.log_m[k] - set_aside.map_or(0.0, |a| a[k]) + self.ln_weights[k];
        let max = (0..self.log_m.len())
            .map(trimmed)
            .fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = (0..self.log_m.len())
            .map(|k| (trimmed(k) - max).exp())
            .sum();
        self.log_mixture = max + sum.ln();
        self.evidence.observe(self.log_mixture);
        Ok(())
    }

    /// The evidence (nats, in the strongest component) set aside as the
    /// strongest burst so far; 0 unless the test tolerates transients.
    pub fn set_aside(&self) -> f64 {
        match (&self.transients, self.strongest()) {
            (Some(t), Some(k)) => t.set_aside[k],
            _ => 0.0,
        }
    }

    /// The looks (first, last; counted from 0 in update order) whose
    /// evidence was set aside in the strongest component, if any was: what
    /// a caller leaves out when it reports the rates the test rests on.
    pub fn set_aside_looks(&self) -> Option<(usize, usize)> {
        match (&self.transients, self.strongest()) {
            (Some(t), Some(k)) if t.set_aside[k] > 0.0 => Some(t.runs[k]),
            _ => None,
        }
    }

    /// The component that dominates the mixture (largest statistic after
    /// setting aside).
    fn strongest(&self) -> Option<usize> {
        let t = self.transients.as_ref()?;
        (0..self.log_m.len()).max_by(|&a, &b| {
            let (ta, tb) = (
                self.log_m[a] - t.set_aside[a] + self.ln_weights[a],
                self.log_m[b] - t.set_aside[b] + self.ln_weights[b],
            );
            ta.total_cmp(&tb)
        })
    }

    /// How many errors it takes, relatively, to tell a canary failing
    /// `ratio` times as often from an equal one at a small canary share:
    /// 1 / (r ln r − r + 1), the inverse of the evidence (nats per error
    /// over the share) that component gains when the ratio is true. A
    /// weight for [`ErrorCountTest::with_weighted_ratios`].
    pub fn hardness(ratio: f64) -> f64 {
        1.0 / (ratio * ratio.ln() - ratio + 1.0)
    }

    /// log of the mixture martingale now (the evidence against "no regression").
    pub fn log_evidence(&self) -> f64 {
        self.log_mixture
    }

    /// Errors seen so far: (canary, baseline).
    pub fn errors(&self) -> (u64, u64) {
        (self.canary_errors, self.baseline_errors)
    }
}

impl Transients {
    fn check(&self, span: Option<(i64, i64)>) -> Result<()> {
        let Some((start, end)) = span else {
            return Err(StatsError::Undefined(
                "a test that tolerates transients needs the time span of every look",
            ));
        };
        if end < start {
            return Err(StatsError::Undefined("a look ends before it starts"));
        }
        if let Some(&(s0, e0)) = self.spans.last() {
            if start < s0 || end < e0 {
                return Err(StatsError::Undefined("looks must come in time order"));
            }
        }
        Ok(())
    }

    fn push(&mut self, span: (i64, i64), look: &[f64]) {
        self.spans.push(span);
        let j = self.spans.len() - 1;
        // A burst [a, a + D) touches looks i and j when a < end_i and
        // a + D > start_j: possible iff start_j - end_i < D.
        while self.lo < j && span.0.saturating_sub(self.spans[self.lo].1) >= self.duration_ms {
            self.lo += 1;
        }
        let per_component = self.prefix.iter_mut().zip(&mut self.set_aside);
        for (((prefix, best), run_of), &x) in per_component.zip(&mut self.runs).zip(look) {
            let last = prefix.last().copied().unwrap_or(0.0);
            prefix.push(last + x.max(0.0));
            let run = prefix[j + 1] - prefix[self.lo];
            if run > *best {
                *best = run;
                *run_of = (self.lo, j);
            }
        }
    }
}

impl AnytimeTest for ErrorCountTest {
    fn p_value(&self) -> f64 {
        self.evidence.p_value()
    }

    fn rejected(&self) -> bool {
        self.evidence.rejected()
    }
}

#[cfg(test)]
mod transient_tests {
    use super::*;

    fn tolerant() -> ErrorCountTest {
        ErrorCountTest::new(0.05, Alternative::Greater)
            .and_then(|t| t.tolerating_transients(60_000))
            .unwrap()
    }

    #[test]
    fn one_burst_however_bad_is_set_aside_entirely() {
        let mut t = tolerant();
        // Healthy (no canary errors), then 60 s of every canary error.
        for (i, (ec, eb)) in [(0, 50), (0, 50), (500, 50), (500, 50), (0, 50)]
            .into_iter()
            .enumerate()
        {
            let start = i as i64 * 30_000;
            t.update_over(ec, eb, 0.1, Some((start, start + 30_000)))
                .unwrap();
        }
        assert!(t.log_evidence() <= 0.0, "{}", t.log_evidence());
        assert!(!t.rejected());
        assert!(
            t.set_aside() > 100.0,
            "the burst was set aside: {}",
            t.set_aside()
        );
        // Looks 2 and 3, plus a neighbour a 60 s burst could also touch.
        let (first, last) = t.set_aside_looks().unwrap();
        assert!(
            first <= 2 && last >= 3 && last - first <= 2,
            "{first}..{last}"
        );
    }

    #[test]
    fn two_bursts_further_apart_than_the_tolerance_are_not() {
        let mut t = tolerant();
        for i in 0..8 {
            let ec = if i == 0 || i == 7 { 60 } else { 5 };
            let start = i as i64 * 30_000;
            t.update_over(ec, 50, 0.1, Some((start, start + 30_000)))
                .unwrap();
        }
        assert!(t.rejected(), "log evidence {}", t.log_evidence());
    }

    #[test]
    fn looks_need_spans_in_time_order() {
        let mut t = tolerant();
        assert!(t.update(1, 1, 0.5).is_err());
        t.update_over(1, 1, 0.5, Some((60_000, 90_000))).unwrap();
        assert!(t.update_over(1, 1, 0.5, Some((0, 30_000))).is_err());
        assert!(t.update_over(1, 1, 0.5, Some((90_000, 80_000))).is_err());
        assert!(ErrorCountTest::new(0.05, Alternative::Greater)
            .unwrap()
            .tolerating_transients(0)
            .is_err());
    }

    #[test]
    fn without_tolerance_the_statistic_is_unchanged() {
        let mut a = ErrorCountTest::new(0.05, Alternative::Greater).unwrap();
        let mut b = ErrorCountTest::new(0.05, Alternative::Greater).unwrap();
        for i in 0..5 {
            a.update(7, 40, 0.1).unwrap();
            b.update_over(7, 40, 0.1, Some((i * 10, i * 10 + 10)))
                .unwrap();
        }
        assert_eq!(a.log_evidence(), b.log_evidence());
        assert_eq!(a.set_aside(), 0.0);
    }
}
