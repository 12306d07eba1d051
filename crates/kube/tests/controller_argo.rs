//! The controller's active control of an Argo Rollout: abort on a
//! sustained breach, `spec.paused` while the collectors are blind (the core
//! has no pause effect; the controller holds Argo itself), and unpause when
//! they recover. Patches are checked against the upstream Rollout CRD.

mod support;

use canaryd_kube::controller::reconcile_canary;
use serde_json::{json, Value};
use support::canary::*;
use support::{mock_client, schema_errors, upstream_schema, ApiServer};

/// A canary Rollout paused by Argo at its second step (weight 20).
fn rollout(paused: Option<bool>) -> Value {
    let mut r = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "checkout", "namespace": "shop", "resourceVersion": "9", "generation": 3},
        "spec": {
            "replicas": 5,
            "selector": {"matchLabels": {"app": "checkout"}},
            "template": {
                "metadata": {"labels": {"app": "checkout"}},
                "spec": {"containers": [{"name": "app", "image": "shop/checkout:2"}]}
            },
            "strategy": {"canary": {"steps": [
                {"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}
            ]}}
        },
        "status": {
            "currentStepIndex": 1,
            "currentPodHash": "6c9f7d",
            "stableRS": "58d9c4",
            "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}],
            "controllerPause": true
        }
    });
    if let Some(p) = paused {
        r["spec"]["paused"] = json!(p);
    }
    r
}

fn after(doc: &Value, patch: &Value) -> Value {
    let mut d = doc.clone();
    json_patch::merge(&mut d, patch);
    assert_eq!(
        schema_errors(
            &upstream_schema("argoproj.io_rollouts.yaml", "v1alpha1"),
            &d
        ),
        Vec::<String>::new()
    );
    d
}

/// Reconcile 1: Argo already runs the canary at 20%, more than canaryd's
/// first step (10%), so nothing is written to the Rollout.
async fn start(server: &mut ApiServer) -> Value {
    server.expect("GET", ROLLOUT).await.ok(rollout(None));
    server.expect("GET", ROLLOUT).await.ok(rollout(None));
    server.events(&["RolloutStarted"], "Rollout").await;
    let patch = server.expect("PATCH", CANARY_STATUS).await;
    assert_eq!(patch.body["status"]["revision"], "6c9f7d");
    let body = patch.body.clone();
    patch.ok(canary_json(argo_spec(), &body));
    body
}

async fn started(db: &std::path::Path, script: &Script) -> Value {
    let c = canary(argo_spec(), None);
    let (outcome, status) = reconcile_against(&c, db, script, T0, async |s| start(s).await).await;
    outcome.unwrap();
    status
}

#[tokio::test(start_paused = true)]
async fn a_sustained_breach_aborts_the_rollout() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let script = Script::new(&[Reading::Breach, Reading::Breach]);
    let status = started(&db, &script).await;

    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server.expect("GET", ROLLOUT).await.ok(rollout(None));
        server.expect("GET", ROLLOUT).await.ok(rollout(None));
        let abort = server.expect("PATCH", &format!("{ROLLOUT}/status")).await;
        assert_eq!(abort.content_type, "application/merge-patch+json");
        assert_eq!(abort.body, json!({"status": {"abort": true}}));
        let body = abort.body.clone();
        abort.ok(after(&rollout(None), &body));
        server.events(&["RolledBack"], "Rollout").await;
        let patch = server.expect("PATCH", CANARY_STATUS).await;
        assert_eq!(patch.body["status"]["phase"], "rolled_back");
        let body = patch.body.clone();
        patch.ok(canary_json(argo_spec(), &body));
        server.done().await;
    });
    let ctx = context(client, &db, &script, T0 + 120_000, true);
    reconcile_canary(&canary(argo_spec(), Some(status["status"].clone())), &ctx)
        .await
        .unwrap();
    drop(ctx);
    api.await.unwrap();
    assert_eq!(script.windows_read(), 2);
}

#[tokio::test(start_paused = true)]
async fn blind_collectors_pause_the_rollout_and_recovery_unpauses_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let script = Script::new(&[Reading::Blind, Reading::Healthy]);
    let status = started(&db, &script).await;

    // Window 1 is unreliable: the core pauses, the controller holds Argo.
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server.expect("GET", ROLLOUT).await.ok(rollout(None));
        let events = server.events(&["Paused"], "Rollout").await;
        assert_eq!(events[0]["type"], "Warning");
        server.expect("GET", ROLLOUT).await.ok(rollout(None));
        let pause = server.expect("PATCH", ROLLOUT).await;
        assert_eq!(pause.content_type, "application/merge-patch+json");
        assert_eq!(pause.body, json!({"spec": {"paused": true}}));
        let body = pause.body.clone();
        pause.ok(after(&rollout(None), &body));
        let patch = server.expect("PATCH", CANARY_STATUS).await;
        assert_eq!(patch.body["status"]["phase"], "paused");
        let body = patch.body.clone();
        patch.ok(canary_json(argo_spec(), &body));
        server.done().await;
        body
    });
    let ctx = context(client, &db, &script, T0 + 60_000, true);
    reconcile_canary(&canary(argo_spec(), Some(status["status"].clone())), &ctx)
        .await
        .unwrap();
    drop(ctx);
    let status = api.await.unwrap();

    // Window 2 sees the canary again: the core resumes and advances to
    // 50%, which Argo's traffic router already reports, so canaryd's only
    // write is letting go of the pause it set.
    let at_50 = || {
        let mut r = rollout(Some(true));
        r["status"]["canary"] =
            json!({"weights": {"canary": {"weight": 50}, "stable": {"weight": 50}}});
        r
    };
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server.expect("GET", ROLLOUT).await.ok(at_50());
        server.events(&["Resumed"], "Rollout").await;
        server.expect("GET", ROLLOUT).await.ok(at_50());
        server.events(&["Advanced"], "Rollout").await;
        server.expect("GET", ROLLOUT).await.ok(at_50());
        let unpause = server.expect("PATCH", ROLLOUT).await;
        assert_eq!(unpause.body, json!({"spec": {"paused": false}}));
        let body = unpause.body.clone();
        unpause.ok(after(&at_50(), &body));
        let patch = server.expect("PATCH", CANARY_STATUS).await;
        assert_eq!(patch.body["status"]["phase"], "ramping");
        assert_eq!(patch.body["status"]["weight"], 50);
        let body = patch.body.clone();
        patch.ok(canary_json(argo_spec(), &body));
        server.done().await;
    });
    let ctx = context(client, &db, &script, T0 + 120_000, true);
    reconcile_canary(&canary(argo_spec(), Some(status["status"].clone())), &ctx)
        .await
        .unwrap();
    drop(ctx);
    api.await.unwrap();
    assert_eq!(script.windows_read(), 2);
}
