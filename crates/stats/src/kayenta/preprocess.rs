//! Kayenta's per-metric preprocessing: NaN strategy, then outlier strategy.

use super::{NanStrategy, OutlierStrategy};
use crate::error::{Result, StatsError};

/// The values left after preprocessing, and how many outliers were dropped.
pub(crate) struct Prepared {
    pub values: Vec<f64>,
    pub outliers_removed: usize,
}

/// Applies the NaN strategy, then the outlier strategy, as Kayenta's judge
/// does before classifying. NaN is the "no value for this interval" marker
/// that Kayenta's metric stores emit, so it is data here, not an error;
/// an infinite value is still refused: it is a broken query (a ratio over a
/// zero denominator), and Kayenta's mean ratio would silently become inf/NaN.
pub(crate) fn prepare(
    which: &'static str,
    values: &[f64],
    nan: NanStrategy,
    outliers: OutlierStrategy,
) -> Result<Prepared> {
    if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| v.is_infinite()) {
        return Err(StatsError::NotFinite {
            which,
            index,
            value,
        });
    }
    let values: Vec<f64> = match nan {
        NanStrategy::Remove => values.iter().copied().filter(|v| !v.is_nan()).collect(),
        NanStrategy::Replace => values
            .iter()
            .map(|&v| if v.is_nan() { 0.0 } else { v })
            .collect(),
    };
    match outliers {
        OutlierStrategy::Keep => Ok(Prepared {
            values,
            outliers_removed: 0,
        }),
        OutlierStrategy::Remove { factor } => {
            let Some((low, high)) = fences(&values, factor) else {
                return Ok(Prepared {
                    values,
                    outliers_removed: 0,
                });
            };
            let before = values.len();
            let kept: Vec<f64> = values
                .into_iter()
                .filter(|&v| v >= low && v <= high)
                .collect();
            Ok(Prepared {
                outliers_removed: before - kept.len(),
                values: kept,
            })
        }
    }
}

/// Kayenta's IQR detector with `reduceSensitivity = true`: Tukey fences
/// `q1 - k*IQR`, `q3 + k*IQR`, widened to at least the 1st and 99th
/// percentiles so that a long but dense tail is not cut off. Percentiles are
/// Apache Commons Math's default estimator (not type 7 as in
/// [`crate::iqr_outliers`]), so the same points are dropped as in Kayenta.
/// `None` for an empty sample (nothing to remove).
pub(crate) fn fences(values: &[f64], factor: f64) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let mut s = values.to_vec();
    s.sort_unstable_by(f64::total_cmp);
    let (p25, p75) = (apache_percentile(&s, 25.0), apache_percentile(&s, 75.0));
    let iqr = p75 - p25;
    let (lower_iqr, upper_iqr) = (p25 - factor * iqr, p75 + factor * iqr);
    let (p01, p99) = (apache_percentile(&s, 1.0), apache_percentile(&s, 99.0));
    Some((p01.min(lower_iqr), p99.max(upper_iqr)))
}

/// Apache Commons Math `Percentile` (legacy estimator): position
/// `p (n + 1) / 100`, clamped to the extremes, linear between neighbours.
/// `sorted` is ascending and non-empty.
pub(crate) fn apache_percentile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 1 {
        return sorted[0];
    }
    let pos = p * (n as f64 + 1.0) / 100.0;
    let fpos = pos.floor();
    let dif = pos - fpos;
    if pos < 1.0 {
        return sorted[0];
    }
    if pos >= n as f64 {
        return sorted[n - 1];
    }
    let i = fpos as usize;
    let (lower, upper) = (sorted[i - 1], sorted[i]);
    lower + dif * (upper - lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_apache_legacy() {
        // Hand-computed with pos = p (n + 1) / 100 on 1..=10.
        let s: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(apache_percentile(&s, 25.0), 2.75);
        assert_eq!(apache_percentile(&s, 75.0), 8.25);
        assert_eq!(apache_percentile(&s, 1.0), 1.0);
        assert_eq!(apache_percentile(&s, 99.0), 10.0);
        assert_eq!(apache_percentile(&s, 50.0), 5.5);
    }
}
