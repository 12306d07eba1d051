//! Latency of the Argo Rollouts analysis endpoint when 100 rollouts ask at
//! once, through the real HTTP server on loopback, the real driver, core and
//! SQLite store. The metrics source takes 300 ms per window (a slow
//! Prometheus), which no answer may wait on: answers come from the cache.
//!
//! `cargo bench -p canaryd-server --bench analysis_latency` (optionally
//! `-- <rollouts> <rounds>`; defaults 100 and 50).

use canaryd_core::observation::{
    Baseline, BaselineStatus, LatencySummary, Observation, RouteWindow, Window,
};
use canaryd_core::vocab::{RolloutKey, Route, Timestamp, Weight};
use canaryd_driver::CollectingNotifier;
use canaryd_policy::preset;
use canaryd_ports::{MetricsSource, SourceError};
use canaryd_secrets::Secret;
use canaryd_server::{
    integrations_router, AnalysisConfig, AnalysisService, Registry, SourceFactory,
};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-token";
const QUERY_COST: Duration = Duration::from_millis(300);

fn obs(requests: u64, errors: u64) -> Observation {
    Observation {
        requests,
        errors,
        latency_ms: LatencySummary {
            p50: Some(30.0),
            p95: Some(60.0),
            p99: Some(120.0),
        },
        ..Default::default()
    }
}

struct SlowPrometheus;

#[canaryd_ports::async_trait]
impl MetricsSource for SlowPrometheus {
    async fn baseline(&mut self, _k: &RolloutKey) -> Result<BaselineStatus, SourceError> {
        tokio::time::sleep(QUERY_COST).await;
        Ok(BaselineStatus::Available(Baseline {
            history_hours: 168.0,
            routes: BTreeMap::from([(Route::from("GET /pay"), obs(1_000_000, 1000))]),
        }))
    }

    async fn window(
        &mut self,
        _k: &RolloutKey,
        _w: Weight,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Window, SourceError> {
        tokio::time::sleep(QUERY_COST).await;
        Ok(Window {
            start,
            end,
            routes: BTreeMap::from([(
                Route::from("GET /pay"),
                RouteWindow {
                    canary: Some(obs(5_000, 5)),
                    baseline: Some(obs(45_000, 45)),
                },
            )]),
            ..Default::default()
        })
    }
}

struct Factory;

impl SourceFactory for Factory {
    fn source_for(&self, _k: &RolloutKey, _s: &str) -> Result<Box<dyn MetricsSource>, SourceError> {
        Ok(Box::new(SlowPrometheus))
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let rollouts = numbers.first().copied().unwrap_or(100);
    let rounds = numbers.get(1).copied().unwrap_or(50);
    let runtime = |threads| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
            .expect("tokio runtime")
    };
    let rt = runtime(2);
    // `--shared-runtime`: watch loops share the HTTP workers (the default of
    // `AnalysisConfig`); otherwise they get a runtime of their own.
    let watches = (!args.iter().any(|a| a == "--shared-runtime")).then(|| runtime(1));
    let handle = watches.as_ref().map(|w| w.handle().clone());
    println!(
        "watch loops on {}",
        if handle.is_some() {
            "their own runtime"
        } else {
            "the HTTP runtime"
        }
    );
    rt.block_on(run(rollouts, rounds, handle));
}

async fn run(rollouts: usize, rounds: usize, watch_runtime: Option<tokio::runtime::Handle>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut policy = preset("slo-ratio").expect("preset");
    // Short windows so every rollout keeps writing to the store during the run.
    policy.window = Duration::from_secs(2);
    let mut config = AnalysisConfig::new(dir.path().join("bench.db"), policy);
    config.watch_runtime = watch_runtime;
    let service = AnalysisService::new(
        Factory,
        |_: &RolloutKey| CollectingNotifier::default(),
        Registry::default(),
        config,
    );
    let app = integrations_router(service.clone(), Some(Secret::new(TOKEN)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = canaryd_http::client(Duration::from_secs(10)).expect("client");
    let url = |i: usize| {
        format!("http://{addr}/api/v1/argo/analysis?workload=shop/svc-{i}&canary=c{i:04}&stable=s{i:04}")
    };

    // Every rollout asks once (starting its watch), then the run waits for
    // each one's first window so the measured answers are real verdicts.
    for i in 0..rollouts {
        http.get(url(i))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("first ask");
    }
    let keys: Vec<RolloutKey> = (0..rollouts)
        .map(|i| RolloutKey::new(format!("shop/svc-{i}"), format!("c{i:04}")))
        .collect();
    loop {
        let ready = keys
            .iter()
            .filter(|k| service.peek(k, |s| s.judgement.is_some()).unwrap_or(false))
            .count();
        if ready == rollouts {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut latencies = Vec::with_capacity(rollouts * rounds);
    let mut healthy = 0usize;
    let started = Instant::now();
    for _ in 0..rounds {
        let mut tasks = Vec::with_capacity(rollouts);
        for i in 0..rollouts {
            let (http, url) = (http.clone(), url(i));
            tasks.push(tokio::spawn(async move {
                let t = Instant::now();
                let resp = http.get(url).bearer_auth(TOKEN).send().await?;
                let body: serde_json::Value = resp.json().await?;
                Ok::<_, reqwest::Error>((t.elapsed(), body["verdict"] == "healthy"))
            }));
        }
        for t in tasks {
            let (d, ok) = t.await.expect("task").expect("request");
            latencies.push(d);
            healthy += usize::from(ok);
        }
    }
    let total = started.elapsed();
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "analysis endpoint: {rollouts} rollouts asking at once x {rounds} rounds = {} requests in {:.2}s ({healthy} healthy answers)",
        latencies.len(),
        total.as_secs_f64()
    );
    println!(
        "latency ms: p50 {:.2} | p90 {:.2} | p99 {:.2} | max {:.2}",
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.90)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().expect("at least one request")),
    );
}
