//! Events on the Canary and its target, with the notification's words.

mod support;

use canaryd_core::effect::{Notice, NoticeKind, Severity};
use canaryd_kube::events::Announcer;
use k8s_openapi::api::core::v1::ObjectReference;
use support::mock_client;

fn reference(api_version: &str, kind: &str, name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some(api_version.into()),
        kind: Some(kind.into()),
        name: Some(name.into()),
        namespace: Some("shop".into()),
        uid: Some(format!("uid-{name}")),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_rollback_is_a_warning_on_both_objects() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        for (kind, name) in [("Canary", "web"), ("Deployment", "web-canary")] {
            let post = server
                .expect("POST", "/apis/events.k8s.io/v1/namespaces/shop/events")
                .await;
            assert_eq!(post.body["type"], "Warning");
            assert_eq!(post.body["reason"], "RolledBack");
            assert_eq!(
                post.body["note"],
                "shop/web b2 rolled back: error rate 4.1% vs 0.3%"
            );
            assert_eq!(post.body["reportingController"], "canaryd");
            assert_eq!(post.body["regarding"]["kind"], kind);
            assert_eq!(post.body["regarding"]["name"], name);
            let body = post.body.clone();
            post.respond(201, body);
        }
        server.done().await;
    });
    let announcer = Announcer::new(client, Some("canaryd-0".into()));
    let notice = Notice::worded(
        NoticeKind::RolledBack,
        Severity::Critical,
        "shop/web b2 rolled back: error rate 4.1% vs 0.3%",
        "the whole story",
    );
    announcer
        .announce(
            &notice,
            &[
                reference("canaryd.io/v1alpha1", "Canary", "web"),
                reference("apps/v1", "Deployment", "web-canary"),
            ],
        )
        .await
        .unwrap();
    drop(announcer);
    api.await.unwrap();
}
