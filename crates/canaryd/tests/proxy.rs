//! `canaryd proxy` end to end, as an operator runs it: the binary in front of
//! two sample services under open-loop load, a rollout that needs approval,
//! `canaryd approve` through the token-protected API, notifications to a
//! signed webhook, a clean stop, and an audit log that verifies and holds no
//! secret.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use canaryd_sim::{SampleApp, SampleAppConfig};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "api-token-8d1f0c7e";
const HOOK_SECRET: &str = "hook-secret-42b7a9";

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

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

async fn hook(State(r): State<Received>, headers: HeaderMap, body: Bytes) -> &'static str {
    r.lock().unwrap().push((headers, body));
    "ok"
}

/// Kills the proxy if the test fails half-way.
struct Guard(Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_runs_a_rollout_that_an_operator_approves() {
    let dir = tempfile::tempdir().unwrap();
    let stable = SampleApp::start(SampleAppConfig::new("v1")).await.unwrap();
    let canary = SampleApp::start(SampleAppConfig::new("v2")).await.unwrap();

    // A local receiver standing in for a webhook endpoint.
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .route("/hook", post(hook))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "name: e2e\nwindow: 1s\nladder:\n  - {weight: 50, hold_windows: 2}\n  - {weight: 100, hold_windows: 1}\nramp_budget: 1m\n\
         traffic: {min_requests_per_route: 10, max_extensions: 5}\n\
         baseline: {lookback: 7d, min_history: 1h, min_requests_per_route: 10}\n\
         rules:\n  - {metric: error_rate, ratio: 2, min_value: 5%}\n",
    )
    .unwrap();
    let notify = dir.path().join("notify.yaml");
    std::fs::write(
        &notify,
        format!("targets:\n  - name: bot\n    webhook: {{url: \"{hook_url}\", secret: {{env: E2E_HOOK_SECRET}}}}\n"),
    )
    .unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let db = dir.path().join("canaryd.db");
    let (listen_port, api_port) = (free_port(), free_port());
    let api = format!("http://127.0.0.1:{api_port}");

    let mut child = Command::new(bin())
        .args([
            "proxy",
            "--listen",
            &format!("127.0.0.1:{listen_port}"),
            "--stable",
            &stable.url(),
            "--canary",
            &canary.url(),
            "--policy",
            policy.to_str().unwrap(),
            "--workload",
            "shop/checkout",
            "--revision",
            "v2",
            "--notify",
            notify.to_str().unwrap(),
            "--api-listen",
            &format!("127.0.0.1:{api_port}"),
            "--api-token-file",
            token_file.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
        ])
        .env("E2E_HOOK_SECRET", HOOK_SECRET)
        .env_remove("CANARYD_API_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut guard = Guard(Some(child));
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = lines.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(l);
        }
    });
    let wait_for = |needle: &str, secs: u64| {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(secs) {
            if lines.lock().unwrap().iter().any(|l| l.contains(needle)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "proxy never printed {needle:?}: {:#?}",
            lines.lock().unwrap()
        );
    };
    wait_for("awaiting_approval", 20);

    let mut load_cfg = canaryd_sim::LoadConfig::new(
        format!("http://127.0.0.1:{listen_port}"),
        300.0,
        Duration::from_secs(60),
    );
    load_cfg.mix = "GET /pay=100".parse().unwrap();
    let load = canaryd_sim::load::start(load_cfg).unwrap();

    let operator = |token: &str| {
        let tf = dir.path().join(format!("tok-{}", token.len()));
        std::fs::write(&tf, token).unwrap();
        Command::new(bin())
            .args([
                "approve",
                "shop/checkout",
                "v2",
                "--by",
                "alice",
                "--reason",
                "thin history, reviewed",
                "--server",
                &api,
            ])
            .args(["--token-file", tf.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let wrong = operator("not-the-token");
    assert_eq!(
        wrong.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("not authorized"));
    let ok = operator(TOKEN);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("ramping at 50%"),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let again = operator(TOKEN);
    assert_eq!(again.status.code(), Some(1), "a second approval is refused");

    wait_for("finished: promoted", 30);
    let report = load.stop().await;
    assert!(report.counters.ok > 0);
    assert!(canary.requests_received() > 0 && stable.requests_received() > 0);

    // A clean stop on SIGTERM.
    let mut child = guard.0.take().unwrap();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "promoted → exit 0");
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }

    // Notifications arrived, signed.
    let got = received.lock().unwrap().clone();
    let kinds: Vec<String> = got
        .iter()
        .map(|(_, b)| {
            serde_json::from_slice::<serde_json::Value>(b).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for k in ["awaiting_approval", "started", "advanced", "promoted"] {
        assert!(
            kinds.contains(&k.to_string()),
            "no {k} notification: {kinds:?}"
        );
    }
    for (h, b) in &got {
        let sig = h
            .get(canaryd_secrets::sign::SIGNATURE_HEADER)
            .unwrap()
            .to_str()
            .unwrap();
        assert!(canaryd_secrets::sign::verify(
            &canaryd_secrets::Secret::new(HOOK_SECRET),
            b,
            sig
        ));
    }

    // The audit log verifies, names the approver, and holds no secret; neither does any output.
    let verify = Command::new(bin())
        .args(["audit", "verify", "--db", db.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let export = Command::new(bin())
        .args(["audit", "export", "--db", db.to_str().unwrap()])
        .output()
        .unwrap();
    let export = String::from_utf8_lossy(&export.stdout).into_owned();
    assert!(export.contains("\"by\":\"alice\""));
    let report = Command::new(bin())
        .args([
            "report",
            "shop/checkout",
            "v2",
            "--db",
            db.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let everything = format!(
        "{export}{}{}{stderr}{}",
        String::from_utf8_lossy(&report.stdout),
        lines.lock().unwrap().join("\n"),
        String::from_utf8_lossy(&ok.stdout)
    );
    for secret in [TOKEN, HOOK_SECRET] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
    stable.shutdown().await;
    canary.shutdown().await;
}
