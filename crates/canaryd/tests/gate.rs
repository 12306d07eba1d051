//! `canaryd gate` and `canaryd doctor` end to end against a real Prometheus.
//!
//! On loopback: a stable (`version="v1"`) and a canary (`version="v2"`)
//! sample service, the embedded router in front of them with its admin API
//! behind a token, open-loop load through the router, and Debian's
//! `prometheus` scraping both services every second. The gate binary runs
//! as a CI job would: the policy names Prometheus as its `source:` and the
//! router's admin API as its `router:`.
//!
//! Paths covered: a healthy canary is promoted; a canary failing 40% of its
//! requests is rolled back; Prometheus killed mid-rollout pauses the rollout
//! (never a rollback) and it resumes and finishes once Prometheus is back; a
//! canary selector that matches nothing fails `doctor` and the gate refuses
//! to advance past the first step; a gate started while the stable history is
//! too short waits for approval, re-checks the baseline every window, and
//! starts on its own once the history is long enough.

use canaryd_proxy::{AdminAccess, AdminToken, Router, RouterConfig, RouterHandle};
use canaryd_sim::prometheus::PrometheusServer;
use canaryd_sim::{Faults, LoadHandle, SampleApp, SampleAppConfig};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const ROUTER_TOKEN: &str = "router-token-5e0c1d";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_canaryd")
}

/// Everything a gate runs against. Dropping it stops the services.
struct Rig {
    dir: tempfile::TempDir,
    _stable: SampleApp,
    canary: SampleApp,
    router: RouterHandle,
    _load: LoadHandle,
    prom: PrometheusServer,
}

async fn rig() -> Rig {
    let stable = SampleApp::start(SampleAppConfig::new("v1")).await.unwrap();
    let canary = SampleApp::start(SampleAppConfig::new("v2")).await.unwrap();
    let mut rc = RouterConfig::from_urls(&stable.url(), &canary.url()).unwrap();
    rc.admin_access = AdminAccess::Token(AdminToken::new(ROUTER_TOKEN).unwrap());
    let router = Router::start(rc).await.unwrap();
    let mut lc = canaryd_sim::LoadConfig::new(router.url(), 250.0, Duration::from_secs(300));
    lc.request_timeout = Duration::from_secs(2);
    let load = canaryd_sim::load::start(lc).unwrap();
    let prom = PrometheusServer::start(&[stable.addr(), canary.addr()], Duration::from_secs(1))
        .await
        .unwrap();
    // Stable history before the canary starts: the baseline gate needs some.
    tokio::time::sleep(Duration::from_secs(4)).await;
    Rig {
        dir: tempfile::tempdir().unwrap(),
        _stable: stable,
        canary,
        router,
        _load: load,
        prom,
    }
}

impl Rig {
    /// A policy with 3-second windows reading this rig's Prometheus and
    /// driving this rig's router. `canary` is the canary cohort's label value.
    fn policy(&self, canary: &str) -> PathBuf {
        self.policy_with(canary, "2s")
    }

    /// [`Rig::policy`] with the stable history the baseline gate requires.
    fn policy_with(&self, canary: &str, min_history: &str) -> PathBuf {
        let admin = format!("http://{}", self.router.admin_addr().unwrap());
        let text = format!(
            "name: gate-e2e\n\
             window: 3s\n\
             ladder:\n  - {{weight: 20, hold_windows: 2}}\n  - {{weight: 50, hold_windows: 1}}\n  - {{weight: 100, hold_windows: 1}}\n\
             ramp_budget: 5m\n\
             traffic: {{min_requests_per_route: 5, max_extensions: 2}}\n\
             baseline: {{lookback: 1m, min_history: {min_history}, min_requests_per_route: 20}}\n\
             collectors: {{auto_resume: true}}\n\
             rules:\n  - {{name: error-ratio, metric: error_rate, ratio: 2, min_value: 5%, consecutive: 2}}\n\
             source:\n  prometheus:\n    url: \"{prom}\"\n    canary: \"{canary}\"\n    baseline: v1\n    selector: 'route!~\"/healthz|/metrics\"'\n    timeout: 2s\n    retries: 0\n\
             router:\n  embedded: {{admin_url: \"{admin}\", token: {{env: GATE_ROUTER_TOKEN}}}}\n",
            prom = self.prom.url(),
        );
        let path = self
            .dir
            .path()
            .join(format!("policy-{canary}-{min_history}.yaml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("canaryd.db")
    }

    fn gate(&self, policy: &PathBuf, revision: &str, extra: &[&str]) -> Child {
        Command::new(bin())
            .args(["gate", "--policy"])
            .arg(policy)
            .args([
                "--workload",
                "shop/pay",
                "--revision",
                revision,
                "--output",
                "json",
                "--db",
            ])
            .arg(self.db())
            .args(extra)
            .env("GATE_ROUTER_TOKEN", ROUTER_TOKEN)
            .env_remove("CANARYD_API_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

/// Waits for the child off the async runtime (the services keep running).
async fn finish(child: Child) -> Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap()
}

fn summary(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| {
        panic!(
            "no JSON summary ({e}); stdout:\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn verdicts(s: &serde_json::Value) -> Vec<String> {
    s["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["verdict"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_canary_is_promoted_through_prometheus() {
    let rig = rig().await;
    let out = finish(rig.gate(&rig.policy("v2"), "v2", &[])).await;
    let s = summary(&out);
    assert_eq!(out.status.code(), Some(0), "{s}");
    assert_eq!(s["outcome"], "promoted", "{s}");
    assert_eq!(rig.router.weight(), 100, "the router was moved to 100%");
    let v = verdicts(&s);
    assert!(v.iter().filter(|v| *v == "healthy").count() >= 4, "{v:?}");
    assert!(!v.iter().any(|v| v == "breach"), "{v:?}");

    // The audit log of the run verifies.
    let verify = Command::new(bin())
        .args(["audit", "verify", "--db"])
        .arg(rig.db())
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), Some(0));

    // Running the step again for the same revision reports, does not act.
    rig.router.set_weight(7).unwrap();
    let again = finish(rig.gate(&rig.policy("v2"), "v2", &[])).await;
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(summary(&again)["outcome"], "promoted");
    assert_eq!(
        rig.router.weight(),
        7,
        "a finished rollout is not acted on again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_that_fails_requests_is_rolled_back() {
    let rig = rig().await;
    rig.canary
        .set_faults(Faults {
            error_rate: 0.4,
            ..Default::default()
        })
        .unwrap();
    let out = finish(rig.gate(&rig.policy("v2"), "v2", &[])).await;
    let s = summary(&out);
    assert_eq!(out.status.code(), Some(1), "{s}");
    assert_eq!(s["outcome"], "rolled_back", "{s}");
    assert_eq!(rig.router.weight(), 0, "all traffic back on stable");
    let v = verdicts(&s);
    // Never on a single bad window: at least two breaches, and the rollout
    // never got past its first step.
    assert!(v.iter().filter(|v| *v == "breach").count() >= 2, "{v:?}");
    assert!(s["phase_detail"].as_str().unwrap().contains("error"), "{s}");
    for w in s["windows"].as_array().unwrap() {
        assert_eq!(w["weight"], 20, "{s}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_killed_mid_rollout_pauses_and_the_rollout_resumes_when_it_is_back() {
    let mut rig = rig().await;
    let mut child = rig.gate(&rig.policy("v2"), "v2", &[]);
    // Progress lines go to stderr in JSON mode: wait for the first judged window.
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("healthy")) {
        assert!(
            Instant::now() < deadline,
            "no healthy window in time: {seen:?}"
        );
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(l);
        }
    }
    rig.prom.stop();
    // Two windows without Prometheus: the source fails, the rollout pauses.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let weight_while_down = rig.router.weight();
    rig.prom.restart().await.unwrap();
    let out = finish(child).await;
    while let Ok(l) = rx.try_recv() {
        seen.push(l);
    }
    let s = summary(&out);
    assert_eq!(out.status.code(), Some(0), "{s}\n{seen:#?}");
    assert_eq!(s["outcome"], "promoted", "{s}");
    assert_eq!(weight_while_down, 20, "the split held while blind");
    let v = verdicts(&s);
    assert!(v.iter().any(|v| v == "unreliable"), "{v:?}");
    assert!(!v.iter().any(|v| v == "breach"), "{v:?}");
    let decisions: Vec<&str> = s["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["decision"].as_str().unwrap_or_default())
        .collect();
    let paused = decisions
        .iter()
        .position(|d| d.starts_with("pause"))
        .unwrap_or_else(|| panic!("the rollout paused: {decisions:?}"));
    assert!(
        decisions[..paused].iter().all(|d| !d.contains("advance")),
        "it paused at its first step: {decisions:?}"
    );
    assert!(
        decisions[paused..].iter().any(|d| d.starts_with("advance")),
        "and resumed on its own, then ramped on: {decisions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selector_that_matches_nothing_fails_doctor_and_the_gate_never_advances() {
    let rig = rig().await;
    // The canary is deployed as v2, but the policy looks for v3.
    let policy = rig.policy("v3");
    let doctor = tokio::task::spawn_blocking({
        let policy = policy.clone();
        move || {
            Command::new(bin())
                .args(["doctor", "--policy"])
                .arg(&policy)
                .args([
                    "--workload",
                    "shop/pay",
                    "--revision",
                    "v3",
                    "--weight",
                    "0",
                ])
                .env("GATE_ROUTER_TOKEN", ROUTER_TOKEN)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert_eq!(doctor.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL  data"), "{text}");
    assert!(text.contains("v3"), "the failing selector is named: {text}");
    assert!(text.contains("pass  source"), "{text}");

    let out = finish(rig.gate(&policy, "v3", &["--max-idle-windows", "2"])).await;
    let s = summary(&out);
    assert_eq!(out.status.code(), Some(2), "{s}");
    assert_eq!(s["outcome"], "paused", "{s}");
    let v = verdicts(&s);
    assert!(v.iter().all(|v| v == "inconclusive"), "{v:?}");
    assert!(
        s["windows"][0]["reason"].as_str().unwrap().contains("v3"),
        "the reason names the selector: {s}"
    );
    assert!(rig.router.weight() <= 20, "never past the first step");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_a_policy_that_sees_both_cohorts() {
    let rig = rig().await;
    rig.router.set_weight(20).unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let policy = rig.policy("v2");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin())
            .args(["doctor", "--policy"])
            .arg(&policy)
            .args([
                "--workload",
                "shop/pay",
                "--revision",
                "v2",
                "--weight",
                "20",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for check in ["source", "collectors", "data", "split", "baseline"] {
        assert!(
            text.contains(&format!("pass  {check}")),
            "{check} passes:\n{text}"
        );
    }
}

/// The gate starts while Prometheus holds ~4 s of stable history and the
/// policy wants 15 s: it awaits approval, re-reads the baseline every window
/// (past the baseline cache), and once the history is long enough starts on
/// its own — audited as "baseline became available" — and is promoted. No
/// operator is involved. Before the re-check, it waited for a human until
/// `--max-idle-windows` ran out and exited 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_awaiting_a_thin_baseline_starts_when_the_history_is_long_enough() {
    let rig = rig().await;
    let policy = rig.policy_with("v2", "15s");
    let child = rig.gate(&policy, "v2", &["--max-idle-windows", "40"]);
    let out = finish(child).await;
    let s = summary(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{s}\n{stderr}");
    assert_eq!(s["outcome"], "promoted", "{s}");
    assert!(
        stderr.contains("started: awaiting approval") || stderr.contains("awaiting"),
        "it waited first: {stderr}"
    );
    assert!(
        stderr.contains("baseline became available"),
        "the wait ended on the re-check: {stderr}"
    );
    let audit = Command::new(bin())
        .args(["audit", "export", "--db"])
        .arg(rig.db())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&audit.stdout);
    assert!(text.contains("baseline_available"), "audited: {text}");
    assert!(
        !text.contains("\"approve\""),
        "no operator approved: {text}"
    );
}

/// Runs `canaryd doctor` on a policy for revision v2; returns its exit code and stdout.
async fn doctor(policy: PathBuf, extra: &'static [&'static str]) -> (Option<i32>, String) {
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin())
            .args(["doctor", "--policy"])
            .arg(&policy)
            .args([
                "--workload",
                "shop/pay",
                "--revision",
                "v2",
                "--weight",
                "20",
            ])
            .args(extra)
            .env("GATE_ROUTER_TOKEN", ROUTER_TOKEN)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The rig's policy with `from` replaced by `to`, written beside it.
fn edited(policy: &PathBuf, name: &str, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(policy).unwrap();
    assert!(text.contains(from), "{text}");
    let path = policy.with_file_name(name);
    std::fs::write(&path, text.replace(from, to)).unwrap();
    path
}

/// doctor names the matcher to fix. A wrong `job=` in the base selector was
/// reported as "canary selector `version=\"v2\"` matched no series", which
/// sends the operator to the cohort settings; now it names `job="payments"`
/// and the `job` values Prometheus has for the metric. A misspelt metric is
/// reported as a metric that does not exist, a wrong cohort value with the
/// values that exist, and a window too short for its samples as such.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_the_matcher_to_fix() {
    let rig = rig().await;
    rig.router.set_weight(20).unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let base = rig.policy("v2");

    let wrong_job = edited(
        &base,
        "wrong-job.yaml",
        "selector: 'route!~",
        "selector: 'job=\"payments\",route!~",
    );
    let (code, text) = doctor(wrong_job, &[]).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("base selector matcher `job=\"payments\"` matches no series"),
        "the base matcher is named: {text}"
    );
    assert!(
        text.contains("`job` values seen") && text.contains("\"app-0\""),
        "with the job values that exist: {text}"
    );
    assert!(
        text.lines()
            .filter(|l| l.starts_with("FAIL  data"))
            .all(|l| !l.contains("version=")),
        "no data check blames the cohort matcher: {text}"
    );

    let typo = edited(
        &base,
        "typo.yaml",
        "    baseline: v1\n",
        "    baseline: v1\n    queries: {requests: 'sum by ({by}) (increase(http_requests_totl{{selector}}[{window}]))'}\n",
    );
    let (code, text) = doctor(typo, &[]).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("the metric `http_requests_totl` does not exist"),
        "{text}"
    );

    let wrong_canary = edited(
        &base,
        "wrong-canary.yaml",
        "canary: \"v2\"",
        "canary: \"v9\"",
    );
    let (code, text) = doctor(wrong_canary, &[]).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("canary cohort matcher `version=\"v9\"`") && text.contains("\"v1\", \"v2\""),
        "the cohort value is named, with the values seen: {text}"
    );

    // The series exist, but the revisions are told apart by another label
    // than the one the policy names.
    let wrong_label = edited(
        &base,
        "wrong-label.yaml",
        "    baseline: v1\n",
        "    baseline: v1\n    cohort_label: release\n",
    );
    let (code, text) = doctor(wrong_label, &[]).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("exist but none carries the cohort label `release`")
            && text.contains("set `source: cohort_label:`"),
        "the cohort label is named, with what to set: {text}"
    );

    // Every matcher is right, but a 500 ms window holds fewer than the two
    // scrapes (1 s apart) `increase()` needs: the series exist, the samples
    // in the window do not.
    let (code, text) = doctor(base, &["--window", "500ms"]).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("exist for both cohorts") && text.contains("no samples in the window"),
        "{text}"
    );
}
