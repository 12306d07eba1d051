//! A pair of Deployments (stable + canary) behind one Service: traffic
//! follows the pods, so the canary's weight is its replica count.
//!
//! Roll back = the canary to zero replicas and its pod template undone to
//! the previous ReplicaSet's, which is what `kubectl rollout undo` does.
//! Promote = the canary's pod spec copied into the stable Deployment, then,
//! once the stable Deployment reports it rolled out, the canary to zero. Template writes are JSON patches guarded by the
//! resourceVersion read, so a concurrent edit turns into a 409 and a re-read.

use canaryd_core::vocab::{RolloutKey, Weight};
use canaryd_ports::{ActionError, TrafficRouter};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::api::{Api, Patch, PatchParams};
use kube::Client;
use serde_json::{json, Value};

use crate::error::KubeError;
use crate::kubeapi::{retry, Backoff, ObjectName};
use crate::revision::{canary_replicas, template_revision};

const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";

pub struct DeploymentPairRouter {
    deployments: Api<Deployment>,
    replicasets: Api<ReplicaSet>,
    stable: ObjectName,
    canary: ObjectName,
    backoff: Backoff,
    steps: Option<super::StepLog>,
}

impl DeploymentPairRouter {
    pub fn new(client: Client, namespace: &str, stable: &str, canary: &str) -> Self {
        DeploymentPairRouter {
            deployments: Api::namespaced(client.clone(), namespace),
            replicasets: Api::namespaced(client, namespace),
            stable: ObjectName::new("Deployment", namespace, stable),
            canary: ObjectName::new("Deployment", namespace, canary),
            backoff: Backoff::default(),
            steps: None,
        }
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Each step of a promotion goes to `log` (the controller: the audit log).
    pub fn with_step_log(mut self, log: super::StepLog) -> Self {
        self.steps = Some(log);
        self
    }

    async fn get(&self, which: &ObjectName) -> Result<Deployment, KubeError> {
        self.deployments
            .get(&which.name)
            .await
            .map_err(|e| which.api(e))
    }

    async fn json_patch(&self, which: &ObjectName, ops: Value) -> Result<(), KubeError> {
        let patch: json_patch::Patch = serde_json::from_value(ops).map_err(|e| which.encode(e))?;
        self.deployments
            .patch(
                &which.name,
                &PatchParams::default(),
                &Patch::Json::<()>(patch),
            )
            .await
            .map(|_| ())
            .map_err(|e| which.api(e))
    }

    async fn scale_canary(&self, replicas: i32) -> Result<(), KubeError> {
        retry(self.backoff, &self.canary, || async {
            let canary = self.get(&self.canary).await?;
            if spec_replicas(&canary) == replicas {
                return Ok(());
            }
            self.json_patch(
                &self.canary,
                json!([
                    {"op": "replace", "path": "/metadata/resourceVersion", "value": resource_version(&canary)},
                    {"op": "replace", "path": "/spec/replicas", "value": replicas},
                ]),
            )
            .await
        })
        .await
    }

    pub async fn apply_weight(&self, weight: Weight) -> Result<(), KubeError> {
        let stable = retry(self.backoff, &self.stable, || self.get(&self.stable)).await?;
        self.scale_canary(canary_replicas(spec_replicas(&stable), weight))
            .await
    }

    /// The template of the ReplicaSet the canary ran before `bad`, if any.
    async fn previous_template(
        &self,
        canary: &Deployment,
    ) -> Result<Option<PodTemplateSpec>, KubeError> {
        let sets = super::replica_sets_of(&self.replicasets, &self.canary, canary).await?;
        let uid = canary.metadata.uid.as_deref();
        let current = revision_number(&canary.metadata.annotations);
        let previous = sets
            .into_iter()
            .filter(|rs| {
                rs.metadata
                    .owner_references
                    .as_ref()
                    .is_some_and(|o| o.iter().any(|r| Some(r.uid.as_str()) == uid))
            })
            .filter_map(|rs| Some((revision_number(&rs.metadata.annotations)?, rs)))
            .filter(|(n, _)| Some(*n) < current)
            .max_by_key(|(n, _)| *n);
        Ok(previous
            .and_then(|(_, rs)| rs.spec.and_then(|s| s.template))
            .map(|mut t| {
                // The hash label belongs to the ReplicaSet, not the Deployment.
                if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
                    labels.remove("pod-template-hash");
                }
                t
            }))
    }

    /// Scales the canary to zero and undoes its template, once: when the
    /// canary no longer runs `key.revision`, the undo already happened.
    pub async fn undo(&self, key: &RolloutKey) -> Result<(), KubeError> {
        retry(self.backoff, &self.canary, || async {
            let canary = self.get(&self.canary).await?;
            let template = canary.spec.as_ref().map(|s| &s.template);
            let runs_bad = template.is_some_and(|t| template_revision(t) == key.revision.0);
            let mut ops = vec![json!({"op": "replace", "path": "/metadata/resourceVersion", "value": resource_version(&canary)})];
            if spec_replicas(&canary) != 0 {
                ops.push(json!({"op": "replace", "path": "/spec/replicas", "value": 0}));
            }
            if runs_bad {
                match self.previous_template(&canary).await? {
                    Some(previous) => ops.push(json!({"op": "replace", "path": "/spec/template", "value": previous})),
                    None => tracing::warn!(deployment = %self.canary.name, "no earlier ReplicaSet to undo to; the canary stays at zero replicas"),
                }
            }
            if ops.len() == 1 {
                return Ok(());
            }
            self.json_patch(&self.canary, Value::Array(ops)).await
        })
        .await
    }

    /// Promotes in the order that never sends users to pods that are not
    /// ready: the canary's pod spec into the stable Deployment, wait (by
    /// failing, so the effect stays in the outbox and is retried) until the
    /// stable Deployment reports it rolled out, then the canary to zero.
    pub async fn promote_pair(&self, key: &RolloutKey) -> Result<(), KubeError> {
        if self.copy_to_stable(key).await? {
            self.log(
                key,
                "stable_template_copied",
                json!({"deployment": self.stable.name}),
            );
        }
        let ready = self.stable_rolled_out(key).await?;
        self.log(key, "stable_rolled_out", ready);
        self.scale_canary(0).await?;
        self.log(
            key,
            "canary_scaled_down",
            json!({"deployment": self.canary.name}),
        );
        Ok(())
    }

    /// Records one step of a promotion in the audit log, when wired.
    pub(crate) fn log(&self, key: &RolloutKey, step: &str, detail: Value) {
        if let Some(log) = &self.steps {
            log(key, step, detail);
        }
    }

    /// Scales the canary Deployment to zero replicas.
    pub async fn scale_canary_down(&self) -> Result<(), KubeError> {
        self.scale_canary(0).await
    }

    /// `Ok` (with what the Deployment reports) once the stable Deployment
    /// runs `key.revision` on all its replicas, all available, no old ones
    /// left: what `kubectl rollout status` waits for. Without a kubelet
    /// nothing becomes available, so a promotion waits.
    pub async fn stable_rolled_out(&self, key: &RolloutKey) -> Result<Value, KubeError> {
        let stable = retry(self.backoff, &self.stable, || self.get(&self.stable)).await?;
        let runs = stable.spec.as_ref().map(|s| template_revision(&s.template));
        if runs.as_deref() != Some(key.revision.0.as_str()) {
            return Err(self.stable.invalid(format!(
                "it does not run revision {} (it runs {}); not moving traffic to it",
                key.revision,
                runs.unwrap_or_default()
            )));
        }
        match rollout_progress(&stable) {
            None => Ok(json!({
                "deployment": self.stable.name,
                "replicas": spec_replicas(&stable),
                "generation": stable.metadata.generation,
            })),
            Some(waiting) => Err(self.stable.invalid(format!(
                "waiting for it to roll out revision {} before traffic moves to it: {waiting}",
                key.revision
            ))),
        }
    }

    /// Whether the canary Deployment can take traffic through a route: at
    /// least one replica, and rolled out and available (what `kubectl
    /// rollout status` waits for). Until then a weight change is an error:
    /// it waits in the outbox, the Canary says why, and the rollout holds
    /// (it is not rolled back: a canary still starting is not a bad one).
    pub async fn canary_ready(&self) -> Result<(), KubeError> {
        let canary = retry(self.backoff, &self.canary, || self.get(&self.canary)).await?;
        let waiting = if spec_replicas(&canary) == 0 {
            Some("it is scaled to 0 replicas".to_string())
        } else {
            rollout_progress(&canary)
        };
        match waiting {
            None => Ok(()),
            Some(w) => Err(self.canary.invalid(format!(
                "not ready to take traffic ({w}); canaryd gives it no traffic until it is, \
                 and holds the rollout meanwhile"
            ))),
        }
    }

    /// Copies the canary's pod spec into the stable Deployment (its labels
    /// stay: they are what the stable selector matches). `true` when it
    /// wrote, `false` when the stable one already ran `key.revision`.
    pub async fn copy_to_stable(&self, key: &RolloutKey) -> Result<bool, KubeError> {
        retry(self.backoff, &self.stable, || async {
            let stable = self.get(&self.stable).await?;
            let canary = self.get(&self.canary).await?;
            let stable_rev = stable.spec.as_ref().map(|s| template_revision(&s.template));
            if stable_rev.as_deref() == Some(key.revision.0.as_str()) {
                return Ok(false);
            }
            let Some(template) = canary.spec.as_ref().map(|s| &s.template) else {
                return Err(self.canary.invalid("it has no spec"));
            };
            if template_revision(template) != key.revision.0 {
                return Err(self.canary.invalid(format!(
                    "it no longer runs revision {} (now {}); not promoting a revision that was not judged",
                    key.revision,
                    template_revision(template)
                )));
            }
            self.json_patch(
                &self.stable,
                json!([
                    {"op": "replace", "path": "/metadata/resourceVersion", "value": resource_version(&stable)},
                    {"op": "replace", "path": "/spec/template/spec", "value": template.spec},
                ]),
            )
            .await
            .map(|()| true)
        })
        .await
    }
}

/// Why a Deployment has not rolled out yet, or `None` when it has.
pub fn rollout_progress(d: &Deployment) -> Option<String> {
    let generation = d.metadata.generation.unwrap_or(0);
    let status = d.status.clone().unwrap_or_default();
    let observed = status.observed_generation.unwrap_or(0);
    if observed < generation {
        return Some(format!(
            "the Deployment controller has not yet seen generation {generation} (it reported on {observed})"
        ));
    }
    let want = spec_replicas(d);
    let updated = status.updated_replicas.unwrap_or(0);
    if updated < want {
        return Some(format!(
            "{updated} of {want} replicas run the new pod template"
        ));
    }
    let total = status.replicas.unwrap_or(0);
    if total > updated {
        return Some(format!(
            "{} replicas of the old pod template still run",
            total - updated
        ));
    }
    let available = status.available_replicas.unwrap_or(0);
    if available < updated {
        return Some(format!("{available} of {updated} replicas are available"));
    }
    None
}

fn spec_replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

fn resource_version(d: &Deployment) -> String {
    d.metadata.resource_version.clone().unwrap_or_default()
}

fn revision_number(
    annotations: &Option<std::collections::BTreeMap<String, String>>,
) -> Option<u64> {
    annotations.as_ref()?.get(REVISION_ANNOTATION)?.parse().ok()
}

#[canaryd_ports::async_trait]
impl TrafficRouter for DeploymentPairRouter {
    async fn set_weight(&mut self, _key: &RolloutKey, weight: Weight) -> Result<(), ActionError> {
        Ok(self.apply_weight(weight).await?)
    }

    async fn roll_back(&mut self, key: &RolloutKey) -> Result<(), ActionError> {
        Ok(self.undo(key).await?)
    }

    async fn promote(&mut self, key: &RolloutKey) -> Result<(), ActionError> {
        Ok(self.promote_pair(key).await?)
    }
}
