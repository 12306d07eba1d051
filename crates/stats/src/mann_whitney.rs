//! Mann-Whitney U (Wilcoxon rank-sum) test, SciPy `mannwhitneyu` conventions.

use crate::dist::norm_sf;
use crate::error::Result;
use crate::rank_dist::UDistribution;
use crate::sample::{sorted, tie_groups};
use crate::types::{Alternative, Method, MethodChoice, TestResult};

/// The rank summary of two samples that U-based statistics share.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RankSummary {
    pub m: usize,
    pub n: usize,
    /// U of the canary: #(canary > baseline) + 0.5 * #(ties).
    pub u1: f64,
    /// Sum over tie groups of t^3 - t (0 when there are no ties).
    pub tie_term: f64,
}

impl RankSummary {
    pub(crate) fn from_sorted(x: &[f64], y: &[f64]) -> RankSummary {
        let (mut u1, mut tie_term, mut y_below) = (0.0f64, 0.0f64, 0usize);
        tie_groups(x, y, |_, cx, cy| {
            u1 += cx as f64 * (y_below as f64 + 0.5 * cy as f64);
            let t = (cx + cy) as f64;
            tie_term += t * t * t - t;
            y_below += cy;
        });
        RankSummary {
            m: x.len(),
            n: y.len(),
            u1,
            tie_term,
        }
    }

    /// Standard deviation of U under the null, with the tie correction.
    pub(crate) fn sigma(&self) -> f64 {
        let (m, n) = (self.m as f64, self.n as f64);
        let big_n = m + n;
        let tie = if big_n > 1.0 {
            self.tie_term / (big_n * (big_n - 1.0))
        } else {
            0.0
        };
        (m * n / 12.0 * ((big_n + 1.0) - tie)).max(0.0).sqrt()
    }
}

/// Mann-Whitney U test: is one sample stochastically larger than the other?
///
/// **Use it for** latency and other continuous metrics where you want to know
/// whether the canary's values tend to be larger than the baseline's, without
/// assuming any distribution shape (latency is skewed and multi-modal; a
/// t-test's normality assumption does not hold).
///
/// **Assumes** independent observations within and between the samples (true
/// for per-request latencies from different pods, *not* for per-interval
/// aggregates of overlapping windows) and, for the exact p-value, no ties.
/// It tests P(canary > baseline) = 1/2, not equality of medians: two
/// distributions with the same median but different shapes can differ.
///
/// **Conventions (SciPy `mannwhitneyu`, `use_continuity=True`)**: the
/// statistic is U of the canary, `U1 = #(canary > baseline) + ties/2`.
/// `Greater` tests "canary stochastically greater" with p = P(U >= U1);
/// `Less` uses U2 = m*n - U1; `TwoSided` doubles the tail of max(U1, U2),
/// clipped to 1. `Auto` picks the exact distribution when there are no ties
/// and either sample has at most 8 observations, the normal approximation
/// with tie and continuity corrections otherwise — SciPy's rule. Where SciPy
/// would compute an exact table we cannot hold (m*n > 10^6 or counts past
/// 2^120), and when `Exact` is asked for tied data (the no-ties table is then
/// the wrong distribution), we use the normal approximation and say so in
/// [`TestResult::method`].
pub fn mann_whitney(
    canary: &[f64],
    baseline: &[f64],
    alternative: Alternative,
    method: MethodChoice,
) -> Result<TestResult> {
    let x = sorted("canary", canary)?;
    let y = sorted("baseline", baseline)?;
    Ok(mann_whitney_summary(
        RankSummary::from_sorted(&x, &y),
        alternative,
        method,
    ))
}

pub(crate) fn mann_whitney_summary(
    s: RankSummary,
    alternative: Alternative,
    method: MethodChoice,
) -> TestResult {
    let mn = s.m as f64 * s.n as f64;
    let u2 = mn - s.u1;
    let (u, factor) = match alternative {
        Alternative::Greater => (s.u1, 1.0),
        Alternative::Less => (u2, 1.0),
        Alternative::TwoSided => (s.u1.max(u2), 2.0),
    };
    let ties = s.tie_term > 0.0;
    let want_exact = match method {
        MethodChoice::Auto => !ties && (s.m <= 8 || s.n <= 8),
        MethodChoice::Exact => !ties,
        MethodChoice::Asymptotic => false,
    };
    let exact = if want_exact {
        UDistribution::new(s.m, s.n).map(|d| d.sf(u as i64))
    } else {
        None
    };
    let (p, method) = match exact {
        Some(p) => (p, Method::Exact),
        None => {
            let sigma = s.sigma();
            let numerator = u - mn / 2.0 - 0.5;
            let z = if sigma > 0.0 {
                numerator / sigma
            } else if numerator < 0.0 {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            };
            (norm_sf(z), Method::Asymptotic)
        }
    };
    TestResult {
        statistic: s.u1,
        p_value: (p * factor).clamp(0.0, 1.0),
        method,
    }
}
