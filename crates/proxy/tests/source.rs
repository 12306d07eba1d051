//! The router as a `MetricsSource`: windows match what was sent, probes make
//! windows unreliable, the baseline comes from stable traffic; and `/metrics`.

mod common;

use canaryd_core::observation::{BaselineStatus, CollectorHealth};
use canaryd_core::vocab::{Cohort, RolloutKey, Route, Timestamp};
use canaryd_ports::MetricsSource;
use canaryd_proxy::RouteTable;
use canaryd_sim::{Faults, FaultsPatch, LatencyDist};
use common::{wait_until, Rig};
use std::collections::BTreeMap;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_counts_match_what_was_sent_and_windows_do_not_overlap() {
    let rig = Rig::start().await;
    let key = RolloutKey::new("shop/pay", "v2");
    let mut src = rig.router.metrics_source();
    rig.router.set_weight(30).unwrap();
    rig.canary
        .set_faults(Faults {
            latency_ms: LatencyDist::Fixed(20.0),
            ..Faults::default()
        })
        .unwrap();
    for i in 0..100 {
        assert_eq!(rig.get("/pay").await.status, 200);
        if i % 2 == 0 {
            rig.get(&format!("/items/{i}")).await;
        }
    }
    rig.settle(150).await;
    let w = src
        .window(&key, 30, Timestamp(1_000), Timestamp(6_000))
        .await
        .unwrap();
    assert_eq!((w.start, w.end), (Timestamp(1_000), Timestamp(6_000)));
    assert_eq!(w.collectors, CollectorHealth::Healthy);
    assert_eq!(
        w.routes.keys().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        ["GET /items/{id}", "GET /pay"]
    );
    let pay = &w.routes[&Route::from("GET /pay")];
    let (c, b) = (pay.canary.clone().unwrap(), pay.baseline.clone().unwrap());
    assert_eq!(c.requests + b.requests, 100);
    let items = &w.routes[&Route::from("GET /items/{id}")];
    let ci = items.canary.clone().unwrap().requests;
    assert_eq!(ci + items.baseline.clone().unwrap().requests, 50);
    assert_eq!(c.requests + ci, rig.router.dispatched(Cohort::Canary));
    assert_eq!(c.requests + ci, rig.canary.requests_received());
    assert_eq!((c.errors, b.errors), (0, 0));
    // Quantiles: ordered, and the canary's include its 20 ms of injected latency.
    let l = c.latency_ms;
    assert!(l.p50.unwrap() >= 19.0, "{l:?}");
    assert!(l.p50 <= l.p95 && l.p95 <= l.p99, "{l:?}");
    assert!(b.latency_ms.p99.unwrap() > 0.0);
    let hist = c.latency_buckets_ms.clone().unwrap();
    assert_eq!(hist.0["+Inf"], c.requests as f64);
    assert_eq!(
        hist.0["10"], 0.0,
        "no canary request can be under its 20 ms delay"
    );
    let q = hist.quantile(0.5).unwrap();
    assert!((10.0..=100.0).contains(&q), "histogram p50 {q}");

    // The next window holds only what came after.
    rig.canary
        .set_faults(Faults {
            error_rate: 1.0,
            ..Faults::default()
        })
        .unwrap();
    for _ in 0..40 {
        rig.get("/pay").await;
    }
    rig.settle(190).await;
    let w2 = src
        .window(&key, 30, Timestamp(6_000), Timestamp(11_000))
        .await
        .unwrap();
    assert_eq!(w2.routes.len(), 1, "items had no traffic in window 2");
    let pay = &w2.routes[&Route::from("GET /pay")];
    let (c2, b2) = (pay.canary.clone().unwrap(), pay.baseline.clone().unwrap());
    assert_eq!(c2.requests + b2.requests, 40);
    assert_eq!(c2.errors, c2.requests);
    assert_eq!(b2.errors, 0);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_canary_probe_makes_the_window_unhealthy_until_it_recovers() {
    let rig = Rig::start().await;
    let key = RolloutKey::new("shop/pay", "v2");
    let r = rig.router.clone();
    wait_until("first probe round", move || r.probe_rounds() >= 1).await;
    let mut src = rig.router.metrics_source();
    let w = src
        .window(&key, 0, Timestamp(0), Timestamp(1))
        .await
        .unwrap();
    assert_eq!(w.collectors, CollectorHealth::Healthy);

    rig.canary
        .patch_faults(&FaultsPatch {
            down: Some(true),
            ..Default::default()
        })
        .unwrap();
    let r = rig.router.clone();
    wait_until("canary probe fails", move || {
        r.probe_failing(Cohort::Canary)
    })
    .await;
    let w = src
        .window(&key, 0, Timestamp(1), Timestamp(2))
        .await
        .unwrap();
    match &w.collectors {
        CollectorHealth::Unhealthy(why) => {
            assert!(
                why.contains("canary") && why.contains("probe") && why.contains("cannot see it"),
                "{why}"
            )
        }
        h => panic!("expected unhealthy, got {h:?}"),
    }
    assert!(rig
        .router
        .metrics_text()
        .contains(r#"canaryd_proxy_probe_up{cohort="canary"} 0"#));

    rig.canary
        .patch_faults(&FaultsPatch {
            down: Some(false),
            ..Default::default()
        })
        .unwrap();
    let r = rig.router.clone();
    wait_until("canary probe ok", move || {
        r.probe(Cohort::Canary).is_some_and(|p| p.ok)
    })
    .await;
    let _ = src
        .window(&key, 0, Timestamp(2), Timestamp(3))
        .await
        .unwrap();
    let (r, n) = (rig.router.clone(), rig.router.probe_rounds());
    wait_until("a clean probe round", move || r.probe_rounds() > n).await;
    let w = src
        .window(&key, 0, Timestamp(3), Timestamp(4))
        .await
        .unwrap();
    assert_eq!(w.collectors, CollectorHealth::Healthy);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_is_missing_until_stable_traffic_is_measured() {
    let rig = Rig::start().await;
    let key = RolloutKey::new("shop/pay", "v2");
    let mut src = rig.router.metrics_source();
    match src.baseline(&key).await.unwrap() {
        BaselineStatus::Missing(why) => assert!(why.contains("stable"), "{why}"),
        b => panic!("expected missing, got {b:?}"),
    }
    for _ in 0..25 {
        rig.get("/pay").await;
    }
    rig.settle(25).await;
    match src.baseline(&key).await.unwrap() {
        BaselineStatus::Available(b) => {
            assert!(b.history_hours > 0.0 && b.history_hours < 1.0);
            assert_eq!(b.routes[&Route::from("GET /pay")].requests, 25);
        }
        b => panic!("expected available, got {b:?}"),
    }
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_cardinality_is_capped() {
    let rig = Rig::start_with(|c| {
        c.routes = RouteTable::from_templates(&["GET /items/{sku}"])
            .unwrap()
            .with_max_routes(3)
    })
    .await;
    let mut src = rig.router.metrics_source();
    for p in ["/items/abc", "/a", "/b", "/c", "/d", "/e", "/items/xyz"] {
        rig.get(p).await;
    }
    rig.settle(7).await;
    let w = src.take_window(Timestamp(0), Timestamp(1));
    let counts: BTreeMap<&str, u64> = w
        .routes
        .iter()
        .map(|(r, rw)| (r.0.as_str(), rw.baseline.as_ref().unwrap().requests))
        .collect();
    assert_eq!(
        counts,
        BTreeMap::from([
            ("GET /a", 1),
            ("GET /b", 1),
            ("GET /items/{sku}", 2),
            ("GET /other", 3)
        ])
    );
    rig.stop().await;
}

/// Parses Prometheus text: every sample line is `name{k="v",...} value`.
fn parse_exposition(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in `{line}`"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad metric name in `{line}`"
        );
        if name_end < series.len() {
            let labels = &series[name_end..];
            assert!(
                labels.starts_with('{') && labels.ends_with('}'),
                "bad labels in `{line}`"
            );
            for kv in labels[1..labels.len() - 1].split("\",") {
                let (k, v) = kv
                    .split_once("=\"")
                    .unwrap_or_else(|| panic!("bad label in `{line}`"));
                assert!(
                    k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line}"
                );
                assert!(!v.trim_end_matches('"').contains('"'), "{line}");
            }
        }
        assert!(
            out.insert(series.to_string(), v).is_none(),
            "duplicate series `{series}`"
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_exposition_parses_and_matches_the_window() {
    let rig = Rig::start().await;
    let mut src = rig.router.metrics_source();
    rig.router.set_weight(50).unwrap();
    for _ in 0..60 {
        rig.get("/pay").await;
    }
    rig.settle(60).await;
    let w = src.take_window(Timestamp(0), Timestamp(1));
    let pay = &w.routes[&Route::from("GET /pay")];
    let admin = rig.router.admin_addr().unwrap();
    let a = common::call(
        &rig.client,
        http::Method::GET,
        &format!("http://{admin}/metrics"),
        common::empty(),
        http::HeaderMap::new(),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["content-type"], "text/plain; version=0.0.4");
    let m = parse_exposition(&a.text());
    for (cohort, obs) in [("canary", &pay.canary), ("baseline", &pay.baseline)] {
        let n = obs.as_ref().unwrap().requests as f64;
        let l = format!("route=\"GET /pay\",cohort=\"{cohort}\"");
        assert_eq!(m[&format!("canaryd_proxy_requests_total{{{l}}}")], n);
        assert_eq!(m[&format!("canaryd_proxy_errors_total{{{l}}}")], 0.0);
        assert_eq!(
            m[&format!("canaryd_proxy_request_duration_seconds_count{{{l}}}")],
            n
        );
        assert_eq!(
            m[&format!("canaryd_proxy_request_duration_seconds_bucket{{{l},le=\"+Inf\"}}")],
            n
        );
        let b1 = m[&format!("canaryd_proxy_request_duration_seconds_bucket{{{l},le=\"0.001\"}}")];
        let b30 = m[&format!("canaryd_proxy_request_duration_seconds_bucket{{{l},le=\"30\"}}")];
        assert!(b1 <= b30 && b30 <= n);
    }
    assert_eq!(m["canaryd_proxy_canary_weight"], 50.0);
    assert_eq!(
        m["canaryd_proxy_dispatched_total{cohort=\"canary\"}"],
        rig.router.canary_requests() as f64
    );
    // The admin listener does not proxy.
    let nf = common::call(
        &rig.client,
        http::Method::GET,
        &format!("http://{admin}/pay"),
        common::empty(),
        http::HeaderMap::new(),
    )
    .await;
    assert_eq!(nf.status, 404);
    rig.stop().await;
}

/// Probes of BOTH upstreams timing out in the same round say this observer
/// is slow (a starved process on a busy machine), not that the canary is
/// partitioned: those rounds are set aside and the window stays judgeable.
/// (Before: every timeout counted, and a loaded machine paused demos as a
/// "partition".)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_upstreams_slow_is_the_observer_not_a_partition() {
    let rig = Rig::start().await;
    let key = RolloutKey::new("shop/pay", "v2");
    let r = rig.router.clone();
    wait_until("first probe round", move || r.probe_rounds() >= 1).await;
    let mut src = rig.router.metrics_source();
    for app in [&rig.stable, &rig.canary] {
        app.patch_faults(&FaultsPatch {
            down: Some(true),
            ..Default::default()
        })
        .unwrap();
    }
    let r = rig.router.clone();
    wait_until("two rounds set aside", move || {
        r.starved_probe_rounds() >= 2
    })
    .await;
    assert!(!rig.router.probe_failing(Cohort::Canary));
    assert!(!rig.router.probe_failing(Cohort::Baseline));
    let w = src
        .window(&key, 0, Timestamp(0), Timestamp(1))
        .await
        .unwrap();
    assert_eq!(w.collectors, CollectorHealth::Healthy, "{w:?}");
    for app in [&rig.stable, &rig.canary] {
        app.patch_faults(&FaultsPatch {
            down: Some(false),
            ..Default::default()
        })
        .unwrap();
    }
    rig.stop().await;
}
