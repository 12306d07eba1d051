//! A standalone router for benchmarks (`crates/proxy/bench/run.sh`): proxies
//! `--listen` to `--stable`/`--canary` at `--weight`, until killed.
//!
//! `cargo run --release -p canaryd-proxy --example bench_router -- \
//!    --listen 127.0.0.1:18090 --stable http://127.0.0.1:18081 --canary http://127.0.0.1:18082 --weight 50`

use canaryd_proxy::{Router, RouterConfig};
use std::net::SocketAddr;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "--listen ADDR --stable URL --canary URL [--weight N] [--max-connections N] [--keep-memory]";
    let listen: SocketAddr = arg(&args, "--listen").ok_or(usage)?.parse()?;
    let stable = arg(&args, "--stable").ok_or(usage)?;
    let canary = arg(&args, "--canary").ok_or(usage)?;
    let weight: u8 = arg(&args, "--weight")
        .unwrap_or_else(|| "50".into())
        .parse()?;
    let mut cfg = RouterConfig::from_urls(&stable, &canary)?;
    cfg.listen = listen;
    cfg.initial_weight = weight;
    cfg.return_memory_after_bursts = !args.iter().any(|a| a == "--keep-memory");
    if let Some(n) = arg(&args, "--max-connections") {
        cfg.limits.max_connections = n.parse()?;
    }
    let router = Router::start(cfg).await?;
    println!(
        "router on {} (admin {:?}), weight {weight}",
        router.local_addr(),
        router.admin_addr()
    );
    tokio::signal::ctrl_c().await?;
    router.shutdown().await;
    Ok(())
}
