//! Observe mode: a single Deployment that Kubernetes rolls by itself.
//! canaryd moves no traffic; it judges the new ReplicaSet's pods against
//! the previous ReplicaSet's while the rolling update runs, and on a
//! sustained breach stops it and undoes it.
//!
//! The revisions are the ReplicaSets' `pod-template-hash` labels, the label
//! every pod carries, so a metrics source can tell the two cohorts apart
//! without any labelling by the team.
//!
//! Roll back is two writes, each guarded by the resourceVersion read:
//! first `spec.paused: true`, which freezes the rollout at once (no more
//! new pods); then the previous ReplicaSet's template with `spec.paused:
//! false`, because a paused Deployment does not roll a template change
//! (`kubectl rollout undo` refuses a paused one for the same reason).

use canaryd_core::vocab::{RolloutKey, Weight};
use canaryd_ports::{ActionError, TrafficRouter};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::api::{Api, Patch, PatchParams};
use kube::Client;
use serde_json::{json, Value};

use crate::error::KubeError;
use crate::kubeapi::{retry, Backoff, ObjectName};

const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
const HASH_LABEL: &str = "pod-template-hash";

/// The newest ReplicaSet of a Deployment and the one before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Generations {
    /// `pod-template-hash` of the newest ReplicaSet.
    pub newest: String,
    /// The previous one's hash and template (None: a first rollout).
    pub previous: Option<(String, PodTemplateSpec)>,
}

pub struct DeploymentObserveRouter {
    deployments: Api<Deployment>,
    replicasets: Api<ReplicaSet>,
    object: ObjectName,
    backoff: Backoff,
}

fn revision_number(rs: &ReplicaSet) -> Option<u64> {
    rs.metadata
        .annotations
        .as_ref()?
        .get(REVISION_ANNOTATION)?
        .parse()
        .ok()
}

fn hash(rs: &ReplicaSet) -> Option<String> {
    rs.metadata.labels.as_ref()?.get(HASH_LABEL).cloned()
}

/// Pure: the newest and the previous ReplicaSet owned by `deployment`.
pub fn generations(deployment: &Deployment, replicasets: Vec<ReplicaSet>) -> Option<Generations> {
    let uid = deployment.metadata.uid.as_deref();
    let mut owned: Vec<(u64, ReplicaSet)> = replicasets
        .into_iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .as_ref()
                .is_some_and(|o| o.iter().any(|r| Some(r.uid.as_str()) == uid))
        })
        .filter_map(|rs| Some((revision_number(&rs)?, rs)))
        .collect();
    owned.sort_by_key(|(n, _)| *n);
    let (_, newest) = owned.pop()?;
    let previous = owned.pop().and_then(|(_, rs)| {
        let h = hash(&rs)?;
        let mut t = rs.spec?.template?;
        // The hash label belongs to the ReplicaSet, not to the Deployment.
        if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.remove(HASH_LABEL);
        }
        Some((h, t))
    });
    Some(Generations {
        newest: hash(&newest)?,
        previous,
    })
}

impl DeploymentObserveRouter {
    pub fn new(client: Client, namespace: &str, name: &str) -> Self {
        DeploymentObserveRouter {
            deployments: Api::namespaced(client.clone(), namespace),
            replicasets: Api::namespaced(client, namespace),
            object: ObjectName::new("Deployment", namespace, name),
            backoff: Backoff::default(),
        }
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    async fn read(&self) -> Result<(Deployment, Option<Generations>), KubeError> {
        let d = self
            .deployments
            .get(&self.object.name)
            .await
            .map_err(|e| self.object.api(e))?;
        let sets = super::replica_sets_of(&self.replicasets, &self.object, &d).await?;
        let g = generations(&d, sets);
        Ok((d, g))
    }

    /// The revisions to judge: the newest ReplicaSet against the previous
    /// (equal when there is no previous: nothing to roll out).
    pub async fn observe(&self) -> Result<Option<(String, String)>, KubeError> {
        let (_, g) = retry(self.backoff, &self.object, || self.read()).await?;
        Ok(g.map(|g| {
            let stable = g
                .previous
                .map(|(h, _)| h)
                .unwrap_or_else(|| g.newest.clone());
            (g.newest, stable)
        }))
    }

    async fn json_patch(&self, ops: Value) -> Result<(), KubeError> {
        let patch: json_patch::Patch =
            serde_json::from_value(ops).map_err(|e| self.object.encode(e))?;
        self.deployments
            .patch(
                &self.object.name,
                &PatchParams::default(),
                &Patch::Json::<()>(patch),
            )
            .await
            .map(|_| ())
            .map_err(|e| self.object.api(e))
    }

    /// Freezes the rolling update, then rolls back to the previous
    /// ReplicaSet's template. Once the newest ReplicaSet is no longer
    /// `key.revision`, the undo already happened and nothing is written.
    pub async fn undo(&self, key: &RolloutKey) -> Result<(), KubeError> {
        retry(self.backoff, &self.object, || async {
            let (mut d, g) = self.read().await?;
            let Some(g) = g.filter(|g| g.newest == key.revision.0) else {
                return Ok(());
            };
            if d.spec.as_ref().and_then(|s| s.paused) != Some(true) {
                self.json_patch(json!([
                    {"op": "replace", "path": "/metadata/resourceVersion", "value": resource_version(&d)},
                    {"op": "add", "path": "/spec/paused", "value": true},
                ]))
                .await?;
                d = self
                    .deployments
                    .get(&self.object.name)
                    .await
                    .map_err(|e| self.object.api(e))?;
            }
            let Some((_, template)) = g.previous else {
                tracing::warn!(deployment = %self.object.name, "no earlier ReplicaSet to undo to; the Deployment stays paused");
                return Ok(());
            };
            self.json_patch(json!([
                {"op": "replace", "path": "/metadata/resourceVersion", "value": resource_version(&d)},
                {"op": "replace", "path": "/spec/template", "value": template},
                {"op": "replace", "path": "/spec/paused", "value": false},
            ]))
            .await
        })
        .await
    }
}

fn resource_version(d: &Deployment) -> String {
    d.metadata.resource_version.clone().unwrap_or_default()
}

#[canaryd_ports::async_trait]
impl TrafficRouter for DeploymentObserveRouter {
    /// Kubernetes moves the traffic (the rolling update): nothing to do.
    async fn set_weight(&mut self, _key: &RolloutKey, _weight: Weight) -> Result<(), ActionError> {
        Ok(())
    }

    async fn roll_back(&mut self, key: &RolloutKey) -> Result<(), ActionError> {
        Ok(self.undo(key).await?)
    }

    /// The rolling update finishes by itself: nothing to do.
    async fn promote(&mut self, _key: &RolloutKey) -> Result<(), ActionError> {
        Ok(())
    }
}
