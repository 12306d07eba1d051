//! The hypergeometric distribution of a 2x2 table's top-left cell given its
//! margins, in constant memory and bounded time at any count.
//!
//! Why not a table of all probabilities: a window of 10^9 requests has 10^9
//! possible tables (8 GB), and a count near 2^64 aborted the process. Instead
//! each probability comes in O(1) from Loader's saddle-point expansion (R's
//! `dhyper`: a ratio of three binomial probabilities, accurate in relative
//! terms at any size), and a tail is summed outwards from its first term by
//! the ratio recurrence, stopping when the terms no longer change the sum.
//! Terms past the mode shrink at least geometrically once they are a few
//! standard deviations out, so a tail costs O(standard deviation) terms; when
//! that is more than [`MAX_SD_FOR_SUMS`] the caller switches to an asymptotic
//! method instead of summing.

use crate::dist::ln_binom_pmf;

/// Past this standard deviation of the canary's error count a tail sum would
/// take more than a few million terms; the count tests use the normal
/// approximation there, where it is accurate to O(1/sd) < 1e-5.
pub(crate) const MAX_SD_FOR_SUMS: f64 = 1.0e5;

/// Largest count the exact count tests take: past 2^53 a count is no longer
/// an exact `f64`, so neither the recurrence nor any margin is exact.
pub const MAX_COUNT: u64 = 1 << 53;

/// X = the canary's errors, given canary total n1, baseline total n2 and k
/// errors in all. Callers check n1 + n2 <= 2 * [`MAX_COUNT`].
pub(crate) struct Hypergeometric {
    n1: u64,
    n2: u64,
    k: u64,
    pub lo: u64,
    pub hi: u64,
    /// A most likely value.
    pub mode: u64,
}

impl Hypergeometric {
    pub fn new(n1: u64, n2: u64, k: u64) -> Hypergeometric {
        let lo = k.saturating_sub(n2);
        let hi = k.min(n1);
        let n = (n1 + n2) as f64;
        let approx = ((k as f64 + 1.0) * (n1 as f64 + 1.0) / (n + 2.0)).floor();
        let mut h = Hypergeometric {
            n1,
            n2,
            k,
            lo,
            hi,
            mode: (approx.max(0.0) as u64).clamp(lo, hi),
        };
        // The float estimate can be one off at large counts: step to the top.
        while h.mode < hi && h.up_ratio(h.mode) > 1.0 {
            h.mode += 1;
        }
        while h.mode > lo && h.down_ratio(h.mode) > 1.0 {
            h.mode -= 1;
        }
        h
    }

    /// Standard deviation of X.
    pub fn sd(&self) -> f64 {
        let (n1, n2, k) = (self.n1 as f64, self.n2 as f64, self.k as f64);
        let n = n1 + n2;
        if n <= 1.0 {
            return 0.0;
        }
        (k * (n1 / n) * (n2 / n) * ((n - k) / (n - 1.0))).sqrt()
    }

    pub fn mean(&self) -> f64 {
        self.k as f64 * (self.n1 as f64 / (self.n1 as f64 + self.n2 as f64))
    }

    /// ln P(X = x).
    pub fn ln_pmf(&self, x: u64) -> f64 {
        if x < self.lo || x > self.hi {
            return f64::NEG_INFINITY;
        }
        let n = self.n1 + self.n2;
        if self.k == 0 || self.k == n {
            return 0.0;
        }
        let p = self.k as f64 / n as f64;
        ln_binom_pmf(x, self.n1, p) + ln_binom_pmf(self.k - x, self.n2, p)
            - ln_binom_pmf(self.k, n, p)
    }

    /// P(X = x + 1) / P(X = x), for x < hi.
    fn up_ratio(&self, x: u64) -> f64 {
        ((self.n1 - x) as f64 * (self.k - x) as f64)
            / ((x + 1) as f64 * (self.n2 + x + 1 - self.k) as f64)
    }

    /// P(X = x - 1) / P(X = x), for x > lo.
    fn down_ratio(&self, x: u64) -> f64 {
        (x as f64 * (self.n2 + x - self.k) as f64)
            / ((self.n1 + 1 - x) as f64 * (self.k + 1 - x) as f64)
    }

    /// P(X >= from) for from at or above the mode (terms non-increasing).
    pub fn upper_tail(&self, from: u64) -> f64 {
        if from > self.hi {
            return 0.0;
        }
        let first = self.ln_pmf(from);
        let (mut term, mut sum, mut x) = (1.0f64, 1.0f64, from);
        while x < self.hi && term > sum * 1e-17 {
            term *= self.up_ratio(x);
            sum += term;
            x += 1;
        }
        (first + sum.ln()).exp()
    }

    /// P(X <= to) for to at or below the mode (terms non-decreasing up to it).
    pub fn lower_tail(&self, to: u64) -> f64 {
        if to < self.lo {
            return 0.0;
        }
        let first = self.ln_pmf(to);
        let (mut term, mut sum, mut x) = (1.0f64, 1.0f64, to);
        while x > self.lo && term > sum * 1e-17 {
            term *= self.down_ratio(x);
            sum += term;
            x -= 1;
        }
        (first + sum.ln()).exp()
    }

    /// Largest x in [lo, mode] with ln P(X = x) <= t, if any (the pmf rises
    /// up to the mode, so a binary search finds it in O(log n) evaluations).
    pub fn last_below_at_or_under_mode(&self, t: f64) -> Option<u64> {
        if self.ln_pmf(self.lo) > t {
            return None;
        }
        let (mut lo, mut hi) = (self.lo, self.mode);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if self.ln_pmf(mid) <= t {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Some(lo)
    }

    /// Smallest x in (mode, hi] with ln P(X = x) <= t, if any.
    pub fn first_below_over_mode(&self, t: f64) -> Option<u64> {
        if self.mode >= self.hi || self.ln_pmf(self.hi) > t {
            return None;
        }
        let (mut lo, mut hi) = (self.mode + 1, self.hi);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.ln_pmf(mid) <= t {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Some(lo)
    }
}
