//! One test per leak of issue 16, through the binary as users run it. Each
//! plants a unique secret where a user might put it and checks every byte the
//! process prints. Each failed on the `main` the issue was filed against:
//! the URL was printed whole, `--help` showed `CANARYD_SERVER`, `policy
//! check` said `ok`, snippets showed the neighbouring secret, a token file's
//! first line was echoed, and a 10 MB line was quoted whole.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_canaryd"));
    c.args(args)
        .current_dir(root())
        .env_remove("CANARYD_SERVER");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("the binary runs")
}

fn all(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn assert_absent(o: &Output, secret: &str) {
    let text = all(o);
    assert!(!text.contains(secret), "`{secret}` printed:\n{text}");
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Answers one HTTP request with `status` and a JSON `message` echoing the
/// whole request it received (request line, headers with the bearer token).
fn echo_server(status: u16) -> (u16, std::thread::JoinHandle<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut buf = vec![0u8; 16 * 1024];
        let mut got = Vec::new();
        // Headers end at the blank line; the body is small and follows.
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        let echoed = String::from_utf8_lossy(&got).to_string();
        let body = serde_json::json!({ "message": format!("you sent: {echoed}") }).to_string();
        let resp = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(resp.as_bytes()).unwrap();
    });
    (port, h)
}

const PW: &str = "srvpass-5b6c7d8e9f";
const API_TOKEN: &str = "api-token-1a2b3c4d5e";

#[test]
fn operator_commands_never_print_the_server_urls_credentials() {
    // Unreachable: "cannot reach canaryd at ..." names the server, masked.
    let server = format!("http://op:{PW}@127.0.0.1:{}", closed_port());
    let o = run(
        &[
            "approve", "shop/pay", "v2", "--by", "ann", "--server", &server,
        ],
        &[("CANARYD_API_TOKEN", API_TOKEN)],
    );
    assert_eq!(o.status.code(), Some(4), "{}", all(&o));
    assert!(
        all(&o).contains("cannot reach canaryd at http://[REDACTED]@127.0.0.1"),
        "{}",
        all(&o)
    );
    assert_absent(&o, PW);

    // The same URL from the environment is not shown by --help.
    let o = run(&["approve", "--help"], &[("CANARYD_SERVER", &server)]);
    assert_eq!(o.status.code(), Some(0));
    assert!(all(&o).contains("CANARYD_SERVER"), "{}", all(&o));
    assert_absent(&o, PW);

    // A server (or a proxy in front of it) that answers 401 and 500 echoing
    // what it received: the token and the password are masked in what is quoted.
    for status in [401, 500] {
        let (port, h) = echo_server(status);
        let server = format!("http://op:{PW}@127.0.0.1:{port}");
        let o = run(
            &[
                "abort", "shop/pay", "v2", "--by", "ann", "--server", &server,
            ],
            &[("CANARYD_API_TOKEN", API_TOKEN)],
        );
        h.join().unwrap();
        assert_eq!(o.status.code(), Some(4), "{}", all(&o));
        assert!(
            all(&o).contains("you sent: POST /api/v1/commands"),
            "{}",
            all(&o)
        );
        assert_absent(&o, PW);
        assert_absent(&o, API_TOKEN);
    }

    // An invalid URL (a bad port) is quoted masked too.
    let o = run(
        &[
            "resume",
            "shop/pay",
            "v2",
            "--by",
            "ann",
            "--server",
            &format!("http://op:{PW}@127.0.0.1:99999"),
        ],
        &[("CANARYD_API_TOKEN", API_TOKEN)],
    );
    assert_eq!(o.status.code(), Some(3), "{}", all(&o));
    assert_absent(&o, PW);
}

#[test]
fn the_proxy_never_derives_the_revision_from_a_url_nor_prints_its_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let policy = root().join("examples/canaryd.yaml");
    let canary = format!("http://deploy:{PW}@127.0.0.1:{}", closed_port());
    let stable = format!("http://127.0.0.1:{}", closed_port());
    let db = dir.path().join("db.sqlite");
    let base = [
        "proxy",
        "--stable",
        &stable,
        "--canary",
        &canary,
        "--policy",
        policy.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ];
    let o = run(&base, &[]);
    assert!(!o.status.success(), "clap refuses: {}", all(&o));
    assert!(all(&o).contains("--revision"), "{}", all(&o));
    assert_absent(&o, PW);

    let mut with_rev = base.to_vec();
    with_rev.extend(["--revision", "v2"]);
    let o = run(&with_rev, &[]);
    assert_eq!(o.status.code(), Some(3), "{}", all(&o));
    assert!(all(&o).contains("--canary"), "{}", all(&o));
    assert!(all(&o).contains("carries credentials"), "{}", all(&o));
    assert_absent(&o, PW);
    assert!(!db.exists() || !String::from_utf8_lossy(&std::fs::read(&db).unwrap()).contains(PW));
}

/// `examples/gate-prometheus.yaml` with its Prometheus URL replaced.
fn gate_policy(dir: &Path, name: &str, url: &str) -> PathBuf {
    let text = std::fs::read_to_string(root().join("examples/gate-prometheus.yaml")).unwrap();
    let text = text.replace(
        "    url: http://prometheus.monitoring:9090\n",
        &format!("    url: \"{url}\"\n"),
    );
    assert!(text.contains(url));
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn policy_check_refuses_what_gate_refuses_and_never_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("userinfo.yaml", format!("http://op:{PW}@prometheus:9090")),
        ("query.yaml", format!("http://prometheus:9090/?token={PW}")),
        ("badport.yaml", format!("http://op:{PW}@prometheus:99999")),
    ];
    for (name, url) in &cases {
        let p = gate_policy(dir.path(), name, url);
        let o = run(&["policy", "check", p.to_str().unwrap()], &[]);
        assert_eq!(o.status.code(), Some(3), "{name}: {}", all(&o));
        assert_absent(&o, PW);
        let o = run(
            &[
                "gate",
                "--policy",
                p.to_str().unwrap(),
                "--revision",
                "v2",
                "--dry-run",
            ],
            &[],
        );
        assert_eq!(o.status.code(), Some(3), "gate {name}: {}", all(&o));
        assert_absent(&o, PW);
    }
}

#[test]
fn yaml_errors_point_at_the_users_line_and_mask_neighbouring_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let key = "inline-routing-key-0c1d2e3f";
    let text = std::fs::read_to_string(root().join("examples/gate-prometheus.yaml"))
        .unwrap()
        .replace(
            "{routing_key: {env: PD_ROUTING_KEY}}",
            &format!("{{routing_key: \"{key}\"}}"),
        )
        .replace(
            "      min_severity: warning",
            "      min_severity: warning\n      kinds: 7",
        );
    let line = text.lines().position(|l| l.contains("kinds: 7")).unwrap() + 1;
    let p = dir.path().join("p.yaml");
    std::fs::write(&p, &text).unwrap();
    let o = run(&["policy", "check", p.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(3), "{}", all(&o));
    assert!(
        all(&o).contains(&format!("p.yaml:{line}:")),
        "the location is the file's line {line}: {}",
        all(&o)
    );
    assert!(!all(&o).contains("<input>"), "{}", all(&o));
    assert_absent(&o, key);
}

#[test]
fn a_notify_path_to_a_token_file_is_named_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let token = "eyJhbGciOiJSUzI1NiJ9.sa-token-4f5a6b7c8d";
    std::fs::write(dir.path().join("token"), format!("{token}\n")).unwrap();
    let text = std::fs::read_to_string(root().join("examples/gate-prometheus.yaml")).unwrap();
    let cut = text.find("\nnotify:").unwrap();
    let p = dir.path().join("p.yaml");
    std::fs::write(&p, format!("{}\nnotify: token\n", &text[..cut])).unwrap();
    let o = run(&["policy", "check", p.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(3), "{}", all(&o));
    assert!(all(&o).contains("not a notification config"), "{}", all(&o));
    assert_absent(&o, token);
    assert_absent(&o, "sa-token-4f5a");
}

#[test]
fn a_huge_bad_line_is_not_quoted_whole() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    std::fs::write(&good, "1\n2\n3\n").unwrap();
    let bad = dir.path().join("bad");
    std::fs::write(&bad, format!("1\n{}\n", "x".repeat(10 * 1024 * 1024))).unwrap();
    let o = run(
        &[
            "stats",
            "mann-whitney",
            "--canary",
            bad.to_str().unwrap(),
            "--baseline",
            good.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        &all(&o)[..all(&o).len().min(500)]
    );
    assert!(
        all(&o).contains(":2: not a number"),
        "{}",
        &all(&o)[..all(&o).len().min(500)]
    );
    assert!(all(&o).len() < 4096, "{} bytes printed", all(&o).len());
}
