//! An open-loop load generator: requests leave at their scheduled times
//! (`i / rps` after the start) whether or not earlier ones have completed, so a
//! slow server cannot slow the load down and hide its own latency (the
//! "coordinated omission" of closed-loop tools).
//!
//! When more than `max_in_flight` requests are outstanding, a due request is
//! *dropped* and counted, never delayed. A request sent more than `late_after`
//! after its scheduled time (the generator itself fell behind) is sent anyway
//! and counted as *late*. Latency is measured from the scheduled time, not the
//! actual send, for the same reason.

mod mix;
mod report;
mod run;

pub use mix::{MixEntry, RouteMix};
pub use report::{LoadCounters, LoadReport};
pub use run::LoadHandle;

use crate::error::SimError;
use std::time::Duration;

/// How to generate load.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Base URL, `http://HOST:PORT` (an optional path prefix is kept).
    pub target: String,
    /// Requests per second (arrival rate), > 0.
    pub rps: f64,
    /// How long to keep the schedule going.
    pub duration: Duration,
    /// Which requests to send, in which proportions.
    pub mix: RouteMix,
    /// Cap on outstanding requests; above it due requests are dropped (counted).
    pub max_in_flight: usize,
    /// Per-request deadline (counted as an error when it passes).
    pub request_timeout: Duration,
    /// A send this far behind schedule counts as late.
    pub late_after: Duration,
}

impl LoadConfig {
    /// The defaults for a target: 1,000 in flight, 10 s timeout, late after 10 ms.
    pub fn new(target: impl Into<String>, rps: f64, duration: Duration) -> Self {
        LoadConfig {
            target: target.into(),
            rps,
            duration,
            mix: RouteMix::default(),
            max_in_flight: 1_000,
            request_timeout: Duration::from_secs(10),
            late_after: Duration::from_millis(10),
        }
    }

    fn validate(&self) -> Result<(), SimError> {
        if !(self.rps.is_finite() && self.rps > 0.0) {
            return Err(SimError::BadLoad(format!("rps {} must be > 0", self.rps)));
        }
        if self.planned() == 0 {
            return Err(SimError::BadLoad(format!(
                "rps {} for {:?} plans no request",
                self.rps, self.duration
            )));
        }
        if self.max_in_flight == 0 {
            return Err(SimError::BadLoad("max_in_flight must be > 0".into()));
        }
        Ok(())
    }

    /// Requests the schedule holds: `round(rps × duration)`.
    pub fn planned(&self) -> u64 {
        (self.rps * self.duration.as_secs_f64()).round() as u64
    }
}

/// Starts generating load on the current tokio runtime.
pub fn start(config: LoadConfig) -> Result<LoadHandle, SimError> {
    config.validate()?;
    run::start(config)
}
