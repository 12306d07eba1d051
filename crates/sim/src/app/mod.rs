//! The sample service: a stand-in for a real revision, with faults that can be
//! changed while it runs.
//!
//! Routes (each answer carries `x-canaryd-version: V`):
//! - `GET /pay`, `POST /pay`, `GET /items/{id}` — the business routes; faults apply;
//! - `POST /echo` — streams the request body back (for streaming tests); faults apply;
//! - `GET /debug/headers` — the request headers it received, as JSON;
//! - `GET /healthz` — `ok`, unless the app is `down` (hangs) or `unhealthy` (503);
//! - `GET /metrics` — Prometheus text: `http_requests_total`,
//!   `http_request_duration_seconds_bucket|sum|count` with a `version` label;
//! - `GET /admin/faults` — the current faults as JSON;
//! - `POST /admin/faults` — change them: `{"error_rate": 0.2, "latency_ms":
//!   "lognormal:40,300" | {"p50": 40, "p99": 300} | {"fixed": 20}, "down": true}`;
//!   fields left out keep their value.
//!
//! `down: true` simulates a partition: every route except `/admin/*` stops
//! answering (the request hangs until `down` is cleared, at most 60 s, then 503),
//! so health probes and proxied requests time out the way they do when a
//! network splits.

mod handlers;
pub mod metrics;

use crate::dist::LatencyDist;
use crate::error::SimError;
use canaryd_http::serve;
use metrics::AppMetrics;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Faults injected into the business routes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Fraction of business requests answered `500` (0.0–1.0).
    #[serde(default)]
    pub error_rate: f64,
    /// Latency added before answering.
    #[serde(default)]
    pub latency_ms: LatencyDist,
    /// Stop answering (partition): see the module docs.
    #[serde(default)]
    pub down: bool,
    /// `GET /healthz` answers 503 while every other route is served as
    /// usual: a health check that disagrees with the traffic.
    #[serde(default)]
    pub unhealthy: bool,
}

impl Faults {
    fn validate(&self) -> Result<(), SimError> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(SimError::BadErrorRate(self.error_rate));
        }
        Ok(())
    }
}

/// A partial change of faults, as `POST /admin/faults` takes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsPatch {
    /// New [`Faults::error_rate`]; unchanged when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    /// New [`Faults::latency_ms`]; unchanged when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<LatencyDist>,
    /// New [`Faults::down`]; unchanged when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down: Option<bool>,
    /// New [`Faults::unhealthy`]; unchanged when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy: Option<bool>,
}

impl FaultsPatch {
    fn apply(&self, base: &Faults) -> Faults {
        Faults {
            error_rate: self.error_rate.unwrap_or(base.error_rate),
            latency_ms: self.latency_ms.unwrap_or(base.latency_ms),
            down: self.down.unwrap_or(base.down),
            unhealthy: self.unhealthy.unwrap_or(base.unhealthy),
        }
    }
}

/// How to start a sample app.
#[derive(Debug, Clone)]
pub struct SampleAppConfig {
    /// Reported in the `version` label and the `x-canaryd-version` header.
    pub version: String,
    /// Port 0 picks a free one (see [`SampleApp::addr`]).
    pub listen: SocketAddr,
    /// Faults in force from the first request.
    pub faults: Faults,
    /// CPU burnt per business request (busy loop on a blocking thread), in ms.
    pub cpu_burn_ms: u64,
}

impl SampleAppConfig {
    /// A healthy app of `version` on a free loopback port.
    pub fn new(version: impl Into<String>) -> Self {
        SampleAppConfig {
            version: version.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            faults: Faults::default(),
            cpu_burn_ms: 0,
        }
    }
}

/// Shared by all connections of one app.
pub(crate) struct AppState {
    pub version: String,
    pub faults: watch::Sender<Faults>,
    pub cpu_burn_ms: u64,
    pub metrics: AppMetrics,
    pub business: AtomicU64,
    pub health: AtomicU64,
}

/// A running sample app. Cheap to clone; every clone controls the same app.
#[derive(Clone)]
pub struct SampleApp {
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: watch::Sender<bool>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl SampleApp {
    /// Binds and starts serving on the current tokio runtime.
    pub async fn start(config: SampleAppConfig) -> Result<SampleApp, SimError> {
        config.faults.validate()?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: config.listen,
            source,
        })?;
        let state = Arc::new(AppState {
            metrics: AppMetrics::new(&config.version),
            version: config.version,
            faults: watch::Sender::new(config.faults),
            cpu_burn_ms: config.cpu_burn_ms,
            business: AtomicU64::new(0),
            health: AtomicU64::new(0),
        });
        let (stop, stop_rx) = watch::channel(false);
        let st = state.clone();
        let task = tokio::spawn(serve(
            listener,
            move |_peer| handlers::service(st.clone()),
            stop_rx,
            Duration::from_secs(2),
        ));
        tracing::info!(%addr, version = %state.version, "sample app listening");
        Ok(SampleApp {
            addr,
            state,
            stop,
            task: Arc::new(Mutex::new(Some(task))),
        })
    }

    /// The address actually bound (the free port when `listen` asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the base URL to give a router or a load generator.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The revision this instance reports in its `version` label and header.
    pub fn version(&self) -> &str {
        &self.state.version
    }

    /// The faults in force now.
    pub fn faults(&self) -> Faults {
        self.state.faults.borrow().clone()
    }

    /// Replaces all faults; takes effect for the next request.
    pub fn set_faults(&self, faults: Faults) -> Result<(), SimError> {
        faults.validate()?;
        self.state.faults.send_replace(faults);
        Ok(())
    }

    /// Changes only the fields the patch names.
    pub fn patch_faults(&self, patch: &FaultsPatch) -> Result<Faults, SimError> {
        let next = patch.apply(&self.state.faults.borrow());
        self.set_faults(next.clone())?;
        Ok(next)
    }

    /// Business requests received (`/pay`, `/items/{id}`, `/echo`), counted on arrival.
    pub fn requests_received(&self) -> u64 {
        self.state.business.load(Ordering::SeqCst)
    }

    /// Health probes received (answered or not).
    pub fn health_checks_received(&self) -> u64 {
        self.state.health.load(Ordering::SeqCst)
    }

    /// The app's `/metrics` text, as a scrape would read it.
    pub fn metrics_text(&self) -> String {
        self.state.metrics.render()
    }

    /// Stops accepting, drains in-flight requests (2 s at most), returns when done.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}
