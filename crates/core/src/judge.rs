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
use crate::policy::{Comparison, Metric, Policy, Rule, TestKind};
use crate::significance::{evaluate, Look, Significance};
use crate::verdict::{Evidence, Judgement, RuleOutcome, Verdict};
use crate::vocab::{Route, Timestamp};
use std::collections::BTreeMap;

/// What the judge needs to know about the rollout beyond the window.
#[derive(Debug, Clone, Copy, Default)]
pub struct JudgeContext<'a> {
    /// The current ladder step's minimum sample, replacing the rules' own.
    pub min_requests: Option<u64>,
    /// Earlier looks of sequential tests, by [`look_key`].
    pub looks: Option<&'a BTreeMap<String, Vec<Look>>>,
    /// The latest stable cohort per route seen during the rollout: preferred
    /// over the history when the window's own stable cohort is missing or thin.
    pub recent: Option<&'a BTreeMap<Route, Observation>>,
}

/// The key a rule's sequential looks on a route are kept under.
pub fn look_key(rule: &str, route: &Route) -> String {
    format!("{rule}|{route}")
}

/// Judges `window` (the `index`-th of its rollout, 1-based) against `policy`.
/// `history` is the stable revision's historical baseline, used for ratio and
/// delta rules when the window's own baseline cohort is missing or too thin.
pub fn judge(
    window: &Window,
    index: u32,
    policy: &Policy,
    history: Option<&Baseline>,
) -> Judgement {
    judge_with(window, index, policy, history, JudgeContext::default())
}

/// [`judge`], knowing the ladder step's minimum sample and earlier sequential looks.
pub fn judge_with(
    window: &Window,
    index: u32,
    policy: &Policy,
    history: Option<&Baseline>,
    ctx: JudgeContext<'_>,
) -> Judgement {
    if let CollectorHealth::Unhealthy(reason) = &window.collectors {
        return Judgement {
            verdict: Verdict::Unreliable {
                reason: format!("collectors unhealthy: {reason}"),
            },
            rules: BTreeMap::new(),
            warnings: Vec::new(),
        };
    }

    let mut rules = BTreeMap::new();
    let mut warnings = Vec::new();
    for rule in &policy.rules {
        let outcome = judge_rule(rule, window, index, history, ctx, &mut warnings);
        rules.insert(rule.name.clone(), outcome);
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
        let reason = summarize(&inconclusive);
        Verdict::Inconclusive {
            reason: if window.gaps.is_empty() {
                reason
            } else {
                format!("{}; {reason}", window.gaps.join("; "))
            },
        }
    } else {
        Verdict::Healthy
    };
    Judgement {
        verdict,
        rules,
        warnings,
    }
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

fn judge_rule(
    rule: &Rule,
    window: &Window,
    index: u32,
    history: Option<&Baseline>,
    ctx: JudgeContext<'_>,
    warnings: &mut Vec<Evidence>,
) -> RuleOutcome {
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
        let hist = ctx
            .recent
            .and_then(|r| r.get(route))
            .or_else(|| history.and_then(|h| h.routes.get(route)));
        let prior = ctx
            .looks
            .and_then(|l| l.get(&look_key(&rule.name, route)))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let input = RouteInput {
            rule,
            route,
            canary: rw.canary.as_ref(),
            window_baseline: rw.baseline.as_ref(),
            history: hist,
            index,
            min_requests: ctx.min_requests.unwrap_or(rule.min_requests),
            prior,
            span: (window.start, window.end),
        };
        match judge_route(input) {
            RouteOutcome::Pass => {}
            RouteOutcome::Warn(e) => warnings.push(e),
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
    Warn(Evidence),
    Breach(Evidence),
    Inconclusive(String),
}

/// Everything one rule needs to judge one route.
struct RouteInput<'a> {
    rule: &'a Rule,
    route: &'a Route,
    canary: Option<&'a Observation>,
    window_baseline: Option<&'a Observation>,
    history: Option<&'a Observation>,
    index: u32,
    min_requests: u64,
    prior: &'a [Look],
    span: (Timestamp, Timestamp),
}

fn judge_route(input: RouteInput<'_>) -> RouteOutcome {
    let RouteInput {
        rule,
        route,
        canary,
        window_baseline,
        history,
        index,
        min_requests,
        prior,
        span,
    } = input;
    let metric = &rule.metric;
    let Some(canary) = canary else {
        return RouteOutcome::Inconclusive(format!("no canary series for route {route}"));
    };
    if canary.requests < min_requests {
        return RouteOutcome::Inconclusive(format!(
            "not enough traffic on {route}: {} canary requests < {} required",
            canary.requests, min_requests
        ));
    }
    let mut canary_value = match metric_value(canary, metric) {
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
    // The observation the baseline value came from, and whether it is the
    // stable cohort of this same window (tests use it).
    let mut baseline_obs: Option<(&Observation, bool)> = None;
    let mut baseline_value = if rule.comparison.needs_baseline() || rule.test.is_some() {
        let from_window = window_baseline
            .filter(|b| b.requests >= min_requests)
            .and_then(|b| metric_value(b, metric).ok().map(|v| (v, b, true)));
        let from_history =
            || history.and_then(|b| metric_value(b, metric).ok().map(|v| (v, b, false)));
        match from_window.or_else(from_history) {
            Some((v, b, concurrent)) => {
                baseline_requests = Some(b.requests);
                baseline_obs = Some((b, concurrent));
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

    // This window's look, for a sequential test (a share of requests only
    // means something when both cohorts were measured in the same window).
    let current = baseline_obs
        .filter(|(_, concurrent)| *concurrent)
        .and_then(|(b, _)| match rule.test.as_ref().map(|t| t.kind) {
            Some(TestKind::SequentialLatency) => Look::with_latency(canary, b, span),
            _ => Look::over(canary, b, span),
        });
    let grid_floor = match rule.comparison {
        Comparison::Ratio(f) => Some(f),
        _ => None,
    };
    // A test that sets transients aside speaks for the whole rollout, and one
    // short window says little: it runs first, and the threshold compares the
    // rates it rests on (pooled over the rollout, its set-aside burst left out).
    let mut counts = (canary.requests, baseline_requests);
    let mut tolerant = None;
    if let Some(spec) = rule.test.as_ref().filter(|t| t.transient.is_some()) {
        let (significance, pooled) = crate::significance::evaluate_tolerant(
            spec,
            metric,
            prior,
            current.clone(),
            grid_floor,
        );
        if let Some(p) = pooled.filter(|p| p.canary_requests > 0 && p.baseline_requests > 0) {
            canary_value = p.canary;
            baseline_value = Some(p.baseline);
            counts = (p.canary_requests, Some(p.baseline_requests));
        }
        tolerant = Some(significance);
    }

    // The floor is part of the threshold: a ratio against a near-zero
    // baseline is `max(f × baseline, floor)`, and the evidence says so.
    // needs_baseline() guaranteed a baseline value above for ratios and deltas.
    let Some(threshold) = rule.threshold(baseline_value) else {
        return RouteOutcome::Pass;
    };
    if canary_value <= threshold {
        return RouteOutcome::Pass;
    }
    let evidence = |test| Evidence {
        rule: rule.name.clone(),
        metric: metric.clone(),
        route: route.clone(),
        canary: canary_value,
        baseline: baseline_value,
        threshold,
        comparison: rule.describe_comparison(),
        canary_requests: counts.0,
        baseline_requests: counts.1,
        window: index,
        test,
    };
    let Some(spec) = &rule.test else {
        return RouteOutcome::Breach(evidence(None));
    };
    // Past the threshold: now, is it more than noise?
    let Some((baseline, _)) = baseline_obs else {
        return RouteOutcome::Inconclusive(format!(
            "{} on {route}: no baseline to test against",
            spec.kind.name()
        ));
    };
    let significance = match tolerant {
        Some(s) => s,
        None => evaluate(spec, metric, canary, baseline, prior, current, grid_floor),
    };
    match significance {
        Significance::Confirmed(t) => RouteOutcome::Breach(evidence(Some(t))),
        Significance::Warning(t) => RouteOutcome::Warn(evidence(Some(t))),
        Significance::Noise => RouteOutcome::Pass,
        Significance::Unavailable(why) => RouteOutcome::Inconclusive(format!("{route}: {why}")),
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
