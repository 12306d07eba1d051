//! Helpers for tests that run `canaryd proxy` as a real process on loopback:
//! start it, wait for its lines, signal it, send requests through it, run
//! operator commands, read what its database recorded.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "restart-token-5c2e";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_canaryd")
}

/// A free port *below* the ephemeral range: the proxy is restarted on the
/// same ports, and a port from the ephemeral range may meanwhile become the
/// local end of some client connection (the load generator's, retrying
/// while the proxy is down), which would make the restart's bind fail.
pub fn free_port() -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768)
        .max(12_000);
    loop {
        use std::hash::{BuildHasher, Hasher};
        let r = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let port = 10_000 + (r % u64::from(low - 10_000)) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub struct Ports {
    pub listen: u16,
    pub api: u16,
    pub admin: u16,
}

/// One run of the proxy; killed on drop if the test fails half-way.
pub struct Proxy {
    pub child: Option<Child>,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    pub fn start(
        dir: &Path,
        p: &Ports,
        urls: (&str, &str),
        revision: &str,
        halt: Option<&str>,
    ) -> Proxy {
        let mut cmd = Command::new(bin());
        cmd.args([
            "proxy",
            "--listen",
            &format!("127.0.0.1:{}", p.listen),
            "--stable",
            urls.0,
            "--canary",
            urls.1,
            "--policy",
            dir.join("policy.yaml").to_str().unwrap(),
            "--workload",
            "shop/pay",
            "--revision",
            revision,
            "--api-listen",
            &format!("127.0.0.1:{}", p.api),
            "--api-token-file",
            dir.join("token").to_str().unwrap(),
            "--admin-listen",
            &format!("127.0.0.1:{}", p.admin),
            "--db",
            dir.join("canaryd.db").to_str().unwrap(),
        ])
        .env_remove("CANARYD_API_TOKEN")
        .env_remove("CANARYD_FAULT_HALT_AFTER_COMMIT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        if let Some(h) = halt {
            cmd.env("CANARYD_FAULT_HALT_AFTER_COMMIT", h);
        }
        let mut child = cmd.spawn().unwrap();
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let sink = lines.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(stream).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(l);
                }
            });
        }
        let proxy = Proxy {
            child: Some(child),
            lines,
        };
        proxy.wait_for("canaryd proxy: http://");
        proxy
    }

    /// Waits for a line containing `needle`. The bound only turns a hang
    /// into a failure with the output; it is not a timing assertion.
    pub fn wait_for(&self, needle: &str) {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(120) {
            if self
                .lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains(needle))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "proxy never printed {needle:?}: {:#?}",
            self.lines.lock().unwrap()
        );
    }

    pub fn signal(&mut self, sig: &str) -> Option<i32> {
        let mut child = self.child.take().unwrap();
        let ok = Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let status = child.wait().unwrap();
        status.code()
    }

    pub fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A plain HTTP/1.1 GET on loopback: the response's head and body.
pub fn get(port: u16, path: &str) -> (String, String) {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (head.to_ascii_lowercase(), body.to_string())
}

pub fn admin_weight(p: &Ports) -> u64 {
    let (head, body) = get(p.admin, "/admin/weight");
    let v: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {head}{body}"));
    v["weight"].as_u64().unwrap()
}

/// Sends `n` requests through the proxy, one at a time, and counts the
/// revision that answered each (`x-canaryd-version`), first one apart.
pub fn split(p: &Ports, n: usize) -> (String, BTreeMap<String, usize>) {
    let mut first = String::new();
    let mut seen = BTreeMap::new();
    for i in 0..n {
        let (head, _) = get(p.listen, "/pay");
        let v = head
            .lines()
            .find_map(|l| l.strip_prefix("x-canaryd-version:"))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| head.lines().next().unwrap_or_default().to_string());
        if i == 0 {
            first = v.clone();
        }
        *seen.entry(v).or_default() += 1;
    }
    (first, seen)
}

pub fn operator(dir: &Path, p: &Ports, verb: &str, revision: &str) {
    let out = Command::new(bin())
        .args([verb, "shop/pay", revision, "--by", "alice"])
        .args(["--server", &format!("http://127.0.0.1:{}", p.api)])
        .args(["--token-file", dir.join("token").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{verb}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every action the outbox holds for `revision`, in order, with how many
/// times the audit log says it was carried out.
pub fn actions(db: &PathBuf, revision: &str) -> Vec<(String, String, usize, bool)> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut audited: BTreeMap<String, usize> = BTreeMap::new();
    let mut st = c
        .prepare("SELECT payload FROM audit_log WHERE kind = 'action' AND revision = ?1")
        .unwrap();
    for p in st.query_map([revision], |r| r.get::<_, String>(0)).unwrap() {
        let v: serde_json::Value = serde_json::from_str(&p.unwrap()).unwrap();
        assert_eq!(v["result"]["ok"], true, "{v}");
        *audited
            .entry(v["idempotency_key"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let mut st = c
        .prepare(
            "SELECT idempotency_key, kind, payload, done FROM outbox \
             WHERE revision = ?1 AND kind != 'notify' ORDER BY id",
        )
        .unwrap();
    let rows = st
        .query_map([revision], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)? == 1,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .map(|(key, kind, payload, done)| {
            let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
            let what = match v.get("weight") {
                Some(w) => format!("{kind} {w}"),
                None => kind,
            };
            (
                key.clone(),
                what,
                audited.get(&key).copied().unwrap_or(0),
                done,
            )
        })
        .collect();
    rows
}

pub fn summary(a: &[(String, String, usize, bool)]) -> Vec<(String, usize, bool)> {
    a.iter().map(|(_, w, n, d)| (w.clone(), *n, *d)).collect()
}

/// Runs `canaryd ARGS... --server API --token-file TOKEN`: exit code, stdout, stderr.
pub fn command(dir: &Path, p: &Ports, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(bin())
        .args(args)
        .args(["--server", &format!("http://127.0.0.1:{}", p.api)])
        .args(["--token-file", dir.join("token").to_str().unwrap()])
        .env_remove("CANARYD_SERVER")
        .env_remove("CANARYD_API_TOKEN")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// How far back the recorded stable history of `shop/pay` reaches, in ms.
pub fn history_span_ms(db: &Path) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row(
        "SELECT coalesce(max(at_ms) - min(at_ms), 0) FROM stable_history WHERE workload = 'shop/pay'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
}

/// Waits until the recorded history spans `ms`. The bound only turns a
/// hang into a failure; it is not a timing assertion.
pub fn wait_for_history(db: &Path, ms: i64) {
    let t = Instant::now();
    while history_span_ms(db) < ms {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "no stable history recorded"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `new_canary` audit records, in order: (revision, canary_url, by, reason).
pub fn releases_audited(db: &Path) -> Vec<(String, String, String, Option<String>)> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c
        .prepare("SELECT revision, payload FROM audit_log WHERE kind = 'decision' ORDER BY seq")
        .unwrap();
    let rows = st
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .filter_map(|(rev, payload)| {
            let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
            (v["record"] == "new_canary").then(|| {
                (
                    rev,
                    v["canary_url"].as_str().unwrap().to_string(),
                    v["by"].as_str().unwrap().to_string(),
                    v["reason"].as_str().map(str::to_string),
                )
            })
        })
        .collect();
    rows
}

/// `canaryd audit verify` on `db` exits 0.
pub fn audit_verifies(db: &Path) {
    let verify = Command::new(bin())
        .args(["audit", "verify", "--db", db.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}
