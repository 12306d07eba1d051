//! The append-only, hash-chained audit log: entry types and module wiring.
//!
//! * [`chain`]: canonical encoding and the hash definition,
//! * [`append`]: writing entries (the only way rows get into `audit_log`),
//! * [`read`]: listing and exporting entries,
//! * [`verify`]: walking the chain and classifying the first break.

pub(crate) mod append;
pub(crate) mod chain;
mod raw;
mod read;
pub(crate) mod verify;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What an audit entry records. Stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// The SLO verdict for one analysis window.
    WindowVerdict,
    /// A controller decision (advance, hold, roll back, promote, ...).
    Decision,
    /// An action executed against the cluster or traffic layer.
    Action,
    /// A human approval or rejection.
    Approval,
    /// A notification sent to people or systems.
    Notification,
}

impl AuditKind {
    /// Every kind, in declaration order.
    pub const ALL: [AuditKind; 5] = [
        AuditKind::WindowVerdict,
        AuditKind::Decision,
        AuditKind::Action,
        AuditKind::Approval,
        AuditKind::Notification,
    ];

    /// The snake_case name used in the database, in hashes and in exports.
    /// Changing one of these would break every existing chain.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::WindowVerdict => "window_verdict",
            AuditKind::Decision => "decision",
            AuditKind::Action => "action",
            AuditKind::Approval => "approval",
            AuditKind::Notification => "notification",
        }
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the [`AuditKind`] names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit kind {0:?} (expected one of window_verdict, decision, action, approval, notification)")]
pub struct UnknownAuditKind(pub String);

impl FromStr for AuditKind {
    type Err = UnknownAuditKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuditKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownAuditKind(s.to_owned()))
    }
}

/// An audit entry to append; the store assigns `seq` and the hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    /// The workload of the rollout the entry is about.
    pub workload: String,
    /// The revision of the rollout the entry is about.
    pub revision: String,
    /// When it happened (Unix ms), as the caller's clock says.
    pub at_ms: i64,
    /// What kind of event it records.
    pub kind: AuditKind,
    /// The event's details; stored in canonical form.
    pub payload: serde_json::Value,
}

/// A stored audit entry. `payload` is in canonical form (object keys sorted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log, from 1 with no gaps; a gap means an entry was removed.
    pub seq: i64,
    /// The workload of the rollout the entry is about.
    pub workload: String,
    /// The revision of the rollout the entry is about.
    pub revision: String,
    /// When it happened (Unix ms).
    pub at_ms: i64,
    /// What kind of event it records.
    pub kind: AuditKind,
    /// The event's details.
    pub payload: serde_json::Value,
    /// Hash of the previous entry, or [`GENESIS_HASH`](chain::GENESIS_HASH) for the first.
    pub prev_hash: String,
    /// This entry's hash over its fields and `prev_hash`: changing any entry
    /// breaks every hash after it.
    pub hash: String,
}

impl AuditEntry {
    /// The canonical JSON of the fields the chain protects (everything except the
    /// two hashes). See the crate documentation for the exact definition.
    pub fn canonical_content(&self) -> String {
        self.content().canonical()
    }

    /// The exact text whose SHA-256 is this entry's hash: `prev_hash`, `"\n"`, then
    /// [`canonical_content`](Self::canonical_content). Exposed so that an exported
    /// log can be checked with independent tools.
    pub fn content_hash_input(&self) -> String {
        self.content().hash_input(&self.prev_hash)
    }

    /// Recomputes this entry's hash from its fields and `prev_hash`. Equal to
    /// [`hash`](Self::hash) unless the entry was modified.
    pub fn compute_hash(&self) -> String {
        self.content().hash(&self.prev_hash)
    }

    pub(crate) fn content(&self) -> chain::Content<'_> {
        self.content_at(self.seq)
    }

    /// The content as if this entry were stored at `seq`; used to find out where a
    /// moved entry was originally written (the hash covers `seq`).
    pub(crate) fn content_at(&self, seq: i64) -> chain::Content<'_> {
        chain::Content {
            seq,
            workload: &self.workload,
            revision: &self.revision,
            at_ms: self.at_ms,
            kind: self.kind,
            payload: &self.payload,
        }
    }
}
