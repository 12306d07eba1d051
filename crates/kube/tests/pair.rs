//! The Deployment-pair router against a scripted API server.

mod support;

use canaryd_core::vocab::RolloutKey;
use canaryd_kube::revision::template_revision;
use canaryd_kube::router::pair::DeploymentPairRouter;
use canaryd_ports::TrafficRouter;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::{json, Value};
use support::mock_client;

const DEPLOYS: &str = "/apis/apps/v1/namespaces/shop/deployments";
const RS: &str = "/apis/apps/v1/namespaces/shop/replicasets";

fn template(image: &str, track: &str) -> Value {
    json!({"metadata": {"labels": {"app": "web", "track": track}},
           "spec": {"containers": [{"name": "app", "image": image}]}})
}

fn revision(image: &str) -> String {
    let t: PodTemplateSpec = serde_json::from_value(template(image, "canary")).unwrap();
    template_revision(&t)
}

fn deployment(name: &str, track: &str, image: &str, replicas: i32, rv: &str, rev: u32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"),
                     "resourceVersion": rv,
                     "annotations": {"deployment.kubernetes.io/revision": rev.to_string()}},
        "spec": {"replicas": replicas,
                 "selector": {"matchLabels": {"app": "web", "track": track}},
                 "template": template(image, track)}
    })
}

fn replicaset(owner: &str, image: &str, rev: u32, hash: &str) -> Value {
    let mut t = template(image, "canary");
    t["metadata"]["labels"]["pod-template-hash"] = json!(hash);
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": format!("{owner}-{hash}"), "namespace": "shop",
                     "annotations": {"deployment.kubernetes.io/revision": rev.to_string()},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                          "name": owner, "uid": format!("uid-{owner}"), "controller": true}]},
        "spec": {"selector": {"matchLabels": {"app": "web", "track": "canary"}}, "template": t}
    })
}

fn key() -> RolloutKey {
    RolloutKey::new("shop/web", revision("web:2"))
}

fn router(client: kube::Client) -> DeploymentPairRouter {
    DeploymentPairRouter::new(client, "shop", "web", "web-canary")
}

#[tokio::test(start_paused = true)]
async fn weight_scales_only_the_canary() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server
            .expect("GET", &format!("{DEPLOYS}/web"))
            .await
            .ok(deployment("web", "stable", "web:1", 9, "5", 1));
        server
            .expect("GET", &format!("{DEPLOYS}/web-canary"))
            .await
            .ok(deployment("web-canary", "canary", "web:2", 0, "7", 2));
        let patch = server
            .expect("PATCH", &format!("{DEPLOYS}/web-canary"))
            .await;
        assert_eq!(patch.content_type, "application/json-patch+json");
        assert_eq!(
            patch.body,
            json!([{"op": "replace", "path": "/metadata/resourceVersion", "value": "7"},
                   {"op": "replace", "path": "/spec/replicas", "value": 3}])
        );
        patch.ok(deployment("web-canary", "canary", "web:2", 3, "8", 2));
        server.done().await;
    });
    let mut router = router(client);
    router.set_weight(&key(), 25).await.unwrap();
    drop(router);
    api.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn rollback_scales_to_zero_and_restores_the_previous_template() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server
            .expect("GET", &format!("{DEPLOYS}/web-canary"))
            .await
            .ok(deployment("web-canary", "canary", "web:2", 3, "8", 2));
        let list = server.expect("GET", RS).await;
        assert!(
            list.query
                .contains("labelSelector=app%3Dweb%2Ctrack%3Dcanary"),
            "{}",
            list.query
        );
        list.ok(
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSetList", "metadata": {},
                       "items": [replicaset("web-canary", "web:1", 1, "aaa"),
                                 replicaset("web-canary", "web:2", 2, "bbb"),
                                 replicaset("someone-else", "web:0", 1, "ccc")]}),
        );
        let patch = server
            .expect("PATCH", &format!("{DEPLOYS}/web-canary"))
            .await;
        assert_eq!(
            patch.body,
            json!([{"op": "replace", "path": "/metadata/resourceVersion", "value": "8"},
                   {"op": "replace", "path": "/spec/replicas", "value": 0},
                   {"op": "replace", "path": "/spec/template", "value": template("web:1", "canary")}])
        );
        patch.ok(deployment("web-canary", "canary", "web:1", 0, "9", 3));
        server.done().await;
    });
    let mut router = router(client);
    router.roll_back(&key()).await.unwrap();
    drop(router);
    api.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn rollback_repeated_after_undo_writes_nothing() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server
            .expect("GET", &format!("{DEPLOYS}/web-canary"))
            .await
            .ok(deployment("web-canary", "canary", "web:1", 0, "9", 3));
        server.done().await;
    });
    let mut router = router(client);
    router.roll_back(&key()).await.unwrap();
    drop(router);
    api.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn promote_copies_the_pod_spec_keeping_stable_labels_then_drops_the_canary() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server
            .expect("GET", &format!("{DEPLOYS}/web"))
            .await
            .ok(deployment("web", "stable", "web:1", 9, "5", 1));
        server
            .expect("GET", &format!("{DEPLOYS}/web-canary"))
            .await
            .ok(deployment("web-canary", "canary", "web:2", 9, "8", 2));
        server
            .expect("PATCH", &format!("{DEPLOYS}/web"))
            .await
            .fail(409, "Conflict");
        // The conflict makes it read both again and retry with the fresh version.
        server
            .expect("GET", &format!("{DEPLOYS}/web"))
            .await
            .ok(deployment("web", "stable", "web:1", 9, "6", 1));
        server
            .expect("GET", &format!("{DEPLOYS}/web-canary"))
            .await
            .ok(deployment("web-canary", "canary", "web:2", 9, "8", 2));
        let patch = server.expect("PATCH", &format!("{DEPLOYS}/web")).await;
        assert_eq!(
            patch.body,
            json!([{"op": "replace", "path": "/metadata/resourceVersion", "value": "6"},
                   {"op": "replace", "path": "/spec/template/spec", "value": template("web:2", "x")["spec"]}])
        );
        patch.ok(deployment("web", "stable", "web:2", 9, "7", 2));
        // Not rolled out yet: the canary keeps serving, the call fails (the
        // driver keeps the promotion in its outbox and retries).
        server
            .expect("GET", &format!("{DEPLOYS}/web"))
            .await
            .ok(rolled_out(
                deployment("web", "stable", "web:2", 9, "7", 2),
                4,
            ));
        server.done().await;
    });
    let mut first = router(client);
    let err = first.promote(&key()).await.unwrap_err();
    assert!(
        err.message().contains("waiting for it to roll out")
            && err.message().contains("4 of 9 replicas are available"),
        "{}",
        err.message()
    );
    drop(first);
    api.await.unwrap();

    // The retry: already copied, now rolled out, so the canary goes to zero.
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server
            .expect("GET", &format!("{DEPLOYS}/web"))
            .await
            .ok(deployment("web", "stable", "web:2", 9, "7", 2));
        server
            .expect("GET", &format!("{DEPLOYS}/web-canary"))
            .await
            .ok(deployment("web-canary", "canary", "web:2", 9, "8", 2));
        server
            .expect("GET", &format!("{DEPLOYS}/web"))
            .await
            .ok(rolled_out(
                deployment("web", "stable", "web:2", 9, "7", 2),
                9,
            ));
        server
            .expect("GET", &format!("{DEPLOYS}/web-canary"))
            .await
            .ok(deployment("web-canary", "canary", "web:2", 9, "8", 2));
        let scale = server
            .expect("PATCH", &format!("{DEPLOYS}/web-canary"))
            .await;
        assert_eq!(
            scale.body[1],
            json!({"op": "replace", "path": "/spec/replicas", "value": 0})
        );
        scale.ok(deployment("web-canary", "canary", "web:2", 0, "9", 2));
        server.done().await;
    });
    let mut router = router(client);
    router.promote(&key()).await.unwrap();
    drop(router);
    api.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn promote_refuses_a_revision_that_was_not_judged() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server
            .expect("GET", &format!("{DEPLOYS}/web"))
            .await
            .ok(deployment("web", "stable", "web:1", 9, "5", 1));
        server
            .expect("GET", &format!("{DEPLOYS}/web-canary"))
            .await
            .ok(deployment("web-canary", "canary", "web:3", 9, "8", 3));
        server.done().await;
    });
    let mut router = router(client);
    let err = router.promote(&key()).await.unwrap_err();
    assert!(err.message().contains("not judged"), "{}", err.message());
    drop(router);
    api.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn missing_stable_deployment_is_named() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server
            .expect("GET", &format!("{DEPLOYS}/web"))
            .await
            .fail(404, "NotFound");
        server.done().await;
    });
    let mut router = router(client);
    let err = router.set_weight(&key(), 10).await.unwrap_err();
    assert!(
        err.message().contains("Deployment shop/web not found"),
        "{}",
        err.message()
    );
    assert_eq!(
        err.kind(),
        canaryd_ports::ErrorKind::Permanent,
        "a missing Deployment needs a human"
    );
    drop(router);
    api.await.unwrap();
}

/// `d` as the Deployment controller reports it: every replica on the new
/// template, `available` of them available.
fn rolled_out(mut d: serde_json::Value, available: i32) -> serde_json::Value {
    let replicas = d["spec"]["replicas"].clone();
    d["metadata"]["generation"] = json!(2);
    d["status"] = json!({"observedGeneration": 2, "replicas": replicas,
                         "updatedReplicas": replicas, "availableReplicas": available});
    d
}
