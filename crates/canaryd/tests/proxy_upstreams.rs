//! `canaryd proxy` when an upstream *process* dies or hangs mid-rollout.
//!
//! The proxy is the data path: what the canary's users got (502 for a refused
//! connection, 504 for no answer) is an error of the canary, judged by the
//! policy's rules, so a dead or hung canary is rolled back, fast. A dead
//! STABLE is not the canary's doing: the rollout holds and says so.
//!
//! Real processes throughout: two `canaryd sample-app`s, `canaryd proxy`
//! with the `canaryd` preset (windows shortened to 1 s), open-loop load, and
//! `canaryd approve` through the API. Figures (502s served before the
//! rollback, seconds it took) are printed, never asserted: machines are busy.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "api-token-31c9e2d4";

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

/// Kills (and first resumes) every child when the test ends, pass or fail.
#[derive(Default)]
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = Command::new("kill")
                .args(["-CONT", &c.id().to_string()])
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `GET path` on loopback, `Connection: close`; the body.
fn get(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn wait_listening(port: u16) {
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "port {port} never opened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A counter's value in Prometheus text.
fn counter(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

struct Setup {
    kids: Children,
    stable: usize,
    canary: usize,
    listen: u16,
    admin: u16,
    lines: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Setup {
    /// Stable and canary processes, the proxy in front with the `canaryd`
    /// preset on 1 s windows holding at 50%, approved, and ramping at 50%.
    fn start() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let mut kids = Children::default();
        let (sp, cp) = (free_port(), free_port());
        for (port, version) in [(sp, "v1"), (cp, "v2")] {
            kids.0.push(
                Command::new(bin())
                    .args(["sample-app", "--version", version, "--port"])
                    .arg(port.to_string())
                    // 50 ms: scheduling noise on a busy machine is small beside it,
                    // so the preset's latency rules do not fire on a healthy canary.
                    .args(["--latency-ms", "fixed:50"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            );
            wait_listening(port);
        }
        let policy = dir.path().join("policy.yaml");
        std::fs::write(
            &policy,
            "preset: canaryd\nwindow: 1s\nladder:\n  - {weight: 50, hold_windows: 600}\n  - {weight: 100, hold_windows: 1}\n\
             ramp_budget: 1h\ntraffic: {min_requests_per_route: 20, max_extensions: 600}\n\
             baseline: {lookback: 7d, min_history: 1h, min_requests_per_route: 10}\n",
        )
        .unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, TOKEN).unwrap();
        let (listen, api, admin) = (free_port(), free_port(), free_port());
        let mut proxy = Command::new(bin())
            .args(["proxy", "--listen", &format!("127.0.0.1:{listen}")])
            .args(["--stable", &format!("http://127.0.0.1:{sp}")])
            .args(["--canary", &format!("http://127.0.0.1:{cp}")])
            .args(["--policy", policy.to_str().unwrap()])
            .args(["--workload", "shop/checkout", "--revision", "v2"])
            .args(["--api-listen", &format!("127.0.0.1:{api}")])
            .args(["--admin-listen", &format!("127.0.0.1:{admin}")])
            .args(["--api-token-file", token_file.to_str().unwrap()])
            .args(["--upstream-timeout", "3s"])
            .args(["--db", dir.path().join("c.db").to_str().unwrap()])
            .env_remove("CANARYD_API_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = proxy.stdout.take().unwrap();
        let stderr = proxy.stderr.take().unwrap();
        kids.0.push(proxy);
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(l);
            }
        });
        let sink = lines.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(format!("stderr: {l}"));
            }
        });
        let s = Setup {
            kids,
            stable: 0,
            canary: 1,
            listen,
            admin,
            lines,
            _dir: dir,
        };
        s.wait_for("awaiting_approval", 120);
        let approve = Command::new(bin())
            .args(["approve", "shop/checkout", "v2", "--by", "alice"])
            .args([
                "--reason",
                "test",
                "--server",
                &format!("http://127.0.0.1:{api}"),
            ])
            .args(["--token-file", token_file_of(&s).to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(
            approve.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&approve.stderr)
        );
        s
    }

    fn pid(&self, which: usize) -> String {
        self.kids.0[which].id().to_string()
    }

    /// Waits for a stdout line containing `needle`; returns it.
    fn wait_for(&self, needle: &str, secs: u64) -> String {
        self.wait_line(|l| l.contains(needle), needle, secs)
    }

    fn wait_line(&self, ok: impl Fn(&str) -> bool, what: &str, secs: u64) -> String {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(secs) {
            if let Some(l) = self.lines.lock().unwrap().iter().find(|l| ok(l)) {
                return l.clone();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "proxy never printed {what:?}: {:#?}",
            self.lines.lock().unwrap()
        )
    }

    /// Waits until two windows were judged healthy at 50% (a pass).
    fn wait_ramping_at_50(&self) {
        let n = Instant::now();
        loop {
            let passes = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .filter(|l| {
                    l.starts_with("window ")
                        && l.contains(": healthy")
                        && l.contains("ramping: 50%")
                })
                .count();
            if passes >= 2 {
                return;
            }
            assert!(
                n.elapsed() < Duration::from_secs(120),
                "never ramping at 50%: {:#?}",
                self.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn metrics(&self) -> String {
        get(self.admin, "/metrics")
    }

    fn load(&self) -> canaryd_sim::LoadHandle {
        let mut cfg = canaryd_sim::LoadConfig::new(
            format!("http://127.0.0.1:{}", self.listen),
            200.0,
            Duration::from_secs(600),
        );
        cfg.mix = "GET /pay=100".parse().unwrap();
        canaryd_sim::load::start(cfg).unwrap()
    }
}

fn token_file_of(s: &Setup) -> std::path::PathBuf {
    s._dir.path().join("token")
}

fn signal(pid: &str, sig: &str) {
    let st = Command::new("kill").args([sig, pid]).status().unwrap();
    assert!(st.success(), "kill {sig} {pid}");
}

/// Kill -9 the canary at 50%: users get 502s, which are the canary's errors;
/// the `canaryd` preset rolls it back (before: the rollout *paused* as
/// "collectors cannot see the canary" and kept serving 502s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_canary_at_50_percent_is_rolled_back() {
    let s = Setup::start();
    let load = s.load();
    s.wait_ramping_at_50();
    signal(&s.pid(s.canary), "-KILL");
    let killed = Instant::now();
    let line = s.wait_line(
        |l| l.contains("rolled_back") || l.contains("paused"),
        "rolled back",
        120,
    );
    let took = killed.elapsed();
    assert!(
        line.contains("rolled_back"),
        "rolled back, not paused: {line}"
    );
    assert!(get(s.admin, "/admin/weight").contains(r#"{"weight":0}"#));
    let m = s.metrics();
    let served_502 = counter(
        &m,
        r#"canaryd_proxy_upstream_failures_total{cohort="canary",kind="connect"}"#,
    ) + counter(
        &m,
        r#"canaryd_proxy_upstream_failures_total{cohort="canary",kind="reset"}"#,
    );
    assert!(served_502 > 0, "{m}");
    let report = load.stop().await;
    eprintln!(
        "FIGURE dead canary at 50%: {served_502} requests answered 502 before the rollback, \
         rolled back {:.1} s after kill -9 ({} requests sent in all); decision: {line}",
        took.as_secs_f64(),
        report.counters.sent
    );
}

/// SIGSTOP the canary: its users' requests hang, the proxy answers 504 after
/// its upstream timeout and counts each as a canary error, and the rollout
/// is rolled back (before: 0 canary errors were recorded while clients gave up).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_canary_times_out_into_errors_and_is_rolled_back() {
    let s = Setup::start();
    let load = s.load();
    s.wait_ramping_at_50();
    signal(&s.pid(s.canary), "-STOP");
    let stopped = Instant::now();
    let line = s.wait_for("rolled_back", 180);
    let took = stopped.elapsed();
    let m = s.metrics();
    let timeouts = counter(
        &m,
        r#"canaryd_proxy_upstream_failures_total{cohort="canary",kind="timeout"}"#,
    );
    assert!(timeouts > 0, "{m}");
    signal(&s.pid(s.canary), "-CONT");
    let _ = load.stop().await;
    eprintln!(
        "FIGURE hung canary at 50%: {timeouts} requests answered 504, rolled back {:.1} s \
         after SIGSTOP; decision: {line}",
        took.as_secs_f64()
    );
}

/// Kill the STABLE process: the canary is not to blame. No rollback; the
/// rollout holds and the reason names stable (before: "collectors cannot see
/// the canary").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_stable_is_not_blamed_on_the_canary() {
    let s = Setup::start();
    let load = s.load();
    s.wait_ramping_at_50();
    signal(&s.pid(s.stable), "-KILL");
    let line = s.wait_for("paused", 120);
    assert!(
        line.contains("STABLE") && line.contains("not the canary"),
        "{line}"
    );
    assert!(!line.contains("cannot see the canary"), "{line}");
    // A few more windows: still no rollback while stable stays down.
    let n = s.lines.lock().unwrap().len();
    let t = Instant::now();
    while s.lines.lock().unwrap().len() < n + 3 && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let lines = s.lines.lock().unwrap().clone();
    assert!(
        !lines.iter().any(|l| l.contains("rolled_back")),
        "{lines:#?}"
    );
    assert!(get(s.admin, "/admin/weight").contains(r#"{"weight":50}"#));
    let _ = load.stop().await;
}
