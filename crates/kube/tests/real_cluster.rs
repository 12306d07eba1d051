//! Defects only a real API server shows (issue 15): what a merge patch
//! leaves behind, how Events are stored, what a reconcile writes when the
//! metrics source cannot be reached. Each test makes its own namespace and
//! deletes it on the way out; the `Canary` CRD is created when missing and
//! left in place (the cluster is a test cluster; other tests use it too).
//!
//! Gated like `e2e_cluster.rs`: `KUBECONFIG` names the cluster and
//! `CANARYD_E2E=1` says touching it is intended; otherwise each test says
//! why it skipped and passes. `./scripts/test` starts a control plane
//! (`../shared/kube-control-plane/up`) and runs this file against it.

mod support;

use std::time::Duration;

use canaryd_kube::controller::reconcile_canary;
use canaryd_kube::crd::{Canary, CanaryStatus, WindowStatus};
use canaryd_kube::events::Announcer;
use canaryd_kube::status::{write_status, EventWords};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, PostParams};
use kube::{Client, CustomResourceExt, Resource};
use serde_json::json;
use support::canary::{context, Script, POLICY};
use support::cluster::{cluster, ensure_crd, TestNamespace};

/// A namespace of this test's own (deleted on drop), with the `Canary` CRD
/// served.
async fn test_namespace(client: &Client, test: &str) -> TestNamespace {
    let ns = TestNamespace::new(client, test).await;
    ensure_crd(client, Canary::crd()).await;
    ns
}

fn canary_object(spec: serde_json::Value) -> Canary {
    serde_json::from_value(json!({
        "apiVersion": "canaryd.io/v1alpha1", "kind": "Canary",
        "metadata": {"name": "web"}, "spec": spec,
    }))
    .expect("a Canary")
}

fn window(index: u32, verdict: &str) -> WindowStatus {
    WindowStatus {
        index,
        verdict: verdict.into(),
        weight: 50,
        end: "2026-01-01T00:00:00Z".into(),
    }
}

/// Defect 3: a merge patch leaves alone what it does not mention, and an
/// empty `windows` used to be left out of the patch, so a new revision's
/// status kept the previous revision's windows. Fails on the old
/// `write_status` (the read-back holds the two windows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_revisions_status_holds_only_its_own_windows() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = test_namespace(&client, "status").await;
    let canaries: Api<Canary> = Api::namespaced(client.clone(), &ns.name);
    canaries
        .create(
            &PostParams::default(),
            &canary_object(json!({"target": {"deployment": "web"}, "policy": {"inline": POLICY}})),
        )
        .await
        .expect("create the Canary");
    let first = CanaryStatus {
        phase: Some("promoted".into()),
        revision: Some("aaa".into()),
        weight: Some(100),
        step: Some(2),
        windows: vec![window(1, "healthy"), window(2, "healthy")],
        ..Default::default()
    };
    write_status(&canaries, "web", &first)
        .await
        .expect("write the first revision's status");
    let read = canaries.get("web").await.expect("read the Canary").status;
    assert_eq!(
        read.map(|s| s.windows.len()),
        Some(2),
        "the windows were written"
    );

    let second = CanaryStatus {
        phase: Some("pending".into()),
        revision: Some("bbb".into()),
        weight: Some(0),
        ..Default::default()
    };
    write_status(&canaries, "web", &second)
        .await
        .expect("write the second revision's status");
    let read = canaries
        .get("web")
        .await
        .expect("read the Canary")
        .status
        .unwrap_or_default();
    assert_eq!(read.revision.as_deref(), Some("bbb"));
    assert_eq!(read.windows, vec![], "the first revision's windows stayed");
    assert_eq!(read.step, None, "the first revision's step stayed");
}

/// Defect 4: kube-runtime's recorder folded an Event into an earlier one
/// with the same reason on the same object (count 2, the first note), so
/// `kubectl describe` showed the first revision's words for the second.
/// Fails on the old `Announcer` (one Event, with the first note).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_transition_is_an_event_with_its_own_words() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = test_namespace(&client, "events").await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    let object: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "web"}})).expect("a ConfigMap");
    let object = config_maps
        .create(&PostParams::default(), &object)
        .await
        .expect("create an object to regard");
    let regarding = object.object_ref(&());
    let announcer = Announcer::new(client.clone(), Some("real-cluster-test".into()));
    for revision in ["aaa111", "bbb222", "ccc333"] {
        let words = EventWords {
            type_: "Warning",
            reason: "Paused",
            note: format!("shop/web@{revision} paused at 10%"),
        };
        announcer
            .publish(&words, std::slice::from_ref(&regarding))
            .await
            .expect("publish an Event");
    }
    let events: Api<Event> = Api::namespaced(client.clone(), &ns.name);
    let mut notes: Vec<String> = events
        .list(&Default::default())
        .await
        .expect("list Events")
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("Paused"))
        .filter_map(|e| e.note)
        .collect();
    notes.sort();
    assert_eq!(
        notes,
        vec![
            "shop/web@aaa111 paused at 10%",
            "shop/web@bbb222 paused at 10%",
            "shop/web@ccc333 paused at 10%"
        ]
    );
}

fn deployment(name: &str, track: &str, build: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": 3,
                 "selector": {"matchLabels": {"app": "web", "track": track}},
                 "template": {"metadata": {"labels": {"app": "web", "track": track}},
                              "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9",
                                                       "env": [{"name": "BUILD", "value": build}]}]}}}
    }))
    .expect("a Deployment")
}

/// The Deployment pair of the pair-mode tests: `web` (stable, build 1) and
/// `web-canary` (canary, build 2).
async fn create_deployment_pair(client: &Client, namespace: &str) -> Api<Deployment> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let pp = PostParams::default();
    for (name, track, build) in [("web", "stable", "1"), ("web-canary", "canary", "2")] {
        deployments
            .create(&pp, &deployment(name, track, build))
            .await
            .unwrap_or_else(|e| panic!("create the {track} Deployment: {e}"));
    }
    deployments
}

/// Defect 5: a baseline that cannot be *read* used to be taken for one that
/// does not *exist*: the Canary went to `awaiting_approval` (asking a human
/// to approve a rollout canaryd cannot see) with `MetricsReady=True`
/// ("configured"). Now nothing starts, the canary's replicas stay as they
/// are, and the conditions say what failed. Fails on the old reconcile
/// (phase `awaiting_approval`, `MetricsReady=True`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_baseline_holds_the_rollout_and_says_why() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = test_namespace(&client, "baseline").await;
    let pp = PostParams::default();
    let deployments = create_deployment_pair(&client, &ns.name).await;
    let canaries: Api<Canary> = Api::namespaced(client.clone(), &ns.name);
    let canary = canaries
        .create(
            &pp,
            &canary_object(json!({"target": {"stable": "web", "canary": "web-canary"},
                                  "policy": {"inline": POLICY}})),
        )
        .await
        .expect("create the Canary");

    let script = Script::new(&[]);
    script.0.lock().expect("the script").baseline_error = Some(
        "error sending request for url (http://127.0.0.1:9/api/v1/query): Connection refused"
            .into(),
    );
    let dir = tempfile::tempdir().expect("a temp dir");
    let now = support::cluster::now_ms();
    let ctx = context(client.clone(), &dir.path().join("c.db"), &script, now, true);
    let outcome = reconcile_canary(&canary, &ctx)
        .await
        .expect("the reconcile ends without an error");
    assert!(outcome.requeue_after.is_some(), "it tries again");

    let status = canaries
        .get("web")
        .await
        .expect("read the Canary")
        .status
        .unwrap_or_default();
    assert_ne!(
        status.phase.as_deref(),
        Some("awaiting_approval"),
        "{status:?}"
    );
    assert_eq!(status.phase, None, "nothing started: {status:?}");
    let condition = |t: &str| status.conditions.iter().find(|c| c.type_ == t).cloned();
    let metrics = condition("MetricsReady").expect("a MetricsReady condition");
    assert_eq!(
        (metrics.status.as_str(), metrics.reason.as_str()),
        ("False", "MetricsUnreachable"),
        "{metrics:?}"
    );
    assert!(
        metrics.message.contains("Connection refused"),
        "{metrics:?}"
    );
    let ready = condition("Ready").expect("a Ready condition");
    assert_eq!(ready.reason, "BaselineUnreadable", "{ready:?}");
    let canary_replicas = deployments
        .get("web-canary")
        .await
        .expect("read the canary Deployment")
        .spec
        .and_then(|s| s.replicas);
    assert_eq!(canary_replicas, Some(3), "canaryd moved no traffic");
    assert_eq!(script.0.lock().expect("the script").baselines_read, 1);
}

/// Defect 7: a Canary's policy named `{file: ...}` for its source's token,
/// and the controller read it (its own service-account token, say) and
/// sent it to the URL the same policy names. In controller mode a policy
/// that names a credential is refused before any source is built: the
/// factory is never asked (so no file is read), nothing starts, and the
/// condition says why. Fails on the old reconcile (the rollout starts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_cannot_make_the_controller_read_its_own_files() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = test_namespace(&client, "secrets").await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "controller-sa-token-0123456789").expect("write the token file");
    let pp = PostParams::default();
    let deployments = create_deployment_pair(&client, &ns.name).await;
    let policy = format!(
        "{POLICY}source:\n  prometheus:\n    url: http://127.0.0.1:9/collect\n    \
         auth: {{bearer: {{token: {{file: {}}}}}}}\n",
        token_file.display()
    );
    let canaries: Api<Canary> = Api::namespaced(client.clone(), &ns.name);
    let canary = canaries
        .create(
            &pp,
            &canary_object(json!({"target": {"stable": "web", "canary": "web-canary"},
                                  "policy": {"inline": policy}})),
        )
        .await
        .expect("create the Canary");

    let script = Script::new(&[]);
    let now = support::cluster::now_ms();
    let ctx = context(client.clone(), &dir.path().join("c.db"), &script, now, true);
    reconcile_canary(&canary, &ctx)
        .await
        .expect("the reconcile ends without an error");

    assert_eq!(
        script.built(),
        0,
        "no metrics source was built from the policy"
    );
    let read = canaries.get("web").await.expect("read the Canary");
    let status = read.status.clone().unwrap_or_default();
    assert_eq!(status.phase, None, "nothing started: {status:?}");
    let valid = status
        .conditions
        .iter()
        .find(|c| c.type_ == "PolicyValid")
        .expect("a PolicyValid condition");
    assert_eq!(
        (valid.status.as_str(), valid.reason.as_str()),
        ("False", "CredentialsInPolicy"),
        "{valid:?}"
    );
    assert!(
        valid.message.contains("source.prometheus.auth") && valid.message.contains("Secret"),
        "{valid:?}"
    );
    let events: Api<Event> = Api::namespaced(client.clone(), &ns.name);
    let said = serde_json::to_string(&(
        &read.status,
        events
            .list(&Default::default())
            .await
            .expect("list Events")
            .items,
    ))
    .expect("JSON");
    assert!(
        said.contains("CredentialsInPolicy"),
        "a Warning Event says it"
    );
    assert!(
        !said.contains("controller-sa-token"),
        "the file's content reached the cluster"
    );
    let replicas = deployments
        .get("web-canary")
        .await
        .expect("read the canary Deployment")
        .spec
        .and_then(|s| s.replicas);
    assert_eq!(replicas, Some(3), "canaryd moved no traffic");
}

/// Defect 2, the API server's half: every shipped example (the Canaries and
/// the ConfigMap one of them names) is accepted by a real API server with
/// the generated CRD. The controller's own checks of the same files run in
/// `crates/canaryd` (`examples_check`), where the metrics sources are built.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shipped_example_is_accepted_by_the_api_server() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = test_namespace(&client, "examples").await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/kubernetes");
    let mut applied = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("the examples") {
        let path = entry.expect("an example").path();
        let text = std::fs::read_to_string(&path).expect("read an example");
        let mut doc: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
        doc["metadata"]["namespace"] = json!(ns.name);
        let name = path.display().to_string();
        match doc["kind"].as_str() {
            Some("Canary") => {
                let canary: Canary = serde_json::from_value(doc).expect("a Canary");
                Api::<Canary>::namespaced(client.clone(), &ns.name)
                    .create(&PostParams::default(), &canary)
                    .await
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            Some("ConfigMap") => {
                let cm: ConfigMap = serde_json::from_value(doc).expect("a ConfigMap");
                Api::<ConfigMap>::namespaced(client.clone(), &ns.name)
                    .create(&PostParams::default(), &cm)
                    .await
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            other => panic!("{name}: an example of kind {other:?}; teach this test about it"),
        }
        applied.push(name);
    }
    assert!(applied.len() >= 3, "{applied:?}");
}

/// Reports every generation of the route Accepted, as a Gateway would.
async fn accept_routes(
    routes: Api<kube::api::DynamicObject>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use kube::api::{Patch, PatchParams};
    loop {
        if let Ok(r) = routes.get("web").await {
            let generation = r.metadata.generation.unwrap_or(0);
            let seen = r
                .data
                .pointer("/status/parents/0/conditions/0/observedGeneration")
                .and_then(serde_json::Value::as_i64);
            if seen != Some(generation) {
                let status = json!({"status": {"parents": [{
                    "parentRef": {"name": "gw"}, "controllerName": "canaryd.io/e2e-gateway",
                    "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                                    "message": "accepted by the test", "observedGeneration": generation,
                                    "lastTransitionTime": "2026-01-01T00:00:00Z"}]}]}});
                let _ = routes
                    .patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
                    .await;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Issue 15, left open: an HTTPRoute sends its share to the canary Service
/// whether or not any pod behind it is ready, and canaryd gave the first
/// step's weight to a canary Deployment with no available replica. Now the
/// weight waits: the route stays 100/0, the rollout holds (not rolled back)
/// and the Canary says why; once the canary is available (the test plays
/// the kubelet by marking its Pods Ready; the real controllers report the
/// Deployment available) the same step goes through. Fails on the old
/// router (the first reconcile writes 90/10).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_that_is_not_available_gets_no_traffic_and_the_rollout_holds() {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{DynamicObject, Patch, PatchParams};
    use support::cluster::{ensure_crd, upstream_crd, wait_for};
    let Some(client) = cluster().await else {
        return;
    };
    let ns = test_namespace(&client, "ready").await;
    ensure_crd(
        &client,
        upstream_crd("gateway.networking.k8s.io_httproutes.yaml"),
    )
    .await;
    let pp = PostParams::default();
    let deployments = create_deployment_pair(&client, &ns.name).await;
    let resource = kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
        "gateway.networking.k8s.io",
        "v1",
        "HTTPRoute",
    ));
    let routes: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns.name, &resource);
    let route: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": ns.name},
        "spec": {"parentRefs": [{"name": "gw"}],
                 "rules": [{"backendRefs": [{"name": "web-stable", "port": 80, "weight": 100},
                                            {"name": "web-canary", "port": 80, "weight": 0}]}]}
    }))
    .expect("an HTTPRoute");
    routes.create(&pp, &route).await.expect("the HTTPRoute");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let gateway = tokio::spawn(accept_routes(routes.clone(), stop_rx));
    let canaries: Api<Canary> = Api::namespaced(client.clone(), &ns.name);
    canaries
        .create(
            &pp,
            &canary_object(json!({
                "target": {"stable": "web", "canary": "web-canary"},
                "router": {"httpRoute": {"name": "web", "stableService": "web-stable",
                                         "canaryService": "web-canary"}},
                "policy": {"inline": POLICY}})),
        )
        .await
        .expect("create the Canary");
    let weights = |r: &DynamicObject| {
        let refs = r.data["spec"]["rules"][0]["backendRefs"].clone();
        (refs[0]["weight"].as_i64(), refs[1]["weight"].as_i64())
    };
    let script = Script::new(&[]);
    let dir = tempfile::tempdir().expect("a temp dir");
    let db = dir.path().join("c.db");
    let t0 = support::cluster::now_ms();

    // No canary pod is ready: the first step's weight waits.
    let canary = canaries.get("web").await.expect("read the Canary");
    let ctx = context(client.clone(), &db, &script, t0, true);
    let outcome = reconcile_canary(&canary, &ctx).await;
    assert!(outcome.is_err(), "the weight change is not done yet");
    let route = routes.get("web").await.expect("read the route");
    assert_eq!(weights(&route), (Some(100), Some(0)), "no traffic to it");
    let status = canaries
        .get("web")
        .await
        .expect("read the Canary")
        .status
        .unwrap_or_default();
    assert_eq!(
        status.phase.as_deref(),
        Some("ramping"),
        "held, not rolled back"
    );
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("a Ready condition");
    assert_eq!(ready.reason, "ActionFailed", "{ready:?}");
    assert!(
        ready.message.contains("web-canary") && ready.message.contains("not ready to take traffic"),
        "{ready:?}"
    );
    let events: Api<Event> = Api::namespaced(client.clone(), &ns.name);
    let warned = events
        .list(&Default::default())
        .await
        .expect("list Events")
        .items
        .into_iter()
        .any(|e| {
            e.type_.as_deref() == Some("Warning")
                && e.note
                    .as_deref()
                    .is_some_and(|n| n.contains("not ready to take traffic"))
        });
    assert!(warned, "a Warning Event says why the rollout holds");

    // The kubelet starts the canary's pods; the Deployment becomes available.
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    wait_for("the canary Deployment to be available", || async {
        for pod in pods
            .list(&kube::api::ListParams::default().labels("track=canary"))
            .await
            .ok()?
            .items
        {
            let status = json!({"status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
            let name = pod.metadata.name.clone().unwrap_or_default();
            let _ = pods
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                .await;
        }
        let d = deployments.get("web-canary").await.ok()?;
        canaryd_kube::router::pair::rollout_progress(&d)
            .is_none()
            .then_some(())
    })
    .await;
    let canary = canaries.get("web").await.expect("read the Canary");
    reconcile_canary(&canary, &ctx)
        .await
        .expect("the held step goes through");
    let route = routes.get("web").await.expect("read the route");
    assert_eq!(weights(&route), (Some(90), Some(10)), "the first step");
    let status = canaries
        .get("web")
        .await
        .expect("read the Canary")
        .status
        .unwrap_or_default();
    assert_eq!(status.phase.as_deref(), Some("ramping"));
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
    assert_ne!(
        ready.map(|c| c.reason.as_str()),
        Some("ActionFailed"),
        "{ready:?}"
    );
    let _ = stop_tx.send(true);
    let _ = gateway.await;
}
