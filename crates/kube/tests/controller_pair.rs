//! The controller's reconcile of a Deployment-pair Canary against a
//! scripted API server, a scripted metrics source and a real SQLite store:
//! starting a rollout, closing a window (the exact status patch, the Event),
//! and rolling back (the canary to zero replicas).

mod support;

use std::time::Duration;

use canaryd_kube::controller::reconcile_canary;
use serde_json::{json, Value};
use support::canary::*;
use support::mock_client;

/// The status patch the first reconcile writes: ramping at 10%.
fn started_status(rev: &str) -> Value {
    json!({"status": {
        "phase": "ramping", "revision": rev, "weight": 10, "step": 0, "windows": [],
        "conditions": [
            {"type": "TargetFound", "status": "True", "reason": "Found", "message": "the target exists",
             "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 2},
            {"type": "Ready", "status": "False", "reason": "Progressing", "message": "ramping at 10%",
             "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 2},
            {"type": "PolicyValid", "status": "True", "reason": "Valid", "message": "spec.policy.inline parsed",
             "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 2},
            {"type": "MetricsReady", "status": "True", "reason": "Ready", "message": "the last read of the metrics source succeeded",
             "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 2}
        ],
        "observedGeneration": 2
    }})
}

/// Reconcile 1 at T0, as [`start`] scripts it; returns the status written.
async fn started(db: &std::path::Path, script: &Script, rev: &str) -> Value {
    let c = canary(pair_spec(), None);
    let (outcome, status) =
        reconcile_against(&c, db, script, T0, async |s| start(s, rev).await).await;
    outcome.unwrap();
    status
}

/// Reconcile 1 at T0: a new canary template starts a rollout at 10%.
async fn start(server: &mut support::ApiServer, rev: &str) -> Value {
    server.serve_pair("web:2", 0).await;
    // The core's first weight: 10% of 9 stable replicas is one canary pod.
    server.serve_pair("web:2", 0).await;
    let scale = server
        .expect("PATCH", &format!("{DEPLOYS}/web-canary"))
        .await;
    assert_eq!(
        scale.body,
        json!([{"op": "replace", "path": "/metadata/resourceVersion", "value": "7"},
               {"op": "replace", "path": "/spec/replicas", "value": 1}])
    );
    scale.ok(deployment("web-canary", "canary", "web:2", 1, "8", 2));
    server.events(&["RolloutStarted"], "Deployment").await;
    let patch = server.expect("PATCH", CANARY_STATUS).await;
    assert_eq!(patch.content_type, "application/merge-patch+json");
    assert_eq!(patch.body, started_status(rev));
    let body = patch.body.clone();
    patch.ok(canary_json(pair_spec(), &body));
    body
}

#[tokio::test(start_paused = true)]
async fn a_new_canary_revision_starts_a_rollout() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let rev = revision("web:2");
    let script = Script::new(&[]);
    let c = canary(pair_spec(), None);
    let (outcome, _) =
        reconcile_against(&c, &db, &script, T0, async |s| start(s, &rev).await).await;
    let outcome = outcome.unwrap();
    assert_eq!(outcome.requeue_after, Some(Duration::from_secs(60)));
    assert_eq!(outcome.status.unwrap().weight, Some(10));
    assert_eq!(script.0.lock().unwrap().baselines_read, 1);
    assert_eq!(script.windows_read(), 0, "no window is due at the start");
}

#[tokio::test(start_paused = true)]
async fn a_due_window_is_judged_and_written_to_status() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let rev = revision("web:2");
    let script = Script::new(&[Reading::Healthy]);

    let status = started(&db, &script, &rev).await;

    // Reconcile 2, one window later: healthy, so the ladder advances to 50%.
    let (client, mut server) = mock_client();
    let r = rev.clone();
    let api = tokio::spawn(async move {
        server.serve_pair("web:2", 1).await;
        server.serve_pair("web:2", 1).await;
        let scale = server
            .expect("PATCH", &format!("{DEPLOYS}/web-canary"))
            .await;
        assert_eq!(
            scale.body[1],
            json!({"op": "replace", "path": "/spec/replicas", "value": 9})
        );
        scale.ok(deployment("web-canary", "canary", "web:2", 9, "9", 2));
        let events = server.events(&["Advanced"], "Deployment").await;
        assert_eq!(events[0]["type"], "Normal");
        let patch = server.expect("PATCH", CANARY_STATUS).await;
        let mut want = started_status(&r);
        want["status"]["weight"] = json!(50);
        want["status"]["step"] = json!(1);
        want["status"]["windows"] = json!([
            {"index": 1, "verdict": "healthy", "weight": 10, "end": "2026-01-01T00:01:00Z"}
        ]);
        want["status"]["conditions"][1]["message"] = json!("ramping at 50%");
        assert_eq!(patch.body, want);
        let body = patch.body.clone();
        patch.ok(canary_json(pair_spec(), &body));
        server.done().await;
    });
    let ctx = context(client, &db, &script, T0 + 60_000, true);
    let outcome = reconcile_canary(&canary(pair_spec(), Some(status["status"].clone())), &ctx)
        .await
        .unwrap();
    drop(ctx);
    api.await.unwrap();
    assert_eq!(script.windows_read(), 1);
    assert_eq!(outcome.requeue_after, Some(Duration::from_secs(60)));
}

#[tokio::test(start_paused = true)]
async fn a_sustained_breach_scales_the_canary_to_zero() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let rev = revision("web:2");
    let script = Script::new(&[Reading::Breach, Reading::Breach]);

    let status = started(&db, &script, &rev).await;

    // Two windows overdue (a controller down for two minutes): both are
    // closed in this reconcile, both breach, and the second rolls back.
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server.serve_pair("web:2", 1).await;
        // Undo: read the canary, find the ReplicaSet it ran before, then one patch.
        server
            .expect("GET", &format!("{DEPLOYS}/web-canary"))
            .await
            .ok(deployment("web-canary", "canary", "web:2", 1, "8", 2));
        let list = server
            .expect("GET", "/apis/apps/v1/namespaces/shop/replicasets")
            .await;
        let mut old = json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-canary-aaa", "namespace": "shop",
                         "annotations": {"deployment.kubernetes.io/revision": "1"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": "web-canary", "uid": "uid-web-canary", "controller": true}]},
            "spec": {"selector": {"matchLabels": {"app": "web", "track": "canary"}},
                     "template": template("web:1", "canary")}
        });
        old["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] = json!("aaa");
        list.ok(json!({"apiVersion": "apps/v1", "kind": "ReplicaSetList", "metadata": {}, "items": [old]}));
        let undo = server
            .expect("PATCH", &format!("{DEPLOYS}/web-canary"))
            .await;
        assert_eq!(
            undo.body,
            json!([{"op": "replace", "path": "/metadata/resourceVersion", "value": "8"},
                   {"op": "replace", "path": "/spec/replicas", "value": 0},
                   {"op": "replace", "path": "/spec/template", "value": template("web:1", "canary")}])
        );
        undo.ok(deployment("web-canary", "canary", "web:1", 0, "9", 3));
        let events = server.events(&["RolledBack"], "Deployment").await;
        assert_eq!(events[0]["type"], "Warning");
        let patch = server.expect("PATCH", CANARY_STATUS).await;
        let s = &patch.body["status"];
        assert_eq!(s["phase"], "rolled_back");
        assert_eq!(s["weight"], 0);
        let verdicts: Vec<&Value> = s["windows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| &w["verdict"])
            .collect();
        assert_eq!(verdicts, [&json!("breach"), &json!("breach")]);
        let ready = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(
            (&ready["status"], &ready["reason"]),
            (&json!("False"), &json!("RolledBack"))
        );
        let body = patch.body.clone();
        patch.ok(canary_json(pair_spec(), &body));
        server.done().await;
    });
    let ctx = context(client, &db, &script, T0 + 120_000, true);
    let outcome = reconcile_canary(&canary(pair_spec(), Some(status["status"].clone())), &ctx)
        .await
        .unwrap();
    drop(ctx);
    api.await.unwrap();
    assert_eq!(script.windows_read(), 2);
    assert_eq!(
        outcome.requeue_after, None,
        "a finished rollout waits for a change"
    );
}

#[tokio::test(start_paused = true)]
async fn a_second_revision_mid_rollout_supersedes_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let script = Script::new(&[]);
    let status = started(&db, &script, &revision("web:2")).await;

    // web:3 lands while web:2 ramps: audited as superseded, web:3 starts over.
    let (client, mut server) = mock_client();
    let new = revision("web:3");
    let n = new.clone();
    let api = tokio::spawn(async move {
        server.serve_pair("web:3", 1).await;
        // 10% is still one pod: the canary already has it, nothing to write.
        server.serve_pair("web:3", 1).await;
        server.events(&["RolloutStarted"], "Deployment").await;
        let superseded = server.expect("POST", EVENTS).await;
        assert_eq!(superseded.body["reason"], "Superseded");
        assert_eq!(superseded.body["type"], "Normal");
        let b = superseded.body.clone();
        superseded.respond(201, b);
        let patch = server.expect("PATCH", CANARY_STATUS).await;
        assert_eq!(patch.body["status"]["revision"], n.as_str());
        assert_eq!(patch.body["status"]["phase"], "ramping");
        let body = patch.body.clone();
        patch.ok(canary_json(pair_spec(), &body));
        server.done().await;
    });
    let ctx = context(client, &db, &script, T0 + 30_000, true);
    reconcile_canary(&canary(pair_spec(), Some(status["status"].clone())), &ctx)
        .await
        .unwrap();
    drop(ctx);
    api.await.unwrap();
    let store = canaryd_store::SqliteStore::open(&db).unwrap();
    let old = store
        .audit_entries(Some("shop/web"), Some(&revision("web:2")))
        .unwrap();
    assert!(
        old.iter()
            .any(|e| e.payload["decision"] == "superseded"
                && e.payload["by_revision"] == new.as_str()),
        "the old rollout's audit says what replaced it"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_router_call_is_shown_on_the_canary_and_retried_later() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let script = Script::new(&[]);
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server.serve_pair("web:2", 0).await;
        server.serve_pair("web:2", 0).await;
        server
            .expect("PATCH", &format!("{DEPLOYS}/web-canary"))
            .await
            .fail(403, "Forbidden");
        let patch = server.expect("PATCH", CANARY_STATUS).await;
        let s = &patch.body["status"];
        assert_eq!(s["phase"], "ramping", "the decision is committed");
        let ready = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(ready["reason"], "ActionFailed");
        assert!(
            ready["message"]
                .as_str()
                .unwrap()
                .starts_with("set_weight failed: "),
            "{ready}"
        );
        let body = patch.body.clone();
        patch.ok(canary_json(pair_spec(), &body));
        let event = server.expect("POST", EVENTS).await;
        assert_eq!(event.body["reason"], "ActionFailed");
        let b = event.body.clone();
        event.respond(201, b);
        server.done().await;
    });
    let ctx = context(client, &db, &script, T0, true);
    let err = reconcile_canary(&canary(pair_spec(), None), &ctx)
        .await
        .unwrap_err();
    drop(ctx);
    api.await.unwrap();
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("set_weight"), "{err}");
    // The effect waits in the outbox for the next reconcile.
    let store = canaryd_store::SqliteStore::open(&db).unwrap();
    let pending = store.pending_effects(Some("shop/web"), None).unwrap();
    assert!(
        pending.iter().any(|e| e.kind == "set_weight"),
        "{pending:?}"
    );
}
