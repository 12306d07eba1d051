//! A rule whose sequential test tolerates transients (`transient: 60s`),
//! through the real state machine: a burst, however bad, that fits inside
//! the tolerance never rolls back — even with `consecutive: 1` — while the
//! same errors spread beyond it do.

use canaryd_core::observation::{Baseline, BaselineStatus, Observation, RouteWindow, Window};
use canaryd_core::policy::{
    BaselinePolicy, CollectorPolicy, Comparison, LadderStep, Metric, Policy, Ramp, Rule, TestKind,
    TestSpec, TrafficPolicy,
};
use canaryd_core::rollout::{step, Event, Phase, Rollout};
use canaryd_core::vocab::{RolloutKey, Route, Timestamp};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

const WINDOW_MS: i64 = 30_000;
const ROUTE: &str = "GET /pay";

fn policy() -> Policy {
    Policy {
        name: "transient".into(),
        preset: None,
        window: Duration::from_millis(WINDOW_MS as u64),
        ramp: Ramp::Ladder(
            [(10, 40), (100, 2)]
                .iter()
                .map(|&(weight, hold_windows)| LadderStep {
                    weight,
                    hold_windows,
                    min_requests: None,
                })
                .collect(),
        ),
        ramp_budget: Duration::from_secs(3600),
        rules: vec![Rule {
            name: "errors".into(),
            metric: Metric::ErrorRate,
            comparison: Comparison::Ratio(1.5),
            routes: vec![],
            consecutive: 1,
            critical: false,
            min_requests: 100,
            min_value: None,
            test: Some(TestSpec {
                kind: TestKind::SequentialErrors,
                alpha: 0.05,
                warn_alpha: None,
                min_effect: None,
                transient: Some(Duration::from_secs(60)),
            }),
        }],
        traffic: TrafficPolicy {
            min_requests_per_route: 100,
            max_extensions: 0,
        },
        baseline: BaselinePolicy::Required {
            lookback: Duration::from_secs(7 * 86400),
            min_history: Duration::from_secs(86400),
            min_requests_per_route: 10_000,
            approval: Default::default(),
        },
        error_budget: None,
        collectors: CollectorPolicy { auto_resume: true },
    }
}

fn baseline() -> BaselineStatus {
    BaselineStatus::Available(Baseline {
        history_hours: 168.0,
        routes: [(
            Route::from(ROUTE),
            Observation {
                requests: 1_000_000,
                errors: 5_000,
                ..Default::default()
            },
        )]
        .into_iter()
        .collect(),
    })
}

fn window(i: usize, canary_errors: u64, baseline_errors: u64) -> Window {
    let start = 1_700_000_000_000 + i as i64 * WINDOW_MS;
    let mut routes = BTreeMap::new();
    routes.insert(
        Route::from(ROUTE),
        RouteWindow {
            canary: Some(Observation {
                requests: 600,
                errors: canary_errors,
                ..Default::default()
            }),
            baseline: Some(Observation {
                requests: 5_400,
                errors: baseline_errors,
                ..Default::default()
            }),
        },
    );
    Window {
        start: Timestamp(start),
        end: Timestamp(start + WINDOW_MS),
        routes,
        ..Default::default()
    }
}

/// Feeds the windows; returns the phase at the end.
fn run(windows: &[(u64, u64)]) -> Phase {
    let p = policy();
    let mut s = Rollout::new(RolloutKey::new("payments/api", "v2"));
    let t0 = Timestamp(1_700_000_000_000);
    (s, _) = step(
        &s,
        Event::Start {
            baseline: baseline(),
        },
        &p,
        t0,
    );
    for (i, &(c, b)) in windows.iter().enumerate() {
        let w = window(i, c, b);
        let end = w.end;
        (s, _) = step(&s, Event::WindowClosed { window: w }, &p, end);
        if s.phase.is_terminal() {
            break;
        }
    }
    s.phase
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Outside one burst the canary serves no error at all; inside it (at
    /// most 3 windows of 30 s: what a 60 s burst can touch), anything up to
    /// every request failing. The rule never rolls back.
    #[test]
    fn a_burst_within_the_tolerance_never_rolls_back(
        before in 0usize..12,
        len in 1usize..=3,
        burst in prop::collection::vec(0u64..=600, 3),
        baseline_errors in prop::collection::vec(0u64..60, 30),
    ) {
        let windows: Vec<(u64, u64)> = (0..30)
            .map(|i| {
                let c = if i >= before && i < before + len { burst[i - before] } else { 0 };
                (c, baseline_errors[i])
            })
            .collect();
        let phase = run(&windows);
        prop_assert!(!matches!(phase, Phase::RolledBack { .. }), "rolled back: {:?}", phase);
    }

    /// The control: the same kind of burst twice, further apart than the
    /// tolerance, on a quiet baseline, is a sustained regression and rolls back.
    #[test]
    fn two_bursts_further_apart_roll_back(first in 0usize..5, gap in 3usize..8, errors in 60u64..=600) {
        let windows: Vec<(u64, u64)> = (0..30)
            .map(|i| {
                let c = if i == first || i == first + gap { errors } else { 3 };
                (c, 27)
            })
            .collect();
        let phase = run(&windows);
        prop_assert!(matches!(phase, Phase::RolledBack { .. }), "not rolled back: {:?}", phase);
    }
}
