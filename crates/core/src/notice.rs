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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Started,
    AwaitingApproval,
    Advanced,
    Extended,
    Paused,
    Resumed,
    RolledBack,
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
    pub kind: NoticeKind,
    pub severity: Severity,
    pub facts: NoticeFacts,
    /// What a human can do now, most likely first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next: Vec<NextAction>,
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
        key: RolloutKey,
        /// Why the baseline cannot be trusted (the phase's reason).
        reason: String,
        ladder: Ladder,
    },
    /// The ramp began at `weight`.
    Started {
        key: RolloutKey,
        weight: Weight,
        /// Who approved it, when it waited for an approval.
        approved_by: Option<String>,
        ladder: Ladder,
        window: Duration,
        budget: Duration,
    },
    /// A rollout awaiting approval found its baseline good enough on a
    /// re-check and started on its own at `weight`.
    BaselineAvailable {
        key: RolloutKey,
        weight: Weight,
        /// What the baseline had to reach (`None`: the policy requires none).
        gate: Option<BaselineGate>,
    },
    /// Window `window` was inconclusive: one more at the same weight.
    Extended {
        key: RolloutKey,
        weight: Weight,
        window: u32,
        reason: String,
        extensions: u32,
        max_extensions: u32,
    },
    Advanced {
        key: RolloutKey,
        from: Weight,
        to: Weight,
    },
    /// The split is held at `weight`.
    Paused {
        key: RolloutKey,
        weight: Weight,
        reason: PauseReason,
    },
    /// A paused rollout ramps again.
    Resumed {
        key: RolloutKey,
        weight: Weight,
        /// The operator who resumed it (`None`: the collectors can see the
        /// canary again, and the pause lifted itself).
        by: Option<String>,
        /// The operator's reason.
        reason: Option<String>,
    },
    RolledBack {
        key: RolloutKey,
        /// The canary's weight when it was rolled back.
        at_weight: Weight,
        /// Since the start (`None`: the rollout never started).
        took: Option<Duration>,
        cause: RollbackCause,
    },
    Promoted {
        key: RolloutKey,
        /// The operator who promoted it early (`None`: the ladder ended healthy).
        by: Option<String>,
        took: Option<Duration>,
        windows: u32,
    },
    /// Words written elsewhere: by the shell for its own alerts, or by a
    /// canaryd from before notices were facts (read back from an outbox).
    Worded { title: String, text: String },
}

/// The ladder a rollout follows, as its figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ramp", rename_all = "snake_case")]
pub enum Ladder {
    /// Fixed steps, in percent.
    Steps { weights: Vec<Weight> },
    /// Adaptive: from `from`%, steps of `min_increase`..=`max_increase` points.
    Adaptive {
        from: Weight,
        min_increase: Weight,
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
    pub min_history: Duration,
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
