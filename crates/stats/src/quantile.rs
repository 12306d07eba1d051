//! Quantiles with distribution-free confidence intervals, from raw samples.

use crate::dist::{binom_cdf, binom_pmf, norm_ppf};
use crate::error::{Result, StatsError};
use crate::sample::{quantile_type7, sorted};
use crate::types::{check_level, Interval};

/// Checks q is in [0, 1].
pub(crate) fn check_q(q: f64) -> Result<()> {
    if (0.0..=1.0).contains(&q) {
        Ok(())
    } else {
        Err(StatsError::InvalidParameter {
            name: "q",
            value: q,
            why: "a quantile must be in [0, 1]",
        })
    }
}

/// The 1-based order-statistic ranks (l, u) whose values bound the q-quantile
/// with probability >= level, from B ~ Binomial(n, q), the number of
/// observations at or below the true quantile: l is the smallest rank with
/// P(B <= l) > alpha/2 and u - 1 the smallest with P(B <= u - 1) >= 1 - alpha/2,
/// so that P(l <= B <= u - 1) >= level. l = 0 means "no lower bound" and
/// u = n + 1 "no upper bound" at this level.
pub(crate) fn rank_bounds(n: u64, q: f64, level: f64) -> (u64, u64) {
    let half = (1.0 - level) / 2.0;
    let l = first_rank(n, q, half, true);
    let u = first_rank(n, q, 1.0 - half, false) + 1;
    (l, u)
}

/// Smallest j in 0..=n with P(B <= j) > prob (`strict`) or >= prob, n + 1 if
/// none. Starts from the normal approximation's guess, evaluates the CDF
/// once there and walks pmf term by pmf term to the exact answer (a few
/// steps): microseconds even for millions of observations.
fn first_rank(n: u64, q: f64, prob: f64, strict: bool) -> u64 {
    let pred = |c: f64| if strict { c > prob } else { c >= prob };
    let nf = n as f64;
    let guess = nf * q + norm_ppf(prob) * (nf * q * (1.0 - q)).sqrt();
    let mut j = if guess.is_finite() {
        guess.round().clamp(0.0, nf) as u64
    } else {
        0
    };
    let mut f = binom_cdf(j as i64, n, q);
    if pred(f) {
        while j > 0 {
            let below = f - binom_pmf(j, n, q);
            if !pred(below) {
                break;
            }
            f = below;
            j -= 1;
        }
        j
    } else {
        while j < n {
            j += 1;
            f += binom_pmf(j, n, q);
            if pred(f) {
                return j;
            }
        }
        n + 1
    }
}

/// The q-quantile of a sample with a distribution-free confidence interval.
///
/// **Use it for** "canary p99 vs baseline p99" from raw per-request samples:
/// compare intervals, not point estimates (a p99 from 200 requests is the
/// 2nd-largest value and very noisy).
///
/// **Estimate**: linear interpolation between order statistics (Hyndman &
/// Fan type 7, NumPy's and R's default). **Interval**: order statistics
/// [x_(l), x_(u)] with l, u from the Binomial(n, q) distribution of the
/// number of observations below the true quantile (the classical
/// distribution-free method; coverage >= level, exact for continuous data,
/// conservative with ties). **Assumes** independent observations from one
/// distribution. When the sample is too small to bound a side at this level
/// that side is infinite: a p99 needs n >= 299 for a finite 95% upper bound
/// (0.99^n <= 0.05).
pub fn quantile_interval(sample: &[f64], q: f64, level: f64) -> Result<Interval> {
    check_q(q)?;
    check_level(level)?;
    let x = sorted("sample", sample)?;
    let n = x.len() as u64;
    let (l, u) = rank_bounds(n, q, level);
    let estimate = quantile_type7(&x, q);
    let low = if l == 0 {
        f64::NEG_INFINITY
    } else {
        x[(l - 1) as usize].min(estimate)
    };
    let high = if u > n {
        f64::INFINITY
    } else {
        x[(u - 1) as usize].max(estimate)
    };
    Ok(Interval {
        estimate,
        low,
        high,
        level,
    })
}

/// Interval for the ratio of two quantiles, canary / baseline: each quantile
/// gets a sqrt(level) interval, so by independence the ratio's interval has
/// coverage >= level (conservative).
///
/// **Use it for** rules like `p99 > 1.5x baseline`: breach when `low > 1.5`.
/// Needs positive values (latencies); a non-positive baseline bound makes
/// the upper end infinite.
pub fn quantile_ratio_interval(
    canary: &[f64],
    baseline: &[f64],
    q: f64,
    level: f64,
) -> Result<Interval> {
    check_level(level)?;
    let each = level.sqrt();
    let c = quantile_interval(canary, q, each)?;
    let b = quantile_interval(baseline, q, each)?;
    let div = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::INFINITY };
    Ok(Interval {
        estimate: div(c.estimate, b.estimate),
        low: if c.low > 0.0 { div(c.low, b.high) } else { 0.0 },
        high: div(c.high, b.low),
        level,
    })
}
