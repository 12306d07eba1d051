//! The few distribution functions the tests need, accurate in the tails.
//!
//! `erfc` comes from `libm` (musl's, accurate to an ulp or two; `statrs`'
//! erfc is only good to ~1e-10 relative). Binomial probabilities use Loader's
//! saddle-point pmf and sum the tail terms by their ratio recurrence, O(sqrt(n p q))
//! terms: `statrs`' incomplete beta loses ~1e-9 relative at n = 10^6, too
//! much for exact tests; it remains the fallback for n past ~10^10. Tail probabilities are computed directly (`erfc`,
//! `I_x(a, b)`), never as `1 - cdf`, so that p-values of 1e-12 keep their
//! relative precision.

use libm::erfc;
use statrs::function::beta::beta_reg;
use statrs::function::erf::erfc_inv;
use statrs::function::gamma::ln_gamma;

/// Standard normal upper tail P(Z > z).
pub fn norm_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Standard normal CDF P(Z <= z).
pub fn norm_cdf(z: f64) -> f64 {
    norm_sf(-z)
}

/// Standard normal quantile: z with P(Z <= z) = p, for p in (0, 1).
pub fn norm_ppf(p: f64) -> f64 {
    // statrs' inverse gives ~1e-10; two Newton steps on the accurate CDF
    // bring it to rounding level.
    let mut z = -std::f64::consts::SQRT_2 * erfc_inv(2.0 * p);
    for _ in 0..2 {
        if !z.is_finite() {
            break;
        }
        let density = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
        if density > 0.0 {
            z -= (norm_cdf(z) - p) / density;
        }
    }
    z
}

/// Chi-square upper tail with one degree of freedom.
pub fn chi2_1_sf(x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    erfc((x / 2.0).sqrt())
}

/// Binomial P(X <= k) for X ~ Bin(n, p).
pub fn binom_cdf(k: i64, n: u64, p: f64) -> f64 {
    if k < 0 {
        return 0.0;
    }
    let k = k as u64;
    if k >= n || p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return 0.0;
    }
    if (k as f64) < n as f64 * p {
        lower_tail(k, n, p)
    } else {
        1.0 - upper_tail(k + 1, n, p)
    }
}

/// Binomial P(X > k) for X ~ Bin(n, p).
pub fn binom_sf(k: i64, n: u64, p: f64) -> f64 {
    if k < 0 {
        return 1.0;
    }
    let k = k as u64;
    if k >= n || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    if (k + 1) as f64 > n as f64 * p {
        upper_tail(k + 1, n, p)
    } else {
        1.0 - lower_tail(k, n, p)
    }
}

/// Beyond this many standard deviations of terms, tails are summed by the
/// incomplete beta function instead (n in the tens of billions).
const MAX_SD_FOR_SUMS: f64 = 50_000.0;

/// P(X <= k) for k below the mean: pmf(k) by Loader's saddle-point formula,
/// then the terms below it by the ratio recurrence, until they vanish.
fn lower_tail(k: u64, n: u64, p: f64) -> f64 {
    if (n as f64 * p * (1.0 - p)).sqrt() > MAX_SD_FOR_SUMS {
        return beta_reg((n - k) as f64, (k + 1) as f64, 1.0 - p);
    }
    let odds = (1.0 - p) / p;
    let mut term = binom_pmf(k, n, p);
    let mut sum = term;
    let mut j = k;
    while j > 0 && term > sum * 1e-17 {
        term *= j as f64 / (n - j + 1) as f64 * odds;
        sum += term;
        j -= 1;
    }
    sum
}

/// P(X >= k) for k above the mean, symmetric to [`lower_tail`].
fn upper_tail(k: u64, n: u64, p: f64) -> f64 {
    if k > n {
        return 0.0;
    }
    if (n as f64 * p * (1.0 - p)).sqrt() > MAX_SD_FOR_SUMS {
        return beta_reg(k as f64, (n - k + 1) as f64, p);
    }
    let odds = p / (1.0 - p);
    let mut term = binom_pmf(k, n, p);
    let mut sum = term;
    let mut j = k;
    while j < n && term > sum * 1e-17 {
        term *= (n - j) as f64 / (j + 1) as f64 * odds;
        sum += term;
        j += 1;
    }
    sum
}

/// Binomial P(X = k), by Loader's saddle-point expansion ("Fast and accurate
/// computation of binomial probabilities", 2000; R's `dbinom`): relative
/// accuracy near machine precision even for n in the millions, where
/// exp(log-gamma differences) loses ~n * 1e-16.
pub fn binom_pmf(k: u64, n: u64, p: f64) -> f64 {
    ln_binom_pmf(k, n, p).exp()
}

/// ln P(X = k) for X ~ Bin(n, p), by the same expansion as [`binom_pmf`];
/// keeps its relative precision where the probability itself underflows
/// (-inf for an impossible k).
pub(crate) fn ln_binom_pmf(k: u64, n: u64, p: f64) -> f64 {
    if k > n {
        return f64::NEG_INFINITY;
    }
    let q = 1.0 - p;
    if p <= 0.0 {
        return if k == 0 { 0.0 } else { f64::NEG_INFINITY };
    }
    if q <= 0.0 {
        return if k == n { 0.0 } else { f64::NEG_INFINITY };
    }
    let (nf, kf) = (n as f64, k as f64);
    if k == 0 {
        return if p < 0.1 {
            -bd0(nf, nf * q) - nf * p
        } else {
            nf * q.ln()
        };
    }
    if k == n {
        return if q < 0.1 {
            -bd0(nf, nf * p) - nf * q
        } else {
            nf * p.ln()
        };
    }
    let lc =
        stirlerr(nf) - stirlerr(kf) - stirlerr(nf - kf) - bd0(kf, nf * p) - bd0(nf - kf, nf * q);
    let lf = (2.0 * std::f64::consts::PI).ln() + kf.ln() + (-kf / nf).ln_1p();
    lc - 0.5 * lf
}

/// ln(n!) - ((n + 1/2) ln n - n + ln sqrt(2 pi)): Stirling's error term.
fn stirlerr(n: f64) -> f64 {
    const S0: f64 = 1.0 / 12.0;
    const S1: f64 = 1.0 / 360.0;
    const S2: f64 = 1.0 / 1260.0;
    const S3: f64 = 1.0 / 1680.0;
    const S4: f64 = 1.0 / 1188.0;
    if n <= 15.0 {
        return ln_gamma(n + 1.0) - (n + 0.5) * n.ln() + n
            - 0.5 * (2.0 * std::f64::consts::PI).ln();
    }
    let nn = n * n;
    if n > 500.0 {
        (S0 - S1 / nn) / n
    } else if n > 80.0 {
        (S0 - (S1 - S2 / nn) / nn) / n
    } else if n > 35.0 {
        (S0 - (S1 - (S2 - S3 / nn) / nn) / nn) / n
    } else {
        (S0 - (S1 - (S2 - (S3 - S4 / nn) / nn) / nn) / nn) / n
    }
}

/// x ln(x / np) + np - x, computed without cancellation when x ~ np.
fn bd0(x: f64, np: f64) -> f64 {
    if (x - np).abs() < 0.1 * (x + np) {
        let v = (x - np) / (x + np);
        let mut s = (x - np) * v;
        let mut ej = 2.0 * x * v;
        let v2 = v * v;
        for j in 1..1000 {
            ej *= v2;
            let s1 = s + ej / (2 * j + 1) as f64;
            if s1 == s {
                return s1;
            }
            s = s1;
        }
        s
    } else {
        x * (x / np).ln() + np - x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_tails_and_quantiles() {
        assert!((norm_sf(1.959963984540054) - 0.025).abs() < 1e-16);
        assert!((norm_ppf(0.975) - 1.959963984540054).abs() < 1e-12);
        assert!((norm_sf(10.0) / 7.619853024160527e-24 - 1.0).abs() < 1e-12);
        assert!((chi2_1_sf(3.841458820694124) - 0.05).abs() < 1e-14);
    }

    #[test]
    fn binomial_cdf_matches_sum_of_pmf() {
        let (n, p) = (30, 0.3);
        let mut acc = 0.0;
        for k in 0..=n {
            acc += binom_pmf(k, n, p);
            assert!((binom_cdf(k as i64, n, p) - acc).abs() < 1e-13);
            assert!((binom_sf(k as i64, n, p) - (1.0 - acc)).abs() < 1e-13);
        }
    }
}
