//! The controller's pure decision: triggers, restarts, the window schedule
//! after a crash, status mirroring and Event words.

use canaryd_core::effect::{Notice, NoticeKind, Severity};
use canaryd_core::rollout::{Phase, Rollout};
use canaryd_core::vocab::Timestamp;
use canaryd_kube::crd::{CanaryStatus, WindowStatus, MAX_STATUS_WINDOWS};
use canaryd_kube::reconcile::{plan, rollout_key, Action, ObservedTarget, MAX_CATCH_UP};
use canaryd_kube::status::{event_words, mirror, push_window, set_condition};
use std::time::Duration;

const MIN: Duration = Duration::from_secs(60);

fn found(canary: &str, stable: &str) -> ObservedTarget {
    ObservedTarget::Found {
        canary: canary.into(),
        stable: stable.into(),
    }
}

fn ramping(revision: &str, started: i64, windows: u32) -> Rollout {
    let mut r = Rollout::new(rollout_key("shop", "web", revision));
    r.phase = Phase::Ramping;
    r.started_at = Some(Timestamp(started));
    r.windows = windows;
    r.weight = 10;
    r
}

#[test]
fn same_revision_on_both_sides_is_idle() {
    let p = plan(
        "shop",
        "web",
        None,
        &found("a1", "a1"),
        None,
        MIN,
        Timestamp(0),
    );
    assert_eq!(p.actions, vec![Action::Idle]);
    assert_eq!(p.requeue_after, None);
}

#[test]
fn a_new_revision_starts_a_rollout() {
    let p = plan(
        "shop",
        "web",
        None,
        &found("b2", "a1"),
        None,
        MIN,
        Timestamp(0),
    );
    assert_eq!(
        p.actions,
        vec![Action::Start {
            key: rollout_key("shop", "web", "b2")
        }]
    );
    assert_eq!(
        p.actions[0],
        Action::Start {
            key: rollout_key("shop", "web", "b2")
        }
    );
}

#[test]
fn a_newer_revision_mid_rollout_supersedes_the_old_one() {
    let status = CanaryStatus {
        phase: Some("ramping".into()),
        revision: Some("b2".into()),
        ..Default::default()
    };
    let p = plan(
        "shop",
        "web",
        Some(&status),
        &found("c3", "a1"),
        None,
        MIN,
        Timestamp(0),
    );
    assert_eq!(
        p.actions,
        vec![
            Action::Supersede {
                previous: rollout_key("shop", "web", "b2"),
                by: rollout_key("shop", "web", "c3")
            },
            Action::Start {
                key: rollout_key("shop", "web", "c3")
            },
        ]
    );
    // A finished rollout is not superseded: it simply is history.
    let done = CanaryStatus {
        phase: Some("promoted".into()),
        ..status
    };
    let p = plan(
        "shop",
        "web",
        Some(&done),
        &found("c3", "a1"),
        None,
        MIN,
        Timestamp(0),
    );
    assert_eq!(p.actions.len(), 1);
}

#[test]
fn a_restart_after_the_new_rollout_was_stored_does_not_supersede_twice() {
    let status = CanaryStatus {
        phase: Some("ramping".into()),
        revision: Some("b2".into()),
        ..Default::default()
    };
    let stored = ramping("c3", 0, 0);
    let p = plan(
        "shop",
        "web",
        Some(&status),
        &found("c3", "a1"),
        Some(&stored),
        MIN,
        Timestamp(1),
    );
    assert!(!p
        .actions
        .iter()
        .any(|a| matches!(a, Action::Supersede { .. } | Action::Start { .. })));
}

#[test]
fn windows_follow_the_schedule_from_the_stored_state() {
    let key = rollout_key("shop", "web", "b2");
    // Two windows done, now 2.5 windows in: nothing due, wake at 3 windows.
    let p = plan(
        "shop",
        "web",
        None,
        &found("b2", "a1"),
        Some(&ramping("b2", 1_000, 2)),
        MIN,
        Timestamp(1_000 + 150_000),
    );
    assert_eq!(p.actions, vec![Action::Flush { key: key.clone() }]);
    assert_eq!(p.requeue_after, Some(Duration::from_secs(30)));
    // Killed for a while: exactly the windows due since the last one stored.
    let p = plan(
        "shop",
        "web",
        None,
        &found("b2", "a1"),
        Some(&ramping("b2", 1_000, 2)),
        MIN,
        Timestamp(1_000 + 250_000),
    );
    assert_eq!(
        p.actions,
        vec![
            Action::Flush { key: key.clone() },
            Action::CloseWindow {
                key: key.clone(),
                start: Timestamp(121_000),
                end: Timestamp(181_000)
            },
            Action::CloseWindow {
                key: key.clone(),
                start: Timestamp(181_000),
                end: Timestamp(241_000)
            },
        ]
    );
    assert_eq!(p.requeue_after, Some(Duration::from_secs(50)));
}

#[test]
fn a_long_outage_catches_up_in_bounded_batches() {
    let p = plan(
        "shop",
        "web",
        None,
        &found("b2", "a1"),
        Some(&ramping("b2", 0, 0)),
        MIN,
        Timestamp(100 * 60_000),
    );
    let closes = p
        .actions
        .iter()
        .filter(|a| matches!(a, Action::CloseWindow { .. }))
        .count();
    assert_eq!(closes as u32, MAX_CATCH_UP);
    assert_eq!(p.requeue_after, Some(Duration::ZERO));
}

#[test]
fn finished_rollouts_only_flush() {
    let mut r = ramping("b2", 0, 9);
    r.phase = Phase::Promoted { by: None };
    let p = plan(
        "shop",
        "web",
        None,
        &found("b2", "a1"),
        Some(&r),
        MIN,
        Timestamp(10_000_000),
    );
    assert_eq!(
        p.actions,
        vec![Action::Flush {
            key: rollout_key("shop", "web", "b2")
        }]
    );
    assert_eq!(p.requeue_after, None);
}

#[test]
fn missing_target_is_reported_not_fatal() {
    let t = ObservedTarget::Missing {
        what: "Deployment shop/web-canary".into(),
    };
    let p = plan("shop", "web", None, &t, None, MIN, Timestamp(0));
    match &p.actions[..] {
        [Action::ReportTargetMissing { message }] => assert!(message.contains("shop/web-canary")),
        other => panic!("{other:?}"),
    }
    assert!(p.requeue_after.is_some());
}

#[test]
fn status_mirrors_the_store_and_keeps_transition_times() {
    let r = ramping("b2", 0, 3);
    let s = mirror(
        &CanaryStatus::default(),
        &r,
        Some(4),
        "2026-01-01T00:00:00Z",
    );
    assert_eq!(s.phase.as_deref(), Some("ramping"));
    assert_eq!(s.revision.as_deref(), Some("b2"));
    assert_eq!(s.weight, Some(10));
    assert_eq!(s.observed_generation, Some(4));
    let ready = s.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "Progressing")
    );
    // Same status later: the transition time stays.
    let s2 = mirror(&s, &r, Some(4), "2026-01-01T00:05:00Z");
    let ready2 = s2.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(ready2.last_transition_time, "2026-01-01T00:00:00Z");
    let mut promoted = r.clone();
    promoted.phase = Phase::Promoted { by: None };
    let s3 = mirror(&s2, &promoted, Some(4), "2026-01-01T00:10:00Z");
    let ready3 = s3.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(
        (ready3.status.as_str(), ready3.last_transition_time.as_str()),
        ("True", "2026-01-01T00:10:00Z")
    );
    let mut conds = s3.conditions.clone();
    set_condition(
        &mut conds,
        "TargetFound",
        false,
        "NotFound",
        "gone",
        "t",
        None,
    );
    assert_eq!(conds.iter().filter(|c| c.type_ == "TargetFound").count(), 1);
}

#[test]
fn window_history_is_bounded_and_deduplicated() {
    let mut w = Vec::new();
    for i in 1..=15u32 {
        push_window(
            &mut w,
            WindowStatus {
                index: i,
                verdict: "healthy".into(),
                weight: 10,
                end: String::new(),
            },
        );
    }
    push_window(
        &mut w,
        WindowStatus {
            index: 15,
            verdict: "breach".into(),
            weight: 10,
            end: String::new(),
        },
    );
    assert_eq!(w.len(), MAX_STATUS_WINDOWS);
    assert_eq!(w.first().unwrap().index, 6);
    assert_eq!(w.last().unwrap().verdict, "breach");
}

#[test]
fn events_use_the_notification_words() {
    let n = Notice::worded(
        NoticeKind::RolledBack,
        Severity::Critical,
        "shop/web b2 rolled back: error rate 4.1% vs 0.3%",
        "",
    );
    let e = event_words(&n);
    assert_eq!((e.type_, e.reason), ("Warning", "RolledBack"));
    assert_eq!(e.note, canaryd_ports::words::title(&n));
    let long = Notice::worded(NoticeKind::Advanced, Severity::Info, "é".repeat(900), "");
    let e = event_words(&long);
    assert_eq!(e.type_, "Normal");
    assert!(e.note.len() <= 1024 && e.note.ends_with("..."));
}

#[test]
fn a_rollout_in_progress_that_the_store_never_saw_is_not_started_over() {
    // Another replica (with its own database) ramped b2 to 50%; this one
    // took the Lease with an empty store. Starting again would move traffic
    // back to the first step.
    let status = CanaryStatus {
        phase: Some("ramping".into()),
        revision: Some("b2".into()),
        weight: Some(50),
        ..Default::default()
    };
    let p = plan(
        "shop",
        "web",
        Some(&status),
        &found("b2", "a1"),
        None,
        MIN,
        Timestamp(0),
    );
    assert!(
        matches!(&p.actions[..], [Action::ReportStateMissing { message }]
            if message.contains("b2") && message.contains("will not start it over")),
        "{:?}",
        p.actions
    );
    assert_eq!(p.requeue_after, Some(Duration::from_secs(60)));
    // A finished rollout of that revision, or a fresh one, still plans as before.
    let done = CanaryStatus {
        phase: Some("promoted".into()),
        ..status.clone()
    };
    let p = plan(
        "shop",
        "web",
        Some(&done),
        &found("b2", "a1"),
        None,
        MIN,
        Timestamp(0),
    );
    assert!(
        matches!(&p.actions[..], [Action::Start { .. }]),
        "{:?}",
        p.actions
    );
    let p = plan(
        "shop",
        "web",
        None,
        &found("b2", "a1"),
        None,
        MIN,
        Timestamp(0),
    );
    assert!(
        matches!(&p.actions[..], [Action::Start { .. }]),
        "{:?}",
        p.actions
    );
}
