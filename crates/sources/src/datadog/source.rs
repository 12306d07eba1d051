//! [`DatadogSource`]: the core's [`Window`] and [`BaselineStatus`] from
//! Datadog queries, one query per metric and cohort.
//!
//! Counts are the sum of the `.as_count()` points in `[start, end)`: a point
//! is stamped with the start of its interval, so the point at `end` belongs
//! to the next window and is not counted twice. A cohort whose request query
//! returns no series gets no observation, and the window names the selector
//! in `gaps`. A count that is NaN, infinite or negative cannot be a request
//! count: that cohort's observation on the route is left out, with a gap
//! saying why. Latencies are averaged over the window's points, NaN kept as
//! NaN (the judge makes it inconclusive).

use crate::datadog::client::DatadogClient;
use crate::datadog::config::DatadogConfig;
use crate::error::QueryError;
use crate::prometheus::client::Backoff;
use crate::series::Answer;
use canaryd_core::observation::{Baseline, BaselineStatus, Observation, RouteWindow, Window};
use canaryd_core::vocab::{fmt_duration, Cohort, RolloutKey, Route, Timestamp, Weight};
use canaryd_ports::{MetricsSource, SourceError};
use canaryd_secrets::Secret;
use std::collections::BTreeMap;

/// Reads the wall clock; replaced in tests and simulations.
pub type Clock = Box<dyn Fn() -> Timestamp + Send + Sync>;

/// A [`MetricsSource`] reading one workload's canary and stable cohorts from
/// Datadog. Every query failure becomes a [`SourceError`] naming the query and
/// the URL: the driver then marks the window unreliable and the rollout
/// pauses, it never judges the canary on what could not be read.
pub struct DatadogSource {
    cfg: DatadogConfig,
    client: DatadogClient,
    clock: Clock,
}

/// Per route, the sum (or mean) of the points inside the range.
type PerRoute = BTreeMap<Route, f64>;

impl DatadogSource {
    /// Validates the templates and loads the keys; sends nothing.
    pub fn new(cfg: DatadogConfig) -> Result<DatadogSource, QueryError> {
        DatadogSource::with_backoff(cfg, Backoff::default())
    }

    /// Like [`DatadogSource::new`], with the retry backoff given (tests pass a fast one).
    pub fn with_backoff(cfg: DatadogConfig, backoff: Backoff) -> Result<DatadogSource, QueryError> {
        cfg.validate().map_err(QueryError::BadConfig)?;
        let client = DatadogClient::with_backoff(cfg.client_config(), backoff)?;
        Ok(DatadogSource {
            cfg,
            client,
            clock: Box::new(system_now),
        })
    }

    /// Reads the baseline over `lookback` (the policy's `baseline.lookback`)
    /// instead of the config's `baseline_lookback`.
    pub fn with_lookback(mut self, lookback: std::time::Duration) -> Self {
        self.cfg.baseline_lookback = lookback;
        self
    }

    /// Replaces the clock the baseline lookback is measured from.
    pub fn with_clock(mut self, clock: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// The HTTP client, e.g. for the API URL to name in messages.
    pub fn client(&self) -> &DatadogClient {
        &self.client
    }

    /// Both keys, for the redactor.
    pub fn secrets(&self) -> Vec<Secret> {
        self.client.secrets()
    }

    async fn run(
        &self,
        template: &str,
        cohort: Cohort,
        key: &RolloutKey,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<(String, Answer), SourceError> {
        let query = self
            .cfg
            .render(template, cohort, &key.revision.0, end.since(start));
        match self.client.query(&query, start, end).await {
            Ok(answer) => {
                for w in &answer.warnings {
                    tracing::warn!(rollout = %key, query = %query, "datadog: {w}");
                }
                Ok((query, answer))
            }
            Err(e) => Err(SourceError::from(e).context(format!("{cohort} query `{query}`"))),
        }
    }

    fn route_of(&self, labels: &BTreeMap<String, String>) -> Route {
        Route(
            labels
                .get(&self.cfg.route_tag)
                .cloned()
                .unwrap_or_else(|| "*".into()),
        )
    }

    fn sum(&self, answer: &Answer, start: Timestamp, end: Timestamp) -> PerRoute {
        let mut out = PerRoute::new();
        for s in &answer.series {
            let inside: Vec<f64> = in_range(s, start, end).collect();
            if !inside.is_empty() {
                *out.entry(self.route_of(&s.labels)).or_insert(0.0) += inside.iter().sum::<f64>();
            }
        }
        out
    }

    fn mean(&self, answer: &Answer, start: Timestamp, end: Timestamp) -> PerRoute {
        let mut acc: BTreeMap<Route, (f64, usize)> = BTreeMap::new();
        for s in &answer.series {
            for v in in_range(s, start, end) {
                let e = acc.entry(self.route_of(&s.labels)).or_insert((0.0, 0));
                e.0 += v;
                e.1 += 1;
            }
        }
        acc.into_iter()
            .map(|(r, (sum, n))| (r, sum / n as f64))
            .collect()
    }

    /// One cohort's observations per route over `[start, end)` (or the gap
    /// that explains their absence), and the time of its first request point.
    async fn cohort(
        &self,
        key: &RolloutKey,
        cohort: Cohort,
        start: Timestamp,
        end: Timestamp,
        gaps: &mut Vec<String>,
    ) -> Result<(BTreeMap<Route, Observation>, Option<Timestamp>), SourceError> {
        let q = &self.cfg.queries;
        let (query, answer) = self.run(&q.requests, cohort, key, start, end).await?;
        let requests = self.sum(&answer, start, end);
        if requests.is_empty() {
            gaps.push(format!(
                "{cohort} scope `{}` matched no series (query `{query}`)",
                self.cfg.cohort_filter(cohort, &key.revision.0)
            ));
            return Ok((BTreeMap::new(), None));
        }
        let first = answer
            .series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|p| p.at >= start && p.at < end)
            .map(|p| p.at)
            .min();
        let (_, answer) = self.run(&q.errors, cohort, key, start, end).await?;
        let errors = self.sum(&answer, start, end);
        let mut latency: [PerRoute; 3] = Default::default();
        let templates = [&q.latency_p50, &q.latency_p95, &q.latency_p99];
        for (slot, tpl) in latency.iter_mut().zip(templates) {
            if let Some(t) = tpl {
                let (_, answer) = self.run(t, cohort, key, start, end).await?;
                *slot = self.mean(&answer, start, end);
            }
        }
        let mut out = BTreeMap::new();
        for (route, n) in requests {
            let Some(requests) = count(n) else {
                gaps.push(format!(
                    "{cohort} requests on {route} read {n}, not a count"
                ));
                continue;
            };
            // Sparse counts: no error series on a route with traffic is zero errors.
            let e = errors.get(&route).copied().unwrap_or(0.0);
            let Some(errors) = count(e) else {
                gaps.push(format!("{cohort} errors on {route} read {e}, not a count"));
                continue;
            };
            let mut obs = Observation {
                requests,
                errors,
                ..Observation::default()
            };
            let unit = self.cfg.latency_unit;
            obs.latency_ms.p50 = latency[0].get(&route).map(|v| unit.to_ms(*v));
            obs.latency_ms.p95 = latency[1].get(&route).map(|v| unit.to_ms(*v));
            obs.latency_ms.p99 = latency[2].get(&route).map(|v| unit.to_ms(*v));
            out.insert(route, obs);
        }
        Ok((out, first))
    }
}

fn in_range(
    s: &crate::series::Series,
    start: Timestamp,
    end: Timestamp,
) -> impl Iterator<Item = f64> + '_ {
    s.points
        .iter()
        .filter(move |p| p.at >= start && p.at < end)
        .map(|p| p.value)
}

/// A summed `.as_count()` as a count; Datadog may return fractional counts
/// after interpolation, which are rounded.
fn count(v: f64) -> Option<u64> {
    (v.is_finite() && v >= 0.0 && v < u64::MAX as f64).then_some(v.round() as u64)
}

fn system_now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    Timestamp(i64::try_from(ms).unwrap_or(i64::MAX))
}

#[canaryd_ports::async_trait]
impl MetricsSource for DatadogSource {
    async fn baseline(&mut self, key: &RolloutKey) -> Result<BaselineStatus, SourceError> {
        let end = (self.clock)();
        let lookback = self.cfg.baseline_lookback;
        let start = Timestamp(
            end.0
                .saturating_sub(canaryd_core::vocab::duration_ms(lookback)),
        );
        let mut gaps = Vec::new();
        let (routes, first) = self
            .cohort(key, Cohort::Baseline, start, end, &mut gaps)
            .await?;
        let Some(first) = first else {
            return Ok(BaselineStatus::Missing(format!(
                "{} over the last {}",
                gaps.join("; "),
                fmt_duration(lookback)
            )));
        };
        if routes.is_empty() {
            return Ok(BaselineStatus::Missing(format!(
                "the stable history has no usable route: {}",
                gaps.join("; ")
            )));
        }
        for g in &gaps {
            tracing::warn!(rollout = %key, "datadog baseline: {g}");
        }
        Ok(BaselineStatus::Available(Baseline {
            history_hours: end.since(first).as_secs_f64() / 3600.0,
            routes,
        }))
    }

    async fn window(
        &mut self,
        key: &RolloutKey,
        _weight: Weight,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Window, SourceError> {
        let mut gaps = Vec::new();
        let (canary, _) = self
            .cohort(key, Cohort::Canary, start, end, &mut gaps)
            .await?;
        let (baseline, _) = self
            .cohort(key, Cohort::Baseline, start, end, &mut gaps)
            .await?;
        let mut routes: BTreeMap<Route, RouteWindow> = BTreeMap::new();
        for (route, obs) in canary {
            routes.entry(route).or_default().canary = Some(obs);
        }
        for (route, obs) in baseline {
            routes.entry(route).or_default().baseline = Some(obs);
        }
        Ok(Window {
            start,
            end,
            routes,
            gaps,
            ..Window::default()
        })
    }
}
