//! Power and minimum sample sizes: how long must a window be to see a
//! regression of a given size? Used to tell the operator "at 5% canary
//! weight and 200 rps, a 2x error regression needs ~40 minutes to detect".
//!
//! All formulas are the standard normal approximations; they are planning
//! figures, not guarantees, and optimistic for very rare events (use a
//! margin, or simulate).

use crate::dist::{norm_cdf, norm_ppf};
use crate::error::{Result, StatsError};
use crate::types::{check_alpha, Alternative};

/// Requests needed per cohort.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleSize {
    /// Requests the canary must serve.
    pub canary: f64,
    /// Requests the baseline must serve in the same window.
    pub baseline: f64,
}

impl SampleSize {
    /// Requests both cohorts must serve together, the figure to divide by
    /// the request rate to get a window length.
    pub fn total(&self) -> f64 {
        self.canary + self.baseline
    }
}

fn z_alpha(alpha: f64, alternative: Alternative) -> f64 {
    match alternative {
        Alternative::TwoSided => norm_ppf(1.0 - alpha / 2.0),
        _ => norm_ppf(1.0 - alpha),
    }
}

fn check_share(share: f64) -> Result<()> {
    if share > 0.0 && share < 1.0 {
        Ok(())
    } else {
        Err(StatsError::InvalidParameter {
            name: "canary_share",
            value: share,
            why: "the canary's share of requests must be strictly between 0 and 1",
        })
    }
}

fn check_rates(p0: f64, ratio: f64) -> Result<f64> {
    let p1 = p0 * ratio;
    if !(p0 > 0.0 && p0 < 1.0) {
        return Err(StatsError::InvalidParameter {
            name: "baseline_rate",
            value: p0,
            why: "must be strictly between 0 and 1",
        });
    }
    if !(ratio > 0.0 && p1 < 1.0 && ratio != 1.0) {
        return Err(StatsError::InvalidParameter {
            name: "ratio",
            value: ratio,
            why: "must be positive, not 1, and keep baseline_rate * ratio below 1",
        });
    }
    Ok(p1)
}

/// Power of the two-proportion z-test (pooled variance under the null) to
/// detect a canary error rate of `baseline_rate * ratio` with `canary` and
/// `baseline` requests. For one-sided alternatives the ratio must point the
/// tested way to have power above alpha.
pub fn rate_ratio_power(
    baseline_rate: f64,
    ratio: f64,
    canary: f64,
    baseline: f64,
    alpha: f64,
    alternative: Alternative,
) -> Result<f64> {
    check_alpha(alpha)?;
    let p1 = check_rates(baseline_rate, ratio)?;
    if !(canary > 0.0 && baseline > 0.0) {
        return Err(StatsError::Undefined("sample sizes must be positive"));
    }
    let p0 = baseline_rate;
    let pbar = (canary * p1 + baseline * p0) / (canary + baseline);
    let se0 = (pbar * (1.0 - pbar) * (1.0 / canary + 1.0 / baseline)).sqrt();
    let se1 = (p1 * (1.0 - p1) / canary + p0 * (1.0 - p0) / baseline).sqrt();
    let diff = match alternative {
        Alternative::TwoSided | Alternative::Greater => p1 - p0,
        Alternative::Less => p0 - p1,
    };
    let diff = if alternative == Alternative::TwoSided {
        diff.abs()
    } else {
        diff
    };
    Ok(norm_cdf((diff - z_alpha(alpha, alternative) * se0) / se1))
}

/// Minimum requests per cohort for the two-proportion z-test to detect
/// `ratio` at the given power, with the canary receiving `canary_share` of
/// traffic (Fleiss' formula without continuity correction).
pub fn rate_ratio_sample_size(
    baseline_rate: f64,
    ratio: f64,
    canary_share: f64,
    alpha: f64,
    power: f64,
    alternative: Alternative,
) -> Result<SampleSize> {
    check_alpha(alpha)?;
    check_share(canary_share)?;
    check_power(power)?;
    let p1 = check_rates(baseline_rate, ratio)?;
    let p0 = baseline_rate;
    let k = (1.0 - canary_share) / canary_share; // baseline per canary request
    let pbar = (p1 + k * p0) / (1.0 + k);
    let za = z_alpha(alpha, alternative);
    let zb = norm_ppf(power);
    let num = za * (pbar * (1.0 - pbar) * (1.0 + 1.0 / k)).sqrt()
        + zb * (p1 * (1.0 - p1) + p0 * (1.0 - p0) / k).sqrt();
    let canary = (num / (p1 - p0)).powi(2);
    Ok(SampleSize {
        canary,
        baseline: canary * k,
    })
}

fn check_power(power: f64) -> Result<()> {
    if power > 0.0 && power < 1.0 {
        Ok(())
    } else {
        Err(StatsError::InvalidParameter {
            name: "power",
            value: power,
            why: "must be strictly between 0 and 1",
        })
    }
}

/// P(canary > baseline) for a shift of `shift_in_sd` standard deviations
/// between two normal distributions with equal spread: Phi(delta / sqrt 2).
/// For log-normal latency, use the shift of log latency over its sd
/// (a 10% slowdown with log-sd 0.5 is ln(1.1)/0.5 = 0.19).
pub fn prob_superiority_for_shift(shift_in_sd: f64) -> f64 {
    norm_cdf(shift_in_sd / std::f64::consts::SQRT_2)
}

fn check_superiority(p: f64) -> Result<()> {
    if p > 0.0 && p < 1.0 && p != 0.5 {
        Ok(())
    } else {
        Err(StatsError::InvalidParameter {
            name: "prob_superiority",
            value: p,
            why: "must be in (0, 1) and not 0.5 (0.5 is no effect)",
        })
    }
}

/// Power of the Mann-Whitney test to detect a latency shift whose
/// probability of superiority P(canary > baseline) is `prob_superiority`
/// (Noether 1987: U is approximately normal with sd sqrt(m n (N+1)/12)).
pub fn latency_shift_power(
    prob_superiority: f64,
    canary: f64,
    baseline: f64,
    alpha: f64,
    alternative: Alternative,
) -> Result<f64> {
    check_alpha(alpha)?;
    check_superiority(prob_superiority)?;
    if !(canary > 0.0 && baseline > 0.0) {
        return Err(StatsError::Undefined("sample sizes must be positive"));
    }
    let effect = match alternative {
        Alternative::TwoSided => (prob_superiority - 0.5).abs(),
        Alternative::Greater => prob_superiority - 0.5,
        Alternative::Less => 0.5 - prob_superiority,
    };
    let n = canary + baseline;
    let c = canary / n;
    Ok(norm_cdf(
        (12.0 * c * (1.0 - c) * n).sqrt() * effect - z_alpha(alpha, alternative),
    ))
}

/// Minimum samples for the Mann-Whitney test to detect a latency shift of
/// the given probability of superiority (Noether's formula,
/// N = (z_a + z_b)^2 / (12 c (1 - c) (p - 1/2)^2), c the canary share).
pub fn latency_shift_sample_size(
    prob_superiority: f64,
    canary_share: f64,
    alpha: f64,
    power: f64,
    alternative: Alternative,
) -> Result<SampleSize> {
    check_alpha(alpha)?;
    check_share(canary_share)?;
    check_power(power)?;
    check_superiority(prob_superiority)?;
    let z = z_alpha(alpha, alternative) + norm_ppf(power);
    let c = canary_share;
    let n = z * z / (12.0 * c * (1.0 - c) * (prob_superiority - 0.5).powi(2));
    Ok(SampleSize {
        canary: n * c,
        baseline: n * (1.0 - c),
    })
}
