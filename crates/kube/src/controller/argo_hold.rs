//! Holding an Argo Rollout while canaryd holds the rollout.
//!
//! The core has no "pause" effect: a pause keeps the split where it is,
//! which for canaryd's own routers means doing nothing. Argo, though, moves
//! traffic on its own schedule, so while the core is paused (collectors
//! blind) or awaiting an approval (no baseline), Argo must be told to stop,
//! or it would ramp a canary nobody can judge. This runs after every
//! reconcile of an Argo Canary and is level-triggered: it looks at the
//! phase now, and the router reads before it writes.

use canaryd_core::rollout::{Phase, Rollout};

use crate::error::KubeError;
use crate::router::argo::ArgoRouter;

/// What to do with the Rollout for the core's phase, given the phase the
/// Canary's status showed before this reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    Pause,
    Unpause,
    Nothing,
}

/// Pure: pause while held; unpause only on the way out of a hold canaryd
/// made (a pause a human set on a ramping rollout is theirs to lift).
pub fn hold_for(previous_phase: Option<&str>, now: &Phase) -> Hold {
    let was_held = matches!(previous_phase, Some("paused" | "awaiting_approval"));
    match now {
        Phase::Paused { .. } | Phase::AwaitingApproval { .. } => Hold::Pause,
        Phase::Ramping if was_held => Hold::Unpause,
        _ => Hold::Nothing,
    }
}

/// Carries out [`hold_for`] on the Rollout.
pub async fn hold_argo(
    router: &ArgoRouter,
    previous_phase: Option<&str>,
    state: &Rollout,
) -> Result<Hold, KubeError> {
    let hold = hold_for(previous_phase, &state.phase);
    match hold {
        Hold::Pause => router.pause().await?,
        Hold::Unpause => router.unpause().await?,
        Hold::Nothing => {}
    }
    Ok(hold)
}

#[cfg(test)]
mod tests {
    use super::*;
    use canaryd_core::effect::PauseReason;

    #[test]
    fn pause_while_held_unpause_only_after_our_hold() {
        let paused = Phase::Paused {
            reason: PauseReason::CollectorsUnhealthy {
                detail: "probe timeouts".into(),
            },
        };
        assert_eq!(hold_for(Some("ramping"), &paused), Hold::Pause);
        assert_eq!(hold_for(Some("paused"), &paused), Hold::Pause);
        assert_eq!(hold_for(Some("paused"), &Phase::Ramping), Hold::Unpause);
        assert_eq!(
            hold_for(Some("awaiting_approval"), &Phase::Ramping),
            Hold::Unpause
        );
        assert_eq!(hold_for(Some("ramping"), &Phase::Ramping), Hold::Nothing);
        assert_eq!(hold_for(None, &Phase::Pending), Hold::Nothing);
    }
}
