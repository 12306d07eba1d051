//! Running a scenario through the real driver and store, in virtual time.
//!
//! Window *i* (1-based, counting windows only) ends at `start + i × window`;
//! an operator command between windows happens one millisecond after the
//! window before it. Nothing sleeps: a scenario of a two-hour ramp replays in
//! milliseconds, and its audit log is the same as a live run would write.

use canaryd_core::effect::Decision;
use canaryd_core::rollout::{Event, Phase, Rollout};
use canaryd_core::vocab::{duration_ms, Timestamp};
use canaryd_store::SqliteStore;
use serde::Serialize;

use crate::driver::{Driver, DriverError};
use crate::recording::{CollectingNotifier, VirtualRouter};
use crate::scenario::{Outcome, Scenario, ScenarioStep};

/// One line of the replay table.
#[derive(Debug, Clone, Serialize)]
pub struct WindowLine {
    /// The window's number.
    pub window: u32,
    /// The ladder step in force, from 1.
    pub step: usize,
    /// The canary weight in force during the window, in percent.
    pub weight: u8,
    /// The window's verdict.
    pub verdict: String,
    /// Why, in words.
    pub reason: String,
    /// What the core decided after it (empty: nothing changed).
    pub decision: String,
}

/// An operator command applied during the replay.
#[derive(Debug, Clone, Serialize)]
pub struct OperatorLine {
    /// The window the command came after.
    pub after_window: u32,
    /// The command (`approve`, `abort`, ...).
    pub command: String,
    /// Who gave it.
    pub by: String,
    /// What the core decided (empty: nothing changed).
    pub decision: String,
    /// Why the command was refused, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// The result of a replay: what `canaryd replay --output json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// The scenario's workload.
    pub workload: String,
    /// The scenario's revision.
    pub revision: String,
    /// The name of the policy replayed.
    pub policy: String,
    /// How the rollout ended.
    pub outcome: Outcome,
    /// The window that decided the outcome (absent when no window did, e.g.
    /// a rollout awaiting approval since its start).
    pub after_window: Option<u32>,
    /// The canary weight at the end, in percent.
    pub final_weight: u8,
    /// The final phase in words, with its reason.
    pub phase_detail: String,
    /// One line per window, in order.
    pub windows: Vec<WindowLine>,
    /// The operator commands applied, in order.
    pub operator: Vec<OperatorLine>,
    /// What the notifiers were told, in order (titles).
    pub notices: Vec<String>,
}

impl ReplayReport {
    /// Compares with the scenario's `expect`, naming the first mismatch.
    pub fn check(&self, scenario: &Scenario) -> Result<(), String> {
        let Some(exp) = &scenario.expect else {
            return Err("the scenario has no `expect:` section to check".into());
        };
        if exp.outcome != self.outcome {
            return Err(format!(
                "expected outcome {}, got {} ({})",
                exp.outcome.name(),
                self.outcome.name(),
                self.describe()
            ));
        }
        if let Some(w) = exp.after_window {
            if self.after_window != Some(w) {
                return Err(format!(
                    "expected {} after window {w}, got it after {}",
                    exp.outcome.name(),
                    self.after_window
                        .map(|w| format!("window {w}"))
                        .unwrap_or_else(|| "no window (decided at start or by an operator)".into())
                ));
            }
        }
        if let Some(fw) = exp.final_weight {
            if self.final_weight != fw {
                return Err(format!(
                    "expected final weight {fw}%, got {}%",
                    self.final_weight
                ));
            }
        }
        Ok(())
    }

    /// The outcome in one line (`rolled_back after window 4 at 0%: ...`).
    pub fn describe(&self) -> String {
        let when = self
            .after_window
            .map(|w| format!(" after window {w}"))
            .unwrap_or_default();
        format!(
            "{}{when} at {}%: {}",
            self.outcome.name(),
            self.final_weight,
            self.phase_detail
        )
    }
}

/// How a rollout in this state has ended (or that it has not).
pub fn outcome_of(state: &Rollout) -> Outcome {
    match state.phase {
        Phase::Promoted { .. } => Outcome::Promoted,
        Phase::RolledBack { .. } => Outcome::RolledBack,
        Phase::Paused { .. } => Outcome::Paused,
        Phase::AwaitingApproval { .. } => Outcome::AwaitingApproval,
        Phase::Pending | Phase::Ramping => Outcome::InProgress,
    }
}

/// A human sentence for where a rollout stands.
pub fn phase_detail(state: &Rollout) -> String {
    match &state.phase {
        Phase::Pending => "not started".into(),
        Phase::AwaitingApproval { reason } => format!("awaiting approval: {reason}"),
        Phase::Ramping => format!("ramping at step {} ({}%)", state.step + 1, state.weight),
        Phase::Paused { reason } => format!("paused: {reason}"),
        Phase::RolledBack { cause, .. } => match cause {
            canaryd_core::effect::RollbackCause::Breach { evidence, .. } => format!(
                "rolled back: {}",
                evidence
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            canaryd_core::effect::RollbackCause::Operator { by, reason } => format!(
                "aborted by {by}{}",
                reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
        },
        Phase::Promoted { by } => match by {
            Some(b) => format!("promoted by {b}"),
            None => "promoted: healthy through the whole ladder".into(),
        },
    }
}

/// Replays `scenario` into `store`, starting the virtual clock at `start`.
pub async fn run_scenario(
    scenario: &Scenario,
    store: SqliteStore,
    start: Timestamp,
) -> Result<ReplayReport, DriverError> {
    let key = scenario.key.clone();
    let (router, notifier) = (VirtualRouter::default(), CollectingNotifier::default());
    let mut driver = Driver::new(
        store,
        Box::new(router.clone()),
        Box::new(notifier.clone()),
        scenario.policy.clone(),
    )?;
    let window_ms = duration_ms(scenario.policy.window);

    let first = driver.start(&key, scenario.baseline.clone(), start).await?;
    let mut state = first.state;
    let mut decided_at: Option<u32> = None;
    let mut windows = Vec::new();
    let mut operator = Vec::new();
    let mut index: u32 = 0;
    let mut last_phase = state.phase.name();

    for s in &scenario.steps {
        match s {
            ScenarioStep::Window(w) => {
                index += 1;
                let mut w = (**w).clone();
                w.start = Timestamp(
                    start
                        .0
                        .saturating_add(window_ms.saturating_mul(i64::from(index) - 1)),
                );
                w.end = Timestamp(
                    start
                        .0
                        .saturating_add(window_ms.saturating_mul(i64::from(index))),
                );
                let (step_at, weight_at) = (state.step, state.weight);
                let now = w.end;
                let applied = driver
                    .apply(&key, Event::WindowClosed { window: w }, now)
                    .await?;
                let (verdict, reason) = applied
                    .judgement
                    .as_ref()
                    .map(|j| (j.verdict.kind().to_string(), j.verdict.reason()))
                    .unwrap_or_default();
                windows.push(WindowLine {
                    window: index,
                    step: step_at + 1,
                    weight: weight_at,
                    verdict,
                    reason,
                    decision: applied
                        .decision
                        .as_ref()
                        .map(describe_decision)
                        .unwrap_or_default(),
                });
                state = applied.state;
            }
            ScenarioStep::Operator(cmd) => {
                let now = Timestamp(
                    start
                        .0
                        .saturating_add(window_ms.saturating_mul(i64::from(index)))
                        .saturating_add(1),
                );
                let applied = driver
                    .apply(&key, Event::Operator(cmd.clone()), now)
                    .await?;
                operator.push(OperatorLine {
                    after_window: index,
                    command: cmd.action.to_string(),
                    by: cmd.by.clone(),
                    decision: applied
                        .decision
                        .as_ref()
                        .map(describe_decision)
                        .unwrap_or_default(),
                    refused: applied.refused.clone(),
                });
                state = applied.state;
            }
        }
        if state.phase.name() != last_phase {
            last_phase = state.phase.name();
            decided_at = matches!(s, ScenarioStep::Window(_)).then_some(index);
        }
    }

    let notices = notifier
        .notices()
        .iter()
        .map(canaryd_ports::words::title)
        .collect();
    Ok(ReplayReport {
        workload: key.workload.0.clone(),
        revision: key.revision.0.clone(),
        policy: scenario.policy.name.clone(),
        outcome: outcome_of(&state),
        after_window: decided_at,
        final_weight: router.weight(),
        phase_detail: phase_detail(&state),
        windows,
        operator,
        notices,
    })
}

/// A short description of a decision for tables.
pub fn describe_decision(d: &Decision) -> String {
    match d {
        Decision::Start { weight } => format!("start at {weight}%"),
        Decision::AwaitApproval { reason } => format!("await approval: {reason}"),
        Decision::Approve { by } => format!("approved by {by}"),
        Decision::BaselineAvailable { weight } => {
            format!("baseline became available: start at {weight}%")
        }
        Decision::Hold { reason } => format!("hold: {reason}"),
        Decision::Extend {
            extensions, max, ..
        } => format!("extend ({extensions}/{max})"),
        Decision::Advance { from, to, .. } => format!("advance {from}% → {to}%"),
        Decision::Pause { reason } => format!("pause: {reason}"),
        Decision::Resume { by } => match by {
            Some(b) => format!("resumed by {b}"),
            None => "resumed (collectors healthy again)".into(),
        },
        Decision::RollBack { .. } => "ROLL BACK".into(),
        Decision::Promote { .. } => "PROMOTE".into(),
        Decision::Ignore { reason } => format!("ignored: {reason}"),
        Decision::Refuse { reason } => format!("refused: {reason}"),
    }
}
