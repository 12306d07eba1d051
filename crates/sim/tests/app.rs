//! The sample app over real sockets on loopback: routes, faults, metrics.

use bytes::Bytes;
use canaryd_sim::{Faults, LatencyDist, SampleApp, SampleAppConfig};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

type C = Client<HttpConnector, Full<Bytes>>;

fn client() -> C {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn call(
    c: &C,
    method: Method,
    url: &str,
    body: &str,
) -> (StatusCode, http::HeaderMap, String) {
    let req = Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(10), c.request(req))
        .await
        .expect("answered within 10 s")
        .unwrap();
    let (parts, b) = resp.into_parts();
    let b = b.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&b).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_answer_with_version_and_metrics_count_them() {
    let app = SampleApp::start(SampleAppConfig::new("v1")).await.unwrap();
    let c = client();
    let u = app.url();
    let (s, h, b) = call(&c, Method::GET, &format!("{u}/pay"), "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["x-canaryd-version"], "v1");
    assert!(b.contains("\"version\":\"v1\""), "{b}");
    let (s, _, b) = call(&c, Method::POST, &format!("{u}/pay"), "{\"amount\":1}").await;
    assert_eq!(s, StatusCode::OK);
    assert!(b.contains("\"bytes\":12"), "{b}");
    for id in 0..3 {
        let (s, _, _) = call(&c, Method::GET, &format!("{u}/items/{id}"), "").await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, _, _) = call(&c, Method::GET, &format!("{u}/nope"), "").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(app.requests_received(), 5);

    let (s, _, m) = call(&c, Method::GET, &format!("{u}/metrics"), "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        m.contains(
            r#"http_requests_total{route="/items/{id}",method="GET",status="200",version="v1"} 3"#
        ),
        "{m}"
    );
    assert!(m.contains(
        r#"http_request_duration_seconds_count{route="/pay",method="POST",version="v1"} 1"#
    ));
    assert!(m.contains(r#"http_request_duration_seconds_bucket{route="/pay",method="GET",version="v1",le="+Inf"} 1"#));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_rate_one_fails_every_request_and_zero_none() {
    let app = SampleApp::start(SampleAppConfig::new("v2")).await.unwrap();
    let c = client();
    let u = app.url();
    let (s, _, b) = call(
        &c,
        Method::POST,
        &format!("{u}/admin/faults"),
        r#"{"error_rate": 1.0}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    for _ in 0..20 {
        let (s, _, _) = call(&c, Method::GET, &format!("{u}/pay"), "").await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    }
    // Health stays up: an erroring app is not a partitioned one.
    let (s, _, _) = call(&c, Method::GET, &format!("{u}/healthz"), "").await;
    assert_eq!(s, StatusCode::OK);
    app.set_faults(Faults::default()).unwrap();
    for _ in 0..20 {
        let (s, _, _) = call(&c, Method::GET, &format!("{u}/items/9"), "").await;
        assert_eq!(s, StatusCode::OK);
    }
    assert!(app
        .metrics_text()
        .contains(r#"status="500",version="v2"} 20"#));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_rejects_bad_faults_and_keeps_the_old_ones() {
    let app = SampleApp::start(SampleAppConfig::new("v1")).await.unwrap();
    let c = client();
    let u = format!("{}/admin/faults", app.url());
    for bad in [
        r#"{"error_rate": 2}"#,
        r#"{"latency_ms": "gauss:1"}"#,
        r#"{"nope": 1}"#,
        "not json",
    ] {
        let (s, _, b) = call(&c, Method::POST, &u, bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad} → {b}");
    }
    assert_eq!(app.faults(), Faults::default());
    let (s, _, b) = call(
        &c,
        Method::POST,
        &u,
        r#"{"latency_ms": {"p50": 40, "p99": 300}}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(b.contains("lognormal:40,300"), "{b}");
    assert!(app
        .set_faults(Faults {
            error_rate: -0.1,
            ..Faults::default()
        })
        .is_err());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_latency_is_at_least_the_fixed_delay() {
    let mut cfg = SampleAppConfig::new("slow");
    cfg.faults.latency_ms = LatencyDist::Fixed(50.0);
    let app = SampleApp::start(cfg).await.unwrap();
    let c = client();
    for _ in 0..5 {
        call(&c, Method::GET, &format!("{}/pay", app.url()), "").await;
    }
    let m = app.metrics_text();
    // Every request slept 50 ms, so none can be in the ≤ 25 ms bucket.
    assert!(m.contains(r#"http_request_duration_seconds_bucket{route="/pay",method="GET",version="slow",le="0.025"} 0"#), "{m}");
    assert!(m.contains(
        r#"http_request_duration_seconds_count{route="/pay",method="GET",version="slow"} 5"#
    ));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_stops_answering_health_until_cleared() {
    let app = SampleApp::start(SampleAppConfig::new("v1")).await.unwrap();
    let c = client();
    let health = format!("{}/healthz", app.url());
    app.patch_faults(&canaryd_sim::FaultsPatch {
        down: Some(true),
        ..Default::default()
    })
    .unwrap();
    let req = Request::get(&health).body(Full::new(Bytes::new())).unwrap();
    let r = tokio::time::timeout(Duration::from_millis(300), c.request(req)).await;
    assert!(r.is_err(), "a down app must not answer its health check");
    assert_eq!(app.health_checks_received(), 1);
    // The admin endpoint still works, and clearing `down` brings health back.
    let (s, _, _) = call(
        &c,
        Method::POST,
        &format!("{}/admin/faults", app.url()),
        r#"{"down": false}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, b) = call(&c, Method::GET, &health, "").await;
    assert_eq!((s, b.as_str()), (StatusCode::OK, "ok\n"));
    app.shutdown().await;
}
