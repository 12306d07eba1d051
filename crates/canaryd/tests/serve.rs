//! `canaryd serve` wired end to end: the binary answers Argo Rollouts' web
//! metric and Flagger's webhooks from the policy's `source:`. Here the source
//! is a Prometheus that is not there: no baseline can be read, so every
//! canary waits for a human, says why, and is never a success or a rollback.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INTEGRATION: &str = "integration-token-3b9e";

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_argo_and_flagger_and_never_passes_a_blind_window() {
    let dir = tempfile::tempdir().unwrap();
    let dead_prometheus = format!("http://127.0.0.1:{}", free_port());
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "preset: slo-ratio\nwindow: 1s\nbaseline: {{lookback: 7d, min_history: 1s, min_requests_per_route: 1}}\n\
             source:\n  prometheus: {{url: \"{dead_prometheus}\", timeout: 1s, retries: 0}}\n"
        ),
    )
    .unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, INTEGRATION).unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_canaryd"))
        .args(["serve", "--policy"])
        .arg(&policy)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--integration-token-file",
        ])
        .arg(&token)
        .arg("--db")
        .arg(dir.path().join("c.db"))
        .env_remove("CANARYD_API_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _guard = Guard(child);
    let base = format!("http://127.0.0.1:{port}");
    let client = canaryd_http::client(Duration::from_secs(5)).unwrap();
    let argo =
        format!("{base}/api/v1/argo/analysis?workload=shop/checkout&canary=6f9c7d&stable=5d8b4c");

    // Wait for the listener.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "canaryd serve did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Without the token: refused, and nothing is started.
    let r = client.get(&argo).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);

    // Argo's first question starts the watch; there is no window yet.
    let r = client
        .get(&argo)
        .bearer_auth(INTEGRATION)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let first: serde_json::Value = r.json().await.unwrap();
    assert_eq!(first["healthy"], false, "{first}");
    assert_ne!(first["verdict"], "healthy", "{first}");

    // Prometheus is unreachable, so the baseline cannot be read: that is
    // not a baseline that does not exist (issue 15). The rollout is held
    // as unreliable and the answer says why; it never asks a human to
    // approve a rollout canaryd cannot see. Never healthy, never a breach.
    let deadline = Instant::now() + Duration::from_secs(30);
    let answer = loop {
        let a: serde_json::Value = client
            .get(&argo)
            .bearer_auth(INTEGRATION)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_ne!(a["verdict"], "healthy", "{a}");
        assert_ne!(a["verdict"], "breach", "{a}");
        assert_ne!(a["phase"], "awaiting_approval", "{a}");
        if a["verdict"] == "unreliable" {
            break a;
        }
        assert!(Instant::now() < deadline, "never held as unreliable: {a}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(answer["healthy"], false);
    let reason = answer["reason"].as_str().unwrap();
    assert!(
        reason.contains("baseline could not be read") && reason.contains("cannot reach"),
        "the cause is named: {reason}"
    );
    assert!(
        reason.contains(&dead_prometheus[7..]),
        "and where: {reason}"
    );

    // Flagger: the rollout is not confirmed without a baseline or approval.
    let confirm = serde_json::json!({
        "name": "checkout", "namespace": "shop", "phase": "Progressing",
        "checksum": "6f9c7d", "metadata": {"token": INTEGRATION, "stable": "5d8b4c"}
    });
    let r = client
        .post(format!("{base}/api/v1/flagger/confirm-rollout"))
        .json(&confirm)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403, "Flagger waits");

    // Flagger's rollback hook does not fire on collector trouble.
    let payload = serde_json::json!({
        "name": "checkout", "namespace": "shop", "phase": "Progressing",
        "checksum": "6f9c7d", "metadata": {"token": INTEGRATION, "stable": "5d8b4c"}
    });
    let r = client
        .post(format!("{base}/api/v1/flagger/rollback"))
        .json(&payload)
        .send()
        .await
        .unwrap();
    assert!(
        r.status().as_u16() > 202,
        "rollback must not fire: {}",
        r.status()
    );
}
