//! What the metrics sources hand the core: per route, per cohort measurements of
//! one window, the health of the collectors that produced them, and the
//! historical baseline of the stable revision.
//!
//! Every metric value is an `Option<f64>`: `None` means the source returned no
//! series. NaN and ±Inf are kept as they came (and survive JSON round trips in
//! the audit log), because "the source said NaN" and "the source said nothing"
//! are different reasons for the same verdict: inconclusive, never a pass.

use crate::vocab::{Route, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One cohort's measurements on one route during one window.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    /// Requests completed in the window.
    pub requests: u64,
    /// Requests that failed: 5xx, application errors, upstream failures, timeouts.
    pub errors: u64,
    /// Latency quantiles as the source reported them; a latency rule reads
    /// these before computing a quantile from the histogram.
    #[serde(default, skip_serializing_if = "LatencySummary::is_empty")]
    pub latency_ms: LatencySummary,
    /// Cumulative latency histogram (Prometheus style: upper bound in ms → count ≤ bound).
    /// Used for quantiles the summary does not give.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_buckets_ms: Option<Histogram>,
    /// CPU use as a fraction of the limit (0.42 = 42%).
    #[serde(
        default,
        with = "lossless_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu: Option<f64>,
    /// Memory use as a fraction of the limit.
    #[serde(
        default,
        with = "lossless_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub memory: Option<f64>,
    /// Requests in flight (a gauge, averaged over the window).
    #[serde(
        default,
        with = "lossless_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub inflight: Option<f64>,
    /// Named metrics a policy's custom rules refer to.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<String, Lossless>,
}

/// Latency quantiles in milliseconds, as a source reports them.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySummary {
    /// Median latency; `None` when the source did not report it.
    #[serde(
        default,
        with = "lossless_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub p50: Option<f64>,
    /// 95th percentile latency; `None` when the source did not report it.
    #[serde(
        default,
        with = "lossless_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub p95: Option<f64>,
    /// 99th percentile latency, where canary regressions usually show first;
    /// `None` when the source did not report it.
    #[serde(
        default,
        with = "lossless_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub p99: Option<f64>,
}

impl LatencySummary {
    /// Whether the source reported no quantile at all (the audit log then
    /// leaves the summary out).
    pub fn is_empty(&self) -> bool {
        self.p50.is_none() && self.p95.is_none() && self.p99.is_none()
    }
}

/// A cumulative histogram: for each upper bound (ms), the number of requests at
/// or below it, with `+Inf` as the last bound. Keys are kept as the source wrote
/// them (`"50"`, `"+Inf"`) so the audit log shows exactly what was read.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Histogram(pub BTreeMap<String, f64>);

/// Why a histogram cannot answer a quantile question.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HistogramError {
    /// A bucket bound (kept as the source wrote it) does not parse as a finite number.
    #[error("histogram bucket bound `{0}` is not a number")]
    BadBound(String),
    /// No `+Inf` bucket, so the total count, and any rank, is unknown.
    #[error("histogram has no `+Inf` bucket")]
    NoInfBucket,
    /// No request was counted: there is no quantile of nothing.
    #[error("histogram is empty (0 observations)")]
    Empty,
    /// Counts go down from one bucket to the next: per-bucket counts or a
    /// broken series, not the cumulative histogram Prometheus serves.
    #[error("histogram counts decrease between buckets (not cumulative)")]
    NotCumulative,
    /// A count is NaN, infinite or negative.
    #[error("histogram has a NaN or infinite count")]
    BadCount,
}

impl Histogram {
    /// Buckets sorted by bound, `+Inf` last.
    pub fn sorted(&self) -> Result<Vec<(f64, f64)>, HistogramError> {
        let mut out = Vec::with_capacity(self.0.len());
        for (k, &v) in &self.0 {
            let bound = match k.trim() {
                "+Inf" | "Inf" | "inf" | "+inf" => f64::INFINITY,
                s => s
                    .parse::<f64>()
                    .ok()
                    .filter(|b| b.is_finite())
                    .ok_or_else(|| HistogramError::BadBound(k.clone()))?,
            };
            if !v.is_finite() || v < 0.0 {
                return Err(HistogramError::BadCount);
            }
            out.push((bound, v));
        }
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(out)
    }

    /// Quantile by linear interpolation inside the bucket, the way Prometheus'
    /// `histogram_quantile` does, so figures match what users see in Grafana.
    pub fn quantile(&self, q: f64) -> Result<f64, HistogramError> {
        let buckets = self.sorted()?;
        let Some(&(last_bound, total)) = buckets.last() else {
            return Err(HistogramError::Empty);
        };
        if last_bound != f64::INFINITY {
            return Err(HistogramError::NoInfBucket);
        }
        if total <= 0.0 {
            return Err(HistogramError::Empty);
        }
        if buckets.windows(2).any(|w| w[1].1 < w[0].1) {
            return Err(HistogramError::NotCumulative);
        }
        let rank = q * total;
        let mut prev_bound = 0.0;
        let mut prev_count = 0.0;
        for &(bound, count) in &buckets {
            if count >= rank {
                if bound == f64::INFINITY {
                    // Like Prometheus: the answer is the highest finite bound.
                    return Ok(prev_bound);
                }
                let in_bucket = count - prev_count;
                if in_bucket <= 0.0 {
                    return Ok(bound);
                }
                return Ok(prev_bound + (bound - prev_bound) * (rank - prev_count) / in_bucket);
            }
            prev_bound = bound;
            prev_count = count;
        }
        Ok(prev_bound)
    }
}

/// The canary and the baseline cohort on one route in one window.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteWindow {
    /// The canary's figures; `None` when the source returned no series for
    /// it, which makes the route inconclusive (no data is never a pass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Observation>,
    /// The stable revision's figures in the same window (same load, same time
    /// of day); when missing or thin, rules compare with an earlier baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Observation>,
}

/// Whether the collectors could see the canary in this window. When they could
/// not, the numbers are not evidence of anything: the window is unreliable.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CollectorHealth {
    /// The collectors saw the canary: the window can be judged.
    #[default]
    Healthy,
    /// canaryd's view was impaired (a source down, stale scrapes, probes
    /// timing out), in the collector's words: the window is unreliable and the
    /// rollout pauses instead of rolling back on it.
    Unhealthy(String),
}

/// One analysis window: everything measured between `start` and `end`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Window {
    /// When the window opened.
    pub start: Timestamp,
    /// When it closed (exclusive); sequential tests use the span to know
    /// which windows one transient burst can touch.
    pub end: Timestamp,
    /// Whether the collectors could see the canary; asked before anything
    /// else, because a partitioned reading is not a breach.
    #[serde(default)]
    pub collectors: CollectorHealth,
    /// Both cohorts per route: rules are judged route by route, so a
    /// regression on one endpoint is not averaged away.
    #[serde(default)]
    pub routes: BTreeMap<Route, RouteWindow>,
    /// Fraction of the period's error budget left (1.0 = untouched), when the
    /// source tracks an SLO. Read by the error-budget gate.
    #[serde(
        default,
        with = "lossless_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub error_budget_remaining: Option<f64>,
    /// What the source looked for and did not find, in its own words (e.g.
    /// "canary selector `version=\"v2\"` matched no series"). A window with
    /// gaps that is otherwise not judgeable names them as the reason, so the
    /// operator reads the cause (a wrong label) rather than the symptom.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<String>,
}

impl Window {
    /// Requests counted in the window, canary and baseline, over all routes
    /// (a missing cohort counts as none): what progress lines and the
    /// sample-ratio check show.
    pub fn requests(&self) -> (u64, u64) {
        self.routes.values().fold((0, 0), |(c, b), rw| {
            (
                c + rw.canary.as_ref().map_or(0, |o| o.requests),
                b + rw.baseline.as_ref().map_or(0, |o| o.requests),
            )
        })
    }
}

/// The stable revision's history, used to decide whether a canary may ramp
/// without a human looking first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineStatus {
    /// History was found; the baseline gate still checks that it is long
    /// and busy enough before the rollout ramps on its own.
    Available(Baseline),
    /// No history could be read, and why (a new workload, a source error):
    /// a human approves before any traffic moves.
    Missing(String),
}

/// The stable revision's figures over the policy's lookback: what the
/// baseline gate checks at the start, and what ratio and delta rules fall
/// back to when a window's own stable cohort is missing or thin.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// Hours of clean stable history the figures cover.
    pub history_hours: f64,
    /// Per route, the stable revision's figures over the history; the gate
    /// wants enough requests on each.
    #[serde(default)]
    pub routes: BTreeMap<Route, Observation>,
}

/// An `f64` that keeps NaN and ±Inf through JSON (as the strings `"NaN"`,
/// `"+Inf"`, `"-Inf"`), because serde_json would silently turn them into
/// `null` and an audit replay would then see "no series" instead of "NaN".
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Lossless(pub f64);

impl Serialize for Lossless {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_nan() {
            s.serialize_str("NaN")
        } else if v == f64::INFINITY {
            s.serialize_str("+Inf")
        } else if v == f64::NEG_INFINITY {
            s.serialize_str("-Inf")
        } else {
            s.serialize_f64(v)
        }
    }
}

impl<'de> Deserialize<'de> for Lossless {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Lossless;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, or one of \"NaN\", \"+Inf\", \"-Inf\"")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Lossless, E> {
                Ok(Lossless(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Lossless, E> {
                Ok(Lossless(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Lossless, E> {
                Ok(Lossless(v as f64))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Lossless, E> {
                match v.trim() {
                    "NaN" | "nan" | ".nan" | ".NaN" => Ok(Lossless(f64::NAN)),
                    "+Inf" | "Inf" | "inf" | "+inf" | ".inf" | "+.inf" => {
                        Ok(Lossless(f64::INFINITY))
                    }
                    "-Inf" | "-inf" | "-.inf" => Ok(Lossless(f64::NEG_INFINITY)),
                    other => other
                        .parse::<f64>()
                        .map(Lossless)
                        .map_err(|_| E::custom(format!("`{other}` is not a number"))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// `#[serde(with = "lossless_opt")]` for `Option<f64>` fields.
pub(crate) mod lossless_opt {
    use super::Lossless;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        v.map(Lossless).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Ok(Option::<Lossless>::deserialize(d)?.map(|l| l.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(pairs: &[(&str, f64)]) -> Histogram {
        Histogram(pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect())
    }

    #[test]
    fn histogram_quantile_interpolates_like_prometheus() {
        let h = hist(&[("50", 900.0), ("100", 1400.0), ("+Inf", 1500.0)]);
        // rank 0.5*1500 = 750 lies in the first bucket: 0 + 50 * 750/900.
        assert!((h.quantile(0.5).unwrap() - 41.666).abs() < 0.01);
        // rank 0.99*1500 = 1485 lies in +Inf: the highest finite bound.
        assert_eq!(h.quantile(0.99).unwrap(), 100.0);
        // rank 0.9*1500 = 1350 in (50,100]: 50 + 50*(1350-900)/500 = 95.
        assert!((h.quantile(0.9).unwrap() - 95.0).abs() < 1e-9);
    }

    #[test]
    fn histogram_errors_are_named() {
        assert_eq!(
            hist(&[("50", 1.0)]).quantile(0.5),
            Err(HistogramError::NoInfBucket)
        );
        assert_eq!(
            hist(&[("x", 1.0), ("+Inf", 2.0)]).quantile(0.5),
            Err(HistogramError::BadBound("x".into()))
        );
        assert_eq!(
            hist(&[("50", 5.0), ("+Inf", 2.0)]).quantile(0.5),
            Err(HistogramError::NotCumulative)
        );
        assert_eq!(
            hist(&[("+Inf", 0.0)]).quantile(0.5),
            Err(HistogramError::Empty)
        );
    }

    #[test]
    fn non_finite_values_survive_json() {
        let o = Observation {
            requests: 10,
            latency_ms: LatencySummary {
                p99: Some(f64::NAN),
                p95: Some(f64::INFINITY),
                p50: None,
            },
            ..Default::default()
        };
        let s = serde_json::to_string(&o).unwrap();
        let back: Observation = serde_json::from_str(&s).unwrap();
        assert!(back.latency_ms.p99.unwrap().is_nan());
        assert_eq!(back.latency_ms.p95, Some(f64::INFINITY));
        assert_eq!(back.latency_ms.p50, None);
    }
}
