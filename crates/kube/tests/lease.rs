//! Leader election against a scripted API server.

mod support;

use canaryd_core::vocab::Timestamp;
use canaryd_kube::lease::{decide, Leadership, LeaseDecision, LeaseLock};
use k8s_openapi::api::coordination::v1::Lease;
use serde_json::{json, Value};
use std::time::Duration;
use support::mock_client;

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/canaryd/leases";
const PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/canaryd/leases/canaryd-leader";
// 2026-01-01T00:00:00Z
const T0: i64 = 1_767_225_600_000;

fn lease(holder: Option<&str>, renewed: &str, transitions: i32) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "canaryd-leader", "namespace": "canaryd", "resourceVersion": "77"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15,
                 "acquireTime": "2026-01-01T00:00:00.000000Z",
                 "renewTime": renewed, "leaseTransitions": transitions}
    })
}

fn lock(client: kube::Client, me: &str) -> LeaseLock {
    LeaseLock::new(
        client,
        "canaryd",
        "canaryd-leader",
        me,
        Duration::from_secs(15),
    )
}

#[test]
fn decisions_follow_expiry() {
    let l: Lease =
        serde_json::from_value(lease(Some("pod-a"), "2026-01-01T00:00:00.000000Z", 0)).unwrap();
    assert_eq!(decide(None, "pod-b", Timestamp(T0)), LeaseDecision::Create);
    assert_eq!(
        decide(Some(&l), "pod-a", Timestamp(T0 + 60_000)),
        LeaseDecision::Renew
    );
    assert_eq!(
        decide(Some(&l), "pod-b", Timestamp(T0 + 10_000)),
        LeaseDecision::Follow {
            holder: "pod-a".into()
        }
    );
    assert_eq!(
        decide(Some(&l), "pod-b", Timestamp(T0 + 15_001)),
        LeaseDecision::TakeOver
    );
    let released: Lease =
        serde_json::from_value(lease(None, "2026-01-01T00:00:00.000000Z", 0)).unwrap();
    assert_eq!(
        decide(Some(&released), "pod-b", Timestamp(T0)),
        LeaseDecision::TakeOver
    );
}

#[tokio::test]
async fn first_replica_creates_the_lease() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server.expect("GET", PATH).await.fail(404, "NotFound");
        let create = server.expect("POST", LEASES).await;
        assert_eq!(create.body["spec"]["holderIdentity"], "pod-a");
        assert_eq!(create.body["spec"]["leaseDurationSeconds"], 15);
        assert_eq!(create.body["spec"]["leaseTransitions"], 0);
        let body = create.body.clone();
        create.respond(201, body);
        server.done().await;
    });
    let l = lock(client, "pod-a");
    assert_eq!(l.try_lead(Timestamp(T0)).await.unwrap(), Leadership::Leader);
    drop(l);
    api.await.unwrap();
}

#[tokio::test]
async fn expired_lease_is_taken_over_with_its_resource_version() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server
            .expect("GET", PATH)
            .await
            .ok(lease(Some("pod-a"), "2026-01-01T00:00:00.000000Z", 2));
        let put = server.expect("PUT", PATH).await;
        assert_eq!(put.body["metadata"]["resourceVersion"], "77");
        assert_eq!(put.body["spec"]["holderIdentity"], "pod-b");
        assert_eq!(put.body["spec"]["leaseTransitions"], 3);
        let body = put.body.clone();
        put.ok(body);
        server.done().await;
    });
    let l = lock(client, "pod-b");
    assert_eq!(
        l.try_lead(Timestamp(T0 + 20_000)).await.unwrap(),
        Leadership::Leader
    );
    drop(l);
    api.await.unwrap();
}

#[tokio::test]
async fn losing_the_race_makes_a_follower() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server
            .expect("GET", PATH)
            .await
            .ok(lease(None, "2026-01-01T00:00:00.000000Z", 2));
        server.expect("PUT", PATH).await.fail(409, "Conflict");
        server
            .expect("GET", PATH)
            .await
            .ok(lease(Some("pod-c"), "2026-01-01T00:00:01.000000Z", 3));
        server.done().await;
    });
    let l = lock(client, "pod-b");
    assert!(matches!(
        l.try_lead(Timestamp(T0 + 1_000)).await.unwrap(),
        Leadership::Follower { .. }
    ));
    assert_eq!(
        l.try_lead(Timestamp(T0 + 2_000)).await.unwrap(),
        Leadership::Follower {
            holder: "pod-c".into()
        }
    );
    drop(l);
    api.await.unwrap();
}

#[tokio::test]
async fn release_clears_only_our_own_lease() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server
            .expect("GET", PATH)
            .await
            .ok(lease(Some("pod-a"), "2026-01-01T00:00:05.000000Z", 1));
        let put = server.expect("PUT", PATH).await;
        assert!(
            put.body["spec"]
                .get("holderIdentity")
                .is_none_or(Value::is_null),
            "{}",
            put.body
        );
        let body = put.body.clone();
        put.ok(body);
        // Someone else's Lease is left alone.
        server
            .expect("GET", PATH)
            .await
            .ok(lease(Some("pod-z"), "2026-01-01T00:00:05.000000Z", 1));
        server.done().await;
    });
    let l = lock(client, "pod-a");
    l.release().await.unwrap();
    l.release().await.unwrap();
    drop(l);
    api.await.unwrap();
}

#[tokio::test]
async fn server_failure_is_an_error_not_leadership() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server.expect("GET", PATH).await.fail(500, "InternalError");
        server.done().await;
    });
    let l = lock(client, "pod-a");
    let err = l.try_lead(Timestamp(T0)).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    drop(l);
    api.await.unwrap();
}
