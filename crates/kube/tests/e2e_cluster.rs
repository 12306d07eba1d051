//! End-to-end against a real cluster (issue 8): the controller's loop, run
//! in this process through the same entry point as `canaryd controller`,
//! drives a Deployment pair behind a Gateway API HTTPRoute to promotion,
//! then a new revision to rollback. Promotion makes the canary's build the
//! stable one: the test plays the kubelet (marks Pods Ready) only after it
//! has checked that the canary keeps the traffic while the stable
//! Deployment has not rolled out (issue 15, defect 1; the old promotion
//! only moved the weights, so its "waiting" phase never came and the test
//! fails on it).
//!
//! It only runs when asked twice: `KUBECONFIG` names the cluster and
//! `CANARYD_E2E=1` says touching it is intended. Otherwise every test here
//! prints why it skipped and passes, so `cargo test` never reaches a
//! cluster by accident (a developer's KUBECONFIG usually points at one).
//!
//! ```sh
//! CANARYD_E2E=1 KUBECONFIG=~/.kube/config cargo nextest run -p canaryd-kube --test e2e_cluster
//! ```
//!
//! What it makes: a namespace `canaryd-e2e-<pid>-<ms>` (Deployments, Services,
//! an HTTPRoute, the Canary, the Lease, Events), and the `Canary` and
//! `HTTPRoute` CRDs when the cluster lacks them. A drop guard deletes the
//! namespace, also when an assertion fails; CRDs it created stay on a real
//! cluster (the suite's other tests may be using them at the same time). The metrics come from a source scripted
//! in-process (the pods run `pause`); no Gateway implementation is needed:
//! the test plays the Gateway controller and reports the route Accepted,
//! which canaryd waits for before it counts a weight as applied.
//!
//! The same scenario also runs in the default suite against an in-memory
//! API server (`support/memory_api.rs`), so its logic is exercised where no
//! cluster is at hand.

#[path = "support/memory_api.rs"]
mod memory_api;
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use canaryd_kube::controller::{run, Context, LeaderFlag, LeaseConfig, RunConfig, Scope};
use canaryd_kube::crd::{Canary, CanaryStatus};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::{Client, CustomResourceExt};
use serde_json::{json, Value};
use support::canary::{Reading, Script, ScriptedFactory};
use tokio::sync::watch;

const NAME: &str = "web";
/// How long a phase may take: a few 2 s windows, plus the retries of each
/// weight change until the Gateway has reported the route's new generation
/// (canaryd checks right after its patch, then backs off 5 s, 10 s, ...).
const PHASE_TIMEOUT: Duration = Duration::from_secs(300);

const POLICY: &str = "name: e2e
window: 2s
ladder:
  - {weight: 50, hold_windows: 1}
  - {weight: 100, hold_windows: 1}
ramp_budget: 10m
traffic: {min_requests_per_route: 20, max_extensions: 3}
baseline: {lookback: 7d, min_history: 1h, min_requests_per_route: 50}
rules:
  - {name: errors, metric: error_rate, absolute: 5%, consecutive: 2}
";

/// Why this run must not touch a cluster, if it must not.
fn skip_reason(kubeconfig: Option<&str>, e2e: Option<&str>) -> Option<&'static str> {
    if kubeconfig.is_none_or(str::is_empty) {
        return Some("skipped: KUBECONFIG not set");
    }
    if e2e != Some("1") {
        return Some(
            "skipped: CANARYD_E2E is not 1 (set it to run against the cluster KUBECONFIG names)",
        );
    }
    None
}

#[test]
fn the_suite_runs_only_when_both_kubeconfig_and_canaryd_e2e_say_so() {
    assert_eq!(
        skip_reason(None, Some("1")),
        Some("skipped: KUBECONFIG not set")
    );
    assert_eq!(
        skip_reason(Some(""), Some("1")),
        Some("skipped: KUBECONFIG not set")
    );
    assert!(skip_reason(Some("/home/me/.kube/config"), None).is_some());
    assert!(skip_reason(Some("/home/me/.kube/config"), Some("true")).is_some());
    assert_eq!(skip_reason(Some("/home/me/.kube/config"), Some("1")), None);
}

/// A client for the cluster, or `None` (said on stdout) when not asked to run.
async fn cluster() -> Option<Client> {
    let kubeconfig = std::env::var("KUBECONFIG").ok();
    let e2e = std::env::var("CANARYD_E2E").ok();
    if let Some(reason) = skip_reason(kubeconfig.as_deref(), e2e.as_deref()) {
        println!("{reason}");
        return None;
    }
    Some(
        Client::try_default()
            .await
            .expect("a Kubernetes client for the cluster KUBECONFIG names"),
    )
}

/// Deletes what the test made, on the way out (also while unwinding from a
/// failed assertion). Needs the multi-threaded runtime (`block_in_place`).
struct Cleanup {
    client: Client,
    namespace: String,
    /// CRDs this run created (ones that were there before stay).
    crds: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let client = self.client.clone();
        let namespace = self.namespace.clone();
        let crds = std::mem::take(&mut self.crds);
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async move {
                let namespaces: Api<Namespace> = Api::all(client.clone());
                match namespaces
                    .delete(&namespace, &DeleteParams::background())
                    .await
                {
                    Ok(_) => println!("deleted namespace {namespace}"),
                    Err(e) => {
                        eprintln!("could not delete namespace {namespace}: {e} (delete it by hand)")
                    }
                }
                // The RBAC run's cluster-wide grants are named after its namespace.
                use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
                let dp = DeleteParams::background();
                let _ = Api::<ClusterRoleBinding>::all(client.clone())
                    .delete(&namespace, &dp)
                    .await;
                let _ = Api::<ClusterRole>::all(client.clone())
                    .delete(&namespace, &dp)
                    .await;
                let api: Api<CustomResourceDefinition> = Api::all(client);
                for crd in crds {
                    match api.delete(&crd, &DeleteParams::background()).await {
                        Ok(_) => println!("deleted CRD {crd}"),
                        Err(e) => eprintln!("could not delete CRD {crd}: {e} (delete it by hand)"),
                    }
                }
            })
        });
    }
}

fn httproute_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "gateway.networking.k8s.io",
        "v1",
        "HTTPRoute",
    ))
}

/// Creates `crd` unless a CRD of that name exists; waits until it is Established.
/// Returns whether this run created it.
async fn ensure_crd(client: &Client, crd: CustomResourceDefinition) -> bool {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = crd.metadata.name.clone().expect("a CRD has a name");
    let created = match api.get_opt(&name).await.expect("read CRDs") {
        Some(_) => {
            println!("CRD {name} exists: using it as it is");
            false
        }
        None => match api.create(&PostParams::default(), &crd).await {
            Ok(_) => true,
            // Another test of the suite created it in between.
            Err(kube::Error::Api(e)) if e.code == 409 => false,
            Err(e) => panic!("create CRD {name}: {e}"),
        },
    };
    let started = Instant::now();
    loop {
        let now = api.get(&name).await.expect("read the CRD");
        let established = now
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            return created;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "CRD {name} not Established after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn httproute_crd() -> CustomResourceDefinition {
    let path = support::shared_crds().join("gateway.networking.k8s.io_httproutes.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the upstream CRDs live in shared/k8s-crds)",
            path.display()
        )
    });
    serde_saphyr::from_str(&text).expect("the upstream HTTPRoute CRD parses")
}

/// The one container; its `BUILD` variable makes each build a distinct pod
/// spec, that is a distinct revision (canaryd hashes the pod spec, not the
/// template's labels or annotations), while every pod runs the same tiny image.
fn container(build: &str) -> Value {
    json!({"name": "app", "image": "registry.k8s.io/pause:3.9",
           "env": [{"name": "BUILD", "value": build}]})
}

fn template(build: &str, track: &str) -> Value {
    json!({"metadata": {"labels": {"app": NAME, "track": track}},
           "spec": {"containers": [container(build)], "terminationGracePeriodSeconds": 0}})
}

/// The canary's revision as canaryd sees it: the hash of the pod spec as
/// the API server stored it (with its defaults), not as this test wrote it.
async fn canary_revision(deployments: &Api<Deployment>) -> String {
    let d = deployments
        .get("web-canary")
        .await
        .expect("read the canary Deployment");
    let template = d.spec.map(|s| s.template).unwrap_or_default();
    canaryd_kube::revision::template_revision(&template)
}

fn deployment(name: &str, track: &str, build: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": NAME, "track": track}},
        "spec": {"replicas": 1,
                 "selector": {"matchLabels": {"app": NAME, "track": track}},
                 "template": template(build, track)}
    }))
    .expect("a Deployment")
}

fn service(name: &str, track: &str) -> Service {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": NAME, "track": track},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    }))
    .expect("a Service")
}

fn httproute(namespace: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": NAME, "namespace": namespace},
        "spec": {
            "parentRefs": [{"name": "e2e-gateway"}],
            "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                 "backendRefs": [{"name": "web-stable", "port": 80, "weight": 100},
                                 {"name": "web-canary", "port": 80, "weight": 0}]},
                // Not canaryd's: it must come out of every patch byte for byte.
                {"matches": [{"path": {"type": "PathPrefix", "value": "/admin"}},
                             {"headers": [{"name": "x-admin", "value": "1"}]}],
                 "filters": [{"type": "RequestHeaderModifier",
                              "requestHeaderModifier": {"add": [{"name": "x-via", "value": "e2e"}]}}],
                 "backendRefs": [{"name": "admin", "port": 8080, "weight": 3}]}
            ]
        }
    }))
    .expect("an HTTPRoute")
}

fn canary_object() -> Canary {
    serde_json::from_value(json!({
        "apiVersion": "canaryd.io/v1alpha1", "kind": "Canary",
        "metadata": {"name": NAME},
        "spec": {"target": {"stable": "web", "canary": "web-canary"},
                 "router": {"httpRoute": {"name": NAME, "stableService": "web-stable",
                                          "canaryService": "web-canary"}},
                 "policy": {"inline": POLICY}}
    }))
    .expect("a Canary")
}

/// The status a Gateway controller writes when it accepts `generation`.
fn accepted(generation: i64) -> Value {
    json!({"status": {"parents": [{
        "parentRef": {"name": "e2e-gateway"},
        "controllerName": "canaryd.io/e2e-gateway",
        "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                        "message": "accepted by the canaryd e2e test",
                        "lastTransitionTime": "2026-01-01T00:00:00Z",
                        "observedGeneration": generation}]
    }]}})
}

// What the suite sends a cluster is checked here, without one, against the
// same schemas the API server would apply: a typo in a fixture would
// otherwise surface only when someone finally runs the suite.

#[test]
fn the_httproute_crd_file_parses_and_the_route_and_its_status_pass_its_schema() {
    let crd = httproute_crd();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("httproutes.gateway.networking.k8s.io")
    );
    let schema = support::upstream_schema("gateway.networking.k8s.io_httproutes.yaml", "v1");
    let mut route = serde_json::to_value(httproute("canaryd-e2e-x")).expect("JSON");
    route["status"] = accepted(3)["status"].clone();
    assert_eq!(
        support::schema_errors(&schema, &route),
        Vec::<String>::new()
    );
    let (stable, canary) = weights(&serde_json::from_value(route.clone()).expect("an HTTPRoute"));
    assert_eq!((stable, canary), (100, 0));
}

#[test]
fn the_canary_passes_its_crd_schema() {
    let crd = Canary::crd();
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .map(|s| serde_json::to_value(s).expect("JSON"))
        .expect("the Canary CRD has a schema");
    let canary = serde_json::to_value(canary_object()).expect("JSON");
    assert_eq!(
        support::schema_errors(&schema, &canary),
        Vec::<String>::new()
    );
    assert_eq!(
        canary["spec"]["router"]["httpRoute"]["canaryService"],
        "web-canary"
    );
}

#[test]
fn each_deployment_selects_its_own_pods_and_each_service_one_track() {
    for track in ["stable", "canary"] {
        let d = deployment("d", track, "1").spec.expect("a spec");
        let labels = d.template.metadata.and_then(|m| m.labels);
        assert_eq!(d.selector.match_labels, labels);
        let svc = service("s", track).spec.and_then(|s| s.selector);
        assert_eq!(svc, labels);
    }
    let spec = |build| serde_json::to_string(&template(build, "canary")["spec"]).expect("JSON");
    assert_ne!(spec("2"), spec("3"), "a new build is a new pod spec");
}

/// Stands in for a Gateway controller: reports every generation of the
/// route Accepted, as canaryd requires before it counts a weight applied.
async fn accept_routes(routes: Api<DynamicObject>, mut stop: watch::Receiver<bool>) {
    loop {
        if let Ok(route) = routes.get(NAME).await {
            let generation = route.metadata.generation.unwrap_or(0);
            let seen = route
                .data
                .pointer("/status/parents/0/conditions/0/observedGeneration")
                .and_then(Value::as_i64);
            if seen != Some(generation) {
                let status = accepted(generation);
                if let Err(e) = routes
                    .patch_status(NAME, &PatchParams::default(), &Patch::Merge(&status))
                    .await
                {
                    eprintln!("the stand-in Gateway could not accept the route: {e}");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// The backend weights of the rule canaryd steers: (stable, canary).
fn weights(route: &DynamicObject) -> (i64, i64) {
    let refs = route.data["spec"]["rules"][0]["backendRefs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let of = |name: &str| {
        refs.iter()
            .find(|b| b["name"] == name)
            .and_then(|b| b["weight"].as_i64())
            .unwrap_or(-1)
    };
    (of("web-stable"), of("web-canary"))
}

fn unrelated_rule(route: &DynamicObject) -> String {
    serde_json::to_string(&route.data["spec"]["rules"][1]).expect("JSON")
}

/// Everything the test saw change, in order: each distinct split of the
/// route and each status of the Canary, as the API server's watch sent
/// them. A phase can pass between two polls unseen; a watch misses none.
#[derive(Default)]
struct Seen {
    /// (stable, canary) weights, consecutive repeats dropped.
    splits: Vec<(i64, i64)>,
    /// (revision, phase, window verdicts) of each Canary status.
    statuses: Vec<(String, String, Vec<String>)>,
}

type Recorded = Arc<std::sync::Mutex<Seen>>;

/// Watches the route and the Canary until `stop`, recording into `seen`.
async fn record(
    routes: Api<DynamicObject>,
    canaries: Api<Canary>,
    seen: Recorded,
    mut stop: watch::Receiver<bool>,
) {
    use futures::StreamExt;
    use kube::runtime::{watcher, WatchStreamExt};
    let mut route_changes = watcher(routes, watcher::Config::default())
        .applied_objects()
        .boxed();
    let mut canary_changes = watcher(canaries, watcher::Config::default())
        .applied_objects()
        .boxed();
    loop {
        tokio::select! {
            Some(Ok(route)) = route_changes.next() => {
                let split = weights(&route);
                let mut s = seen.lock().expect("the record");
                if s.splits.last() != Some(&split) {
                    s.splits.push(split);
                }
            }
            Some(Ok(canary)) = canary_changes.next() => {
                let st = canary.status.unwrap_or_default();
                let verdicts = st.windows.iter().map(|w| w.verdict.clone()).collect();
                seen.lock().expect("the record").statuses.push((
                    st.revision.unwrap_or_default(),
                    st.phase.unwrap_or_default(),
                    verdicts,
                ));
            }
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Waits until the watch has reported as many splits as `expected` (the
/// status can say a weight was applied a moment before the watch delivers
/// it), then returns them all for the caller to compare.
async fn splits_seen(seen: &Recorded, expected: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let started = Instant::now();
    loop {
        let splits = seen.lock().expect("the record").splits.clone();
        if splits.len() >= expected.len() || started.elapsed() > PHASE_TIMEOUT {
            return splits;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Plays the kubelet: marks the canary's Pods Ready at once (canaryd gives
/// no weight to a canary that is not available), the stable ones only while
/// `on`; the real Deployment and ReplicaSet controllers do the rest (roll a
/// Deployment out, report it available). The in-memory API server has no
/// controllers: there the Deployment's status is written as it would be.
async fn play_kubelet(
    client: Client,
    namespace: String,
    memory: bool,
    on: Arc<std::sync::atomic::AtomicBool>,
    mut stop: watch::Receiver<bool>,
) {
    use k8s_openapi::api::core::v1::Pod;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let deployments: Api<Deployment> = Api::namespaced(client, &namespace);
    loop {
        let stable_too = on.load(std::sync::atomic::Ordering::SeqCst);
        {
            if memory {
                for d in deployments
                    .list(&Default::default())
                    .await
                    .map(|l| l.items)
                    .unwrap_or_default()
                {
                    if d.metadata.name.as_deref() != Some("web-canary") && !stable_too {
                        continue;
                    }
                    let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    let generation = d.metadata.generation.unwrap_or(1);
                    let status = json!({"status": {"observedGeneration": generation, "replicas": replicas,
                        "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas}});
                    let seen = d.status.as_ref().and_then(|s| s.observed_generation);
                    if seen != Some(generation) {
                        let name = d.metadata.name.clone().unwrap_or_default();
                        let _ = deployments
                            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                            .await;
                    }
                }
            } else {
                for pod in pods
                    .list(&Default::default())
                    .await
                    .map(|l| l.items)
                    .unwrap_or_default()
                {
                    let ready = pod
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|cs| {
                            cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                        });
                    let track = pod
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get("track"))
                        .cloned();
                    if track.as_deref() != Some("canary") && !stable_too {
                        continue;
                    }
                    if ready || pod.metadata.deletion_timestamp.is_some() {
                        continue;
                    }
                    let status = json!({"status": {"phase": "Running", "conditions": [
                        {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
                    let name = pod.metadata.name.clone().unwrap_or_default();
                    if let Err(e) = pods
                        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                        .await
                    {
                        eprintln!("the stand-in kubelet could not mark {name} Ready: {e}");
                    }
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// The `BUILD` a Deployment's pods run, and its replicas.
async fn build_of(deployments: &Api<Deployment>, name: &str) -> (String, i32) {
    let d = deployments.get(name).await.expect("read a Deployment");
    let spec = d.spec.unwrap_or_default();
    let build = spec
        .template
        .spec
        .and_then(|p| p.containers.into_iter().next())
        .and_then(|c| c.env)
        .and_then(|env| env.into_iter().find(|e| e.name == "BUILD"))
        .and_then(|e| e.value)
        .unwrap_or_default();
    (build, spec.replicas.unwrap_or(1))
}

/// The notes of the Events with `reason` on the Canary.
async fn canary_notes(events: &Api<Event>, reason: &str) -> Vec<String> {
    events
        .list(&Default::default())
        .await
        .expect("list Events")
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .filter(|e| e.regarding.as_ref().and_then(|r| r.kind.as_deref()) == Some("Canary"))
        .filter_map(|e| e.note)
        .collect()
}

/// Event reasons per object kind (`Canary`, `Deployment`).
async fn event_reasons(events: &Api<Event>) -> BTreeMap<String, Vec<String>> {
    let mut by_kind: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in events
        .list(&Default::default())
        .await
        .expect("list Events")
        .items
    {
        let kind = e
            .regarding
            .as_ref()
            .and_then(|r| r.kind.clone())
            .unwrap_or_default();
        by_kind
            .entry(kind)
            .or_default()
            .push(e.reason.unwrap_or_default());
    }
    by_kind
}

/// Waits until the Canary's status shows `phase` for `revision` with the
/// `Ready` condition's `reason`. The phase is committed before its effect
/// runs (the route patch waits in the outbox, `Ready` says `ActionFailed`
/// meanwhile), so the reason is what says the effect went through.
async fn wait_for_phase(
    canaries: &Api<Canary>,
    events: &Api<Event>,
    phase: &str,
    reason: &str,
    revision: &str,
) -> CanaryStatus {
    let started = Instant::now();
    loop {
        let status = canaries
            .get(NAME)
            .await
            .expect("read the Canary")
            .status
            .unwrap_or_default();
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
        if status.phase.as_deref() == Some(phase)
            && status.revision.as_deref() == Some(revision)
            && ready.is_some_and(|c| c.reason == reason)
        {
            return status;
        }
        if started.elapsed() > PHASE_TIMEOUT {
            panic!(
                "no {phase} ({reason}) for revision {revision} after {PHASE_TIMEOUT:?}: status {status:?}, events {:?}",
                event_reasons(events).await
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_revision_is_promoted_and_a_breaching_one_rolled_back() {
    let Some(client) = cluster().await else {
        return;
    };
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let namespace = format!("canaryd-e2e-{}-{millis}", std::process::id());
    let mut cleanup = Cleanup {
        client: client.clone(),
        namespace: namespace.clone(),
        crds: Vec::new(),
    };
    scenario(&client, &namespace, &mut cleanup, false, false).await;
    drop(cleanup);
}

/// The same scenario, the controller running as a ServiceAccount bound to
/// exactly the Helm chart's ClusterRole and Lease Role (read from
/// `deploy/helm/canaryd/templates/rbac.yaml`), its token from the
/// TokenRequest API. A single Forbidden (a verb the code uses and the chart
/// does not grant) stops a reconcile or an action, and the scenario fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_needs_no_more_than_the_charts_rbac() {
    let Some(client) = cluster().await else {
        return;
    };
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let namespace = format!("canaryd-rbac-{}-{millis}", std::process::id());
    let mut cleanup = Cleanup {
        client: client.clone(),
        namespace: namespace.clone(),
        crds: Vec::new(),
    };
    scenario(&client, &namespace, &mut cleanup, false, true).await;
    drop(cleanup);
}

/// The rule lists of the chart's rbac.yaml (its `rules:` blocks are plain
/// YAML): the ClusterRole's, then the Lease Role's.
fn chart_rules() -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/helm/canaryd/templates/rbac.yaml");
    let text = std::fs::read_to_string(&path).expect("the chart's rbac.yaml");
    text.split("\nrules:\n")
        .skip(1)
        .map(|block| {
            let rules: String = block
                .lines()
                .take_while(|l| l.starts_with(' ') || l.is_empty())
                .map(|l| format!("{l}\n"))
                .collect();
            serde_saphyr::from_str(&rules).expect("the chart's rules parse")
        })
        .collect()
}

/// A client for a ServiceAccount in `namespace` bound to the chart's rules.
async fn chart_client(admin: &Client, namespace: &str) -> Client {
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
    let pp = PostParams::default();
    let rules = chart_rules();
    assert_eq!(rules.len(), 2, "a ClusterRole and a Lease Role");
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "canaryd"}})).expect("a ServiceAccount");
    Api::<ServiceAccount>::namespaced(admin.clone(), namespace)
        .create(&pp, &sa)
        .await
        .expect("create the ServiceAccount");
    let subject = json!([{"kind": "ServiceAccount", "name": "canaryd", "namespace": namespace}]);
    let role: ClusterRole = serde_json::from_value(json!({"metadata": {"name": namespace},
        "rules": rules[0]}))
    .expect("a ClusterRole");
    Api::<ClusterRole>::all(admin.clone())
        .create(&pp, &role)
        .await
        .expect("create the ClusterRole");
    let binding: ClusterRoleBinding = serde_json::from_value(json!({"metadata": {"name": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": namespace},
        "subjects": subject}))
    .expect("a ClusterRoleBinding");
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&pp, &binding)
        .await
        .expect("create the ClusterRoleBinding");
    let lease: Role = serde_json::from_value(json!({"metadata": {"name": "canaryd-leader"},
        "rules": rules[1]}))
    .expect("a Role");
    Api::<Role>::namespaced(admin.clone(), namespace)
        .create(&pp, &lease)
        .await
        .expect("create the Lease Role");
    let lease_binding: RoleBinding = serde_json::from_value(json!({"metadata": {"name": "canaryd-leader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "canaryd-leader"},
        "subjects": subject}))
    .expect("a RoleBinding");
    Api::<RoleBinding>::namespaced(admin.clone(), namespace)
        .create(&pp, &lease_binding)
        .await
        .expect("create the Lease RoleBinding");

    let request = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                         "spec": {"expirationSeconds": 3600}});
    let answer: Value = Api::<ServiceAccount>::namespaced(admin.clone(), namespace)
        .create_subresource("token", "canaryd", &pp, &request)
        .await
        .expect("a token from the TokenRequest API");
    let token = answer["status"]["token"]
        .as_str()
        .expect("the TokenRequest answer has a token")
        .to_string();
    let mut config = kube::Config::infer().await.expect("the cluster's config");
    config.auth_info = kube::config::AuthInfo {
        token: Some(token.into()),
        ..Default::default()
    };
    Client::try_from(config).expect("a client for the ServiceAccount")
}

/// The same scenario against the in-memory API server, in the default
/// suite: the scenario's own logic (and the loop's path through an
/// HTTPRoute to promotion and rollback) is exercised on every run, even
/// where no cluster is at hand. It proves nothing about a real API server's
/// defaults, admission or timing: that is what the cluster run is for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scenario_passes_against_an_in_memory_api_server() {
    let api = memory_api::MemoryApi::default().with_instant_gateway();
    let client = api.client();
    let namespace = "canaryd-e2e-memory".to_string();
    let mut cleanup = Cleanup {
        client: client.clone(),
        namespace: namespace.clone(),
        crds: Vec::new(),
    };
    scenario(&client, &namespace, &mut cleanup, true, false).await;
    assert_eq!(cleanup.crds.len(), 2, "both CRDs were made here");
    drop(cleanup);
    let deployments = format!("/apis/apps/v1/namespaces/{namespace}/deployments");
    assert_eq!(
        api.count(&deployments),
        0,
        "the guard deleted the namespace"
    );
    assert_eq!(
        api.count("/apis/apiextensions.k8s.io/v1/customresourcedefinitions"),
        0,
        "the guard deleted the CRDs it made"
    );
}

/// `memory`: the API server has no Deployment controller (the stand-in
/// kubelet then writes Deployment status itself).
/// `rbac`: run the controller under a ServiceAccount bound to exactly the
/// chart's rules (instead of the test's admin client).
async fn scenario(
    client: &Client,
    namespace: &str,
    cleanup: &mut Cleanup,
    memory: bool,
    rbac: bool,
) {
    let client = client.clone();
    let namespace = namespace.to_string();
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": namespace,
        "labels": {"app.kubernetes.io/created-by": "canaryd-e2e"}}}))
    .expect("a Namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create the test namespace");

    for crd in [Canary::crd(), httproute_crd()] {
        let name = crd.metadata.name.clone().unwrap_or_default();
        // On a real cluster the CRDs stay: the other tests of the suite,
        // running beside this one, may be using them.
        if ensure_crd(&client, crd).await && memory {
            cleanup.crds.push(name);
        }
    }

    let pp = PostParams::default();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    deployments
        .create(&pp, &deployment("web", "stable", "1"))
        .await
        .expect("create the stable Deployment");
    deployments
        .create(&pp, &deployment("web-canary", "canary", "2"))
        .await
        .expect("create the canary Deployment");
    let services: Api<Service> = Api::namespaced(client.clone(), &namespace);
    for (name, track) in [("web-stable", "stable"), ("web-canary", "canary")] {
        services
            .create(&pp, &service(name, track))
            .await
            .expect("create a Service");
    }
    let routes: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &namespace, &httproute_resource());
    let route = routes
        .create(&pp, &httproute(&namespace))
        .await
        .expect("create the HTTPRoute");
    // As the API server stored it (defaults filled in): the reference.
    let unrelated = unrelated_rule(&route);
    assert_eq!(weights(&route), (100, 0));

    let (stop_tx, stop_rx) = watch::channel(false);
    let gateway = tokio::spawn(accept_routes(routes.clone(), stop_rx.clone()));
    let canaries: Api<Canary> = Api::namespaced(client.clone(), &namespace);
    let seen = Recorded::default();
    let recorder = tokio::spawn(record(
        routes.clone(),
        canaries.clone(),
        seen.clone(),
        stop_rx.clone(),
    ));
    // No stable pod is ready until the test says so: promotion must wait for it.
    let kubelet_on = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let kubelet = tokio::spawn(play_kubelet(
        client.clone(),
        namespace.clone(),
        memory,
        kubelet_on.clone(),
        stop_rx.clone(),
    ));
    canaries
        .create(&pp, &canary_object())
        .await
        .expect("create the Canary");

    // Exactly the windows the first revision needs: one healthy window at
    // each of the two steps. A reading left over would be read by the next
    // revision (a healthy one once let a breaching revision reach 100%).
    let script = Script::new(&[Reading::Healthy, Reading::Healthy]);
    let dir = tempfile::tempdir().expect("a temp dir");
    let controller = if rbac {
        chart_client(&client, &namespace).await
    } else {
        client.clone()
    };
    let ctx = Arc::new(
        Context::new(
            controller.clone(),
            dir.path().join("canaryd.db"),
            ScriptedFactory(script.clone()),
            LeaderFlag::new(false),
        )
        .with_instance(Some("e2e".into())),
    );
    let config = RunConfig {
        scope: Scope::Namespace(namespace.clone()),
        lease: Some(LeaseConfig {
            namespace: namespace.clone(),
            name: "canaryd-leader".into(),
            identity: "e2e".into(),
            duration: Duration::from_secs(15),
        }),
        concurrency: 2,
    };
    let (ready_tx, mut ready_rx) = watch::channel(false);
    let running = tokio::spawn(run(ctx.clone(), config, ready_tx, stop_rx.clone()));
    tokio::time::timeout(Duration::from_secs(30), ready_rx.wait_for(|r| *r))
        .await
        .expect("the controller is ready within 30 s")
        .expect("the controller runs");

    // 1. A healthy canary is promoted: its build becomes the stable one.
    // The stable Deployment gets the canary's pod spec, but until it has
    // rolled out (no pod is ready yet) the canary keeps all the traffic.
    let events: Api<Event> = Api::namespaced(client.clone(), &namespace);
    let first = canary_revision(&deployments).await;
    let waiting = wait_for_phase(&canaries, &events, "promoted", "ActionFailed", &first).await;
    let ready = waiting.conditions.iter().find(|c| c.type_ == "Ready");
    let message = ready.map(|c| c.message.clone()).unwrap_or_default();
    assert!(message.contains("waiting for it to roll out"), "{message}");
    let route = routes.get(NAME).await.expect("read the HTTPRoute");
    assert_eq!(
        weights(&route),
        (0, 100),
        "the canary serves while stable rolls out"
    );
    assert_eq!(
        build_of(&deployments, "web").await.0,
        "2",
        "the stable Deployment got the build"
    );
    assert_eq!(
        build_of(&deployments, "web-canary").await,
        ("2".into(), 1),
        "the canary still runs"
    );
    kubelet_on.store(true, std::sync::atomic::Ordering::SeqCst);
    let promoted = wait_for_phase(&canaries, &events, "promoted", "Promoted", &first).await;
    assert_eq!(promoted.weight, Some(100));
    let route = routes.get(NAME).await.expect("read the HTTPRoute");
    assert_eq!(
        weights(&route),
        (100, 0),
        "promoted: all traffic to the stable Service, which runs the promoted build"
    );
    assert_eq!(build_of(&deployments, "web").await.0, "2");
    assert_eq!(
        build_of(&deployments, "web-canary").await.1,
        0,
        "the canary was scaled down"
    );
    assert_eq!(
        unrelated_rule(&route),
        unrelated,
        "the unrelated rule changed"
    );
    assert_eq!(script.windows_read(), 2, "one window per step was judged");
    let expected = [(100, 0), (50, 50), (0, 100), (100, 0)];
    assert_eq!(
        splits_seen(&seen, &expected).await,
        expected,
        "up the ladder one step at a time, back to stable once it runs the build"
    );
    // Each step of the promotion is in the audit log, in order.
    let store =
        canaryd_store::SqliteStore::open(&dir.path().join("canaryd.db")).expect("the store");
    let steps: Vec<String> = store
        .audit_entries(None, Some(first.as_str()))
        .expect("the audit log")
        .into_iter()
        .filter_map(|e| e.payload["step"].as_str().map(str::to_string))
        .collect();
    // A step retried (a route the Gateway was slow to accept) is audited
    // again; what matters is that each happened, and in this order.
    let first_at = |step: &str| {
        steps
            .iter()
            .position(|s| s == step)
            .unwrap_or_else(|| panic!("no {step} in the audit log: {steps:?}"))
    };
    let order = [
        "stable_template_copied",
        "stable_rolled_out",
        "traffic_to_stable",
        "canary_scaled_down",
    ];
    for pair in order.windows(2) {
        assert!(first_at(pair[0]) < first_at(pair[1]), "{steps:?}");
    }
    assert_eq!(steps.last().map(String::as_str), Some("canary_scaled_down"));
    let reasons = event_reasons(&events).await;
    for reason in ["RolloutStarted", "Promoted"] {
        for kind in ["Canary", "Deployment"] {
            assert!(
                reasons
                    .get(kind)
                    .is_some_and(|r| r.iter().any(|x| x == reason)),
                "no {reason} Event on the {kind}: {reasons:?}"
            );
        }
    }

    // 2. A new canary revision that breaches is rolled back: none of the split stays on it.
    {
        let mut script = script.0.lock().expect("the script");
        assert!(script.readings.is_empty(), "no reading is left over");
        // `consecutive: 2`: two breaching windows at the first step roll it back.
        script.readings.extend([Reading::Breach, Reading::Breach]);
    }
    // A release sets the canary's replicas again (its manifest does).
    let bump =
        json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [container("3")]}}}});
    deployments
        .patch("web-canary", &PatchParams::default(), &Patch::Merge(&bump))
        .await
        .expect("a new canary revision");
    let second = canary_revision(&deployments).await;
    assert_ne!(second, first, "the patch made a new revision");
    let rolled_back =
        wait_for_phase(&canaries, &events, "rolled_back", "RolledBack", &second).await;
    let ready = rolled_back.conditions.iter().find(|c| c.type_ == "Ready");
    assert_eq!(ready.map(|c| c.reason.as_str()), Some("RolledBack"));
    // Words, not Rust's debug format (`Breach { evidence: [...] }`).
    let message = ready.map(|c| c.message.clone()).unwrap_or_default();
    assert!(
        message.starts_with("rolled back: error_rate on GET /") && !message.contains('{'),
        "the Ready message reads: {message}"
    );
    // The breaching revision never went past its first step: every split
    // the route ever had, in order.
    let expected = [(100, 0), (50, 50), (0, 100), (100, 0), (50, 50), (100, 0)];
    assert_eq!(
        splits_seen(&seen, &expected).await,
        expected,
        "the breaching revision went past its first step"
    );
    assert_eq!(
        build_of(&deployments, "web").await.0,
        "2",
        "the rollback sends users to the promoted build, not the one before it"
    );
    // Its status never showed the first revision's windows (all healthy),
    // not even between its start and its first window.
    let statuses = seen.lock().expect("the record").statuses.clone();
    let second_statuses: Vec<_> = statuses.iter().filter(|(r, _, _)| *r == second).collect();
    assert!(
        !second_statuses.is_empty(),
        "the watch saw the second revision"
    );
    for (_, phase, verdicts) in &second_statuses {
        assert!(
            verdicts.iter().all(|v| v == "breach"),
            "revision {second} ({phase}) showed windows {verdicts:?}: another revision's"
        );
    }
    assert_eq!(rolled_back.windows.len(), 2, "{:?}", rolled_back.windows);
    // Each revision's start is its own Event with its own words (not the
    // first one's Event with a count of 2).
    let started = canary_notes(&events, "RolloutStarted").await;
    for revision in [&first, &second] {
        assert!(
            started.iter().any(|n| n.contains(revision.as_str())),
            "no RolloutStarted Event names revision {revision}: {started:?}"
        );
    }
    let route = routes.get(NAME).await.expect("read the HTTPRoute");
    assert_eq!(
        weights(&route),
        (100, 0),
        "rolled back: all traffic to stable"
    );
    assert_eq!(
        unrelated_rule(&route),
        unrelated,
        "the unrelated rule changed"
    );
    let reasons = event_reasons(&events).await;
    for kind in ["Canary", "Deployment"] {
        assert!(
            reasons
                .get(kind)
                .is_some_and(|r| r.iter().any(|x| x == "RolledBack")),
            "no RolledBack Event on the {kind}: {reasons:?}"
        );
    }

    // 3. On stop the loop ends and hands the Lease back.
    stop_tx.send(true).expect("the loop listens");
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the loop stops within 30 s")
        .expect("the loop did not panic")
        .expect("the loop ended cleanly");
    let _ = gateway.await;
    let _ = recorder.await;
    let _ = kubelet.await;
    let lease = Api::<Lease>::namespaced(client.clone(), &namespace)
        .get("canaryd-leader")
        .await
        .expect("the Lease exists");
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity),
        None,
        "the Lease was released on stop"
    );
}
