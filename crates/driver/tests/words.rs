//! The words of the core's notices: on a terminal (proxy, demo, replay)
//! exactly what canaryd said before notices were facts; in a gate and in a
//! cluster the same, but with the next steps that work there. Outboxes
//! written before still read.

use canaryd_core::effect::{Effect, PauseReason, RollbackCause};
use canaryd_core::notice::Severity;
use canaryd_core::notice::{BaselineGate, Ladder, NextAction, Notice, NoticeFacts, NoticeKind};
use canaryd_core::vocab::RolloutKey;
use canaryd_ports::words::{title, words, Surface};
use serde_json::json;
use std::time::Duration;

fn key() -> RolloutKey {
    RolloutKey::new("payments/api", "v2")
}

fn ladder() -> Ladder {
    Ladder::Steps {
        weights: vec![10, 25, 50, 100],
    }
}

fn notice(
    kind: NoticeKind,
    severity: Severity,
    facts: NoticeFacts,
    next: Vec<NextAction>,
) -> Notice {
    Notice {
        kind,
        severity,
        facts,
        next,
        evidence: vec![],
    }
}

fn awaiting() -> Notice {
    notice(
        NoticeKind::AwaitingApproval,
        Severity::Warning,
        NoticeFacts::AwaitingApproval {
            key: key(),
            reason: "no baseline: no stable series".into(),
            ladder: ladder(),
        },
        vec![NextAction::Approve],
    )
}

fn paused() -> Notice {
    notice(
        NoticeKind::Paused,
        Severity::Warning,
        NoticeFacts::Paused {
            key: key(),
            weight: 25,
            reason: PauseReason::RampBudgetExceeded {
                elapsed_s: 7300,
                budget_s: 7200,
            },
        },
        vec![NextAction::Resume, NextAction::RollBack],
    )
}

#[test]
fn on_a_terminal_the_words_are_the_ones_canaryd_always_said() {
    let cases: Vec<(Notice, &str, &str)> = vec![
        (
            awaiting(),
            "payments/api v2 awaits approval",
            "no baseline: no stable series. Proposed ladder: 10% → 25% → 50% → 100%. No traffic \
             has moved. To start the ramp: canaryd approve payments/api v2 --by <name> --reason <why>",
        ),
        (
            notice(
                NoticeKind::Started,
                Severity::Info,
                NoticeFacts::Started {
                    key: key(),
                    weight: 10,
                    approved_by: Some("ana".into()),
                    ladder: Ladder::Adaptive {
                        from: 5,
                        min_increase: 5,
                        max_increase: 20,
                    },
                    window: Duration::from_secs(300),
                    budget: Duration::from_secs(7200),
                },
                vec![],
            ),
            "payments/api v2 started at 10%",
            "Canary v2 of payments/api started (approved by ana). Ladder: adaptive from 5% in \
             steps of 5–20 points; windows of 5m; budget 2h.",
        ),
        (
            notice(
                NoticeKind::Started,
                Severity::Info,
                NoticeFacts::BaselineAvailable {
                    key: key(),
                    weight: 10,
                    gate: Some(BaselineGate {
                        min_history: Duration::from_secs(86_400),
                        min_requests_per_route: 1000,
                    }),
                },
                vec![],
            ),
            "payments/api v2 baseline became available",
            "The stable history now passes the baseline gate (at least 1day of clean history and \
             1000 requests per route); the rollout started on its own at 10% without waiting for \
             an approval.",
        ),
        (
            notice(
                NoticeKind::Extended,
                Severity::Info,
                NoticeFacts::Extended {
                    key: key(),
                    weight: 25,
                    window: 4,
                    reason: "not enough traffic".into(),
                    extensions: 1,
                    max_extensions: 3,
                },
                vec![],
            ),
            "payments/api v2 extended at 25%",
            "Window 4 was inconclusive (not enough traffic); one more window at 25% (1 of 3 \
             extensions).",
        ),
        (
            notice(
                NoticeKind::Advanced,
                Severity::Info,
                NoticeFacts::Advanced {
                    key: key(),
                    from: 10,
                    to: 25,
                },
                vec![],
            ),
            "payments/api v2 advanced to 25%",
            "Healthy at 10% for its whole hold; now 25%.",
        ),
        (
            paused(),
            "payments/api v2 paused at 25%",
            "ramp took 2h 1m 40s of a 2h budget. The split stays at 25%. To continue: canaryd \
             resume payments/api v2 --by <name>; to roll back: canaryd abort payments/api v2 --by \
             <name>",
        ),
        (
            notice(
                NoticeKind::Resumed,
                Severity::Info,
                NoticeFacts::Resumed {
                    key: key(),
                    weight: 25,
                    by: Some("ana".into()),
                    reason: None,
                },
                vec![],
            ),
            "payments/api v2 resumed at 25% by ana",
            "Resumed by an operator.",
        ),
        (
            notice(
                NoticeKind::Resumed,
                Severity::Info,
                NoticeFacts::Resumed {
                    key: key(),
                    weight: 25,
                    by: None,
                    reason: None,
                },
                vec![],
            ),
            "payments/api v2 resumed at 25%",
            "The collectors can see the canary again; judging resumes.",
        ),
        (
            notice(
                NoticeKind::RolledBack,
                Severity::Critical,
                NoticeFacts::RolledBack {
                    key: key(),
                    at_weight: 25,
                    took: Some(Duration::from_secs(900)),
                    cause: RollbackCause::Operator {
                        by: "ana".into(),
                        reason: Some("bad build".into()),
                    },
                },
                vec![],
            ),
            "payments/api v2 rolled back",
            "Aborted by ana at 25%, 15m after start: bad build",
        ),
        (
            notice(
                NoticeKind::RolledBack,
                Severity::Critical,
                NoticeFacts::RolledBack {
                    key: key(),
                    at_weight: 10,
                    took: Some(Duration::from_secs(600)),
                    cause: RollbackCause::Breach {
                        evidence: vec![],
                        windows: vec![2, 3],
                    },
                },
                vec![],
            ),
            "payments/api v2 rolled back",
            "Rolled back at 10% after 2 breaching windows in a row (#2, #3), 10m after start: ",
        ),
        (
            notice(
                NoticeKind::Promoted,
                Severity::Info,
                NoticeFacts::Promoted {
                    key: key(),
                    by: None,
                    took: Some(Duration::from_secs(3600)),
                    windows: 12,
                },
                vec![],
            ),
            "payments/api v2 promoted",
            "Healthy through the whole ladder: promoted after 1h and 12 windows.",
        ),
    ];
    for (n, want_title, want_text) in cases {
        let w = words(&n, Surface::Cli);
        assert_eq!(w.title, want_title);
        assert_eq!(w.text, want_text);
        assert_eq!(title(&n), want_title, "the title is the same everywhere");
        for surface in [Surface::Gate, Surface::Kubernetes] {
            let other = words(&n, surface);
            assert_eq!(other.title, want_title);
            if n.next.is_empty() {
                assert_eq!(other.text, want_text, "no next step, nothing to change");
            }
        }
    }
}

#[test]
fn a_gate_names_its_api_and_a_cluster_gives_no_command_it_cannot_take() {
    let gate = words(&awaiting(), Surface::Gate).text;
    assert!(
        gate.ends_with(
            "To start the ramp: canaryd approve payments/api v2 --by <name> --reason <why> \
             --server http://<the gate's --api-listen address>"
        ),
        "{gate}"
    );
    for n in [awaiting(), paused()] {
        let k8s = words(&n, Surface::Kubernetes).text;
        assert!(
            !k8s.contains("canaryd approve") && !k8s.contains("canaryd resume"),
            "{k8s}"
        );
        assert!(k8s.contains("takes no operator commands"), "{k8s}");
    }
    let k8s = words(&paused(), Surface::Kubernetes).text;
    assert!(k8s.starts_with("ramp took 2h 1m 40s of a 2h budget. The split stays at 25%. "));
}

#[test]
fn a_notice_in_an_outbox_written_before_notices_were_facts_still_reads() {
    let written_before = json!({
        "effect": "notify",
        "kind": "paused",
        "severity": "warning",
        "title": "payments/api v2 paused at 25%",
        "text": "held. To continue: canaryd resume payments/api v2 --by <name>",
    });
    let effect: Effect = serde_json::from_value(written_before).unwrap();
    let Effect::Notify(n) = effect else {
        panic!("not a notice: {effect:?}")
    };
    assert_eq!(n.kind, NoticeKind::Paused);
    let w = words(&n, Surface::Kubernetes);
    assert_eq!(w.title, "payments/api v2 paused at 25%");
    assert_eq!(
        w.text, "held. To continue: canaryd resume payments/api v2 --by <name>",
        "words already written are sent as they are"
    );
}

#[test]
fn a_notice_as_facts_goes_through_the_outbox_unchanged() {
    for n in [awaiting(), paused()] {
        let stored = serde_json::to_value(Effect::Notify(n.clone())).unwrap();
        assert!(stored.get("title").is_none(), "facts, not words: {stored}");
        let back: Effect = serde_json::from_value(stored).unwrap();
        assert_eq!(back, Effect::Notify(n));
    }
}
