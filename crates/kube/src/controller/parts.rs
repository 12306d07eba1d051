//! The small pieces of a reconcile: conditions to set, the metrics source
//! slot, the target as an Event's object, and observe mode's undo check.

use canaryd_core::observation::{BaselineStatus, Window};
use canaryd_core::vocab::{RolloutKey, Timestamp, Weight};
use canaryd_driver::driver::load_rollout;
use canaryd_ports::{MetricsSource, SourceError};
use canaryd_store::SqliteStore;
use k8s_openapi::api::core::v1::ObjectReference;

use crate::reconcile::{rollout_key, ObservedTarget};
use crate::target::TargetKind;

/// A condition to set, and whether turning False is worth a Warning Event
/// (`Ready` only echoes another condition's problem: one Warning is enough).
pub(super) struct Cond {
    pub type_: &'static str,
    pub ok: bool,
    pub reason: &'static str,
    pub message: String,
    pub warn: bool,
}

impl Cond {
    pub fn ok(type_: &'static str, reason: &'static str, message: impl Into<String>) -> Cond {
        Cond {
            type_,
            ok: true,
            reason,
            message: message.into(),
            warn: false,
        }
    }

    pub fn bad(type_: &'static str, reason: &'static str, message: impl Into<String>) -> Cond {
        Cond {
            type_,
            ok: false,
            reason,
            message: message.into(),
            warn: true,
        }
    }

    pub fn quiet(mut self) -> Cond {
        self.warn = false;
        self
    }
}

/// Observe mode's undo leaves the rolled-back revision as the *previous*
/// ReplicaSet and the one before it as the newest (Kubernetes renumbers a
/// reused ReplicaSet). That is a return to stable, not a new rollout: seen
/// through the store (level-triggered, whatever the status says), it is idle.
pub(super) fn settle_undo(
    store: &SqliteStore,
    namespace: &str,
    name: &str,
    kind: &TargetKind,
    observed: ObservedTarget,
) -> Result<ObservedTarget, canaryd_driver::DriverError> {
    let ObservedTarget::Found { canary, stable } = &observed else {
        return Ok(observed);
    };
    if !matches!(kind, TargetKind::Deployment(_)) || canary == stable {
        return Ok(observed);
    }
    let previous = load_rollout(store, &rollout_key(namespace, name, stable))?;
    if previous.is_some_and(|r| matches!(r.phase, canaryd_core::Phase::RolledBack { .. })) {
        return Ok(ObservedTarget::Found {
            canary: canary.clone(),
            stable: canary.clone(),
        });
    }
    Ok(observed)
}

/// The target as an Event's `regarding` (no uid: the Event is still
/// shown by `kubectl describe`, which matches on kind, namespace and name).
pub(super) fn target_ref(namespace: &str, kind: &TargetKind) -> ObjectReference {
    let (api_version, kind, name) = match kind {
        TargetKind::Pair { canary, .. } => ("apps/v1", "Deployment", canary),
        TargetKind::Deployment(name) => ("apps/v1", "Deployment", name),
        TargetKind::ArgoRollout(name) => ("argoproj.io/v1alpha1", "Rollout", name),
    };
    ObjectReference {
        api_version: Some(api_version.to_string()),
        kind: Some(kind.to_string()),
        name: Some(name.clone()),
        namespace: Some(namespace.to_string()),
        ..Default::default()
    }
}

/// The source of a reconcile that needs none (nothing was due): reading it
/// is a bug, said as such rather than a panic.
pub(super) struct NoSource;

#[canaryd_ports::async_trait]
impl MetricsSource for NoSource {
    async fn baseline(&mut self, _key: &RolloutKey) -> Result<BaselineStatus, SourceError> {
        Err(unplanned())
    }

    async fn window(
        &mut self,
        _key: &RolloutKey,
        _weight: Weight,
        _start: Timestamp,
        _end: Timestamp,
    ) -> Result<Window, SourceError> {
        Err(unplanned())
    }
}

fn unplanned() -> SourceError {
    SourceError::permanent("no metrics source was built for this reconcile (nothing was due)")
}
