//! A rollout replaced by a newer revision mid-way (the Kubernetes controller
//! sees a new pod template while it ramps) is a core event with an audit
//! record of its own, so replaying the log reproduces it. The record keeps the
//! JSON the controller wrote by hand before, so old logs replay too.

mod support;

use canaryd_core::effect::{AuditRecord, Effect, Superseded};
use canaryd_core::replay::replay;
use canaryd_core::rollout::{step, Event, Phase, Rollout};
use canaryd_core::vocab::{Revision, RolloutKey, Timestamp};
use canaryd_core::CollectorHealth;
use serde_json::json;
use support::{obs, policy, week_of_history, window};

const T0: i64 = 1_800_000_000_000;

fn key() -> RolloutKey {
    RolloutKey::new("shop/web", "web:2")
}

/// Start, two healthy windows, then `web:3` replaces the rollout.
fn superseded_run() -> (Rollout, Rollout, Vec<(Timestamp, AuditRecord)>) {
    let p = policy("slo-ratio");
    let events = vec![
        Event::Start {
            baseline: week_of_history(500),
        },
        Event::WindowClosed {
            window: window(obs(2_000, 2), obs(20_000, 20), CollectorHealth::Healthy, T0),
        },
        Event::WindowClosed {
            window: window(
                obs(2_000, 2),
                obs(20_000, 20),
                CollectorHealth::Healthy,
                T0 + 60_000,
            ),
        },
        Event::Superseded {
            by: Revision("web:3".into()),
        },
    ];
    let mut s = Rollout::new(key());
    let mut before = s.clone();
    let mut audit = Vec::new();
    for (i, e) in events.into_iter().enumerate() {
        let now = Timestamp(T0 + 60_000 * (i as i64 + 1));
        before = s.clone();
        let (next, fx) = step(&s, e, &p, now);
        for f in fx {
            if let Effect::Audit(r) = f {
                audit.push((now, r));
            }
        }
        s = next;
    }
    (before, s, audit)
}

#[test]
fn a_superseded_rollout_is_audited_and_otherwise_left_as_it_was() {
    let p = policy("slo-ratio");
    let (before, after, audit) = superseded_run();
    assert_eq!(before.phase, Phase::Ramping);
    let (_, last) = audit.last().expect("the supersede is audited");
    assert_eq!(
        last,
        &AuditRecord::Superseded(Superseded {
            by_revision: Revision("web:3".into()),
            reason: "a newer revision of the target appeared during the rollout; canaryd \
                     restarted for it"
                .into(),
        })
    );
    assert_eq!(last.kind(), "decision");
    // Only the event count moves: no phase change, no traffic, no notice.
    let mut expected = before.clone();
    expected.events += 1;
    assert_eq!(after, expected);
    let (_, fx) = step(
        &before,
        Event::Superseded {
            by: Revision("web:3".into()),
        },
        &p,
        Timestamp(T0),
    );
    assert!(
        fx.iter().all(|f| matches!(f, Effect::Audit(_))),
        "nothing but the audit record: {fx:?}"
    );
}

#[test]
fn replaying_a_log_with_a_superseded_record_reproduces_the_state() {
    let p = policy("slo-ratio");
    let (_, after, audit) = superseded_run();
    // Through JSON, as the store keeps them.
    let stored: Vec<(Timestamp, AuditRecord)> = audit
        .iter()
        .map(|(t, r)| {
            let text = serde_json::to_string(r).unwrap();
            (*t, serde_json::from_str(&text).unwrap())
        })
        .collect();
    assert_eq!(stored, audit);
    let rebuilt = replay(key(), &p, stored.iter().map(|(t, r)| (*t, r)));
    assert_eq!(rebuilt, after);
}

#[test]
fn the_record_has_the_json_the_controller_wrote_before() {
    let written_before = json!({
        "decision": "superseded",
        "by_revision": "web:3",
        "reason": "a newer revision of the target appeared during the rollout; canaryd restarted for it",
    });
    let record: AuditRecord = serde_json::from_value(written_before.clone()).unwrap();
    assert_eq!(
        record.event(),
        Some(Event::Superseded {
            by: Revision("web:3".into())
        })
    );
    assert_eq!(serde_json::to_value(&record).unwrap(), written_before);
}

#[test]
fn other_payloads_do_not_read_as_a_superseded_record() {
    for payload in [
        json!({"decision": "hold", "reason": "x"}),
        json!({"decision": "superseded", "by_revision": "web:3"}),
        json!({"decision": "superseded", "by_revision": "web:3", "reason": "x", "extra": 1}),
        json!({"record": "new_canary", "by": "ops", "reason": "x"}),
    ] {
        assert!(
            serde_json::from_value::<AuditRecord>(payload.clone()).is_err(),
            "{payload} must not read as an audit record"
        );
    }
}
