//! The live loop in virtual time (tokio's paused clock): windows close on
//! schedule, operator commands arrive between them, source failures become
//! unreliable windows, and a loop stopped mid-rollout resumes from the store.

use canaryd_core::effect::{OperatorAction, OperatorCommand};
use canaryd_core::observation::{
    Baseline, BaselineStatus, LatencySummary, Observation, RouteWindow, Window,
};
use canaryd_core::rollout::Phase;
use canaryd_core::vocab::{RolloutKey, Route, Timestamp, Weight};
use canaryd_driver::{
    run_live, CollectingNotifier, Driver, LiveLimits, Progress, Stopped, VirtualRouter,
};
use canaryd_policy::preset;
use canaryd_ports::{MetricsSource, SourceError};
use canaryd_store::{AuditReport, SqliteStore};
use std::collections::{BTreeMap, VecDeque};
use tokio::sync::mpsc;

/// Windows from a script; `None` entries are source failures.
struct Script {
    baseline: BaselineStatus,
    windows: VecDeque<Option<u64>>,
    asked: Vec<(Weight, Timestamp, Timestamp)>,
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

#[canaryd_ports::async_trait]
impl MetricsSource for Script {
    async fn baseline(&mut self, _k: &RolloutKey) -> Result<BaselineStatus, SourceError> {
        Ok(self.baseline.clone())
    }

    async fn window(
        &mut self,
        _k: &RolloutKey,
        weight: Weight,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Window, SourceError> {
        self.asked.push((weight, start, end));
        match self.windows.pop_front().flatten() {
            None => Err(SourceError::transient(
                "prometheus at 127.0.0.1:9090: connection refused",
            )),
            Some(errors) => {
                let mut routes = BTreeMap::new();
                routes.insert(
                    Route::from("GET /pay"),
                    RouteWindow {
                        canary: Some(obs(2_000, errors)),
                        baseline: Some(obs(20_000, 100)),
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
    }
}

fn available() -> BaselineStatus {
    let mut routes = BTreeMap::new();
    routes.insert(Route::from("GET /pay"), obs(500_000, 2_500));
    BaselineStatus::Available(Baseline {
        history_hours: 168.0,
        routes,
    })
}

fn key() -> RolloutKey {
    RolloutKey::new("payments/payment-api", "v7")
}

fn driver(store: SqliteStore) -> Driver {
    driver_and_router(store).0
}

/// A driver, and a handle on its router to see the split it was told.
fn driver_and_router(store: SqliteStore) -> (Driver, VirtualRouter) {
    let router = VirtualRouter::default();
    let driver = Driver::new(
        store,
        Box::new(router.clone()),
        Box::new(CollectingNotifier::default()),
        preset("slo-ratio").unwrap(),
    )
    .unwrap();
    (driver, router)
}

const NO_LIMITS: LiveLimits = LiveLimits {
    idle_windows: Some(3),
    max_windows: Some(50),
};

#[tokio::test(start_paused = true)]
async fn a_healthy_canary_is_promoted_on_schedule() {
    let mut d = driver(SqliteStore::open_in_memory().unwrap());
    let mut src = Script {
        baseline: available(),
        windows: std::iter::repeat_n(Some(10), 8).collect(),
        asked: vec![],
    };
    let (_tx, rx) = mpsc::channel::<canaryd_driver::Request>(1);
    let mut seen = 0;
    let (state, stopped) = run_live(&mut d, &mut src, &key(), rx, NO_LIMITS, |p| {
        if matches!(p, Progress::Window { .. }) {
            seen += 1;
        }
    })
    .await
    .unwrap();
    assert_eq!(stopped, Stopped::Finished);
    assert!(matches!(state.phase, Phase::Promoted { by: None }));
    assert_eq!(seen, 8);
    // Windows are contiguous and exactly one policy window (5m) long, in virtual time.
    for (i, (_, start, end)) in src.asked.iter().enumerate() {
        assert_eq!(end.0 - start.0, 300_000, "window {i}");
        if i > 0 {
            assert_eq!(
                src.asked[i - 1].2,
                *start,
                "window {i} starts where the last ended"
            );
        }
    }
    let weights: Vec<Weight> = src.asked.iter().map(|a| a.0).collect();
    assert_eq!(weights, [10, 10, 25, 25, 50, 50, 100, 100]);
}

#[tokio::test(start_paused = true)]
async fn an_operator_approval_arrives_between_windows() {
    let mut d = driver(SqliteStore::open_in_memory().unwrap());
    let mut src = Script {
        baseline: BaselineStatus::Missing("no history".into()),
        windows: std::iter::repeat_n(Some(10), 12).collect(),
        asked: vec![],
    };
    let (tx, rx) = mpsc::channel::<canaryd_driver::Request>(1);
    let approver = tokio::spawn(async move {
        // Approve during the second window.
        tokio::time::sleep(std::time::Duration::from_secs(400)).await;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let command = OperatorCommand {
            action: OperatorAction::Approve,
            by: "alice".into(),
            reason: Some("reviewed".into()),
        };
        tx.send(canaryd_driver::Request {
            command,
            reply: Some(reply),
        })
        .await
        .unwrap();
        let answer = answer.await.unwrap();
        assert!(answer.accepted, "{answer:?}");
        assert_eq!((answer.phase.as_str(), answer.weight), ("ramping", 10));
    });
    let (state, stopped) = run_live(&mut d, &mut src, &key(), rx, NO_LIMITS, |_| {})
        .await
        .unwrap();
    approver.await.unwrap();
    assert_eq!(stopped, Stopped::Finished);
    assert!(matches!(state.phase, Phase::Promoted { .. }));
    // One window went by unjudged while awaiting approval (weight 0), then the ladder.
    assert_eq!(src.asked[0].0, 0);
    assert_eq!(src.asked[1].0, 10);
    assert_eq!(state.windows, 9);
}

#[tokio::test(start_paused = true)]
async fn a_failing_source_pauses_and_never_rolls_back() {
    let (mut d, router) = driver_and_router(SqliteStore::open_in_memory().unwrap());
    let mut src = Script {
        baseline: available(),
        windows: [Some(10), None, None, None, None].into(),
        asked: vec![],
    };
    let (_tx, rx) = mpsc::channel::<canaryd_driver::Request>(1);
    let mut failures = 0;
    let (state, stopped) = run_live(&mut d, &mut src, &key(), rx, NO_LIMITS, |p| {
        if matches!(p, Progress::SourceFailed { .. }) {
            failures += 1;
        }
    })
    .await
    .unwrap();
    assert_eq!(stopped, Stopped::NeedsHuman);
    assert!(
        matches!(state.phase, Phase::Paused { .. }),
        "{:?}",
        state.phase
    );
    assert_eq!(state.weight, 10, "the split is held");
    assert_eq!(failures, 3);
    assert_eq!(router.weight(), 10);
}

#[tokio::test(start_paused = true)]
async fn a_stopped_loop_resumes_from_the_store_without_repeating_anything() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    {
        let mut d = driver(SqliteStore::open(&db).unwrap());
        let mut src = Script {
            baseline: available(),
            windows: std::iter::repeat_n(Some(10), 3).collect(),
            asked: vec![],
        };
        let (_tx, rx) = mpsc::channel::<canaryd_driver::Request>(1);
        let limits = LiveLimits {
            idle_windows: None,
            max_windows: Some(3),
        };
        let (state, stopped) = run_live(&mut d, &mut src, &key(), rx, limits, |_| {})
            .await
            .unwrap();
        assert_eq!(stopped, Stopped::WindowLimit);
        assert_eq!((state.weight, state.windows), (25, 3));
    } // the process stops here

    let mut d = driver(SqliteStore::open(&db).unwrap());
    let mut src = Script {
        baseline: available(),
        windows: std::iter::repeat_n(Some(10), 5).collect(),
        asked: vec![],
    };
    let (_tx, rx) = mpsc::channel::<canaryd_driver::Request>(1);
    let mut restarted = None;
    let (state, stopped) = run_live(&mut d, &mut src, &key(), rx, NO_LIMITS, |p| {
        if let Progress::Started { applied, state } = p {
            restarted = Some((applied.is_none(), state.windows));
        }
    })
    .await
    .unwrap();
    assert_eq!(
        restarted,
        Some((true, 3)),
        "continued from the stored state, no new start"
    );
    assert_eq!(stopped, Stopped::Finished);
    assert!(matches!(state.phase, Phase::Promoted { .. }));
    assert_eq!(state.windows, 8, "3 + 5 windows, none repeated or skipped");
    assert!(matches!(
        d.store().verify_audit().unwrap(),
        AuditReport::Intact { .. }
    ));
    let starts = d
        .store()
        .audit_entries(None, None)
        .unwrap()
        .into_iter()
        .filter(|e| e.payload["record"] == "started")
        .count();
    assert_eq!(starts, 1);
}

/// A source whose baseline read fails `fails` times before it answers.
struct UnreadableBaseline {
    fails: u32,
    reads: u32,
    inner: Script,
}

#[canaryd_ports::async_trait]
impl MetricsSource for UnreadableBaseline {
    async fn baseline(&mut self, k: &RolloutKey) -> Result<BaselineStatus, SourceError> {
        self.reads += 1;
        if self.reads <= self.fails {
            return Err(SourceError::transient(
                "prometheus at 127.0.0.1:9: connection refused",
            ));
        }
        self.inner.baseline(k).await
    }

    async fn window(
        &mut self,
        k: &RolloutKey,
        weight: Weight,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Window, SourceError> {
        self.inner.window(k, weight, start, end).await
    }
}

/// Issue 15, defect 5 (`gate`, `serve`): a baseline that could not be read
/// was taken for one that does not exist, and the rollout went to
/// awaiting_approval. Now it does not start until the read succeeds, and
/// each failure is reported. Fails on the old loop (the first state is
/// AwaitingApproval and no SourceFailed is reported).
#[tokio::test(start_paused = true)]
async fn an_unreadable_baseline_is_retried_and_never_asks_for_approval() {
    let mut d = driver(SqliteStore::open_in_memory().unwrap());
    let mut src = UnreadableBaseline {
        fails: 2,
        reads: 0,
        inner: Script {
            baseline: available(),
            windows: std::iter::repeat_n(Some(10), 8).collect(),
            asked: vec![],
        },
    };
    let (_tx, rx) = mpsc::channel::<canaryd_driver::Request>(1);
    let mut failures = Vec::new();
    let mut first_phase = None;
    let (state, stopped) = run_live(&mut d, &mut src, &key(), rx, NO_LIMITS, |p| match p {
        Progress::SourceFailed { error, .. } => failures.push(error.clone()),
        Progress::Started { state, .. } => first_phase = Some(state.phase.name().to_string()),
        _ => {}
    })
    .await
    .unwrap();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(failures[0].contains("connection refused"), "{failures:?}");
    assert_eq!(first_phase.as_deref(), Some("ramping"));
    assert_eq!(stopped, Stopped::Finished);
    assert!(matches!(state.phase, Phase::Promoted { by: None }));

    // Never readable: the loop stops for a human with nothing started.
    let mut d = driver(SqliteStore::open_in_memory().unwrap());
    let mut src = UnreadableBaseline {
        fails: u32::MAX,
        reads: 0,
        inner: Script {
            baseline: available(),
            windows: VecDeque::new(),
            asked: vec![],
        },
    };
    let (_tx, rx) = mpsc::channel::<canaryd_driver::Request>(1);
    let (state, stopped) = run_live(&mut d, &mut src, &key(), rx, NO_LIMITS, |_| {})
        .await
        .unwrap();
    assert_eq!(stopped, Stopped::NeedsHuman);
    assert!(matches!(state.phase, Phase::Pending), "{:?}", state.phase);
    assert_eq!(src.reads, 3, "read once per window up to idle_windows");
}
