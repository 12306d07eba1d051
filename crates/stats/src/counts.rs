//! Error counts of one cohort, and the 2x2 tests on canary vs baseline counts.

use crate::dist::{chi2_1_sf, norm_cdf, norm_sf};
use crate::error::{Result, StatsError};
use crate::hypergeometric::{Hypergeometric, MAX_COUNT, MAX_SD_FOR_SUMS};
use crate::types::{Alternative, Method, TestResult};

/// Errors out of a total (requests) for one cohort over one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Failed requests in the window; at most `total`.
    pub errors: u64,
    /// All requests in the window, failed ones included.
    pub total: u64,
}

impl Counts {
    /// Checked constructor: errors may not exceed the total.
    pub fn new(errors: u64, total: u64) -> Result<Counts> {
        let c = Counts { errors, total };
        c.check("counts")?;
        Ok(c)
    }

    pub(crate) fn check(&self, which: &'static str) -> Result<()> {
        if self.errors > self.total {
            return Err(StatsError::ErrorsExceedTotal {
                which,
                errors: self.errors,
                total: self.total,
            });
        }
        Ok(())
    }

    pub(crate) fn check_nonzero(&self, which: &'static str) -> Result<()> {
        self.check(which)?;
        if self.total == 0 {
            return Err(StatsError::ZeroTotal { which });
        }
        Ok(())
    }

    /// errors / total.
    pub fn rate(&self) -> f64 {
        self.errors as f64 / self.total as f64
    }

    pub(crate) fn ok(&self) -> u64 {
        self.total - self.errors
    }
}

/// Pearson's chi-square test of independence on the 2x2 table
/// `[[canary errors, canary ok], [baseline errors, baseline ok]]`
/// (SciPy `chi2_contingency`), always two-sided.
///
/// **Use it for** "is the canary's error rate different?" when every expected
/// count is at least ~5; otherwise use [`fisher_exact`]. `yates = true`
/// applies Yates' continuity correction (SciPy's default `correction=True`),
/// each |observed - expected| reduced by at most 0.5: more conservative, closer
/// to Fisher's exact p-value on small tables.
///
/// **Assumes** independent requests (a retry storm from one client breaks
/// this and makes every count test over-confident). Fails when a row or
/// column is empty (an expected count of zero).
pub fn chi_square_2x2(canary: Counts, baseline: Counts, yates: bool) -> Result<TestResult> {
    canary.check("canary")?;
    baseline.check("baseline")?;
    let obs = [
        [canary.errors as f64, canary.ok() as f64],
        [baseline.errors as f64, baseline.ok() as f64],
    ];
    let rows = [canary.total as f64, baseline.total as f64];
    let cols = [obs[0][0] + obs[1][0], obs[0][1] + obs[1][1]];
    let n = rows[0] + rows[1];
    let mut stat = 0.0;
    for (r, row) in obs.iter().enumerate() {
        for (c, &o) in row.iter().enumerate() {
            let e = rows[r] * cols[c] / n;
            if e.is_nan() || e <= 0.0 {
                return Err(StatsError::Undefined(
                    "chi-square is undefined: a row or column of the 2x2 table is empty",
                ));
            }
            let mut d = (o - e).abs();
            if yates {
                d -= d.min(0.5);
            }
            stat += d * d / e;
        }
    }
    Ok(TestResult {
        statistic: stat,
        p_value: chi2_1_sf(stat),
        method: Method::Asymptotic,
    })
}

/// Fisher's exact test on `[[canary errors, canary ok], [baseline errors,
/// baseline ok]]` (SciPy `fisher_exact` conventions).
///
/// **Use it for** error counts when some are small (a handful of errors): it
/// conditions on the margins and is exact whatever the counts.
/// `Greater` = the canary's odds of error are higher.
///
/// The statistic is the sample odds ratio (infinite when the baseline has no
/// errors or the canary no successes, as in SciPy; NaN with p = 1 when a row
/// or column is empty). The two-sided p-value sums the probabilities of
/// tables no more likely than the observed one, with a relative tolerance of
/// 1e-7 for ties (as R's `fisher.test`; SciPy uses 1e-14 — they differ only
/// when the floating-point rounding of two mathematically equal table
/// probabilities exceeds 1e-14).
///
/// Each probability comes from Loader's saddle-point expansion and tails are
/// summed by the ratio recurrence with early termination (see
/// [`crate::hypergeometric`]): constant memory, and time bounded by the
/// standard deviation of the canary's error count, not by the counts. Where
/// that deviation exceeds 10^5 (on the order of 10^10 errors), the p-value
/// is the normal approximation of the same hypergeometric distribution with a
/// continuity correction, and [`TestResult::method`] says `Asymptotic`.
/// Totals above 2^53 (beyond exact `f64` integers) are refused with
/// [`StatsError::CountTooLarge`].
pub fn fisher_exact(
    canary: Counts,
    baseline: Counts,
    alternative: Alternative,
) -> Result<TestResult> {
    canary.check("canary")?;
    baseline.check("baseline")?;
    check_representable("canary", &canary)?;
    check_representable("baseline", &baseline)?;
    let (a, b, c, d) = (canary.errors, canary.ok(), baseline.errors, baseline.ok());
    if canary.total == 0 || baseline.total == 0 || a + c == 0 || b + d == 0 {
        return Ok(TestResult {
            statistic: f64::NAN,
            p_value: 1.0,
            method: Method::Exact,
        });
    }
    let odds = if c > 0 && b > 0 {
        (a as f64 * d as f64) / (c as f64 * b as f64)
    } else {
        f64::INFINITY
    };
    let h = Hypergeometric::new(canary.total, baseline.total, a + c);
    if h.sd() > MAX_SD_FOR_SUMS {
        return Ok(TestResult {
            statistic: odds,
            p_value: normal_p(&h, a, alternative).clamp(0.0, 1.0),
            method: Method::Asymptotic,
        });
    }
    let p = match alternative {
        Alternative::Less if a >= h.hi => 1.0,
        Alternative::Greater if a <= h.lo => 1.0,
        Alternative::Less if a <= h.mode => h.lower_tail(a),
        Alternative::Less => 1.0 - h.upper_tail(a + 1),
        Alternative::Greater if a >= h.mode => h.upper_tail(a),
        Alternative::Greater => 1.0 - h.lower_tail(a - 1),
        Alternative::TwoSided => {
            // Tables no more likely than the observed one: a run at each end.
            let t = h.ln_pmf(a) + 1e-7f64.ln_1p();
            let low = h
                .last_below_at_or_under_mode(t)
                .map_or(0.0, |x| h.lower_tail(x));
            let high = h.first_below_over_mode(t).map_or(0.0, |x| h.upper_tail(x));
            low + high
        }
    };
    Ok(TestResult {
        statistic: odds,
        p_value: p.clamp(0.0, 1.0),
        method: Method::Exact,
    })
}

/// Refuses a count past [`MAX_COUNT`], naming the cohort.
pub(crate) fn check_representable(which: &'static str, c: &Counts) -> Result<()> {
    if c.total > MAX_COUNT {
        return Err(StatsError::CountTooLarge {
            which,
            value: c.total,
            max: MAX_COUNT,
        });
    }
    Ok(())
}

/// The normal approximation of the hypergeometric tails, with a continuity
/// correction; used only where the exact sums would be too long (sd > 10^5).
fn normal_p(h: &Hypergeometric, a: u64, alternative: Alternative) -> f64 {
    let (mean, sd) = (h.mean(), h.sd());
    let upper = norm_sf((a as f64 - 0.5 - mean) / sd);
    let lower = norm_cdf((a as f64 + 0.5 - mean) / sd);
    match alternative {
        Alternative::Greater => upper,
        Alternative::Less => lower,
        Alternative::TwoSided => 2.0 * upper.min(lower),
    }
}
