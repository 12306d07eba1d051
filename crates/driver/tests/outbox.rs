//! The driver's promises: a failed action stays in the outbox and runs exactly
//! once later (also after a restart on the same database); a notifier that is
//! down never holds up a rollback; the audit log in the store replays to the
//! stored state.

use canaryd_core::effect::{AuditRecord, Notice};
use canaryd_core::observation::{
    Baseline, BaselineStatus, LatencySummary, Observation, RouteWindow, Window,
};
use canaryd_core::replay::replay;
use canaryd_core::rollout::{Event, Phase};
use canaryd_core::vocab::{RolloutKey, Route, Timestamp, Weight};
use canaryd_driver::{CollectingNotifier, Driver, DriverError, VirtualRouter};
use canaryd_policy::preset;
use canaryd_ports::{ActionError, Notifier, TrafficRouter};
use canaryd_store::{AuditKind, SqliteStore};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A router that fails while `down` is set, and counts every call it executes.
#[derive(Clone, Default)]
struct FlakyRouter {
    down: Arc<Mutex<bool>>,
    calls: Arc<Mutex<Vec<String>>>,
}

impl FlakyRouter {
    fn record(&self, what: String) -> Result<(), ActionError> {
        if *self.down.lock().unwrap() {
            return Err(ActionError::transient(
                "gateway API server unreachable: connection refused",
            ));
        }
        self.calls.lock().unwrap().push(what);
        Ok(())
    }
}

#[canaryd_ports::async_trait]
impl TrafficRouter for FlakyRouter {
    async fn set_weight(&mut self, _k: &RolloutKey, w: Weight) -> Result<(), ActionError> {
        self.record(format!("set_weight {w}"))
    }
    async fn roll_back(&mut self, _k: &RolloutKey) -> Result<(), ActionError> {
        self.record("roll_back".into())
    }
    async fn promote(&mut self, _k: &RolloutKey) -> Result<(), ActionError> {
        self.record("promote".into())
    }
}

struct DeadNotifier;

#[canaryd_ports::async_trait]
impl Notifier for DeadNotifier {
    async fn notify(&mut self, _k: &RolloutKey, _n: &Notice) -> Result<(), ActionError> {
        Err(ActionError::transient("hooks.slack.com: 503"))
    }
}

fn obs(requests: u64, errors: u64) -> Observation {
    Observation {
        requests,
        errors,
        latency_ms: LatencySummary {
            p50: Some(40.0),
            p95: Some(120.0),
            p99: Some(300.0),
        },
        ..Default::default()
    }
}

fn window(canary_errors: u64, end: i64) -> Event {
    let mut routes = BTreeMap::new();
    routes.insert(
        Route::from("GET /pay"),
        RouteWindow {
            canary: Some(obs(2_000, canary_errors)),
            baseline: Some(obs(20_000, 100)),
        },
    );
    Event::WindowClosed {
        window: Window {
            routes,
            start: Timestamp(end - 300_000),
            end: Timestamp(end),
            ..Default::default()
        },
    }
}

fn baseline() -> Event {
    let mut routes = BTreeMap::new();
    routes.insert(Route::from("GET /pay"), obs(500_000, 2_500));
    Event::Start {
        baseline: BaselineStatus::Available(Baseline {
            history_hours: 168.0,
            routes,
        }),
    }
}

fn key() -> RolloutKey {
    RolloutKey::new("payments/payment-api", "v9")
}

#[tokio::test]
async fn a_failed_rollback_stays_in_the_outbox_and_runs_exactly_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let policy = preset("slo-ratio").unwrap();
    let router = FlakyRouter::default();

    {
        let store = SqliteStore::open(&db).unwrap();
        let mut d = Driver::new(
            store,
            Box::new(router.clone()),
            Box::new(CollectingNotifier::default()),
            policy.clone(),
        )
        .unwrap();
        d.apply(&key(), baseline(), Timestamp(0)).await.unwrap();
        d.apply(&key(), window(100, 300_000), Timestamp(300_000))
            .await
            .unwrap();
        // The router goes down just as the second breach decides a rollback.
        *router.down.lock().unwrap() = true;
        let err = d
            .apply(&key(), window(100, 600_000), Timestamp(600_000))
            .await
            .unwrap_err();
        assert!(
            matches!(err, DriverError::Action { ref effect, .. } if effect == "roll_back"),
            "{err}"
        );
        // The decision is committed even though the action failed.
        assert!(matches!(
            d.load(&key()).unwrap().phase,
            Phase::RolledBack { .. }
        ));
        let pending = d.store().pending_effects(None, None).unwrap();
        assert_eq!(
            pending.iter().map(|p| p.kind.as_str()).collect::<Vec<_>>(),
            ["roll_back", "notify"]
        );
    } // the process "dies" here

    *router.down.lock().unwrap() = false;
    let store = SqliteStore::open(&db).unwrap();
    let notifier = CollectingNotifier::default();
    let mut d = Driver::new(
        store,
        Box::new(router.clone()),
        Box::new(notifier.clone()),
        policy,
    )
    .unwrap();
    assert_eq!(d.flush(&key(), Timestamp(660_000)).await.unwrap(), 2);
    assert_eq!(
        d.flush(&key(), Timestamp(720_000)).await.unwrap(),
        0,
        "nothing runs twice"
    );
    let calls = router.calls.lock().unwrap().clone();
    assert_eq!(calls, ["set_weight 10", "roll_back"]);
    assert_eq!(notifier.notices().len(), 1);
    assert_eq!(
        canaryd_ports::words::title(&notifier.notices()[0]),
        "payments/payment-api v9 rolled back"
    );

    // Both the failed attempt and the successful one are in the audit log.
    let actions: Vec<_> = d
        .store()
        .audit_entries(Some("payments/payment-api"), Some("v9"))
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == AuditKind::Action && e.payload["effect"] == "roll_back")
        .map(|e| e.payload["result"]["ok"].as_bool().unwrap())
        .collect();
    assert_eq!(actions, [false, true]);
}

#[tokio::test]
async fn a_dead_notifier_never_holds_up_a_rollback() {
    let policy = preset("slo-ratio").unwrap();
    let router = VirtualRouter::default();
    let mut d = Driver::new(
        SqliteStore::open_in_memory().unwrap(),
        Box::new(router.clone()),
        Box::new(DeadNotifier),
        policy,
    )
    .unwrap();
    d.apply(&key(), baseline(), Timestamp(0)).await.unwrap();
    d.apply(&key(), window(100, 300_000), Timestamp(300_000))
        .await
        .unwrap();
    let applied = d
        .apply(&key(), window(100, 600_000), Timestamp(600_000))
        .await
        .unwrap();
    assert!(matches!(applied.state.phase, Phase::RolledBack { .. }));
    assert_eq!(router.weight(), 0);
    assert!(d.store().pending_effects(None, None).unwrap().is_empty());
    let failed: Vec<_> = d
        .store()
        .audit_entries(None, None)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == AuditKind::Notification)
        .map(|e| {
            e.payload["result"]["error"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        failed.len(),
        2,
        "started + rolled back notices were attempted"
    );
    assert!(failed.iter().all(|f| f.contains("503")));
}

#[tokio::test]
async fn the_stored_audit_log_replays_to_the_stored_state() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let policy = preset("slo-ratio").unwrap();
    let mut d = Driver::new(
        SqliteStore::open(&db).unwrap(),
        Box::new(VirtualRouter::default()),
        Box::new(CollectingNotifier::default()),
        policy.clone(),
    )
    .unwrap();
    d.apply(&key(), baseline(), Timestamp(0)).await.unwrap();
    let mut t = 0;
    for errors in [10, 10, 100, 10, 10, 10, 100, 100] {
        t += 300_000;
        d.apply(&key(), window(errors, t), Timestamp(t))
            .await
            .unwrap();
    }
    let stored = d.load(&key()).unwrap();
    let entries = d
        .store()
        .audit_entries(Some("payments/payment-api"), Some("v9"))
        .unwrap();
    let records: Vec<(Timestamp, AuditRecord)> = entries
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                AuditKind::WindowVerdict | AuditKind::Decision | AuditKind::Approval
            )
        })
        .map(|e| {
            (
                Timestamp(e.at_ms),
                serde_json::from_value(e.payload.clone()).unwrap(),
            )
        })
        .collect();
    let rebuilt = replay(key(), &policy, records.iter().map(|(t, r)| (*t, r)));
    assert_eq!(rebuilt, stored);
    assert!(
        matches!(stored.phase, Phase::RolledBack { .. }),
        "{:?}",
        stored.phase
    );
    assert_eq!(stored.windows, 8);
}

#[tokio::test]
async fn refused_commands_change_nothing_and_are_audited() {
    use canaryd_core::effect::{OperatorAction, OperatorCommand};
    let policy = preset("slo-ratio").unwrap();
    let mut d = Driver::new(
        SqliteStore::open_in_memory().unwrap(),
        Box::new(VirtualRouter::default()),
        Box::new(CollectingNotifier::default()),
        policy,
    )
    .unwrap();
    d.apply(&key(), baseline(), Timestamp(0)).await.unwrap();
    let before = d.load(&key()).unwrap();
    let cmd = OperatorCommand {
        action: OperatorAction::Approve,
        by: "mallory".into(),
        reason: None,
    };
    let applied = d
        .apply(&key(), Event::Operator(cmd), Timestamp(10))
        .await
        .unwrap();
    let refused = applied
        .refused
        .expect("approving a ramping rollout is refused");
    assert!(
        refused.contains("only a rollout awaiting approval can be approved"),
        "{refused}"
    );
    assert_eq!(applied.state.phase, before.phase);
    assert_eq!(applied.state.weight, before.weight);
    let last = d.store().audit_entries(None, None).unwrap().pop().unwrap();
    assert_eq!(last.kind, AuditKind::Approval);
    assert_eq!(last.payload["command"]["by"], "mallory");
    assert_eq!(last.payload["decision"]["decision"], "refuse");
}

#[tokio::test]
async fn a_scrubber_sees_every_payload_before_it_is_stored() {
    use canaryd_core::observation::CollectorHealth;
    let policy = preset("slo-ratio").unwrap();
    let scrub: canaryd_driver::driver::Scrubber = Box::new(|v: &mut serde_json::Value| {
        fn walk(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::String(s) => *s = s.replace("hunter2", "[REDACTED]"),
                serde_json::Value::Array(a) => a.iter_mut().for_each(walk),
                serde_json::Value::Object(m) => m.values_mut().for_each(walk),
                _ => {}
            }
        }
        walk(v)
    });
    let mut d = Driver::new(
        SqliteStore::open_in_memory().unwrap(),
        Box::new(VirtualRouter::default()),
        Box::new(CollectingNotifier::default()),
        policy,
    )
    .unwrap()
    .with_scrubber(scrub);
    d.apply(&key(), baseline(), Timestamp(0)).await.unwrap();
    let Event::WindowClosed { mut window } = window(10, 300_000) else {
        unreachable!()
    };
    window.collectors = CollectorHealth::Unhealthy(
        "GET https://admin:hunter2@prom:9090/api/v1/query timed out".into(),
    );
    d.apply(&key(), Event::WindowClosed { window }, Timestamp(300_000))
        .await
        .unwrap();
    let mut out = Vec::new();
    d.store().export_audit(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("admin:[REDACTED]@prom"),
        "the reason is kept, scrubbed"
    );
    assert!(!text.contains("hunter2"));
}

/// A rollout a newer revision replaced is recorded as superseded, and
/// nothing of it is carried out any more: an action it still had in the
/// outbox stays there (the new rollout owns the traffic). Its audit log,
/// superseded record included, replays to the stored state.
#[tokio::test]
async fn a_superseded_rollout_is_recorded_and_its_outbox_left_alone() {
    use canaryd_core::vocab::Revision;
    let policy = preset("slo-ratio").unwrap();
    let router = FlakyRouter::default();
    let mut d = Driver::new(
        SqliteStore::open_in_memory().unwrap(),
        Box::new(router.clone()),
        Box::new(CollectingNotifier::default()),
        policy.clone(),
    )
    .unwrap();
    *router.down.lock().unwrap() = true;
    assert!(d.apply(&key(), baseline(), Timestamp(0)).await.is_err());
    *router.down.lock().unwrap() = false;
    let before = d.load(&key()).unwrap();
    let pending = d.store().pending_effects(None, None).unwrap().len();
    assert!(pending > 0);

    let superseded = Event::Superseded {
        by: Revision("v10".into()),
    };
    d.record(&key(), superseded, Timestamp(1_000))
        .await
        .unwrap();
    assert!(
        router.calls.lock().unwrap().is_empty(),
        "nothing carried out"
    );
    assert_eq!(
        d.store().pending_effects(None, None).unwrap().len(),
        pending
    );
    let after = d.load(&key()).unwrap();
    assert_eq!(
        (after.phase.clone(), after.weight),
        (before.phase, before.weight)
    );

    let entries = d
        .store()
        .audit_entries(Some("payments/payment-api"), Some("v9"))
        .unwrap();
    let last = entries.last().unwrap();
    assert_eq!(last.kind, AuditKind::Decision);
    assert_eq!(last.payload["decision"], "superseded");
    assert_eq!(last.payload["by_revision"], "v10");
    let records: Vec<(Timestamp, AuditRecord)> = entries
        .iter()
        .filter(|e| matches!(e.kind, AuditKind::WindowVerdict | AuditKind::Decision))
        .map(|e| {
            (
                Timestamp(e.at_ms),
                serde_json::from_value(e.payload.clone()).unwrap(),
            )
        })
        .collect();
    let rebuilt = replay(key(), &policy, records.iter().map(|(t, r)| (*t, r)));
    assert_eq!(rebuilt, after);
}

/// A revision known only from a Kubernetes status (the store never held
/// its rollout) gets its superseded record, but no rollout row: it must not
/// show up in the history as a pending rollout.
#[tokio::test]
async fn superseding_a_rollout_the_store_never_held_writes_only_the_record() {
    use canaryd_core::vocab::Revision;
    let mut d = Driver::new(
        SqliteStore::open_in_memory().unwrap(),
        Box::new(VirtualRouter::default()),
        Box::new(CollectingNotifier::default()),
        preset("slo-ratio").unwrap(),
    )
    .unwrap();
    let superseded = Event::Superseded {
        by: Revision("v10".into()),
    };
    d.record(&key(), superseded, Timestamp(1_000))
        .await
        .unwrap();
    assert!(canaryd_driver::driver::load_rollout(&d.store(), &key())
        .unwrap()
        .is_none());
    let entries = d
        .store()
        .audit_entries(Some("payments/payment-api"), Some("v9"))
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].payload["decision"], "superseded");
}
