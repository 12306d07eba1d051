//! A rollout awaiting approval for a missing or thin baseline starts on its
//! own once a re-check finds the baseline good ("baseline became available"),
//! unless the policy says approval is always required. Before this, nothing
//! but an operator could end the wait: a `canaryd gate` started on thin
//! history waited forever.

use canaryd_core::effect::{AuditRecord, Decision, Effect};
use canaryd_core::observation::{Baseline, BaselineStatus, Observation};
use canaryd_core::policy::{BaselineApproval, BaselinePolicy, Policy};
use canaryd_core::replay::replay;
use canaryd_core::rollout::{step, Event, Phase, Rollout};
use canaryd_core::vocab::{RolloutKey, Route, Timestamp};
use canaryd_policy::{parse_policy, preset};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn history(hours: f64, requests: u64) -> BaselineStatus {
    let mut routes = BTreeMap::new();
    routes.insert(
        Route::from("GET /pay"),
        Observation {
            requests,
            errors: requests / 200,
            ..Default::default()
        },
    );
    BaselineStatus::Available(Baseline {
        history_hours: hours,
        routes,
    })
}

fn good() -> BaselineStatus {
    history(168.0, 500_000)
}

fn key() -> RolloutKey {
    RolloutKey::new("payments/payment-api", "v2")
}

fn always(mut p: Policy) -> Policy {
    if let BaselinePolicy::Required { approval, .. } = &mut p.baseline {
        *approval = BaselineApproval::Always;
    }
    p
}

/// Applies the events, keeping the audit records with their times.
fn run(policy: &Policy, events: Vec<Event>) -> (Rollout, Vec<(Timestamp, AuditRecord)>) {
    let mut s = Rollout::new(key());
    let mut audit = Vec::new();
    for (i, e) in events.into_iter().enumerate() {
        let now = Timestamp(1_800_000_000_000 + i as i64 * 300_000);
        let (next, fx) = step(&s, e, policy, now);
        for f in fx {
            if let Effect::Audit(r) = f {
                audit.push((now, r));
            }
        }
        s = next;
    }
    (s, audit)
}

#[test]
fn a_thin_baseline_that_grows_starts_the_rollout_on_its_own() {
    let p = preset("slo-ratio").unwrap();
    let (s, audit) = run(
        &p,
        vec![
            Event::Start {
                baseline: history(2.0, 500_000),
            },
            Event::BaselineChecked {
                baseline: history(12.0, 500_000),
            },
        ],
    );
    assert!(
        matches!(&s.phase, Phase::AwaitingApproval { reason } if reason.contains("12.0h")),
        "still thin, with the new figure: {:?}",
        s.phase
    );
    assert_eq!(s.weight, 0);
    assert!(matches!(
        audit.last(),
        Some((
            _,
            AuditRecord::BaselineRechecked {
                decision: Decision::Hold { .. },
                ..
            }
        ))
    ));

    let (s, audit) = run(
        &p,
        vec![
            Event::Start {
                baseline: BaselineStatus::Missing("no stable series yet".into()),
            },
            Event::BaselineChecked {
                baseline: history(12.0, 500_000),
            },
            Event::BaselineChecked { baseline: good() },
        ],
    );
    assert_eq!(s.phase, Phase::Ramping);
    assert_eq!(s.weight, 10);
    assert!(s.baseline.is_some(), "the history it started on is kept");
    assert!(
        audit.iter().any(|(_, r)| matches!(
            r,
            AuditRecord::BaselineRechecked {
                decision: Decision::BaselineAvailable { weight: 10 },
                ..
            }
        )),
        "audited as baseline available: {audit:?}"
    );
    // The audit log replays to the same rollout.
    let rebuilt = replay(key(), &p, audit.iter().map(|(t, r)| (*t, r)));
    assert_eq!(rebuilt, s);
}

#[test]
fn approval_always_keeps_waiting_for_an_operator() {
    let p = always(preset("slo-ratio").unwrap());
    let (s, audit) = run(
        &p,
        vec![
            Event::Start {
                baseline: history(2.0, 500_000),
            },
            Event::BaselineChecked { baseline: good() },
        ],
    );
    assert!(
        matches!(s.phase, Phase::AwaitingApproval { .. }),
        "{:?}",
        s.phase
    );
    assert_eq!(s.weight, 0);
    assert!(matches!(
        audit.last(),
        Some((_, AuditRecord::BaselineRechecked { decision: Decision::Hold { reason }, .. }))
            if reason.contains("always")
    ));
}

#[test]
fn approval_always_is_a_policy_setting() {
    let p = parse_policy(
        "p.yaml",
        "preset: slo-ratio\nbaseline: {approval: always}\n",
    )
    .unwrap();
    assert!(matches!(
        p.baseline,
        BaselinePolicy::Required {
            approval: BaselineApproval::Always,
            ..
        }
    ));
    let shown = canaryd_policy::policy_to_yaml(&p);
    assert!(shown.contains("approval: always"), "{shown}");
    let e = parse_policy(
        "p.yaml",
        "preset: slo-ratio\nbaseline: {approval: sometimes}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("baseline.approval") && e.contains("when_thin"),
        "{e}"
    );
}

proptest! {
    /// Whatever the re-checks say, a rollout leaves the wait only when a
    /// re-check passes the gate (or an operator approves), never moves
    /// traffic while waiting, and never starts itself under `approval: always`.
    #[test]
    fn only_a_passing_baseline_ends_the_wait(
        checks in prop::collection::vec((0.0f64..48.0, 0u64..50_000), 1..12),
        strict in prop::bool::ANY,
    ) {
        let base = preset("slo-ratio").unwrap();
        let p = if strict { always(base) } else { base };
        let mut events = vec![Event::Start { baseline: history(1.0, 500_000) }];
        events.extend(checks.iter().map(|&(h, n)| Event::BaselineChecked { baseline: history(h, n) }));
        let mut s = Rollout::new(key());
        for (i, e) in events.into_iter().enumerate() {
            let passes = matches!(&e, Event::BaselineChecked { baseline: BaselineStatus::Available(b) }
                if b.history_hours >= 24.0 && b.routes.values().all(|o| o.requests >= 10_000));
            let was_waiting = matches!(s.phase, Phase::AwaitingApproval { .. });
            let (next, _) = step(&s, e, &p, Timestamp(i as i64));
            if was_waiting {
                let started = next.phase == Phase::Ramping;
                prop_assert_eq!(started, passes && !strict);
                if !started {
                    prop_assert_eq!(next.weight, 0);
                }
            }
            s = next;
        }
    }
}
