//! The fields of an Argo Rollouts `Rollout` (argoproj.io/v1alpha1) that
//! canaryd reads or writes, and nothing else: the rest of the object is
//! Argo's and passes through untouched. Field names are checked against
//! the upstream CRD in the tests.

use kube::api::{ApiResource, GroupVersionKind, ObjectMeta};
use serde::{Deserialize, Serialize};

pub fn rollout_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout"),
        "rollouts",
    )
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct ArgoRollout {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ArgoRolloutSpec,
    #[serde(default)]
    pub status: Option<ArgoRolloutStatus>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct ArgoRolloutSpec {
    #[serde(default)]
    pub paused: Option<bool>,
    #[serde(default)]
    pub strategy: Option<ArgoStrategy>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct ArgoStrategy {
    #[serde(default)]
    pub canary: Option<ArgoCanaryStrategy>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct ArgoCanaryStrategy {
    #[serde(default)]
    pub steps: Vec<ArgoCanaryStep>,
}

/// One step of Argo's ladder; only `setWeight` matters to canaryd.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ArgoCanaryStep {
    #[serde(default)]
    pub set_weight: Option<i32>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ArgoRolloutStatus {
    #[serde(default)]
    pub abort: Option<bool>,
    #[serde(default)]
    pub pause_conditions: Option<Vec<ArgoPauseCondition>>,
    #[serde(default)]
    pub controller_pause: Option<bool>,
    #[serde(default)]
    pub current_step_index: Option<i32>,
    /// The pod-template hash of the newest revision: canaryd's revision.
    #[serde(default)]
    pub current_pod_hash: Option<String>,
    /// The pod-template hash of the stable ReplicaSet.
    #[serde(default, rename = "stableRS")]
    pub stable_rs: Option<String>,
    #[serde(default)]
    pub canary: Option<ArgoCanaryStatus>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ArgoPauseCondition {
    pub reason: String,
    #[serde(default)]
    pub start_time: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct ArgoCanaryStatus {
    #[serde(default)]
    pub weights: Option<ArgoTrafficWeights>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct ArgoTrafficWeights {
    pub canary: ArgoWeightDestination,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct ArgoWeightDestination {
    pub weight: i32,
}

impl ArgoRollout {
    /// Whether Argo is holding at a step, for any reason a promote clears.
    pub fn is_paused(&self) -> bool {
        let status = self.status.as_ref();
        self.spec.paused == Some(true)
            || status.and_then(|s| s.controller_pause) == Some(true)
            || status
                .and_then(|s| s.pause_conditions.as_ref())
                .is_some_and(|c| !c.is_empty())
    }

    pub fn is_aborted(&self) -> bool {
        self.status.as_ref().and_then(|s| s.abort) == Some(true)
    }

    /// Fully promoted: the newest revision is the stable one.
    pub fn is_promoted(&self) -> bool {
        self.status
            .as_ref()
            .is_some_and(|s| s.current_pod_hash.is_some() && s.current_pod_hash == s.stable_rs)
    }

    /// The canary's share now: the traffic router's figure when Argo
    /// reports one, else the last `setWeight` before the current step.
    pub fn canary_weight(&self) -> i32 {
        let status = self.status.clone().unwrap_or_default();
        if let Some(w) = status.canary.and_then(|c| c.weights) {
            return w.canary.weight;
        }
        let steps = self
            .spec
            .strategy
            .as_ref()
            .and_then(|s| s.canary.as_ref())
            .map(|c| c.steps.as_slice())
            .unwrap_or(&[]);
        let index = usize::try_from(status.current_step_index.unwrap_or(0)).unwrap_or(0);
        if index >= steps.len() {
            return 100;
        }
        steps[..index]
            .iter()
            .rev()
            .find_map(|s| s.set_weight)
            .unwrap_or(0)
    }
}

/// `{"status":{"abort":true}}`: what `kubectl argo rollouts abort` sends.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct AbortPatch {
    pub status: AbortStatus,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct AbortStatus {
    pub abort: bool,
}

/// Clears the pause conditions (and optionally asks for a full promotion),
/// as `kubectl argo rollouts promote [--full]` does.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct PromoteStatusPatch {
    pub status: PromoteStatus,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PromoteStatus {
    /// Always `null` on the wire: a merge patch deletes the field.
    pub pause_conditions: (),
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promote_full: Option<bool>,
}

/// `{"spec":{"paused":…}}` on the main resource.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct PausedPatch {
    pub spec: PausedSpec,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct PausedSpec {
    pub paused: bool,
}
