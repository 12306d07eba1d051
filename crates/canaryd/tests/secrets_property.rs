//! The proof of "secrets never printed" (issue 16), through the real binary.
//!
//! Each case generates fresh random secrets and plants them in every
//! secret-bearing place a user can put one: the policy's source auth, its
//! router (an inline credential header, a token from the environment), its
//! notify targets (Slack URL, PagerDuty routing key, webhook secret, a
//! `?token=` in a URL), the operator's `--server` userinfo and API token,
//! `CANARYD_SERVER`, the proxy's `--canary` userinfo and the integration
//! token of `serve`. It then runs the commands that print, log, notify and
//! audit, including their failure paths: every HTTP endpoint is a local
//! server that answers 401 or 500 and echoes what it received, or a port
//! that refuses. It asserts that no secret appears in any stdout, stderr,
//! notification body received, database row (`audit export`, `history`) or
//! the raw database file.
//!
//! Places checked per case: 14 secrets (and the base64 forms of the two
//! userinfo pairs) against 12 command outputs (policy check ×2, doctor,
//! approve ×2, --help, proxy, serve's two answers and its own output, audit
//! export, history), the raw database file (and its WAL), and every request
//! body the echo servers received (Prometheus queries, router and operator
//! requests).

use proptest::prelude::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An HTTP server on loopback that answers every request with the next status
/// of `statuses` (cycling) and a body echoing the whole request; it records
/// the bodies it received.
struct Echo {
    port: u16,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Echo {
    fn start(statuses: &'static [u16]) -> Echo {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = bodies.clone();
        std::thread::spawn(move || {
            for (i, s) in l.incoming().enumerate() {
                let Ok(mut s) = s else { continue };
                let status = statuses[i % statuses.len()];
                let sink = sink.clone();
                std::thread::spawn(move || {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
                    let req = read_request(&mut s);
                    if let Some(at) = req.find("\r\n\r\n") {
                        sink.lock().unwrap().push(req[at + 4..].to_string());
                    }
                    let body = serde_json::json!({
                        "message": format!("echo: {req}"),
                        "error": format!("echo: {req}"),
                    })
                    .to_string();
                    let _ = s.write_all(
                        format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    );
                });
            }
        });
        Echo { port, bodies }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// The request head and as much body as `content-length` says.
fn read_request(s: &mut std::net::TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..at]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if got.len() >= at + 4 + len {
                break;
            }
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn canaryd(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_canaryd"));
    c.args(args)
        .env_remove("CANARYD_SERVER")
        .env_remove("CANARYD_API_TOKEN")
        .env("RUST_LOG", "debug");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("the binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A raw HTTP POST to a local server; the answer as text.
fn post(port: u16, path: &str, body: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Secrets unlike anything else in the output: a marker and random letters.
fn secret() -> impl Strategy<Value = String> {
    "[a-z0-9]{14}".prop_map(|s| format!("Zq{s}"))
}

struct Run {
    /// Every text that must hold no secret, named for the failure message.
    outputs: Vec<(String, String)>,
}

fn one_case(dir: &Path, s: &[String]) -> Run {
    let mut outputs = Vec::new();
    let echo = Echo::start(&[401, 500]);
    let e = echo.url();

    // The notify targets: Slack URL (the credential), PagerDuty routing key,
    // webhook URL with a ?token= and a signing secret; all answer 401/500.
    let notify = format!(
        "targets:\n  - name: chat\n    slack: {{webhook_url: \"{e}/services/{s0}\"}}\n  - name: pager\n    pagerduty: {{routing_key: \"{s1}\", url: \"{e}/v2/enqueue\"}}\n  - name: bot\n    webhook: {{url: \"http://hook:{s13}@127.0.0.1:{port}/hook?token={s2}\", secret: \"{s3}\"}}\n",
        s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3], s13 = s[13], port = echo.port
    );
    std::fs::write(dir.join("notify.yaml"), &notify).unwrap();
    let policy = format!(
        "preset: slo-ratio\nwindow: 1s\nbaseline: {{lookback: 7d, min_history: 1s, min_requests_per_route: 1}}\n\
         source:\n  prometheus:\n    url: \"{e}\"\n    auth: {{bearer: {{token: \"{s4}\"}}}}\n    timeout: 2s\n    retries: 0\n    baseline: v1\n\
         router:\n  webhook:\n    set_weight:\n      url: \"{e}/weights\"\n      headers: {{X-Api-Key: \"{s5}\", X-Team: pay}}\n    token: {{env: CANARYD_PROP_ROUTER_TOKEN}}\n    retries: 0\n\
         notify: notify.yaml\n",
        s4 = s[4], s5 = s[5]
    );
    let p = dir.join("policy.yaml");
    std::fs::write(&p, &policy).unwrap();
    let p = p.to_str().unwrap();
    let router_env = [("CANARYD_PROP_ROUTER_TOKEN", s[6].as_str())];

    // 1. policy check of the valid policy (inline secrets are warned about).
    let o = canaryd(&["policy", "check", p], &router_env);
    outputs.push(("policy check".into(), text(&o)));

    // 2. The same policy with a typo next to the inline secrets, and its
    //    notify section inline.
    let broken = policy
        .replace("    timeout: 2s\n", "    timeout: two seconds\n")
        .replace(
            "notify: notify.yaml\n",
            &format!("notify:\n{}", indent(&notify)),
        )
        .replace("      min_severity", "      min_sevrity");
    let pb = dir.join("broken.yaml");
    std::fs::write(&pb, broken).unwrap();
    let o = canaryd(&["policy", "check", pb.to_str().unwrap()], &router_env);
    outputs.push(("policy check (broken)".into(), text(&o)));

    // 3. doctor: the source answers 401/500 with an echo of the request
    //    (bearer token included); notify targets are probed.
    let o = canaryd(&["doctor", "--policy", p, "--revision", "v2"], &router_env);
    outputs.push(("doctor".into(), text(&o)));

    // 4. An operator command through a server URL with userinfo, answered by
    //    the echo (401 or 500), and one to a port that refuses.
    for server in [
        format!("http://op:{}@127.0.0.1:{}", s[7], echo.port),
        format!("http://op:{}@127.0.0.1:{}", s[7], closed_port()),
    ] {
        let o = canaryd(
            &[
                "approve", "shop/pay", "v2", "--by", "ann", "--server", &server,
            ],
            &[("CANARYD_API_TOKEN", s[8].as_str())],
        );
        outputs.push((format!("approve via {}", server.len()), text(&o)));
    }
    // 5. --help with CANARYD_SERVER carrying credentials.
    let o = canaryd(
        &["abort", "--help"],
        &[(
            "CANARYD_SERVER",
            &format!("http://op:{}@h:1/?token={}", s[7], s[9]),
        )],
    );
    outputs.push(("abort --help".into(), text(&o)));

    // 6. proxy with credentials in the canary URL.
    let db = dir.join("c.db");
    let o = canaryd(
        &[
            "proxy",
            "--stable",
            &e,
            "--canary",
            &format!("http://deploy:{}@127.0.0.1:{}", s[10], closed_port()),
            "--revision",
            "v2",
            "--policy",
            p,
            "--db",
            db.to_str().unwrap(),
        ],
        &router_env,
    );
    outputs.push(("proxy".into(), text(&o)));

    // 7. serve: Flagger sends the integration token in its metadata and a
    //    message quoting it; answers and the audit log must not hold it.
    let token_file = dir.join("integration");
    std::fs::write(&token_file, &s[11]).unwrap();
    let port = closed_port();
    let child = Command::new(env!("CARGO_BIN_EXE_canaryd"))
        .args([
            "serve",
            "--policy",
            p,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--integration-token-file",
        ])
        .arg(&token_file)
        .arg("--db")
        .arg(&db)
        .envs(router_env)
        .env("CANARYD_API_TOKEN", &s[8])
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = Guard(child);
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "serve did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let event = format!(
        r#"{{"name":"pay","namespace":"shop","phase":"Progressing","checksum":"abc123","metadata":{{"token":"{t}","eventMessage":"hook called with token={t}; bearer {t}; pd {pd}","eventType":"Normal","password":"{pw}"}}}}"#,
        t = s[11],
        pd = s[1],
        pw = s[12]
    );
    outputs.push((
        "serve event answer".into(),
        post(port, "/api/v1/flagger/event", &event),
    ));
    let gate = format!(
        r#"{{"name":"pay","namespace":"shop","phase":"Progressing","checksum":"abc123","metadata":{{"token":"{t}","note":"{t}"}}}}"#,
        t = s[11]
    );
    outputs.push((
        "serve gate answer".into(),
        post(port, "/api/v1/flagger/confirm-rollout", &gate),
    ));
    let _ = guard.0.kill();
    let out = guard.0.wait_with_output_after_kill();
    outputs.push(("serve output".into(), out));

    // 8. What was stored: audit export, history, the raw file.
    let o = canaryd(&["audit", "export", "--db", db.to_str().unwrap()], &[]);
    let exported = text(&o);
    assert!(
        exported.contains("flagger"),
        "the event was audited: {exported}"
    );
    outputs.push(("audit export".into(), exported));
    let o = canaryd(
        &["history", "--db", db.to_str().unwrap(), "--output", "json"],
        &[],
    );
    outputs.push(("history".into(), text(&o)));
    let raw = std::fs::read(&db).unwrap_or_default();
    outputs.push((
        "raw database".into(),
        String::from_utf8_lossy(&raw).into_owned(),
    ));
    for suffix in ["-wal", "-journal"] {
        let side = dir.join(format!("c.db{suffix}"));
        if let Ok(b) = std::fs::read(&side) {
            outputs.push((
                format!("raw database{suffix}"),
                String::from_utf8_lossy(&b).into_owned(),
            ));
        }
    }
    // 9. Every body a notification or router endpoint received.
    for (i, b) in echo.bodies.lock().unwrap().iter().enumerate() {
        outputs.push((format!("body received #{i}"), b.clone()));
    }
    // The failure paths were really taken (else the property says nothing).
    let find = |place: &str| {
        outputs
            .iter()
            .filter(|(p, _)| p.starts_with(place))
            .map(|(_, o)| o.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(find("doctor").contains("HTTP 401"), "{}", find("doctor"));
    assert!(find("doctor").contains("echo: POST"), "{}", find("doctor"));
    assert!(
        find("approve").contains("echo: POST /api/v1/commands"),
        "{}",
        find("approve")
    );
    assert!(
        find("approve").contains("cannot reach canaryd"),
        "{}",
        find("approve")
    );
    assert!(
        find("policy check (broken)").contains("broken.yaml:"),
        "{}",
        find("policy check (broken)")
    );
    assert!(
        find("proxy").contains("carries credentials"),
        "{}",
        find("proxy")
    );
    assert!(
        find("serve event answer").contains("recorded"),
        "{}",
        find("serve event answer")
    );
    assert!(
        find("serve output").contains("inline"),
        "{}",
        find("serve output")
    );
    Run { outputs }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

trait KillOutput {
    fn wait_with_output_after_kill(&mut self) -> String;
}

impl KillOutput for Child {
    fn wait_with_output_after_kill(&mut self) -> String {
        let _ = self.wait();
        let mut out = String::new();
        if let Some(mut o) = self.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        if let Some(mut e) = self.stderr.take() {
            let _ = e.read_to_string(&mut out);
        }
        out
    }
}

proptest! {
    // Each case runs the binary a dozen times: a few cases keep the suite
    // reasonable on two busy cores; the library properties run many more.
    #![proptest_config(ProptestConfig { cases: 6, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_configured_secret_appears_in_any_output(s in proptest::collection::vec(secret(), 14)) {
        let dir = tempfile::tempdir().unwrap();
        let run = one_case(dir.path(), &s);
        prop_assert!(run.outputs.len() >= 14, "every place was checked");
        if std::env::var("PROP_DUMP").is_ok() {
            for (place, out) in &run.outputs {
                eprintln!("=== {place}\n{}", &out[..out.len().min(1500)]);
            }
        }
        // The encoded forms that travel in `Authorization: Basic` headers.
        let mut forms: Vec<String> = s.clone();
        forms.push(canaryd_secrets::redact::base64(format!("op:{}", s[7]).as_bytes()));
        forms.push(canaryd_secrets::redact::base64(format!("deploy:{}", s[10]).as_bytes()));
        forms.push(canaryd_secrets::redact::base64(format!("hook:{}", s[13]).as_bytes()));
        for (place, out) in &run.outputs {
            for (i, secret) in forms.iter().enumerate() {
                prop_assert!(
                    !out.contains(secret.as_str()),
                    "secret #{} found in {}:\n{}", i, place, out
                );
            }
        }
    }
}
