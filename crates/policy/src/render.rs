//! [`Policy`] → policy file text, for `canaryd policy show`: the fully
//! resolved policy, every field explicit, in the format [`super::parse_policy`]
//! reads (so the output parses back to an equal `Policy`).

use serde::Serialize;

use super::presets::PRESET_NAMES;
use super::resolve::{fmt_d, times};
use canaryd_core::policy::{BaselinePolicy, Comparison, Policy, Ramp};

#[derive(Serialize)]
struct OutPolicy<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    preset: Option<&'a str>,
    window: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ladder: Option<Vec<OutStep>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    adaptive: Option<OutAdaptive>,
    ramp_budget: String,
    traffic: OutTraffic,
    baseline: NoneOr<OutBaseline>,
    error_budget: NoneOr<OutBudget>,
    collectors: OutCollectors,
    rules: Vec<OutRule>,
}

/// `none`, or the settings.
#[derive(Serialize)]
#[serde(untagged)]
enum NoneOr<T> {
    None(&'static str),
    Some(T),
}

/// A hold is written as a duration when it can be (`hold: 10m`), else in windows.
#[derive(Serialize)]
struct OutStep {
    weight: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    hold: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hold_windows: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_requests: Option<u64>,
}

#[derive(Serialize)]
struct OutAdaptive {
    initial_weight: u8,
    min_increase: u8,
    max_increase: u8,
    latency_penalty: f64,
    error_penalty: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    hold: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hold_windows: Option<u32>,
}

#[derive(Serialize)]
struct OutTraffic {
    min_requests_per_route: u64,
    max_extensions: u32,
}

#[derive(Serialize)]
struct OutBaseline {
    lookback: String,
    min_history: String,
    min_requests_per_route: u64,
    approval: &'static str,
}

#[derive(Serialize)]
struct OutBudget {
    defer_below: f64,
    freeze_at: f64,
}

#[derive(Serialize)]
struct OutCollectors {
    auto_resume: bool,
}

#[derive(Serialize)]
struct OutRule {
    name: String,
    metric: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    absolute: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<f64>,
    consecutive: u32,
    critical: bool,
    min_requests: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_value: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    test: Option<OutTest>,
}

#[derive(Serialize)]
struct OutTest {
    kind: &'static str,
    alpha: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    warn_alpha: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_effect: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transient: Option<String>,
}

fn hold(p: &Policy, windows: u32) -> (Option<String>, Option<u32>) {
    match times(p.window, u64::from(windows)) {
        Some(d) if windows > 0 => (Some(fmt_d(d)), None),
        _ => (None, Some(windows)),
    }
}

/// The fully resolved policy as a policy file. Values are in the file's
/// units: fractions for error_rate/cpu/memory, milliseconds for latencies.
pub fn policy_to_yaml(p: &Policy) -> String {
    let (ladder, adaptive) = match &p.ramp {
        Ramp::Ladder(steps) => (
            Some(
                steps
                    .iter()
                    .map(|s| {
                        let (hold, hold_windows) = hold(p, s.hold_windows);
                        OutStep {
                            weight: s.weight,
                            hold,
                            hold_windows,
                            min_requests: s.min_requests,
                        }
                    })
                    .collect(),
            ),
            None,
        ),
        Ramp::Adaptive(a) => {
            let (hold, hold_windows) = hold(p, a.hold_windows);
            (
                None,
                Some(OutAdaptive {
                    initial_weight: a.initial_weight,
                    min_increase: a.min_increase,
                    max_increase: a.max_increase,
                    latency_penalty: a.latency_penalty,
                    error_penalty: a.error_penalty,
                    hold,
                    hold_windows,
                }),
            )
        }
    };
    let out = OutPolicy {
        name: &p.name,
        preset: p
            .preset
            .as_deref()
            .filter(|name| PRESET_NAMES.contains(name)),
        window: fmt_d(p.window),
        ladder,
        adaptive,
        ramp_budget: fmt_d(p.ramp_budget),
        traffic: OutTraffic {
            min_requests_per_route: p.traffic.min_requests_per_route,
            max_extensions: p.traffic.max_extensions,
        },
        baseline: match &p.baseline {
            BaselinePolicy::None => NoneOr::None("none"),
            BaselinePolicy::Required {
                lookback,
                min_history,
                min_requests_per_route,
                approval,
            } => NoneOr::Some(OutBaseline {
                lookback: fmt_d(*lookback),
                min_history: fmt_d(*min_history),
                min_requests_per_route: *min_requests_per_route,
                approval: approval.name(),
            }),
        },
        error_budget: match &p.error_budget {
            None => NoneOr::None("none"),
            Some(g) => NoneOr::Some(OutBudget {
                defer_below: g.defer_below,
                freeze_at: g.freeze_at,
            }),
        },
        collectors: OutCollectors {
            auto_resume: p.collectors.auto_resume,
        },
        rules: p
            .rules
            .iter()
            .map(|r| {
                let (mut ratio, mut absolute, mut delta) = (None, None, None);
                match r.comparison {
                    Comparison::Ratio(x) => ratio = Some(x),
                    Comparison::Absolute(x) => absolute = Some(x),
                    Comparison::Delta(x) => delta = Some(x),
                }
                OutRule {
                    name: r.name.clone(),
                    metric: r.metric.name(),
                    ratio,
                    absolute,
                    delta,
                    consecutive: r.consecutive,
                    critical: r.critical,
                    min_requests: r.min_requests,
                    min_value: r.min_value,
                    routes: r.routes.iter().map(|x| x.0.clone()).collect(),
                    test: r.test.as_ref().map(|t| OutTest {
                        kind: t.kind.name(),
                        alpha: t.alpha,
                        warn_alpha: t.warn_alpha,
                        min_effect: t.min_effect,
                        transient: t.transient.map(fmt_d),
                    }),
                }
            })
            .collect(),
    };
    let header = "# Fully resolved canaryd policy: every field is explicit.\n\
                  # Fractions are written as numbers (0.01 = 1%), latencies in milliseconds.\n";
    match serde_saphyr::to_string(&out) {
        Ok(body) => format!("{header}{body}"),
        Err(e) => format!("# could not render the policy: {e}\n"),
    }
}
