//! What a front door does when things go wrong: 502, 504, 413, graceful
//! shutdown; and how each is counted.

mod common;

use canaryd_core::vocab::{Route, Timestamp};
use canaryd_proxy::{Router, RouterConfig};
use canaryd_sim::{Faults, LatencyDist, SampleApp, SampleAppConfig};
use common::{call, empty, full, wait_until, Chunks, Rig};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;
use std::time::Duration;

/// The router is the data path: the 502s users got from a dead canary are
/// errors of the canary's cohort in a window that can be judged (a breach),
/// not a blind spot. (Before: the window was `Unhealthy`, the rollout paused.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_canary_is_502_an_error_in_a_judged_window() {
    let rig = Rig::start().await;
    let mut src = rig.router.metrics_source();
    rig.canary.shutdown().await; // nothing listens on the canary port any more
    rig.router.promote();
    for _ in 0..5 {
        assert_eq!(rig.get("/pay").await.status, StatusCode::BAD_GATEWAY);
    }
    rig.settle(5).await;
    let w = src.take_window(Timestamp(0), Timestamp(1));
    let c = w.routes[&Route::from("GET /pay")].canary.clone().unwrap();
    assert_eq!((c.requests, c.errors), (5, 5));
    assert_eq!(
        w.collectors,
        canaryd_core::observation::CollectorHealth::Healthy,
        "what users got is judged"
    );
    assert!(rig
        .router
        .metrics_text()
        .contains(r#"canaryd_proxy_upstream_failures_total{cohort="canary",kind="connect"} 5"#));
    rig.stop().await;
}

/// A dead STABLE upstream is not the canary's fault: the window cannot be
/// judged, and the reason names stable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_stable_is_not_blamed_on_the_canary() {
    let rig = Rig::start().await;
    let mut src = rig.router.metrics_source();
    rig.stable.shutdown().await;
    for _ in 0..3 {
        assert_eq!(rig.get("/pay").await.status, StatusCode::BAD_GATEWAY);
    }
    rig.settle(3).await;
    let w = src.take_window(Timestamp(0), Timestamp(1));
    let b = w.routes[&Route::from("GET /pay")].baseline.clone().unwrap();
    assert_eq!((b.requests, b.errors), (3, 3));
    match &w.collectors {
        canaryd_core::observation::CollectorHealth::Unhealthy(why) => {
            assert!(
                why.contains("STABLE") && why.contains("not the canary"),
                "{why}"
            )
        }
        h => panic!("expected an unjudgeable window, got {h:?}"),
    }
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_upstream_is_504_and_an_error() {
    let rig = Rig::start_with(|c| c.upstream_timeout = Duration::from_millis(200)).await;
    rig.canary
        .set_faults(Faults {
            latency_ms: LatencyDist::Fixed(5_000.0),
            ..Faults::default()
        })
        .unwrap();
    let mut src = rig.router.metrics_source();
    rig.router.promote();
    for _ in 0..3 {
        assert_eq!(rig.get("/pay").await.status, StatusCode::GATEWAY_TIMEOUT);
    }
    rig.router.roll_back();
    assert_eq!(rig.get("/pay").await.status, StatusCode::OK);
    rig.settle(4).await;
    let w = src.take_window(Timestamp(0), Timestamp(1));
    let rw = &w.routes[&Route::from("GET /pay")];
    let (c, b) = (rw.canary.clone().unwrap(), rw.baseline.clone().unwrap());
    assert_eq!((c.requests, c.errors), (3, 3));
    assert_eq!((b.requests, b.errors), (1, 0));
    assert!(rig
        .router
        .metrics_text()
        .contains(r#"canaryd_proxy_upstream_failures_total{cohort="canary",kind="timeout"} 3"#));
    rig.canary.set_faults(Faults::default()).unwrap();
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_get_413_and_do_not_count_against_a_cohort() {
    let rig = Rig::start_with(|c| c.max_body_bytes = 1024).await;
    let mut src = rig.router.metrics_source();
    // Declared too large: refused before the split.
    let a = call(
        &rig.client,
        Method::POST,
        &rig.url("/pay"),
        full(vec![b'x'; 2000]),
        HeaderMap::new(),
    )
    .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Streamed (chunked, no length): refused once the limit is crossed.
    let body = Chunks {
        sent: 0,
        total: 64 * 1024,
        chunk: 512,
    }
    .boxed_unsync();
    let a = call(
        &rig.client,
        Method::POST,
        &rig.url("/pay"),
        body,
        HeaderMap::new(),
    )
    .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Under the limit: fine.
    let a = call(
        &rig.client,
        Method::POST,
        &rig.url("/pay"),
        full(vec![b'x'; 1000]),
        HeaderMap::new(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.text().contains("\"bytes\":1000"), "{}", a.text());
    rig.settle(1).await;
    assert_eq!(rig.router.rejected_too_large(), 2);
    let w = src.take_window(Timestamp(0), Timestamp(1));
    let b = w.routes[&Route::from("POST /pay")]
        .baseline
        .clone()
        .unwrap();
    assert_eq!((b.requests, b.errors), (1, 0));
    assert!(rig
        .router
        .metrics_text()
        .contains(r#"canaryd_proxy_rejected_total{reason="body_too_large"} 2"#));
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_5xx_counts_as_error_for_its_cohort_only() {
    let rig = Rig::start().await;
    rig.canary
        .set_faults(Faults {
            error_rate: 1.0,
            ..Faults::default()
        })
        .unwrap();
    rig.router.set_weight(50).unwrap();
    let mut src = rig.router.metrics_source();
    let mut fivexx = 0;
    for _ in 0..200 {
        let a = rig.get("/pay").await;
        if a.status.is_server_error() {
            assert_eq!(a.version(), "v2");
            fivexx += 1;
        }
    }
    rig.settle(200).await;
    let w = src.take_window(Timestamp(0), Timestamp(1));
    let rw = &w.routes[&Route::from("GET /pay")];
    let (c, b) = (rw.canary.clone().unwrap(), rw.baseline.clone().unwrap());
    assert_eq!(c.errors, fivexx);
    assert_eq!(c.requests, fivexx);
    assert_eq!(b.errors, 0);
    assert_eq!(b.requests, 200 - fivexx);
    assert_eq!(
        w.collectors,
        canaryd_core::observation::CollectorHealth::Healthy
    );
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_in_flight_requests_then_refuses_new_ones() {
    let mut slow = SampleAppConfig::new("v1");
    slow.faults.latency_ms = LatencyDist::Fixed(400.0);
    let stable = SampleApp::start(slow).await.unwrap();
    let canary = SampleApp::start(SampleAppConfig::new("v2")).await.unwrap();
    let cfg = RouterConfig::from_urls(&stable.url(), &canary.url()).unwrap();
    let router = Router::start(cfg).await.unwrap();
    let url = format!("{}/pay", router.url());
    let c = common::client();
    let inflight = tokio::spawn({
        let (c, url) = (c.clone(), url.clone());
        async move { call(&c, Method::GET, &url, empty(), HeaderMap::new()).await }
    });
    let s = stable.clone();
    wait_until("request reached stable", move || s.requests_received() == 1).await;
    router.shutdown().await;
    let a = inflight.await.unwrap();
    assert_eq!(a.status, StatusCode::OK, "in-flight request was cut");
    let req = http::Request::get(&url).body(empty()).unwrap();
    let fresh = common::client();
    let r = tokio::time::timeout(Duration::from_secs(5), fresh.request(req))
        .await
        .unwrap();
    assert!(r.is_err(), "a stopped router accepted a new connection");
    stable.shutdown().await;
    canary.shutdown().await;
}
