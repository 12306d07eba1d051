//! `canaryd load`: an open-loop load generator (fixed arrival schedule, so a
//! slow server cannot slow the load down and hide its latency). The generator
//! lives in `canaryd-sim` (the demo runs it in-process).

use crate::Fail;
use canaryd_sim::load::{self, LoadConfig, RouteMix};
use clap::Args;
use std::time::Duration;

#[derive(Args)]
pub struct LoadArgs {
    /// Base URL of the service or router, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    target: String,
    /// Arrival rate, requests per second.
    #[arg(long)]
    rps: f64,
    #[arg(long, default_value = "10s")]
    duration: String,
    /// Weighted mix: `METHOD /path=WEIGHT,...`; `{id}` becomes a random number.
    #[arg(
        long,
        default_value = "GET /pay=60,POST /pay=30,GET /items/{id}=10",
        value_name = "MIX"
    )]
    routes: String,
    /// Outstanding requests above which due requests are dropped (and counted).
    #[arg(long, default_value_t = 1000)]
    max_in_flight: usize,
    /// Per-request deadline.
    #[arg(long, default_value = "10s")]
    timeout: String,
    /// No progress line every second.
    #[arg(long)]
    quiet: bool,
}

fn duration(flag: &str, v: &str) -> Result<Duration, Fail> {
    humantime::parse_duration(v).map_err(|e| Fail::invalid(format!("--{flag} `{v}`: {e}")))
}

pub fn run(a: LoadArgs) -> Result<u8, Fail> {
    let mix: RouteMix = a
        .routes
        .parse()
        .map_err(|e: canaryd_sim::SimError| Fail::invalid(e.to_string()))?;
    let mut config = LoadConfig::new(a.target, a.rps, duration("duration", &a.duration)?);
    config.mix = mix;
    config.max_in_flight = a.max_in_flight;
    config.request_timeout = duration("timeout", &a.timeout)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let handle = load::start(config).map_err(|e| Fail::invalid(e.to_string()))?;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        let interrupted = loop {
            tokio::select! {
                _ = tick.tick() => {
                    if handle.is_finished() {
                        break false;
                    }
                    if !a.quiet {
                        let c = handle.counters();
                        eprintln!(
                            "sent {} ok {} errors {} late {} dropped {} in flight {}",
                            c.sent, c.ok, c.errors, c.late, c.dropped, c.in_flight
                        );
                    }
                }
                _ = tokio::signal::ctrl_c() => break true,
            }
        };
        let report = if interrupted {
            handle.stop().await
        } else {
            handle.wait().await
        };
        println!("{report}");
        Ok(0)
    })
}
