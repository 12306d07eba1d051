//! The Argo Rollouts path against a real API server (issue 15): the real
//! Rollout CRD (v1.9.1, applied from `shared/k8s-crds`), a Rollout object,
//! and the test playing Argo's controller by writing the Rollout's status
//! (currentPodHash, stableRS, the step, its pause, the traffic weights).
//! Each write canaryd makes (a promote of a paused step, the full promote,
//! `spec.paused`, the abort) must be accepted by the API server under the
//! CRD's schema and still be there when read back (a structural schema
//! prunes a field it does not know, silently: "accepted" is not enough).
//!
//! The reconciles run in this process with a fixed clock per call and a
//! scripted metrics source (one reading per window), so the sequence is
//! exact and nothing waits on wall time. Gated like `real_cluster.rs`.

mod support;

use canaryd_kube::controller::reconcile_canary;
use canaryd_kube::crd::{Canary, CanaryStatus};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, CustomResourceExt};
use serde_json::{json, Value};
use support::canary::{context, Reading, Script, POLICY};
use support::cluster::{cluster, ensure_crd, now_ms, upstream_crd, TestNamespace};

const CANARY_HASH: &str = "6c9f7d";
const STABLE_HASH: &str = "58d9c4";
const WINDOW_MS: i64 = 60_000;

struct Argo {
    client: Client,
    rollouts: Api<DynamicObject>,
    canaries: Api<Canary>,
    events: Api<Event>,
    _ns: TestNamespace,
}

async fn setup(client: Client, test: &str) -> Argo {
    let ns = TestNamespace::new(&client, test).await;
    ensure_crd(&client, Canary::crd()).await;
    ensure_crd(&client, upstream_crd("argoproj.io_rollouts.yaml")).await;
    let rollouts: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns.name,
        &canaryd_kube::argo::rollout_resource(),
    );
    let rollout: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "checkout"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "checkout"}},
            "template": {"metadata": {"labels": {"app": "checkout"}},
                         "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9"}]}},
            "strategy": {"canary": {"canaryService": "checkout-canary", "stableService": "checkout-stable",
                                    "steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]}}
        }
    }))
    .expect("a Rollout");
    let pp = PostParams::default();
    rollouts
        .create(&pp, &rollout)
        .await
        .expect("the API server accepts the Rollout");
    let canaries: Api<Canary> = Api::namespaced(client.clone(), &ns.name);
    let canary: Canary = serde_json::from_value(json!({
        "apiVersion": "canaryd.io/v1alpha1", "kind": "Canary",
        "metadata": {"name": "web"},
        "spec": {"target": {"rollout": "checkout"}, "policy": {"inline": POLICY}}
    }))
    .expect("a Canary");
    canaries.create(&pp, &canary).await.expect("the Canary");
    Argo {
        events: Api::namespaced(client.clone(), &ns.name),
        client,
        rollouts,
        canaries,
        _ns: ns,
    }
}

impl Argo {
    /// Plays Argo's controller: the canary at `weight`, at step `step`,
    /// paused there (a `pause: {}` step) or not.
    async fn argo_reports(&self, step: i64, weight: i64, paused: bool) {
        let svc = |name: &str, hash: &str, w: i64| json!({"podTemplateHash": hash, "serviceName": name, "weight": w});
        let status = json!({"status": {
            "currentPodHash": CANARY_HASH, "stableRS": STABLE_HASH, "currentStepIndex": step,
            "controllerPause": paused,
            "pauseConditions": if paused {
                json!([{"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}])
            } else { Value::Null },
            "canary": {"weights": {"canary": svc("checkout-canary", CANARY_HASH, weight),
                                   "stable": svc("checkout-stable", STABLE_HASH, 100 - weight)}}
        }});
        self.rollouts
            .patch_status("checkout", &PatchParams::default(), &Patch::Merge(&status))
            .await
            .expect("the test, playing Argo, writes the Rollout's status");
    }

    async fn rollout(&self) -> Value {
        let r = self
            .rollouts
            .get("checkout")
            .await
            .expect("read the Rollout");
        serde_json::to_value(r).expect("JSON")
    }

    /// One reconcile at `at`, of the Canary as the API server has it.
    async fn reconcile(&self, script: &Script, db: &std::path::Path, at: i64) -> CanaryStatus {
        let canary = self.canaries.get("web").await.expect("read the Canary");
        let ctx = context(self.client.clone(), db, script, at, true);
        reconcile_canary(&canary, &ctx)
            .await
            .expect("the reconcile ends without an error");
        self.canaries
            .get("web")
            .await
            .expect("read the Canary")
            .status
            .unwrap_or_default()
    }

    /// The reasons of the Events on the Rollout, oldest first.
    async fn rollout_events(&self) -> Vec<String> {
        let mut events: Vec<Event> = self
            .events
            .list(&Default::default())
            .await
            .expect("list Events")
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.kind.as_deref()) == Some("Rollout"))
            .collect();
        events.sort_by_key(|e| e.event_time.as_ref().map(|t| t.0));
        events.into_iter().filter_map(|e| e.reason).collect()
    }
}

/// A healthy canary: at each of Argo's pauses canaryd lets it go on (the
/// pause conditions cleared through the status subresource), and at the
/// end of canaryd's ladder it promotes the Rollout fully (`promoteFull`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_rollout_is_stepped_on_and_promoted_through_argos_schema() {
    let Some(client) = cluster().await else {
        return;
    };
    let argo = setup(client, "argo-promote").await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let db = dir.path().join("c.db");
    let script = Script::new(&[Reading::Healthy, Reading::Healthy, Reading::Healthy]);
    let t0 = now_ms();

    // Argo runs the canary at 20% and pauses (its first pause step).
    argo.argo_reports(1, 20, true).await;
    let status = argo.reconcile(&script, &db, t0).await;
    assert_eq!(status.phase.as_deref(), Some("ramping"), "{status:?}");
    assert_eq!(status.revision.as_deref(), Some(CANARY_HASH));
    let r = argo.rollout().await;
    assert!(
        r["status"]["pauseConditions"].is_array(),
        "Argo already runs 20%, more than canaryd's first step: nothing is written: {r}"
    );

    // Window 1 healthy: canaryd's ladder goes to 50%, past Argo's 20%,
    // so it lets Argo go on: the pause conditions are gone.
    let status = argo.reconcile(&script, &db, t0 + WINDOW_MS).await;
    assert_eq!(
        (status.phase.as_deref(), status.weight),
        (Some("ramping"), Some(50))
    );
    let r = argo.rollout().await;
    assert_eq!(
        r["status"]["pauseConditions"],
        Value::Null,
        "the promote of the paused step: {r}"
    );
    assert_ne!(r["spec"]["paused"], json!(true), "{r}");
    assert_ne!(r["status"]["promoteFull"], json!(true), "{r}");

    // Argo moves to 50% and pauses again; window 2 takes canaryd to 100%.
    argo.argo_reports(3, 50, true).await;
    let status = argo.reconcile(&script, &db, t0 + 2 * WINDOW_MS).await;
    assert_eq!(status.weight, Some(100), "{status:?}");
    let r = argo.rollout().await;
    assert_eq!(r["status"]["pauseConditions"], Value::Null, "{r}");
    assert_ne!(r["status"]["promoteFull"], json!(true), "{r}");

    // Argo runs its last step; window 3 ends the ladder: promote fully.
    argo.argo_reports(4, 100, false).await;
    let status = argo.reconcile(&script, &db, t0 + 3 * WINDOW_MS).await;
    assert_eq!(status.phase.as_deref(), Some("promoted"), "{status:?}");
    let r = argo.rollout().await;
    assert_eq!(
        r["status"]["promoteFull"],
        json!(true),
        "the full promote, kept by the API server: {r}"
    );
    assert_ne!(r["status"]["abort"], json!(true), "{r}");
    assert_eq!(script.windows_read(), 3);
    let reasons = argo.rollout_events().await;
    assert_eq!(
        reasons.first().map(String::as_str),
        Some("RolloutStarted"),
        "{reasons:?}"
    );
    assert_eq!(
        reasons.last().map(String::as_str),
        Some("Promoted"),
        "{reasons:?}"
    );
}

/// Blind collectors hold Argo (`spec.paused: true`: Argo must not ramp a
/// canary nobody can judge); a sustained breach then aborts the Rollout
/// through the status subresource, never promoting it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blind_collectors_pause_the_rollout_and_a_breach_aborts_it() {
    let Some(client) = cluster().await else {
        return;
    };
    let argo = setup(client, "argo-abort").await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let db = dir.path().join("c.db");
    let script = Script::new(&[Reading::Blind, Reading::Breach, Reading::Breach]);
    let t0 = now_ms();

    argo.argo_reports(1, 20, true).await;
    argo.reconcile(&script, &db, t0).await;

    // Window 1: the collectors cannot see the canary.
    let status = argo.reconcile(&script, &db, t0 + WINDOW_MS).await;
    assert_eq!(status.phase.as_deref(), Some("paused"), "{status:?}");
    let r = argo.rollout().await;
    assert_eq!(r["spec"]["paused"], json!(true), "canaryd holds Argo: {r}");
    assert_ne!(r["status"]["abort"], json!(true), "{r}");

    // Windows 2 and 3 breach (`consecutive: 2`): abort.
    let status = argo.reconcile(&script, &db, t0 + 3 * WINDOW_MS).await;
    assert_eq!(status.phase.as_deref(), Some("rolled_back"), "{status:?}");
    let r = argo.rollout().await;
    assert_eq!(
        r["status"]["abort"],
        json!(true),
        "the abort, kept by the API server: {r}"
    );
    assert_ne!(r["status"]["promoteFull"], json!(true), "{r}");
    assert_eq!(script.windows_read(), 3);
    let reasons = argo.rollout_events().await;
    for reason in ["RolloutStarted", "Paused", "RolledBack"] {
        assert!(
            reasons.iter().any(|r| r == reason),
            "no {reason} Event on the Rollout: {reasons:?}"
        );
    }
    // A reconcile after the abort writes nothing more to the Rollout.
    let before = argo.rollout().await["metadata"]["resourceVersion"].clone();
    argo.reconcile(&script, &db, t0 + 4 * WINDOW_MS).await;
    assert_eq!(
        argo.rollout().await["metadata"]["resourceVersion"],
        before,
        "the abort was repeated"
    );
}
