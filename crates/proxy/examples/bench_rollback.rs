//! Rollback latency under load: how long `roll_back()` takes to return, i.e.
//! from the rollback decision to the moment no new request can go to the
//! canary, and a check that none did afterwards.
//!
//! `cargo run --release -p canaryd-proxy --example bench_rollback -- [ROUNDS] [RPS]`

use canaryd_proxy::{Router, RouterConfig};
use canaryd_sim::load::{self, LoadConfig};
use canaryd_sim::{SampleApp, SampleAppConfig};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(200);
    let rps: f64 = args
        .get(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(2000.0);
    let stable = SampleApp::start(SampleAppConfig::new("v1")).await?;
    let canary = SampleApp::start(SampleAppConfig::new("v2")).await?;
    let router = Router::start(RouterConfig::from_urls(&stable.url(), &canary.url())?).await?;
    let load = load::start(LoadConfig::new(
        router.url(),
        rps,
        Duration::from_secs(3600),
    ))?;
    let mut took = Vec::with_capacity(rounds);
    let mut violations = 0u64;
    for _ in 0..rounds {
        router.set_weight(50)?;
        // Let some canary traffic flow, then roll back mid-stream.
        let before = router.canary_requests();
        let deadline = Instant::now() + Duration::from_secs(5);
        while router.canary_requests() < before + 5 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let t0 = Instant::now();
        router.roll_back();
        took.push(t0.elapsed());
        let at = router.canary_requests();
        // Stable keeps taking traffic; the canary must not get one more request.
        let s0 = router.dispatched(canaryd_core::vocab::Cohort::Baseline);
        while router.dispatched(canaryd_core::vocab::Cohort::Baseline) < s0 + 20
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if router.canary_requests() != at {
            violations += 1;
        }
    }
    let report = load.stop().await;
    took.sort();
    let q = |p: f64| took[((took.len() - 1) as f64 * p).round() as usize];
    println!(
        "rollbacks {rounds} under {rps} req/s: roll_back() p50 {:?} p99 {:?} max {:?}; canary requests after return: {violations} violations",
        q(0.5),
        q(0.99),
        took[took.len() - 1]
    );
    println!("load: {report}");
    router.shutdown().await;
    Ok(())
}
