//! Backtesting: replay recorded windows through a policy and see what it
//! would have decided, window by window, so a team can tune a policy on its
//! own history before trusting it.
//!
//! Inputs (besides scenario files, which the binary reads with the driver):
//! - **An audit export** (`canaryd audit export`, JSON Lines): every rollout
//!   in it, with its recorded baseline, windows and operator commands.
//! - **A Prometheus range-query export**: see [`prometheus`] for what the
//!   file must contain.
//!
//! The recorded counts are replayed as they are: the weight shown is the one
//! the policy would have set, not the one the traffic was measured at.

pub mod prometheus;

pub use prometheus::parse_prometheus;

use serde::Deserialize;

use canaryd_core::effect::{AuditRecord, OperatorAction, OperatorCommand};
use canaryd_core::observation::BaselineStatus;
use canaryd_core::policy::Policy;
use canaryd_core::rollout::{step, Event, Rollout};
use canaryd_core::vocab::{RolloutKey, Timestamp};
use canaryd_core::{Decision, Effect, Judgement};

/// A recorded rollout: its key and the events to replay, with their times.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The rollout the events belong to.
    pub key: RolloutKey,
    /// The events in the order they happened, each with its time.
    pub events: Vec<(Timestamp, Event)>,
}

/// What the policy decided for one replayed window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowOutcome {
    /// The window's number in the rollout, as the audit record gives it.
    pub index: u32,
    /// When the window was judged.
    pub at: Timestamp,
    /// The weight the policy had set when the window was judged.
    pub weight: u8,
    /// What the policy made of the window's evidence.
    pub judgement: Judgement,
    /// What the policy did next (hold, ramp, roll back, ...).
    pub decision: Decision,
}

/// The whole replay: per window, and the final state.
#[derive(Debug, Clone, PartialEq)]
pub struct Backtest {
    /// Every judged window, in order.
    pub windows: Vec<WindowOutcome>,
    /// The rollout's state after the last event.
    pub last: Rollout,
}

/// Why a data file cannot be backtested; every message names where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    /// A line of the audit export that is not an audit export entry.
    #[error("line {line}: {message}")]
    AuditLine {
        /// Line number in the export, from 1.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A Prometheus export that parses as JSON but lacks what a replay needs.
    #[error("{path}: {message}")]
    Prometheus {
        /// Where in the JSON document (e.g. `data.result[0].values`).
        path: String,
        /// What is wrong there.
        message: String,
    },
    /// A Prometheus export that is not valid JSON.
    #[error("line {line}, column {column}: {message}")]
    Json {
        /// Line of the error, from 1.
        line: usize,
        /// Column of the error, from 1.
        column: usize,
        /// What is wrong there.
        message: String,
    },
    /// The data has nothing to replay; the message says which file or rollout.
    #[error("{0}")]
    Empty(String),
}

/// Replays `recorded` through `policy` with the production `step()`.
pub fn backtest(policy: &Policy, recorded: &Recorded) -> Backtest {
    let mut state = Rollout::new(recorded.key.clone());
    let mut windows = Vec::new();
    for (at, event) in &recorded.events {
        let (next, effects) = step(&state, event.clone(), policy, *at);
        for e in effects {
            if let Effect::Audit(AuditRecord::Window {
                index,
                weight,
                judgement,
                decision,
                ..
            }) = e
            {
                windows.push(WindowOutcome {
                    index,
                    at: *at,
                    weight,
                    judgement,
                    decision,
                });
            }
        }
        state = next;
    }
    Backtest {
        windows,
        last: state,
    }
}

/// The events of a rollout whose recorded baseline may be missing: start,
/// then an approval when the policy would wait for one (the recording shows
/// the rollout did go ahead), then the windows.
pub fn with_start(
    key: RolloutKey,
    baseline: BaselineStatus,
    start: Timestamp,
    rest: Vec<(Timestamp, Event)>,
) -> Recorded {
    let mut events = vec![(start, Event::Start { baseline }), (start, approval())];
    events.extend(rest);
    Recorded { key, events }
}

/// The approval `backtest` gives a recorded rollout (refused, harmlessly,
/// when the policy did not wait for one).
fn approval() -> Event {
    Event::Operator(OperatorCommand {
        action: OperatorAction::Approve,
        by: "backtest".into(),
        reason: Some("replaying recorded traffic".into()),
    })
}

#[derive(Deserialize)]
struct ExportLine {
    workload: String,
    revision: String,
    at_ms: i64,
    payload: serde_json::Value,
}

/// Every rollout in an audit export, in order of first appearance.
pub fn parse_audit_export(text: &str) -> Result<Vec<Recorded>, DataError> {
    let mut out: Vec<Recorded> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let entry: ExportLine = serde_json::from_str(raw).map_err(|e| DataError::AuditLine {
            line,
            message: format!("not an audit export entry: {e}"),
        })?;
        // Only window verdicts, decisions and approvals carry core records;
        // action and notification entries are skipped.
        let Ok(record) = serde_json::from_value::<AuditRecord>(entry.payload) else {
            continue;
        };
        let Some(event) = record.event() else {
            continue;
        };
        let key = RolloutKey::new(entry.workload, entry.revision);
        let at = Timestamp(entry.at_ms);
        match out.iter_mut().find(|r| r.key == key) {
            Some(r) => r.events.push((at, event)),
            None => out.push(Recorded {
                key,
                events: vec![(at, event)],
            }),
        }
    }
    if out.is_empty() {
        return Err(DataError::Empty(
            "the audit export holds no rollout records (started, window, operator)".into(),
        ));
    }
    // The recording shows the rollout went ahead: approve it right after its
    // start, in case the policy under test would have waited for a human.
    for r in &mut out {
        if let Some(pos) = r
            .events
            .iter()
            .position(|(_, e)| matches!(e, Event::Start { .. }))
        {
            let at = r.events[pos].0;
            r.events.insert(pos + 1, (at, approval()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_lines_that_are_not_entries_are_located() {
        let e = parse_audit_export("\n{\"seq\": 1}\n").unwrap_err();
        assert!(matches!(e, DataError::AuditLine { line: 2, .. }), "{e}");
        let e = parse_audit_export("").unwrap_err();
        assert!(matches!(e, DataError::Empty(_)));
    }
}
