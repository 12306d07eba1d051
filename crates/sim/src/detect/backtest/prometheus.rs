//! Reading a Prometheus range-query export (the JSON body of
//! `/api/v1/query_range`) as a recorded rollout. The file must hold a
//! `matrix` whose series carry:
//! - a cohort label, `cohort`, `version` or `track`, valued `canary` for the
//!   canary and `baseline`, `stable` or `primary` for the stable side;
//! - a counter kind: the metric name (`__name__`, or a `metric` label) names
//!   errors when it contains `error` (`errors`, `http_errors_total`) and
//!   requests otherwise (`requests`, `http_requests_total`);
//! - optionally a `route` label (else the route is `all`);
//! - optionally latency histogram buckets: series whose name ends in
//!   `_bucket` with an `le` label (bounds in seconds when the name says
//!   `seconds`, else in ms), counts per step, cumulative as Prometheus
//!   keeps them (e.g. `sum by (version, le) (increase(
//!   http_request_duration_seconds_bucket[1m]))`). Without them a policy
//!   with latency rules finds no latency data: no data, never a pass;
//! - values that are counts *per step* (e.g. `sum by (version, route)
//!   (increase(http_requests_total[1m]))` queried with `step=60`).
//!
//! Each timestamp becomes one window ending at it, starting one step
//! earlier. A cohort without a point at a timestamp is missing in that
//! window (no data, never a pass). The export carries no stable history,
//! so the rollout starts as approved by `backtest`.

use std::collections::BTreeMap;

use serde::Deserialize;

use canaryd_core::observation::{BaselineStatus, Histogram, Observation, RouteWindow, Window};
use canaryd_core::rollout::Event;
use canaryd_core::vocab::{RolloutKey, Route, Timestamp};

use super::{with_start, DataError, Recorded};

#[derive(Deserialize)]
struct PromBody {
    status: String,
    data: Option<PromData>,
}

#[derive(Deserialize)]
struct PromData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<PromSeries>,
}

#[derive(Deserialize)]
struct PromSeries {
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Canary,
    Baseline,
}

/// A Prometheus range-query export as one recorded rollout (see the module docs).
pub fn parse_prometheus(text: &str, key: RolloutKey) -> Result<Recorded, DataError> {
    let body: PromBody = serde_json::from_str(text).map_err(|e| DataError::Json {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let prom = |path: &str, message: String| DataError::Prometheus {
        path: path.into(),
        message,
    };
    if body.status != "success" {
        return Err(prom(
            "status",
            format!("is `{}`, not `success`", body.status),
        ));
    }
    let data = body.data.ok_or_else(|| prom("data", "missing".into()))?;
    if data.result_type != "matrix" {
        return Err(prom(
            "data.resultType",
            format!(
                "is `{}`; a range query (`matrix`) is needed",
                data.result_type
            ),
        ));
    }
    // (timestamp ms, route) -> side -> (requests, errors, buckets)
    type Cell = (Option<f64>, Option<f64>, BTreeMap<String, f64>);
    let mut points: BTreeMap<(i64, String), BTreeMap<Side, Cell>> = BTreeMap::new();
    let mut step_ms: Option<i64> = None;
    for (i, s) in data.result.iter().enumerate() {
        let path = format!("data.result[{i}].metric");
        let cohort = ["cohort", "version", "track"]
            .iter()
            .find_map(|l| s.metric.get(*l))
            .ok_or_else(|| {
                prom(
                    &path,
                    "no cohort label (expected `cohort`, `version` or `track`)".into(),
                )
            })?;
        let side = match cohort.as_str() {
            "canary" => Side::Canary,
            "baseline" | "stable" | "primary" => Side::Baseline,
            other => {
                return Err(prom(
                    &path,
                    format!(
                        "cohort `{other}` is neither `canary` nor `baseline`/`stable`/`primary`"
                    ),
                ))
            }
        };
        let name = s
            .metric
            .get("__name__")
            .or_else(|| s.metric.get("metric"))
            .ok_or_else(|| {
                prom(
                    &path,
                    "no metric name (`__name__` or `metric` label) to tell requests from errors"
                        .into(),
                )
            })?;
        let bucket = match (name.ends_with("_bucket"), s.metric.get("le")) {
            (true, Some(le)) => {
                Some(bucket_bound(le, name.contains("seconds")).ok_or_else(|| {
                    prom(&path, format!("`le` label `{le}` is not a bucket bound"))
                })?)
            }
            (true, None) => return Err(prom(&path, format!("`{name}` has no `le` label"))),
            _ => None,
        };
        let is_errors = name.contains("error");
        let route = s
            .metric
            .get("route")
            .cloned()
            .unwrap_or_else(|| "all".into());
        for (j, (t, v)) in s.values.iter().enumerate() {
            let vpath = format!("data.result[{i}].values[{j}]");
            if !t.is_finite() {
                return Err(prom(&vpath, "timestamp is not a number".into()));
            }
            let value: f64 = v
                .parse()
                .map_err(|_| prom(&vpath, format!("value `{v}` is not a number")))?;
            let at = (t * 1000.0).round() as i64;
            let cell = points
                .entry((at, route.clone()))
                .or_default()
                .entry(side)
                .or_default();
            if let Some(b) = &bucket {
                if value.is_finite() {
                    cell.2.insert(b.clone(), value);
                }
            } else {
                // NaN (0/0 in a rate) stays missing: no data, never a pass.
                let slot = if is_errors { &mut cell.1 } else { &mut cell.0 };
                *slot = value.is_finite().then_some(value);
            }
            if j > 0 {
                let d = at - (s.values[j - 1].0 * 1000.0).round() as i64;
                step_ms = Some(step_ms.map_or(d, |s: i64| s.min(d)));
            }
        }
    }
    if points.is_empty() {
        return Err(DataError::Empty(
            "the Prometheus export has no data points (data.result is empty)".into(),
        ));
    }
    let step = step_ms.filter(|s| *s > 0).unwrap_or(60_000);
    let mut windows: BTreeMap<i64, Window> = BTreeMap::new();
    for ((at, route), sides) in points {
        let w = windows.entry(at).or_insert_with(|| Window {
            start: Timestamp(at - step),
            end: Timestamp(at),
            ..Default::default()
        });
        let obs = |side| {
            sides.get(&side).and_then(|(req, err, buckets)| {
                Some(Observation {
                    requests: req.filter(|r| *r >= 0.0)?.round() as u64,
                    errors: err.unwrap_or(0.0).max(0.0).round() as u64,
                    latency_buckets_ms: (!buckets.is_empty()).then(|| Histogram(buckets.clone())),
                    ..Default::default()
                })
            })
        };
        w.routes.insert(
            Route(route),
            RouteWindow {
                canary: obs(Side::Canary),
                baseline: obs(Side::Baseline),
            },
        );
    }
    let first = windows.keys().next().copied().unwrap_or(0);
    let rest = windows
        .into_iter()
        .map(|(at, window)| (Timestamp(at), Event::WindowClosed { window }))
        .collect();
    Ok(with_start(
        key,
        BaselineStatus::Missing("a Prometheus export carries no stable history".into()),
        Timestamp(first - step),
        rest,
    ))
}

/// A bucket bound as the core's histograms key it: ms, `+Inf` kept.
fn bucket_bound(le: &str, seconds: bool) -> Option<String> {
    let le = le.trim();
    if matches!(le, "+Inf" | "Inf" | "inf" | "+inf") {
        return Some("+Inf".into());
    }
    let v: f64 = le
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)?;
    let ms = if seconds { v * 1000.0 } else { v };
    // Round away float noise (0.025 s → 25 ms, not 25.000000000000004).
    let ms = (ms * 1e6).round() / 1e6;
    Some(if ms.fract() == 0.0 {
        format!("{}", ms as u64)
    } else {
        format!("{ms}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_bounds_become_milliseconds() {
        assert_eq!(bucket_bound("0.025", true).as_deref(), Some("25"));
        assert_eq!(bucket_bound("0.0025", true).as_deref(), Some("2.5"));
        assert_eq!(bucket_bound("250", false).as_deref(), Some("250"));
        assert_eq!(bucket_bound("+Inf", true).as_deref(), Some("+Inf"));
        assert_eq!(bucket_bound("x", true), None);
        assert_eq!(bucket_bound("-1", true), None);
    }
}
