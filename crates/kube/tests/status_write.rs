//! Status writes go to the status subresource, as a merge patch.

mod support;

use canaryd_kube::crd::{Canary, CanaryStatus};
use canaryd_kube::error::KubeError;
use canaryd_kube::status::write_status;
use kube::Api;
use serde_json::json;
use support::mock_client;

const PATH: &str = "/apis/canaryd.io/v1alpha1/namespaces/shop/canaries/web/status";

#[tokio::test]
async fn status_is_merge_patched_on_the_subresource() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        let patch = server.expect("PATCH", PATH).await;
        assert_eq!(patch.content_type, "application/merge-patch+json");
        assert_eq!(
            patch.body,
            json!({"status": {"phase": "ramping", "revision": "b2", "weight": 25, "observedGeneration": 3,
                             "step": null, "windows": [], "conditions": []}})
        );
        patch.ok(
            json!({"apiVersion": "canaryd.io/v1alpha1", "kind": "Canary",
                        "metadata": {"name": "web", "namespace": "shop"},
                        "spec": {"target": {"rollout": "r"}, "policy": {"inline": "x"}}}),
        );
        server.expect("PATCH", PATH).await.fail(404, "NotFound");
        server.done().await;
    });
    let canaries: Api<Canary> = Api::namespaced(client, "shop");
    let status = CanaryStatus {
        phase: Some("ramping".into()),
        revision: Some("b2".into()),
        weight: Some(25),
        observed_generation: Some(3),
        ..Default::default()
    };
    write_status(&canaries, "web", &status).await.unwrap();
    // A Canary deleted meanwhile: a named not-found, no panic.
    let err = write_status(&canaries, "web", &status).await.unwrap_err();
    assert!(
        matches!(err, KubeError::NotFound { kind: "Canary", .. }),
        "{err}"
    );
    drop(canaries);
    api.await.unwrap();
}
