//! Exact binomial test (SciPy `binomtest`).

use crate::dist::{binom_cdf, binom_pmf, binom_sf};
use crate::error::{Result, StatsError};
use crate::types::{check_probability, Alternative, Method, TestResult};

/// Exact test that `successes` out of `trials` are consistent with a success
/// probability `p` (SciPy `binomtest(k, n, p, alternative)`).
///
/// **Use it for** one observed proportion against a known one: the canary's
/// share of requests against the weight that was set (see
/// [`crate::sample_ratio_mismatch`]), or a canary's error count against a
/// known SLO rate.
///
/// **Assumes** independent trials with a common probability.
/// The statistic is `successes / trials`. `Greater` = the true probability
/// exceeds `p`. The two-sided p-value sums the probabilities of all outcomes
/// no more likely than the observed one (relative tolerance 1e-7, as SciPy).
/// Tails come from the regularized incomplete beta function, so the cost does
/// not grow with `trials` (one test on 10^9 requests is microseconds).
pub fn binomial_test(
    successes: u64,
    trials: u64,
    p: f64,
    alternative: Alternative,
) -> Result<TestResult> {
    check_probability("p", p)?;
    if trials == 0 {
        return Err(StatsError::ZeroTotal { which: "trials" });
    }
    if successes > trials {
        return Err(StatsError::ErrorsExceedTotal {
            which: "binomial test",
            errors: successes,
            total: trials,
        });
    }
    let (k, n) = (successes, trials);
    let pv = match alternative {
        Alternative::Less => binom_cdf(k as i64, n, p),
        Alternative::Greater => binom_sf(k as i64 - 1, n, p),
        Alternative::TwoSided => two_sided(k, n, p),
    };
    Ok(TestResult {
        statistic: k as f64 / n as f64,
        p_value: pv.clamp(0.0, 1.0),
        method: Method::Exact,
    })
}

fn two_sided(k: u64, n: u64, p: f64) -> f64 {
    let d = binom_pmf(k, n, p) * (1.0 + 1e-7);
    let mean = p * n as f64;
    let kf = k as f64;
    if kf == mean {
        return 1.0;
    }
    if kf < mean {
        // First x in [ceil(mean), n] with pmf(x) <= d (pmf decreasing there).
        let (mut lo, mut hi) = (mean.ceil() as u64, n + 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if binom_pmf(mid, n, p) <= d {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        binom_cdf(k as i64, n, p) + binom_sf(lo as i64 - 1, n, p)
    } else {
        // Last x in [0, floor(mean)] with pmf(x) <= d (pmf increasing there).
        let (mut lo, mut hi) = (0i64, mean.floor() as i64);
        if binom_pmf(0, n, p) > d {
            return binom_sf(k as i64 - 1, n, p);
        }
        while lo < hi {
            let mid = lo + (hi - lo + 1) / 2;
            if binom_pmf(mid as u64, n, p) <= d {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        binom_cdf(lo, n, p) + binom_sf(k as i64 - 1, n, p)
    }
}
