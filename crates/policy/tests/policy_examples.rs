//! The example policies in /examples parse to the numbers their comments
//! promise, and print back (`canaryd policy show`) to the same policy.

use std::time::Duration;

use canaryd_core::vocab::Route;

use canaryd_core::policy::{
    AdaptiveRamp, BaselinePolicy, Comparison, ErrorBudgetGate, Metric, Policy, Ramp, TestKind,
    TestSpec,
};
use canaryd_policy::{parse_policy, policy_to_yaml, preset, PRESET_NAMES};

fn example(name: &str) -> Policy {
    let path = format!("{}/../../examples/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    parse_policy(&format!("examples/{name}.yaml"), &text).unwrap_or_else(|e| panic!("{e}"))
}

fn rule<'p>(p: &'p Policy, name: &str) -> &'p canaryd_core::policy::Rule {
    p.rules
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no rule {name} in {:?}", p.rules))
}

#[test]
fn every_preset_has_an_example_that_round_trips() {
    for name in PRESET_NAMES {
        let p = example(name);
        assert_eq!(
            p.preset.as_deref(),
            Some(*name),
            "the example starts from its preset"
        );
        let text = policy_to_yaml(&p);
        assert_eq!(parse_policy("shown.yaml", &text), Ok(p), "{name}:\n{text}");
    }
}

#[test]
fn slo_ratio_example() {
    let p = example("slo-ratio");
    assert_eq!(p.name, "payments-slo");
    assert_eq!(p.window, Duration::from_secs(300));
    let Ramp::Ladder(steps) = &p.ramp else {
        panic!("not a ladder")
    };
    let steps: Vec<(u8, u32)> = steps.iter().map(|s| (s.weight, s.hold_windows)).collect();
    assert_eq!(steps, vec![(5, 2), (25, 2), (50, 3), (100, 2)]);
    assert_eq!(p.traffic.min_requests_per_route, 2000);
    assert_eq!(p.traffic.max_extensions, 3);
    assert_eq!(p.rules.len(), 3);
    assert_eq!(rule(&p, "error_rate-ratio").min_requests, 2000);
    let r = rule(&p, "checkout-p95");
    assert_eq!(r.metric, Metric::LatencyP95);
    assert_eq!(r.comparison, Comparison::Ratio(1.3));
    assert_eq!(r.consecutive, 3);
    assert_eq!(r.min_value, Some(50.0));
    assert_eq!(r.routes, vec![Route::from("POST /checkout")]);
}

#[test]
fn absolute_slo_example() {
    let p = example("absolute-slo");
    assert_eq!(p.baseline, BaselinePolicy::None);
    assert_eq!(p.rules.len(), 3);
    assert_eq!(
        rule(&p, "error-slo").comparison,
        Comparison::Absolute(0.005)
    );
    let p99 = rule(&p, "latency_p99-absolute");
    assert_eq!(p99.comparison, Comparison::Absolute(400.0));
    assert_eq!(p99.consecutive, 3, "for: 3m of 60s windows");
    let storm = rule(&p, "error-storm");
    assert_eq!(
        (storm.consecutive, storm.critical, storm.min_requests),
        (1, true, 20)
    );
    assert_eq!(storm.comparison, Comparison::Absolute(0.5));
}

#[test]
fn progressive_example() {
    let p = example("progressive");
    assert_eq!(
        p.error_budget,
        Some(ErrorBudgetGate {
            defer_below: 0.3,
            freeze_at: 0.0
        })
    );
    assert_eq!(p.traffic.max_extensions, 5);
    assert!(!p.collectors.auto_resume);
    assert_eq!(p.rules.len(), 6);
    let q = rule(&p, "queue-depth");
    assert_eq!(q.metric, Metric::Custom("queue_depth".into()));
    assert_eq!(q.consecutive, 10);
    assert_eq!(
        rule(&p, "memory-absolute").comparison,
        Comparison::Absolute(0.9)
    );
}

#[test]
fn adaptive_weight_example() {
    let p = example("adaptive-weight");
    assert_eq!(
        p.ramp,
        Ramp::Adaptive(AdaptiveRamp {
            initial_weight: 2,
            min_increase: 3,
            max_increase: 20,
            latency_penalty: 4.0,
            error_penalty: 25.0,
            hold_windows: 3,
        })
    );
    assert_eq!(p.ramp_budget, Duration::from_secs(90 * 60));
    assert_eq!(p.rules.len(), 5);
    let cpu = rule(&p, "cpu-headroom");
    assert_eq!(cpu.comparison, Comparison::Delta(0.15));
    assert_eq!(cpu.consecutive, 5);
}

#[test]
fn statistical_example() {
    let p = example("statistical");
    assert_eq!(p.name, "ledger-statistical");
    assert_eq!(p.window, Duration::from_secs(300));
    let Ramp::Ladder(steps) = &p.ramp else {
        panic!("not a ladder")
    };
    let steps: Vec<(u8, u32, Option<u64>)> = steps
        .iter()
        .map(|s| (s.weight, s.hold_windows, s.min_requests))
        .collect();
    assert_eq!(
        steps,
        vec![
            (5, 1, Some(100)),
            (25, 1, Some(500)),
            (50, 1, Some(750)),
            (100, 1, Some(1000))
        ]
    );
    assert_eq!(p.ramp_budget, Duration::from_secs(30 * 60));
    assert_eq!(p.rules.len(), 3);
    let Some(base) = preset("statistical") else {
        panic!("no preset")
    };
    assert_eq!(p.rules[..2], base.rules[..], "the preset's rules are kept");
    let r = rule(&p, "checkout-errors-fisher");
    assert_eq!(r.comparison, Comparison::Ratio(1.0));
    assert_eq!(r.routes, vec![Route::from("POST /checkout")]);
    let Some(t) = &r.test else { panic!("no test") };
    assert_eq!(t.kind, TestKind::Fisher);
    assert!((t.alpha - 0.001).abs() < 1e-15, "{t:?}");
    assert!(
        t.warn_alpha.is_some_and(|w| (w - 0.01).abs() < 1e-15),
        "{t:?}"
    );
    assert_eq!(t.min_effect, Some(0.3));
}

#[test]
fn canaryd_example() {
    let p = example("canaryd");
    assert_eq!(p.name, "orders-default");
    assert_eq!(p.window, Duration::from_secs(30));
    assert_eq!(p.traffic.min_requests_per_route, 150);
    assert_eq!(p.rules.len(), 7);
    assert_eq!(rule(&p, "errors").min_requests, 150);
    assert_eq!(rule(&p, "latency-p95").min_requests, 150);
    assert_eq!(rule(&p, "error-storm").min_requests, 50);
    let r = rule(&p, "refund-errors");
    assert_eq!(r.comparison, Comparison::Ratio(1.2));
    assert_eq!(r.min_value, Some(0.0005));
    assert_eq!(r.consecutive, 2);
    assert_eq!(
        r.test,
        Some(TestSpec {
            kind: TestKind::SequentialErrors,
            alpha: 0.005,
            warn_alpha: None,
            min_effect: None,
            transient: None,
        })
    );
    assert!(p.rules.iter().all(|r| r.critical
        || r.consecutive >= 2
        || r.test.as_ref().is_some_and(|t| t.transient.is_some())));
}
