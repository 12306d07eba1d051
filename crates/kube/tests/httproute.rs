//! The HTTPRoute router against a scripted API server: the exact requests,
//! the patch touching only the two weights, and the failure paths.

mod support;

use canaryd_core::vocab::RolloutKey;
use canaryd_kube::crd::HttpRouteRouterSpec;
use canaryd_kube::error::KubeError;
use canaryd_kube::router::httproute::{
    route_acceptance, route_accepted, weight_patch, AcceptWait, Acceptance, HttpRouteRouter,
};
use canaryd_ports::TrafficRouter;
use serde_json::{json, Value};
use support::{mock_client, schema_errors, upstream_schema};

const PATH: &str = "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/web";

fn spec() -> HttpRouteRouterSpec {
    HttpRouteRouterSpec {
        name: "web".into(),
        rule: Some("main".into()),
        stable_service: "web-stable".into(),
        canary_service: "web-canary".into(),
    }
}

/// A route with an unrelated rule before ours, filters, and a third backend.
fn route(rv: &str, generation: i64, stable: i64, canary: i64) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": "shop", "resourceVersion": rv, "generation": generation},
        "spec": {
            "parentRefs": [{"name": "public"}],
            "hostnames": ["shop.example.com"],
            "rules": [
                {
                    "name": "admin",
                    "matches": [{"path": {"type": "PathPrefix", "value": "/admin"}}],
                    "filters": [{"type": "RequestHeaderModifier",
                                 "requestHeaderModifier": {"add": [{"name": "x-admin", "value": "1"}]}}],
                    "backendRefs": [{"name": "admin", "port": 8080, "weight": 3}]
                },
                {
                    "name": "main",
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [
                        {"name": "web-stable", "port": 80, "weight": stable},
                        {"name": "web-canary", "port": 80, "weight": canary},
                        {"name": "web-mirror", "port": 80, "weight": 0}
                    ]
                }
            ]
        },
        "status": {"parents": [{
            "parentRef": {"name": "public"},
            "controllerName": "example.com/gateway",
            "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                            "message": "", "observedGeneration": generation,
                            "lastTransitionTime": "2026-01-01T00:00:00Z"}]
        }]}
    })
}

fn key() -> RolloutKey {
    RolloutKey::new("shop/web", "abc123")
}

#[tokio::test(start_paused = true)]
async fn set_weight_patches_only_the_two_weights_and_reads_back_accepted() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        let before = route("41", 7, 100, 0);
        server.expect("GET", PATH).await.ok(before.clone());
        let patch = server.expect("PATCH", PATH).await;
        assert_eq!(patch.content_type, "application/json-patch+json");
        assert_eq!(
            patch.body,
            json!([
                {"op": "replace", "path": "/metadata/resourceVersion", "value": "41"},
                {"op": "add", "path": "/spec/rules/1/backendRefs/0/weight", "value": 75},
                {"op": "add", "path": "/spec/rules/1/backendRefs/1/weight", "value": 25}
            ])
        );
        // Apply the patch as the API server would, then check what it did.
        let mut after = before.clone();
        let ops: json_patch::Patch = serde_json::from_value(patch.body.clone()).unwrap();
        json_patch::patch(&mut after, &ops).unwrap();
        assert_eq!(
            serde_json::to_string(&after["spec"]["rules"][0]).unwrap(),
            serde_json::to_string(&before["spec"]["rules"][0]).unwrap(),
            "the unrelated rule must be byte-identical"
        );
        assert_eq!(
            after["spec"]["rules"][1]["backendRefs"][2],
            before["spec"]["rules"][1]["backendRefs"][2]
        );
        assert_eq!(
            after["spec"]["rules"][1]["matches"],
            before["spec"]["rules"][1]["matches"]
        );
        let schema = upstream_schema("gateway.networking.k8s.io_httproutes.yaml", "v1");
        assert_eq!(schema_errors(&schema, &before), Vec::<String>::new());
        assert_eq!(schema_errors(&schema, &after), Vec::<String>::new());
        after["metadata"]["resourceVersion"] = json!("42");
        after["metadata"]["generation"] = json!(8);
        patch.ok(after.clone());
        // Read-back: the Gateway has accepted generation 8.
        after["status"]["parents"][0]["conditions"][0]["observedGeneration"] = json!(8);
        server.expect("GET", PATH).await.ok(after);
        server.done().await;
    });
    let mut router = HttpRouteRouter::new(client, "shop", spec());
    router.set_weight(&key(), 25).await.unwrap();
    drop(router);
    api.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn set_weight_already_in_force_writes_nothing() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server.expect("GET", PATH).await.ok(route("41", 7, 90, 10));
        server.expect("GET", PATH).await.ok(route("41", 7, 90, 10));
        server.done().await;
    });
    let mut router = HttpRouteRouter::new(client, "shop", spec());
    router.set_weight(&key(), 10).await.unwrap();
    drop(router);
    api.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn conflict_rereads_and_patches_the_fresh_version() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server.expect("GET", PATH).await.ok(route("41", 7, 100, 0));
        server.expect("PATCH", PATH).await.fail(409, "Conflict");
        server.expect("GET", PATH).await.ok(route("43", 7, 100, 0));
        let patch = server.expect("PATCH", PATH).await;
        assert_eq!(
            patch.body[0]["value"], "43",
            "the retry must carry the fresh resourceVersion"
        );
        patch.ok(route("44", 8, 0, 100));
        server.expect("GET", PATH).await.ok(route("44", 8, 0, 100));
        server.done().await;
    });
    let mut router = HttpRouteRouter::new(client, "shop", spec());
    router.promote(&key()).await.unwrap();
    drop(router);
    api.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn server_errors_back_off_then_succeed() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server
            .expect("GET", PATH)
            .await
            .fail(503, "ServiceUnavailable");
        server.expect("GET", PATH).await.fail(500, "InternalError");
        server.expect("GET", PATH).await.ok(route("41", 7, 90, 10));
        let patch = server.expect("PATCH", PATH).await;
        assert_eq!(patch.body[1]["value"], 100);
        assert_eq!(patch.body[2]["value"], 0);
        patch.ok(route("42", 8, 100, 0));
        server.expect("GET", PATH).await.ok(route("42", 8, 100, 0));
        server.done().await;
    });
    let mut router = HttpRouteRouter::new(client, "shop", spec());
    router.roll_back(&key()).await.unwrap();
    drop(router);
    api.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn missing_route_is_a_named_not_found() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server.expect("GET", PATH).await.fail(404, "NotFound");
        server.done().await;
    });
    let router = HttpRouteRouter::new(client, "shop", spec());
    let err = router.apply_weight(10).await.unwrap_err();
    assert!(
        matches!(
            err,
            KubeError::NotFound {
                kind: "HTTPRoute",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("shop/web"));
    drop(router);
    api.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn unaccepted_route_fails_the_action() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server.expect("GET", PATH).await.ok(route("41", 7, 90, 10));
        let mut stale = route("41", 7, 90, 10);
        stale["status"]["parents"][0]["conditions"][0]["status"] = json!("False");
        stale["status"]["parents"][0]["conditions"][0]["reason"] = json!("NotAllowedByListeners");
        server.expect("GET", PATH).await.ok(stale);
        server.done().await;
    });
    let mut router = HttpRouteRouter::new(client, "shop", spec());
    let err = router.set_weight(&key(), 10).await.unwrap_err();
    assert!(
        err.message().contains("NotAllowedByListeners"),
        "{}",
        err.message()
    );
    drop(router);
    api.await.unwrap();
}

/// The Gateway reports on the new generation a moment after the patch:
/// the router reads back until it has, instead of failing the action.
#[tokio::test(start_paused = true)]
async fn a_lagging_gateway_is_waited_for() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server.expect("GET", PATH).await.ok(route("41", 7, 100, 0));
        let patch = server.expect("PATCH", PATH).await;
        let mut after = route("42", 8, 75, 25);
        // Still the Gateway's report on generation 7.
        after["status"]["parents"][0]["conditions"][0]["observedGeneration"] = json!(7);
        patch.ok(after.clone());
        server.expect("GET", PATH).await.ok(after.clone());
        server.expect("GET", PATH).await.ok(after);
        server.expect("GET", PATH).await.ok(route("42", 8, 75, 25));
        server.done().await;
    });
    let mut router = HttpRouteRouter::new(client, "shop", spec());
    let started = tokio::time::Instant::now();
    router.set_weight(&key(), 25).await.unwrap();
    // Two waits of 250 ms (virtual time) between the three read-backs.
    assert_eq!(started.elapsed(), std::time::Duration::from_millis(500));
    drop(router);
    api.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_gateway_that_never_catches_up_fails_the_action_naming_the_generation() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server.expect("GET", PATH).await.ok(route("41", 7, 100, 0));
        let patch = server.expect("PATCH", PATH).await;
        let mut after = route("42", 8, 75, 25);
        after["status"]["parents"][0]["conditions"][0]["observedGeneration"] = json!(7);
        patch.ok(after.clone());
        for _ in 0..3 {
            server.expect("GET", PATH).await.ok(after.clone());
        }
        server.done().await;
    });
    let mut router = HttpRouteRouter::new(client, "shop", spec()).with_accept_wait(AcceptWait {
        attempts: 3,
        every: std::time::Duration::from_secs(1),
    });
    let err = router.set_weight(&key(), 25).await.unwrap_err();
    assert!(
        err.message().contains("not yet seen generation 8"),
        "{}",
        err.message()
    );
    drop(router);
    api.await.unwrap();
}

#[test]
fn a_refusal_is_final_and_a_stale_report_is_pending() {
    let mut r = route("1", 5, 100, 0);
    r["status"]["parents"][0]["conditions"][0]["status"] = json!("False");
    r["status"]["parents"][0]["conditions"][0]["reason"] = json!("NotAllowedByListeners");
    assert!(
        matches!(route_acceptance(&r), Acceptance::Rejected(m) if m.contains("NotAllowedByListeners"))
    );
    // The same refusal, but about generation 4: the Gateway has not looked yet.
    r["status"]["parents"][0]["conditions"][0]["observedGeneration"] = json!(4);
    assert!(matches!(route_acceptance(&r), Acceptance::Pending(_)));
    assert_eq!(
        route_acceptance(&route("1", 5, 100, 0)),
        Acceptance::Accepted
    );
}

#[test]
fn accepted_must_cover_the_current_generation() {
    let mut r = route("1", 5, 100, 0);
    assert_eq!(route_accepted(&r), Ok(()));
    r["metadata"]["generation"] = json!(6);
    assert!(route_accepted(&r).unwrap_err().contains("generation 6"));
    r["status"] = json!({});
    assert!(route_accepted(&r).is_err());
}

#[test]
fn rule_choice_is_explicit_or_unambiguous() {
    let r = route("1", 1, 100, 0);
    let mut s = spec();
    s.rule = None;
    let p = weight_patch(&r, &s, 50).unwrap().unwrap();
    assert_eq!(p[1]["path"], "/spec/rules/1/backendRefs/0/weight");
    s.rule = Some("admin".into());
    assert!(weight_patch(&r, &s, 50)
        .unwrap_err()
        .contains("does not send traffic"));
    s.rule = Some("nope".into());
    assert!(weight_patch(&r, &s, 50)
        .unwrap_err()
        .contains("no rule named"));
    let mut twice = r.clone();
    let main = twice["spec"]["rules"][1].clone();
    twice["spec"]["rules"].as_array_mut().unwrap().push(main);
    s.rule = None;
    assert!(weight_patch(&twice, &s, 50)
        .unwrap_err()
        .contains("2 rules"));
}
