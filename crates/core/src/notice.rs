//! What the core tells people about a transition, as facts.
//!
//! The core decides *that* someone is told and *what* happened: the kind,
//! the severity, the figures (weights, windows, the reason, the ladder) and
//! what a human can do next, as intents. It does not word it: the right
//! words depend on where the rollout runs (`canaryd approve ...` on a
//! terminal is wrong advice in a Kubernetes Event), so the shell renders the
//! sentences for its surface (`canaryd_ports::words`).

use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::effect::{PauseReason, RollbackCause};
use crate::policy::{BaselinePolicy, Ramp};
use crate::verdict::Evidence;
use crate::vocab::{RolloutKey, Weight};

/// How urgent a notice is. Ordered from least to most urgent, so a
/// notification target can ask for only `warning` and up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Progress nobody has to act on: started, extended, advanced, resumed, promoted.
    Info,
    /// A human is needed: the rollout awaits approval or is paused.
    Warning,
    /// The canary was rolled back: someone should look now.
    Critical,
}

/// Which transition a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The ramp began (after an approval, or once the baseline became available).
    Started,
    /// The baseline gate failed: no traffic moves until a human approves.
    AwaitingApproval,
    /// The canary moved to the next step's weight.
    Advanced,
    /// A window was inconclusive: one more at the same weight.
    Extended,
    /// The split is held until a human (or recovered collectors) resumes it.
    Paused,
    /// A paused rollout ramps again.
    Resumed,
    /// The canary lost all its traffic and was undone.
    RolledBack,
    /// The canary became the stable revision.
    Promoted,
}

/// A message for humans about a transition, as facts. Notifiers word it
/// for their channel and surface; the core decides what it says.
///
/// Outboxes written before notices were facts hold `title` and `text`
/// instead of `facts`: those read as [`NoticeFacts::Worded`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "NoticeWire")]
pub struct Notice {
    /// Which transition it is about.
    pub kind: NoticeKind,
    /// How urgent it is.
    pub severity: Severity,
    /// What happened, with the figures the words need.
    pub facts: NoticeFacts,
    /// What a human can do now, most likely first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next: Vec<NextAction>,
    /// A breach's findings, so a rollback message tells the whole story:
    /// metric, value, threshold, baseline, window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
}

impl Notice {
    /// A notice whose words are already written: the shell's own alerts
    /// (the store cannot commit), which are not core transitions.
    pub fn worded(
        kind: NoticeKind,
        severity: Severity,
        title: impl Into<String>,
        text: impl Into<String>,
    ) -> Notice {
        Notice {
            kind,
            severity,
            facts: NoticeFacts::Worded {
                title: title.into(),
                text: text.into(),
            },
            next: Vec::new(),
            evidence: Vec::new(),
        }
    }
}

/// What happened, per transition, with the figures the words need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum NoticeFacts {
    /// The baseline gate failed at the start: no traffic moved.
    AwaitingApproval {
        /// The rollout.
        key: RolloutKey,
        /// Why the baseline cannot be trusted (the phase's reason).
        reason: String,
        /// The ladder an approval would start, so the approver knows what
        /// they agree to.
        ladder: Ladder,
    },
    /// The ramp began at `weight`.
    Started {
        /// The rollout.
        key: RolloutKey,
        /// The first weight of the ladder.
        weight: Weight,
        /// Who approved it, when it waited for an approval.
        approved_by: Option<String>,
        /// The steps ahead.
        ladder: Ladder,
        /// Length of one analysis window.
        window: Duration,
        /// The policy's ramp budget: past it the rollout pauses for a human.
        budget: Duration,
    },
    /// A rollout awaiting approval found its baseline good enough on a
    /// re-check and started on its own at `weight`.
    BaselineAvailable {
        /// The rollout.
        key: RolloutKey,
        /// The first weight of the ladder.
        weight: Weight,
        /// What the baseline had to reach (`None`: the policy requires none).
        gate: Option<BaselineGate>,
    },
    /// Window `window` was inconclusive: one more at the same weight.
    Extended {
        /// The rollout.
        key: RolloutKey,
        /// The weight that stays for one more window.
        weight: Weight,
        /// 1-based index of the inconclusive window.
        window: u32,
        /// Why it was inconclusive.
        reason: String,
        /// Inconclusive windows in a row at this step, this one included.
        extensions: u32,
        /// Extensions the policy allows before the rollout pauses.
        max_extensions: u32,
    },
    /// The hold at a step is done: the canary takes more traffic.
    Advanced {
        /// The rollout.
        key: RolloutKey,
        /// The weight before.
        from: Weight,
        /// The weight now.
        to: Weight,
    },
    /// The split is held at `weight`.
    Paused {
        /// The rollout.
        key: RolloutKey,
        /// The weight held.
        weight: Weight,
        /// Why it paused.
        reason: PauseReason,
    },
    /// A paused rollout ramps again.
    Resumed {
        /// The rollout.
        key: RolloutKey,
        /// The weight it ramps on from.
        weight: Weight,
        /// The operator who resumed it (`None`: the collectors can see the
        /// canary again, and the pause lifted itself).
        by: Option<String>,
        /// The operator's reason.
        reason: Option<String>,
    },
    /// The canary lost all its traffic and was undone.
    RolledBack {
        /// The rollout.
        key: RolloutKey,
        /// The canary's weight when it was rolled back.
        at_weight: Weight,
        /// Since the start (`None`: the rollout never started).
        took: Option<Duration>,
        /// A sustained breach (with its windows), or an operator's abort.
        cause: RollbackCause,
    },
    /// The canary became the stable revision.
    Promoted {
        /// The rollout.
        key: RolloutKey,
        /// The operator who promoted it early (`None`: the ladder ended healthy).
        by: Option<String>,
        /// Since the start (`None`: the rollout never started).
        took: Option<Duration>,
        /// Windows judged over the whole rollout.
        windows: u32,
    },
    /// Words written elsewhere: by the shell for its own alerts, or by a
    /// canaryd from before notices were facts (read back from an outbox).
    Worded {
        /// The headline.
        title: String,
        /// The body.
        text: String,
    },
}

/// The ladder a rollout follows, as its figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ramp", rename_all = "snake_case")]
pub enum Ladder {
    /// Fixed steps, in percent.
    Steps {
        /// The canary's weight at each step, ending at 100.
        weights: Vec<Weight>,
    },
    /// Adaptive: from `from`%, steps of `min_increase`..=`max_increase` points.
    Adaptive {
        /// The first weight.
        from: Weight,
        /// The smallest step, taken when the canary trails the baseline.
        min_increase: Weight,
        /// The largest step, taken when the canary matches the baseline.
        max_increase: Weight,
    },
}

impl From<&Ramp> for Ladder {
    fn from(ramp: &Ramp) -> Ladder {
        match ramp {
            Ramp::Ladder(steps) => Ladder::Steps {
                weights: steps.iter().map(|s| s.weight).collect(),
            },
            Ramp::Adaptive(a) => Ladder::Adaptive {
                from: a.initial_weight,
                min_increase: a.min_increase,
                max_increase: a.max_increase,
            },
        }
    }
}

/// What a stable history must reach before a rollout ramps without an approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineGate {
    /// Clean stable history needed.
    pub min_history: Duration,
    /// Stable requests needed on every route over that history.
    pub min_requests_per_route: u64,
}

impl BaselineGate {
    /// The gate of `policy`, `None` when it requires no baseline.
    pub fn of(policy: &BaselinePolicy) -> Option<BaselineGate> {
        match policy {
            BaselinePolicy::Required {
                min_history,
                min_requests_per_route,
                ..
            } => Some(BaselineGate {
                min_history: *min_history,
                min_requests_per_route: *min_requests_per_route,
            }),
            BaselinePolicy::None => None,
        }
    }
}

/// Something a human can do about a rollout, as an intent: each surface
/// says how (a command, an API call, a resource to edit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NextAction {
    /// Start the ramp of a rollout awaiting approval.
    Approve,
    /// Continue a paused rollout from its current step.
    Resume,
    /// Roll the canary back now.
    RollBack,
}

/// How a notice is read: as facts, or as the words an older canaryd wrote.
#[derive(Deserialize)]
#[serde(untagged)]
enum NoticeWire {
    Facts {
        kind: NoticeKind,
        severity: Severity,
        facts: NoticeFacts,
        #[serde(default)]
        next: Vec<NextAction>,
        #[serde(default)]
        evidence: Vec<Evidence>,
    },
    Worded {
        kind: NoticeKind,
        severity: Severity,
        title: String,
        text: String,
        #[serde(default)]
        evidence: Vec<Evidence>,
    },
}

impl From<NoticeWire> for Notice {
    fn from(wire: NoticeWire) -> Notice {
        match wire {
            NoticeWire::Facts {
                kind,
                severity,
                facts,
                next,
                evidence,
            } => Notice {
                kind,
                severity,
                facts,
                next,
                evidence,
            },
            NoticeWire::Worded {
                kind,
                severity,
                title,
                text,
                evidence,
            } => Notice {
                kind,
                severity,
                facts: NoticeFacts::Worded { title, text },
                next: Vec::new(),
                evidence,
            },
        }
    }
}
