//! Presets: the canary strategies SREs already know (DESIGN.md §5), as
//! complete policies. A file names one with `preset:` and overrides fields.
//!
//! Each preset goes through the same validation as a file ([`preset`]
//! resolves it), so a preset can never hand the engine an incoherent policy.
//!
//! Rules of a preset leave `min_requests` at the preset's
//! `traffic.min_requests_per_route`; when a file overrides that, the preset's
//! rules follow it.

use std::time::Duration;

use super::draft::Draft;
use super::error::Errors;
use super::resolve::resolve;
use canaryd_core::policy::{
    AdaptiveRamp, BaselineApproval, BaselinePolicy, CollectorPolicy, Comparison, ErrorBudgetGate,
    LadderStep, Metric, Policy, Ramp, Rule, TestKind, TestSpec, TrafficPolicy,
};

/// The presets a policy file may name in `preset:`.
pub const PRESET_NAMES: &[&str] = &[
    "slo-ratio",
    "absolute-slo",
    "progressive",
    "adaptive-weight",
    "statistical",
    "canaryd",
];

/// The resolved preset policy, or `None` for an unknown name.
pub fn preset(name: &str) -> Option<Policy> {
    let raw = raw_preset(name)?;
    let source = format!("preset {name}");
    let mut errs = Errors::new(&source);
    let resolved = resolve(&Draft::from_policy(&raw, false), &mut errs);
    errs.into_result(resolved).ok()
}

fn raw_preset(name: &str) -> Option<Policy> {
    match name {
        "slo-ratio" => Some(slo_ratio()),
        "absolute-slo" => Some(absolute_slo()),
        "progressive" => Some(progressive()),
        "adaptive-weight" => Some(adaptive_weight()),
        "statistical" => Some(statistical()),
        "canaryd" => Some(canaryd()),
        _ => None,
    }
}

const fn mins(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

const fn hours(h: u64) -> Duration {
    Duration::from_secs(h * 3600)
}

/// Floor under the error-rate ratio rules of the ratio presets: a multiple
/// of a near-zero baseline is not evidence (DESIGN.md §1), so at or below
/// 0.1% errors a canary does not breach a ratio.
const RATIO_ERROR_FLOOR: f64 = crate::resolve_rule::DEFAULT_RATIO_ERROR_FLOOR;

/// Floor under a critical (single-window) error-rate ratio: 1%.
const CIRCUIT_BREAK_ERROR_FLOOR: f64 = 0.01;

fn ladder(steps: &[(u8, u32)]) -> Ramp {
    Ramp::Ladder(
        steps
            .iter()
            .map(|&(weight, hold_windows)| LadderStep {
                min_requests: None,
                weight,
                hold_windows,
            })
            .collect(),
    )
}

/// How fast a preset ramps: its window, its ramp and the budget the ramp must
/// fit. Every preset sets its own.
struct Pace {
    window: Duration,
    ramp: Ramp,
    ramp_budget: Duration,
}

/// What every preset shares; each one then sets its rules and whatever else
/// differs. The preset's name is its `preset:`; `min_requests` canary
/// requests per route per window before a rule may breach, thin windows
/// extended at most 3 times; a week's baseline ([`week_baseline`]); no
/// error-budget gate; collectors that recover resume the rollout.
fn base(name: &str, pace: Pace, min_requests: u64) -> Policy {
    Policy {
        name: name.into(),
        preset: Some(name.into()),
        window: pace.window,
        ramp: pace.ramp,
        ramp_budget: pace.ramp_budget,
        rules: Vec::new(),
        traffic: TrafficPolicy {
            min_requests_per_route: min_requests,
            max_extensions: 3,
        },
        baseline: week_baseline(),
        error_budget: None,
        collectors: CollectorPolicy { auto_resume: true },
    }
}

/// A rule of preset `p` on all routes: 2 consecutive breaching windows (one
/// bad window is noise), not critical, no test, and the preset's request
/// minimum (so it follows a file's `traffic.min_requests_per_route`).
fn rule(p: &Policy, name: &str, metric: Metric, comparison: Comparison) -> Rule {
    Rule {
        test: None,
        name: name.into(),
        metric,
        comparison,
        routes: Vec::new(),
        consecutive: 2,
        critical: false,
        min_requests: p.traffic.min_requests_per_route,
        min_value: None,
    }
}

/// The sustained-regression rules of the ratio presets (`slo-ratio`,
/// `adaptive-weight`): error rate > 2× baseline, with the
/// [`RATIO_ERROR_FLOOR`], or p99 > 1.5× baseline.
fn ratio_rules(p: &Policy) -> [Rule; 2] {
    [
        Rule {
            min_value: Some(RATIO_ERROR_FLOOR),
            ..rule(
                p,
                "error_rate-ratio",
                Metric::ErrorRate,
                Comparison::Ratio(2.0),
            )
        },
        rule(
            p,
            "latency_p99-ratio",
            Metric::LatencyP99,
            Comparison::Ratio(1.5),
        ),
    ]
}

/// The SLO presets' (`absolute-slo`, `progressive`) error rule: more than 1%
/// errors.
fn one_percent_errors(p: &Policy) -> Rule {
    rule(
        p,
        "error_rate-absolute",
        Metric::ErrorRate,
        Comparison::Absolute(0.01),
    )
}

/// `r` made critical: one breaching window rolls back, for failures that are
/// no statistical blip (a failed health check, a broken build).
fn critical(r: Rule) -> Rule {
    Rule {
        consecutive: 1,
        critical: true,
        ..r
    }
}

/// The baseline of the ratio presets: 7 days of stable traffic, of which at
/// least 24h must be clean history, with enough requests per route that a
/// ratio against it means something; thinner history sends the rollout to a
/// human for approval.
fn week_baseline() -> BaselinePolicy {
    BaselinePolicy::Required {
        lookback: hours(7 * 24),
        min_history: hours(24),
        min_requests_per_route: 10_000,
        approval: BaselineApproval::WhenThin,
    }
}

/// `slo-ratio`: compare the canary with the baseline, not with a fixed SLO.
///
/// - 5-minute windows: long enough for ≥ 1,000 requests per route on a busy
///   service, short enough that a bad canary is caught within minutes.
/// - Ladder 10 → 25 → 50 → 100, each held 2 windows (10 min): 40 minutes
///   of holds at the fastest, inside a 60-minute budget (DESIGN: 30–60 min),
///   leaving room for a few extended windows on thin traffic.
/// - Breach = error rate > 2× baseline or p99 > 1.5× baseline, in 2
///   consecutive windows: one bad window is noise.
/// - ≥ 1,000 canary requests per route per window before a rule may breach:
///   below that, 1 error vs 3 errors is not "3×".
/// - The error-rate ratio has a floor: the threshold is `max(2× baseline,
///   0.1%)` (`min_value: 0.001`). Against a clean stable cohort (0 errors) two
///   times nothing is nothing, and one stray error in 3,000 requests (0.033%)
///   would breach; at or below 0.1% a canary is never "worse" than baseline.
///   A real regression on a clean baseline (1% errors against 0) still rolls
///   back in 2 windows.
fn slo_ratio() -> Policy {
    let pace = Pace {
        window: mins(5),
        ramp: ladder(&[(10, 2), (25, 2), (50, 2), (100, 2)]),
        ramp_budget: mins(60),
    };
    let p = base("slo-ratio", pace, 1_000);
    Policy {
        rules: ratio_rules(&p).into(),
        ..p
    }
}

/// `absolute-slo`: the canary must meet the service's SLO outright; no
/// baseline is needed, so services without history can use it.
///
/// - Checks every 60 s (window 1m).
/// - 5% for 5 min, 25% for 10 min, then 100% (held one window before
///   promotion): 16 minutes at the fastest, inside a 30-minute budget.
/// - Breach = error rate > 1% or p99 > 500 ms, in 2 consecutive checks.
/// - `baseline: none`: only absolute rules, and no baseline gate.
fn absolute_slo() -> Policy {
    let pace = Pace {
        window: secs(60),
        ramp: ladder(&[(5, 5), (25, 10), (100, 1)]),
        ramp_budget: mins(30),
    };
    let p = base("absolute-slo", pace, 100);
    Policy {
        rules: vec![
            one_percent_errors(&p),
            rule(
                &p,
                "latency_p99-absolute",
                Metric::LatencyP99,
                Comparison::Absolute(500.0),
            ),
        ],
        baseline: BaselinePolicy::None,
        ..p
    }
}

/// `progressive`: long soaks, per-trigger durations and an error-budget gate.
///
/// - 1-minute windows so that each trigger can have its own duration.
/// - 5 → 20 → 50 → 100 with 15-minute soaks (15 windows each): 60 minutes
///   at the fastest, inside a 90-minute budget.
/// - error rate > 1% for 2 minutes (2 windows); p95 > 1 s for 5 minutes
///   (5 windows).
/// - "fewer than 10 exceptions per 15 min": the custom metric
///   `exceptions_15m` counts exceptions over a sliding 15 minutes; counts are
///   integers, so `> 9` means `≥ 10`.
/// - "no failed health checks": `health_check_failures > 0` rolls back on a
///   single window; it is critical because a failed health check is not a
///   statistical blip.
/// - Error-budget gate: with less than 20% of the monthly budget left,
///   advancing is deferred (the rollout holds); at 0% it freezes for a human.
fn progressive() -> Policy {
    let pace = Pace {
        window: mins(1),
        ramp: ladder(&[(5, 15), (20, 15), (50, 15), (100, 15)]),
        ramp_budget: mins(90),
    };
    let p = base("progressive", pace, 100);
    Policy {
        rules: vec![
            one_percent_errors(&p),
            Rule {
                consecutive: 5,
                ..rule(
                    &p,
                    "latency_p95-absolute",
                    Metric::LatencyP95,
                    Comparison::Absolute(1000.0),
                )
            },
            rule(
                &p,
                "exceptions-per-15m",
                Metric::Custom("exceptions_15m".into()),
                Comparison::Absolute(9.0),
            ),
            critical(rule(
                &p,
                "health-check-failures",
                Metric::Custom("health_check_failures".into()),
                Comparison::Absolute(0.0),
            )),
        ],
        baseline: BaselinePolicy::None,
        error_budget: Some(ErrorBudgetGate {
            defer_below: 0.2,
            freeze_at: 0.0,
        }),
        ..p
    }
}

/// `adaptive-weight`: the next weight is computed from how close the canary
/// is to the baseline (see [`AdaptiveRamp`]), with a circuit breaker.
///
/// - 1-minute windows; start at 5%, grow by 5–25 points after each hold of
///   2 windows. Latency regressions shrink the step exponentially
///   (penalty 3.0), error regressions linearly (penalty 20.0).
/// - At full speed 5 → 30 → 55 → 80 → 100 takes 10 minutes; the 60-minute
///   budget allows a ramp slowed down by small regressions.
/// - Sustained regressions (error rate > 2×, p99 > 1.5× baseline, 2 windows)
///   roll back as in `slo-ratio`; severe ones (error rate > 5×, p99 > 3×)
///   break the circuit on a single window (critical).
/// - 200 requests per route per window: windows are short, so the minimum is
///   lower than `slo-ratio`'s, but still above the noise of tiny counts.
/// - Error-rate ratios have floors, as in `slo-ratio`: `max(2× baseline,
///   0.1%)`, and for the single-window circuit breaker `max(5× baseline, 1%)`
///   — one error in 200 requests against a clean baseline is not a broken build.
fn adaptive_weight() -> Policy {
    let pace = Pace {
        window: mins(1),
        ramp: Ramp::Adaptive(AdaptiveRamp {
            initial_weight: 5,
            min_increase: 5,
            max_increase: 25,
            latency_penalty: 3.0,
            error_penalty: 20.0,
            hold_windows: 2,
        }),
        ramp_budget: mins(60),
    };
    let p = base("adaptive-weight", pace, 200);
    // Severe regressions break the circuit on a single window.
    let circuit_breakers = [
        critical(Rule {
            min_value: Some(CIRCUIT_BREAK_ERROR_FLOOR),
            ..rule(
                &p,
                "error_rate-circuit-break",
                Metric::ErrorRate,
                Comparison::Ratio(5.0),
            )
        }),
        critical(rule(
            &p,
            "latency_p99-circuit-break",
            Metric::LatencyP99,
            Comparison::Ratio(3.0),
        )),
    ];
    Policy {
        rules: ratio_rules(&p)
            .into_iter()
            .chain(circuit_breakers)
            .collect(),
        ..p
    }
}

/// `statistical`: every rollback decision rests on a hypothesis test, not on
/// a raw ratio.
///
/// - Phases 5% / 25% / 100%, each one 5-minute window (a ladder with holds
///   of 1 window of 5m): 15 minutes at the fastest, inside a 30-minute budget
///   that leaves room for windows extended for lack of samples.
/// - Minimum samples 100 / 500 / 1,000 canary requests per route: the steps'
///   own `min_requests`, replacing the rules' minimum at each phase. A test
///   needs more data to see the same effect once the canary carries more
///   traffic and is expected to be judged more strictly.
/// - Errors: chi-square on the 2×2 error counts (canary vs baseline);
///   latency: Mann-Whitney U on the latency histograms (the whole
///   distribution, with the p50 as the reported point value).
/// - p < 0.001 breaches (alpha), 0.001 ≤ p < 0.01 only warns (warn_alpha);
///   the standardized effect must be ≥ 0.2 (Cohen's h for errors, |Cliff's
///   delta| for latency) — a "small" effect: significant but negligible
///   differences on huge samples do not roll back.
/// - `ratio: 1.0`: the comparison only asks that the canary be worse than the
///   baseline at all; significance and effect size decide.
/// - 2 consecutive breaching windows, as everywhere: a single significant
///   window at alpha 0.001 is rare under no regression, but re-running a
///   fixed-horizon test every window inflates false alarms.
/// - Not modelled yet: DESIGN.md's optional operator confirmation of
///   rollbacks (the rollback happens without asking), and the full
///   statistical report is the verdict's test evidence, not a policy field.
fn statistical() -> Policy {
    let step = |weight, min_requests| LadderStep {
        weight,
        hold_windows: 1,
        min_requests: Some(min_requests),
    };
    let pace = Pace {
        window: mins(5),
        ramp: Ramp::Ladder(vec![step(5, 100), step(25, 500), step(100, 1_000)]),
        ramp_budget: mins(30),
    };
    let p = base("statistical", pace, 100);
    let tested = |kind, r: Rule| Rule {
        test: Some(TestSpec {
            kind,
            alpha: 0.001,
            warn_alpha: Some(0.01),
            min_effect: Some(0.2),
            transient: None,
        }),
        ..r
    };
    Policy {
        rules: vec![
            tested(
                TestKind::ChiSquare,
                rule(&p, "errors-chi2", Metric::ErrorRate, Comparison::Ratio(1.0)),
            ),
            tested(
                TestKind::MannWhitney,
                rule(
                    &p,
                    "latency-mann-whitney",
                    Metric::LatencyP50,
                    Comparison::Ratio(1.0),
                ),
            ),
        ],
        ..p
    }
}

/// `canaryd`, the default: decide fast on severe regressions, never on a
/// hiccup, and never on missing data. Tuned on the detection benchmark
/// (`canaryd bench detect`, BENCHMARKS.md "Detection"), whose figures back
/// each choice below.
///
/// - Short windows (30 s): a broken build (error-storm) is gone 30 s after
///   it starts. A long, light first step — 3% for 12 minutes (24 windows) —
///   then 25% for 2, 50% for 3 and 100% for 1: about 18 minutes at the
///   fastest, inside a 40-minute budget that absorbs extended windows. A
///   regression costs requests, not minutes: at 3% a ×2 error rate is
///   caught after about 4,200 canary requests, within 2× of Wald's bound.
/// - `errors`: error rate > 1.6× baseline, both pooled over the rollout,
///   *and* an anytime-valid two-sample test on the error counts (alpha
///   0.05, alternatives from 1.6× up) that sets aside the strongest run of
///   windows a 60 s burst can touch (`transient: 60s`). A cold cache or a
///   restart that fails hard for a minute is, for that minute, a real
///   regression that convinces any accumulating test; setting it aside
///   means a rollback always rests on errors outside any one burst, so one
///   window (`consecutive: 1`) is enough once the test is sure. The test's
///   alternatives (1.6× to 6.4×) are weighted by how many errors each needs
///   to be proved, so a ratio near the threshold, the slow one, costs
///   little; alpha 0.025 keeps A/A and hiccup false alarms under 1% at
///   every seed of `bench detect --seeds 1-10`. Never breaches at or below
///   0.1% errors (`min_value`).
/// - `latency-p99` > 1.2× baseline (not below 100 ms), pooled over the
///   rollout, *and* an anytime-valid `sequential_latency` test (alpha 0.01,
///   `transient: 60s`) on how often each cohort is slower than the edge of
///   the baseline's p99 bucket. Read from buckets (as Prometheus does) a
///   ×1.5 p99 looks like ×1.3 in one window of 180 requests, which no
///   per-window threshold separates from noise; as requests over 250 ms it
///   is 1.8% → 4.4%, which the test proves in about 4 minutes at 3%.
/// - `latency-p50` > 1.15× baseline (not below 20 ms) and `latency-p95` >
///   1.2× (not below 50 ms), each over 6 consecutive windows (3 minutes): a
///   60 s hiccup at 2× latency touches 3 windows, and at 3% a 30 s window
///   holds ~180 requests, so quantiles are noisy. A slower build moves the
///   median first.
/// - `error-storm` (error rate > 25%, from 50 requests) is critical: one
///   window rolls back, because waiting on a broken build costs more than a
///   false alarm. `latency-storm` (p99 > 3× baseline) takes 2 windows: a p99
///   from 180 requests can triple by chance once.
/// - 100 canary requests per route per window before a rule may breach;
///   thin windows are extended (at most 3 times), then a human is asked:
///   missing data never passes a canary.
/// - Baseline: 7 days of stable traffic with ≥ 24h clean history and 10,000
///   requests per route, else a human approves. Collectors that recover
///   resume the rollout on their own.
fn canaryd() -> Policy {
    let pace = Pace {
        window: secs(30),
        ramp: ladder(&[(3, 24), (25, 4), (50, 6), (100, 2)]),
        ramp_budget: mins(40),
    };
    let p = base("canaryd", pace, 100);
    // An anytime-valid test that sets a 60 s burst aside: its rule may
    // decide on one window (`consecutive: 1`, see above).
    let sequential = |kind, alpha| {
        Some(TestSpec {
            kind,
            alpha,
            warn_alpha: None,
            min_effect: None,
            transient: Some(secs(60)),
        })
    };
    Policy {
        rules: vec![
            Rule {
                test: sequential(TestKind::SequentialErrors, 0.025),
                min_value: Some(0.001),
                consecutive: 1,
                ..rule(&p, "errors", Metric::ErrorRate, Comparison::Ratio(1.6))
            },
            Rule {
                min_value: Some(50.0),
                consecutive: 6,
                ..rule(
                    &p,
                    "latency-p95",
                    Metric::LatencyP95,
                    Comparison::Ratio(1.2),
                )
            },
            Rule {
                min_value: Some(20.0),
                consecutive: 6,
                ..rule(
                    &p,
                    "latency-p50",
                    Metric::LatencyP50,
                    Comparison::Ratio(1.15),
                )
            },
            Rule {
                test: sequential(TestKind::SequentialLatency, 0.01),
                min_value: Some(100.0),
                consecutive: 1,
                ..rule(
                    &p,
                    "latency-p99",
                    Metric::LatencyP99,
                    Comparison::Ratio(1.2),
                )
            },
            Rule {
                min_requests: 50,
                ..critical(rule(
                    &p,
                    "error-storm",
                    Metric::ErrorRate,
                    Comparison::Absolute(0.25),
                ))
            },
            rule(
                &p,
                "latency-storm",
                Metric::LatencyP99,
                Comparison::Ratio(3.0),
            ),
        ],
        ..p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_resolves_to_itself() {
        for name in PRESET_NAMES {
            let raw = raw_preset(name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(
                preset(name).as_ref(),
                Some(&raw),
                "{name} fails its own validation"
            );
        }
        assert_eq!(preset("nope"), None);
    }
}
