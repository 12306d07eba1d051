//! The `source:` section of a policy file, and the source it builds.
//!
//! ```yaml
//! source:
//!   prometheus: {url: "http://prometheus.monitoring:9090", baseline: v1}
//! # or
//! source:
//!   datadog: {site: "https://api.datadoghq.eu", api_key: {env: DD_API_KEY}, ...}
//! ```
//!
//! [`SourceConfig::validate`] checks everything that needs neither a secret
//! nor the network, so `canaryd policy check` rejects a broken section on a
//! laptop; [`SourceConfig::connect`] loads the secrets and gives the
//! source one rollout reads from ([`Connected`]).

use canaryd_core::vocab::{RolloutKey, Timestamp};
use canaryd_ports::MetricsSource;
use canaryd_secrets::Secret;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::time::Duration;

use crate::datadog::{DatadogConfig, DatadogSource};
use crate::prometheus::client::{ClientConfig, PromClient};
use crate::prometheus::config::{Plan, PrometheusConfig};

use crate::prometheus::source::PrometheusSource;

/// Where a rollout's numbers come from.
// Read once per policy and never moved in a hot loop: boxing the larger
// variant would buy nothing and cost every match a deref.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// Read from a Prometheus HTTP API (or one that speaks it).
    Prometheus(PrometheusConfig),
    /// Read from Datadog's metrics query API.
    Datadog(DatadogConfig),
}

/// A `source:` section that cannot be used, with what to fix.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceConfigError {
    /// The `prometheus:` section cannot be used; the message says why.
    #[error("source.prometheus: {0}")]
    Prometheus(String),
    /// The `datadog:` section cannot be used; the message says why.
    #[error("source.datadog: {0}")]
    Datadog(String),
}

impl SourceConfig {
    /// `prometheus` or `datadog`, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::Prometheus(_) => "prometheus",
            SourceConfig::Datadog(_) => "datadog",
        }
    }

    /// Every check that needs no secret and no network.
    pub fn validate(&self) -> Result<(), SourceConfigError> {
        match self {
            SourceConfig::Prometheus(c) => {
                crate::prometheus::client::check_base_url(&c.url)
                    .map_err(|e| SourceConfigError::Prometheus(e.to_string()))?;
                c.plan()
                    .map(|_| ())
                    .map_err(|e| SourceConfigError::Prometheus(e.to_string()))
            }
            SourceConfig::Datadog(c) => {
                let site = c.site.trim();
                if site.contains("://") {
                    crate::prometheus::client::validate_base_url(site)
                        .map_err(|e| SourceConfigError::Datadog(e.to_string()))?;
                }
                c.validate().map_err(SourceConfigError::Datadog)
            }
        }
    }

    /// Identifies what is asked (kind, endpoint, queries, cohorts) without
    /// any secret value: the key of the baseline cache, so a changed query is
    /// never answered from a cache the old one filled.
    pub fn fingerprint(&self) -> String {
        // Debug output of the config: secrets print as their *source*
        // (`env:NAME`), never their value.
        let text = format!("{self:?}");
        let digest = Sha256::digest(text.as_bytes());
        let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
        format!("{}:{hex}", self.kind())
    }

    /// The same source with the stable cohort named explicitly: Argo
    /// Rollouts and Flagger say which revision is stable with every question
    /// (a pod-template hash), and that is the baseline to compare with.
    pub fn with_baseline(&self, stable: &str) -> SourceConfig {
        match self {
            SourceConfig::Prometheus(c) => {
                let mut c = c.clone();
                c.baseline = Some(stable.to_string());
                SourceConfig::Prometheus(c)
            }
            SourceConfig::Datadog(c) => {
                let mut c = c.clone();
                c.baseline = stable.to_string();
                SourceConfig::Datadog(c)
            }
        }
    }

    /// Loads secrets and builds the source of one rollout, reading the
    /// stable history over `lookback` when given (the policy's
    /// `baseline.lookback`). Sends nothing.
    pub fn connect(
        &self,
        key: &RolloutKey,
        lookback: Option<Duration>,
    ) -> Result<Connected, SourceConfigError> {
        match self {
            SourceConfig::Prometheus(c) => {
                let plan = c
                    .plan()
                    .map_err(|e| SourceConfigError::Prometheus(e.to_string()))?;
                let client = PromClient::new(ClientConfig {
                    url: c.url.clone(),
                    auth: c.auth.clone(),
                    timeout: c.timeout,
                    retries: c.retries,
                })
                .map_err(|e| SourceConfigError::Prometheus(e.to_string()))?;
                let mut source = PrometheusSource::new(plan.clone(), client.clone(), key.clone());
                if let Some(l) = lookback {
                    source = source.with_lookback(l);
                }
                Ok(Connected {
                    secrets: client.secrets(),
                    url: client.url().to_string(),
                    diagnosis: Some(Diagnosis { client, plan }),
                    source: Box::new(source),
                })
            }
            SourceConfig::Datadog(c) => {
                let mut source = DatadogSource::new(c.clone())
                    .map_err(|e| SourceConfigError::Datadog(e.to_string()))?;
                if let Some(l) = lookback {
                    source = source.with_lookback(l);
                }
                Ok(Connected {
                    secrets: source.secrets(),
                    url: source.client().url().to_string(),
                    diagnosis: None,
                    source: Box::new(source),
                })
            }
        }
    }
}

/// One rollout's source, whichever backend the policy names: the edge the
/// driver reads, and what the rest of the process must know about it.
pub struct Connected {
    /// The source, for the driver.
    pub source: Box<dyn MetricsSource>,
    /// Credentials the source holds, for the redactor.
    pub secrets: Vec<Secret>,
    /// The endpoint, without credentials, for messages.
    pub url: String,
    /// Prometheus only: why a window's series are missing.
    pub diagnosis: Option<Diagnosis>,
}

/// Reads from a Prometheus why a window's series are missing, matcher by
/// matcher (`canaryd doctor`).
pub struct Diagnosis {
    client: PromClient,
    plan: Plan,
}

impl Diagnosis {
    /// The findings for `key` at `at`, read from the data over `lookback`.
    pub async fn run(
        &self,
        key: &RolloutKey,
        at: Timestamp,
        lookback: Duration,
    ) -> Vec<crate::prometheus::diagnose::Finding> {
        crate::prometheus::diagnose::diagnose(&self.client, &self.plan, key, at, lookback).await
    }
}
