//! The open-loop load generator against the sample app on loopback.

use canaryd_sim::load::{self, LoadConfig};
use canaryd_sim::{Faults, LatencyDist, SampleApp, SampleAppConfig};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_the_planned_schedule_and_counts_answers() {
    let app = SampleApp::start(SampleAppConfig::new("v1")).await.unwrap();
    let cfg = LoadConfig::new(app.url(), 200.0, Duration::from_secs(1));
    let report = load::start(cfg).unwrap().wait().await;
    let c = &report.counters;
    assert_eq!(report.planned, 200);
    assert_eq!(c.scheduled, 200);
    assert_eq!(c.sent + c.dropped, 200);
    assert_eq!(c.dropped, 0);
    assert_eq!(c.ok, 200);
    assert_eq!(c.errors, 0);
    assert_eq!(c.in_flight, 0);
    assert_eq!(c.by_version.get("v1"), Some(&200));
    assert_eq!(app.requests_received(), 200);
    assert!(report.p50_ms.is_some() && report.p99_ms >= report.p50_ms);
    let text = report.to_string();
    assert!(text.contains("sent 200 ok 200 errors 0"), "{text}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_does_not_slow_the_schedule() {
    // 300 ms per answer: a closed-loop client with one connection would send
    // ~4 requests in a second; the open-loop schedule sends all 50.
    let mut app_cfg = SampleAppConfig::new("slow");
    app_cfg.faults.latency_ms = LatencyDist::Fixed(300.0);
    let app = SampleApp::start(app_cfg).await.unwrap();
    let mut cfg = LoadConfig::new(app.url(), 50.0, Duration::from_secs(1));
    cfg.mix = "GET /pay".parse().unwrap();
    let h = load::start(cfg).unwrap();
    let report = h.wait().await;
    assert_eq!(report.counters.sent, 50);
    assert_eq!(report.counters.ok, 50);
    // Latency includes the 300 ms the server took.
    assert!(report.p50_ms.unwrap() >= 300.0, "{report}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_in_flight_cap_requests_are_dropped_and_counted() {
    let mut app_cfg = SampleAppConfig::new("slow");
    app_cfg.faults.latency_ms = LatencyDist::Fixed(500.0);
    let app = SampleApp::start(app_cfg).await.unwrap();
    let mut cfg = LoadConfig::new(app.url(), 100.0, Duration::from_millis(500));
    cfg.max_in_flight = 5;
    let report = load::start(cfg).unwrap().wait().await;
    let c = &report.counters;
    assert_eq!(c.sent + c.dropped, 50);
    // 5 in flight for ≥ 500 ms each: within the 500 ms schedule at most 5 can be sent.
    assert_eq!(c.sent, 5, "{report}");
    assert_eq!(c.dropped, 45);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_unreachable_targets_are_counted() {
    let mut app_cfg = SampleAppConfig::new("bad");
    app_cfg.faults = Faults {
        error_rate: 1.0,
        ..Faults::default()
    };
    let app = SampleApp::start(app_cfg).await.unwrap();
    let r = load::start(LoadConfig::new(
        app.url(),
        100.0,
        Duration::from_millis(300),
    ))
    .unwrap()
    .wait()
    .await;
    assert_eq!(
        (r.counters.sent, r.counters.errors, r.counters.ok),
        (30, 30, 0)
    );
    let addr = app.addr();
    app.shutdown().await;
    // Nothing listens there any more: connection refused, counted as errors.
    let r = load::start(LoadConfig::new(
        format!("http://{addr}"),
        100.0,
        Duration::from_millis(100),
    ))
    .unwrap()
    .wait()
    .await;
    assert_eq!((r.counters.sent, r.counters.errors), (10, 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_the_schedule_early() {
    let app = SampleApp::start(SampleAppConfig::new("v1")).await.unwrap();
    let h = load::start(LoadConfig::new(app.url(), 100.0, Duration::from_secs(60))).unwrap();
    while h.counters().ok < 10 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let r = h.stop().await;
    assert!(r.counters.sent < 6000 && r.counters.sent >= 10, "{r}");
    assert_eq!(r.counters.in_flight, 0);
    assert!(load::start(LoadConfig::new("ftp://x", 1.0, Duration::from_secs(1))).is_err());
    assert!(load::start(LoadConfig::new(app.url(), 0.0, Duration::from_secs(1))).is_err());
    app.shutdown().await;
}
