//! Confidence intervals for comparing two error rates.

use crate::counts::Counts;
use crate::dist::{norm_ppf, norm_sf};
use crate::error::Result;
use crate::types::{check_level, Alternative, Method, TestResult};
use crate::Interval;

/// Rate ratio canary/baseline with its confidence interval, and the test of
/// "ratio = 1" that matches the interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateComparison {
    /// Estimate and interval of the ratio (or difference).
    pub interval: Interval,
    /// z statistic and p-value of "no difference", in the requested direction.
    pub test: TestResult,
}

/// Ratio of error rates canary/baseline: "the canary fails 2.1x as often
/// (95% CI 1.4x to 3.2x)".
///
/// **Use it for** ratio rules (`error_rate > 2x baseline`) judged with
/// confidence: breach when the interval's *low* end exceeds the threshold,
/// not when the point estimate does.
///
/// **Method**: Katz's log interval, exp(log RR +- z * sqrt(1/a - 1/n1 + 1/c -
/// 1/n2)); with a zero error count on either side every count gets the
/// Haldane-Anscombe correction (+0.5 to errors, +1 to totals) and the
/// estimate is the corrected ratio, so the interval always contains it.
/// The test is the Wald z-test on log RR with the same standard error, so
/// "p < 1 - level" (two-sided) exactly when the interval excludes 1.
/// **Assumes** independent requests and enough errors (say >= 5 per side) for
/// the log-normal approximation; with fewer, prefer [`crate::fisher_exact`].
pub fn rate_ratio(
    canary: Counts,
    baseline: Counts,
    level: f64,
    alternative: Alternative,
) -> Result<RateComparison> {
    check_level(level)?;
    canary.check_nonzero("canary")?;
    baseline.check_nonzero("baseline")?;
    let (mut a, mut n1) = (canary.errors as f64, canary.total as f64);
    let (mut c, mut n2) = (baseline.errors as f64, baseline.total as f64);
    if a == 0.0 || c == 0.0 {
        a += 0.5;
        c += 0.5;
        n1 += 1.0;
        n2 += 1.0;
    }
    let log_rr = (a / n1).ln() - (c / n2).ln();
    let se = (1.0 / a - 1.0 / n1 + 1.0 / c - 1.0 / n2).max(0.0).sqrt();
    let z = norm_ppf(1.0 - (1.0 - level) / 2.0);
    let interval = Interval {
        estimate: log_rr.exp(),
        low: (log_rr - z * se).exp(),
        high: (log_rr + z * se).exp(),
        level,
    };
    let stat = if se > 0.0 { log_rr / se } else { 0.0 };
    Ok(RateComparison {
        interval,
        test: z_test(stat, alternative),
    })
}

/// Difference of error rates canary - baseline: "+0.3 percentage points
/// (95% CI +0.1 to +0.5)".
///
/// **Use it for** delta rules (`error_rate +0.5 points`) and whenever the
/// baseline rate is zero (where a ratio is meaningless).
///
/// **Method**: Newcombe's hybrid score interval (Newcombe 1998, method 10),
/// built from the two Wilson score intervals: accurate for small counts and
/// for rates near 0, where the Wald interval collapses to zero width. The
/// test is the pooled two-proportion z-test (equivalent to chi-square without
/// Yates' correction).
pub fn rate_difference(
    canary: Counts,
    baseline: Counts,
    level: f64,
    alternative: Alternative,
) -> Result<RateComparison> {
    check_level(level)?;
    canary.check_nonzero("canary")?;
    baseline.check_nonzero("baseline")?;
    let z = norm_ppf(1.0 - (1.0 - level) / 2.0);
    let (p1, p2) = (canary.rate(), baseline.rate());
    let (l1, u1) = wilson(p1, canary.total as f64, z);
    let (l2, u2) = wilson(p2, baseline.total as f64, z);
    let d = p1 - p2;
    let interval = Interval {
        estimate: d,
        low: d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt(),
        high: d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt(),
        level,
    };
    let (n1, n2) = (canary.total as f64, baseline.total as f64);
    let pooled = (canary.errors + baseline.errors) as f64 / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    let stat = if se > 0.0 { d / se } else { 0.0 };
    Ok(RateComparison {
        interval,
        test: z_test(stat, alternative),
    })
}

/// Wilson score interval for a proportion p from n trials.
fn wilson(p: f64, n: f64, z: f64) -> (f64, f64) {
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((center - half).max(0.0), (center + half).min(1.0))
}

pub(crate) fn z_test(z: f64, alternative: Alternative) -> TestResult {
    let p = match alternative {
        Alternative::Greater => norm_sf(z),
        Alternative::Less => norm_sf(-z),
        Alternative::TwoSided => (2.0 * norm_sf(z.abs())).min(1.0),
    };
    TestResult {
        statistic: z,
        p_value: p,
        method: Method::Asymptotic,
    }
}
