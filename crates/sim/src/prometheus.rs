//! A real Prometheus on loopback, for tests that must see what production sees.
//!
//! The Prometheus source's tests would prove little against a fake: the
//! things that go wrong are Prometheus' own (extrapolation in `increase()`,
//! staleness, `up` of a dead target, a restart losing nothing). So they run
//! the real binary: Debian's `prometheus` package, found as `$PROMETHEUS_BIN`,
//! else on `PATH`, else at `/usr/bin/prometheus`.
//!
//! Each [`PrometheusServer`] has its own temporary directory (config, TSDB,
//! log) and its own free loopback port, so tests can run side by side. It
//! scrapes each target as its own job (`app-0`, `app-1`, ...: names that do
//! not depend on the version the target serves, so the cohort is told apart
//! by the target's own `version` label, as in production). `start` returns
//! only once Prometheus is ready *and* has scraped every target once
//! (`up == 1`, scraped steadily since this process started), so a test's
//! first window already has data.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long `start` and `restart` wait for readiness and the first scrapes.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// Why the test Prometheus could not be started or did not become ready.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    #[error(
        "no prometheus binary (looked at $PROMETHEUS_BIN, PATH, /usr/bin/prometheus): \
         install Debian's prometheus package (scripts/test does)"
    )]
    /// No Prometheus binary found; the message says where it was looked for.
    NotInstalled,
    /// A file or process operation of the harness failed.
    #[error("prometheus test harness: {what}: {source}")]
    Io {
        /// What the harness was doing.
        what: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// Prometheus did not answer ready, or did not scrape every target, in time.
    #[error("prometheus on {addr} was not ready within {secs}s: {why}. Its log ends with:\n{log}")]
    NotReady {
        /// Where Prometheus was listening.
        addr: SocketAddr,
        /// How long the harness waited, in seconds.
        secs: u64,
        /// The last thing that was not yet as expected.
        why: String,
        /// The tail of Prometheus' log, to see why.
        log: String,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> PrometheusError {
    let what = what.into();
    move |source| PrometheusError::Io { what, source }
}

/// A running Prometheus scraping the given targets.
pub struct PrometheusServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    addr: SocketAddr,
    targets: usize,
    scrape_interval: Duration,
    /// When the current process was started (Unix seconds): scrapes
    /// before it do not count as ready.
    spawned_at: f64,
    child: Option<Child>,
}

/// The binary to run.
pub fn find_binary() -> Result<PathBuf, PrometheusError> {
    if let Some(p) = std::env::var_os("PROMETHEUS_BIN") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(PrometheusError::NotInstalled)
        };
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("prometheus"))
            .find(|p| p.is_file())
    });
    on_path
        .or_else(|| Some(PathBuf::from("/usr/bin/prometheus")).filter(|p| p.is_file()))
        .ok_or(PrometheusError::NotInstalled)
}

/// A Prometheus duration (`1s`, `500ms`).
fn prom_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

/// The generated config: one job per target.
pub fn config_yaml(targets: &[SocketAddr], scrape_interval: Duration) -> String {
    let mut out = format!(
        "global:\n  scrape_interval: {i}\n  scrape_timeout: {i}\n  evaluation_interval: {i}\nscrape_configs:\n",
        i = prom_duration(scrape_interval)
    );
    for (n, t) in targets.iter().enumerate() {
        out.push_str(&format!(
            "  - job_name: app-{n}\n    static_configs:\n      - targets: ['{t}']\n"
        ));
    }
    out
}

impl PrometheusServer {
    /// Starts Prometheus scraping `targets` every `scrape_interval`, and waits
    /// for it to be ready and to have scraped every target once.
    pub async fn start(
        targets: &[SocketAddr],
        scrape_interval: Duration,
    ) -> Result<PrometheusServer, PrometheusError> {
        let bin = find_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("canaryd-prometheus-")
            .tempdir()
            .map_err(io("creating a temporary directory"))?;
        std::fs::write(
            dir.path().join("prometheus.yml"),
            config_yaml(targets, scrape_interval),
        )
        .map_err(io("writing prometheus.yml"))?;
        let addr = free_port()?;
        let mut server = PrometheusServer {
            bin,
            dir,
            addr,
            targets: targets.len(),
            scrape_interval,
            spawned_at: 0.0,
            child: None,
        };
        server.spawn()?;
        server.wait_ready().await?;
        Ok(server)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The loopback address Prometheus listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The directory holding the config, the TSDB and the log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills Prometheus (as a crash would); its data stays for `restart`.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts Prometheus again on the same port with the same data, and waits
    /// until it is ready and scraping every target again.
    pub async fn restart(&mut self) -> Result<(), PrometheusError> {
        self.stop();
        self.spawn()?;
        self.wait_ready().await
    }

    fn spawn(&mut self) -> Result<(), PrometheusError> {
        let d = self.dir.path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("prometheus.log"))
            .map_err(io("opening prometheus.log"))?;
        let log2 = log.try_clone().map_err(io("opening prometheus.log"))?;
        let child = Command::new(&self.bin)
            .arg(format!(
                "--config.file={}",
                d.join("prometheus.yml").display()
            ))
            .arg(format!("--storage.tsdb.path={}", d.join("data").display()))
            .arg(format!("--web.listen-address={}", self.addr))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(io(format!("starting {}", self.bin.display())))?;
        self.child = Some(child);
        self.spawned_at = unix_now();
        Ok(())
    }

    fn log_tail(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.path().join("prometheus.log")) {
            let _ = f.read_to_string(&mut s);
        }
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    async fn wait_ready(&mut self) -> Result<(), PrometheusError> {
        let deadline = tokio::time::Instant::now() + READY_WITHIN;
        let mut why;
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    why = format!("the process exited ({status})");
                    break;
                }
            }
            match self.scraped_up().await {
                Ok(n) if n >= self.targets => return Ok(()),
                Ok(n) => why = format!("{n} of {} targets scraped with up == 1", self.targets),
                Err(e) => why = e,
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(PrometheusError::NotReady {
            addr: self.addr,
            secs: READY_WITHIN.as_secs(),
            why,
            log: self.log_tail(),
        })
    }

    /// How many targets are up, once `/-/ready` says yes.
    async fn scraped_up(&self) -> Result<usize, String> {
        let (status, _) = get(self.addr, "/-/ready").await?;
        if status != 200 {
            return Err(format!("/-/ready answered {status}"));
        }
        // Fresh samples only: after a restart the TSDB still holds the `up`
        // samples written before the kill (no staleness markers), and the
        // scrape manager applies its targets only after its first reload tick.
        // A first scrape is not enough either: Prometheus scrapes once, then
        // restarts its scrape loops at its first target reload (~5 s later).
        // Ready = three samples since this process started, the last fresh.
        let since_ms = ((unix_now() - self.spawned_at) * 1000.0).ceil().max(1.0);
        let fresh_s = 2.0 * self.scrape_interval.as_secs_f64();
        let query = format!(
            "count_over_time(up[{since_ms}ms]) >= 3 and (time() - timestamp(up == 1)) < {fresh_s}"
        );
        let path = format!("/api/v1/query?query={}", url_escape(&query));
        let (status, body) = get(self.addr, &path).await?;
        if status != 200 {
            return Err(format!("query `{query}` answered {status}: {body}"));
        }
        let v: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| format!("bad query answer: {e}"))?;
        Ok(v["data"]["result"].as_array().map(Vec::len).unwrap_or(0))
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Percent-encodes a query parameter.
fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn free_port() -> Result<SocketAddr, PrometheusError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port"))?;
    l.local_addr().map_err(io("finding a free port"))
}

/// A minimal HTTP/1.0 GET: the harness needs two requests and no client.
async fn get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let work = async {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| "no HTTP status line".to_string())?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        Ok((status, body.to_string()))
    };
    tokio::time::timeout(Duration::from_secs(2), work)
        .await
        .map_err(|_| "no answer within 2s".to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_one_job_per_target() {
        let y = config_yaml(
            &[
                "127.0.0.1:1".parse().unwrap(),
                "127.0.0.1:2".parse().unwrap(),
            ],
            Duration::from_secs(1),
        );
        assert!(y.contains("scrape_interval: 1000ms"));
        assert!(
            y.contains("job_name: app-1\n    static_configs:\n      - targets: ['127.0.0.1:2']")
        );
    }
}
