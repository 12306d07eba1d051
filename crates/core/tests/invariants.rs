//! DESIGN.md §1's rules, stated as properties over arbitrary event sequences.
//!
//! Each case builds a policy (ladder or adaptive, N = 2..4, holds, extension
//! limits, budgets), a baseline (available, thin or missing), and a random
//! sequence of windows — healthy, breaching, thin, NaN, partitioned — mixed
//! with operator commands, then checks what the state machine did.

use canaryd_core::effect::{AuditRecord, Decision, Effect, OperatorAction, OperatorCommand};
use canaryd_core::observation::{
    Baseline, BaselineStatus, CollectorHealth, LatencySummary, Observation, RouteWindow, Window,
};
use canaryd_core::policy::{
    AdaptiveRamp, BaselinePolicy, CollectorPolicy, Comparison, LadderStep, Metric, Policy, Ramp,
    Rule, TrafficPolicy,
};
use canaryd_core::replay::replay;
use canaryd_core::rollout::{step, Event, Phase, Rollout};
use canaryd_core::verdict::{RuleOutcome, Verdict};
use canaryd_core::vocab::{Revision, RolloutKey, Route, Timestamp};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

const ROUTES: [&str; 2] = ["GET /pay", "POST /pay"];

#[derive(Debug, Clone, Copy)]
enum RouteShape {
    Good,
    Errors,  // 10x the baseline error rate
    Slow,    // p99 3x baseline
    Thin,    // below min_requests
    NanP99,  // the source said NaN
    Missing, // no canary series
    Lying,   // more errors than requests
}

#[derive(Debug, Clone)]
enum Step {
    Window {
        shapes: Vec<RouteShape>,
        partitioned: bool,
        budget: Option<f64>,
    },
    Operator(OperatorAction),
    /// A newer revision replaced the rollout (the controller's supersede).
    Superseded,
}

fn shape() -> impl Strategy<Value = RouteShape> {
    prop_oneof![
        6 => Just(RouteShape::Good),
        3 => Just(RouteShape::Errors),
        2 => Just(RouteShape::Slow),
        1 => Just(RouteShape::Thin),
        1 => Just(RouteShape::NanP99),
        1 => Just(RouteShape::Missing),
        1 => Just(RouteShape::Lying),
    ]
}

fn step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        20 => (prop::collection::vec(shape(), ROUTES.len()), prop::bool::weighted(0.1),
               prop::option::of(0.0f64..1.0))
            .prop_map(|(shapes, partitioned, budget)| Step::Window { shapes, partitioned, budget }),
        1 => prop_oneof![
            Just(OperatorAction::Approve),
            Just(OperatorAction::Resume),
            Just(OperatorAction::Abort),
            Just(OperatorAction::PromoteNow),
        ].prop_map(Step::Operator),
        1 => Just(Step::Superseded),
    ]
}

fn obs(requests: u64, errors: u64, p99: Option<f64>) -> Observation {
    Observation {
        requests,
        errors,
        latency_ms: LatencySummary {
            p50: Some(40.0),
            p95: Some(120.0),
            p99,
        },
        ..Default::default()
    }
}

fn window(shapes: &[RouteShape], partitioned: bool, budget: Option<f64>) -> Window {
    let mut routes = BTreeMap::new();
    for (r, s) in ROUTES.iter().zip(shapes) {
        let baseline = Some(obs(20_000, 100, Some(300.0)));
        let canary = match s {
            RouteShape::Good => Some(obs(2_000, 10, Some(305.0))),
            RouteShape::Errors => Some(obs(2_000, 100, Some(305.0))),
            RouteShape::Slow => Some(obs(2_000, 10, Some(900.0))),
            RouteShape::Thin => Some(obs(20, 0, Some(300.0))),
            RouteShape::NanP99 => Some(obs(2_000, 10, Some(f64::NAN))),
            RouteShape::Missing => None,
            RouteShape::Lying => Some(obs(2_000, 5_000, Some(300.0))),
        };
        routes.insert(Route::from(*r), RouteWindow { canary, baseline });
    }
    Window {
        start: Timestamp(0),
        end: Timestamp(0),
        collectors: if partitioned {
            CollectorHealth::Unhealthy("probe timeout".into())
        } else {
            CollectorHealth::Healthy
        },
        routes,
        error_budget_remaining: budget,
        gaps: Vec::new(),
    }
}

fn rule(name: &str, metric: Metric, comparison: Comparison, n: u32) -> Rule {
    Rule {
        name: name.into(),
        metric,
        comparison,
        routes: vec![],
        consecutive: n,
        critical: false,
        min_requests: 500,
        min_value: None,
        test: None,
    }
}

#[derive(Debug, Clone)]
struct Setup {
    policy: Policy,
    baseline: BaselineStatus,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        2u32..=4,
        2u32..=4,
        1u32..=3,
        0u32..=3,
        prop::bool::ANY,
        prop::bool::ANY,
        0u8..3,
        prop::bool::ANY,
    )
        .prop_map(
            |(n_err, n_lat, hold, max_ext, adaptive, auto_resume, baseline_kind, gate)| {
                let window = Duration::from_secs(60);
                let ramp = if adaptive {
                    Ramp::Adaptive(AdaptiveRamp {
                        initial_weight: 5,
                        min_increase: 5,
                        max_increase: 30,
                        latency_penalty: 3.0,
                        error_penalty: 20.0,
                        hold_windows: hold,
                    })
                } else {
                    Ramp::Ladder(
                        [10, 25, 50, 100]
                            .iter()
                            .map(|&w| LadderStep {
                                weight: w,
                                hold_windows: hold,
                                min_requests: None,
                            })
                            .collect(),
                    )
                };
                let policy = Policy {
                    name: "prop".into(),
                    preset: None,
                    window,
                    ramp,
                    ramp_budget: Duration::from_secs(60 * 40),
                    rules: vec![
                        rule("errors", Metric::ErrorRate, Comparison::Ratio(2.0), n_err),
                        rule("p99", Metric::LatencyP99, Comparison::Ratio(1.5), n_lat),
                        // Stateful across windows: replay must rebuild its looks exactly.
                        Rule {
                            test: Some(canaryd_core::policy::TestSpec {
                                kind: canaryd_core::policy::TestKind::SequentialErrors,
                                alpha: 0.01,
                                warn_alpha: Some(0.05),
                                min_effect: None,
                                transient: None,
                            }),
                            ..rule(
                                "errors-sequential",
                                Metric::ErrorRate,
                                Comparison::Ratio(1.0),
                                n_err,
                            )
                        },
                    ],
                    traffic: TrafficPolicy {
                        min_requests_per_route: 500,
                        max_extensions: max_ext,
                    },
                    baseline: BaselinePolicy::Required {
                        lookback: Duration::from_secs(7 * 86400),
                        min_history: Duration::from_secs(86400),
                        min_requests_per_route: 10_000,
                        approval: Default::default(),
                    },
                    error_budget: gate.then_some(canaryd_core::policy::ErrorBudgetGate {
                        defer_below: 0.2,
                        freeze_at: 0.05,
                    }),
                    collectors: CollectorPolicy { auto_resume },
                };
                let routes = ROUTES
                    .iter()
                    .map(|r| (Route::from(*r), obs(100_000, 500, Some(300.0))))
                    .collect();
                let baseline = match baseline_kind {
                    0 => BaselineStatus::Available(Baseline {
                        history_hours: 168.0,
                        routes,
                    }),
                    1 => BaselineStatus::Available(Baseline {
                        history_hours: 6.0,
                        routes,
                    }),
                    _ => BaselineStatus::Missing("no series".into()),
                };
                Setup { policy, baseline }
            },
        )
}

/// Everything a run produced, step by step.
struct Run {
    states: Vec<Rollout>,
    effects: Vec<Vec<Effect>>,
    records: Vec<(Timestamp, AuditRecord)>,
    kinds: Vec<&'static str>,
}

fn run(setup: &Setup, steps: &[Step]) -> Run {
    let key = RolloutKey::new("payments/api", "v2");
    let mut state = Rollout::new(key);
    let mut now = Timestamp(1_700_000_000_000);
    let mut out = Run {
        states: vec![],
        effects: vec![],
        records: vec![],
        kinds: vec![],
    };
    let mut events = vec![Event::Start {
        baseline: setup.baseline.clone(),
    }];
    for s in steps {
        events.push(match s {
            Step::Window {
                shapes,
                partitioned,
                budget,
            } => Event::WindowClosed {
                window: window(shapes, *partitioned, *budget),
            },
            Step::Operator(a) => Event::Operator(OperatorCommand {
                action: *a,
                by: "op".into(),
                reason: None,
            }),
            Step::Superseded => Event::Superseded {
                by: Revision("v3".into()),
            },
        });
    }
    for e in events {
        let kind = match &e {
            Event::Start { .. } => "start",
            Event::WindowClosed { .. } => "window",
            Event::Operator(_) => "operator",
            Event::BaselineChecked { .. } => "baseline",
            Event::Superseded { .. } => "superseded",
        };
        now = now.plus(setup.policy.window);
        let (next, fx) = step(&state, e, &setup.policy, now);
        for f in &fx {
            if let Effect::Audit(r) = f {
                out.records.push((now, r.clone()));
            }
        }
        out.kinds.push(kind);
        out.states.push(next.clone());
        out.effects.push(fx);
        state = next;
    }
    out
}

fn window_record(fx: &[Effect]) -> Vec<&AuditRecord> {
    fx.iter()
        .filter_map(|f| match f {
            Effect::Audit(r @ AuditRecord::Window { .. }) => Some(r),
            _ => None,
        })
        .collect()
}

fn rolled_back_by_window(fx: &[Effect]) -> bool {
    window_record(fx).iter().any(|r| {
        matches!(
            r,
            AuditRecord::Window {
                decision: Decision::RollBack { .. },
                ..
            }
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    /// Every window produces exactly one window-verdict audit record; other
    /// events produce none.
    #[test]
    fn every_window_is_audited_once(setup in setup(), steps in prop::collection::vec(step_strategy(), 0..40)) {
        let r = run(&setup, &steps);
        for (kind, fx) in r.kinds.iter().zip(&r.effects) {
            let n = window_record(fx).len();
            prop_assert_eq!(n, usize::from(*kind == "window"), "event {} produced {} window records", kind, n);
        }
    }

    /// No rollback unless the rule that tripped breached in at least its N
    /// consecutive judged windows (windows where it could not be judged neither
    /// count nor break the run; a window where it passed breaks it).
    #[test]
    fn no_rollback_on_fewer_than_n_consecutive_breaches(setup in setup(), steps in prop::collection::vec(step_strategy(), 0..40)) {
        let r = run(&setup, &steps);
        let windows: Vec<&AuditRecord> = r.effects.iter().flat_map(|fx| window_record(fx)).collect();
        for (i, w) in windows.iter().enumerate() {
            let AuditRecord::Window { decision: Decision::RollBack { cause }, .. } = w else { continue };
            let canaryd_core::effect::RollbackCause::Breach { evidence, .. } = cause else {
                prop_assert!(false, "a window rolled back for a non-breach cause");
                continue;
            };
            prop_assert!(!evidence.is_empty());
            for ev in evidence {
                let need = setup.policy.rules.iter().find(|x| x.name == ev.rule).map(|x| x.consecutive).unwrap_or(u32::MAX);
                let mut run_len = 0;
                for prev in windows[..=i].iter().rev() {
                    let AuditRecord::Window { judgement, .. } = prev else { continue };
                    match judgement.rules.get(&ev.rule) {
                        Some(RuleOutcome::Breach { .. }) => run_len += 1,
                        Some(RuleOutcome::Pass) => break,
                        _ => {}
                    }
                }
                prop_assert!(run_len >= need, "rule {} rolled back after {} breaching windows, needs {}", ev.rule, run_len, need);
            }
        }
    }

    /// An unreliable window (collectors cannot see the canary) never rolls back.
    #[test]
    fn no_rollback_on_an_unreliable_window(setup in setup(), steps in prop::collection::vec(step_strategy(), 0..40)) {
        let r = run(&setup, &steps);
        for fx in &r.effects {
            for w in window_record(fx) {
                if let AuditRecord::Window { judgement, decision, .. } = w {
                    if matches!(judgement.verdict, Verdict::Unreliable { .. }) {
                        let rolled = matches!(decision, Decision::RollBack { .. })
                            || fx.iter().any(|f| matches!(f, Effect::RollBack));
                        prop_assert!(!rolled, "an unreliable window rolled back");
                    }
                }
            }
        }
    }

    /// While a rollout awaits approval, nothing moves traffic except an
    /// operator's explicit command.
    #[test]
    fn no_advance_while_awaiting_approval(setup in setup(), steps in prop::collection::vec(step_strategy(), 0..40)) {
        let r = run(&setup, &steps);
        let mut prev_awaiting = false;
        for ((kind, fx), st) in r.kinds.iter().zip(&r.effects).zip(&r.states) {
            if prev_awaiting && *kind == "window" {
                let moved = fx.iter().any(|f| matches!(f, Effect::SetWeight { .. } | Effect::Promote | Effect::RollBack));
                prop_assert!(!moved, "traffic moved while awaiting approval");
                prop_assert_eq!(st.weight, 0);
                let still = matches!(st.phase, Phase::AwaitingApproval { .. });
                prop_assert!(still, "a window ended the approval wait");
            }
            prev_awaiting = matches!(st.phase, Phase::AwaitingApproval { .. });
        }
    }

    /// A supersede, in any phase, is audited once and changes nothing else:
    /// no traffic, no notice, the same state but for the event count.
    #[test]
    fn a_supersede_only_records_what_replaced_the_rollout(setup in setup(), steps in prop::collection::vec(step_strategy(), 0..40)) {
        let r = run(&setup, &steps);
        for (i, (kind, fx)) in r.kinds.iter().zip(&r.effects).enumerate() {
            if *kind != "superseded" || i == 0 {
                continue;
            }
            let audited: Vec<_> = fx.iter().filter(|f| matches!(f, Effect::Audit(AuditRecord::Superseded(_)))).collect();
            prop_assert_eq!(audited.len(), 1);
            prop_assert_eq!(fx.len(), 1, "only the record: {:?}", fx);
            let mut expected = r.states[i - 1].clone();
            expected.events += 1;
            prop_assert_eq!(serde_json::to_value(&r.states[i]).unwrap(), serde_json::to_value(&expected).unwrap());
        }
    }

    /// Weights only move along the ladder (adaptive ramps: only up, within
    /// 1..=100) until a rollback sends them to 0; terminal phases never move.
    #[test]
    fn weights_only_move_along_the_ladder(setup in setup(), steps in prop::collection::vec(step_strategy(), 0..40)) {
        let r = run(&setup, &steps);
        let allowed: Vec<u8> = match &setup.policy.ramp {
            Ramp::Ladder(l) => l.iter().map(|s| s.weight).collect(),
            Ramp::Adaptive(_) => (1..=100).collect(),
        };
        let mut last = 0u8;
        let mut terminal = false;
        for (fx, st) in r.effects.iter().zip(&r.states) {
            for f in fx {
                if let Effect::SetWeight { weight } = f {
                    prop_assert!(!terminal, "weight moved after the rollout ended");
                    prop_assert!(allowed.contains(weight), "weight {} is not on the ladder", weight);
                    prop_assert!(*weight >= last, "weight went down from {} to {} without a rollback", last, weight);
                    last = *weight;
                }
            }
            if terminal {
                let acted = fx.iter().any(|f| matches!(f, Effect::RollBack | Effect::Promote));
                prop_assert!(!acted, "a finished rollout acted again");
            }
            match st.phase {
                Phase::RolledBack { .. } => prop_assert_eq!(st.weight, 0),
                Phase::Promoted { .. } => prop_assert_eq!(st.weight, 100),
                Phase::Ramping | Phase::Paused { .. } => prop_assert!(allowed.contains(&st.weight)),
                _ => prop_assert_eq!(st.weight, 0),
            }
            terminal = st.phase.is_terminal();
        }
    }

    /// Folding `step` over the inputs recorded in the audit log rebuilds the
    /// final state exactly.
    #[test]
    fn replaying_the_audit_log_reproduces_the_final_state(setup in setup(), steps in prop::collection::vec(step_strategy(), 0..40)) {
        let r = run(&setup, &steps);
        let Some(last) = r.states.last() else { return Ok(()) };
        // Through JSON, as the store keeps them.
        let stored: Vec<(Timestamp, AuditRecord)> = r.records.iter().map(|(t, rec)| {
            let json = serde_json::to_string(rec).expect("records serialize");
            (*t, serde_json::from_str(&json).expect("records deserialize"))
        }).collect();
        let rebuilt = replay(last.key.clone(), &setup.policy, stored.iter().map(|(t, r)| (*t, r)));
        // NaN != NaN, so compare through JSON (which keeps NaN as "NaN").
        prop_assert_eq!(serde_json::to_value(&rebuilt).unwrap(), serde_json::to_value(last).unwrap());
    }

    /// A window in which the judge found no breach never rolls back, and a
    /// window that is not judged (awaiting approval, finished) changes nothing.
    #[test]
    fn only_breach_windows_roll_back(setup in setup(), steps in prop::collection::vec(step_strategy(), 0..40)) {
        let r = run(&setup, &steps);
        for fx in &r.effects {
            for w in window_record(fx) {
                if let AuditRecord::Window { judgement, .. } = w {
                    if !matches!(judgement.verdict, Verdict::Breach { .. }) {
                        prop_assert!(!rolled_back_by_window(fx));
                    }
                }
            }
        }
    }
}
