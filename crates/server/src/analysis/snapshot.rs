//! What the service remembers about one watched rollout between two windows.
//!
//! Argo Rollouts and Flagger ask far more often than windows close, and 100
//! of them may ask at once: every answer is read from this snapshot, which
//! only the rollout's own live loop writes (once per window or command).

use canaryd_core::effect::Decision;
use canaryd_core::rollout::Rollout;
use canaryd_core::verdict::Judgement;
use canaryd_core::vocab::{RolloutKey, Timestamp};
use canaryd_driver::Progress;

/// The latest state of one watched rollout, as the live loop last left it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub key: RolloutKey,
    /// The stable revision the canary is compared with (Argo's stable
    /// pod-template hash, Flagger's primary).
    pub stable: String,
    /// `None` until the loop has looked up the baseline and started the rollout.
    pub state: Option<Rollout>,
    /// The judgement of the latest window, if one has closed.
    pub judgement: Option<Judgement>,
    /// What the core decided at the latest window or command.
    pub decision: Option<Decision>,
    /// End of the latest window.
    pub window_end: Option<Timestamp>,
    /// When the first window is due, for the answer given before it closes.
    pub first_close: Timestamp,
    /// Why the live loop is not running (the metrics source or the store
    /// could not be set up, or the loop failed). Answers are then
    /// *unreliable*: canaryd cannot see the canary, which proves nothing.
    pub trouble: Option<String>,
    /// When the trouble began, so a failed watch is retried only after a
    /// window's time rather than on every request.
    pub trouble_at: Option<tokio::time::Instant>,
    /// The operator who approved the rollout past the baseline gate, if one did.
    pub approved_by: Option<String>,
}

impl Snapshot {
    pub fn new(key: RolloutKey, stable: String, first_close: Timestamp) -> Snapshot {
        Snapshot {
            key,
            stable,
            state: None,
            judgement: None,
            decision: None,
            window_end: None,
            first_close,
            trouble: None,
            trouble_at: None,
            approved_by: None,
        }
    }

    /// Folds one report of the live loop into the snapshot.
    pub fn record(&mut self, progress: &Progress) {
        match progress {
            Progress::Started { applied, state } => {
                // A baseline that could not be read held the start (below);
                // it was read now. Trouble from `fail` stays (it has a time).
                if self.trouble_at.is_none() {
                    self.trouble = None;
                }
                self.state = Some(state.clone());
                if let Some(a) = applied {
                    self.decision = a.decision.clone();
                }
            }
            Progress::Window {
                window, applied, ..
            } => {
                self.state = Some(applied.state.clone());
                self.judgement = applied.judgement.clone();
                self.decision = applied.decision.clone();
                self.window_end = Some(window.end);
            }
            Progress::Operator { applied, .. } => {
                self.state = Some(applied.state.clone());
                if applied.refused.is_none() {
                    if let Some(Decision::Approve { by }) = &applied.decision {
                        self.approved_by = Some(by.clone());
                    }
                    self.decision = applied.decision.clone();
                }
            }
            Progress::BaselineChecked { applied } => {
                self.state = Some(applied.state.clone());
                self.decision = applied.decision.clone();
            }
            // Before the start, the baseline could not be read: the rollout
            // is held, and every answer says why (unreliable: canaryd cannot
            // see it; never "no baseline", which would ask for approval).
            Progress::SourceFailed { error, .. } if self.state.is_none() => {
                self.trouble = Some(error.clone());
            }
            // The window that follows carries the failure as an unreliable verdict.
            Progress::SourceFailed { .. } => {}
            // Nothing was committed: the state shown stays the last committed one.
            Progress::StoreFailed { .. } => {}
        }
    }

    pub fn fail(&mut self, why: String) {
        self.trouble = Some(why);
        self.trouble_at = Some(tokio::time::Instant::now());
    }
}
