//! The gate + proxy recipe of the README, through the two real binaries: a
//! `canaryd proxy` without `--policy` (a plain measured router, steered only
//! through its token-guarded `/admin/weight`) in front of two sample
//! services under load, Debian's Prometheus scraping the services, and a
//! `canaryd gate` whose policy reads Prometheus and says `router: embedded`
//! with the proxy's admin URL. The gate promotes the healthy canary, and the
//! proxy ends up serving it 100% of the traffic.
//!
//! Before, `canaryd proxy` refused to start without `--policy`; a proxy given
//! one ran a rollout of its own beside the gate's.

use canaryd_sim::prometheus::PrometheusServer;
use canaryd_sim::{SampleApp, SampleAppConfig};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ROUTER_TOKEN: &str = "router-token-91ab3f";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_canaryd")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn admin_weight(port: u16) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET /admin/weight HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ROUTER_TOKEN}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or(out)
}

struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_drives_a_policy_less_proxy_to_promotion() {
    let dir = tempfile::tempdir().unwrap();
    let stable = SampleApp::start(SampleAppConfig::new("v1")).await.unwrap();
    let canary = SampleApp::start(SampleAppConfig::new("v2")).await.unwrap();
    let token_file = dir.path().join("router-token");
    std::fs::write(&token_file, ROUTER_TOKEN).unwrap();
    let (listen, admin) = (free_port(), free_port());

    let mut proxy = Command::new(bin())
        .args([
            "proxy",
            "--stable",
            &stable.url(),
            "--canary",
            &canary.url(),
        ])
        .args(["--listen", &format!("127.0.0.1:{listen}")])
        .args(["--admin-listen", &format!("127.0.0.1:{admin}")])
        .args(["--admin-token-file", token_file.to_str().unwrap()])
        .args(["--api-listen", &format!("127.0.0.1:{}", free_port())])
        .env_remove("CANARYD_ROUTER_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = lines.clone();
    let stdout = proxy.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(l);
        }
    });
    let proxy = Kill(proxy);
    let t = Instant::now();
    while !lines
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("router only"))
    {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the proxy never said it is a router only: {:?}",
            lines.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let banner = lines.lock().unwrap().join("\n");
    assert!(banner.contains("runs no rollout of its own"), "{banner}");
    assert!(banner.contains("0% to the canary"), "{banner}");

    let mut lc = canaryd_sim::LoadConfig::new(
        format!("http://127.0.0.1:{listen}"),
        250.0,
        Duration::from_secs(300),
    );
    lc.request_timeout = Duration::from_secs(2);
    let load = canaryd_sim::load::start(lc).unwrap();
    let prom = PrometheusServer::start(&[stable.addr(), canary.addr()], Duration::from_secs(1))
        .await
        .unwrap();
    // Stable history before the canary starts: the baseline gate needs some.
    tokio::time::sleep(Duration::from_secs(4)).await;

    let policy = dir.path().join("pay.yaml");
    std::fs::write(
        &policy,
        format!(
            "name: gate-proxy\n\
             window: 3s\n\
             ladder:\n  - {{weight: 20, hold_windows: 1}}\n  - {{weight: 100, hold_windows: 1}}\n\
             ramp_budget: 5m\n\
             traffic: {{min_requests_per_route: 5, max_extensions: 3}}\n\
             baseline: {{lookback: 1m, min_history: 2s, min_requests_per_route: 20}}\n\
             collectors: {{auto_resume: true}}\n\
             rules:\n  - {{name: error-ratio, metric: error_rate, ratio: 2, min_value: 5%, consecutive: 2}}\n\
             source:\n  prometheus:\n    url: \"{}\"\n    canary: v2\n    baseline: v1\n    selector: 'route!~\"/healthz|/metrics\"'\n    timeout: 2s\n    retries: 0\n\
             router:\n  embedded: {{admin_url: \"http://127.0.0.1:{admin}\", token: {{env: GATE_ROUTER_TOKEN}}}}\n",
            prom.url()
        ),
    )
    .unwrap();
    let db = dir.path().join("gate.db");
    let gate = tokio::task::spawn_blocking(move || {
        Command::new(bin())
            .args(["gate", "--policy", policy.to_str().unwrap()])
            .args([
                "--workload",
                "shop/pay",
                "--revision",
                "v2",
                "--output",
                "json",
            ])
            .args(["--db", db.to_str().unwrap()])
            .env("GATE_ROUTER_TOKEN", ROUTER_TOKEN)
            .env_remove("CANARYD_API_TOKEN")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&gate.stdout);
    assert_eq!(
        gate.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&gate.stderr)
    );
    assert!(stdout.contains("\"outcome\":\"promoted\""), "{stdout}");
    assert!(
        admin_weight(admin).contains("\"weight\":100"),
        "the proxy serves the promoted canary"
    );
    let report = load.stop().await;
    assert!(report.counters.ok > 0);
    assert!(canary.requests_received() > 0 && stable.requests_received() > 0);
    drop(proxy);
    stable.shutdown().await;
    canary.shutdown().await;
}
