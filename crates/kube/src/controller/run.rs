//! The loop: `kube::runtime::Controller` over Canaries (one namespace or
//! all), triggered also by the Deployments and Argo Rollouts they name,
//! reconciling only while this replica holds the Lease.
//!
//! Followers keep their watches warm and do nothing; when the Lease is
//! theirs, every Canary is reconciled at once (`reconcile_all_on`). On
//! stop the flag drops first (no new work), in-flight reconciles finish,
//! then the Lease is released so a standby takes over without waiting for
//! it to expire.

use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DynamicObject, ListParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store as Reflector};
use kube::runtime::{watcher, Controller};
use kube::{Client, ResourceExt};
use tokio::sync::{oneshot, watch};

use super::election::Election;
use super::{Context, ControllerError, EdgeFactory, StoreLease};
use crate::argo::rollout_resource;
use crate::crd::Canary;
use crate::error::KubeError;
use crate::lease::LeaseLock;

/// Which Canaries this controller looks after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Namespace(String),
    All,
}

impl Scope {
    fn api<K>(&self, client: Client) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match self {
            Scope::Namespace(ns) => Api::namespaced(client, ns),
            Scope::All => Api::all(client),
        }
    }

    fn describe(&self) -> String {
        match self {
            Scope::Namespace(ns) => format!("namespace {ns}"),
            Scope::All => "all namespaces".to_string(),
        }
    }
}

/// The Lease this replica competes for.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub duration: Duration,
}

pub struct RunConfig {
    pub scope: Scope,
    /// `None`: no election, this replica always reconciles (one replica only!).
    pub lease: Option<LeaseConfig>,
    /// Canaries reconciled at once.
    pub concurrency: u16,
}

/// Lists Canaries once, so an unreachable API server or a missing CRD is a
/// clear error at start rather than a watch retrying forever in the log.
pub async fn first_list(client: &Client, scope: &Scope) -> Result<usize, KubeError> {
    let api: Api<Canary> = scope.api(client.clone());
    let list = api.list(&ListParams::default()).await.map_err(|source| {
        if crate::kubeapi::status_code(&source) == Some(404) {
            return KubeError::Invalid {
                kind: "CustomResourceDefinition",
                namespace: String::new(),
                name: "canaries.canaryd.io".into(),
                problem: "it is not installed (canaryd crd | kubectl apply -f -)".into(),
            };
        }
        KubeError::Api {
            kind: "Canary",
            namespace: scope.describe(),
            name: "(list)".into(),
            source,
        }
    })?;
    Ok(list.items.len())
}

/// Runs until `stop` turns true. It starts with [`first_list`]: an
/// unreachable API server or a missing CRD is the error returned, at
/// once, so a misconfigured pod fails visibly instead of retrying a watch in
/// its log. `ready` turns true when that list succeeded (readiness); from
/// then on the watches retry by themselves.
pub async fn run<F: EdgeFactory>(
    ctx: Arc<Context<F>>,
    config: RunConfig,
    ready: watch::Sender<bool>,
    stop: watch::Receiver<bool>,
) -> Result<(), ControllerError> {
    let client = ctx.client.clone();
    let count = first_list(&client, &config.scope).await?;
    ctx.metrics.set_canaries(count);
    let _ = ready.send(true);

    let (all_tx, all_rx) = mpsc::unbounded::<()>();
    let election = match &config.lease {
        None => {
            ctx.leader.set(true);
            None
        }
        Some(l) => Some(Arc::new(
            Election::new(
                LeaseLock::new(
                    client.clone(),
                    &l.namespace,
                    &l.name,
                    &l.identity,
                    l.duration,
                ),
                ctx.leader.clone(),
                ctx.metrics.clone(),
            )
            .with_store(StoreLease::new(
                ctx.db.clone(),
                &l.identity,
                l.duration,
                ctx.fence.clone(),
            )),
        )),
    };
    if let Some(e) = &election {
        if e.round((ctx.clock)()).await {
            let _ = all_tx.unbounded_send(());
        }
    }
    ctx.metrics.set_leader(ctx.leader.is_leader());
    let rounds = election.clone().map(|election| {
        let clock = ctx.clock.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(election.renew_every()) => {
                        if election.round(clock()).await {
                            let _ = all_tx.unbounded_send(());
                        }
                    }
                    _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
                }
            }
        })
    });

    let (stopped_tx, stopped_rx) = oneshot::channel::<()>();
    let leader = ctx.leader.clone();
    let mut watch_stop = stop.clone();
    tokio::spawn(async move {
        let _ = watch_stop.wait_for(|s| *s).await;
        // No new reconcile acts from here on; in-flight ones finish.
        leader.set(false);
        let _ = stopped_tx.send(());
    });

    let controller = Controller::new(
        config.scope.api::<Canary>(client.clone()),
        watcher::Config::default(),
    );
    let canaries = controller.store();
    let by_deployment = canaries.clone();
    let mut controller = controller.watches(
        config.scope.api::<Deployment>(client.clone()),
        watcher::Config::default(),
        move |d: Deployment| naming(&by_deployment, "Deployment", &d),
    );
    if argo_installed(&client).await {
        let by_rollout = canaries.clone();
        let api: Api<DynamicObject> = match &config.scope {
            Scope::Namespace(ns) => Api::namespaced_with(client.clone(), ns, &rollout_resource()),
            Scope::All => Api::all_with(client.clone(), &rollout_resource()),
        };
        controller = controller.watches_with(
            api,
            rollout_resource(),
            watcher::Config::default(),
            move |r: DynamicObject| naming(&by_rollout, "Rollout", &r),
        );
    } else {
        tracing::info!("Argo Rollouts is not installed: Rollouts are not watched");
    }

    let metrics = ctx.metrics.clone();
    let counted = canaries.clone();
    controller
        .with_config(kube::runtime::Config::default().concurrency(config.concurrency))
        .reconcile_all_on(all_rx)
        .graceful_shutdown_on(stopped_rx.map(|_| ()))
        .run(reconcile_one, error_policy, ctx.clone())
        .for_each(|result| {
            metrics.set_canaries(counted.state().len());
            if let Err(e) = result {
                tracing::warn!(error = %e, "controller");
            }
            std::future::ready(())
        })
        .await;

    if let Some(task) = rounds {
        task.abort();
    }
    match election {
        Some(e) => e.resign().await,
        None => {
            ctx.leader.set(false);
            ctx.metrics.set_leader(false);
        }
    }
    Ok(())
}

async fn argo_installed(client: &Client) -> bool {
    match client
        .list_api_group_resources("argoproj.io/v1alpha1")
        .await
    {
        Ok(list) => list.resources.iter().any(|r| r.name == "rollouts"),
        Err(_) => false,
    }
}

/// The Canaries whose target is `obj` (same namespace, same name, the kind
/// their spec names).
fn naming<K: ResourceExt>(
    store: &Reflector<Canary>,
    kind: &str,
    obj: &K,
) -> Vec<ObjectRef<Canary>> {
    let name = obj.name_any();
    let namespace = obj.namespace();
    store
        .state()
        .iter()
        .filter(|c| c.namespace() == namespace)
        .filter(|c| {
            let t = &c.spec.target;
            match kind {
                "Deployment" => [&t.deployment, &t.stable, &t.canary]
                    .iter()
                    .any(|n| n.as_deref() == Some(name.as_str())),
                _ => t.rollout.as_deref() == Some(name.as_str()),
            }
        })
        .map(|c| ObjectRef::from_obj(c.as_ref()))
        .collect()
}

async fn reconcile_one<F: EdgeFactory>(
    canary: Arc<Canary>,
    ctx: Arc<Context<F>>,
) -> Result<Action, ControllerError> {
    let outcome = super::reconcile_canary(&canary, &ctx).await?;
    if let Ok(mut f) = ctx.failures.lock() {
        f.remove(&id(&canary));
    }
    Ok(match outcome.requeue_after {
        // A zero requeue (windows overdue after an outage) still yields, so
        // other Canaries get their turn.
        Some(d) => Action::requeue(d.max(Duration::from_millis(100))),
        None => Action::await_change(),
    })
}

fn id(canary: &Canary) -> String {
    format!(
        "{}/{}",
        canary.namespace().unwrap_or_default(),
        canary.name_any()
    )
}

/// Exponential back-off per Canary: 5 s doubling to 5 min; a failure only
/// a human can fix starts at a minute.
fn error_policy<F>(canary: Arc<Canary>, error: &ControllerError, ctx: Arc<Context<F>>) -> Action {
    let key = id(&canary);
    let n = match ctx.failures.lock() {
        Ok(mut f) => {
            let n = f.entry(key.clone()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        }
        Err(_) => 1,
    };
    let delay = backoff_delay(n, error.is_transient());
    tracing::warn!(canary = %key, failures = n, retry_in = ?delay, error = %error, "reconcile failed");
    Action::requeue(delay)
}

pub(super) fn backoff_delay(failures: u32, transient: bool) -> Duration {
    let first = if transient { 5 } else { 60 };
    let factor = 1u64 << failures.saturating_sub(1).min(10);
    Duration::from_secs((first * factor).min(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canary(namespace: &str, name: &str, target: serde_json::Value) -> Canary {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "canaryd.io/v1alpha1", "kind": "Canary",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"target": target, "policy": {"inline": "x"}}
        }))
        .unwrap()
    }

    #[test]
    fn a_changed_target_triggers_only_the_canaries_naming_it() {
        let (reader, mut writer) = kube::runtime::reflector::store::<Canary>();
        for c in [
            canary(
                "shop",
                "pair",
                serde_json::json!({"stable": "web", "canary": "web-canary"}),
            ),
            canary("shop", "argo", serde_json::json!({"rollout": "web-canary"})),
            canary(
                "other",
                "pair",
                serde_json::json!({"stable": "web", "canary": "web-canary"}),
            ),
        ] {
            writer.apply_watcher_event(&watcher::Event::Apply(c));
        }
        let deployment: Deployment = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-canary", "namespace": "shop"}
        }))
        .unwrap();
        let hit = naming(&reader, "Deployment", &deployment);
        assert_eq!(
            hit.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["pair"]
        );
        assert_eq!(hit[0].namespace.as_deref(), Some("shop"));
        let rollout: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web-canary", "namespace": "shop"}
        }))
        .unwrap();
        let hit = naming(&reader, "Rollout", &rollout);
        assert_eq!(
            hit.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["argo"]
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_delay(1, true), Duration::from_secs(5));
        assert_eq!(backoff_delay(2, true), Duration::from_secs(10));
        assert_eq!(backoff_delay(4, true), Duration::from_secs(40));
        assert_eq!(backoff_delay(30, true), Duration::from_secs(300));
        assert_eq!(backoff_delay(1, false), Duration::from_secs(60));
        assert_eq!(backoff_delay(3, false), Duration::from_secs(240));
    }
}
