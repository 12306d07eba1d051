//! The exact null distribution of the Mann-Whitney U statistic (no ties).
//!
//! Under "no difference" every interleaving of the m canary and n baseline
//! observations is equally likely, and the number of interleavings with
//! U = k is the coefficient of q^k in the Gaussian binomial coefficient
//! [m+n choose m]_q = prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i).
//! We build that polynomial with exact 128-bit integers (m multiply-and-divide
//! passes, O(m * m * n)), so the p-values carry no accumulated rounding: the
//! only rounding is the final division.

use statrs::function::factorial::ln_binomial;

/// Largest `m * n` for which the exact table is built (16 MiB of counts).
pub(crate) const MAX_CELLS: u64 = 1_000_000;

/// Exact distribution of U for sample sizes (m, n).
#[derive(Debug, Clone)]
pub(crate) struct UDistribution {
    counts: Vec<i128>,
    total: f64,
}

impl UDistribution {
    /// `None` when the table would be too large or overflow 128 bits.
    pub(crate) fn new(m: usize, n: usize) -> Option<Self> {
        let (m, n) = (m.min(n), m.max(n));
        let cells = (m as u64).checked_mul(n as u64)?;
        // Intermediate coefficients stay below 2 * C(m+n, m); keep a margin.
        if cells > MAX_CELLS
            || ln_binomial((m + n) as u64, m as u64) > 120.0 * std::f64::consts::LN_2
        {
            return None;
        }
        let len = m * n + 1;
        let mut c = vec![0i128; len];
        c[0] = 1;
        let mut degree = 0usize;
        for i in 1..=m {
            // Multiply by (1 - q^(n+i)).
            let a = n + i;
            let new_degree = degree + n;
            for k in (a..=new_degree.min(len - 1)).rev() {
                c[k] -= c[k - a];
            }
            // Divide by (1 - q^i): a geometric series, exact because the
            // quotient is the integer polynomial [n+i choose i]_q.
            for k in i..=new_degree {
                c[k] += c[k - i];
            }
            degree = new_degree;
        }
        let total: i128 = c.iter().sum();
        Some(UDistribution {
            counts: c,
            total: total as f64,
        })
    }

    fn max_u(&self) -> i64 {
        self.counts.len() as i64 - 1
    }

    /// P(U >= u).
    pub(crate) fn sf(&self, u: i64) -> f64 {
        if u <= 0 {
            return 1.0;
        }
        if u > self.max_u() {
            return 0.0;
        }
        let tail: i128 = self.counts[u as usize..].iter().sum();
        tail as f64 / self.total
    }

    /// P(U <= u).
    #[cfg(test)]
    pub(crate) fn cdf(&self, u: i64) -> f64 {
        if u < 0 {
            return 0.0;
        }
        if u >= self.max_u() {
            return 1.0;
        }
        let head: i128 = self.counts[..=u as usize].iter().sum();
        head as f64 / self.total
    }

    /// Smallest k with P(U <= k) >= prob (R's `qwilcox`): the 1-based rank,
    /// among the ordered pairwise differences, of the lower confidence bound
    /// (raised to 1 when it is 0, as R's `wilcox.test` does).
    pub(crate) fn lower_rank(&self, prob: f64) -> u64 {
        let mut acc: i128 = 0;
        for (k, &c) in self.counts.iter().enumerate() {
            acc += c;
            if acc as f64 / self.total >= prob * (1.0 - 64.0 * f64::EPSILON) {
                return (k as u64).max(1);
            }
        }
        (self.max_u() as u64).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_table_by_hand() {
        // m = 2, n = 2: U in 0..=4 with counts 1,1,2,1,1 (6 interleavings).
        let d = UDistribution::new(2, 2).unwrap();
        assert_eq!(d.counts, vec![1, 1, 2, 1, 1]);
        assert!((d.sf(3) - 2.0 / 6.0).abs() < 1e-15);
        assert!((d.cdf(1) - 2.0 / 6.0).abs() < 1e-15);
    }

    #[test]
    fn symmetric_and_sums_to_total() {
        let d = UDistribution::new(7, 11).unwrap();
        let n = d.counts.len();
        for k in 0..n {
            assert_eq!(d.counts[k], d.counts[n - 1 - k]);
        }
        assert_eq!(d.total, 31824.0); // C(18, 7)
    }

    #[test]
    fn refuses_huge_tables() {
        assert!(UDistribution::new(2000, 2000).is_none());
    }
}
