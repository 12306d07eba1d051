//! Effect sizes: how big a difference is, as opposed to how sure we are.
//!
//! A p-value on a million requests is tiny for a 0.1 ms shift nobody cares
//! about; a policy's minimum effect size is judged on these instead.

use crate::error::{Result, StatsError};
use crate::mann_whitney::RankSummary;
use crate::sample::{mean, sorted, validate};
use crate::types::check_probability;

/// Probability of superiority and Cliff's delta for canary vs baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dominance {
    /// Common-language effect size P(canary > baseline) + P(tie)/2, in [0, 1];
    /// 0.5 = no difference. Equals U1 / (m*n) of the Mann-Whitney test.
    pub common_language: f64,
    /// Cliff's delta P(canary > baseline) - P(canary < baseline), in [-1, 1].
    /// Conventional readings of |delta|: < 0.147 negligible, < 0.33 small,
    /// < 0.474 medium, otherwise large (Romano et al. 2006).
    pub cliffs_delta: f64,
}

/// Common-language effect size and Cliff's delta, from ranks: O((m+n) log(m+n)),
/// without forming the m*n pairs. Distribution-free; suits latency.
pub fn dominance(canary: &[f64], baseline: &[f64]) -> Result<Dominance> {
    let x = sorted("canary", canary)?;
    let y = sorted("baseline", baseline)?;
    let s = RankSummary::from_sorted(&x, &y);
    let cl = s.u1 / (s.m as f64 * s.n as f64);
    Ok(Dominance {
        common_language: cl,
        cliffs_delta: 2.0 * cl - 1.0,
    })
}

/// Cohen's h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p2)) for two proportions
/// (canary rate first): a difference of error rates on a variance-stabilised
/// scale, so that 1% vs 2% and 40% vs 41% are not treated alike. Readings:
/// 0.2 small, 0.5 medium, 0.8 large (Cohen 1988).
pub fn cohens_h(canary_rate: f64, baseline_rate: f64) -> Result<f64> {
    check_probability("canary_rate", canary_rate)?;
    check_probability("baseline_rate", baseline_rate)?;
    Ok(2.0 * canary_rate.sqrt().asin() - 2.0 * baseline_rate.sqrt().asin())
}

/// mean(canary) / mean(baseline): the effect behind "latency > 1.5x baseline"
/// rules on means (and Kayenta's increase/decrease thresholds). Sensitive to
/// outliers by design of the mean; fails when the baseline mean is 0.
pub fn mean_ratio(canary: &[f64], baseline: &[f64]) -> Result<f64> {
    validate("canary", canary)?;
    validate("baseline", baseline)?;
    let b = mean(baseline);
    if b == 0.0 {
        return Err(StatsError::Undefined("the baseline mean is zero: no ratio"));
    }
    Ok(mean(canary) / b)
}
