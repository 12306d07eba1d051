//! How many window decisions `step()` makes per second: a policy with 4 rules
//! (error ratio, p99 ratio, p95 absolute, cpu delta) over 10 routes, on a
//! healthy window (every rule judged on every route: the most work a window
//! can take) and on a breaching one (evidence built, rollback decided).
//!
//! Run: `cargo bench -p canaryd-core --bench step`

use canaryd_core::observation::{LatencySummary, Observation, RouteWindow, Window};
use canaryd_core::policy::{
    BaselinePolicy, CollectorPolicy, Comparison, LadderStep, Metric, Policy, Ramp, Rule,
    TrafficPolicy,
};
use canaryd_core::rollout::{step, Event, Phase, Rollout};
use canaryd_core::vocab::{RolloutKey, Route, Timestamp};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

fn rule(name: &str, metric: Metric, comparison: Comparison) -> Rule {
    Rule {
        name: name.into(),
        metric,
        comparison,
        routes: vec![],
        consecutive: 2,
        critical: false,
        min_requests: 500,
        min_value: None,
        test: None,
    }
}

fn policy() -> Policy {
    Policy {
        name: "bench".into(),
        preset: None,
        window: Duration::from_secs(60),
        ramp: Ramp::Ladder(
            [10, 25, 50, 100]
                .iter()
                .map(|&w| LadderStep {
                    weight: w,
                    hold_windows: 1_000_000,
                    min_requests: None,
                })
                .collect(),
        ),
        ramp_budget: Duration::from_secs(u64::from(u32::MAX)),
        rules: vec![
            rule("errors", Metric::ErrorRate, Comparison::Ratio(2.0)),
            rule("p99", Metric::LatencyP99, Comparison::Ratio(1.5)),
            rule("p95", Metric::LatencyP95, Comparison::Absolute(1000.0)),
            rule("cpu", Metric::Cpu, Comparison::Delta(0.15)),
        ],
        traffic: TrafficPolicy {
            min_requests_per_route: 500,
            max_extensions: 3,
        },
        baseline: BaselinePolicy::None,
        error_budget: None,
        collectors: CollectorPolicy { auto_resume: true },
    }
}

fn obs(errors: u64) -> Observation {
    Observation {
        requests: 2_000,
        errors,
        latency_ms: LatencySummary {
            p50: Some(40.0),
            p95: Some(120.0),
            p99: Some(300.0),
        },
        cpu: Some(0.4),
        ..Default::default()
    }
}

fn window(canary_errors: u64) -> Window {
    let routes: BTreeMap<Route, RouteWindow> = (0..10)
        .map(|i| {
            (
                Route(format!("GET /route/{i}")),
                RouteWindow {
                    canary: Some(obs(canary_errors)),
                    baseline: Some(obs(10)),
                },
            )
        })
        .collect();
    Window {
        routes,
        ..Default::default()
    }
}

fn ramping(p: &Policy) -> Rollout {
    let mut r = Rollout::new(RolloutKey::new("payments/api", "v2"));
    r.phase = Phase::Ramping;
    r.weight = 10;
    r.started_at = Some(Timestamp(0));
    r.ramp_started_at = Some(Timestamp(0));
    let _ = p;
    r
}

fn bench(c: &mut Criterion) {
    let p = policy();
    let state = ramping(&p);
    let mut g = c.benchmark_group("step");
    g.throughput(Throughput::Elements(1));
    for (name, errors) in [
        ("healthy_4_rules_x_10_routes", 10),
        ("breach_4_rules_x_10_routes", 200),
    ] {
        let w = window(errors);
        g.bench_function(name, |b| {
            b.iter_batched(
                || Event::WindowClosed { window: w.clone() },
                |ev| black_box(step(black_box(&state), ev, &p, Timestamp(60_000))),
                BatchSize::SmallInput,
            )
        });
    }

    // The same window judged by a rule with an anytime-valid test: on a
    // breaching window the test replays the route's looks so far (here 20
    // earlier windows on each of the 10 routes).
    let mut seq = policy();
    seq.rules[0].test = Some(canaryd_core::policy::TestSpec {
        kind: canaryd_core::policy::TestKind::SequentialErrors,
        alpha: 0.01,
        warn_alpha: None,
        min_effect: None,
        transient: None,
    });
    let mut seq_state = ramping(&seq);
    for i in 0..10 {
        let looks = vec![
            canaryd_core::significance::Look {
                canary_errors: 4,
                baseline_errors: 10,
                canary_share: 0.1,
                canary_requests: 1_000,
                baseline_requests: 9_000,
                span_ms: None,
                latency: None,
            };
            20
        ];
        seq_state.looks.insert(
            canaryd_core::judge::look_key("errors", &Route(format!("GET /route/{i}"))),
            looks,
        );
    }
    let w = window(200);
    g.bench_function("breach_with_sequential_test_20_looks_x_10_routes", |b| {
        b.iter_batched(
            || Event::WindowClosed { window: w.clone() },
            |ev| black_box(step(black_box(&seq_state), ev, &seq, Timestamp(60_000))),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
