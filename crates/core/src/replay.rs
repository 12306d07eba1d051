//! Replaying a rollout from its audit log.
//!
//! Audit records carry the inputs of every step, so folding [`step`] over
//! them rebuilds the rollout exactly. `canaryd audit verify` proves the log
//! was not edited; replay proves the decisions in it follow from its inputs.

use crate::effect::AuditRecord;
use crate::policy::Policy;
use crate::rollout::{step, Event, Rollout};
use crate::vocab::{RolloutKey, Timestamp};

impl AuditRecord {
    /// The event this record was written for, if it records an input
    /// (`Decision` records only restate what a window decided).
    pub fn event(&self) -> Option<Event> {
        match self {
            AuditRecord::Started { baseline, .. } => Some(Event::Start {
                baseline: baseline.clone(),
            }),
            AuditRecord::Window { window, .. } => Some(Event::WindowClosed {
                window: window.clone(),
            }),
            AuditRecord::Operator { command, .. } => Some(Event::Operator(command.clone())),
            AuditRecord::BaselineRechecked { baseline, .. } => Some(Event::BaselineChecked {
                baseline: baseline.clone(),
            }),
            AuditRecord::Superseded(s) => Some(Event::Superseded {
                by: s.by_revision.clone(),
            }),
            AuditRecord::Decision { .. } => None,
        }
    }
}

/// Rebuilds a rollout from its audit records, each with the time it was written.
pub fn replay<'a>(
    key: RolloutKey,
    policy: &Policy,
    records: impl IntoIterator<Item = (Timestamp, &'a AuditRecord)>,
) -> Rollout {
    let mut state = Rollout::new(key);
    for (at, record) in records {
        if let Some(event) = record.event() {
            state = step(&state, event, policy, at).0;
        }
    }
    state
}
