//! From Prometheus answers to per-rollout, per-route canary and baseline
//! observations.
//!
//! Counters read with `increase()` are fractional (Prometheus extrapolates to
//! the window's edges): they are rounded to the nearest request. The errors
//! and requests queries are separate evaluations, so errors may exceed
//! requests by a rounding step: up to one request is clamped, anything more is
//! kept as read, and the core then names it as bad data rather than judging it.
//! A NaN count cannot be a request count: that cohort gets no observation on
//! the route and a gap says why. Gauges and custom values keep NaN as NaN.
//!
//! An empty errors answer is zero errors, not a gap: a service that never
//! failed has no 5xx series at all. Every other query that matched nothing for
//! a cohort is a gap naming the selector, because that is almost always a
//! wrong label, and "no data" must never pass.

use super::config::{MetricKind, Plan};
use super::template::{any_of_matcher, eq_matcher, escape_string, promql_duration, Template, Var};
use crate::series::{Answer, Series};
use canaryd_core::observation::{
    CollectorHealth, Histogram, LatencySummary, Lossless, Observation, RouteWindow, Window,
};
use canaryd_core::vocab::{Cohort, RolloutKey, Route, Timestamp};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

/// One rollout as the queries see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The rollout.
    pub key: RolloutKey,
    /// The workload's name, without its namespace.
    pub workload: String,
    /// The workload's namespace; empty when the key has none.
    pub namespace: String,
    /// The canary's cohort value, rendered for this rollout (not yet escaped).
    pub canary: String,
    /// `None`: every other value of the cohort label is the baseline.
    pub baseline: Option<String>,
    /// The rendered extra selector; rollouts that share it share queries.
    pub extra: String,
}

impl Target {
    /// Renders the plan's templates for one rollout.
    pub fn new(plan: &Plan, key: &RolloutKey) -> Target {
        let (namespace, workload) = match key.workload.0.split_once('/') {
            Some((ns, name)) => (ns.to_string(), name.to_string()),
            None => (String::new(), key.workload.0.clone()),
        };
        // Cohort values are used raw here and escaped where they become
        // matchers.
        let raw = |t: &Template| {
            t.render_raw(|v| match v {
                Var::Workload => Cow::Owned(workload.clone()),
                Var::Namespace => Cow::Owned(namespace.clone()),
                Var::Revision => Cow::Owned(key.revision.0.clone()),
                _ => Cow::Borrowed(""),
            })
        };
        let extra = plan
            .selector
            .as_ref()
            .map(|s| {
                s.render(|v| match v {
                    Var::Workload => Cow::Owned(workload.clone()),
                    Var::Namespace => Cow::Owned(namespace.clone()),
                    _ => Cow::Borrowed(""),
                })
            })
            .unwrap_or_default();
        Target {
            canary: raw(&plan.canary),
            baseline: plan.baseline.as_ref().map(&raw),
            key: key.clone(),
            workload,
            namespace,
            extra,
        }
    }

    /// Which cohort of this rollout a series with `labels` belongs to, if any.
    fn cohort_of(
        &self,
        plan: &Plan,
        batched: bool,
        labels: &BTreeMap<String, String>,
    ) -> Option<Cohort> {
        if let (Some(wl), true) = (&plan.workload_label, batched) {
            if labels.get(wl) != Some(&self.workload) {
                return None;
            }
        }
        let v = labels
            .get(&plan.cohort_label)
            .map(String::as_str)
            .unwrap_or("");
        if v == self.canary {
            Some(Cohort::Canary)
        } else if self.baseline.as_deref() == Some(v) || (self.baseline.is_none() && !v.is_empty())
        {
            Some(Cohort::Baseline)
        } else {
            None
        }
    }

    fn cohort_matcher(&self, plan: &Plan, cohort: Cohort) -> String {
        match (cohort, &self.baseline) {
            (Cohort::Canary, _) => eq_matcher(&plan.cohort_label, &self.canary),
            (Cohort::Baseline, Some(b)) => eq_matcher(&plan.cohort_label, b),
            (Cohort::Baseline, None) => format!(
                "{l}!=\"\",{l}!=\"{}\"",
                escape_string(&self.canary),
                l = plan.cohort_label
            ),
        }
    }
}

/// Rollouts answered by the same queries.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The rollouts in the batch, each answered from the shared queries.
    pub targets: Vec<Target>,
    selector: String,
    by: String,
    /// The cohorts the queries ask for (a missing one is a gap).
    cohorts: &'static [Cohort],
}

impl Batch {
    /// Groups rollouts that share an extra selector; each group becomes one
    /// query per metric.
    pub fn group(plan: &Plan, targets: &[Target]) -> Vec<Batch> {
        let mut groups: BTreeMap<&str, Vec<Target>> = BTreeMap::new();
        for t in targets {
            groups.entry(&t.extra).or_default().push(t.clone());
        }
        groups
            .into_values()
            .map(|ts| Batch::new(plan, ts))
            .collect()
    }

    fn new(plan: &Plan, targets: Vec<Target>) -> Batch {
        let mut m: Vec<String> = Vec::new();
        if let Some(first) = targets.first() {
            if !first.extra.is_empty() {
                m.push(first.extra.clone());
            }
        }
        m.extend(plan.fixed_matchers.iter().cloned());
        let batched = targets.len() > 1;
        let mut by: Vec<&str> = [&plan.route_label, &plan.method_label]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        by.push(&plan.cohort_label);
        if let Some(wl) = &plan.workload_label {
            m.push(any_of_matcher(
                wl,
                targets.iter().map(|t| t.workload.as_str()),
            ));
            if batched {
                by.push(wl);
            }
        }
        if targets.iter().all(|t| t.baseline.is_some()) {
            let values = targets
                .iter()
                .flat_map(|t| [t.canary.as_str(), t.baseline.as_deref().unwrap_or("")]);
            m.push(any_of_matcher(&plan.cohort_label, values));
        } else {
            m.push(format!("{}!=\"\"", plan.cohort_label));
        }
        Batch {
            selector: m.join(","),
            by: by.join(", "),
            targets,
            cohorts: &[Cohort::Canary, Cohort::Baseline],
        }
    }

    /// Only the stable cohort of one rollout (for its baseline history).
    pub fn stable(plan: &Plan, target: Target) -> Batch {
        let mut b = Batch::new(plan, vec![target.clone()]);
        let mut m: Vec<String> = Vec::new();
        if !target.extra.is_empty() {
            m.push(target.extra.clone());
        }
        m.extend(plan.fixed_matchers.iter().cloned());
        if let Some(wl) = &plan.workload_label {
            m.push(eq_matcher(wl, &target.workload));
        }
        m.push(target.cohort_matcher(plan, Cohort::Baseline));
        b.selector = m.join(",");
        b.cohorts = &[Cohort::Baseline];
        b
    }

    fn batched(&self) -> bool {
        self.targets.len() > 1
    }

    /// The query text for this batch.
    pub fn render(&self, plan: &Plan, t: &Template, window: Duration) -> String {
        let first = self.targets.first();
        t.render(|v| match v {
            Var::Selector => Cow::Borrowed(self.selector.as_str()),
            Var::By => Cow::Borrowed(self.by.as_str()),
            Var::Cohort => Cow::Borrowed(plan.cohort_label.as_str()),
            Var::Route => Cow::Borrowed(plan.route_label.as_deref().unwrap_or("")),
            Var::Method => Cow::Borrowed(plan.method_label.as_deref().unwrap_or("")),
            Var::Window => Cow::Owned(promql_duration(window)),
            Var::Workload => Cow::Owned(first.map(|t| t.workload.clone()).unwrap_or_default()),
            Var::Namespace => Cow::Owned(first.map(|t| t.namespace.clone()).unwrap_or_default()),
            Var::Revision | Var::Canary => Cow::Borrowed(""),
        })
    }
}

/// The route key the core uses: `METHOD /path`, `*` for a label the
/// convention does not have.
fn route_of(plan: &Plan, labels: &BTreeMap<String, String>) -> Option<Route> {
    let get = |l: &Option<String>| match l {
        None => Some("*".to_string()),
        Some(l) => labels.get(l).cloned(),
    };
    Some(Route(format!(
        "{} {}",
        get(&plan.method_label)?,
        get(&plan.route_label)?
    )))
}

fn value(s: &Series) -> f64 {
    s.points.last().map(|p| p.value).unwrap_or(f64::NAN)
}

/// Per route and cohort, the sum of this rollout's series of one answer
/// (sums because a baseline without a named value spans several cohort values).
/// Series without route labels land under `None` (they apply to every route).
type Sums = BTreeMap<(Option<Route>, Cohort), f64>;

fn sums(
    plan: &Plan,
    batched: bool,
    t: &Target,
    a: &Answer,
    extra_key: Option<&str>,
) -> BTreeMap<String, Sums> {
    let mut out: BTreeMap<String, Sums> = BTreeMap::new();
    for s in &a.series {
        let Some(c) = t.cohort_of(plan, batched, &s.labels) else {
            continue;
        };
        let has_route = plan
            .route_label
            .as_ref()
            .is_some_and(|l| s.labels.contains_key(l))
            || plan
                .method_label
                .as_ref()
                .is_some_and(|l| s.labels.contains_key(l));
        let route = if has_route || (plan.route_label.is_none() && plan.method_label.is_none()) {
            route_of(plan, &s.labels)
        } else {
            None
        };
        let sub = extra_key
            .map(|k| s.labels.get(k).cloned().unwrap_or_default())
            .unwrap_or_default();
        *out.entry(sub).or_default().entry((route, c)).or_insert(0.0) += value(s);
    }
    out
}

/// Builds every rollout's window of one batch from the answers, in the order
/// of `plan.queries`.
pub fn assemble(
    plan: &Plan,
    batch: &Batch,
    answers: &[Answer],
    start: Timestamp,
    end: Timestamp,
) -> BTreeMap<RolloutKey, Window> {
    let mut out = BTreeMap::new();
    let unreliable: Vec<String> = answers
        .iter()
        .flat_map(|a| a.warnings.iter())
        .filter(|w| super::health::warning_means_partial(w))
        .map(|w| format!("Prometheus returned partial data: {w}"))
        .collect();
    for t in &batch.targets {
        let mut w = Window {
            start,
            end,
            collectors: if unreliable.is_empty() {
                CollectorHealth::Healthy
            } else {
                CollectorHealth::Unhealthy(unreliable.join("; "))
            },
            ..Default::default()
        };
        let mut obs = Acc::default();
        let mut wide: Vec<(MetricKind, Cohort, f64)> = Vec::new();
        for (q, a) in plan.queries.iter().zip(answers) {
            let le = matches!(q.kind, MetricKind::LatencyBuckets).then_some("le");
            let by_sub = sums(plan, batch.batched(), t, a, le);
            // Neither cohort has a single request series: Prometheus holds no
            // samples for this window at all (it has just restarted, or its
            // scrapes are late). That is a blind spot, not a lack of traffic:
            // counted as "not enough data" it would pause the rollout for good
            // after a few windows, where a blind spot lifts on its own.
            if q.kind == MetricKind::Requests
                && batch.cohorts.len() > 1
                && by_sub.values().all(|m| m.is_empty())
            {
                let why = format!(
                    "Prometheus holds no `{}` samples for either cohort in this window \
                     (restarted, or its scrapes are late; if it lasts, the selector may \
                     match nothing: `canaryd doctor` names the matcher to fix)",
                    q.name
                );
                w.collectors = match w.collectors {
                    CollectorHealth::Unhealthy(r) => {
                        CollectorHealth::Unhealthy(format!("{r}; {why}"))
                    }
                    CollectorHealth::Healthy => CollectorHealth::Unhealthy(why),
                };
            }
            for &c in batch.cohorts {
                let any = by_sub.values().any(|m| m.keys().any(|(_, cc)| *cc == c));
                if !any && q.kind != MetricKind::Errors {
                    w.gaps.push(format!(
                        "{c} selector `{}` matched no series for `{}`",
                        t.cohort_matcher(plan, c),
                        q.name
                    ));
                }
            }
            for (sub, m) in by_sub {
                for ((route, c), v) in m {
                    let Some(route) = route else {
                        wide.push((q.kind.clone(), c, v));
                        continue;
                    };
                    obs.apply(&mut w.gaps, plan, &q.kind, route, c, &sub, v);
                }
            }
        }
        // Gauges without a route label describe the whole cohort.
        let routes: Vec<(Route, Cohort)> = obs.seen.keys().cloned().collect();
        for (kind, c, v) in wide {
            for (r, rc) in routes.iter().filter(|(_, rc)| *rc == c) {
                obs.apply(&mut w.gaps, plan, &kind, r.clone(), *rc, "", v);
            }
        }
        obs.finish(&mut w);
        out.insert(t.key.clone(), w);
    }
    out
}

/// The observations of one rollout being built, and the cohorts whose
/// request count was unusable (they get none).
#[derive(Default)]
struct Acc {
    seen: BTreeMap<(Route, Cohort), Observation>,
    unusable: std::collections::BTreeSet<(Route, Cohort)>,
}

impl Acc {
    #[allow(clippy::too_many_arguments)]
    fn apply(
        &mut self,
        gaps: &mut Vec<String>,
        plan: &Plan,
        kind: &MetricKind,
        route: Route,
        c: Cohort,
        le: &str,
        v: f64,
    ) {
        if *kind != MetricKind::Requests && !self.seen.contains_key(&(route.clone(), c)) {
            // Only routes the requests query saw get observations: a route with
            // latency but no request count cannot be judged.
            return;
        }
        let o = self.seen.entry((route.clone(), c)).or_default();
        match kind {
            MetricKind::Requests => {
                if v.is_finite() && v >= 0.0 {
                    o.requests = v.round() as u64;
                } else {
                    gaps.push(format!("{c} request count on {route} is {v}"));
                    self.unusable.insert((route.clone(), c));
                }
            }
            MetricKind::Errors => {
                if v.is_finite() && v >= 0.0 {
                    o.errors = v.round() as u64;
                } else {
                    gaps.push(format!("{c} error count on {route} is {v}"));
                }
            }
            MetricKind::LatencyBuckets => {
                let key = bucket_key(le, plan.bucket_unit_ms);
                o.latency_buckets_ms
                    .get_or_insert_with(|| Histogram(BTreeMap::new()))
                    .0
                    .insert(key, v);
            }
            MetricKind::Cpu => o.cpu = Some(v),
            MetricKind::Memory => o.memory = Some(v),
            MetricKind::Inflight => o.inflight = Some(v),
            MetricKind::Custom(name) => {
                o.custom.insert(name.clone(), Lossless(v));
            }
        }
    }

    fn finish(self, w: &mut Window) {
        for ((route, c), mut o) in self.seen {
            if self.unusable.contains(&(route.clone(), c)) {
                continue;
            }
            if o.errors > o.requests && o.errors - o.requests <= 1 {
                o.errors = o.requests;
            }
            if let Some(h) = &o.latency_buckets_ms {
                let q = |p| h.quantile(p).ok();
                o.latency_ms = LatencySummary {
                    p50: q(0.5),
                    p95: q(0.95),
                    p99: q(0.99),
                };
            }
            let rw: &mut RouteWindow = w.routes.entry(route).or_default();
            match c {
                Cohort::Canary => rw.canary = Some(o),
                Cohort::Baseline => rw.baseline = Some(o),
            }
        }
    }
}

/// A bucket bound in ms as a key: `+Inf` stays; `0.005` s becomes `5`.
fn bucket_key(le: &str, unit_ms: f64) -> String {
    match le.trim().parse::<f64>() {
        Ok(b) if b.is_finite() => {
            let ms = (b * unit_ms * 1e6).round() / 1e6;
            format!("{ms}")
        }
        _ => "+Inf".to_string(),
    }
}
