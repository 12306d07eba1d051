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
/// **Statistic**: a mixture, with equal weights, of those likelihood-ratio
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
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorCountTest {
    ln_ratio: Vec<f64>,
    ratio_minus_one: Vec<f64>,
    log_m: Vec<f64>,
    ln_components: f64,
    log_mixture: f64,
    evidence: Evidence,
    canary_errors: u64,
    baseline_errors: u64,
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
        check_alpha(alpha)?;
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
            ln_components: (ratios.len() as f64).ln(),
            log_mixture: 0.0,
            evidence: Evidence::new(alpha),
            canary_errors: 0,
            baseline_errors: 0,
        })
    }

    /// Adds one look: errors since the last look on each side, and the
    /// canary's share of the requests during that look.
    pub fn update(
        &mut self,
        canary_errors: u64,
        baseline_errors: u64,
        canary_share: f64,
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
        let n = canary_errors + baseline_errors;
        if n == 0 {
            return Ok(());
        }
        self.canary_errors += canary_errors;
        self.baseline_errors += baseline_errors;
        let (c, nf) = (canary_errors as f64, n as f64);
        let mut max = f64::NEG_INFINITY;
        for ((lm, &lr), &rm1) in self
            .log_m
            .iter_mut()
            .zip(&self.ln_ratio)
            .zip(&self.ratio_minus_one)
        {
            *lm += c * lr - nf * (canary_share * rm1).ln_1p();
            max = max.max(*lm);
        }
        let sum: f64 = self.log_m.iter().map(|lm| (lm - max).exp()).sum();
        self.log_mixture = max + sum.ln() - self.ln_components;
        self.evidence.observe(self.log_mixture);
        Ok(())
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

impl AnytimeTest for ErrorCountTest {
    fn p_value(&self) -> f64 {
        self.evidence.p_value()
    }

    fn rejected(&self) -> bool {
        self.evidence.rejected()
    }
}
