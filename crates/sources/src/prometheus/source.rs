//! The Prometheus [`MetricsSource`]: one rollout's windows and baseline,
//! read from a Prometheus server, with batching across rollouts.
//!
//! A window is one instant query per metric, evaluated at the window's end
//! over `[{window}]` = end − start, grouped `by (route, method, cohort)`,
//! matching both cohorts with one regex (`version=~"v1|v2"`). Asking for both
//! cohorts in one query means both sides of the comparison come from the same
//! evaluation, with the same extrapolation and the same staleness — comparing
//! two separately-timed queries would add noise to every verdict.
//!
//! **Batching.** With many rollouts against one Prometheus, one query per
//! metric per rollout grows linearly and is what gets canaryd rate-limited. A
//! [`PrometheusHub`] is shared by every rollout of one source config: the first
//! rollout whose window closes at a given `(start, end)` issues one query per
//! metric for *all* registered rollouts — the workloads and the cohort values
//! of every rollout folded into regex matchers, grouped additionally by the
//! `workload_label` — and the others take their slice of the answer. Queries
//! per window therefore stay constant in the number of rollouts (see
//! BENCHMARKS.md). Rollouts whose windows end at different times simply get
//! their own ticks; nothing waits for anybody.
//!
//! **What fails how.** A Prometheus that cannot be reached or refuses the
//! queries gives `Err(SourceError)`: the driver pauses the rollout. Everything
//! else returns `Ok(window)` so the numbers are still audited: slow answers,
//! partial-data warnings, scrape targets down or stale and failed probes mark
//! the collectors unhealthy (the rollout pauses, never rolls back); a cohort
//! that matched nothing becomes a `gap` (the window is inconclusive, naming
//! the selector to fix).

use super::baseline::baseline;
use super::client::PromClient;
use super::config::Plan;
use super::health::{check_up, Health};
use super::template::Var;
use super::window::{assemble, Batch, Target};
use crate::error::QueryError;
use crate::probe::ProbeConfig;
use crate::series::Answer;
use canaryd_core::observation::{BaselineStatus, CollectorHealth, Window};
use canaryd_core::vocab::{RolloutKey, Timestamp, Weight};
use canaryd_ports::{MetricsSource, SourceError};
use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;

/// What the source needs from a Prometheus client: instant queries. A trait so
/// the window logic is tested on hand-built answers as well as a live server.
pub trait PromApi: Send + Sync + 'static {
    /// Evaluates `query` at the instant `at` (`/api/v1/query`).
    fn instant(
        &self,
        query: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<Answer, QueryError>> + Send;
}

impl PromApi for PromClient {
    fn instant(
        &self,
        query: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<Answer, QueryError>> + Send {
        PromClient::instant(self, query, at)
    }
}

/// How many recent ticks a hub remembers (rollouts on staggered schedules
/// each have their own tick; this bounds memory, not correctness).
const TICKS_KEPT: usize = 64;

type TickResult = Result<BTreeMap<RolloutKey, Window>, SourceError>;

struct Tick {
    start: Timestamp,
    end: Timestamp,
    targets: Arc<Vec<Target>>,
    result: Arc<OnceCell<Arc<TickResult>>>,
}

struct HubState {
    targets: BTreeMap<RolloutKey, Target>,
    ticks: VecDeque<Tick>,
}

/// Shared by every rollout reading from one Prometheus config: issues one
/// query per metric per tick for all of them.
pub struct PrometheusHub<C: PromApi> {
    plan: Plan,
    client: C,
    state: Mutex<HubState>,
}

impl<C: PromApi> PrometheusHub<C> {
    /// A hub for every rollout that shares `plan`, querying through `client`.
    pub fn new(plan: Plan, client: C) -> Arc<Self> {
        Arc::new(PrometheusHub {
            plan,
            client,
            state: Mutex::new(HubState {
                targets: BTreeMap::new(),
                ticks: VecDeque::new(),
            }),
        })
    }

    /// The source of one rollout. Its windows are batched with every other
    /// registered rollout's; dropping it unregisters the rollout.
    pub fn source(self: &Arc<Self>, key: RolloutKey) -> PrometheusSource<C> {
        let target = Target::new(&self.plan, &key);
        if let Ok(mut s) = self.state.lock() {
            s.targets.insert(key.clone(), target);
        }
        PrometheusSource {
            hub: self.clone(),
            key,
            lookback: BASELINE_LOOKBACK,
        }
    }

    /// The checked config every rollout of this hub is read with.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The Prometheus client, for checks that query it directly.
    pub fn client(&self) -> &C {
        &self.client
    }

    fn unregister(&self, key: &RolloutKey) {
        if let Ok(mut s) = self.state.lock() {
            s.targets.remove(key);
        }
    }

    /// The tick's shared result cell, and the rollouts it covers.
    fn tick(&self, key: &RolloutKey, start: Timestamp, end: Timestamp) -> Option<Tick> {
        let mut s = self.state.lock().ok()?;
        let existing = s
            .ticks
            .iter()
            .find(|t| t.start == start && t.end == end && t.targets.iter().any(|x| &x.key == key));
        if let Some(t) = existing {
            return Some(Tick {
                start,
                end,
                targets: t.targets.clone(),
                result: t.result.clone(),
            });
        }
        let targets: Arc<Vec<Target>> = Arc::new(s.targets.values().cloned().collect());
        if !targets.iter().any(|t| &t.key == key) {
            return None;
        }
        let result = Arc::new(OnceCell::new());
        s.ticks.push_back(Tick {
            start,
            end,
            targets: targets.clone(),
            result: result.clone(),
        });
        while s.ticks.len() > TICKS_KEPT {
            s.ticks.pop_front();
        }
        Some(Tick {
            start,
            end,
            targets,
            result,
        })
    }

    /// One rollout's window, computed (for everyone) by the first caller of
    /// the tick.
    pub async fn window(
        &self,
        key: &RolloutKey,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Window, SourceError> {
        if end <= start {
            return Err(SourceError::permanent(format!(
                "window of {key} ends ({}) before it starts ({})",
                end.0, start.0
            )));
        }
        let tick = self.tick(key, start, end).ok_or_else(|| {
            SourceError::permanent(format!(
                "{key} is not registered with this Prometheus source (was its source dropped?)"
            ))
        })?;
        let result = tick
            .result
            .get_or_init(|| async {
                Arc::new(self.compute(&tick.targets, tick.start, tick.end).await)
            })
            .await;
        match result.as_ref() {
            Ok(windows) => windows.get(key).cloned().ok_or_else(|| {
                SourceError::permanent(format!("no window was computed for {key} (internal)"))
            }),
            Err(e) => Err(e.clone()),
        }
    }

    async fn compute(&self, targets: &[Target], start: Timestamp, end: Timestamp) -> TickResult {
        let window = Duration::from_millis((end.0 - start.0).max(0) as u64);
        let batches = Batch::group(&self.plan, targets);
        let mut windows = BTreeMap::new();
        let mut slowest = Duration::ZERO;
        for batch in &batches {
            let mut answers = Vec::with_capacity(self.plan.queries.len());
            for q in &self.plan.queries {
                let text = batch.render(&self.plan, &q.template, window);
                let began = tokio::time::Instant::now();
                let answer = self.client.instant(&text, end).await.map_err(|e| {
                    SourceError::from(e)
                        .context(format!("Prometheus query for `{}` failed", q.name))
                })?;
                slowest = slowest.max(began.elapsed());
                for w in &answer.warnings {
                    tracing::warn!(query = %text, warning = %w, "Prometheus warned");
                }
                answers.push(answer);
            }
            windows.extend(assemble(&self.plan, batch, &answers, start, end));
        }
        let health = check_up(&self.plan, &self.client, targets, end)
            .await
            .map_err(|e| SourceError::from(e).context("Prometheus `up` check failed"))?;
        let probes = self.probe(targets).await;
        for (key, w) in windows.iter_mut() {
            let mut reasons = Vec::new();
            if slowest > self.plan.timeout {
                reasons.push(format!(
                    "Prometheus took {} to answer, more than the {} timeout",
                    humantime::format_duration(Duration::from_millis(slowest.as_millis() as u64)),
                    humantime::format_duration(self.plan.timeout)
                ));
            }
            if let CollectorHealth::Unhealthy(r) = &w.collectors {
                reasons.push(r.clone());
            }
            if let Some(Health::Unhealthy(r)) = health.get(key) {
                reasons.push(r.clone());
            }
            if let Some(Err(p)) = probes.get(key) {
                reasons.push(p.clone());
            }
            w.collectors = if reasons.is_empty() {
                CollectorHealth::Healthy
            } else {
                CollectorHealth::Unhealthy(reasons.join("; "))
            };
        }
        Ok(windows)
    }
}

impl<C: PromApi> PrometheusHub<C> {
    /// Probes each rollout's canary endpoints; rollouts whose URLs render
    /// the same share one probe per tick.
    async fn probe(&self, targets: &[Target]) -> BTreeMap<RolloutKey, Result<(), String>> {
        let Some(base) = &self.plan.probe else {
            return BTreeMap::new();
        };
        let mut by_urls: BTreeMap<Vec<String>, Vec<RolloutKey>> = BTreeMap::new();
        for t in targets {
            let urls = self
                .plan
                .probe_urls
                .iter()
                .map(|u| {
                    u.render_raw(|v| match v {
                        Var::Workload => Cow::Borrowed(t.workload.as_str()),
                        Var::Namespace => Cow::Borrowed(t.namespace.as_str()),
                        Var::Canary => Cow::Borrowed(t.canary.as_str()),
                        _ => Cow::Borrowed(""),
                    })
                })
                .collect();
            by_urls.entry(urls).or_default().push(t.key.clone());
        }
        let mut out = BTreeMap::new();
        for (urls, keys) in by_urls {
            let cfg = ProbeConfig {
                urls,
                ..base.clone()
            };
            let r = crate::probe::probe_all(&cfg).await;
            out.extend(keys.into_iter().map(|k| (k, r.clone())));
        }
        out
    }
}

/// One rollout's view of a [`PrometheusHub`].
pub struct PrometheusSource<C: PromApi> {
    hub: Arc<PrometheusHub<C>>,
    key: RolloutKey,
    /// How far back the stable history is read (the policy's
    /// `baseline.lookback`; [`BASELINE_LOOKBACK`] unless set).
    lookback: Duration,
}

impl<C: PromApi> PrometheusSource<C> {
    /// A source for one rollout alone (its own hub).
    pub fn new(plan: Plan, client: C, key: RolloutKey) -> Self {
        PrometheusHub::new(plan, client).source(key)
    }

    /// The rollout this source reads.
    pub fn key(&self) -> &RolloutKey {
        &self.key
    }

    /// Reads the baseline over `lookback` instead of seven days: the policy
    /// says how much history it trusts.
    pub fn with_lookback(mut self, lookback: Duration) -> Self {
        self.lookback = lookback;
        self
    }

    /// The hub this source's windows are batched in.
    pub fn hub(&self) -> &Arc<PrometheusHub<C>> {
        &self.hub
    }
}

impl<C: PromApi> Drop for PrometheusSource<C> {
    fn drop(&mut self) {
        self.hub.unregister(&self.key);
    }
}

/// The lookback of the baseline (DESIGN.md §6: 7 days).
pub const BASELINE_LOOKBACK: Duration = Duration::from_secs(7 * 24 * 3600);

#[canaryd_ports::async_trait]
impl<C: PromApi> MetricsSource for PrometheusSource<C> {
    async fn baseline(&mut self, key: &RolloutKey) -> Result<BaselineStatus, SourceError> {
        let now = Timestamp(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
        );
        baseline(&self.hub.client, &self.hub.plan, key, self.lookback, now).await
    }

    async fn window(
        &mut self,
        key: &RolloutKey,
        _weight: Weight,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Window, SourceError> {
        self.hub.window(key, start, end).await
    }
}
