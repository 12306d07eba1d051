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
//! [`Source`] one rollout reads from.

use canaryd_core::observation::{BaselineStatus, Window};
use canaryd_core::vocab::{RolloutKey, Timestamp, Weight};
use canaryd_driver::{MetricsSource, SourceError};
use canaryd_notify::Secret;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::datadog::{DatadogConfig, DatadogSource};
use crate::prometheus::client::{ClientConfig, PromClient};
use crate::prometheus::config::PrometheusConfig;
use crate::prometheus::source::PrometheusSource;

/// Where a rollout's numbers come from.
// Read once per policy and never moved in a hot loop: boxing the larger
// variant would buy nothing and cost every match a deref.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    Prometheus(PrometheusConfig),
    Datadog(DatadogConfig),
}

/// A `source:` section that cannot be used, with what to fix.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceConfigError {
    #[error("source.prometheus: {0}")]
    Prometheus(String),
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

    /// Loads secrets and builds the source of one rollout. Sends nothing.
    pub fn connect(&self, key: &RolloutKey) -> Result<Source, SourceConfigError> {
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
                Ok(Source::Prometheus(PrometheusSource::new(
                    plan,
                    client,
                    key.clone(),
                )))
            }
            SourceConfig::Datadog(c) => DatadogSource::new(c.clone())
                .map(|s| Source::Datadog(Box::new(s)))
                .map_err(|e| SourceConfigError::Datadog(e.to_string())),
        }
    }
}

/// One rollout's source, whichever backend the policy names.
pub enum Source {
    Prometheus(PrometheusSource<PromClient>),
    Datadog(Box<DatadogSource>),
}

impl Source {
    /// Credentials the source holds, for the redactor.
    pub fn secrets(&self) -> Vec<Secret> {
        match self {
            Source::Prometheus(s) => s.hub().client().secrets(),
            Source::Datadog(s) => s.secrets(),
        }
    }

    /// HTTP queries sent so far (retries included).
    pub fn queries_issued(&self) -> u64 {
        match self {
            Source::Prometheus(s) => s.hub().client().queries_issued(),
            Source::Datadog(s) => s.client().queries_issued(),
        }
    }

    /// Reads the stable history over `lookback` (the policy's
    /// `baseline.lookback`).
    pub fn with_lookback(self, lookback: std::time::Duration) -> Source {
        match self {
            Source::Prometheus(s) => Source::Prometheus(s.with_lookback(lookback)),
            Source::Datadog(s) => Source::Datadog(Box::new(s.with_lookback(lookback))),
        }
    }

    /// Why the window's series are missing, matcher by matcher, read from
    /// the data over `lookback` (Prometheus only; `None` for Datadog).
    pub async fn diagnose(
        &self,
        key: &RolloutKey,
        at: Timestamp,
        lookback: std::time::Duration,
    ) -> Option<Vec<crate::prometheus::diagnose::Finding>> {
        match self {
            Source::Prometheus(s) => Some(
                crate::prometheus::diagnose::diagnose(
                    s.hub().client(),
                    s.hub().plan(),
                    key,
                    at,
                    lookback,
                )
                .await,
            ),
            Source::Datadog(_) => None,
        }
    }

    /// The endpoint, without credentials, for messages.
    pub fn url(&self) -> String {
        match self {
            Source::Prometheus(s) => s.hub().client().url().to_string(),
            Source::Datadog(s) => s.client().url().to_string(),
        }
    }
}

impl MetricsSource for Source {
    async fn baseline(&mut self, key: &RolloutKey) -> Result<BaselineStatus, SourceError> {
        match self {
            Source::Prometheus(s) => s.baseline(key).await,
            Source::Datadog(s) => s.baseline(key).await,
        }
    }

    async fn window(
        &mut self,
        key: &RolloutKey,
        weight: Weight,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Window, SourceError> {
        match self {
            Source::Prometheus(s) => s.window(key, weight, start, end).await,
            Source::Datadog(s) => s.window(key, weight, start, end).await,
        }
    }
}
