//! Observe mode for a single Deployment: Kubernetes rolls it, canaryd
//! judges the newest ReplicaSet against the previous one, and on a
//! sustained breach pauses the rollout and undoes it to the previous
//! ReplicaSet's template; the undo is then seen as a return to stable.

mod support;

use canaryd_kube::controller::reconcile_canary;
use serde_json::{json, Value};
use support::canary::*;
use support::{mock_client, ApiServer};

const RS: &str = "/apis/apps/v1/namespaces/shop/replicasets";

fn spec() -> Value {
    json!({"target": {"deployment": "web"}, "policy": {"inline": POLICY}})
}

fn pod_template(image: &str) -> Value {
    json!({"metadata": {"labels": {"app": "web"}},
           "spec": {"containers": [{"name": "app", "image": image}]}})
}

fn web(image: &str, paused: bool, rv: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "uid": "uid-web", "resourceVersion": rv},
        "spec": {"replicas": 4, "paused": paused,
                 "selector": {"matchLabels": {"app": "web"}},
                 "template": pod_template(image)}
    })
}

fn rs(hash: &str, image: &str, revision: u32) -> Value {
    let mut t = pod_template(image);
    t["metadata"]["labels"]["pod-template-hash"] = json!(hash);
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": format!("web-{hash}"), "namespace": "shop",
                     "labels": {"app": "web", "pod-template-hash": hash},
                     "annotations": {"deployment.kubernetes.io/revision": revision.to_string()},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                          "name": "web", "uid": "uid-web", "controller": true}]},
        "spec": {"selector": {"matchLabels": {"app": "web", "pod-template-hash": hash}}, "template": t}
    })
}

fn list(items: Vec<Value>) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSetList", "metadata": {}, "items": items})
}

/// The Deployment mid-rollout: web:1 (hash aaa, revision 1) → web:2 (bbb, 2).
async fn serve_rolling(server: &mut ApiServer, paused: bool, rv: &str) {
    server
        .expect("GET", &format!("{DEPLOYS}/web"))
        .await
        .ok(web("web:2", paused, rv));
    let l = server.expect("GET", RS).await;
    assert!(l.query.contains("labelSelector=app%3Dweb"), "{}", l.query);
    l.ok(list(vec![rs("aaa", "web:1", 1), rs("bbb", "web:2", 2)]));
}

#[tokio::test(start_paused = true)]
async fn a_breach_pauses_and_undoes_the_rolling_update_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let script = Script::new(&[Reading::Breach, Reading::Breach]);

    // Reconcile 1: the newest ReplicaSet (bbb) is judged against aaa; no
    // traffic to move, so only the Events and the status are written.
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        serve_rolling(&mut server, false, "5").await;
        server.events(&["RolloutStarted"], "Deployment").await;
        let patch = server.expect("PATCH", CANARY_STATUS).await;
        assert_eq!(patch.body["status"]["revision"], "bbb");
        assert_eq!(patch.body["status"]["phase"], "ramping");
        let body = patch.body.clone();
        patch.ok(canary_json(spec(), &body));
        server.done().await;
        body
    });
    let ctx = context(client, &db, &script, T0, true);
    reconcile_canary(&canary(spec(), None), &ctx).await.unwrap();
    drop(ctx);
    let status = api.await.unwrap();

    // Reconcile 2: two breaching windows. Pause first, then the undo.
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        serve_rolling(&mut server, false, "5").await;
        serve_rolling(&mut server, false, "5").await;
        let pause = server.expect("PATCH", &format!("{DEPLOYS}/web")).await;
        assert_eq!(pause.content_type, "application/json-patch+json");
        assert_eq!(
            pause.body,
            json!([{"op": "replace", "path": "/metadata/resourceVersion", "value": "5"},
                   {"op": "add", "path": "/spec/paused", "value": true}])
        );
        pause.ok(web("web:2", true, "6"));
        server
            .expect("GET", &format!("{DEPLOYS}/web"))
            .await
            .ok(web("web:2", true, "6"));
        let undo = server.expect("PATCH", &format!("{DEPLOYS}/web")).await;
        assert_eq!(
            undo.body,
            json!([{"op": "replace", "path": "/metadata/resourceVersion", "value": "6"},
                   {"op": "replace", "path": "/spec/template", "value": pod_template("web:1")},
                   {"op": "replace", "path": "/spec/paused", "value": false}])
        );
        undo.ok(web("web:1", false, "7"));
        server.events(&["RolledBack"], "Deployment").await;
        let patch = server.expect("PATCH", CANARY_STATUS).await;
        assert_eq!(patch.body["status"]["phase"], "rolled_back");
        let body = patch.body.clone();
        patch.ok(canary_json(spec(), &body));
        server.done().await;
        body
    });
    let ctx = context(client, &db, &script, T0 + 120_000, true);
    reconcile_canary(&canary(spec(), Some(status["status"].clone())), &ctx)
        .await
        .unwrap();
    drop(ctx);
    let status = api.await.unwrap();

    // Reconcile 3: Kubernetes reused aaa (now revision 3). That is stable
    // again, not a rollout of web:1: nothing is written.
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server
            .expect("GET", &format!("{DEPLOYS}/web"))
            .await
            .ok(web("web:1", false, "8"));
        server
            .expect("GET", RS)
            .await
            .ok(list(vec![rs("aaa", "web:1", 3), rs("bbb", "web:2", 2)]));
        server.done().await;
    });
    let ctx = context(client, &db, &script, T0 + 180_000, true);
    let outcome = reconcile_canary(&canary(spec(), Some(status["status"].clone())), &ctx)
        .await
        .unwrap();
    drop(ctx);
    api.await.unwrap();
    assert_eq!(outcome.status, None);
    assert_eq!(outcome.requeue_after, None);
    assert_eq!(script.windows_read(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_first_deployment_has_nothing_to_judge() {
    let dir = tempfile::tempdir().unwrap();
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server
            .expect("GET", &format!("{DEPLOYS}/web"))
            .await
            .ok(web("web:1", false, "5"));
        server
            .expect("GET", RS)
            .await
            .ok(list(vec![rs("aaa", "web:1", 1)]));
        let patch = server.expect("PATCH", CANARY_STATUS).await;
        assert_eq!(patch.body["status"]["phase"], "idle");
        assert_eq!(patch.body["status"]["revision"], "aaa");
        let body = patch.body.clone();
        patch.ok(canary_json(spec(), &body));
        server.done().await;
    });
    let script = Script::new(&[]);
    let ctx = context(client, &dir.path().join("c.db"), &script, T0, true);
    reconcile_canary(&canary(spec(), None), &ctx).await.unwrap();
    drop(ctx);
    api.await.unwrap();
    assert_eq!(script.built(), 0);
}
