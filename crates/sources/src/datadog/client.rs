//! The Datadog metrics query client: `GET {site}/api/v1/query?from=&to=&query=`
//! with the `DD-API-KEY` and `DD-APPLICATION-KEY` headers, and the same
//! timeout, retry and error semantics as the Prometheus client (it shares
//! its transport). 429 answers are retried after the `X-RateLimit-Reset`
//! (or `Retry-After`) the API sends, up to the backoff's cap.

use crate::datadog::response::parse_redacted;
use crate::error::QueryError;
use crate::prometheus::client::{validate_base_url, Backoff, Transport};
use crate::series::Answer;
use canaryd_core::vocab::Timestamp;
use canaryd_secrets::{Secret, SecretSource};
use std::sync::Arc;
use std::time::Duration;

/// How to reach Datadog.
#[derive(Debug, Clone)]
pub struct DatadogClientConfig {
    /// The API host of your Datadog site, e.g. `https://api.datadoghq.eu`.
    /// A bare site name (`datadoghq.eu`, `us5.datadoghq.com`) means
    /// `https://api.<site>`.
    pub site: String,
    /// Where to read the API key from (sent as `DD-API-KEY`); read once when the client is built.
    pub api_key: SecretSource,
    /// Where to read the application key from, which the query API also needs.
    pub app_key: SecretSource,
    /// Per attempt.
    pub timeout: Duration,
    /// Extra attempts on transient failures, with backoff.
    pub retries: u32,
}

/// A Datadog client. Cheap to clone.
#[derive(Clone)]
pub struct DatadogClient {
    inner: Arc<Inner>,
}

struct Inner {
    base: String,
    api_key: Secret,
    app_key: Secret,
    /// The keys as header values, marked sensitive so that no debug output
    /// of a request shows them.
    headers: reqwest::header::HeaderMap,
    transport: Transport,
}

impl DatadogClient {
    /// Loads both keys and validates the site URL; sends nothing.
    pub fn new(cfg: DatadogClientConfig) -> Result<DatadogClient, QueryError> {
        DatadogClient::with_backoff(cfg, Backoff::default())
    }

    /// [`DatadogClient::new`] with other waits between attempts.
    pub fn with_backoff(
        cfg: DatadogClientConfig,
        backoff: Backoff,
    ) -> Result<DatadogClient, QueryError> {
        let site = cfg.site.trim();
        let base = if site.contains("://") {
            validate_base_url(site)?
        } else {
            validate_base_url(&format!("https://api.{site}"))?
        };
        let load = |s: &SecretSource, what: &str| {
            s.load(&format!("Datadog {what} for {base}"))
                .map(|(secret, _inline)| secret)
                .map_err(|e| QueryError::BadConfig(e.to_string()))
        };
        let api_key = load(&cfg.api_key, "api_key")?;
        let app_key = load(&cfg.app_key, "app_key")?;
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, key, field) in [
            ("dd-api-key", &api_key, "api_key"),
            ("dd-application-key", &app_key, "app_key"),
        ] {
            let mut value = reqwest::header::HeaderValue::from_str(key.expose()).map_err(|_| {
                QueryError::BadConfig(format!(
                    "Datadog `{field}` contains characters a key cannot have (line breaks, \
                     control characters): check where it is loaded from"
                ))
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        headers.insert(
            reqwest::header::ACCEPT,
            reqwest::header::HeaderValue::from_static("application/json"),
        );
        let transport = Transport::new(
            cfg.timeout,
            cfg.retries,
            backoff,
            &[api_key.clone(), app_key.clone()],
        )?;
        Ok(DatadogClient {
            inner: Arc::new(Inner {
                base,
                api_key,
                app_key,
                headers,
                transport,
            }),
        })
    }

    /// Points of `query` between `from` and `to`. Datadog takes whole
    /// seconds: the range is widened to whole seconds, never narrowed.
    pub async fn query(
        &self,
        query: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Answer, QueryError> {
        let url = format!("{}/api/v1/query", self.inner.base);
        let params = [
            ("from", from.0.div_euclid(1000).to_string()),
            (
                "to",
                (to.0.saturating_add(999)).div_euclid(1000).to_string(),
            ),
            ("query", query.to_string()),
        ];
        let inner = &self.inner;
        inner
            .transport
            .run(
                &url,
                |http| http.get(&url).query(&params).headers(inner.headers.clone()),
                parse_redacted,
            )
            .await
    }

    /// HTTP queries sent so far (every attempt counts).
    pub fn queries_issued(&self) -> u64 {
        self.inner.transport.issued()
    }

    /// Both keys, for the redactor.
    pub fn secrets(&self) -> Vec<Secret> {
        vec![self.inner.api_key.clone(), self.inner.app_key.clone()]
    }

    /// The API base URL, for messages.
    pub fn url(&self) -> &str {
        &self.inner.base
    }
}
