//! Running one rollout live: the clock ticks, windows close, operators speak.
//!
//! This is the loop behind `canaryd proxy` and `canaryd demo`. It owns time
//! (the only place outside the binary that reads a clock) and hands it to the
//! core as plain numbers. It is resumable: it starts from whatever the store
//! holds for the rollout, so a process killed mid-rollout picks up where it
//! left off when started again (pending effects are flushed first by the
//! driver).

use canaryd_core::effect::{Notice, NoticeKind, OperatorCommand, Severity};
use canaryd_core::observation::Window;
use canaryd_core::rollout::{Event, Phase, Rollout};
use canaryd_core::vocab::{duration_ms, RolloutKey, Timestamp, Weight};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

use canaryd_ports::MetricsSource;

use crate::driver::{is_store_outage, Applied, ClosedWindow, Driver, DriverError};

/// An operator command sent to a running rollout, with where to send the answer.
#[derive(Debug)]
pub struct Request {
    /// The command to apply.
    pub command: OperatorCommand,
    /// Where to send the [`Reply`]; `None` when nobody waits for one.
    pub reply: Option<oneshot::Sender<Reply>>,
}

impl From<OperatorCommand> for Request {
    fn from(command: OperatorCommand) -> Request {
        Request {
            command,
            reply: None,
        }
    }
}

/// What became of a command: applied, or refused with the reason.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Reply {
    /// The command was applied (false: refused).
    pub accepted: bool,
    /// What happened, or why it was refused, for the operator.
    pub message: String,
    /// The rollout's phase after the command.
    pub phase: String,
    /// The canary weight after the command, in percent.
    pub weight: u8,
}

/// When the live loop gives up waiting on a rollout that needs a human.
#[derive(Debug, Clone, Copy)]
pub struct LiveLimits {
    /// Stop after this many windows in a row spent paused or awaiting
    /// approval (`None`: wait for an operator forever, as a server does).
    pub idle_windows: Option<u32>,
    /// Stop after this many windows in all (`None`: no limit).
    pub max_windows: Option<u32>,
}

/// What the loop reports as it goes, for progress displays.
// One value per window, handed to the callback by reference and dropped:
// boxing the large variant would allocate for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Progress {
    /// The rollout started (or was found already started in the store).
    Started {
        /// What starting produced; `None` when the rollout was already in the store.
        applied: Option<Applied>,
        /// The rollout as it stands.
        state: Rollout,
    },
    /// A window closed and was applied.
    Window {
        /// The window's number, from 1.
        index: u32,
        /// What the source measured.
        window: Window,
        /// What applying it produced.
        applied: Applied,
    },
    /// A window could not be read from the source: applied as unreliable.
    SourceFailed {
        /// The window's number, from 1.
        index: u32,
        /// What the source said.
        error: String,
    },
    /// The store could not commit (a full disk, an I/O error): nothing was
    /// decided or acted on, the router holds `weight`, the last committed split.
    StoreFailed {
        /// The window's number, from 1.
        index: u32,
        /// What the store said.
        error: String,
        /// The weight the router holds, in percent.
        weight: Weight,
    },
    /// The baseline was looked up again while awaiting approval.
    BaselineChecked {
        /// What the fresh baseline produced.
        applied: Applied,
    },
    /// An operator command was applied.
    Operator {
        /// The command.
        command: OperatorCommand,
        /// What applying it produced.
        applied: Applied,
    },
}

/// Why the loop returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Promoted or rolled back.
    Finished,
    /// Paused or awaiting approval for `idle_windows` windows.
    NeedsHuman,
    /// `max_windows` reached while still ramping.
    WindowLimit,
    /// The control channel closed (shutdown requested).
    Shutdown,
}

/// Whether a rollout waiting for its baseline re-checks it every window
/// (`baseline.approval: when_thin`, the default).
fn rechecks_baseline(policy: &canaryd_core::Policy) -> bool {
    matches!(
        policy.baseline,
        canaryd_core::policy::BaselinePolicy::Required {
            approval: canaryd_core::policy::BaselineApproval::WhenThin,
            ..
        }
    )
}

/// The wall clock as the core's `Timestamp`.
pub fn wall_clock() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    Timestamp(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// `t` as RFC 3339 (how Kubernetes and Argo write times); `None` past the
/// years the calendar can write.
pub fn rfc3339(t: Timestamp) -> Option<String> {
    let nanos = i128::from(t.0) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
}

/// Notes a store outage and, when it is news, alerts at once (the alert
/// cannot go through the outbox: nothing can be committed).
async fn outage(driver: &mut Driver, key: &RolloutKey, state: &Rollout, why: String) {
    if !driver.note_store_outage(why.clone()) {
        return;
    }
    // The shell's own alert, not a core transition: worded here.
    let notice = Notice::worded(
        NoticeKind::Paused,
        Severity::Critical,
        format!("{key} paused: canaryd cannot write its database"),
        format!(
            "The database refused a commit ({why}). The router keeps serving the last committed \
             split ({}% to the canary) and no decision is acted on until commits succeed again; \
             the rollout then resumes on its own. Free space on the database's disk.",
            state.weight
        ),
    );
    if let Err(e) = driver.alert(key, &notice).await {
        tracing::warn!(%key, error = %e, "the alert that the store cannot commit was not delivered");
    }
}

/// Drives `key` until it finishes, needs a human for too long, or is told to stop.
pub async fn run_live(
    driver: &mut Driver,
    source: &mut dyn MetricsSource,
    key: &RolloutKey,
    mut commands: mpsc::Receiver<Request>,
    limits: LiveLimits,
    mut progress: impl FnMut(&Progress),
) -> Result<(Rollout, Stopped), DriverError> {
    let window_len = driver.policy().window;
    // Read the wall clock once, then follow tokio's clock: identical in a live
    // run, and virtual (deterministic, instant) under `tokio::time::pause()`.
    let anchor = (wall_clock(), tokio::time::Instant::now());
    let now = move || {
        anchor
            .0
            .plus(tokio::time::Instant::now().duration_since(anchor.1))
    };
    let mut state = driver.load(key)?;
    if matches!(state.phase, Phase::Pending) {
        // A history that cannot be *read* is not one that does not *exist*:
        // starting with `Missing` would ask a human to approve a rollout
        // canaryd cannot see. The rollout does not start; the read is tried
        // again every window, each failure reported, until it succeeds or
        // the limits say a human must look.
        let mut failures = 0u32;
        let baseline = loop {
            let error = match source.baseline(key).await {
                Ok(b) => break b,
                Err(e) => e,
            };
            failures += 1;
            progress(&Progress::SourceFailed {
                index: 0,
                error: format!(
                    "the baseline could not be read ({error}); the rollout does not start \
                     until it can, retrying every window"
                ),
            });
            let limit = limits.idle_windows.or(limits.max_windows);
            if limit.is_some_and(|n| failures >= n) {
                return Ok((state, Stopped::NeedsHuman));
            }
            let wait = tokio::time::sleep(window_len);
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    _ = &mut wait => break,
                    cmd = commands.recv() => match cmd {
                        None => return Ok((state, Stopped::Shutdown)),
                        Some(Request { reply, .. }) => {
                            if let Some(reply) = reply {
                                let _ = reply.send(Reply {
                                    accepted: false,
                                    message: "the rollout has not started: its baseline cannot be read yet".into(),
                                    phase: state.phase.name().to_string(),
                                    weight: state.weight,
                                });
                            }
                        }
                    },
                }
            }
        };
        let applied = driver.start(key, baseline, now()).await?;
        state = applied.state.clone();
        progress(&Progress::Started {
            state: state.clone(),
            applied: Some(applied),
        });
    } else {
        driver.flush(key, now()).await?;
        progress(&Progress::Started {
            applied: None,
            state: state.clone(),
        });
    }

    let mut idle = 0u32;
    let mut windows = 0u32;
    let mut commands_open = true;
    let mut window_start = now();
    let mut deadline = tokio::time::Instant::now() + window_len;
    loop {
        if state.phase.is_terminal() {
            return Ok((state, Stopped::Finished));
        }
        tokio::select! {
            cmd = commands.recv(), if commands_open => match cmd {
                Some(Request { command, reply }) => {
                    // On a store outage the command is refused (nothing was
                    // committed, so nothing may be acted on); on any other
                    // driver error the reply is dropped: the caller sees the loop end.
                    let applied = match driver.apply(key, Event::Operator(command.clone()), now()).await {
                        Err(DriverError::Store(e)) if is_store_outage(&e) => {
                            outage(driver, key, &state, e.to_string()).await;
                            if let Some(reply) = reply {
                                let _ = reply.send(Reply {
                                    accepted: false,
                                    message: format!("not applied: the database cannot commit ({e}); try again once it can"),
                                    phase: state.phase.name().to_string(),
                                    weight: state.weight,
                                });
                            }
                            continue;
                        }
                        other => other?,
                    };
                    state = applied.state.clone();
                    if let Some(reply) = reply {
                        let _ = reply.send(Reply {
                            accepted: applied.refused.is_none(),
                            message: applied.refused.clone().unwrap_or_else(|| {
                                applied.decision.as_ref().map(crate::replay::describe_decision).unwrap_or_default()
                            }),
                            phase: state.phase.name().to_string(),
                            weight: state.weight,
                        });
                    }
                    if !matches!(state.phase, Phase::Paused { .. } | Phase::AwaitingApproval { .. }) {
                        idle = 0;
                    }
                    progress(&Progress::Operator { command, applied });
                }
                None => {
                    commands_open = false;
                    if limits.idle_windows.is_none() && limits.max_windows.is_none() {
                        return Ok((state, Stopped::Shutdown));
                    }
                }
            },
            _ = tokio::time::sleep_until(deadline) => {
                windows += 1;
                let end = now();
                let index = state.windows + 1;
                let ClosedWindow { window, read_error, applied } =
                    driver.close_window(source, key, state.weight, window_start, end).await;
                if let Some(e) = read_error {
                    progress(&Progress::SourceFailed { index, error: e.to_string() });
                }
                window_start = end;
                // Keep the schedule: a slow source must not stretch every later window.
                deadline += window_len;
                let now_instant = tokio::time::Instant::now();
                if deadline < now_instant {
                    deadline = now_instant + Duration::from_millis(duration_ms(window_len).max(1) as u64 / 10);
                }
                let applied = match applied {
                    Err(DriverError::Store(e)) if is_store_outage(&e) => {
                        let error = e.to_string();
                        outage(driver, key, &state, error.clone()).await;
                        progress(&Progress::StoreFailed { index, error, weight: state.weight });
                        if limits.max_windows.is_some_and(|n| windows >= n) {
                            return Ok((state, Stopped::WindowLimit));
                        }
                        continue;
                    }
                    other => other?,
                };
                state = applied.state.clone();
                progress(&Progress::Window { index, window, applied });
                // No baseline, no automatic advance; but a history that has
                // grown long enough ends the wait (the core decides). A store
                // outage here is skipped: the next window checks again.
                if matches!(state.phase, Phase::AwaitingApproval { .. }) && rechecks_baseline(driver.policy()) {
                    match driver.recheck_baseline(source, key, now()).await {
                        Err(DriverError::Store(e)) if is_store_outage(&e) => {
                            let error = e.to_string();
                            outage(driver, key, &state, error.clone()).await;
                            progress(&Progress::StoreFailed { index, error, weight: state.weight });
                        }
                        other => {
                            let applied = other?;
                            state = applied.state.clone();
                            progress(&Progress::BaselineChecked { applied });
                        }
                    }
                }
                if matches!(state.phase, Phase::Paused { .. } | Phase::AwaitingApproval { .. }) {
                    idle += 1;
                } else {
                    idle = 0;
                }
                if state.phase.is_terminal() {
                    return Ok((state, Stopped::Finished));
                }
                if limits.idle_windows.is_some_and(|n| idle >= n) {
                    return Ok((state, Stopped::NeedsHuman));
                }
                if limits.max_windows.is_some_and(|n| windows >= n) {
                    return Ok((state, Stopped::WindowLimit));
                }
            }
        }
    }
}
