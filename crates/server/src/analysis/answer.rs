//! Turning a snapshot into the answers Argo Rollouts and Flagger act on.
//!
//! Both tools reduce everything to yes, no, or "not yet". The mapping here is
//! where canaryd's rules survive that reduction: no data and collector
//! trouble never become a yes, a single bad window never becomes a no, and
//! only a breach the core judged sustained (N consecutive windows) does.

use canaryd_core::effect::{PauseReason, RollbackCause};
use canaryd_core::rollout::Phase;
use canaryd_core::verdict::{Evidence, RuleOutcome, Verdict, VerdictKind};
use canaryd_core::vocab::{Timestamp, Weight};
use serde::Serialize;

use super::snapshot::Snapshot;

/// The answer to one Argo `web` metric measurement (and the body of every
/// Flagger answer). Argo's conditions should test `verdict`: `healthy` is
/// the only success, `breach` the only failure, anything else is neither.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    /// The workload asked about, as the caller named it.
    pub workload: String,
    /// The canary revision being judged.
    pub canary: String,
    /// The stable revision it is compared with.
    pub stable: String,
    /// canaryd's judgement of the rollout now. `breach` only once the core has
    /// rolled back on a sustained breach (or an operator aborted); a breach not
    /// yet sustained is `inconclusive`, with the evidence attached.
    pub verdict: VerdictKind,
    /// `verdict == healthy`, for conditions that prefer a boolean.
    pub healthy: bool,
    /// Share of the policy's rules that passed in the latest window, 0–100.
    /// Absent when no rule could be judged: a missing score is not a low one.
    pub score: Option<u8>,
    /// The canary weight canaryd's ramp considers safe now (its ladder step,
    /// or the `adaptive-weight` ramp's interpolated weight); 0 after a rollback.
    pub weight: Weight,
    /// Why the verdict is what it is, in one sentence for a human.
    pub reason: String,
    /// The numbers behind a breach (or a breach not yet sustained); omitted
    /// when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
    /// The rollout's phase in canaryd (`pending` until it has started).
    pub phase: String,
    /// Windows closed so far.
    pub windows: u32,
    /// The latest window's own verdict, before the sustained-breach rule.
    pub window_verdict: Option<VerdictKind>,
    /// End of the latest window, RFC 3339.
    pub as_of: Option<String>,
}

pub fn rfc3339(t: Timestamp) -> String {
    canaryd_driver::live::rfc3339(t).unwrap_or_else(|| format!("{} ms since the epoch", t.0))
}

/// The answer the snapshot gives now.
pub fn answer(s: &Snapshot) -> Answer {
    let (verdict, reason, evidence) = judge_snapshot(s);
    let state = s.state.as_ref();
    Answer {
        workload: s.key.workload.0.clone(),
        canary: s.key.revision.0.clone(),
        stable: s.stable.clone(),
        healthy: verdict == VerdictKind::Healthy,
        verdict,
        score: score(s),
        weight: state.map(|r| r.weight).unwrap_or(0),
        reason,
        evidence,
        phase: state
            .map(|r| r.phase.name())
            .unwrap_or("pending")
            .to_string(),
        windows: state.map(|r| r.windows).unwrap_or(0),
        window_verdict: s.judgement.as_ref().map(|j| j.verdict.kind()),
        as_of: s.window_end.map(rfc3339),
    }
}

fn judge_snapshot(s: &Snapshot) -> (VerdictKind, String, Vec<Evidence>) {
    use VerdictKind::*;
    if let Some(why) = &s.trouble {
        return (
            Unreliable,
            format!("canaryd cannot watch this rollout: {why}"),
            vec![],
        );
    }
    let first = || {
        format!(
            "no window has closed yet: canaryd watches {} against {} and the first window closes at {}",
            s.key.revision,
            s.stable,
            rfc3339(s.first_close)
        )
    };
    let Some(state) = &s.state else {
        return (Inconclusive, first(), vec![]);
    };
    let approve_hint = format!(
        "canaryd approve {} {} --by <name>",
        state.key.workload, state.key.revision
    );
    match &state.phase {
        Phase::Pending => (Inconclusive, first(), vec![]),
        Phase::AwaitingApproval { reason } => (
            Inconclusive,
            format!("awaiting approval: {reason}; to start: {approve_hint}"),
            vec![],
        ),
        Phase::RolledBack {
            cause: RollbackCause::Breach { evidence, windows },
            at_weight,
        } => (
            Breach,
            format!(
                "sustained breach in windows {} at {at_weight}%: {}",
                canaryd_core::effect::window_numbers(windows),
                canaryd_core::effect::evidence_text(evidence)
            ),
            evidence.clone(),
        ),
        Phase::RolledBack {
            cause: RollbackCause::Operator { by, reason },
            ..
        } => (
            Breach,
            format!(
                "aborted by {by}{}",
                reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
            vec![],
        ),
        Phase::Paused {
            reason: reason @ PauseReason::CollectorsUnhealthy { .. },
        } => (Unreliable, format!("paused: {reason}"), vec![]),
        Phase::Paused { reason } => (Inconclusive, format!("paused: {reason}"), vec![]),
        // Resumed after expiry, a finished rollout has no cached window:
        // its promotion already says every window of the ramp was judged.
        Phase::Promoted { by } if s.judgement.is_none() => (
            Healthy,
            match by {
                Some(by) => format!("promoted by {by} after {} windows", state.windows),
                None => format!("promoted after {} healthy windows", state.windows),
            },
            vec![],
        ),
        Phase::Ramping | Phase::Promoted { .. } => match &s.judgement {
            None => (Inconclusive, first(), vec![]),
            Some(j) => match &j.verdict {
                Verdict::Healthy => (Healthy, j.verdict.reason(), vec![]),
                Verdict::Breach { evidence } => (
                    Inconclusive,
                    format!(
                        "breach not yet sustained ({}): {}",
                        s.decision
                            .as_ref()
                            .map(canaryd_driver::replay::describe_decision)
                            .unwrap_or_default(),
                        j.verdict.reason()
                    ),
                    evidence.clone(),
                ),
                Verdict::Inconclusive { reason } => (Inconclusive, reason.clone(), vec![]),
                Verdict::Unreliable { reason } => (Unreliable, reason.clone(), vec![]),
            },
        },
    }
}

fn score(s: &Snapshot) -> Option<u8> {
    let j = s.judgement.as_ref()?;
    let total = j.rules.len();
    if total == 0 {
        return None;
    }
    let judged = j
        .rules
        .values()
        .filter(|o| !matches!(o, RuleOutcome::Inconclusive { .. }))
        .count();
    if judged == 0 {
        return None;
    }
    let passed = j
        .rules
        .values()
        .filter(|o| matches!(o, RuleOutcome::Pass))
        .count();
    u8::try_from(passed * 100 / total).ok()
}

/// A yes or no for a Flagger webhook, with the reason shown to Flagger's
/// logs and kept in the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gate {
    pub open: bool,
    pub reason: String,
}

impl Gate {
    fn open(reason: impl Into<String>) -> Gate {
        Gate {
            open: true,
            reason: reason.into(),
        }
    }

    fn closed(reason: impl Into<String>) -> Gate {
        Gate {
            open: false,
            reason: reason.into(),
        }
    }
}

/// `confirm-rollout`: open once the baseline gate passed or an operator approved.
pub fn confirm_rollout(s: &Snapshot) -> Gate {
    let a = answer(s);
    match s.state.as_ref().map(|r| &r.phase) {
        _ if s.trouble.is_some() => Gate::closed(a.reason),
        None | Some(Phase::Pending) => Gate::closed(format!(
            "canaryd is still checking the stable baseline of {}; ask again",
            s.key.workload
        )),
        Some(Phase::AwaitingApproval { .. }) => Gate::closed(a.reason),
        Some(Phase::RolledBack { .. }) => Gate::closed(format!(
            "canaryd already rolled this revision back: {}",
            a.reason
        )),
        Some(Phase::Ramping | Phase::Paused { .. } | Phase::Promoted { .. }) => {
            Gate::open(match &s.approved_by {
                Some(by) => format!("rollout may start: approved by {by}"),
                None => "rollout may start: the stable baseline passed the gate".to_string(),
            })
        }
    }
}

/// `confirm-traffic-increase` and `confirm-promotion`: open only on a healthy
/// latest window of a rollout that is ramping (or that canaryd promoted).
pub fn confirm_progress(s: &Snapshot, what: &str) -> Gate {
    let a = answer(s);
    let ramping = matches!(
        s.state.as_ref().map(|r| &r.phase),
        Some(Phase::Ramping | Phase::Promoted { .. })
    );
    let streaks = s
        .state
        .as_ref()
        .map(|r| r.streaks.values().any(|st| st.count > 0))
        .unwrap_or(false);
    if a.verdict == VerdictKind::Healthy && ramping && !streaks {
        Gate::open(format!("{what} confirmed: {}", a.reason))
    } else {
        Gate::closed(format!("{what} withheld ({}): {}", a.verdict, a.reason))
    }
}

/// `rollback`: open (roll back) only on a breach the core judged sustained.
pub fn rollback(s: &Snapshot) -> Gate {
    let a = answer(s);
    if a.verdict == VerdictKind::Breach {
        Gate::open(format!("roll back: {}", a.reason))
    } else {
        Gate::closed(format!("no rollback ({}): {}", a.verdict, a.reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canaryd_core::rollout::Rollout;
    use canaryd_core::vocab::RolloutKey;

    fn snap(phase: Phase) -> Snapshot {
        let key = RolloutKey::new("shop/cart", "abc123");
        let mut s = Snapshot::new(key.clone(), "def456".into(), Timestamp(0));
        let mut r = Rollout::new(key);
        r.phase = phase;
        r.weight = 25;
        s.state = Some(r);
        s
    }

    #[test]
    fn an_operator_abort_fails_argo_and_rolls_flagger_back() {
        let s = snap(Phase::RolledBack {
            cause: RollbackCause::Operator {
                by: "alice".into(),
                reason: Some("bad config".into()),
            },
            at_weight: 25,
        });
        let a = answer(&s);
        assert_eq!(a.verdict, VerdictKind::Breach);
        assert_eq!(a.reason, "aborted by alice: bad config");
        assert!(rollback(&s).open);
        assert!(!confirm_rollout(&s).open);
    }

    #[test]
    fn awaiting_approval_is_inconclusive_and_says_how_to_approve() {
        let s = snap(Phase::AwaitingApproval {
            reason: "thin baseline: 2.0h".into(),
        });
        let a = answer(&s);
        assert_eq!(a.verdict, VerdictKind::Inconclusive);
        assert!(
            a.reason.contains("canaryd approve shop/cart abc123"),
            "{}",
            a.reason
        );
        assert!(!confirm_rollout(&s).open);
        assert!(!rollback(&s).open);
        assert!(!confirm_progress(&s, "promotion").open);
    }

    #[test]
    fn a_pause_for_data_is_inconclusive_and_for_collectors_unreliable() {
        let data = snap(Phase::Paused {
            reason: PauseReason::NotEnoughData {
                detail: "no series".into(),
                windows: 4,
            },
        });
        assert_eq!(answer(&data).verdict, VerdictKind::Inconclusive);
        let blind = snap(Phase::Paused {
            reason: PauseReason::CollectorsUnhealthy {
                detail: "scrape down".into(),
            },
        });
        assert_eq!(answer(&blind).verdict, VerdictKind::Unreliable);
        // A paused rollout was started: Flagger may begin, it will not advance.
        assert!(confirm_rollout(&blind).open);
        assert!(!confirm_progress(&blind, "traffic increase").open);
    }

    #[test]
    fn trouble_wins_over_any_cached_state() {
        let mut s = snap(Phase::Ramping);
        s.fail("store unreadable".into());
        let a = answer(&s);
        assert_eq!(a.verdict, VerdictKind::Unreliable);
        assert!(a.reason.contains("store unreadable"));
        assert!(!rollback(&s).open);
    }

    #[test]
    fn a_promoted_rollout_resumed_from_the_store_stays_healthy() {
        let s = snap(Phase::Promoted { by: None });
        let a = answer(&s);
        assert_eq!(a.verdict, VerdictKind::Healthy, "{}", a.reason);
        let ramping = snap(Phase::Ramping);
        assert_eq!(answer(&ramping).verdict, VerdictKind::Inconclusive);
    }

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(
            rfc3339(Timestamp(1_700_000_000_123)),
            "2023-11-14T22:13:20.123Z"
        );
    }
}
