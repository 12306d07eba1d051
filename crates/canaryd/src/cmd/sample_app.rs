//! `canaryd sample-app`: one revision of the demo service, with faults set by
//! flags at start and changed at run time through `POST /admin/faults`.
//! The service itself lives in `canaryd-sim` (the demo runs it in-process).

use crate::Fail;
use canaryd_sim::{Faults, LatencyDist, SampleApp, SampleAppConfig};
use clap::Args;
use std::net::{IpAddr, SocketAddr};

#[derive(Args)]
pub struct SampleAppArgs {
    /// Version reported in `x-canaryd-version` and the `version` metric label.
    #[arg(long)]
    version: String,
    #[arg(long, default_value_t = 8080)]
    port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Fraction of business requests answered 500 (0–1).
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Added latency: `none`, `fixed:MS`, `uniform:LO,HI` or `lognormal:P50,P99` (ms).
    #[arg(long, default_value = "none", value_name = "DIST")]
    latency_ms: String,
    /// CPU burnt per business request, in ms.
    #[arg(long, default_value_t = 0)]
    cpu_burn_ms: u64,
}

pub fn run(a: SampleAppArgs) -> Result<u8, Fail> {
    let latency_ms: LatencyDist = a
        .latency_ms
        .parse()
        .map_err(|e: canaryd_sim::SimError| Fail::invalid(e.to_string()))?;
    if !(0.0..=1.0).contains(&a.error_rate) {
        return Err(Fail::invalid(format!(
            "--error-rate {} must be between 0 and 1",
            a.error_rate
        )));
    }
    let config = SampleAppConfig {
        version: a.version,
        listen: SocketAddr::new(a.host, a.port),
        faults: Faults {
            error_rate: a.error_rate,
            latency_ms,
            down: false,
            unhealthy: false,
        },
        cpu_burn_ms: a.cpu_burn_ms,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let app = SampleApp::start(config)
            .await
            .map_err(|e| Fail::Operational(e.into()))?;
        let url = app.url();
        println!(
            "sample-app {} listening on {url} (error rate {}, latency {})",
            app.version(),
            a.error_rate,
            latency_ms
        );
        println!("  routes: GET /pay, POST /pay, GET /items/{{id}}, GET /healthz, GET /metrics");
        println!(
            "  faults: curl -X POST {url}/admin/faults -d '{{\"error_rate\":0.2,\"latency_ms\":\"lognormal:40,300\",\"down\":false}}'"
        );
        println!("  Ctrl-C to stop");
        tokio::signal::ctrl_c().await?;
        app.shutdown().await;
        Ok(0)
    })
}
