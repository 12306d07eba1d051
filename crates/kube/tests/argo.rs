//! Active control of an Argo Rollout against a scripted API server: the
//! exact abort / promote / pause patches, the status-subresource fallback,
//! and the Rust types checked against the upstream Rollout CRD.

mod support;

use canaryd_core::vocab::RolloutKey;
use canaryd_kube::argo::ArgoRollout;
use canaryd_kube::router::argo::ArgoRouter;
use canaryd_ports::TrafficRouter;
use serde_json::{json, Value};
use support::{mock_client, schema_errors, upstream_schema};

const PATH: &str = "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/checkout";
const STATUS: &str = "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/checkout/status";

fn key() -> RolloutKey {
    RolloutKey::new("shop/checkout", "6c9f7d")
}

/// A canary Rollout paused at its second step (weight 20).
fn rollout() -> Value {
    json!({
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
    })
}

fn schema() -> Value {
    upstream_schema("argoproj.io_rollouts.yaml", "v1alpha1")
}

fn merge(doc: &Value, patch: &Value) -> Value {
    let mut d = doc.clone();
    json_patch::merge(&mut d, patch);
    d
}

#[test]
fn rust_types_name_real_rollout_fields() {
    let s = schema();
    for pointer in [
        "/properties/spec/properties/paused",
        "/properties/spec/properties/strategy/properties/canary/properties/steps/items/properties/setWeight",
        "/properties/status/properties/abort",
        "/properties/status/properties/pauseConditions/items/properties/reason",
        "/properties/status/properties/pauseConditions/items/properties/startTime",
        "/properties/status/properties/controllerPause",
        "/properties/status/properties/currentStepIndex",
        "/properties/status/properties/currentPodHash",
        "/properties/status/properties/stableRS",
        "/properties/status/properties/promoteFull",
        "/properties/status/properties/canary/properties/weights/properties/canary/properties/weight",
    ] {
        assert!(s.pointer(pointer).is_some(), "upstream Rollout CRD has no {pointer}");
    }
    assert_eq!(schema_errors(&s, &rollout()), Vec::<String>::new());
    // Our types read the fixture and write back the fields they know unchanged.
    let typed: ArgoRollout = serde_json::from_value(rollout()).unwrap();
    assert!(typed.is_paused());
    assert_eq!(typed.canary_weight(), 20);
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(back["status"]["stableRS"], "58d9c4");
    assert_eq!(
        back["status"]["pauseConditions"][0]["reason"],
        "CanaryPauseStep"
    );
}

#[tokio::test(start_paused = true)]
async fn abort_patches_the_status_subresource() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server.expect("GET", PATH).await.ok(rollout());
        let patch = server.expect("PATCH", STATUS).await;
        assert_eq!(patch.content_type, "application/merge-patch+json");
        assert_eq!(patch.body, json!({"status": {"abort": true}}));
        let after = merge(&rollout(), &patch.body);
        assert_eq!(schema_errors(&schema(), &after), Vec::<String>::new());
        patch.ok(after);
        server.done().await;
    });
    let mut router = ArgoRouter::new(client, "shop", "checkout");
    router.roll_back(&key()).await.unwrap();
    drop(router);
    api.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn abort_falls_back_to_the_main_resource_without_status_subresource() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server.expect("GET", PATH).await.ok(rollout());
        server.expect("PATCH", STATUS).await.fail(404, "NotFound");
        let patch = server.expect("PATCH", PATH).await;
        assert_eq!(patch.body, json!({"status": {"abort": true}}));
        patch.ok(merge(&rollout(), &json!({"status": {"abort": true}})));
        server.done().await;
    });
    let router = ArgoRouter::new(client, "shop", "checkout");
    router.abort().await.unwrap();
    drop(router);
    api.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn abort_is_idempotent() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server
            .expect("GET", PATH)
            .await
            .ok(merge(&rollout(), &json!({"status": {"abort": true}})));
        server.done().await;
    });
    let router = ArgoRouter::new(client, "shop", "checkout");
    router.abort().await.unwrap();
    drop(router);
    api.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn advancing_clears_pause_conditions_like_kubectl_promote() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server.expect("GET", PATH).await.ok(rollout());
        server.expect("GET", PATH).await.ok(rollout());
        let patch = server.expect("PATCH", STATUS).await;
        assert_eq!(patch.body, json!({"status": {"pauseConditions": null}}));
        let after = merge(&rollout(), &patch.body);
        assert!(after["status"].get("pauseConditions").is_none());
        assert_eq!(schema_errors(&schema(), &after), Vec::<String>::new());
        patch.ok(after);
        server.done().await;
    });
    let mut router = ArgoRouter::new(client, "shop", "checkout");
    router.set_weight(&key(), 50).await.unwrap();
    drop(router);
    api.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn advancing_to_a_weight_argo_already_has_writes_nothing() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server.expect("GET", PATH).await.ok(rollout());
        server.done().await;
    });
    let mut router = ArgoRouter::new(client, "shop", "checkout");
    router.set_weight(&key(), 20).await.unwrap();
    drop(router);
    api.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn full_promotion_also_unpauses_the_spec() {
    let (client, mut server) = mock_client();
    let paused = merge(&rollout(), &json!({"spec": {"paused": true}}));
    let api = tokio::spawn(async move {
        server.expect("GET", PATH).await.ok(paused.clone());
        let status = server.expect("PATCH", STATUS).await;
        assert_eq!(
            status.body,
            json!({"status": {"pauseConditions": null, "promoteFull": true}})
        );
        let after = merge(&paused, &status.body);
        status.ok(after.clone());
        let spec = server.expect("PATCH", PATH).await;
        assert_eq!(spec.body, json!({"spec": {"paused": false}}));
        let after = merge(&after, &spec.body);
        assert_eq!(schema_errors(&schema(), &after), Vec::<String>::new());
        spec.ok(after);
        server.done().await;
    });
    let mut router = ArgoRouter::new(client, "shop", "checkout");
    router.promote(&key()).await.unwrap();
    drop(router);
    api.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn pause_sets_spec_paused_and_retries_a_conflict() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server.expect("GET", PATH).await.ok(rollout());
        server.expect("PATCH", PATH).await.fail(409, "Conflict");
        let patch = server.expect("PATCH", PATH).await;
        assert_eq!(patch.body, json!({"spec": {"paused": true}}));
        patch.ok(merge(&rollout(), &json!({"spec": {"paused": true}})));
        server.done().await;
    });
    let router = ArgoRouter::new(client, "shop", "checkout");
    router.pause().await.unwrap();
    drop(router);
    api.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn aborted_rollout_is_never_promoted() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server
            .expect("GET", PATH)
            .await
            .ok(merge(&rollout(), &json!({"status": {"abort": true}})));
        server.done().await;
    });
    let mut router = ArgoRouter::new(client, "shop", "checkout");
    let err = router.promote(&key()).await.unwrap_err();
    assert!(err.message().contains("aborted"), "{}", err.message());
    drop(router);
    api.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn missing_rollout_is_not_found_after_no_retries() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server.expect("GET", PATH).await.fail(404, "NotFound");
        server.done().await;
    });
    let router = ArgoRouter::new(client, "shop", "checkout");
    let err = router.abort().await.unwrap_err();
    assert!(
        err.to_string().contains("Rollout shop/checkout not found"),
        "{err}"
    );
    drop(router);
    api.await.unwrap();
}
