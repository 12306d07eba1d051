//! The cluster-side `TrafficRouter`s.
//!
//! Each one is idempotent (the driver may repeat a call after a crash): it
//! reads the object, computes the smallest change that reaches the wanted
//! state, and writes nothing when it is already there.

pub mod argo;
pub mod httproute;
pub mod observe;
pub mod pair;
pub mod select;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, ApiResource, GroupVersionKind, ListParams};

use crate::error::KubeError;

/// Where a router records each step of a multi-step action (a promotion):
/// the step's name and what it saw. The controller appends each to the
/// audit log; the driver audits the action as a whole.
pub type StepLog =
    std::sync::Arc<dyn Fn(&canaryd_core::vocab::RolloutKey, &str, serde_json::Value) + Send + Sync>;
use crate::kubeapi::ObjectName;

/// The ReplicaSets a Deployment owns or owned, found by its selector (what
/// `kubectl rollout undo` searches for the previous template). `object`
/// names the Deployment in errors.
pub(crate) async fn replica_sets_of(
    api: &Api<ReplicaSet>,
    object: &ObjectName,
    deployment: &Deployment,
) -> Result<Vec<ReplicaSet>, KubeError> {
    let selector = deployment
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.as_ref())
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .ok_or_else(|| object.invalid("its selector has no matchLabels"))?;
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| object.api(e))?;
    Ok(list.items)
}

/// The Gateway API `HTTPRoute` (standard channel, v1).
pub fn httproute_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"),
        "httproutes",
    )
}
