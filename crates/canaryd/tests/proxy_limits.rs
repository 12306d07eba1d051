//! `canaryd proxy` under a flood of idle connections, as the binary runs.
//!
//! Before: no cap and no timeouts; clients holding idle sockets exhausted the
//! process's file descriptors and `/healthz` (admin) and the proxied routes
//! went down with them. Here the proxy runs with a small descriptor limit
//! (`ulimit -n 256`), a client opens 400 idle connections, and `/healthz`
//! must still answer, the cap must be logged, and once the header timeout
//! closes the idle sockets a proxied request must get through.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Kill(Vec<Child>);

impl Drop for Kill {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` with `Connection: close`; the status line, or why it failed.
fn get(port: u16, path: &str) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(90)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    Ok(out.lines().next().unwrap_or("").to_string())
}

fn wait_listening(port: u16) {
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "port {port} never opened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn idle_connections_cannot_take_down_healthz_beyond_the_cap() {
    let bin = env!("CARGO_BIN_EXE_canaryd");
    let dir = tempfile::tempdir().unwrap();
    let mut kids = Kill(Vec::new());
    let (sp, cp) = (free_port(), free_port());
    for (port, v) in [(sp, "v1"), (cp, "v2")] {
        kids.0.push(
            Command::new(bin)
                .args(["sample-app", "--version", v, "--port", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_listening(port);
    }
    let policy = dir.path().join("p.yaml");
    std::fs::write(
        &policy,
        "name: t\nwindow: 1s\nladder:\n  - {weight: 50, hold_windows: 2}\n  - {weight: 100, hold_windows: 1}\nramp_budget: 1h\n\
         traffic: {min_requests_per_route: 10, max_extensions: 5}\n\
         baseline: {lookback: 7d, min_history: 1h, min_requests_per_route: 10}\n\
         rules:\n  - {metric: error_rate, ratio: 2, min_value: 5%}\n",
    )
    .unwrap();
    let (listen, api, admin) = (free_port(), free_port(), free_port());
    let cmd = format!(
        "ulimit -n 256 && exec '{bin}' proxy --listen 127.0.0.1:{listen} \
         --stable http://127.0.0.1:{sp} --canary http://127.0.0.1:{cp} --revision v2 --policy '{}' \
         --api-listen 127.0.0.1:{api} --admin-listen 127.0.0.1:{admin} \
         --header-timeout 3s --db '{}'",
        policy.display(),
        dir.path().join("c.db").display()
    );
    let mut proxy = Command::new("sh")
        .args(["-c", &cmd])
        .env_remove("CANARYD_API_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = proxy.stderr.take().unwrap();
    kids.0.push(proxy);
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = log.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(l);
        }
    });
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", admin)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the proxy never listened: {:#?}",
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_listening(listen);
    assert!(get(admin, "/healthz").unwrap().contains("200"));

    // 400 idle connections: more than 256 descriptors could ever hold.
    let idle: Vec<TcpStream> = (0..400)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", listen)).ok())
        .collect();
    assert!(idle.len() >= 300, "the kernel backlog took {}", idle.len());
    let t = Instant::now();
    while !log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("connection limit reached"))
    {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no cap line: {:#?}",
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The admin listener has descriptors left: /healthz answers.
    let h = get(admin, "/healthz");
    assert!(h.as_ref().is_ok_and(|l| l.contains("200")), "{h:?}");
    // The idle sockets are closed after the header timeout, freeing slots:
    // a real request through the proxy gets its answer.
    let p = get(listen, "/pay");
    assert!(p.as_ref().is_ok_and(|l| l.contains("200")), "{p:?}");
    drop(idle);
    assert!(
        !log.lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("accept failed")),
        "descriptors ran out: {:#?}",
        log.lock().unwrap()
    );
}
