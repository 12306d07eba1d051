//! What the core asks the shell to do, and what it asks the shell to record.
//!
//! The core never acts. It returns [`Effect`]s; the shell persists them in the
//! outbox together with the new state, then executes them. Audit records carry
//! the *inputs* of every step (the baseline at start, each window's
//! observations, each operator command), so the log alone replays the rollout.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

pub use crate::notice::{Notice, NoticeKind, Severity};
use crate::observation::{BaselineStatus, Window};
use crate::verdict::{Evidence, Judgement};
use crate::vocab::{fmt_duration, Revision, Weight};

/// What happens next to an operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Send `weight`% of new requests to the canary.
    SetWeight {
        /// The canary's new share of traffic, in percent.
        weight: Weight,
    },
    /// All traffic to stable at once, and undo the canary.
    RollBack,
    /// The canary takes all traffic and becomes the stable revision.
    Promote,
    /// Tell people.
    Notify(Notice),
    /// Write to the audit log.
    Audit(AuditRecord),
    /// An operator command or event that does not apply in the current phase.
    /// The state is unchanged; the shell tells whoever asked.
    Refuse {
        /// Why it does not apply now, for whoever asked.
        reason: String,
    },
}

/// An operator's command, with who and why: every one is audited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorCommand {
    /// What the operator asked for.
    pub action: OperatorAction,
    /// Who asked, as the shell authenticated them: the audit log names them.
    pub by: String,
    /// Why, in the operator's words, if they gave a reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What an operator can ask of a rollout. Each is accepted only in the
/// phases where it makes sense; anywhere else it is refused and audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorAction {
    /// Let a rollout that awaits approval start ramping.
    Approve,
    /// Continue a paused rollout from its current step.
    Resume,
    /// Roll back now.
    Abort,
    /// Promote now, skipping the rest of the ladder.
    PromoteNow,
}

impl fmt::Display for OperatorAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OperatorAction::Approve => "approve",
            OperatorAction::Resume => "resume",
            OperatorAction::Abort => "abort",
            OperatorAction::PromoteNow => "promote",
        })
    }
}

/// Why a rollout paused. Every pause holds the current split and waits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "pause", rename_all = "snake_case")]
pub enum PauseReason {
    /// canaryd's view is impaired (a metrics source down, stale scrapes, the
    /// stable side failing, probes and traffic disagreeing): the window says
    /// nothing about the canary, so never roll back on that. `detail` says
    /// what happened.
    CollectorsUnhealthy {
        /// What impaired the view, in the collector's words.
        detail: String,
    },
    /// Too many windows in a row without enough traffic or data.
    NotEnoughData {
        /// Why the last window was inconclusive.
        detail: String,
        /// Inconclusive windows in a row at the current step.
        windows: u32,
    },
    /// The ramp took longer than the policy's budget.
    RampBudgetExceeded {
        /// Seconds since the ramp started (or was last resumed).
        elapsed_s: u64,
        /// The policy's `ramp_budget`, in seconds.
        budget_s: u64,
    },
    /// The service's error budget is spent: no more risk until a human decides.
    ErrorBudgetExhausted {
        /// Fraction of the error budget left (0.0 to 1.0) when the gate froze.
        remaining: f64,
    },
}

impl fmt::Display for PauseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PauseReason::CollectorsUnhealthy { detail } => {
                write!(f, "canaryd cannot judge the canary ({detail}); holding the split, not rolling back")
            }
            PauseReason::NotEnoughData { detail, windows } => {
                write!(
                    f,
                    "{windows} windows in a row without enough data ({detail})"
                )
            }
            PauseReason::RampBudgetExceeded {
                elapsed_s,
                budget_s,
            } => write!(
                f,
                "ramp took {} of a {} budget",
                fmt_duration(std::time::Duration::from_secs(*elapsed_s)),
                fmt_duration(std::time::Duration::from_secs(*budget_s))
            ),
            PauseReason::ErrorBudgetExhausted { remaining } => write!(
                f,
                "error budget exhausted ({:.1}% left): releases are frozen",
                remaining * 100.0
            ),
        }
    }
}

/// Why a rollout was rolled back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum RollbackCause {
    /// A rule breached in `consecutive` windows in a row (its streak ended at `windows.last()`).
    Breach {
        /// The findings of the rules whose streaks tripped.
        evidence: Vec<Evidence>,
        /// The breaching windows of the longest tripped streak, oldest first.
        windows: Vec<u32>,
    },
    /// An operator aborted the rollout.
    Operator {
        /// The operator who aborted.
        by: String,
        /// Their reason, if they gave one.
        reason: Option<String>,
    },
}

/// Breaching windows as an operator reads them: `#3, #4`.
pub fn window_numbers(windows: &[u32]) -> String {
    windows
        .iter()
        .map(|w| format!("#{w}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A breach's evidence on one line, one finding after another.
pub fn evidence_text(evidence: &[Evidence]) -> String {
    evidence
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// What the core decided at one step. Every window has one (most often `hold`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// The baseline gate passed at the start: the ramp began.
    Start {
        /// The first weight of the ladder.
        weight: Weight,
    },
    /// The baseline gate failed at the start: no traffic moves until an
    /// operator approves (no baseline, no automatic advance).
    AwaitApproval {
        /// Why the baseline cannot be trusted.
        reason: String,
    },
    /// An operator approved a rollout that awaited approval: the ramp began.
    Approve {
        /// The approving operator.
        by: String,
    },
    /// A rollout waiting for approval because its baseline was missing or
    /// thin found the baseline good enough on a re-check and started itself.
    BaselineAvailable {
        /// The weight the ramp began at.
        weight: Weight,
    },
    /// The window counted; the weight stays (hold not done, a breach streak
    /// still short, an advance deferred).
    Hold {
        /// Why the weight stays (`healthy 1 of 3 windows at 10%`).
        reason: String,
    },
    /// The window was not conclusive: same step, one more window.
    Extend {
        /// Why the window was inconclusive.
        reason: String,
        /// Inconclusive windows in a row at this step, this one included.
        extensions: u32,
        /// Extensions the policy allows before the rollout pauses.
        max: u32,
    },
    /// The hold at this step is done and the window healthy: the canary
    /// takes the next step's weight.
    Advance {
        /// The weight before.
        from: Weight,
        /// The weight now.
        to: Weight,
        /// The new step (adaptive ramps: advances so far).
        step: usize,
    },
    /// The split is held where it is and a human is told; the hold at the
    /// step starts over when the rollout resumes.
    Pause {
        /// Why it paused.
        reason: PauseReason,
    },
    /// A paused rollout ramps again from its current step.
    Resume {
        /// The operator who resumed it (`None`: the collectors can see the
        /// canary again and the pause lifted itself).
        by: Option<String>,
    },
    /// The canary loses all its traffic and is undone.
    RollBack {
        /// A sustained breach, or an operator's abort.
        cause: RollbackCause,
    },
    /// The canary takes all traffic and becomes the stable revision.
    Promote {
        /// The operator who promoted it early (`None`: the ladder ended healthy).
        by: Option<String>,
    },
    /// The window arrived in a phase that takes no action on windows.
    Ignore {
        /// Why the window was not judged (`rollout already promoted`).
        reason: String,
    },
    /// An event that does not apply in this phase.
    Refuse {
        /// Why, for whoever sent it.
        reason: String,
    },
}

impl Decision {
    /// The decision's name as the audit log and the API spell it (`roll_back`).
    pub fn name(&self) -> &'static str {
        match self {
            Decision::Start { .. } => "start",
            Decision::AwaitApproval { .. } => "await_approval",
            Decision::Approve { .. } => "approve",
            Decision::BaselineAvailable { .. } => "baseline_available",
            Decision::Hold { .. } => "hold",
            Decision::Extend { .. } => "extend",
            Decision::Advance { .. } => "advance",
            Decision::Pause { .. } => "pause",
            Decision::Resume { .. } => "resume",
            Decision::RollBack { .. } => "roll_back",
            Decision::Promote { .. } => "promote",
            Decision::Ignore { .. } => "ignore",
            Decision::Refuse { .. } => "refuse",
        }
    }

    /// Whether the decision changes the rollout's phase or weight (and so gets
    /// its own `decision` audit entry besides the window's).
    pub fn is_transition(&self) -> bool {
        !matches!(
            self,
            Decision::Hold { .. } | Decision::Extend { .. } | Decision::Ignore { .. }
        )
    }
}

/// An entry for the audit log. The `kind` column of the log is [`AuditRecord::kind`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum AuditRecord {
    /// The rollout was triggered: the baseline it found, and what it decided.
    Started {
        /// The baseline the shell found: replay feeds it back as the start.
        baseline: BaselineStatus,
        /// The name of the policy in force.
        policy: String,
        /// Ramp, or await approval.
        decision: Decision,
    },
    /// One window: everything observed, the verdict, the streaks after it, the decision.
    Window {
        /// 1-based index of the window in the rollout.
        index: u32,
        /// The step the window was judged at (before its decision).
        step: usize,
        /// The canary's weight during the window.
        weight: Weight,
        /// Everything observed, so a replay judges the same data again.
        window: Window,
        /// The verdict and each rule's outcome.
        judgement: Judgement,
        /// Per rule, its breaching windows in a row after this one.
        streaks: BTreeMap<String, u32>,
        /// What the window decided.
        decision: Decision,
    },
    /// A transition decided by a window (advance, pause, roll back, promote...).
    Decision {
        /// The transition.
        decision: Decision,
        /// The step after it.
        step: usize,
        /// The canary's weight after it.
        weight: Weight,
    },
    /// An operator command and what came of it (including refusals).
    Operator {
        /// The command, with who and why.
        command: OperatorCommand,
        /// What it did, or why it was refused.
        decision: Decision,
    },
    /// The baseline looked up again while the rollout awaited approval, and
    /// what came of it (started: "baseline became available", or still waiting).
    BaselineRechecked {
        /// The baseline as found on the re-check.
        baseline: BaselineStatus,
        /// Started, still waiting, or ignored (the rollout was not awaiting approval).
        decision: Decision,
    },
    /// A newer revision of the workload replaced this rollout while it was
    /// in progress (see [`Superseded`] for why it is written without a
    /// `record` tag). Untagged variants are tried last, so every tagged
    /// record reads as before.
    #[serde(untagged)]
    Superseded(Superseded),
}

/// The audit entry of a rollout replaced by a newer revision: the new
/// revision, and why nothing more happens to this one.
///
/// Its JSON is `{"decision": "superseded", "by_revision", "reason"}`, the
/// shape the Kubernetes controller wrote before it was a core record, so the
/// entries already in audit logs read (and replay) as this record, and new
/// ones look the same to whoever reads the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename = "superseded", from = "SupersededWire")]
pub struct Superseded {
    /// The newer revision the shell started a rollout for.
    pub by_revision: Revision,
    /// Why nothing more happens to this rollout, for whoever reads the log.
    pub reason: String,
}

/// How a [`Superseded`] record is read: strictly (the `decision` must say
/// `superseded`, nothing else may be there), since it is the one audit
/// record without a `record` tag.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SupersededWire {
    #[allow(dead_code)] // read only to check it
    decision: SupersededTag,
    by_revision: Revision,
    reason: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum SupersededTag {
    Superseded,
}

impl From<SupersededWire> for Superseded {
    fn from(w: SupersededWire) -> Superseded {
        Superseded {
            by_revision: w.by_revision,
            reason: w.reason,
        }
    }
}

impl AuditRecord {
    /// The audit log's kind for this record.
    pub fn kind(&self) -> &'static str {
        match self {
            AuditRecord::Started { .. }
            | AuditRecord::Decision { .. }
            | AuditRecord::BaselineRechecked { .. }
            | AuditRecord::Superseded(_) => "decision",
            AuditRecord::Window { .. } => "window_verdict",
            AuditRecord::Operator { .. } => "approval",
        }
    }
}
