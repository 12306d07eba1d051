//! The words canaryd speaks: what is being rolled out, where traffic goes, and
//! when things happen.
//!
//! Time is a plain number of milliseconds since the Unix epoch, handed in by the
//! shell. The core never asks the system what time it is: that is what makes a
//! rollout replayable from its audit log and simulable in virtual time.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The service being released, as `namespace/name` (or any stable name a team uses).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Workload(pub String);

/// The canary build being judged: an image tag, a git sha, a pod-template hash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Revision(pub String);

/// One rollout is one canary revision of one workload: this pair keys its
/// state, its audit entries and its notifications everywhere.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RolloutKey {
    /// The service being released.
    pub workload: Workload,
    /// The canary build of that workload this rollout judges.
    pub revision: Revision,
}

impl RolloutKey {
    /// A key from plain names, as the CLI, the API and a `Canary` resource give them.
    pub fn new(workload: impl Into<String>, revision: impl Into<String>) -> Self {
        RolloutKey {
            workload: Workload(workload.into()),
            revision: Revision(revision.into()),
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for RolloutKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.workload, self.revision)
    }
}

/// A route as users name it: method and path template, e.g. `GET /pay`.
/// Rules are judged per route because a regression on one endpoint is diluted
/// to nothing in a service-wide average.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Route(pub String);

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Route {
    fn from(s: &str) -> Self {
        Route(s.to_string())
    }
}

/// Which side of the split a measurement comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cohort {
    /// The new revision, receiving `weight`% of traffic.
    Canary,
    /// The stable revision serving the rest of the traffic in the same window.
    Baseline,
}

impl fmt::Display for Cohort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cohort::Canary => "canary",
            Cohort::Baseline => "baseline",
        })
    }
}

/// Milliseconds since the Unix epoch, as given by the shell (wall clock in
/// production, virtual clock in replay and simulation).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Milliseconds since the Unix epoch, for storage and spans.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// The instant `d` later; saturates instead of overflowing, so a huge
    /// policy duration cannot make a decision panic.
    pub fn plus(self, d: std::time::Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(duration_ms(d)))
    }

    /// Time elapsed since `earlier`; zero if `earlier` is in the future
    /// (clocks handed in by a shell may step backwards; a decision must not panic on it).
    pub fn since(self, earlier: Timestamp) -> std::time::Duration {
        std::time::Duration::from_millis(self.0.saturating_sub(earlier.0).max(0) as u64)
    }
}

/// Milliseconds in a duration, saturating instead of overflowing.
pub fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Formats a duration the way the policy files write them (`5m`, `1h 30m`).
pub fn fmt_duration(d: std::time::Duration) -> String {
    humantime::format_duration(std::time::Duration::from_secs(d.as_secs())).to_string()
}

/// A traffic share for the canary, in percent (0–100). Integer percent is what
/// every router we drive accepts (Gateway API weights, replica ratios).
pub type Weight = u8;
