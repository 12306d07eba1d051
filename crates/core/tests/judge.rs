//! The judge on hand-made windows: each comparison, each reason for "no data".

use canaryd_core::judge::judge;
use canaryd_core::observation::{
    Baseline, CollectorHealth, LatencySummary, Lossless, Observation, RouteWindow, Window,
};
use canaryd_core::policy::{
    BaselinePolicy, CollectorPolicy, Comparison, LadderStep, Metric, Policy, Ramp, Rule,
    TrafficPolicy,
};
use canaryd_core::verdict::{RuleOutcome, Verdict};
use canaryd_core::vocab::Route;
use std::collections::BTreeMap;
use std::time::Duration;

fn rule(metric: Metric, comparison: Comparison) -> Rule {
    Rule {
        name: "r".into(),
        metric,
        comparison,
        routes: vec![],
        consecutive: 2,
        critical: false,
        min_requests: 1000,
        min_value: None,
        test: None,
    }
}

fn policy(rules: Vec<Rule>) -> Policy {
    Policy {
        name: "t".into(),
        preset: None,
        window: Duration::from_secs(300),
        ramp: Ramp::Ladder(vec![LadderStep {
            weight: 100,
            hold_windows: 1,
            min_requests: None,
        }]),
        ramp_budget: Duration::from_secs(3600),
        rules,
        traffic: TrafficPolicy {
            min_requests_per_route: 1000,
            max_extensions: 3,
        },
        baseline: BaselinePolicy::None,
        error_budget: None,
        collectors: CollectorPolicy { auto_resume: true },
    }
}

fn obs(requests: u64, errors: u64, p99: f64) -> Observation {
    Observation {
        requests,
        errors,
        latency_ms: LatencySummary {
            p50: Some(p99 / 4.0),
            p95: Some(p99 / 1.5),
            p99: Some(p99),
        },
        cpu: Some(0.40),
        ..Default::default()
    }
}

fn win(canary: Option<Observation>, baseline: Option<Observation>) -> Window {
    let mut routes = BTreeMap::new();
    routes.insert(Route::from("GET /pay"), RouteWindow { canary, baseline });
    Window {
        routes,
        ..Default::default()
    }
}

fn verdict(p: &Policy, w: &Window) -> Verdict {
    judge(w, 1, p, None).verdict
}

#[test]
fn ratio_rule_breaches_above_factor_times_baseline() {
    let p = policy(vec![rule(Metric::ErrorRate, Comparison::Ratio(2.0))]);
    // baseline 0.5%; canary 1.0% is exactly 2x: not above.
    let ok = win(Some(obs(2000, 20, 300.0)), Some(obs(20000, 100, 300.0)));
    assert_eq!(verdict(&p, &ok), Verdict::Healthy);
    let bad = win(Some(obs(2000, 22, 300.0)), Some(obs(20000, 100, 300.0)));
    let Verdict::Breach { evidence } = verdict(&p, &bad) else {
        panic!("expected breach")
    };
    assert_eq!(evidence.len(), 1);
    let e = &evidence[0];
    assert_eq!(e.metric, Metric::ErrorRate);
    assert!((e.canary - 0.011).abs() < 1e-12);
    assert_eq!(e.baseline, Some(0.005));
    assert!((e.threshold - 0.010).abs() < 1e-12);
    assert_eq!(e.canary_requests, 2000);
    assert_eq!(e.baseline_requests, Some(20000));
    assert_eq!(e.route, Route::from("GET /pay"));
}

#[test]
fn absolute_and_delta_rules() {
    let p = policy(vec![rule(Metric::LatencyP99, Comparison::Absolute(500.0))]);
    assert_eq!(
        verdict(&p, &win(Some(obs(2000, 0, 500.0)), None)),
        Verdict::Healthy
    );
    assert!(matches!(
        verdict(&p, &win(Some(obs(2000, 0, 501.0)), None)),
        Verdict::Breach { .. }
    ));

    let p = policy(vec![rule(Metric::Cpu, Comparison::Delta(0.15))]);
    let mut c = obs(2000, 0, 300.0);
    c.cpu = Some(0.54);
    assert_eq!(
        verdict(&p, &win(Some(c.clone()), Some(obs(9000, 0, 300.0)))),
        Verdict::Healthy
    );
    c.cpu = Some(0.56);
    assert!(matches!(
        verdict(&p, &win(Some(c), Some(obs(9000, 0, 300.0)))),
        Verdict::Breach { .. }
    ));
}

#[test]
fn too_little_traffic_cannot_breach() {
    let p = policy(vec![rule(Metric::ErrorRate, Comparison::Absolute(0.01))]);
    // 100% errors, but only 999 requests where 1000 are required.
    let v = verdict(&p, &win(Some(obs(999, 999, 300.0)), None));
    let Verdict::Inconclusive { reason } = v else {
        panic!("expected inconclusive, got {v:?}")
    };
    assert!(reason.contains("999 canary requests < 1000"), "{reason}");
}

#[test]
fn nan_inf_missing_and_lies_are_inconclusive_never_a_pass() {
    let p = policy(vec![rule(Metric::LatencyP99, Comparison::Ratio(1.5))]);
    let base = Some(obs(20000, 0, 300.0));
    for (p99, why) in [
        (f64::NAN, "is NaN"),
        (f64::INFINITY, "+Inf"),
        (-5.0, "negative"),
    ] {
        let v = verdict(&p, &win(Some(obs(2000, 0, p99)), base.clone()));
        let Verdict::Inconclusive { reason } = v else {
            panic!("{p99}: expected inconclusive, got {v:?}")
        };
        assert!(reason.contains(why), "{reason}");
    }
    // No canary series at all.
    let Verdict::Inconclusive { reason } = verdict(&p, &win(None, base.clone())) else {
        panic!()
    };
    assert!(reason.contains("no canary series"), "{reason}");
    // No latency series.
    let mut c = obs(2000, 0, 300.0);
    c.latency_ms = LatencySummary::default();
    let Verdict::Inconclusive { reason } = verdict(&p, &win(Some(c), base)) else {
        panic!()
    };
    assert!(reason.contains("missing"), "{reason}");
    // An empty window.
    let Verdict::Inconclusive { reason } = verdict(&p, &Window::default()) else {
        panic!()
    };
    assert!(reason.contains("no routes"), "{reason}");
    // A source claiming more errors than requests.
    let p = policy(vec![rule(Metric::ErrorRate, Comparison::Absolute(0.5))]);
    let Verdict::Inconclusive { reason } = verdict(&p, &win(Some(obs(2000, 3000, 1.0)), None))
    else {
        panic!()
    };
    assert!(reason.contains("lying"), "{reason}");
}

#[test]
fn unhealthy_collectors_make_the_window_unreliable_whatever_the_numbers() {
    let p = policy(vec![rule(Metric::ErrorRate, Comparison::Absolute(0.01))]);
    let mut w = win(Some(obs(2000, 2000, 9000.0)), None);
    w.collectors = CollectorHealth::Unhealthy("probe timeout".into());
    let j = judge(&w, 1, &p, None);
    assert!(
        matches!(j.verdict, Verdict::Unreliable { ref reason } if reason.contains("probe timeout"))
    );
    assert!(j.rules.is_empty());
}

#[test]
fn ratio_rules_fall_back_to_history_when_the_window_baseline_is_thin() {
    let p = policy(vec![rule(Metric::ErrorRate, Comparison::Ratio(2.0))]);
    let thin_baseline = Some(obs(10, 0, 300.0));
    let w = win(Some(obs(2000, 30, 300.0)), thin_baseline);
    // Without history: no baseline to compare with.
    assert!(matches!(
        judge(&w, 1, &p, None).verdict,
        Verdict::Inconclusive { .. }
    ));
    // With a 0.5% history: 1.5% breaches 2x.
    let mut routes = BTreeMap::new();
    routes.insert(Route::from("GET /pay"), obs(500_000, 2_500, 300.0));
    let h = Baseline {
        history_hours: 168.0,
        routes,
    };
    let Verdict::Breach { evidence } = judge(&w, 1, &p, Some(&h)).verdict else {
        panic!()
    };
    assert_eq!(evidence[0].baseline, Some(0.005));
    assert_eq!(evidence[0].baseline_requests, Some(500_000));
}

#[test]
fn min_value_floor_keeps_tiny_rates_from_breaching_ratio_rules() {
    let mut r = rule(Metric::ErrorRate, Comparison::Ratio(2.0));
    r.min_value = Some(0.001);
    let p = policy(vec![r]);
    // baseline 0 errors; canary 1 in 2000 = 0.05%: "infinitely worse" but under the floor.
    let w = win(Some(obs(2000, 1, 300.0)), Some(obs(20000, 0, 300.0)));
    assert_eq!(verdict(&p, &w), Verdict::Healthy);
    let w = win(Some(obs(2000, 5, 300.0)), Some(obs(20000, 0, 300.0)));
    assert!(matches!(verdict(&p, &w), Verdict::Breach { .. }));
}

#[test]
fn a_breach_stands_even_when_another_rule_has_no_data() {
    let mut custom = rule(
        Metric::Custom("queue_depth".into()),
        Comparison::Absolute(10.0),
    );
    custom.name = "queue".into();
    let p = policy(vec![
        rule(Metric::ErrorRate, Comparison::Absolute(0.01)),
        custom,
    ]);
    let j = judge(&win(Some(obs(2000, 200, 300.0)), None), 4, &p, None);
    let Verdict::Breach { evidence } = &j.verdict else {
        panic!("{:?}", j.verdict)
    };
    assert_eq!(evidence[0].window, 4);
    assert!(matches!(
        j.rules.get("queue"),
        Some(RuleOutcome::Inconclusive { .. })
    ));
    assert!(matches!(j.rules.get("r"), Some(RuleOutcome::Breach { .. })));
}

#[test]
fn custom_metrics_and_route_filters() {
    let mut r = rule(
        Metric::Custom("exceptions".into()),
        Comparison::Absolute(9.0),
    );
    r.routes = vec![Route::from("GET /pay")];
    let p = policy(vec![r.clone()]);
    let mut c = obs(2000, 0, 300.0);
    c.custom.insert("exceptions".into(), Lossless(10.0));
    assert!(matches!(
        verdict(&p, &win(Some(c), None)),
        Verdict::Breach { .. }
    ));
    // A rule naming a route the window does not have: no data, not a pass.
    r.routes = vec![Route::from("POST /refund")];
    let p = policy(vec![r]);
    let Verdict::Inconclusive { reason } = verdict(&p, &win(Some(obs(2000, 0, 1.0)), None)) else {
        panic!()
    };
    assert!(reason.contains("POST /refund"), "{reason}");
}

#[test]
fn latency_quantiles_come_from_buckets_when_not_reported() {
    let p = policy(vec![rule(Metric::LatencyP99, Comparison::Absolute(500.0))]);
    let mut c = obs(1500, 0, 0.0);
    c.latency_ms = LatencySummary::default();
    c.latency_buckets_ms = Some(canaryd_core::observation::Histogram(
        [
            ("100", 1200.0),
            ("250", 1350.0),
            ("500", 1440.0),
            ("1000", 1500.0),
            ("+Inf", 1500.0),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect(),
    ));
    let Verdict::Breach { evidence } = verdict(&p, &win(Some(c), None)) else {
        panic!()
    };
    assert!(
        (evidence[0].canary - 875.0).abs() < 1e-9,
        "{}",
        evidence[0].canary
    );
}

#[test]
fn a_source_gap_is_named_as_the_reason_and_is_never_a_pass() {
    let p = policy(vec![rule(Metric::ErrorRate, Comparison::Ratio(2.0))]);
    // The canary selector matched nothing: the source leaves the canary out
    // and says why in `gaps`.
    let mut w = win(None, Some(obs(5_000, 10, 100.0)));
    w.gaps
        .push("canary selector `version=\"v2\"` matched no series".into());
    match verdict(&p, &w) {
        Verdict::Inconclusive { reason } => {
            assert!(
                reason.starts_with("canary selector `version=\"v2\"` matched no series; "),
                "{reason}"
            );
            assert!(reason.contains("GET /pay"), "{reason}");
        }
        other => panic!("expected inconclusive, got {other:?}"),
    }
    // A gap does not hide a real breach measured elsewhere in the window.
    let mut w = win(Some(obs(1_000, 200, 100.0)), Some(obs(5_000, 10, 100.0)));
    w.gaps.push("no latency buckets for the canary".into());
    assert!(matches!(verdict(&p, &w), Verdict::Breach { .. }));
}
