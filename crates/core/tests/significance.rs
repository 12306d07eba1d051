//! Rules with a statistical test: a threshold says a regression would
//! matter, the test says whether the data shows it.

use canaryd_core::judge::judge;
use canaryd_core::observation::{Histogram, LatencySummary, Observation, RouteWindow, Window};
use canaryd_core::policy::{
    BaselinePolicy, CollectorPolicy, Comparison, LadderStep, Metric, Policy, Ramp, Rule, TestKind,
    TestSpec, TrafficPolicy,
};
use canaryd_core::rollout::{step, Event, Phase, Rollout};
use canaryd_core::verdict::Verdict;
use canaryd_core::vocab::{RolloutKey, Route, Timestamp};
use std::collections::BTreeMap;
use std::time::Duration;

fn rule(metric: Metric, comparison: Comparison, test: TestSpec) -> Rule {
    Rule {
        name: "r".into(),
        metric,
        comparison,
        routes: vec![],
        consecutive: 2,
        critical: false,
        min_requests: 100,
        min_value: None,
        test: Some(test),
    }
}

fn spec(kind: TestKind, alpha: f64) -> TestSpec {
    TestSpec {
        kind,
        alpha,
        warn_alpha: Some(0.05),
        min_effect: None,
        transient: None,
    }
}

fn policy(rules: Vec<Rule>) -> Policy {
    Policy {
        name: "t".into(),
        preset: None,
        window: Duration::from_secs(60),
        ramp: Ramp::Ladder(vec![
            LadderStep {
                weight: 10,
                hold_windows: 100,
                min_requests: None,
            },
            LadderStep {
                weight: 100,
                hold_windows: 1,
                min_requests: None,
            },
        ]),
        ramp_budget: Duration::from_secs(100_000),
        rules,
        traffic: TrafficPolicy {
            min_requests_per_route: 100,
            max_extensions: 3,
        },
        baseline: BaselinePolicy::None,
        error_budget: None,
        collectors: CollectorPolicy { auto_resume: true },
    }
}

fn obs(requests: u64, errors: u64) -> Observation {
    Observation {
        requests,
        errors,
        latency_ms: LatencySummary {
            p50: Some(40.0),
            p95: Some(100.0),
            p99: Some(200.0),
        },
        ..Default::default()
    }
}

fn win(canary: Observation, baseline: Observation) -> Window {
    let mut routes = BTreeMap::new();
    routes.insert(
        Route::from("GET /pay"),
        RouteWindow {
            canary: Some(canary),
            baseline: Some(baseline),
        },
    );
    Window {
        routes,
        ..Default::default()
    }
}

#[test]
fn three_errors_in_a_thousand_against_one_is_not_three_times_worse() {
    let p = policy(vec![rule(
        Metric::ErrorRate,
        Comparison::Ratio(2.0),
        spec(TestKind::Fisher, 0.001),
    )]);
    // 0.3% vs 0.1%: the ratio rule alone would breach; Fisher says noise.
    let w = win(obs(1000, 3), obs(9000, 9));
    assert_eq!(judge(&w, 1, &p, None).verdict, Verdict::Healthy);
    // 3% vs 0.1% on the same counts is not noise.
    let w = win(obs(1000, 30), obs(9000, 9));
    let Verdict::Breach { evidence } = judge(&w, 1, &p, None).verdict else {
        panic!()
    };
    let t = evidence[0]
        .test
        .as_ref()
        .expect("the evidence carries the test");
    assert_eq!(t.test, "fisher");
    assert!(t.p_value < 1e-10, "{t:?}");
    assert_eq!((t.canary_n, t.baseline_n), (1000, 9000));
    assert_eq!(t.effect_name, "cohens_h");
    assert!(
        evidence[0].to_string().contains("fisher p="),
        "{}",
        evidence[0]
    );
}

#[test]
fn between_alpha_and_warn_alpha_the_window_only_warns() {
    let p = policy(vec![rule(
        Metric::ErrorRate,
        Comparison::Ratio(1.0),
        spec(TestKind::ChiSquare, 0.001),
    )]);
    // ~1% vs 0.5% on a few thousand requests: p between 0.001 and 0.05.
    let w = win(obs(2000, 20), obs(20000, 100));
    let j = judge(&w, 1, &p, None);
    assert_eq!(j.verdict, Verdict::Healthy, "{j:?}");
    assert_eq!(j.warnings.len(), 1, "{j:?}");
    let t = j.warnings[0].test.as_ref().unwrap();
    assert!(t.p_value >= 0.001 && t.p_value < 0.05, "{t:?}");
}

#[test]
fn min_effect_keeps_huge_samples_from_flagging_trivial_differences() {
    let mut s = spec(TestKind::ChiSquare, 0.001);
    s.min_effect = Some(0.2);
    let p = policy(vec![rule(Metric::ErrorRate, Comparison::Ratio(1.0), s)]);
    // 1.1% vs 1.0% over millions: significant, but Cohen's h ≈ 0.01.
    let w = win(obs(2_000_000, 22_000), obs(2_000_000, 20_000));
    assert_eq!(judge(&w, 1, &p, None).verdict, Verdict::Healthy);
}

fn hist(counts: &[(&str, f64)]) -> Histogram {
    Histogram(counts.iter().map(|(k, v)| (k.to_string(), *v)).collect())
}

#[test]
fn mann_whitney_reads_the_latency_histograms() {
    let p = policy(vec![rule(
        Metric::LatencyP50,
        Comparison::Ratio(1.0),
        spec(TestKind::MannWhitney, 0.001),
    )]);
    let mut c = obs(1000, 0);
    c.latency_ms = LatencySummary {
        p50: Some(60.0),
        ..Default::default()
    };
    c.latency_buckets_ms = Some(hist(&[
        ("25", 100.0),
        ("50", 400.0),
        ("100", 900.0),
        ("+Inf", 1000.0),
    ]));
    let mut b = obs(1000, 0);
    b.latency_ms = LatencySummary {
        p50: Some(40.0),
        ..Default::default()
    };
    b.latency_buckets_ms = Some(hist(&[
        ("25", 300.0),
        ("50", 700.0),
        ("100", 980.0),
        ("+Inf", 1000.0),
    ]));
    let Verdict::Breach { evidence } = judge(&win(c.clone(), b.clone()), 1, &p, None).verdict
    else {
        panic!()
    };
    let t = evidence[0].test.as_ref().unwrap();
    assert_eq!(t.test, "mann_whitney");
    assert!(t.effect > 0.2, "Cliff's delta {}", t.effect);
    // Without histograms the test cannot run: inconclusive, never a pass.
    c.latency_buckets_ms = None;
    let Verdict::Inconclusive { reason } = judge(&win(c, b), 1, &p, None).verdict else {
        panic!()
    };
    assert!(reason.contains("latency histograms"), "{reason}");
}

#[test]
fn the_sequential_test_accumulates_evidence_across_windows() {
    let mut r = rule(
        Metric::ErrorRate,
        Comparison::Ratio(1.5),
        spec(TestKind::SequentialErrors, 0.01),
    );
    r.warn_only_none();
    let p = policy(vec![r]);
    let mut state = Rollout::new(RolloutKey::new("w", "r"));
    let mut t = Timestamp(0);
    state = step(
        &state,
        Event::Start {
            baseline: canaryd_core::BaselineStatus::Missing("none".into()),
        },
        &p,
        t,
    )
    .0;
    assert!(matches!(state.phase, Phase::Ramping));
    // 2× errors at 10% weight: 1,000 canary requests a window at 1% vs 0.5%.
    let mut breaches = Vec::new();
    for i in 1..=30 {
        t = t.plus(p.window);
        let (next, _) = step(
            &state,
            Event::WindowClosed {
                window: win(obs(1000, 10), obs(9000, 45)),
            },
            &p,
            t,
        );
        state = next;
        if state.last_verdict == Some(canaryd_core::VerdictKind::Breach) {
            breaches.push(i);
        }
        if state.phase.is_terminal() {
            break;
        }
    }
    let first = *breaches.first().expect("the regression is detected");
    assert!(
        first > 1,
        "one window of ~10 canary errors is not enough evidence alone (first breach at {first})"
    );
    assert!(
        matches!(state.phase, Phase::RolledBack { .. }),
        "{:?}",
        state.phase
    );
    assert_eq!(
        state.looks.values().next().map(Vec::len),
        Some(state.windows as usize)
    );
}

#[test]
fn the_sequential_test_does_not_fire_on_an_identical_canary() {
    let p = policy(vec![rule(
        Metric::ErrorRate,
        Comparison::Ratio(1.0),
        spec(TestKind::SequentialErrors, 0.01),
    )]);
    let mut state = Rollout::new(RolloutKey::new("w", "r"));
    let mut t = Timestamp(0);
    state = step(
        &state,
        Event::Start {
            baseline: canaryd_core::BaselineStatus::Missing("none".into()),
        },
        &p,
        t,
    )
    .0;
    // Same 1% rate on both sides, with the canary's counts wobbling around it.
    for i in 0..60u64 {
        t = t.plus(p.window);
        let canary_errors = [9, 11, 10, 12, 8][(i % 5) as usize];
        state = step(
            &state,
            Event::WindowClosed {
                window: win(obs(1000, canary_errors), obs(9000, 90)),
            },
            &p,
            t,
        )
        .0;
    }
    assert!(matches!(state.phase, Phase::Ramping), "{:?}", state.phase);
}

trait NoWarn {
    fn warn_only_none(&mut self);
}

impl NoWarn for Rule {
    fn warn_only_none(&mut self) {
        if let Some(t) = self.test.as_mut() {
            t.warn_alpha = None;
        }
    }
}
