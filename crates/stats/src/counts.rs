//! Error counts of one cohort, and the 2x2 tests on canary vs baseline counts.

use crate::dist::chi2_1_sf;
use crate::error::{Result, StatsError};
use crate::types::{Alternative, Method, TestResult};

/// Errors out of a total (requests) for one cohort over one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub errors: u64,
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
/// Probabilities are computed from the hypergeometric pmf by its ratio
/// recurrence around the mode and normalised, so tail probabilities keep full
/// relative precision; cost O(number of possible tables).
pub fn fisher_exact(
    canary: Counts,
    baseline: Counts,
    alternative: Alternative,
) -> Result<TestResult> {
    canary.check("canary")?;
    baseline.check("baseline")?;
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
    let p = match alternative {
        Alternative::Less => h.sum(h.lo, a),
        Alternative::Greater => h.sum(a, h.hi),
        Alternative::TwoSided => {
            let pa = h.pmf(a) * (1.0 + 1e-7);
            let mut terms: Vec<f64> = h.pmf.iter().copied().filter(|&q| q <= pa).collect();
            terms.sort_unstable_by(f64::total_cmp);
            terms.iter().sum()
        }
    };
    Ok(TestResult {
        statistic: odds,
        p_value: p.min(1.0),
        method: Method::Exact,
    })
}

/// Distribution of the canary's errors given both totals and the total errors.
struct Hypergeometric {
    lo: u64,
    hi: u64,
    /// pmf over lo..=hi.
    pmf: Vec<f64>,
}

impl Hypergeometric {
    /// Canary total n1, baseline total n2, total errors k.
    fn new(n1: u64, n2: u64, k: u64) -> Hypergeometric {
        let lo = k.saturating_sub(n2);
        let hi = k.min(n1);
        let (n1f, n2f, kf) = (n1 as f64, n2 as f64, k as f64);
        let mode = (((kf + 1.0) * (n1f + 1.0) / (n1f + n2f + 2.0)).floor() as u64).clamp(lo, hi);
        let mut w = vec![0.0f64; (hi - lo + 1) as usize];
        let at = |x: u64| (x - lo) as usize;
        w[at(mode)] = 1.0;
        // Upwards: w(x+1)/w(x) = (n1-x)(k-x) / ((x+1)(n2-k+x+1)).
        let mut x = mode;
        while x < hi && w[at(x)] > 0.0 {
            let xf = x as f64;
            w[at(x + 1)] =
                w[at(x)] * ((n1f - xf) * (kf - xf)) / ((xf + 1.0) * (n2f - kf + xf + 1.0));
            x += 1;
        }
        let mut x = mode;
        while x > lo && w[at(x)] > 0.0 {
            let xf = x as f64;
            w[at(x - 1)] = w[at(x)] * (xf * (n2f - kf + xf)) / ((n1f - xf + 1.0) * (kf - xf + 1.0));
            x -= 1;
        }
        let total: f64 = w.iter().sum();
        w.iter_mut().for_each(|v| *v /= total);
        Hypergeometric { lo, hi, pmf: w }
    }

    fn pmf(&self, x: u64) -> f64 {
        if x < self.lo || x > self.hi {
            0.0
        } else {
            self.pmf[(x - self.lo) as usize]
        }
    }

    /// P(from <= X <= to), summed from the smaller terms inwards.
    fn sum(&self, from: u64, to: u64) -> f64 {
        let (from, to) = (from.max(self.lo), to.min(self.hi));
        if from > to {
            return 0.0;
        }
        let s = &self.pmf[(from - self.lo) as usize..=(to - self.lo) as usize];
        let mut v: Vec<f64> = s.to_vec();
        v.sort_unstable_by(f64::total_cmp);
        v.iter().sum()
    }
}
