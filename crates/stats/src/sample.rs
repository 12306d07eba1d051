//! Input checks and the pooled-order walk that rank tests share.

use crate::error::{Result, StatsError};

/// Rejects empty samples and non-finite values, naming the sample.
pub(crate) fn validate(which: &'static str, xs: &[f64]) -> Result<()> {
    if xs.is_empty() {
        return Err(StatsError::EmptySample { which });
    }
    if let Some((index, &value)) = xs.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(StatsError::NotFinite {
            which,
            index,
            value,
        });
    }
    Ok(())
}

/// A validated, ascending copy (`-0.0` folded into `0.0` so that equal values
/// sort together).
pub(crate) fn sorted(which: &'static str, xs: &[f64]) -> Result<Vec<f64>> {
    validate(which, xs)?;
    let mut v: Vec<f64> = xs.iter().map(|x| x + 0.0).collect();
    v.sort_unstable_by(f64::total_cmp);
    Ok(v)
}

/// Walks two ascending samples in pooled order, one group of equal values at
/// a time: `f(value, count_in_a, count_in_b)`.
pub(crate) fn tie_groups(a: &[f64], b: &[f64], mut f: impl FnMut(f64, usize, usize)) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let v = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => break,
        };
        let (si, sj) = (i, j);
        while i < a.len() && a[i] == v {
            i += 1;
        }
        while j < b.len() && b[j] == v {
            j += 1;
        }
        f(v, i - si, j - sj);
    }
}

/// Sample quantile by linear interpolation between order statistics
/// (Hyndman & Fan type 7, NumPy's and R's default) on an ascending sample.
pub(crate) fn quantile_type7(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 1 {
        return sorted[0];
    }
    let h = (n - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Arithmetic mean of a non-empty slice.
pub(crate) fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}
