//! Reading what a `Canary` points at: which kind of target it names, the
//! revisions on the canary and stable side now, and its policy.

use canaryd_core::Policy;
use canaryd_policy::parse_policy;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject};
use kube::Client;

use crate::argo::{rollout_resource, ArgoRollout};
use crate::crd::{CanarySpec, TargetSpec};
use crate::error::KubeError;
use crate::kubeapi::ObjectName;
use crate::reconcile::ObservedTarget;
use crate::revision::template_revision;

/// The target as the spec names it, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetKind {
    Deployment(String),
    Pair { stable: String, canary: String },
    ArgoRollout(String),
}

impl TargetSpec {
    /// Exactly one form must be given; the message says which fields clash.
    pub fn kind(&self) -> Result<TargetKind, String> {
        match (&self.deployment, &self.stable, &self.canary, &self.rollout) {
            (Some(d), None, None, None) => Ok(TargetKind::Deployment(d.clone())),
            (None, Some(s), Some(c), None) if s != c => Ok(TargetKind::Pair {
                stable: s.clone(),
                canary: c.clone(),
            }),
            (None, Some(_), Some(_), None) => {
                Err("spec.target.stable and spec.target.canary name the same Deployment".into())
            }
            (None, Some(_), None, None) | (None, None, Some(_), None) => Err(
                "spec.target needs both stable and canary for a Deployment pair".into(),
            ),
            (None, None, None, Some(r)) => Ok(TargetKind::ArgoRollout(r.clone())),
            (None, None, None, None) => Err(
                "spec.target is empty: give deployment, stable + canary, or rollout".into(),
            ),
            _ => Err(
                "spec.target gives more than one form: use only one of deployment, stable + canary, or rollout"
                    .into(),
            ),
        }
    }
}

async fn deployment_revision(
    api: &Api<Deployment>,
    namespace: &str,
    name: &str,
) -> Result<Option<String>, KubeError> {
    let object = ObjectName::new("Deployment", namespace, name);
    let d = api.get_opt(name).await.map_err(|e| object.api(e))?;
    Ok(d.and_then(|d| d.spec)
        .map(|s| template_revision(&s.template)))
}

/// Reads the target's revisions. A missing object is an answer
/// ([`ObservedTarget::Missing`]), not an error: the Canary says so in its
/// conditions and the controller waits for it.
pub async fn observe(
    client: &Client,
    namespace: &str,
    kind: &TargetKind,
) -> Result<ObservedTarget, KubeError> {
    let missing = |what: String| ObservedTarget::Missing { what };
    match kind {
        TargetKind::Pair { stable, canary } => {
            let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
            let Some(s) = deployment_revision(&api, namespace, stable).await? else {
                return Ok(missing(format!("Deployment {namespace}/{stable}")));
            };
            let Some(c) = deployment_revision(&api, namespace, canary).await? else {
                return Ok(missing(format!("Deployment {namespace}/{canary}")));
            };
            Ok(ObservedTarget::Found {
                canary: c,
                stable: s,
            })
        }
        TargetKind::ArgoRollout(name) => {
            let object = ObjectName::new("Rollout", namespace, name);
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), namespace, &rollout_resource());
            let Some(obj) = api.get_opt(name).await.map_err(|e| object.api(e))? else {
                return Ok(missing(format!("Rollout {namespace}/{name}")));
            };
            let value = serde_json::to_value(obj).map_err(|e| object.encode(e))?;
            let rollout: ArgoRollout = serde_json::from_value(value).map_err(|e| {
                object.invalid(format!("it does not look like an Argo Rollout: {e}"))
            })?;
            let status = rollout.status.unwrap_or_default();
            match (status.current_pod_hash, status.stable_rs) {
                (Some(c), Some(s)) => Ok(ObservedTarget::Found {
                    canary: c,
                    stable: s,
                }),
                // Argo has not reconciled it yet: same as not there.
                _ => Ok(missing(format!(
                    "a reconciled Rollout {namespace}/{name} (status.currentPodHash/stableRS)"
                ))),
            }
        }
        TargetKind::Deployment(name) => {
            let router = crate::router::observe::DeploymentObserveRouter::new(
                client.clone(),
                namespace,
                name,
            );
            match router.observe().await {
                Ok(Some((canary, stable))) => Ok(ObservedTarget::Found { canary, stable }),
                // No ReplicaSet yet: the Deployment controller has not run.
                Ok(None) => Ok(missing(format!(
                    "a ReplicaSet of Deployment {namespace}/{name}"
                ))),
                Err(KubeError::NotFound { .. }) => {
                    Ok(missing(format!("Deployment {namespace}/{name}")))
                }
                Err(e) => Err(e),
            }
        }
    }
}

/// The policy text of a Canary and where it came from (`spec.policy.inline`
/// or `ConfigMap ns/name:key`), unparsed: the controller also hands it to
/// the source factory, which reads the policy's `source:` section.
pub async fn policy_text(
    client: &Client,
    namespace: &str,
    spec: &CanarySpec,
) -> Result<(String, String), KubeError> {
    match (&spec.policy.inline, &spec.policy.config_map) {
        (Some(text), None) => Ok(("spec.policy.inline".to_string(), text.clone())),
        (None, Some(cm)) => {
            let object = ObjectName::new("ConfigMap", namespace, &cm.name);
            let key = cm.key.as_deref().unwrap_or("policy.yaml");
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
            let map = api.get(&cm.name).await.map_err(|e| object.api(e))?;
            let text = map
                .data
                .and_then(|mut d| d.remove(key))
                .ok_or_else(|| object.invalid(format!("it has no key {key:?}")))?;
            Ok((format!("ConfigMap {namespace}/{}:{key}", cm.name), text))
        }
        _ => Err(ObjectName::new("Canary", namespace, "spec.policy")
            .invalid("give exactly one of spec.policy.inline or spec.policy.configMap")),
    }
}

/// The policy of a Canary: inline YAML, or a key of a ConfigMap in its namespace.
pub async fn load_policy(
    client: &Client,
    namespace: &str,
    spec: &CanarySpec,
) -> Result<Policy, KubeError> {
    let (source, text) = policy_text(client, namespace, spec).await?;
    parse_policy(&source, &text).map_err(|e| {
        ObjectName::new("Canary", namespace, &source).invalid(format!("its policy is invalid: {e}"))
    })
}
