//! The whole loop against an API server that answers in any order (the
//! watches and the election run concurrently): it takes the Lease, lists
//! and watches, reconciles the Canary it finds, turns ready, and on stop
//! finishes and hands the Lease back.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use canaryd_kube::controller::{run, LeaseConfig, ReconcileResult, RunConfig, Scope};
use http::{Request, Response};
use kube::client::Body;
use serde_json::{json, Value};
use support::canary::*;
use support::{json_response, mock_client};
use tokio::sync::{oneshot, watch};
use tower_test::mock::Handle;

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/shop/leases";

#[derive(Default)]
struct Seen {
    requests: Vec<String>,
    lease: Option<Value>,
}

fn invalid_canary() -> Value {
    json!({"apiVersion": "canaryd.io/v1alpha1", "kind": "Canary",
           "metadata": {"name": "web", "namespace": "shop", "uid": "uid-canary",
                        "generation": 1, "resourceVersion": "3"},
           "spec": {"target": {"stable": "web", "canary": "web-canary"},
                    "policy": {"inline": "window: [not a duration"}}})
}

async fn api_server(
    mut handle: Handle<Request<Body>, Response<Body>>,
    seen: Arc<Mutex<Seen>>,
    status_written: oneshot::Sender<Value>,
) {
    let mut status_written = Some(status_written);
    // Watches stay open, unanswered: nothing changes in this cluster.
    let mut watches = Vec::new();
    while let Some((req, reply)) = handle.next_request().await {
        let method = req.method().to_string();
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or("").to_string();
        let bytes = req.into_body().collect_bytes().await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        seen.lock()
            .unwrap()
            .requests
            .push(format!("{method} {path} {query}"));
        if query.contains("watch=true") {
            watches.push(reply);
            continue;
        }
        let lease_path = format!("{LEASES}/canaryd-leader");
        let answer = match (method.as_str(), path.as_str()) {
            ("GET", "/apis/canaryd.io/v1alpha1/namespaces/shop/canaries") => json_response(
                200,
                &json!({"apiVersion": "canaryd.io/v1alpha1", "kind": "CanaryList",
                        "metadata": {"resourceVersion": "3"}, "items": [invalid_canary()]}),
            ),
            ("GET", "/apis/apps/v1/namespaces/shop/deployments") => json_response(
                200,
                &json!({"apiVersion": "apps/v1", "kind": "DeploymentList",
                        "metadata": {"resourceVersion": "3"}, "items": []}),
            ),
            ("GET", p) if p == lease_path => match seen.lock().unwrap().lease.clone() {
                Some(l) => json_response(200, &l),
                None => json_response(
                    404,
                    &json!({"kind": "Status", "code": 404, "reason": "NotFound"}),
                ),
            },
            ("POST", LEASES) | ("PUT", _) if path.starts_with(LEASES) => {
                let mut l = body.clone();
                l["metadata"]["resourceVersion"] = json!("9");
                seen.lock().unwrap().lease = Some(l.clone());
                json_response(if method == "POST" { 201 } else { 200 }, &l)
            }
            ("PATCH", CANARY_STATUS) => {
                if let Some(tx) = status_written.take() {
                    let _ = tx.send(body.clone());
                }
                let mut c = invalid_canary();
                c["status"] = body["status"].clone();
                json_response(200, &c)
            }
            ("POST", EVENTS) => json_response(201, &body),
            _ => json_response(
                404,
                &json!({"kind": "Status", "code": 404, "reason": "NotFound"}),
            ),
        };
        reply.send_response(answer);
    }
}

#[tokio::test]
async fn the_loop_leads_reconciles_and_hands_the_lease_back_on_stop() {
    let dir = tempfile::tempdir().unwrap();
    let (client, server) = mock_client();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (status_tx, status_rx) = oneshot::channel();
    tokio::spawn(api_server(server.into_handle(), seen.clone(), status_tx));

    let script = Script::new(&[]);
    let ctx = Arc::new(context(
        client,
        &dir.path().join("c.db"),
        &script,
        T0,
        false,
    ));
    let (ready_tx, mut ready_rx) = watch::channel(false);
    let (stop_tx, stop_rx) = watch::channel(false);
    let config = RunConfig {
        scope: Scope::Namespace("shop".into()),
        lease: Some(LeaseConfig {
            namespace: "shop".into(),
            name: "canaryd-leader".into(),
            identity: "pod-a".into(),
            duration: Duration::from_secs(15),
        }),
        concurrency: 2,
    };
    let running = tokio::spawn(run(ctx.clone(), config, ready_tx, stop_rx));

    let status = tokio::time::timeout(Duration::from_secs(10), status_rx)
        .await
        .expect("the Canary was reconciled")
        .unwrap();
    assert_eq!(status["status"]["conditions"][0]["type"], "PolicyValid");
    assert_eq!(status["status"]["conditions"][0]["status"], "False");
    let ready = tokio::time::timeout(Duration::from_secs(3), ready_rx.wait_for(|r| *r)).await;
    assert!(
        ready.is_ok(),
        "not ready after the first list: {:?}",
        seen.lock().unwrap().requests
    );
    assert!(ctx.leader.is_leader());
    let lease = seen.lock().unwrap().lease.clone().unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "pod-a");
    let metrics = ctx.metrics.render();
    assert!(
        metrics.contains("canaryd_controller_is_leader 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("canaryd_controller_reconciles_total{result=\"ok\"} 1"),
        "{metrics}"
    );

    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the loop stops")
        .unwrap()
        .unwrap();
    assert!(!ctx.leader.is_leader());
    let lease = seen.lock().unwrap().lease.clone().unwrap();
    assert_eq!(
        lease["spec"].get("holderIdentity"),
        None,
        "released: {lease}"
    );
    let requests = seen.lock().unwrap().requests.clone();
    assert!(
        requests.iter().any(
            |r| r.starts_with("GET /apis/apps/v1/namespaces/shop/deployments ")
                && r.contains("watch=true")
        ),
        "Deployments are watched: {requests:?}"
    );
    assert!(
        !requests
            .iter()
            .any(|r| r.starts_with("GET /apis/apps/v1/namespaces/shop/deployments/")),
        "an invalid policy reads no target: {requests:?}"
    );
}

#[tokio::test]
async fn a_follower_watches_but_never_writes_and_leaves_the_lease_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (client, server) = mock_client();
    let seen = Arc::new(Mutex::new(Seen::default()));
    // pod-x renewed its Lease just now (the fixed clock's T0).
    seen.lock().unwrap().lease = Some(json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "canaryd-leader", "namespace": "shop", "resourceVersion": "4"},
        "spec": {"holderIdentity": "pod-x", "leaseDurationSeconds": 15,
                 "acquireTime": "2026-01-01T00:00:00.000000Z",
                 "renewTime": "2026-01-01T00:00:00.000000Z", "leaseTransitions": 1}
    }));
    let (status_tx, mut status_rx) = oneshot::channel();
    tokio::spawn(api_server(server.into_handle(), seen.clone(), status_tx));

    let script = Script::new(&[]);
    let ctx = Arc::new(context(
        client,
        &dir.path().join("c.db"),
        &script,
        T0,
        false,
    ));
    let (ready_tx, mut ready_rx) = watch::channel(false);
    let (stop_tx, stop_rx) = watch::channel(false);
    let config = RunConfig {
        scope: Scope::Namespace("shop".into()),
        lease: Some(LeaseConfig {
            namespace: "shop".into(),
            name: "canaryd-leader".into(),
            identity: "pod-a".into(),
            duration: Duration::from_secs(15),
        }),
        concurrency: 2,
    };
    let running = tokio::spawn(run(ctx.clone(), config, ready_tx, stop_rx));
    tokio::time::timeout(Duration::from_secs(10), ready_rx.wait_for(|r| *r))
        .await
        .expect("a follower is ready too")
        .unwrap();
    // Let the watches start and the Canary be handed to the reconciler.
    let watching = async {
        loop {
            let n = seen
                .lock()
                .unwrap()
                .requests
                .iter()
                .filter(|r| r.contains("watch=true"))
                .count();
            if n >= 2 {
                break;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), watching)
        .await
        .expect("both watches start");
    let skipped = async {
        while ctx.metrics.reconciles(ReconcileResult::Skipped) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), skipped)
        .await
        .expect("the Canary reached the reconciler, which did nothing");
    assert!(!ctx.leader.is_leader());
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the loop stops")
        .unwrap()
        .unwrap();
    assert!(status_rx.try_recv().is_err(), "a follower wrote a status");
    let requests = seen.lock().unwrap().requests.clone();
    let writes: Vec<_> = requests.iter().filter(|r| !r.starts_with("GET ")).collect();
    assert_eq!(writes, Vec::<&String>::new(), "{requests:?}");
    let lease = seen.lock().unwrap().lease.clone().unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "pod-x");
}
