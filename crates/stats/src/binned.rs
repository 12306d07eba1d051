//! Mann-Whitney on binned data: latency histograms instead of raw samples.
//!
//! Metrics sources hand us histograms (Prometheus buckets, the router's HDR
//! counts), not every request's latency. Every request in a bucket is tied
//! with the others in it, so the rank sum, the tie correction and the U
//! statistic follow from the per-bucket counts alone: O(buckets), exact for
//! the binned data, with the usual normal approximation (tie and continuity
//! corrected). Coarse buckets lose power, never validity.

use crate::error::{Result, StatsError};
use crate::mann_whitney::{mann_whitney_summary, RankSummary};
use crate::types::{Alternative, MethodChoice, TestResult};

/// The test and Cliff's delta (`2U/(mn) - 1`, in [-1, 1], > 0 when the canary
/// tends to be slower) for per-bucket counts over the same ascending buckets.
pub fn mann_whitney_binned(
    canary: &[u64],
    baseline: &[u64],
    alternative: Alternative,
) -> Result<(TestResult, f64)> {
    if canary.len() != baseline.len() {
        return Err(StatsError::Undefined(
            "the two histograms must have the same buckets",
        ));
    }
    let (m, n): (u64, u64) = (canary.iter().sum(), baseline.iter().sum());
    if m == 0 || n == 0 {
        return Err(StatsError::Undefined("a histogram is empty"));
    }
    let (mut u1, mut tie_term, mut below) = (0.0f64, 0.0f64, 0u64);
    for (&cx, &cy) in canary.iter().zip(baseline) {
        u1 += cx as f64 * (below as f64 + 0.5 * cy as f64);
        let t = (cx + cy) as f64;
        tie_term += t * t * t - t;
        below += cy;
    }
    let summary = RankSummary {
        m: m as usize,
        n: n as usize,
        u1,
        tie_term,
    };
    let result = mann_whitney_summary(summary, alternative, MethodChoice::Asymptotic);
    let delta = 2.0 * u1 / (m as f64 * n as f64) - 1.0;
    Ok((result, delta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_the_raw_sample_test_on_tied_data() {
        // Raw samples that only take bucket values give the same statistic.
        let buckets = [10.0, 20.0, 50.0, 100.0];
        let canary_counts = [5u64, 9, 12, 4];
        let baseline_counts = [14u64, 11, 6, 1];
        let expand = |c: &[u64]| -> Vec<f64> {
            c.iter()
                .zip(buckets)
                .flat_map(|(&k, b)| std::iter::repeat_n(b, k as usize))
                .collect()
        };
        let raw = crate::mann_whitney(
            &expand(&canary_counts),
            &expand(&baseline_counts),
            Alternative::Greater,
            MethodChoice::Asymptotic,
        )
        .unwrap();
        let (binned, delta) =
            mann_whitney_binned(&canary_counts, &baseline_counts, Alternative::Greater).unwrap();
        assert!((raw.statistic - binned.statistic).abs() < 1e-9);
        assert!((raw.p_value - binned.p_value).abs() < 1e-12);
        assert!(delta > 0.3 && delta < 1.0, "{delta}");
    }

    #[test]
    fn identical_histograms_show_nothing() {
        let (r, delta) =
            mann_whitney_binned(&[10, 20, 30], &[100, 200, 300], Alternative::Greater).unwrap();
        assert!(r.p_value > 0.4, "{r:?}");
        assert!(delta.abs() < 1e-12);
        assert!(mann_whitney_binned(&[0, 0], &[1, 1], Alternative::Greater).is_err());
        assert!(mann_whitney_binned(&[1], &[1, 1], Alternative::Greater).is_err());
    }
}
