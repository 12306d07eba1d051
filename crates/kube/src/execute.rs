//! Carrying out a reconcile [`Plan`] through the driver: baseline look-ups,
//! window reads and every router action go through `Driver::apply`, which
//! commits state and effects to the store before acting. That is what makes
//! the controller safe to kill at any moment.

use canaryd_core::effect::{Effect, Notice};
use canaryd_core::rollout::{Event, Rollout};
use canaryd_core::vocab::Timestamp;
use canaryd_driver::{ClosedWindow, Driver, DriverError};
use canaryd_ports::MetricsSource;

use crate::crd::WindowStatus;
use crate::reconcile::{Action, Plan};
use crate::status::verdict_name;

/// What a reconcile did, for status and Events.
#[derive(Debug, Default)]
pub struct Executed {
    /// The rollout's state after the last action (None: nothing running).
    pub state: Option<Rollout>,
    /// Windows closed in this reconcile, oldest first.
    pub windows: Vec<WindowStatus>,
    /// Transitions to announce as Kubernetes Events.
    pub notices: Vec<Notice>,
    /// Set when the target is missing.
    pub target_missing: Option<String>,
    /// Set when the status shows a rollout the store does not know.
    pub state_missing: Option<String>,
    /// Set when a newer revision replaced a running rollout.
    pub superseded: Option<String>,
    /// How the last read of the metrics source went (`None`: nothing was
    /// read), for the `MetricsReady` condition.
    pub metrics_read: Option<Result<(), String>>,
    /// Set when a rollout was due to start but its baseline could not be
    /// read: nothing was done (not even a supersede), the reconcile retries.
    pub baseline_unreadable: Option<String>,
}

/// Runs `plan`.
pub async fn execute(
    plan: &Plan,
    driver: &mut Driver,
    source: &mut dyn MetricsSource,
    now: Timestamp,
) -> Result<Executed, DriverError> {
    let mut out = Executed::default();
    // A baseline that cannot be *read* is not a baseline that does not
    // *exist*: starting with `Missing` would ask a human to approve a
    // rollout canaryd cannot see. So it is read before anything else is
    // done, and a failure leaves everything as it was, to retry.
    let mut baseline = None;
    let starting = plan.actions.iter().find_map(|a| match a {
        Action::Start { key } => Some(key),
        _ => None,
    });
    if let Some(key) = starting {
        match source.baseline(key).await {
            Ok(b) => {
                out.metrics_read = Some(Ok(()));
                baseline = Some(b);
            }
            Err(e) => {
                let problem = format!(
                    "the baseline of revision {} could not be read: {e}; canaryd does not \
                     start the rollout until it can, and retries",
                    key.revision
                );
                out.metrics_read = Some(Err(problem.clone()));
                out.baseline_unreadable = Some(problem);
                return Ok(out);
            }
        }
    }
    for action in &plan.actions {
        match action {
            Action::ReportTargetMissing { message } => out.target_missing = Some(message.clone()),
            Action::ReportStateMissing { message } => out.state_missing = Some(message.clone()),
            Action::Idle => {}
            Action::Supersede { previous, by } => {
                // Recorded, not carried out: the old rollout's outbox is left
                // alone, the new rollout's start owns the traffic now.
                driver
                    .record(
                        previous,
                        Event::Superseded {
                            by: by.revision.clone(),
                        },
                        now,
                    )
                    .await?;
                out.superseded = Some(format!(
                    "revision {} replaced {} during its rollout; starting over for {}",
                    by.revision, previous.revision, by.revision
                ));
            }
            Action::Start { key } => {
                let baseline = match baseline.take() {
                    Some(b) => b,
                    None => match source.baseline(key).await {
                        Ok(b) => b,
                        Err(e) => {
                            let problem = format!("the baseline could not be read: {e}");
                            out.metrics_read = Some(Err(problem.clone()));
                            out.baseline_unreadable = Some(problem);
                            return Ok(out);
                        }
                    },
                };
                let applied = driver.start(key, baseline, now).await?;
                collect_notices(&applied.effects, &mut out.notices);
                out.state = Some(applied.state);
            }
            Action::CloseWindow { key, start, end } => {
                let state = driver.load(key)?;
                if state.phase.is_terminal() {
                    out.state = Some(state);
                    break;
                }
                let ClosedWindow {
                    read_error,
                    applied,
                    ..
                } = driver
                    .close_window(source, key, state.weight, *start, *end)
                    .await;
                out.metrics_read = Some(match read_error {
                    None => Ok(()),
                    Some(e) => Err(format!(
                        "reading the window ending {} failed: {e}; the window counts as \
                         unreliable (the rollout holds, it is never rolled back on that)",
                        rfc3339(*end)
                    )),
                });
                let applied = applied?;
                collect_notices(&applied.effects, &mut out.notices);
                if let Some(j) = &applied.judgement {
                    out.windows.push(WindowStatus {
                        index: applied.state.windows,
                        verdict: verdict_name(j.verdict.kind()).to_string(),
                        weight: state.weight,
                        end: rfc3339(*end),
                    });
                }
                out.state = Some(applied.state);
            }
            Action::Flush { key } => {
                driver.flush(key, now).await?;
                out.state = Some(driver.load(key)?);
            }
        }
    }
    Ok(out)
}

fn collect_notices(effects: &[Effect], into: &mut Vec<Notice>) {
    into.extend(effects.iter().filter_map(|e| match e {
        Effect::Notify(n) => Some(n.clone()),
        _ => None,
    }));
}

/// A timestamp as Kubernetes writes times.
pub fn rfc3339(t: Timestamp) -> String {
    canaryd_driver::live::rfc3339(t).unwrap_or_default()
}
