//! Controller cost with many `Canary` objects: memory for 1,000 Canaries
//! (the objects as the watch cache holds them, plus each one's rollout
//! state) and the time of a reconcile that does no I/O (plan + status).
//!
//! Run: `cargo run --release -p canaryd-kube --example reconcile_bench`

use canaryd_core::rollout::{Phase, Rollout};
use canaryd_core::vocab::Timestamp;
use canaryd_kube::crd::{Canary, CanaryStatus, WindowStatus};
use canaryd_kube::reconcile::{plan, rollout_key, ObservedTarget};
use canaryd_kube::status::{mirror, push_window};
use std::hint::black_box;
use std::time::{Duration, Instant};

const CANARIES: usize = 1_000;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn canary(i: usize) -> Canary {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "canaryd.io/v1alpha1", "kind": "Canary",
        "metadata": {"name": format!("svc-{i}"), "namespace": format!("team-{}", i % 50),
                     "uid": format!("uid-{i}"), "generation": 3, "resourceVersion": "100"},
        "spec": {
            "target": {"stable": format!("svc-{i}"), "canary": format!("svc-{i}-canary")},
            "router": {"httpRoute": {"name": format!("svc-{i}"), "stableService": "s", "canaryService": "c"}},
            "policy": {"configMap": {"name": "policy"}},
            "metrics": {"prometheus": {"address": "http://prometheus:9090",
                        "bearerToken": {"name": "prom", "key": "token"}}},
            "notify": [{"slackWebhookUrl": {"name": "slack", "key": "url"}}]
        },
        "status": {"phase": "ramping", "revision": "b2", "weight": 25, "step": 1,
                   "windows": (1..=10).map(|n| serde_json::json!({"index": n, "verdict": "healthy", "weight": 25, "end": "2026-01-01T00:00:00Z"})).collect::<Vec<_>>(),
                   "conditions": [{"type": "Ready", "status": "False", "reason": "Progressing",
                                   "message": "ramping at 25%", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                   "observedGeneration": 3}
    }))
    .expect("valid Canary")
}

fn main() {
    let before = rss_kib();
    let objects: Vec<Canary> = (0..CANARIES).map(canary).collect();
    let states: Vec<Rollout> = objects
        .iter()
        .map(|c| {
            let ns = c.metadata.namespace.clone().unwrap_or_default();
            let name = c.metadata.name.clone().unwrap_or_default();
            let mut r = Rollout::new(rollout_key(&ns, &name, "b2"));
            r.phase = Phase::Ramping;
            r.started_at = Some(Timestamp(0));
            r.windows = 7;
            r.weight = 25;
            r
        })
        .collect();
    let after = rss_kib();

    let target = ObservedTarget::Found {
        canary: "b2".into(),
        stable: "a1".into(),
    };
    let window = Duration::from_secs(300);
    let now = Timestamp(7 * 300_000 + 100_000); // mid-window: nothing due, no I/O
    let rounds = 200;
    let started = Instant::now();
    for _ in 0..rounds {
        for (c, r) in objects.iter().zip(&states) {
            let status = c.status.as_ref();
            let p = plan(
                c.metadata.namespace.as_deref().unwrap_or_default(),
                c.metadata.name.as_deref().unwrap_or_default(),
                status,
                &target,
                Some(r),
                window,
                now,
            );
            let mut s = mirror(
                status.unwrap_or(&CanaryStatus::default()),
                r,
                c.metadata.generation,
                "2026-01-01T00:00:00Z",
            );
            push_window(
                &mut s.windows,
                WindowStatus {
                    index: 8,
                    verdict: "healthy".into(),
                    weight: 25,
                    end: String::new(),
                },
            );
            black_box((p, s));
        }
    }
    let per = started.elapsed() / (rounds * CANARIES as u32);
    println!("canaries: {CANARIES}");
    println!(
        "rss before: {} KiB, with {CANARIES} Canaries + rollout states: {} KiB (+{} KiB)",
        before,
        after,
        after.saturating_sub(before)
    );
    println!(
        "reconcile without I/O (plan + status mirror): {:.2} µs per Canary ({} reconciles)",
        per.as_nanos() as f64 / 1000.0,
        rounds as usize * CANARIES
    );
}
