//! Seeded randomness for the benchmark: one independent stream per run,
//! exact Poisson draws, and the normal CDF the latency model needs.
//!
//! Every run gets its own generator seeded from (seed, policy, scenario, run
//! index), so a result depends on nothing else: not the thread count, not the
//! order runs are scheduled in, not which other policies ran.

/// A run's random stream (wyrand via `fastrand`, seeded explicitly).
pub struct Rng(fastrand::Rng);

/// splitmix64's finalizer: spreads nearby inputs over the whole 64-bit range.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a of a name, so a seed does not depend on a list's order.
fn name_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The seed of one run.
pub fn run_seed(seed: u64, policy: &str, scenario: &str, run: u64) -> u64 {
    let mut h = mix(seed);
    h = mix(h ^ name_hash(policy));
    h = mix(h ^ name_hash(scenario));
    mix(h ^ run)
}

impl Rng {
    /// A generator seeded with `seed`, typically from [`run_seed`].
    pub fn new(seed: u64) -> Rng {
        Rng(fastrand::Rng::with_seed(seed))
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0.f64()
    }

    /// A Poisson(mean) count, exactly distributed (inversion below 10,
    /// Hörmann's PTRS transformed rejection above). Non-finite or
    /// non-positive means give 0.
    pub fn poisson(&mut self, mean: f64) -> u64 {
        if !(mean.is_finite() && mean > 0.0) {
            return 0;
        }
        if mean < 10.0 {
            // Inversion: walk the CDF from 0.
            let mut k = 0u64;
            let mut p = (-mean).exp();
            let mut cdf = p;
            let u = self.uniform();
            while u > cdf && k < 1_000 {
                k += 1;
                p *= mean / k as f64;
                cdf += p;
            }
            return k;
        }
        let slam = mean.sqrt();
        let loglam = mean.ln();
        let b = 0.931 + 2.53 * slam;
        let a = -0.059 + 0.02483 * b;
        let inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
        let vr = 0.9277 - 3.6224 / (b - 2.0);
        loop {
            let u = self.uniform() - 0.5;
            let v = self.uniform();
            let us = 0.5 - u.abs();
            let k = ((2.0 * a / us + b) * u + mean + 0.43).floor();
            if us >= 0.07 && v <= vr {
                return k as u64;
            }
            if k < 0.0 || (us < 0.013 && v > us) {
                continue;
            }
            let lhs = v.ln() + inv_alpha.ln() - (a / (us * us) + b).ln();
            if lhs <= -mean + k * loglam - ln_factorial(k) {
                return k as u64;
            }
        }
    }
}

/// ln(k!) by Stirling's series (exact table below 16).
pub fn ln_factorial(k: f64) -> f64 {
    if k < 16.0 {
        let mut acc = 0.0;
        let mut i = 2.0;
        while i <= k {
            acc += f64::ln(i);
            i += 1.0;
        }
        return acc;
    }
    let x = k + 1.0;
    (x - 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln() + 1.0 / (12.0 * x)
        - 1.0 / (360.0 * x * x * x)
}

/// Standard normal CDF, via erfc (W. J. Cody's rational approximation as
/// given in Numerical Recipes' `erfcc`, relative error < 1.2e-7).
pub fn normal_cdf(z: f64) -> f64 {
    let x = -z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let y = t
        * (-x * x - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    let erfc = if x >= 0.0 { y } else { 2.0 - y };
    0.5 * erfc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_mean_and_variance_match_at_small_and_large_means() {
        for &mean in &[0.3, 4.0, 25.0, 900.0] {
            let mut r = Rng::new(7);
            let n = 40_000;
            let xs: Vec<f64> = (0..n).map(|_| r.poisson(mean) as f64).collect();
            let m = xs.iter().sum::<f64>() / n as f64;
            let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
            // 5 standard errors of the sample mean and variance.
            let se_m = (mean / n as f64).sqrt();
            assert!((m - mean).abs() < 5.0 * se_m, "mean {m} vs {mean}");
            let se_v = ((2.0 * mean * mean + mean) / n as f64).sqrt();
            assert!((v - mean).abs() < 5.0 * se_v, "var {v} vs {mean}");
        }
    }

    #[test]
    fn normal_cdf_matches_tables() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-2.326_348) - 0.01).abs() < 1e-6);
    }

    #[test]
    fn seeds_differ_by_every_component() {
        let base = run_seed(1, "canaryd", "aa", 0);
        assert_ne!(base, run_seed(2, "canaryd", "aa", 0));
        assert_ne!(base, run_seed(1, "flagger", "aa", 0));
        assert_ne!(base, run_seed(1, "canaryd", "error-x2", 0));
        assert_ne!(base, run_seed(1, "canaryd", "aa", 1));
        assert_eq!(base, run_seed(1, "canaryd", "aa", 0));
    }

    #[test]
    fn ln_factorial_is_continuous_at_the_switch() {
        let exact: f64 = (2..=16).map(|i| (i as f64).ln()).sum();
        assert!((ln_factorial(16.0) - exact).abs() < 1e-9);
    }
}
