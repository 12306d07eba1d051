//! Tukey's IQR fences for outlier detection.

use crate::error::{Result, StatsError};
use crate::sample::{quantile_type7, sorted};

/// Tukey fences and the observations outside them.
#[derive(Debug, Clone, PartialEq)]
pub struct Outliers {
    /// First quartile (type-7 quantile) of the sample.
    pub q1: f64,
    /// Third quartile (type-7 quantile) of the sample.
    pub q3: f64,
    /// q1 - k * IQR.
    pub low_fence: f64,
    /// q3 + k * IQR.
    pub high_fence: f64,
    /// Positions (in the input order) of values strictly outside the fences.
    pub indices: Vec<usize>,
}

/// Tukey's rule: values below q1 - k*IQR or above q3 + k*IQR (k = 1.5 is the
/// usual "outlier", 3 "far out"); quartiles by linear interpolation (type 7).
///
/// **Use it for** dropping pathological per-interval points before a
/// judgement (Kayenta's outlier strategy), or for flagging a pod whose
/// metric is off the fleet. Distribution-free but symmetric: on very skewed
/// data (latency) it flags many legitimate high values — apply it to log
/// latency, or use k = 3.
pub fn iqr_outliers(sample: &[f64], k: f64) -> Result<Outliers> {
    if !(k.is_finite() && k >= 0.0) {
        return Err(StatsError::InvalidParameter {
            name: "k",
            value: k,
            why: "the fence multiplier must be finite and >= 0",
        });
    }
    let x = sorted("sample", sample)?;
    let (q1, q3) = (quantile_type7(&x, 0.25), quantile_type7(&x, 0.75));
    let iqr = q3 - q1;
    let (low_fence, high_fence) = (q1 - k * iqr, q3 + k * iqr);
    let indices = sample
        .iter()
        .enumerate()
        .filter(|(_, &v)| v < low_fence || v > high_fence)
        .map(|(i, _)| i)
        .collect();
    Ok(Outliers {
        q1,
        q3,
        low_fence,
        high_fence,
        indices,
    })
}
