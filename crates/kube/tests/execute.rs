//! A whole rollout driven by the controller's plan/execute loop against the
//! real driver and a real SQLite store, with a "crash" (all in-memory state
//! dropped, the store reopened) between every reconcile.

use canaryd_core::observation::{Baseline, BaselineStatus, Observation, RouteWindow, Window};
use canaryd_core::rollout::Phase;
use canaryd_core::vocab::{RolloutKey, Route, Timestamp, Weight};
use canaryd_driver::Driver;
use canaryd_driver::{CollectingNotifier, VirtualRouter};
use canaryd_kube::crd::CanaryStatus;
use canaryd_kube::execute::execute;
use canaryd_kube::reconcile::{plan, ObservedTarget};
use canaryd_kube::status::{mirror, push_window};
use canaryd_policy::parse_policy;
use canaryd_ports::{MetricsSource, SourceError};
use canaryd_store::SqliteStore;
use std::collections::BTreeMap;
use std::time::Duration;

const POLICY: &str = "name: t
window: 60s
ladder:
  - {weight: 10, hold_windows: 1}
  - {weight: 50, hold_windows: 1}
  - {weight: 100, hold_windows: 1}
ramp_budget: 1h
traffic: {min_requests_per_route: 20, max_extensions: 3}
baseline: {lookback: 7d, min_history: 1h, min_requests_per_route: 50}
rules:
  - {name: errors, metric: error_rate, absolute: 5%, consecutive: 2}
";

/// Healthy, or (once `bad_from` windows were read) a canary failing half its requests.
struct Source {
    reads: u32,
    bad_from: Option<u32>,
}

fn obs(requests: u64, errors: u64) -> Observation {
    Observation {
        requests,
        errors,
        ..Default::default()
    }
}

#[canaryd_ports::async_trait]
impl MetricsSource for Source {
    async fn baseline(&mut self, _key: &RolloutKey) -> Result<BaselineStatus, SourceError> {
        let mut routes = BTreeMap::new();
        routes.insert(Route::from("GET /"), obs(100_000, 10));
        Ok(BaselineStatus::Available(Baseline {
            history_hours: 168.0,
            routes,
        }))
    }

    async fn window(
        &mut self,
        _key: &RolloutKey,
        _weight: Weight,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Window, SourceError> {
        self.reads += 1;
        let errors = if self.bad_from.is_some_and(|b| self.reads >= b) {
            500
        } else {
            0
        };
        let mut routes = BTreeMap::new();
        routes.insert(
            Route::from("GET /"),
            RouteWindow {
                canary: Some(obs(1_000, errors)),
                baseline: Some(obs(9_000, 1)),
            },
        );
        Ok(Window {
            start,
            end,
            routes,
            ..Default::default()
        })
    }
}

/// Reconciles until nothing more happens, reopening everything each time.
fn run(db: &std::path::Path, bad_from: Option<u32>) -> (CanaryStatus, Vec<String>, u32) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let policy = parse_policy("t", POLICY).unwrap();
    let target = ObservedTarget::Found {
        canary: "b2".into(),
        stable: "a1".into(),
    };
    let mut status = CanaryStatus::default();
    let mut now = Timestamp(1_000_000);
    let mut actions = Vec::new();
    let mut source = Source { reads: 0, bad_from };
    for _ in 0..50 {
        // A fresh driver every time: only the store carries state across.
        let router = VirtualRouter::default();
        let mut driver = Driver::new(
            SqliteStore::open(db).unwrap(),
            Box::new(router.clone()),
            Box::new(CollectingNotifier::default()),
            policy.clone(),
        )
        .unwrap();
        let key = canaryd_kube::reconcile::rollout_key("shop", "web", "b2");
        let stored = canaryd_driver::driver::load_rollout(&driver.store(), &key).unwrap();
        let p = plan(
            "shop",
            "web",
            Some(&status),
            &target,
            stored.as_ref(),
            Duration::from_secs(60),
            now,
        );
        let done = rt
            .block_on(execute(&p, &mut driver, &mut source, now))
            .unwrap();
        actions.extend(router.actions());
        if let Some(state) = &done.state {
            status = mirror(&status, state, Some(1), "t");
        }
        for w in done.windows {
            push_window(&mut status.windows, w);
        }
        match p.requeue_after {
            None => break,
            Some(d) => now = now.plus(d.max(Duration::from_secs(1))),
        }
    }
    (status, actions, source.reads)
}

#[test]
fn healthy_rollout_is_promoted_with_each_action_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let (status, actions, reads) = run(&db, None);
    assert_eq!(status.phase.as_deref(), Some("promoted"));
    assert_eq!(
        actions,
        vec![
            "set_weight 10",
            "set_weight 50",
            "set_weight 100",
            "promote"
        ]
    );
    assert_eq!(
        reads, 3,
        "one read per window, none repeated across restarts"
    );
    assert!(status.windows.iter().all(|w| w.verdict == "healthy"));
    let store = SqliteStore::open(&db).unwrap();
    let entries = store.audit_entries(Some("shop/web"), Some("b2")).unwrap();
    assert!(entries.len() >= 7, "{}", entries.len());
}

#[test]
fn sustained_breach_rolls_back_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let (status, actions, _) = run(&db, Some(2));
    assert_eq!(status.phase.as_deref(), Some("rolled_back"));
    assert_eq!(
        actions.iter().filter(|a| *a == "roll_back").count(),
        1,
        "{actions:?}"
    );
    assert!(!actions.contains(&"promote".to_string()));
    let breaches = status
        .windows
        .iter()
        .filter(|w| w.verdict == "breach")
        .count();
    assert_eq!(breaches, 2);
    assert!(matches!(
        status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.reason.as_str()),
        Some("RolledBack")
    ));
    let _ = Phase::Pending;
}
