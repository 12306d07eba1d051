//! The Prometheus source against a real Prometheus (Debian's package) scraping
//! two sample apps on loopback: stable `version="v1"`, canary `version="v2"`.
//!
//! Counts are checked against the apps' own counters with the tolerance that
//! `increase()` implies: the traffic runs strictly inside the window with flat
//! counters at both edges, so the samples inside the window see exactly the
//! apps' delta `D`, and Prometheus' extrapolation to the window edges (at most
//! one scrape interval at each end) can only scale it up, by at most
//! `W / (W - 2 × scrape)`.
//!
//! These tests run real processes in real time; nextest runs them one at a
//! time (`.config/nextest.toml`, group `live-demo`).

use canaryd_core::observation::{BaselineStatus, CollectorHealth, Window};
use canaryd_core::vocab::{RolloutKey, Route, Timestamp};
use canaryd_ports::MetricsSource;
use canaryd_sim::prometheus::PrometheusServer;
use canaryd_sim::{load, Faults, LoadConfig, SampleApp, SampleAppConfig};
use canaryd_sources::prometheus::baseline::baseline;
use canaryd_sources::prometheus::client::PromClient;
use canaryd_sources::prometheus::config::PrometheusConfig;
use canaryd_sources::prometheus::source::PrometheusSource;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SCRAPE: Duration = Duration::from_secs(1);

fn now() -> Timestamp {
    Timestamp(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    )
}

struct Env {
    stable: SampleApp,
    canary: SampleApp,
    prom: PrometheusServer,
}

async fn env(canary_error_rate: f64) -> Env {
    let stable = SampleApp::start(SampleAppConfig::new("v1")).await.unwrap();
    let mut cfg = SampleAppConfig::new("v2");
    cfg.faults = Faults {
        error_rate: canary_error_rate,
        ..Faults::default()
    };
    let canary = SampleApp::start(cfg).await.unwrap();
    let prom = PrometheusServer::start(&[stable.addr(), canary.addr()], SCRAPE)
        .await
        .unwrap();
    Env {
        stable,
        canary,
        prom,
    }
}

fn source(e: &Env, revision: &str) -> PrometheusSource<PromClient> {
    let yaml = format!(
        "url: {}\nbaseline: v1\ntimeout: 5s\nretries: 0\nup:\n  targets: 'instance=\"{}\"'\n  scrape_interval: 1s\nprobe:\n  urls: ['{}/healthz']\n  timeout: 1s\n",
        e.prom.url(),
        e.canary.addr(),
        e.canary.url()
    );
    let cfg: PrometheusConfig = serde_saphyr::from_str(&yaml).unwrap();
    let client = PromClient::new(cfg.client_config()).unwrap();
    PrometheusSource::new(
        cfg.plan().unwrap(),
        client,
        RolloutKey::new("pay", revision),
    )
}

/// Per route key ("GET /pay"): (requests, 5xx) from an app's own /metrics.
fn counters(app: &SampleApp) -> BTreeMap<String, (u64, u64)> {
    let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for line in app.metrics_text().lines() {
        let Some(rest) = line.strip_prefix("http_requests_total{") else {
            continue;
        };
        let (labels, value) = rest.rsplit_once("} ").unwrap();
        let get = |k: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{k}=\"")))
                .map(|v| v.trim_end_matches('"').to_string())
                .unwrap()
        };
        let n: u64 = value.trim().parse().unwrap();
        let e = out
            .entry(format!("{} {}", get("method"), get("route")))
            .or_default();
        e.0 += n;
        if get("status").starts_with('5') {
            e.1 += n;
        }
    }
    out
}

async fn traffic(app: &SampleApp, rps: f64, secs: u64) {
    load::start(LoadConfig::new(app.url(), rps, Duration::from_secs(secs)))
        .unwrap()
        .wait()
        .await;
}

/// Runs traffic to both apps strictly inside a window whose edges are flat.
/// Returns the window bounds and each app's counter deltas.
async fn measured_window(
    e: &Env,
) -> (
    Timestamp,
    Timestamp,
    BTreeMap<String, (u64, u64)>,
    BTreeMap<String, (u64, u64)>,
) {
    // Every route's series, 5xx ones included, must exist before the window
    // (a series born inside it loses its first count to `increase()`), and
    // counters must be flat at its start.
    for _ in 0..10 {
        let (st, ca) = (counters(&e.stable), counters(&e.canary));
        let errors_seen = e.canary.faults().error_rate == 0.0 || ca.values().all(|c| c.1 > 0);
        if st.len() >= 3 && ca.len() >= 3 && errors_seen {
            break;
        }
        tokio::join!(traffic(&e.stable, 20.0, 1), traffic(&e.canary, 20.0, 1));
    }
    tokio::time::sleep(SCRAPE * 3).await;
    let (s0, c0) = (counters(&e.stable), counters(&e.canary));
    let start = now();
    // A flat scrape inside the window before the traffic starts.
    tokio::time::sleep(SCRAPE * 2).await;
    tokio::join!(traffic(&e.stable, 60.0, 3), traffic(&e.canary, 40.0, 3));
    tokio::time::sleep(SCRAPE * 3).await;
    let end = now();
    let (s1, c1) = (counters(&e.stable), counters(&e.canary));
    // Let Prometheus ingest the scrape that follows `end`.
    tokio::time::sleep(SCRAPE * 2).await;
    let delta = |a: &BTreeMap<String, (u64, u64)>, b: BTreeMap<String, (u64, u64)>| {
        b.into_iter()
            .map(|(k, (r, er))| {
                let (r0, e0) = a.get(&k).copied().unwrap_or_default();
                (k, (r - r0, er - e0))
            })
            .collect()
    };
    (start, end, delta(&s0, s1), delta(&c0, c1))
}

/// `increase()` of an exact delta `d` over window `w` with flat edges.
fn assert_within(what: &str, got: u64, d: u64, w: Duration) {
    let w = w.as_secs_f64();
    let max = (d as f64 * w / (w - 2.0 * SCRAPE.as_secs_f64())).ceil() as u64;
    assert!(
        d <= got && got <= max,
        "{what}: Prometheus read {got}, the app counted {d} (allowed {d}..={max})"
    );
}

fn check_cohort(w: &Window, canary: bool, truth: &BTreeMap<String, (u64, u64)>) {
    let len = w.end.since(w.start);
    for (route, (d, de)) in truth {
        if *d == 0 {
            continue;
        }
        let rw = &w.routes[&Route(route.clone())];
        let o = if canary { &rw.canary } else { &rw.baseline };
        let o = o
            .as_ref()
            .unwrap_or_else(|| panic!("no observation for {route}"));
        assert_within(&format!("{route} requests"), o.requests, *d, len);
        if *de == 0 {
            assert_eq!(o.errors, 0, "{route}");
        } else {
            assert_within(&format!("{route} errors"), o.errors, *de, len);
        }
        let h = o.latency_buckets_ms.as_ref().expect("latency buckets");
        assert_within(
            &format!("{route} +Inf bucket"),
            h.0["+Inf"].round() as u64,
            *d,
            len,
        );
        assert!(o.latency_ms.p99.is_some(), "{route}: p99 from the buckets");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_read_what_the_apps_counted() {
    let e = env(0.3).await;
    let mut src = source(&e, "v2");
    let (start, end, stable, canary) = measured_window(&e).await;
    assert!(
        canary.values().map(|c| c.1).sum::<u64>() > 0,
        "faults injected errors"
    );
    let key = src.key().clone();
    let w = src.window(&key, 20, start, end).await.unwrap();
    assert_eq!(w.collectors, CollectorHealth::Healthy);
    assert!(w.gaps.is_empty(), "{:?}", w.gaps);
    check_cohort(&w, true, &canary);
    check_cohort(&w, false, &stable);

    // A canary revision nobody runs: a gap naming the selector, no canary numbers.
    let mut ghost = source(&e, "v9");
    let key = ghost.key().clone();
    let w = ghost.window(&key, 20, start, end).await.unwrap();
    assert!(
        w.gaps
            .iter()
            .any(|g| g
                == "canary selector `version=\"v9\"` matched no series for `http_requests_total`"),
        "{:?}",
        w.gaps
    );
    assert!(w.routes.values().all(|rw| rw.canary.is_none()));
    assert!(w.routes.values().any(|rw| rw.baseline.is_some()));

    // The stable cohort's history, through the same queries.
    let client = PromClient::new(
        serde_saphyr::from_str::<PrometheusConfig>(&format!("url: {}", e.prom.url()))
            .unwrap()
            .client_config(),
    )
    .unwrap();
    let plan = serde_saphyr::from_str::<PrometheusConfig>("url: http://prom:9090\nbaseline: v1")
        .unwrap()
        .plan()
        .unwrap();
    let lookback = Duration::from_secs(120);
    let b = baseline(
        &client,
        &plan,
        &RolloutKey::new("pay", "v2"),
        lookback,
        now(),
    )
    .await
    .unwrap();
    let BaselineStatus::Available(b) = b else {
        panic!("{b:?}")
    };
    assert!(
        b.history_hours > 0.0 && b.history_hours <= 120.0 / 3600.0,
        "{}",
        b.history_hours
    );
    let pay = &b.routes[&Route::from("GET /pay")];
    assert!(pay.requests >= stable["GET /pay"].0, "{pay:?}");
    assert_eq!(pay.errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outages_pause_never_judge() {
    let mut e = env(0.0).await;
    let mut src = source(&e, "v2");
    let key = src.key().clone();

    // Prometheus gone: a source error (the driver pauses the rollout).
    e.prom.stop();
    let t = now();
    let err = src
        .window(&key, 10, Timestamp(t.0 - 5_000), t)
        .await
        .unwrap_err();
    assert!(err.message().contains(&e.prom.url()), "{err}");

    // Back, with its data: windows again.
    e.prom.restart().await.unwrap();
    traffic(&e.canary, 20.0, 2).await;
    tokio::time::sleep(SCRAPE * 2).await;
    let t = now();
    let w = src
        .window(&key, 10, Timestamp(t.0 - 6_000), t)
        .await
        .unwrap();
    assert_eq!(
        w.collectors,
        CollectorHealth::Healthy,
        "{:?}\n{}",
        w.gaps,
        std::fs::read_to_string(e.prom.dir().join("prometheus.log")).unwrap_or_default()
    );
    let pay = w.routes[&Route::from("GET /pay")].canary.as_ref().unwrap();
    assert!(pay.requests > 0);

    // The canary stops answering its scrapes: `up` 0, unhealthy, numbers kept.
    e.canary.shutdown().await;
    tokio::time::sleep(SCRAPE * 3).await;
    let t = now();
    let w = src
        .window(&key, 10, Timestamp(t.0 - 6_000), t)
        .await
        .unwrap();
    let CollectorHealth::Unhealthy(why) = &w.collectors else {
        panic!("canary down but collectors healthy: {w:?}")
    };
    assert!(
        why.contains(&format!("{} is down", e.canary.addr())),
        "{why}"
    );
    assert!(why.contains("canary probe failed"), "{why}");
    drop(e.stable);
}
