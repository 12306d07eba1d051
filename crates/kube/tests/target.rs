//! Reading a Canary's target and policy against a scripted API server.

mod support;

use canaryd_kube::crd::{CanarySpec, ConfigMapKeyRef, PolicySpec, TargetSpec};
use canaryd_kube::reconcile::ObservedTarget;
use canaryd_kube::target::{load_policy, observe, TargetKind};
use serde_json::json;
use support::mock_client;

fn deployment(name: &str, image: &str) -> serde_json::Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": name, "namespace": "shop"},
           "spec": {"selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}},
                                 "spec": {"containers": [{"name": "app", "image": image}]}}}})
}

#[test]
fn target_forms_are_exclusive() {
    let t = |d: Option<&str>, s: Option<&str>, c: Option<&str>, r: Option<&str>| TargetSpec {
        deployment: d.map(Into::into),
        stable: s.map(Into::into),
        canary: c.map(Into::into),
        rollout: r.map(Into::into),
    };
    assert_eq!(
        t(None, Some("a"), Some("b"), None).kind(),
        Ok(TargetKind::Pair {
            stable: "a".into(),
            canary: "b".into()
        })
    );
    assert_eq!(
        t(None, None, None, Some("r")).kind(),
        Ok(TargetKind::ArgoRollout("r".into()))
    );
    assert!(t(None, Some("a"), None, None)
        .kind()
        .unwrap_err()
        .contains("both stable and canary"));
    assert!(t(None, Some("a"), Some("a"), None)
        .kind()
        .unwrap_err()
        .contains("same Deployment"));
    assert!(t(Some("d"), None, None, Some("r"))
        .kind()
        .unwrap_err()
        .contains("more than one"));
    assert!(t(None, None, None, None)
        .kind()
        .unwrap_err()
        .contains("empty"));
}

#[tokio::test]
async fn pair_revisions_come_from_the_pod_specs() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server
            .expect("GET", "/apis/apps/v1/namespaces/shop/deployments/web")
            .await
            .ok(deployment("web", "web:1"));
        server
            .expect(
                "GET",
                "/apis/apps/v1/namespaces/shop/deployments/web-canary",
            )
            .await
            .ok(deployment("web-canary", "web:2"));
        server
            .expect("GET", "/apis/apps/v1/namespaces/shop/deployments/web")
            .await
            .ok(deployment("web", "web:2"));
        server
            .expect(
                "GET",
                "/apis/apps/v1/namespaces/shop/deployments/web-canary",
            )
            .await
            .ok(deployment("web-canary", "web:2"));
        server.done().await;
    });
    let kind = TargetKind::Pair {
        stable: "web".into(),
        canary: "web-canary".into(),
    };
    let ObservedTarget::Found { canary, stable } = observe(&client, "shop", &kind).await.unwrap()
    else {
        panic!("expected found");
    };
    assert_ne!(canary, stable, "different images are different revisions");
    let ObservedTarget::Found { canary, stable } = observe(&client, "shop", &kind).await.unwrap()
    else {
        panic!("expected found");
    };
    assert_eq!(
        canary, stable,
        "labels differ, the pod spec does not: same revision"
    );
    drop(client);
    api.await.unwrap();
}

#[tokio::test]
async fn missing_half_of_the_pair_is_reported_by_name() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server
            .expect("GET", "/apis/apps/v1/namespaces/shop/deployments/web")
            .await
            .ok(deployment("web", "web:1"));
        server
            .expect(
                "GET",
                "/apis/apps/v1/namespaces/shop/deployments/web-canary",
            )
            .await
            .fail(404, "NotFound");
        server.done().await;
    });
    let kind = TargetKind::Pair {
        stable: "web".into(),
        canary: "web-canary".into(),
    };
    assert_eq!(
        observe(&client, "shop", &kind).await.unwrap(),
        ObservedTarget::Missing {
            what: "Deployment shop/web-canary".into()
        }
    );
    drop(client);
    api.await.unwrap();
}

#[tokio::test]
async fn argo_revisions_come_from_its_status() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server
            .expect(
                "GET",
                "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/checkout",
            )
            .await
            .ok(
                json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                       "metadata": {"name": "checkout", "namespace": "shop"},
                       "spec": {}, "status": {"currentPodHash": "6c9f7d", "stableRS": "58d9c4"}}),
            );
        server.done().await;
    });
    let kind = TargetKind::ArgoRollout("checkout".into());
    assert_eq!(
        observe(&client, "shop", &kind).await.unwrap(),
        ObservedTarget::Found {
            canary: "6c9f7d".into(),
            stable: "58d9c4".into()
        }
    );
    drop(client);
    api.await.unwrap();
}

fn spec_with(policy: PolicySpec) -> CanarySpec {
    CanarySpec {
        target: TargetSpec {
            rollout: Some("r".into()),
            ..Default::default()
        },
        router: Default::default(),
        policy,
        metrics: None,
        notify: vec![],
    }
}

#[tokio::test]
async fn policy_from_a_config_map_is_parsed_with_its_source_named() {
    let (client, mut server) = mock_client();
    let api =
        tokio::spawn(async move {
            server
            .expect("GET", "/api/v1/namespaces/shop/configmaps/web-policy")
            .await
            .ok(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-policy"},
                       "data": {"policy.yaml": "preset: slo-ratio\n"}}));
            server
            .expect("GET", "/api/v1/namespaces/shop/configmaps/web-policy")
            .await
            .ok(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-policy"},
                       "data": {"policy.yaml": "preset: slo-ratio\nwindow: banana\n"}}));
            server.done().await;
        });
    let spec = spec_with(PolicySpec {
        inline: None,
        config_map: Some(ConfigMapKeyRef {
            name: "web-policy".into(),
            key: None,
        }),
    });
    let policy = load_policy(&client, "shop", &spec).await.unwrap();
    assert!(policy.window.as_secs() > 0);
    let err = load_policy(&client, "shop", &spec)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ConfigMap shop/web-policy:policy.yaml") && err.contains("window"),
        "{err}"
    );
    drop(client);
    api.await.unwrap();
}

#[tokio::test]
async fn inline_policy_needs_no_api_call_and_both_forms_clash() {
    let (client, server) = mock_client();
    let spec = spec_with(PolicySpec {
        inline: Some("preset: absolute-slo\n".into()),
        config_map: None,
    });
    load_policy(&client, "shop", &spec).await.unwrap();
    let both = spec_with(PolicySpec {
        inline: Some("preset: absolute-slo\n".into()),
        config_map: Some(ConfigMapKeyRef {
            name: "x".into(),
            key: None,
        }),
    });
    assert!(load_policy(&client, "shop", &both)
        .await
        .unwrap_err()
        .to_string()
        .contains("exactly one"));
    drop(client);
    server.done().await;
}
