//! Presets resolve to exactly what DESIGN.md §5 says, pass their own
//! validation, print back to files that parse to the same policy, and merge
//! with file overrides field by field.

use std::time::Duration;

use canaryd_core::policy::{
    AdaptiveRamp, BaselinePolicy, Comparison, ErrorBudgetGate, LadderStep, Metric, Policy, Ramp,
    Rule, TestKind, TestSpec,
};
use canaryd_policy::{parse_policy, policy_to_yaml, preset, validate_policy, PRESET_NAMES};

const MIN: Duration = Duration::from_secs(60);

fn mins(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

fn get(name: &str) -> Policy {
    preset(name).unwrap_or_else(|| panic!("preset {name} does not resolve"))
}

fn parse(text: &str) -> Policy {
    parse_policy("test.yaml", text).unwrap_or_else(|e| panic!("{text}\n---\n{e}"))
}

fn ladder(p: &Policy) -> Vec<(u8, u32)> {
    match &p.ramp {
        Ramp::Ladder(steps) => steps.iter().map(|s| (s.weight, s.hold_windows)).collect(),
        Ramp::Adaptive(_) => panic!("{} has an adaptive ramp", p.name),
    }
}

/// (metric, comparison, consecutive, critical) of every rule.
fn rules(p: &Policy) -> Vec<(String, Comparison, u32, bool)> {
    p.rules
        .iter()
        .map(|r| {
            (
                r.metric.name(),
                r.comparison.clone(),
                r.consecutive,
                r.critical,
            )
        })
        .collect()
}

fn week_baseline() -> BaselinePolicy {
    BaselinePolicy::Required {
        lookback: Duration::from_secs(7 * 86_400),
        min_history: Duration::from_secs(86_400),
        min_requests_per_route: 10_000,
        approval: Default::default(),
    }
}

/// (weight, hold_windows, min_requests) of every ladder step.
fn steps(p: &Policy) -> Vec<(u8, u32, Option<u64>)> {
    match &p.ramp {
        Ramp::Ladder(steps) => steps
            .iter()
            .map(|s| (s.weight, s.hold_windows, s.min_requests))
            .collect(),
        Ramp::Adaptive(_) => panic!("{} has an adaptive ramp", p.name),
    }
}

/// (name, min_requests, min_value, test) of every rule.
fn details(p: &Policy) -> Vec<(&str, u64, Option<f64>, Option<TestSpec>)> {
    p.rules
        .iter()
        .map(|r| (r.name.as_str(), r.min_requests, r.min_value, r.test.clone()))
        .collect()
}

fn spec(
    kind: TestKind,
    alpha: f64,
    warn_alpha: Option<f64>,
    min_effect: Option<f64>,
) -> Option<TestSpec> {
    Some(TestSpec {
        kind,
        alpha,
        warn_alpha,
        min_effect,
        transient: None,
    })
}

#[test]
fn preset_names_are_exactly_the_six_presets() {
    assert_eq!(
        PRESET_NAMES,
        &[
            "slo-ratio",
            "absolute-slo",
            "progressive",
            "adaptive-weight",
            "statistical",
            "canaryd",
        ]
    );
    for name in PRESET_NAMES {
        let p = get(name);
        assert_eq!(p.name, *name);
        assert_eq!(p.preset.as_deref(), Some(*name));
    }
    assert!(preset("kayenta").is_none());
    assert!(preset("").is_none());
}

#[test]
fn older_presets_have_no_tests_and_no_step_minimums() {
    for name in [
        "slo-ratio",
        "absolute-slo",
        "progressive",
        "adaptive-weight",
    ] {
        let p = get(name);
        assert!(p.rules.iter().all(|r| r.test.is_none()), "{name}");
        if let Ramp::Ladder(steps) = &p.ramp {
            assert!(steps.iter().all(|s| s.min_requests.is_none()), "{name}");
        }
    }
}

#[test]
fn statistical_preset() {
    let p = get("statistical");
    assert_eq!(p.window, mins(5));
    // Phases 5% / 25% / 100% of 5 minutes each, minimum samples 100 / 500 / 1,000.
    assert_eq!(
        steps(&p),
        vec![(5, 1, Some(100)), (25, 1, Some(500)), (100, 1, Some(1000))]
    );
    assert_eq!(p.ramp_budget, mins(30));
    assert_eq!(
        rules(&p),
        vec![
            ("error_rate".into(), Comparison::Ratio(1.0), 2, false),
            ("latency_p50".into(), Comparison::Ratio(1.0), 2, false),
        ]
    );
    // Chi-square on errors, Mann-Whitney on latency; p < 0.001 rolls back,
    // p < 0.01 warns, effect size ≥ 0.2.
    assert_eq!(
        details(&p),
        vec![
            (
                "errors-chi2",
                100,
                None,
                spec(TestKind::ChiSquare, 0.001, Some(0.01), Some(0.2))
            ),
            (
                "latency-mann-whitney",
                100,
                None,
                spec(TestKind::MannWhitney, 0.001, Some(0.01), Some(0.2))
            ),
        ]
    );
    assert!(p.rules.iter().all(|r| r.routes.is_empty()));
    assert_eq!(p.traffic.min_requests_per_route, 100);
    assert_eq!(p.traffic.max_extensions, 3);
    assert_eq!(p.baseline, week_baseline());
    assert_eq!(p.error_budget, None);
    assert!(p.collectors.auto_resume);
}

#[test]
fn canaryd_preset() {
    let p = get("canaryd");
    assert_eq!(p.window, Duration::from_secs(30));
    assert_eq!(
        steps(&p),
        vec![(3, 24, None), (25, 4, None), (50, 6, None), (100, 2, None)]
    );
    assert_eq!(p.ramp_budget, mins(40));
    assert_eq!(
        rules(&p),
        vec![
            ("error_rate".into(), Comparison::Ratio(1.6), 1, false),
            ("latency_p95".into(), Comparison::Ratio(1.2), 6, false),
            ("latency_p50".into(), Comparison::Ratio(1.15), 6, false),
            ("latency_p99".into(), Comparison::Ratio(1.2), 1, false),
            ("error_rate".into(), Comparison::Absolute(0.25), 1, true),
            ("latency_p99".into(), Comparison::Ratio(3.0), 2, false),
        ]
    );
    let errors_test = TestSpec {
        transient: Some(Duration::from_secs(60)),
        ..spec(TestKind::SequentialErrors, 0.025, None, None).unwrap()
    };
    let tail_test = TestSpec {
        transient: Some(Duration::from_secs(60)),
        ..spec(TestKind::SequentialLatency, 0.01, None, None).unwrap()
    };
    assert_eq!(
        details(&p),
        vec![
            ("errors", 100, Some(0.001), Some(errors_test)),
            ("latency-p95", 100, Some(50.0), None),
            ("latency-p50", 100, Some(20.0), None),
            ("latency-p99", 100, Some(100.0), Some(tail_test)),
            ("error-storm", 50, None, None),
            ("latency-storm", 100, None, None),
        ]
    );
    // Never fewer than 2 consecutive breaching windows unless critical, or
    // the rule's test sets a 60 s transient aside (so one window never decides).
    assert!(p.rules.iter().all(|r| r.critical
        || r.consecutive >= 2
        || r.test.as_ref().is_some_and(|t| t.transient.is_some())));
    // Anytime-valid tests only: a fixed-horizon test re-run every short
    // window would inflate false alarms.
    assert!(p
        .rules
        .iter()
        .filter_map(|r| r.test.as_ref())
        .all(|t| t.kind.is_sequential()));
    assert_eq!(p.traffic.min_requests_per_route, 100);
    assert_eq!(p.traffic.max_extensions, 3);
    assert_eq!(p.baseline, week_baseline());
    assert_eq!(p.error_budget, None);
    assert!(p.collectors.auto_resume);
}

#[test]
fn slo_ratio_preset() {
    let p = get("slo-ratio");
    assert_eq!(p.window, mins(5));
    assert_eq!(ladder(&p), vec![(10, 2), (25, 2), (50, 2), (100, 2)]);
    assert_eq!(p.ramp_budget, mins(60));
    assert_eq!(
        rules(&p),
        vec![
            ("error_rate".into(), Comparison::Ratio(2.0), 2, false),
            ("latency_p99".into(), Comparison::Ratio(1.5), 2, false),
        ]
    );
    assert!(p
        .rules
        .iter()
        .all(|r| r.min_requests == 1000 && r.routes.is_empty()));
    assert_eq!(p.traffic.min_requests_per_route, 1000);
    assert_eq!(p.traffic.max_extensions, 3);
    assert_eq!(p.baseline, week_baseline());
    assert!(p.collectors.auto_resume);
    assert_eq!(p.error_budget, None);
}

#[test]
fn absolute_slo_preset() {
    let p = get("absolute-slo");
    assert_eq!(p.window, Duration::from_secs(60));
    // 5% for 5 min, 25% for 10 min, then 100% (1 window).
    assert_eq!(ladder(&p), vec![(5, 5), (25, 10), (100, 1)]);
    assert_eq!(p.ramp_budget, mins(30));
    assert_eq!(
        rules(&p),
        vec![
            ("error_rate".into(), Comparison::Absolute(0.01), 2, false),
            ("latency_p99".into(), Comparison::Absolute(500.0), 2, false),
        ]
    );
    assert_eq!(p.traffic.min_requests_per_route, 100);
    assert_eq!(p.traffic.max_extensions, 3);
    assert_eq!(p.baseline, BaselinePolicy::None);
    assert_eq!(p.error_budget, None);
}

#[test]
fn progressive_preset() {
    let p = get("progressive");
    assert_eq!(p.window, MIN);
    assert_eq!(ladder(&p), vec![(5, 15), (20, 15), (50, 15), (100, 15)]);
    assert_eq!(p.ramp_budget, mins(90));
    assert_eq!(
        rules(&p),
        vec![
            ("error_rate".into(), Comparison::Absolute(0.01), 2, false),
            ("latency_p95".into(), Comparison::Absolute(1000.0), 5, false),
            (
                "custom:exceptions_15m".into(),
                Comparison::Absolute(9.0),
                2,
                false
            ),
            (
                "custom:health_check_failures".into(),
                Comparison::Absolute(0.0),
                1,
                true
            ),
        ]
    );
    assert_eq!(p.traffic.min_requests_per_route, 100);
    assert_eq!(p.baseline, BaselinePolicy::None);
    assert_eq!(
        p.error_budget,
        Some(ErrorBudgetGate {
            defer_below: 0.2,
            freeze_at: 0.0
        })
    );
}

#[test]
fn adaptive_weight_preset() {
    let p = get("adaptive-weight");
    assert_eq!(p.window, MIN);
    assert_eq!(
        p.ramp,
        Ramp::Adaptive(AdaptiveRamp {
            initial_weight: 5,
            min_increase: 5,
            max_increase: 25,
            latency_penalty: 3.0,
            error_penalty: 20.0,
            hold_windows: 2,
        })
    );
    assert_eq!(p.ramp_budget, mins(60));
    assert_eq!(
        rules(&p),
        vec![
            ("error_rate".into(), Comparison::Ratio(2.0), 2, false),
            ("latency_p99".into(), Comparison::Ratio(1.5), 2, false),
            ("error_rate".into(), Comparison::Ratio(5.0), 1, true),
            ("latency_p99".into(), Comparison::Ratio(3.0), 1, true),
        ]
    );
    assert_eq!(p.traffic.min_requests_per_route, 200);
    assert!(p.rules.iter().all(|r| r.min_requests == 200));
    assert_eq!(p.baseline, week_baseline());
    assert_eq!(p.error_budget, None);
}

#[test]
fn every_preset_passes_validation() {
    for name in PRESET_NAMES {
        let p = get(name);
        validate_policy(name, &p).unwrap_or_else(|e| panic!("{name}: {e}"));
        // A rule's name is unique within each preset.
        let mut names: Vec<&str> = p.rules.iter().map(|r| r.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), p.rules.len(), "{name}");
    }
}

#[test]
fn every_preset_round_trips_through_yaml() {
    for name in PRESET_NAMES {
        let p = get(name);
        let text = policy_to_yaml(&p);
        let back = parse_policy(&format!("{name}.shown.yaml"), &text)
            .unwrap_or_else(|e| panic!("{name}:\n{text}\n{e}"));
        assert_eq!(back, p, "{name}:\n{text}");
    }
}

#[test]
fn a_bare_preset_file_is_the_preset() {
    for name in PRESET_NAMES {
        assert_eq!(parse(&format!("preset: {name}\n")), get(name), "{name}");
    }
}

#[test]
fn round_trip_without_a_preset_and_with_odd_values() {
    let p = parse(
        "name: \"true\"\nwindow: 1m 30s\nladder:\n  - {weight: 1, hold_windows: 3}\n  - {weight: 100, hold: 3m}\n\
         ramp_budget: 2h\nbaseline: {lookback: 36h, min_history: 90m}\nerror_budget: {defer_below: 1, freeze_at: 0.05}\n\
         rules:\n  - {name: '#1: errors', metric: error_rate, delta: 0.1%, min_value: 0.1%, routes: ['GET /a: b', \"- x\"]}\n\
         \x20 - {metric: inflight, absolute: 12.5, consecutive: 7, min_requests: 1}\n",
    );
    assert_eq!(p.name, "true");
    assert_eq!(p.window, Duration::from_secs(90));
    assert_eq!(ladder(&p), vec![(1, 3), (100, 2)]);
    assert_eq!(p.preset, None);
    let text = policy_to_yaml(&p);
    assert_eq!(parse_policy("shown", &text), Ok(p), "{text}");
}

#[test]
fn overrides_merge_field_by_field() {
    let p = parse("preset: slo-ratio\ntraffic: {max_extensions: 5}\n");
    assert_eq!(p.traffic.max_extensions, 5);
    assert_eq!(
        p.traffic.min_requests_per_route, 1000,
        "kept from the preset"
    );
    assert_eq!(p.name, "slo-ratio");
    assert_eq!(ladder(&p), ladder(&get("slo-ratio")));

    let p = parse("preset: slo-ratio\nname: pay\nbaseline: {min_history: 48h}\ncollectors: {auto_resume: false}\n");
    assert_eq!(p.name, "pay");
    assert_eq!(p.preset.as_deref(), Some("slo-ratio"));
    assert_eq!(
        p.baseline,
        BaselinePolicy::Required {
            lookback: Duration::from_secs(7 * 86_400),
            min_history: Duration::from_secs(48 * 3600),
            min_requests_per_route: 10_000,
            approval: Default::default(),
        }
    );
    assert!(!p.collectors.auto_resume);
}

#[test]
fn preset_rules_follow_an_overridden_traffic_minimum() {
    let p = parse("preset: slo-ratio\ntraffic: {min_requests_per_route: 5000}\n");
    assert!(
        p.rules.iter().all(|r| r.min_requests == 5000),
        "{:?}",
        p.rules
    );
}

#[test]
fn error_budget_can_be_removed_changed_or_added() {
    assert_eq!(
        parse("preset: progressive\nerror_budget: none\n").error_budget,
        None
    );
    assert_eq!(
        parse("preset: progressive\nerror_budget: {defer_below: 30%}\n").error_budget,
        Some(ErrorBudgetGate {
            defer_below: 0.3,
            freeze_at: 0.0
        })
    );
    // On a preset without a gate, missing sub-fields take the defaults (20%, 0%).
    assert_eq!(
        parse("preset: slo-ratio\nerror_budget: {freeze_at: 5%}\n").error_budget,
        Some(ErrorBudgetGate {
            defer_below: 0.2,
            freeze_at: 0.05
        })
    );
}

#[test]
fn baseline_can_be_removed_or_added() {
    // Removing the baseline from a ratio preset needs absolute rules.
    let p = parse(
        "preset: slo-ratio\nbaseline: none\nrules:\n  - {metric: error_rate, absolute: 2%}\n",
    );
    assert_eq!(p.baseline, BaselinePolicy::None);
    let p = parse("preset: absolute-slo\nbaseline: {min_requests_per_route: 50}\n");
    assert_eq!(
        p.baseline,
        BaselinePolicy::Required {
            lookback: Duration::from_secs(7 * 86_400),
            min_history: Duration::from_secs(86_400),
            min_requests_per_route: 50,
            approval: Default::default(),
        }
    );
}

#[test]
fn rules_replace_and_add_rules_append() {
    let p = parse("preset: slo-ratio\nrules:\n  - {metric: error_rate, ratio: 3}\n");
    assert_eq!(
        rules(&p),
        vec![("error_rate".into(), Comparison::Ratio(3.0), 2, false)]
    );
    assert_eq!(p.rules[0].name, "error_rate-ratio");

    let p = parse("preset: slo-ratio\nadd_rules:\n  - {metric: cpu, delta: 15%, for: 10m}\n");
    assert_eq!(p.rules.len(), 3);
    let cpu: &Rule = &p.rules[2];
    assert_eq!(cpu.name, "cpu-delta");
    assert_eq!(cpu.metric, Metric::Cpu);
    assert_eq!(cpu.comparison, Comparison::Delta(0.15));
    assert_eq!(cpu.consecutive, 2, "10m of 5m windows");
    assert_eq!(cpu.min_requests, 1000, "the traffic default");

    let p = parse(
        "preset: slo-ratio\nrules:\n  - {metric: error_rate, ratio: 3}\nadd_rules:\n  - {metric: latency_p50, ratio: 2}\n",
    );
    assert_eq!(p.rules.len(), 2);
    assert_eq!(p.rules[1].metric, Metric::LatencyP50);
}

#[test]
fn ladder_and_adaptive_replace_the_ramp() {
    let p =
        parse("preset: slo-ratio\nladder: [{weight: 50, hold: 5m}, {weight: 100, hold: 15m}]\n");
    assert_eq!(
        p.ramp,
        Ramp::Ladder(vec![
            LadderStep {
                weight: 50,
                hold_windows: 1,
                min_requests: None,
            },
            LadderStep {
                weight: 100,
                hold_windows: 3,
                min_requests: None,
            },
        ])
    );
    let p = parse(
        "preset: slo-ratio\nadaptive: {initial_weight: 10, min_increase: 10, max_increase: 30, \
         latency_penalty: 1, error_penalty: 0, hold: 5m}\n",
    );
    assert_eq!(
        p.ramp,
        Ramp::Adaptive(AdaptiveRamp {
            initial_weight: 10,
            min_increase: 10,
            max_increase: 30,
            latency_penalty: 1.0,
            error_penalty: 0.0,
            hold_windows: 1,
        })
    );
    let p = parse("preset: adaptive-weight\nladder: [{weight: 100, hold: 2m}]\n");
    assert_eq!(ladder(&p), vec![(100, 2)]);
}

#[test]
fn a_new_window_keeps_holds_in_windows() {
    // The preset's holds are 2 windows; with 2-minute windows they last 4 minutes.
    let p = parse("preset: slo-ratio\nwindow: 2m\n");
    assert_eq!(p.window, mins(2));
    assert_eq!(ladder(&p), vec![(10, 2), (25, 2), (50, 2), (100, 2)]);
}

#[test]
fn defaults_without_a_preset() {
    let p = parse(
        "window: 30s\nladder: [{weight: 100, hold: 1m}]\nramp_budget: 5m\nrules: [{metric: error_rate, ratio: 2}]\n",
    );
    assert_eq!(p.name, "custom");
    assert_eq!(p.preset, None);
    assert_eq!(p.traffic.min_requests_per_route, 100);
    assert_eq!(p.traffic.max_extensions, 3);
    assert_eq!(
        p.baseline,
        BaselinePolicy::Required {
            lookback: Duration::from_secs(7 * 86_400),
            min_history: Duration::from_secs(86_400),
            min_requests_per_route: 1000,
            approval: Default::default(),
        }
    );
    assert!(p.collectors.auto_resume);
    assert_eq!(p.error_budget, None);
    let r = &p.rules[0];
    assert_eq!((r.consecutive, r.critical, r.min_requests), (2, false, 100));
    // An error-rate ratio without min_value gets the 0.1% floor (issue 17).
    assert_eq!(r.min_value, Some(0.001));
    assert!(r.routes.is_empty());
    assert_eq!(ladder(&p), vec![(100, 2)]);
}

#[test]
fn units_resolve_per_metric() {
    let p = parse(
        "preset: absolute-slo\nrules:\n\
         - {metric: error_rate, absolute: 1%}\n\
         - {metric: cpu, absolute: 0.85}\n\
         - {metric: latency_p99, absolute: 1s, min_value: 20ms}\n\
         - {metric: latency_p50, absolute: 250}\n\
         - {metric: memory, absolute: \"90 %\"}\n\
         - {metric: custom:queue, absolute: 40, min_value: 2}\n",
    );
    let values: Vec<(Comparison, Option<f64>)> = p
        .rules
        .iter()
        .map(|r| (r.comparison.clone(), r.min_value))
        .collect();
    assert_eq!(
        values,
        vec![
            (Comparison::Absolute(0.01), None),
            (Comparison::Absolute(0.85), None),
            (Comparison::Absolute(1000.0), Some(20.0)),
            (Comparison::Absolute(250.0), None),
            (Comparison::Absolute(0.9), None),
            (Comparison::Absolute(40.0), Some(2.0)),
        ]
    );
}

#[test]
fn tests_and_step_minimums_round_trip_without_a_preset() {
    let p = parse(
        "window: 2m\nladder:\n  - {weight: 10, hold: 2m, min_requests: 50}\n  - {weight: 100, hold_windows: 2}\n\
         ramp_budget: 20m\nrules:\n\
         \x20 - {metric: error_rate, ratio: 1.1, test: {kind: fisher, alpha: \"0.5%\", warn_alpha: 5%}}\n\
         \x20 - {metric: latency_p99, delta: 20ms, test: {kind: mann_whitney, alpha: 0.0001, min_effect: 0}}\n\
         \x20 - {metric: error_rate, absolute: 2%, name: abs, test: {kind: sequential_errors, alpha: 0.5, min_effect: 0.1}}\n",
    );
    assert_eq!(steps(&p), vec![(10, 1, Some(50)), (100, 2, None)]);
    let tests: Vec<Option<TestSpec>> = p.rules.iter().map(|r| r.test.clone()).collect();
    assert_eq!(
        tests,
        vec![
            spec(TestKind::Fisher, 0.005, Some(0.05), None),
            spec(TestKind::MannWhitney, 0.0001, None, Some(0.0)),
            spec(TestKind::SequentialErrors, 0.5, None, Some(0.1)),
        ]
    );
    let text = policy_to_yaml(&p);
    assert!(text.contains("kind: fisher"), "{text}");
    assert!(text.contains("min_requests: 50"), "{text}");
    assert_eq!(parse_policy("shown", &text), Ok(p), "{text}");
}

#[test]
fn statistical_overrides() {
    // A new ladder replaces the phases and their minimum samples.
    let p = parse(
        "preset: statistical\nladder:\n  - {weight: 10, hold: 5m, min_requests: 200}\n  - {weight: 100, hold: 10m}\n",
    );
    assert_eq!(steps(&p), vec![(10, 1, Some(200)), (100, 2, None)]);
    assert_eq!(p.rules, get("statistical").rules, "rules kept");
    // `rules:` replaces the preset's rules and their tests.
    let p = parse("preset: statistical\nrules:\n  - {metric: error_rate, ratio: 2}\n");
    assert_eq!(p.rules.len(), 1);
    assert_eq!(p.rules[0].test, None);
    // A new window keeps the phases in windows, with their minimums.
    let p = parse("preset: statistical\nwindow: 3m\n");
    assert_eq!(
        steps(&p),
        vec![(5, 1, Some(100)), (25, 1, Some(500)), (100, 1, Some(1000))]
    );
    // Rules follow a raised traffic minimum; step minimums do not change.
    let p = parse("preset: statistical\ntraffic: {min_requests_per_route: 300}\n");
    assert!(p.rules.iter().all(|r| r.min_requests == 300));
    assert_eq!(steps(&p)[2], (100, 1, Some(1000)));
}

#[test]
fn canaryd_overrides() {
    // The storm rule keeps its own minimum; the others follow traffic.
    let p = parse("preset: canaryd\ntraffic: {min_requests_per_route: 400}\n");
    let mins: Vec<(&str, u64)> = p
        .rules
        .iter()
        .map(|r| (r.name.as_str(), r.min_requests))
        .collect();
    assert_eq!(
        mins,
        vec![
            ("errors", 400),
            ("latency-p95", 400),
            ("latency-p50", 400),
            ("latency-p99", 400),
            ("error-storm", 50),
            ("latency-storm", 400)
        ]
    );
    // A test on an added rule.
    let p = parse(
        "preset: canaryd\nadd_rules:\n  - name: p50\n    metric: latency_p50\n    ratio: 1.2\n    test:\n      kind: mann_whitney\n      alpha: 0.001\n",
    );
    assert_eq!(
        p.rules[6].test,
        spec(TestKind::MannWhitney, 0.001, None, None)
    );
    // `baseline: none` breaks the inherited ratio rules and the test.
    let e =
        parse_policy("p.yaml", "preset: canaryd\nbaseline: none\n").expect_err("needs a baseline");
    assert!(e.for_field("rules[0].test").count() == 1, "{e}");
}
