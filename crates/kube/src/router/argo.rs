//! Active control of an Argo Rollouts `Rollout`: Argo moves the traffic
//! through its own steps; canaryd judges each step and tells Argo to go on
//! (promote), stop (pause) or back out (abort).
//!
//! Abort goes to the status subresource, as `kubectl argo rollouts abort`
//! does; when the API server has no status subresource for the CRD (404),
//! it falls back to the main resource. Every call reads first and writes
//! only what is missing, so a repeated call is harmless.

use canaryd_core::vocab::{RolloutKey, Weight};
use canaryd_ports::{ActionError, TrafficRouter};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::Client;
use serde::Serialize;

use crate::argo::{
    rollout_resource, AbortPatch, AbortStatus, ArgoRollout, PausedPatch, PausedSpec, PromoteStatus,
    PromoteStatusPatch,
};
use crate::error::KubeError;
use crate::kubeapi::{retry, status_code, Backoff, ObjectName};

/// Cheap to clone: clones share the API client.
#[derive(Clone)]
pub struct ArgoRouter {
    api: Api<DynamicObject>,
    object: ObjectName,
    backoff: Backoff,
}

impl ArgoRouter {
    pub fn new(client: Client, namespace: &str, name: &str) -> ArgoRouter {
        ArgoRouter {
            api: Api::namespaced_with(client, namespace, &rollout_resource()),
            object: ObjectName::new("Rollout", namespace, name),
            backoff: Backoff::default(),
        }
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub async fn read(&self) -> Result<ArgoRollout, KubeError> {
        retry(self.backoff, &self.object, || async {
            let obj = self
                .api
                .get(&self.object.name)
                .await
                .map_err(|e| self.object.api(e))?;
            let value = serde_json::to_value(obj).map_err(|e| self.object.encode(e))?;
            serde_json::from_value(value).map_err(|e| {
                self.object
                    .invalid(format!("it does not look like an Argo Rollout: {e}"))
            })
        })
        .await
    }

    async fn merge(
        &self,
        patch: &(impl Serialize + std::fmt::Debug),
        status: bool,
    ) -> Result<(), KubeError> {
        let pp = PatchParams::default();
        let merge = Patch::Merge(patch);
        retry(self.backoff, &self.object, || async {
            let r = if status {
                self.api.patch_status(&self.object.name, &pp, &merge).await
            } else {
                self.api.patch(&self.object.name, &pp, &merge).await
            };
            r.map(|_| ()).map_err(|e| self.object.api(e))
        })
        .await
    }

    /// A status-subresource patch, falling back to the main resource where
    /// the CRD was installed without a status subresource.
    async fn merge_status(
        &self,
        patch: &(impl Serialize + std::fmt::Debug),
    ) -> Result<(), KubeError> {
        match self.merge(patch, true).await {
            Err(KubeError::NotFound { .. }) => {
                tracing::info!(rollout = %self.object.name, "no status subresource; patching the Rollout itself");
                self.merge(patch, false).await
            }
            other => other,
        }
    }

    /// Aborts the rollout: Argo sends all traffic back to stable.
    pub async fn abort(&self) -> Result<(), KubeError> {
        if self.read().await?.is_aborted() {
            return Ok(());
        }
        self.merge_status(&AbortPatch {
            status: AbortStatus { abort: true },
        })
        .await
    }

    /// Lets a paused rollout go on to its next step, or (`full`) to the end.
    pub async fn promote_rollout(&self, full: bool) -> Result<(), KubeError> {
        let rollout = self.read().await?;
        if rollout.is_aborted() {
            return Err(self.object.invalid(
                "it was aborted; canaryd will not promote it (retry it with kubectl argo rollouts retry)",
            ));
        }
        if full && rollout.is_promoted() {
            return Ok(());
        }
        if !full && !rollout.is_paused() {
            return Ok(());
        }
        self.merge_status(&PromoteStatusPatch {
            status: PromoteStatus {
                pause_conditions: (),
                promote_full: full.then_some(true),
            },
        })
        .await?;
        if rollout.spec.paused == Some(true) {
            self.merge(
                &PausedPatch {
                    spec: PausedSpec { paused: false },
                },
                false,
            )
            .await?;
        }
        Ok(())
    }

    /// Holds the rollout at its current step (`spec.paused`), as
    /// `kubectl argo rollouts pause` does.
    pub async fn pause(&self) -> Result<(), KubeError> {
        if self.read().await?.spec.paused == Some(true) {
            return Ok(());
        }
        self.merge(
            &PausedPatch {
                spec: PausedSpec { paused: true },
            },
            false,
        )
        .await
    }

    /// Lets Argo go on after [`ArgoRouter::pause`] (`spec.paused: false`).
    /// Pause conditions Argo set itself (a pause step) are left alone: only
    /// canaryd's ladder, through a promote, moves past those.
    pub async fn unpause(&self) -> Result<(), KubeError> {
        if self.read().await?.spec.paused != Some(true) {
            return Ok(());
        }
        self.merge(
            &PausedPatch {
                spec: PausedSpec { paused: false },
            },
            false,
        )
        .await
    }

    /// Moves Argo on when canaryd's ladder has advanced past Argo's current
    /// weight and Argo waits at a pause; otherwise Argo is already there or
    /// on its way, and nothing is written.
    pub async fn advance_to(&self, weight: Weight) -> Result<(), KubeError> {
        let rollout = self.read().await?;
        if rollout.canary_weight() >= i32::from(weight) || !rollout.is_paused() {
            return Ok(());
        }
        self.promote_rollout(false).await
    }

    pub fn is_not_found(e: &kube::Error) -> bool {
        status_code(e) == Some(404)
    }
}

#[canaryd_ports::async_trait]
impl TrafficRouter for ArgoRouter {
    async fn set_weight(&mut self, _key: &RolloutKey, weight: Weight) -> Result<(), ActionError> {
        Ok(self.advance_to(weight).await?)
    }

    async fn roll_back(&mut self, _key: &RolloutKey) -> Result<(), ActionError> {
        Ok(self.abort().await?)
    }

    async fn promote(&mut self, _key: &RolloutKey) -> Result<(), ActionError> {
        Ok(self.promote_rollout(true).await?)
    }
}
