//! The controller's decision, as a pure function: from the `Canary`, what
//! the target looks like now and what the store holds for its revision, to
//! the actions to take. No I/O and no clock (time is an argument), so every
//! path is a plain unit test and a reconcile that has nothing to do costs
//! microseconds (see BENCHMARKS.md).
//!
//! Windows follow a fixed schedule from the rollout's start (`started_at +
//! n × window`), counted by the state in the store. A controller that was
//! killed and restarted therefore closes exactly the windows that are due,
//! never one twice and never one skipped.

use canaryd_core::rollout::Rollout;
use canaryd_core::vocab::{RolloutKey, Timestamp};
use std::time::Duration;

use crate::crd::CanaryStatus;

/// At most this many overdue windows are closed in one reconcile (after a
/// long outage); the rest follow on the immediate requeue.
pub const MAX_CATCH_UP: u32 = 5;

/// The target as read from the cluster this time.
#[derive(Debug, Clone, PartialEq)]
pub enum ObservedTarget {
    /// The workload (or one half of the pair) does not exist.
    Missing { what: String },
    /// `canary`: the newest revision; `stable`: the one serving as baseline.
    Found { canary: String, stable: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Set the `TargetFound` condition to False with this message; retry later.
    ReportTargetMissing { message: String },
    /// The status shows this revision's rollout in progress, but the store
    /// has no record of it (a replica with another database, a lost volume):
    /// starting over would move traffic back to the first step, so do
    /// nothing and say why.
    ReportStateMissing { message: String },
    /// The newest revision is the stable one: nothing to roll out.
    Idle,
    /// A newer revision replaced `previous` mid-rollout: apply
    /// `Event::Superseded` to it (audited; its state stays where it was and
    /// its outbox is not carried out).
    Supersede {
        previous: RolloutKey,
        by: RolloutKey,
    },
    /// Look up the baseline and apply `Event::Start`.
    Start { key: RolloutKey },
    /// Read `[start, end)` from the metrics source and apply `WindowClosed`
    /// at `end`.
    CloseWindow {
        key: RolloutKey,
        start: Timestamp,
        end: Timestamp,
    },
    /// Carry out whatever the outbox still holds (a crash between commit and
    /// action leaves it there).
    Flush { key: RolloutKey },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// When to look again (the next window's end); `None`: only on change.
    pub requeue_after: Option<Duration>,
}

/// The rollout key of a Canary's revision: the workload is the Canary's
/// `namespace/name`, so two Canaries never share state.
pub fn rollout_key(namespace: &str, name: &str, revision: &str) -> RolloutKey {
    RolloutKey::new(format!("{namespace}/{name}"), revision)
}

/// Decides what one reconcile does. `stored` is the store's state for the
/// observed canary revision (None: never started).
pub fn plan(
    namespace: &str,
    name: &str,
    status: Option<&CanaryStatus>,
    target: &ObservedTarget,
    stored: Option<&Rollout>,
    window: Duration,
    now: Timestamp,
) -> Plan {
    let (canary, stable) = match target {
        ObservedTarget::Missing { what } => {
            return Plan {
                actions: vec![Action::ReportTargetMissing {
                    message: format!("{what} not found; canaryd waits for it to exist"),
                }],
                requeue_after: Some(Duration::from_secs(30)),
            }
        }
        ObservedTarget::Found { canary, stable } => (canary, stable),
    };
    let key = rollout_key(namespace, name, canary);
    let Some(state) = stored else {
        if canary == stable {
            return Plan {
                actions: vec![Action::Idle],
                requeue_after: None,
            };
        }
        let mut actions = Vec::new();
        let previous = status.and_then(|s| Some((s.revision.as_deref()?, s.phase.as_deref()?)));
        if let Some((old, phase)) = previous {
            if old == canary && !is_terminal_name(phase) && phase != "idle" {
                return Plan {
                    actions: vec![Action::ReportStateMissing {
                        message: format!(
                            "the status shows revision {canary} {phase}, but this replica's \
                             store has no record of it (another replica's database, or a lost \
                             volume); canaryd will not start it over and move traffic back — \
                             restore the database, or promote or abort by hand"
                        ),
                    }],
                    requeue_after: Some(Duration::from_secs(60)),
                };
            }
        }
        if let Some((old, phase)) = previous {
            if old != canary && !is_terminal_name(phase) && phase != "idle" {
                actions.push(Action::Supersede {
                    previous: rollout_key(namespace, name, old),
                    by: key.clone(),
                });
            }
        }
        actions.push(Action::Start { key });
        return Plan {
            actions,
            // Immediately: the first window's schedule starts now.
            requeue_after: Some(window),
        };
    };
    let mut actions = vec![Action::Flush { key: key.clone() }];
    if state.phase.is_terminal() {
        return Plan {
            actions,
            requeue_after: None,
        };
    }
    let Some(started) = state.started_at else {
        // Stored but never started (a crash inside Start): start it again;
        // the core refuses a second start, so this cannot double up.
        actions.push(Action::Start { key });
        return Plan {
            actions,
            requeue_after: Some(window),
        };
    };
    let window_ms = canaryd_core::vocab::duration_ms(window).max(1);
    let end_of = |n: u32| {
        Timestamp(
            started
                .0
                .saturating_add(window_ms.saturating_mul(i64::from(n))),
        )
    };
    let mut n = state.windows;
    while end_of(n + 1) <= now && n < state.windows + MAX_CATCH_UP {
        actions.push(Action::CloseWindow {
            key: key.clone(),
            start: end_of(n),
            end: end_of(n + 1),
        });
        n += 1;
    }
    let next = end_of(n + 1);
    Plan {
        actions,
        requeue_after: Some(if next <= now {
            Duration::ZERO
        } else {
            next.since(now)
        }),
    }
}

fn is_terminal_name(phase: &str) -> bool {
    matches!(phase, "rolled_back" | "promoted")
}
