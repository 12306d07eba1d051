//! Shared by the Argo Rollouts and Flagger tests: a scripted metrics source,
//! a real HTTP server on 127.0.0.1:0 with the operator API and the
//! integrations, and requests built the way Argo and Flagger build them.

#![allow(dead_code)] // each test file uses part of it

use canaryd_core::observation::{
    Baseline, BaselineStatus, LatencySummary, Observation, RouteWindow, Window,
};
use canaryd_core::vocab::{RolloutKey, Route, Timestamp, Weight};
use canaryd_driver::CollectingNotifier;
use canaryd_policy::preset;
use canaryd_ports::{MetricsSource, SourceError};
use canaryd_secrets::Secret;
use canaryd_server::{
    integrations_router, router, AnalysisConfig, AnalysisService, Registry, SourceFactory,
};
use canaryd_store::{AuditEntry, AuditKind, SqliteStore};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

pub const TOKEN: &str = "integration-token-7c1e";
/// What Go's net/http sends when a client sets none (Argo and Flagger set none).
pub const GO_USER_AGENT: &str = "Go-http-client/1.1";

/// What the scripted source reports in every window for a workload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Script {
    /// Canary as good as the baseline.
    Healthy,
    /// Canary at 10% errors against 0.1%.
    Breach,
    /// The selector matched no series: no data at all.
    NoData,
    /// Prometheus unreachable.
    Trouble,
}

/// Scripts by workload: `shop/<script>`; `shop/new` has no stable history.
pub fn script_for(workload: &str) -> Option<(Script, bool)> {
    let name = workload.strip_prefix("shop/")?;
    Some(match name {
        "healthy" => (Script::Healthy, true),
        "breach" => (Script::Breach, true),
        "nodata" => (Script::NoData, true),
        "trouble" => (Script::Trouble, true),
        "new" => (Script::Healthy, false),
        _ => return None,
    })
}

pub struct Scripted {
    script: Script,
    history: bool,
}

fn obs(requests: u64, errors: u64, p99: f64) -> Observation {
    Observation {
        requests,
        errors,
        latency_ms: LatencySummary {
            p50: Some(p99 / 4.0),
            p95: Some(p99 / 2.0),
            p99: Some(p99),
        },
        ..Default::default()
    }
}

#[canaryd_ports::async_trait]
impl MetricsSource for Scripted {
    async fn baseline(&mut self, _key: &RolloutKey) -> Result<BaselineStatus, SourceError> {
        if !self.history {
            return Ok(BaselineStatus::Missing(
                "no stable traffic in the last 7 days".into(),
            ));
        }
        Ok(BaselineStatus::Available(Baseline {
            history_hours: 168.0,
            routes: BTreeMap::from([(Route::from("GET /pay"), obs(1_000_000, 1000, 120.0))]),
        }))
    }

    async fn window(
        &mut self,
        _key: &RolloutKey,
        _weight: Weight,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Window, SourceError> {
        let canary = match self.script {
            Script::Healthy => obs(5_000, 5, 120.0),
            Script::Breach => obs(5_000, 500, 120.0),
            Script::NoData => {
                return Ok(Window {
                    start,
                    end,
                    gaps: vec![
                        "canary selector `rollouts-pod-template-hash=\"c4n4ry\"` matched no series"
                            .into(),
                    ],
                    ..Default::default()
                })
            }
            Script::Trouble => {
                return Err(SourceError::transient(
                    "prometheus at http://127.0.0.1:9/api/v1/query: connection refused",
                ))
            }
        };
        Ok(Window {
            start,
            end,
            routes: BTreeMap::from([(
                Route::from("GET /pay"),
                RouteWindow {
                    canary: Some(canary),
                    baseline: Some(obs(45_000, 45, 120.0)),
                },
            )]),
            ..Default::default()
        })
    }
}

pub struct Factory;

impl SourceFactory for Factory {
    fn source_for(
        &self,
        key: &RolloutKey,
        _stable: &str,
    ) -> Result<Box<dyn MetricsSource>, SourceError> {
        let (script, history) = script_for(&key.workload.0).ok_or_else(|| {
            SourceError::transient(format!(
                "no Prometheus query configured for {}",
                key.workload
            ))
        })?;
        Ok(Box::new(Scripted { script, history }))
    }
}

pub type Service = AnalysisService<Factory, CollectingNotifier>;

pub struct Harness {
    pub base: String,
    pub http: reqwest::Client,
    pub db: std::path::PathBuf,
    pub service: Service,
    pub registry: Registry,
    _dir: tempfile::TempDir,
}

/// The server with `slo-ratio` (5-minute windows, breach = 2 windows in a row).
pub async fn start(token: Option<&str>) -> Harness {
    start_with(token, |_| {}).await
}

/// [`start`], with the service's configuration adjusted by `tune`.
pub async fn start_with(token: Option<&str>, tune: impl FnOnce(&mut AnalysisConfig)) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("canaryd.db");
    let registry = Registry::default();
    let mut config = AnalysisConfig::new(db.clone(), preset("slo-ratio").unwrap());
    tune(&mut config);
    let service = AnalysisService::new(
        Factory,
        |_: &RolloutKey| CollectingNotifier::default(),
        registry.clone(),
        config,
    );
    let app = router(registry.clone(), Some(Secret::new("operator-token")))
        .merge(integrations_router(service.clone(), token.map(Secret::new)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Harness {
        base: format!("http://{addr}"),
        http: canaryd_http::client(Duration::from_secs(3600)).unwrap(),
        db,
        service,
        registry,
        _dir: dir,
    }
}

impl Harness {
    /// Lets virtual time run until `key` has closed `windows` windows.
    pub async fn wait_windows(&self, key: &RolloutKey, windows: u32) {
        for _ in 0..10_000 {
            let seen = self
                .service
                .peek(key, |s| s.state.as_ref().map(|r| r.windows).unwrap_or(0))
                .unwrap_or(0);
            if seen >= windows {
                return;
            }
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        panic!("{key} never reached {windows} windows");
    }

    /// Lets virtual time run until `key`'s rollout has started (baseline looked up).
    pub async fn wait_started(&self, key: &RolloutKey) {
        for _ in 0..10_000 {
            if self
                .service
                .peek(key, |s| s.state.is_some())
                .unwrap_or(false)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{key} never started");
    }

    /// Argo's `web` provider with `method: GET` (the default) and the
    /// template's `headers` (Authorization from a secret arg).
    pub async fn argo_get(&self, token: Option<&str>, query: &str) -> (u16, Value) {
        let mut req = self
            .http
            .get(format!("{}/api/v1/argo/analysis?{query}", self.base))
            .header("User-Agent", GO_USER_AGENT)
            .header("Accept-Encoding", "gzip");
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        send(req).await
    }

    /// Argo's `web` provider with `method: POST` and `jsonBody`: Argo adds
    /// `Content-Type: application/json`.
    pub async fn argo_post(&self, token: Option<&str>, body: &str, json: bool) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}/api/v1/argo/analysis", self.base))
            .header("User-Agent", GO_USER_AGENT)
            .header("Accept-Encoding", "gzip")
            .body(body.to_string());
        if json {
            req = req.header("Content-Type", "application/json");
        }
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        send(req).await
    }

    /// A Flagger webhook call: POST, `Content-Type: application/json`, the
    /// payload as Go marshals `CanaryWebhookPayload` (field order included).
    pub async fn flagger(&self, hook: &str, body: &str) -> (u16, Value) {
        let req = self
            .http
            .post(format!("{}/api/v1/flagger/{hook}", self.base))
            .header("User-Agent", GO_USER_AGENT)
            .header("Content-Type", "application/json")
            .header("Accept-Encoding", "gzip")
            .body(body.to_string());
        send(req).await
    }

    /// A Flagger call authenticated by header instead of metadata.
    pub async fn flagger_bearer(&self, hook: &str, body: &str) -> (u16, Value) {
        let req = self
            .http
            .post(format!("{}/api/v1/flagger/{hook}", self.base))
            .header("User-Agent", GO_USER_AGENT)
            .header("Content-Type", "application/json")
            .header("Authorization", format!("Bearer {TOKEN}"))
            .body(body.to_string());
        send(req).await
    }

    pub fn audit(&self, kind: AuditKind) -> Vec<AuditEntry> {
        SqliteStore::open(&self.db)
            .unwrap()
            .audit_entries(None, None)
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == kind)
            .collect()
    }
}

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("answer is not JSON ({e}): {text}"));
    (status, body)
}

/// Flagger's payload for `shop/<name>` at `checksum`, with the token in metadata.
pub fn flagger_payload(name: &str, phase: &str, checksum: &str, token: Option<&str>) -> String {
    let metadata = match token {
        Some(t) => format!(r#","metadata":{{"token":"{t}"}}"#),
        None => String::new(),
    };
    format!(
        r#"{{"name":"{name}","namespace":"shop","phase":"{phase}","checksum":"{checksum}"{metadata}}}"#
    )
}

/// Argo's verdict on a measurement, as its `EvaluateResult` decides with the
/// example template's conditions (`result.verdict == "healthy"` for success,
/// `result.verdict == "breach"` for failure): neither is Inconclusive.
pub fn argo_phase(answer: &Value) -> &'static str {
    let success = answer["verdict"] == "healthy";
    let failure = answer["verdict"] == "breach";
    match (success, failure) {
        (_, true) => "Failed",
        (true, false) => "Successful",
        (false, false) => "Inconclusive",
    }
}
