//! The judge: one window of observations in, one verdict out.
//!
//! Every rule is judged on every route it applies to. The order of questions
//! is the order of DESIGN.md §1 and it matters:
//!
//! 1. Could the collectors see the canary? If not, the window is `unreliable`
//!    and nothing in it is judged: a partitioned reading is not a breach.
//! 2. Is there enough canary traffic on the route? If not, the rule cannot
//!    breach there: thresholds on tiny counts are noise.
//! 3. Is there a value at all? Empty, NaN, ±Inf, negative, or a count that
//!    contradicts itself (more errors than requests) is *no data*, and no data
//!    is never a pass.
//! 4. Only then compare.
//!
//! A breach on enough data is reported even when other rules or routes were
//! inconclusive: missing data elsewhere does not make a real regression less real.

use crate::observation::{Baseline, CollectorHealth, Observation, Window};
use crate::policy::{Comparison, Metric, Policy, Rule};
use crate::verdict::{Evidence, Judgement, RuleOutcome, Verdict};
use crate::vocab::Route;
use std::collections::BTreeMap;

/// Judges `window` (the `index`-th of its rollout, 1-based) against `policy`.
/// `history` is the stable revision's historical baseline, used for ratio and
/// delta rules when the window's own baseline cohort is missing or too thin.
pub fn judge(
    window: &Window,
    index: u32,
    policy: &Policy,
    history: Option<&Baseline>,
) -> Judgement {
    if let CollectorHealth::Unhealthy(reason) = &window.collectors {
        return Judgement {
            verdict: Verdict::Unreliable {
                reason: format!("collectors unhealthy: {reason}"),
            },
            rules: BTreeMap::new(),
        };
    }

    let mut rules = BTreeMap::new();
    for rule in &policy.rules {
        rules.insert(rule.name.clone(), judge_rule(rule, window, index, history));
    }

    let mut evidence = Vec::new();
    let mut inconclusive = Vec::new();
    for outcome in rules.values() {
        match outcome {
            RuleOutcome::Breach { evidence: e } => evidence.extend(e.iter().cloned()),
            RuleOutcome::Inconclusive { reason } => inconclusive.push(reason.as_str()),
            RuleOutcome::Pass => {}
        }
    }
    let verdict = if !evidence.is_empty() {
        Verdict::Breach { evidence }
    } else if !inconclusive.is_empty() {
        Verdict::Inconclusive {
            reason: summarize(&inconclusive),
        }
    } else {
        Verdict::Healthy
    };
    Judgement { verdict, rules }
}

fn summarize(reasons: &[&str]) -> String {
    // Rules often fail for the same reason (one thin route starves them all).
    let mut unique: Vec<&str> = Vec::new();
    for r in reasons {
        if !unique.contains(r) {
            unique.push(r);
        }
    }
    match unique.len() {
        0 => String::new(),
        1..=2 => unique.join("; "),
        n => format!("{}; {} (and {} more)", unique[0], unique[1], n - 2),
    }
}

fn judge_rule(rule: &Rule, window: &Window, index: u32, history: Option<&Baseline>) -> RuleOutcome {
    // Routes the rule names must be present: a selector that matches nothing
    // is no data, not a pass.
    let mut routes: Vec<&Route> = window
        .routes
        .keys()
        .filter(|r| rule.applies_to(r))
        .collect();
    for named in &rule.routes {
        if !window.routes.contains_key(named) {
            return RuleOutcome::Inconclusive {
                reason: format!("no data for route {named} (named by rule {})", rule.name),
            };
        }
    }
    routes.dedup();
    if routes.is_empty() {
        return RuleOutcome::Inconclusive {
            reason: "the window reported no routes (empty result)".to_string(),
        };
    }

    let mut evidence = Vec::new();
    let mut inconclusive: Option<String> = None;
    for route in routes {
        let Some(rw) = window.routes.get(route) else {
            continue;
        };
        let hist = history.and_then(|h| h.routes.get(route));
        match judge_route(
            rule,
            route,
            rw.canary.as_ref(),
            rw.baseline.as_ref(),
            hist,
            index,
        ) {
            RouteOutcome::Pass => {}
            RouteOutcome::Breach(e) => evidence.push(e),
            RouteOutcome::Inconclusive(reason) => {
                inconclusive.get_or_insert(reason);
            }
        }
    }
    if !evidence.is_empty() {
        RuleOutcome::Breach { evidence }
    } else if let Some(reason) = inconclusive {
        RuleOutcome::Inconclusive { reason }
    } else {
        RuleOutcome::Pass
    }
}

enum RouteOutcome {
    Pass,
    Breach(Evidence),
    Inconclusive(String),
}

fn judge_route(
    rule: &Rule,
    route: &Route,
    canary: Option<&Observation>,
    window_baseline: Option<&Observation>,
    history: Option<&Observation>,
    index: u32,
) -> RouteOutcome {
    let metric = &rule.metric;
    let Some(canary) = canary else {
        return RouteOutcome::Inconclusive(format!("no canary series for route {route}"));
    };
    if canary.requests < rule.min_requests {
        return RouteOutcome::Inconclusive(format!(
            "not enough traffic on {route}: {} canary requests < {} required",
            canary.requests, rule.min_requests
        ));
    }
    let canary_value = match metric_value(canary, metric) {
        Ok(v) => v,
        Err(why) => {
            return RouteOutcome::Inconclusive(format!(
                "no data: canary {} on {route} {why}",
                metric.name()
            ))
        }
    };

    // The baseline to compare against: the stable cohort of the same window
    // when it has enough traffic (same conditions, same time of day), else the
    // stable history.
    let mut baseline_requests = None;
    let baseline_value = if rule.comparison.needs_baseline() {
        let from_window = window_baseline
            .filter(|b| b.requests >= rule.min_requests)
            .and_then(|b| metric_value(b, metric).ok().map(|v| (v, b.requests)));
        let from_history =
            || history.and_then(|b| metric_value(b, metric).ok().map(|v| (v, b.requests)));
        match from_window.or_else(from_history) {
            Some((v, n)) => {
                baseline_requests = Some(n);
                Some(v)
            }
            None => {
                return RouteOutcome::Inconclusive(format!(
                    "no baseline {} for route {route} (stable cohort missing, thin or NaN, and no history)",
                    metric.name()
                ))
            }
        }
    } else {
        window_baseline.and_then(|b| {
            baseline_requests = Some(b.requests);
            metric_value(b, metric).ok()
        })
    };

    let threshold = match (&rule.comparison, baseline_value) {
        (Comparison::Absolute(t), _) => *t,
        (Comparison::Ratio(f), Some(b)) => f * b,
        (Comparison::Delta(d), Some(b)) => b + d,
        // needs_baseline() guaranteed a value above.
        (Comparison::Ratio(_) | Comparison::Delta(_), None) => return RouteOutcome::Pass,
    };
    let floor_ok = rule.min_value.is_none_or(|floor| canary_value > floor);
    if canary_value > threshold && floor_ok {
        RouteOutcome::Breach(Evidence {
            rule: rule.name.clone(),
            metric: metric.clone(),
            route: route.clone(),
            canary: canary_value,
            baseline: baseline_value,
            threshold,
            comparison: rule.comparison.describe(metric),
            canary_requests: canary.requests,
            baseline_requests,
            window: index,
        })
    } else {
        RouteOutcome::Pass
    }
}

/// Reads a metric off an observation, or says why it cannot.
pub fn metric_value(obs: &Observation, metric: &Metric) -> Result<f64, String> {
    let raw = match metric {
        Metric::ErrorRate => {
            if obs.requests == 0 {
                return Err("has no requests".into());
            }
            if obs.errors > obs.requests {
                return Err(format!(
                    "is impossible: {} errors in {} requests (the source is lying)",
                    obs.errors, obs.requests
                ));
            }
            Some(obs.errors as f64 / obs.requests as f64)
        }
        Metric::LatencyP50 => quantile(obs, obs.latency_ms.p50, 0.50)?,
        Metric::LatencyP95 => quantile(obs, obs.latency_ms.p95, 0.95)?,
        Metric::LatencyP99 => quantile(obs, obs.latency_ms.p99, 0.99)?,
        Metric::Cpu => obs.cpu,
        Metric::Memory => obs.memory,
        Metric::Inflight => obs.inflight,
        Metric::Custom(name) => obs.custom.get(name).map(|v| v.0),
    };
    match raw {
        None => Err("is missing (no series)".into()),
        Some(v) if v.is_nan() => Err("is NaN".into()),
        Some(v) if v.is_infinite() => Err(format!("is {}Inf", if v > 0.0 { "+" } else { "-" })),
        Some(v) if v < 0.0 => Err(format!("is negative ({v})")),
        Some(v) => Ok(v),
    }
}

fn quantile(obs: &Observation, reported: Option<f64>, q: f64) -> Result<Option<f64>, String> {
    if reported.is_some() {
        return Ok(reported);
    }
    match &obs.latency_buckets_ms {
        None => Ok(None),
        Some(h) => h
            .quantile(q)
            .map(Some)
            .map_err(|e| format!("cannot be computed: {e}")),
    }
}
