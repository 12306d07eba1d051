//! Two `canaryd controller` processes against a real kube-apiserver, on one
//! SQLite file (issue 15): the Lease holder is SIGKILLed mid-rollout, the
//! other takes the Lease once it expires and finishes the rollout, without
//! repeating or skipping an action.
//!
//! Real parts: the API server (`../shared/kube-control-plane/up`, started by
//! `./scripts/test`), the binary, two sample services scraped by a real
//! Prometheus (the policy's `source:`). The test plays what the control plane
//! lacks: a Gateway (it accepts each generation of the HTTPRoute, except
//! that it holds back the 50% step until the leader is dead, so the kill
//! lands mid-rollout every time) and a kubelet (it marks Pods Ready, so
//! promotion can roll the stable Deployment out).
//!
//! Gated like the kube crate's real-cluster tests: `KUBECONFIG` names the
//! cluster and `CANARYD_E2E=1` says touching it is intended; otherwise the
//! test says why it skipped and passes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[path = "../../kube/tests/support/cluster.rs"]
mod cluster;
use cluster::{cluster, ensure_crd, upstream_crd};

use canaryd_kube::crd::Canary;
use canaryd_sim::prometheus::PrometheusServer;
use canaryd_sim::{LoadConfig, LoadHandle, SampleApp, SampleAppConfig};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::events::v1::Event;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::{Client, CustomResourceExt};
use serde_json::{json, Value};
use tokio::sync::watch;

/// Generous: a few 3 s windows, a Lease expiry and a promotion, on a
/// loaded machine. Waits end as soon as their condition holds.
const DEADLINE: Duration = Duration::from_secs(300);
/// Short, so the takeover comes soon after the kill (the flag's minimum is 3 s).
const LEASE: &str = "6s";

/// The test's namespace, deleted on drop (also on a failed assertion),
/// and the controller processes, killed on drop.
struct Cleanup {
    client: Client,
    namespace: String,
    controllers: Vec<Child>,
    logs: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &mut self.controllers {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            for log in &self.logs {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                eprintln!("---- {} ----\n{text}", log.display());
            }
        }
        let api: Api<Namespace> = Api::all(self.client.clone());
        let name = self.namespace.clone();
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async move {
                if let Err(e) = api.delete(&name, &DeleteParams::background()).await {
                    eprintln!("could not delete namespace {name}: {e} (delete it by hand)");
                }
            })
        });
    }
}

/// Polls `check` until it returns `Some`, or panics after [`DEADLINE`].
async fn wait_for<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    cluster::wait_within(DEADLINE, what, check).await
}

fn route_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "gateway.networking.k8s.io",
        "v1",
        "HTTPRoute",
    ))
}

fn deployment(name: &str, track: &str, build: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"replicas": 1,
                 "selector": {"matchLabels": {"app": "web", "track": track}},
                 "template": {"metadata": {"labels": {"app": "web", "track": track}},
                              "spec": {"terminationGracePeriodSeconds": 0,
                                       "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9",
                                                       "env": [{"name": "BUILD", "value": build}]}]}}}
    }))
    .expect("a Deployment")
}

fn service(name: &str, track: &str) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"selector": {"app": "web", "track": track},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    }))
    .expect("a Service")
}

fn route(namespace: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"parentRefs": [{"name": "gw"}],
                 "rules": [{"backendRefs": [{"name": "web-stable", "port": 80, "weight": 100},
                                            {"name": "web-canary", "port": 80, "weight": 0}]}]}
    }))
    .expect("an HTTPRoute")
}

/// 3 s windows over the rig's Prometheus: the canary service reports
/// `version="v2"`, the stable one `version="v1"`; both are healthy.
fn policy(prometheus: &str) -> String {
    format!(
        "name: takeover\n\
         window: 3s\n\
         ladder:\n  - {{weight: 25, hold_windows: 1}}\n  - {{weight: 50, hold_windows: 1}}\n  - {{weight: 100, hold_windows: 1}}\n\
         ramp_budget: 10m\n\
         traffic: {{min_requests_per_route: 5, max_extensions: 3}}\n\
         baseline: {{lookback: 1m, min_history: 2s, min_requests_per_route: 20}}\n\
         collectors: {{auto_resume: true}}\n\
         rules:\n  - {{name: error-ratio, metric: error_rate, ratio: 2, min_value: 5%, consecutive: 2}}\n\
         source:\n  prometheus:\n    url: \"{prometheus}\"\n    canary: \"v2\"\n    baseline: v1\n    \
         selector: 'route!~\"/healthz|/metrics\"'\n    timeout: 2s\n    retries: 0\n"
    )
}

/// (stable, canary) weights of the route's first rule.
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

/// Plays the Gateway: reports each generation of the route Accepted, except
/// one that gives the canary 50% while `hold` is set.
async fn gateway(
    routes: Api<DynamicObject>,
    hold: Arc<AtomicBool>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if let Ok(r) = routes.get("web").await {
            let generation = r.metadata.generation.unwrap_or(0);
            let seen = r
                .data
                .pointer("/status/parents/0/conditions/0/observedGeneration")
                .and_then(Value::as_i64);
            let held = hold.load(Ordering::SeqCst) && weights(&r).1 == 50;
            if seen != Some(generation) && !held {
                let status = json!({"status": {"parents": [{
                    "parentRef": {"name": "gw"}, "controllerName": "canaryd.io/e2e-gateway",
                    "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                                    "message": "accepted by the test", "observedGeneration": generation,
                                    "lastTransitionTime": "2026-01-01T00:00:00Z"}]}]}});
                if let Err(e) = routes
                    .patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
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

/// Plays the kubelet: marks every Pod of the namespace Ready; the real
/// ReplicaSet and Deployment controllers report the Deployments available.
async fn kubelet(pods: Api<Pod>, mut stop: watch::Receiver<bool>) {
    loop {
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
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            if ready || pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let status = json!({"status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
            let name = pod.metadata.name.clone().unwrap_or_default();
            let _ = pods
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                .await;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Every distinct split of the route, in order, as the watch delivers them.
async fn record_splits(
    routes: Api<DynamicObject>,
    seen: Arc<Mutex<Vec<(i64, i64)>>>,
    mut stop: watch::Receiver<bool>,
) {
    use futures::StreamExt;
    use kube::runtime::{watcher, WatchStreamExt};
    let mut changes = watcher(routes, watcher::Config::default())
        .applied_objects()
        .boxed();
    loop {
        tokio::select! {
            Some(Ok(r)) = changes.next() => {
                let split = weights(&r);
                let mut s = seen.lock().expect("the record");
                if s.last() != Some(&split) {
                    s.push(split);
                }
            }
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

fn controller(dir: &Path, namespace: &str, identity: &str) -> (Child, PathBuf) {
    let log = dir.join(format!("{identity}.log"));
    let err = std::fs::File::create(&log).expect("a log file");
    let child = Command::new(env!("CARGO_BIN_EXE_canaryd"))
        .args(["controller", "--namespace", namespace, "--db"])
        .arg(dir.join("canaryd.db"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--lease-namespace",
            namespace,
            "--identity",
            identity,
            "--lease-duration",
            LEASE,
        ])
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("POD_NAME")
        .env_remove("POD_NAMESPACE")
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("the binary starts");
    (child, log)
}

/// The pid and command in the store's writer-lease row (`None`: no holder).
fn store_writer(db: &Path) -> Option<(u32, String)> {
    let conn = rusqlite::Connection::open(db).ok()?;
    conn.query_row(
        "SELECT pid, command FROM writer_lease WHERE id = 1",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .ok()
}

async fn lease_holder(leases: &Api<Lease>) -> Option<(String, i32)> {
    let spec = leases.get_opt("canaryd-leader").await.ok()??.spec?;
    Some((spec.holder_identity?, spec.lease_transitions.unwrap_or(0)))
}

async fn rig() -> (
    SampleApp,
    SampleApp,
    LoadHandle,
    LoadHandle,
    PrometheusServer,
) {
    let stable = SampleApp::start(SampleAppConfig::new("v1"))
        .await
        .expect("the stable service");
    let canary = SampleApp::start(SampleAppConfig::new("v2"))
        .await
        .expect("the canary service");
    let load = |url: String| {
        let mut c = LoadConfig::new(url, 40.0, Duration::from_secs(900));
        c.request_timeout = Duration::from_secs(2);
        canaryd_sim::load::start(c).expect("load")
    };
    let (a, b) = (load(stable.url()), load(canary.url()));
    let prom = PrometheusServer::start(&[stable.addr(), canary.addr()], Duration::from_secs(1))
        .await
        .expect("Prometheus (./scripts/test installs it)");
    // The policy asks for stable history before a canary starts (else the
    // rollout would wait for an approval): wait until Prometheus holds a
    // few scrapes of the stable service.
    let query = format!(
        "{}/api/v1/query?query=count_over_time(http_requests_total%7Bversion%3D%22v1%22%7D%5B1m%5D)",
        prom.url()
    );
    wait_for(
        "Prometheus to hold 5 scrapes of the stable service",
        || async {
            let answer: Value = reqwest::get(&query).await.ok()?.json().await.ok()?;
            let most = answer["data"]["result"]
                .as_array()?
                .iter()
                .filter_map(|r| r["value"][1].as_str()?.parse::<f64>().ok())
                .fold(0.0, f64::max);
            (most >= 5.0).then_some(())
        },
    )
    .await;
    (stable, canary, a, b, prom)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_standby_takes_over_a_killed_leaders_rollout_without_repeating_or_skipping_an_action() {
    let Some(client) = cluster().await else {
        return;
    };
    let (_stable, _canary, _l1, _l2, prom) = rig().await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let namespace = format!("canaryd-takeover-{}-{millis}", std::process::id());
    let mut cleanup = Cleanup {
        client: client.clone(),
        namespace: namespace.clone(),
        controllers: Vec::new(),
        logs: Vec::new(),
    };
    let pp = PostParams::default();
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": namespace}})).expect("a Namespace");
    Api::<Namespace>::all(client.clone())
        .create(&pp, &ns)
        .await
        .expect("create the namespace");
    ensure_crd(&client, Canary::crd()).await;
    ensure_crd(
        &client,
        upstream_crd("gateway.networking.k8s.io_httproutes.yaml"),
    )
    .await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    deployments
        .create(&pp, &deployment("web", "stable", "1"))
        .await
        .expect("the stable Deployment");
    deployments
        .create(&pp, &deployment("web-canary", "canary", "2"))
        .await
        .expect("the canary Deployment");
    let services: Api<Service> = Api::namespaced(client.clone(), &namespace);
    for (name, track) in [("web-stable", "stable"), ("web-canary", "canary")] {
        services
            .create(&pp, &service(name, track))
            .await
            .expect("a Service");
    }
    let routes: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &namespace, &route_resource());
    routes
        .create(&pp, &route(&namespace))
        .await
        .expect("the HTTPRoute");

    let (stop_tx, stop_rx) = watch::channel(false);
    let hold = Arc::new(AtomicBool::new(true));
    let splits = Arc::new(Mutex::new(Vec::new()));
    let tasks = [
        tokio::spawn(gateway(routes.clone(), hold.clone(), stop_rx.clone())),
        tokio::spawn(kubelet(
            Api::namespaced(client.clone(), &namespace),
            stop_rx.clone(),
        )),
        tokio::spawn(record_splits(
            routes.clone(),
            splits.clone(),
            stop_rx.clone(),
        )),
    ];

    // The watch's first list must hold the route as created (100/0).
    wait_for("the watch to see the route", || async {
        (!splits.lock().expect("the record").is_empty()).then_some(())
    })
    .await;

    // A first, so it holds the Lease; then B, the standby, on the same file.
    let leases: Api<Lease> = Api::namespaced(client.clone(), &namespace);
    let mut procs = BTreeMap::new();
    for identity in ["ctl-a", "ctl-b"] {
        let (child, log) = controller(dir.path(), &namespace, identity);
        procs.insert(identity, cleanup.controllers.len());
        cleanup.controllers.push(child);
        cleanup.logs.push(log);
        if identity == "ctl-a" {
            wait_for("ctl-a to take the Lease", || async {
                lease_holder(&leases)
                    .await
                    .filter(|(h, _)| h == "ctl-a")
                    .map(|_| ())
            })
            .await;
        }
    }
    let canaries: Api<Canary> = Api::namespaced(client.clone(), &namespace);
    let canary: Canary = serde_json::from_value(json!({
        "apiVersion": "canaryd.io/v1alpha1", "kind": "Canary",
        "metadata": {"name": "web"},
        "spec": {"target": {"stable": "web", "canary": "web-canary"},
                 "router": {"httpRoute": {"name": "web", "stableService": "web-stable",
                                          "canaryService": "web-canary"}},
                 "policy": {"inline": policy(&prom.url())}}
    }))
    .expect("a Canary");
    canaries.create(&pp, &canary).await.expect("the Canary");

    // The leader has written the 50% step; the Gateway has not accepted it,
    // so the leader has not recorded it as done. Kill the Lease holder now.
    wait_for("the leader to write the 50% step", || async {
        routes
            .get("web")
            .await
            .ok()
            .filter(|r| weights(r) == (50, 50))
    })
    .await;
    let (killed, transitions) = lease_holder(&leases).await.expect("a Lease holder");
    let survivor = if killed == "ctl-a" { "ctl-b" } else { "ctl-a" };
    let db = dir.path().join("canaryd.db");
    let pid = |identity: &str| cleanup.controllers[procs[identity]].id();
    // Only the leader holds the store's writer lease; the standby waits
    // for the Kubernetes Lease without touching it.
    assert_eq!(
        store_writer(&db),
        Some((pid(&killed), format!("canaryd controller ({killed})"))),
        "the leader holds the store's writer lease"
    );
    let survivor_pid = pid(survivor);
    let victim = &mut cleanup.controllers[procs[killed.as_str()]];
    victim.kill().expect("SIGKILL the leader");
    victim.wait().expect("the leader is gone");
    {
        let standby = &mut cleanup.controllers[procs[survivor]];
        assert_eq!(
            standby.try_wait().expect("the standby's state"),
            None,
            "the standby exited while it waited for the Lease (exit 4: the store's writer lease?)"
        );
    }
    hold.store(false, Ordering::SeqCst);

    // The survivor takes the Lease once it expires, and finishes the rollout.
    let (holder, after) = wait_for("the standby to take the Lease", || async {
        lease_holder(&leases).await.filter(|(h, _)| h != &killed)
    })
    .await;
    assert_eq!(holder, survivor);
    assert!(after > transitions, "a takeover counts a transition");
    let status = wait_for("the rollout to be promoted", || async {
        let s = canaries.get("web").await.ok()?.status?;
        let ready = s.conditions.iter().find(|c| c.type_ == "Ready")?;
        (s.phase.as_deref() == Some("promoted") && ready.reason == "Promoted").then_some(s)
    })
    .await;
    assert_eq!(status.weight, Some(100));
    assert_eq!(
        store_writer(&db).map(|(pid, _)| pid),
        Some(survivor_pid),
        "the new leader took over the dead leader's writer lease"
    );

    // Every split the route ever had: each step once, none skipped.
    let expected = vec![(100, 0), (75, 25), (50, 50), (0, 100), (100, 0)];
    let seen = wait_for("the watch to deliver every split", || async {
        let s = splits.lock().expect("the record").clone();
        (s.len() >= expected.len()).then_some(s)
    })
    .await;
    assert_eq!(seen, expected);

    // The audit log: intact, and each action carried out exactly once.
    let verify = Command::new(env!("CARGO_BIN_EXE_canaryd"))
        .args(["audit", "verify", "--db"])
        .arg(&db)
        .output()
        .expect("canaryd audit verify runs");
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    let revision = status
        .revision
        .clone()
        .expect("the status names the revision");
    let store = canaryd_store::SqliteStore::open(&db).expect("the store");
    let entries = store
        .audit_entries(None, Some(revision.as_str()))
        .expect("the audit log");
    let mut done: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut weights_set = Vec::new();
    let mut promotion_steps = Vec::new();
    let mut windows = Vec::new();
    for e in &entries {
        let p = &e.payload;
        if let Some(key) = p["idempotency_key"].as_str() {
            if p["result"]["ok"] == json!(true) {
                done.entry(key.to_string()).or_default().push(p.clone());
                if p["effect"] == "set_weight" {
                    weights_set.push(p["weight"].as_i64().unwrap_or(-1));
                }
            }
        }
        if let Some(step) = p["step"].as_str() {
            promotion_steps.push(step.to_string());
        }
        if e.kind == canaryd_store::AuditKind::WindowVerdict {
            windows.push(p.clone());
        }
    }
    for (key, times) in &done {
        assert_eq!(
            times.len(),
            1,
            "action {key} carried out {} times: {times:?}",
            times.len()
        );
    }
    assert_eq!(weights_set, [25, 50, 100], "{entries:#?}");
    assert_eq!(
        promotion_steps,
        [
            "stable_template_copied",
            "stable_rolled_out",
            "traffic_to_stable",
            "canary_scaled_down"
        ]
    );
    assert_eq!(windows.len(), 3, "one window per step: {windows:#?}");

    // The survivor did the rest: the promotion's Event is its own.
    let events: Api<Event> = Api::namespaced(client.clone(), &namespace);
    let promoted_by: Vec<String> = events
        .list(&Default::default())
        .await
        .expect("list Events")
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("Promoted"))
        .filter_map(|e| e.reporting_instance)
        .collect();
    assert!(
        !promoted_by.is_empty() && promoted_by.iter().all(|i| i == survivor),
        "{promoted_by:?}"
    );
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    drop(cleanup);
}
