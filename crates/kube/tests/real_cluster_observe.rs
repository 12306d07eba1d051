//! Observe mode against a real API server (issue 15): the real Deployment
//! controller rolls a Deployment from one build to the next (new
//! ReplicaSet, `deployment.kubernetes.io/revision` annotations); canaryd
//! judges the newest ReplicaSet against the previous one and, on a
//! sustained breach, pauses the rolling update and undoes it. No kubelet
//! is needed: the ReplicaSets exist whether or not their pods run, so the
//! rolling update is simply still in progress when canaryd judges it.
//!
//! The reconciles run in this process with a fixed clock per call and a
//! scripted metrics source (one reading per window). A watch records every
//! state of the Deployment (its `spec.paused` and build), so the pause
//! before the undo is seen even though the undo follows it at once.
//! Gated like `real_cluster.rs`.

mod support;

use std::sync::{Arc, Mutex};

use canaryd_kube::controller::reconcile_canary;
use canaryd_kube::crd::{Canary, CanaryStatus};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::CustomResourceExt;
use serde_json::json;
use support::canary::{context, Reading, Script, POLICY};
use support::cluster::{cluster, ensure_crd, now_ms, wait_for, TestNamespace};
use tokio::sync::watch;

fn web(build: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 2,
                 "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9",
                                                       "env": [{"name": "BUILD", "value": build}]}]}}}
    }))
    .expect("a Deployment")
}

fn build_of(d: &Deployment) -> String {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| c.env.as_ref())
        .and_then(|env| env.iter().find(|e| e.name == "BUILD"))
        .and_then(|e| e.value.clone())
        .unwrap_or_default()
}

/// (revision annotation, pod-template-hash) of each ReplicaSet, by revision.
async fn replica_sets(api: &Api<ReplicaSet>) -> Vec<(u64, String)> {
    let mut sets: Vec<(u64, String)> = api
        .list(&Default::default())
        .await
        .expect("list ReplicaSets")
        .items
        .into_iter()
        .filter_map(|rs| {
            let revision = rs
                .metadata
                .annotations
                .as_ref()?
                .get("deployment.kubernetes.io/revision")?
                .parse()
                .ok()?;
            let hash = rs
                .metadata
                .labels
                .as_ref()?
                .get("pod-template-hash")?
                .clone();
            Some((revision, hash))
        })
        .collect();
    sets.sort();
    sets
}

/// Records each distinct (spec.paused, build) of the Deployment.
async fn record(
    deployments: Api<Deployment>,
    seen: Arc<Mutex<Vec<(bool, String)>>>,
    mut stop: watch::Receiver<bool>,
) {
    use futures::StreamExt;
    use kube::runtime::{watcher, WatchStreamExt};
    let mut changes = watcher(deployments, watcher::Config::default())
        .applied_objects()
        .boxed();
    loop {
        tokio::select! {
            Some(Ok(d)) = changes.next() => {
                let state = (d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false), build_of(&d));
                let mut s = seen.lock().expect("the record");
                if s.last() != Some(&state) {
                    s.push(state);
                }
            }
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// A breaching new build is paused, then undone to the previous
/// ReplicaSet's template (Kubernetes reuses that ReplicaSet); the Canary
/// says `rolled_back`, the Deployment gets the Event, and the reused
/// ReplicaSet is then stable again, not a new rollout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breaching_rolling_update_is_paused_and_undone() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = TestNamespace::new(&client, "observe").await;
    ensure_crd(&client, Canary::crd()).await;
    let pp = PostParams::default();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), &ns.name);
    deployments
        .create(&pp, &web("1"))
        .await
        .expect("create the Deployment");
    let first = wait_for("the first ReplicaSet", || async {
        replica_sets(&sets).await.first().cloned()
    })
    .await;
    let (stop_tx, stop_rx) = watch::channel(false);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = tokio::spawn(record(deployments.clone(), seen.clone(), stop_rx));
    // The watch's first list must hold build 1, or the record would start
    // from whatever the release had already changed.
    wait_for("the watch to see the Deployment", || async {
        (!seen.lock().expect("the record").is_empty()).then_some(())
    })
    .await;
    let canaries: Api<Canary> = Api::namespaced(client.clone(), &ns.name);
    let canary: Canary = serde_json::from_value(json!({
        "apiVersion": "canaryd.io/v1alpha1", "kind": "Canary",
        "metadata": {"name": "web"},
        "spec": {"target": {"deployment": "web"}, "policy": {"inline": POLICY}}
    }))
    .expect("a Canary");
    canaries.create(&pp, &canary).await.expect("the Canary");

    // A release: the Deployment controller starts a rolling update.
    let release = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "registry.k8s.io/pause:3.9", "env": [{"name": "BUILD", "value": "2"}]}]}}}});
    deployments
        .patch("web", &PatchParams::default(), &Patch::Strategic(&release))
        .await
        .expect("release build 2");
    let second = wait_for("the new ReplicaSet", || async {
        let s = replica_sets(&sets).await;
        (s.len() == 2).then(|| s[1].clone())
    })
    .await;
    assert_ne!(first.1, second.1);

    let dir = tempfile::tempdir().expect("a temp dir");
    let db = dir.path().join("c.db");
    let script = Script::new(&[Reading::Breach, Reading::Breach]);
    let t0 = now_ms();
    let reconcile = |at: i64| {
        let (client, canaries, db, script) =
            (client.clone(), canaries.clone(), db.clone(), script.clone());
        async move {
            let canary = canaries.get("web").await.expect("read the Canary");
            let ctx = context(client, &db, &script, at, true);
            reconcile_canary(&canary, &ctx)
                .await
                .expect("the reconcile ends without an error");
            canaries
                .get("web")
                .await
                .expect("read the Canary")
                .status
                .unwrap_or_default()
        }
    };

    // The newest ReplicaSet is judged against the previous one.
    let status: CanaryStatus = reconcile(t0).await;
    assert_eq!(status.phase.as_deref(), Some("ramping"), "{status:?}");
    assert_eq!(status.revision.as_deref(), Some(second.1.as_str()));
    let d = deployments.get("web").await.expect("read the Deployment");
    assert_eq!(
        (
            d.spec.as_ref().and_then(|s| s.paused),
            build_of(&d).as_str()
        ),
        (None, "2"),
        "canaryd wrote nothing while the canary is healthy so far"
    );

    // Two breaching windows: paused, then undone.
    let status = reconcile(t0 + 120_000).await;
    assert_eq!(status.phase.as_deref(), Some("rolled_back"), "{status:?}");
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("a Ready condition");
    assert_eq!(ready.reason, "RolledBack", "{ready:?}");
    let d = deployments.get("web").await.expect("read the Deployment");
    assert_eq!(build_of(&d), "1", "the template is the previous build's");
    assert_ne!(
        d.spec.as_ref().and_then(|s| s.paused),
        Some(true),
        "the undo unpauses, or the Deployment would not roll back"
    );
    let states = wait_for("the watch to see the undo", || async {
        let s = seen.lock().expect("the record").clone();
        (s.last() == Some(&(false, "1".to_string()))).then_some(s)
    })
    .await;
    assert_eq!(
        states,
        [
            (false, "1".to_string()),
            (false, "2".to_string()),
            (true, "2".to_string()),
            (false, "1".to_string())
        ],
        "released, paused at the breach, undone"
    );

    // Kubernetes rolls back by reusing the first ReplicaSet (revision 3).
    let reused = wait_for(
        "the Deployment controller to reuse the first ReplicaSet",
        || async {
            replica_sets(&sets)
                .await
                .last()
                .filter(|(_, hash)| *hash == first.1)
                .cloned()
        },
    )
    .await;
    assert!(reused.0 > second.0, "{reused:?}");
    wait_for("the Deployment controller to observe the undo", || async {
        let d = deployments.get("web").await.ok()?;
        (d.status?.observed_generation == d.metadata.generation).then_some(())
    })
    .await;

    // That is stable again, not a new rollout of build 1.
    let after = reconcile(t0 + 180_000).await;
    assert_eq!(after.phase.as_deref(), Some("rolled_back"), "{after:?}");
    assert_eq!(after.revision, status.revision);
    assert_eq!(script.windows_read(), 2);

    let events: Api<Event> = Api::namespaced(client.clone(), &ns.name);
    let ours: Vec<(String, String, String)> = events
        .list(&Default::default())
        .await
        .expect("list Events")
        .items
        .into_iter()
        .filter(|e| e.reporting_controller.as_deref() != Some("deployment-controller"))
        .filter_map(|e| {
            Some((
                e.regarding.as_ref()?.kind.clone()?,
                e.reason.clone()?,
                e.note.clone().unwrap_or_default(),
            ))
        })
        .collect();
    let rolled_back = ours
        .iter()
        .find(|(kind, reason, _)| kind == "Deployment" && reason == "RolledBack")
        .unwrap_or_else(|| panic!("no RolledBack Event on the Deployment: {ours:?}"));
    assert!(rolled_back.2.contains(&second.1), "{rolled_back:?}");
    assert_eq!(
        ours.iter()
            .filter(|(kind, reason, _)| kind == "Deployment" && reason == "RolloutStarted")
            .count(),
        1,
        "the reused ReplicaSet started no rollout: {ours:?}"
    );
    let _ = stop_tx.send(true);
    let _ = recorder.await;
}
