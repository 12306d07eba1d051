//! The controller's side of leader election: a follower stays one (and its
//! reconciles send nothing), a standby takes an expired Lease and is told
//! to reconcile everything once, and a stopping leader hands the Lease back.

mod support;

use std::sync::Arc;
use std::time::Duration;

use canaryd_core::vocab::Timestamp;
use canaryd_kube::controller::{ControllerMetrics, Election, LeaderFlag};
use canaryd_kube::lease::LeaseLock;
use serde_json::{json, Value};
use support::mock_client;

const PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/canaryd/leases/canaryd-leader";
const T0: i64 = 1_767_225_600_000;

fn lease(holder: Option<&str>, renewed: &str) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "canaryd-leader", "namespace": "canaryd", "resourceVersion": "77"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15,
                 "acquireTime": "2026-01-01T00:00:00.000000Z",
                 "renewTime": renewed, "leaseTransitions": 2}
    })
}

fn election(client: kube::Client, flag: &LeaderFlag, metrics: &Arc<ControllerMetrics>) -> Election {
    let lock = LeaseLock::new(
        client,
        "canaryd",
        "canaryd-leader",
        "pod-b",
        Duration::from_secs(15),
    );
    Election::new(lock, flag.clone(), metrics.clone())
}

#[tokio::test(start_paused = true)]
async fn a_live_lease_keeps_us_a_follower_without_writing() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server
            .expect("GET", PATH)
            .await
            .ok(lease(Some("pod-a"), "2026-01-01T00:00:05.000000Z"));
        server.done().await;
    });
    let flag = LeaderFlag::new(false);
    let metrics = Arc::new(ControllerMetrics::default());
    let e = election(client, &flag, &metrics);
    assert!(!e.round(Timestamp(T0 + 10_000)).await);
    assert!(!flag.is_leader());
    assert!(metrics.render().contains("canaryd_controller_is_leader 0"));
    drop(e);
    api.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_expired_lease_is_taken_once_then_renewed_then_released() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        // Round 1: pod-a stopped renewing 20 s ago: take over.
        server
            .expect("GET", PATH)
            .await
            .ok(lease(Some("pod-a"), "2026-01-01T00:00:00.000000Z"));
        let put = server.expect("PUT", PATH).await;
        assert_eq!(put.body["spec"]["holderIdentity"], "pod-b");
        assert_eq!(put.body["spec"]["leaseTransitions"], 3);
        let ours = put.body.clone();
        put.ok(ours.clone());
        // Round 2: ours, renewed.
        server.expect("GET", PATH).await.ok(ours.clone());
        let renew = server.expect("PUT", PATH).await;
        assert_eq!(renew.body["spec"]["holderIdentity"], "pod-b");
        assert_eq!(
            renew.body["spec"]["leaseTransitions"], 3,
            "a renewal is no transition"
        );
        let ours = renew.body.clone();
        renew.ok(ours.clone());
        // Stop: released, so a standby need not wait 15 s.
        server.expect("GET", PATH).await.ok(ours);
        let release = server.expect("PUT", PATH).await;
        assert_eq!(release.body["spec"].get("holderIdentity"), None);
        let body = release.body.clone();
        release.ok(body);
        server.done().await;
    });
    let flag = LeaderFlag::new(false);
    let metrics = Arc::new(ControllerMetrics::default());
    let e = election(client, &flag, &metrics);
    assert!(
        e.round(Timestamp(T0 + 20_000)).await,
        "became leader: reconcile all"
    );
    assert!(flag.is_leader());
    assert!(metrics.render().contains("canaryd_controller_is_leader 1"));
    assert!(
        !e.round(Timestamp(T0 + 25_000)).await,
        "still leader: nothing new"
    );
    assert!(flag.is_leader());
    e.resign().await;
    assert!(!flag.is_leader());
    assert!(metrics.render().contains("canaryd_controller_is_leader 0"));
    drop(e);
    api.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_leader_that_cannot_renew_steps_down_before_the_lease_expires() {
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server
            .expect("GET", PATH)
            .await
            .ok(lease(Some("pod-b"), "2026-01-01T00:00:00.000000Z"));
        let put = server.expect("PUT", PATH).await;
        let body = put.body.clone();
        put.ok(body);
        for _ in 0..2 {
            server
                .expect("GET", PATH)
                .await
                .fail(503, "ServiceUnavailable");
        }
        server.done().await;
    });
    let flag = LeaderFlag::new(false);
    let metrics = Arc::new(ControllerMetrics::default());
    let e = election(client, &flag, &metrics);
    assert!(e.round(Timestamp(T0)).await);
    // 5 s later: a blip, the Lease still covers it.
    assert!(!e.round(Timestamp(T0 + 5_000)).await);
    assert!(flag.is_leader());
    // 10 s without renewal (of 15): stop before a standby may take over.
    assert!(!e.round(Timestamp(T0 + 10_000)).await);
    assert!(!flag.is_leader());
    drop(e);
    api.await.unwrap();
}
