//! Exact null probabilities of the two-sample Kolmogorov-Smirnov statistic by
//! counting lattice paths (the same algorithms SciPy's `ks_2samp` uses, so
//! that our exact p-values agree with it to rounding).
//!
//! The pooled sorted sample is a path from (0, 0) to (m, n) with a step right
//! for each canary and up for each baseline observation; under "same
//! distribution" all C(m+n, m) paths are equally likely and D >= d means the
//! path touches a diagonal band's edge.

use statrs::function::factorial::ln_binomial;

/// P(D >= h/n) for two samples of equal size n: the reflection-principle sum
/// 2 * sum_k (-1)^(k+1) C(2n, n - k*h) / C(2n, n), evaluated in a Horner-like
/// nested form so that the alternating terms do not cancel catastrophically.
pub(crate) fn prob_outside_square(n: u64, h: u64) -> f64 {
    let mut p = 0.0;
    let mut k = (n / h) as i64;
    while k >= 0 {
        let ku = k as u64;
        let mut p1 = 1.0;
        for j in 0..h {
            // Terms with n - k*h - j <= 0 make the product 0, as in SciPy.
            let num = n as f64 - (ku * h) as f64 - j as f64;
            p1 = num * p1 / ((n + ku * h + j + 1) as f64);
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// P(D >= h/lcm) for two-sided, unequal sizes: the probability that a uniform
/// random path leaves the band |x/m - y/n| < h/lcm. Computed as the
/// probability of *having left* directly (Viehmann 2021, "Numerically more
/// stable computation of the p-values for the two-sample Kolmogorov-Smirnov
/// test"), so small p-values keep their relative precision, over a sliding
/// window of the band only: O(m * band width).
pub(crate) fn prob_outside_band(m: u64, n: u64, g: u64, h: u64) -> f64 {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (mg, ng) = ((m / g) as i64, (n / g) as i64);
    let (h, ni) = (h as i64, n as i64);
    // Column 0: rows [0, maxj) are inside (not yet left: 0); the rest left (1).
    let mut minj = 0i64;
    let mut maxj = ((h + mg - 1) / mg).min(ni + 1);
    let mut col = vec![0.0f64; (maxj - minj).max(0) as usize];
    let mut next = Vec::with_capacity(col.len() + 2);
    for i in 1..=m as i64 {
        let (lastmin, lastmax) = (minj, maxj);
        minj = ((ng * i - h).div_euclid(mg) + 1).clamp(0, ni);
        maxj = ((ng * i + h + mg - 1).div_euclid(mg)).min(ni + 1);
        if maxj <= minj {
            return 1.0;
        }
        next.clear();
        let fi = i as f64;
        let mut below = if minj == 0 { 0.0 } else { 1.0 };
        for j in minj..maxj {
            let left = if j >= lastmin && j < lastmax {
                col[(j - lastmin) as usize]
            } else {
                1.0
            };
            let fj = j as f64;
            below = (left * fi + below * fj) / (fi + fj);
            next.push(below);
        }
        std::mem::swap(&mut col, &mut next);
    }
    col.get((ni - minj) as usize).copied().unwrap_or(1.0)
}

/// P(D+ >= h/lcm) for unequal sizes: paths that reach the line
/// m*y <= n*x - h*g, counted with Hodges' treatment of the
/// Drion/Gnedenko/Korolyuk method, divided by C(m+n, n). `None` when the
/// counts overflow a double (SciPy then falls back to the asymptotic formula).
pub(crate) fn prob_below_line(m: u64, n: u64, g: u64, h: u64) -> Option<f64> {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (mg, ng) = ((m / g) as i64, (n / g) as i64);
    let hi = h as i64;
    let total = binom(m + n, n);
    if !total.is_finite() {
        return None;
    }
    let lxj = n as i64 + (mg - hi).div_euclid(mg);
    if lxj <= 0 {
        return Some(1.0);
    }
    let lxj = lxj as usize;
    let xj: Vec<u64> = (0..lxj as i64)
        .map(|j| ((hi + mg * j + ng - 1).div_euclid(ng)) as u64)
        .collect();
    let mut b = vec![0.0f64; lxj];
    b[0] = 1.0;
    for j in 1..lxj {
        let ju = j as u64;
        let mut bj = binom(xj[j] + ju, ju);
        for i in 0..j {
            let d = (j - i) as u64;
            bj -= binom(xj[j] - xj[i] + d, d) * b[i];
        }
        b[j] = bj;
    }
    let mut paths = 0.0;
    for (j, &bj) in b.iter().enumerate() {
        let ju = j as u64;
        paths += bj * binom((m - xj[j]) + (n - ju), n - ju);
    }
    if !paths.is_finite() || paths > total {
        return None;
    }
    Some(paths / total)
}

/// C(a, b) as a double: exact integer arithmetic while it fits, then
/// exp(ln C) (infinite past the double range, which callers check).
fn binom(a: u64, b: u64) -> f64 {
    if b > a {
        return 0.0;
    }
    let b = b.min(a - b);
    let mut c: u128 = 1;
    for i in 1..=b as u128 {
        match c.checked_mul(a as u128 - b as u128 + i) {
            Some(v) => c = v / i,
            None => return ln_binomial(a, b).exp(),
        }
    }
    c as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomials() {
        assert_eq!(binom(10, 3), 120.0);
        assert_eq!(binom(60, 30), 118264581564861424.0);
        assert!((binom(200, 100) / 9.054851465610328e58 - 1.0).abs() < 1e-12);
        assert!(binom(2000, 1000).is_infinite());
    }

    #[test]
    fn tiny_cases_by_enumeration() {
        // m = 1, n = 2: paths RUU, URU, UUR; D = max |i/1 - j/2|: 1, 1/2, 1.
        // P(D >= 1) = 2/3 (h = lcm * 1 = 2 with g = 1).
        assert!((prob_outside_band(1, 2, 1, 2) - 2.0 / 3.0).abs() < 1e-15);
        assert!((prob_outside_band(1, 2, 1, 1) - 1.0).abs() < 1e-15);
    }
}
