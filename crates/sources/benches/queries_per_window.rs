//! Queries issued per window per rollout, batched through one
//! `PrometheusHub` versus one source per rollout, for 1 to 1,000 concurrent
//! rollouts, against a local HTTP server that answers every query instantly
//! (the count, not Prometheus' speed, is what is measured).
//!
//! Run: `cargo bench -p canaryd-sources --bench queries_per_window`
//! (it prints the Markdown table kept in BENCHMARKS.md).

use axum::routing::any;
use canaryd_core::vocab::{RolloutKey, Timestamp};
use canaryd_ports::MetricsSource;
use canaryd_sources::prometheus::client::PromClient;
use canaryd_sources::prometheus::config::PrometheusConfig;
use canaryd_sources::prometheus::source::{PrometheusHub, PrometheusSource};
use std::time::Instant;

const EMPTY: &str = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;

const CONFIG: &str = "
baseline: v1
workload_label: app
up:
  targets: 'app=\"{workload}\",version=\"{canary}\"'
  scrape_interval: 15s
";

fn config(url: &str) -> PrometheusConfig {
    let yaml = format!("url: {url}\n{CONFIG}");
    match serde_saphyr::from_str(&yaml) {
        Ok(c) => c,
        Err(e) => panic!("bench config: {e}"),
    }
}

async fn fake_prometheus() -> String {
    let app = axum::Router::new().route("/api/v1/query", any(|| async { EMPTY }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Runs `ticks` windows for every rollout; returns (queries, seconds).
async fn run(url: &str, rollouts: usize, batched: bool, ticks: i64) -> (u64, f64) {
    let cfg = config(url);
    let plan = cfg.plan().unwrap();
    let keys: Vec<RolloutKey> = (0..rollouts)
        .map(|i| RolloutKey::new(format!("w{i}"), "v2"))
        .collect();
    let mut clients = Vec::new();
    let mut sources: Vec<PrometheusSource<PromClient>> = Vec::new();
    if batched {
        let client = PromClient::new(cfg.client_config()).unwrap();
        clients.push(client.clone());
        let hub = PrometheusHub::new(plan, client);
        sources.extend(keys.iter().map(|k| hub.source(k.clone())));
    } else {
        for k in &keys {
            let client = PromClient::new(cfg.client_config()).unwrap();
            clients.push(client.clone());
            sources.push(PrometheusSource::new(plan.clone(), client, k.clone()));
        }
    }
    let began = Instant::now();
    for t in 0..ticks {
        let (start, end) = (Timestamp(t * 60_000), Timestamp((t + 1) * 60_000));
        for (src, key) in sources.iter_mut().zip(&keys) {
            src.window(key, 10, start, end).await.unwrap();
        }
    }
    let secs = began.elapsed().as_secs_f64();
    (clients.iter().map(PromClient::queries_issued).sum(), secs)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let url = fake_prometheus().await;
    let ticks = 3;
    println!("| rollouts | batched: queries / tick | per window per rollout | ms / tick | one source per rollout: queries / tick | per window per rollout | ms / tick |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for n in [1usize, 10, 100, 1000] {
        let (qb, sb) = run(&url, n, true, ticks).await;
        let (qu, su) = run(&url, n, false, ticks).await;
        let per_tick = |q: u64| q as f64 / ticks as f64;
        println!(
            "| {n} | {:.0} | {:.3} | {:.1} | {:.0} | {:.3} | {:.1} |",
            per_tick(qb),
            per_tick(qb) / n as f64,
            sb * 1000.0 / ticks as f64,
            per_tick(qu),
            per_tick(qu) / n as f64,
            su * 1000.0 / ticks as f64,
        );
    }
}
