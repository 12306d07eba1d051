//! The Prometheus HTTP API client: `/api/v1/query` and `/api/v1/query_range`,
//! directly or under a path prefix (Grafana's data-source proxy,
//! `https://grafana.example.com/api/datasources/proxy/uid/<uid>`).
//!
//! Queries are sent as form-encoded POSTs: Prometheus accepts them, they are
//! not limited by URL length (templated PromQL grows), and Grafana's proxy
//! allows POST on exactly these two endpoints. Timestamps are Unix seconds
//! with millisecond decimals.
//!
//! Each attempt has its own timeout; transient failures (see
//! [`QueryError::is_transient`]) are retried a bounded number of times with
//! exponential backoff, honouring `Retry-After` up to a cap. Everything else
//! fails at once: a wrong query or refused token will not get better.

use crate::error::QueryError;
use crate::prometheus::response::parse_redacted;
use crate::series::Answer;
use canaryd_core::vocab::Timestamp;
use canaryd_secrets::{Redactor, SafeUrl, Secret, SecretSource};
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How to reach one Prometheus.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL: `http://prom:9090`, or a path prefix such as Grafana's data-source proxy
    /// `https://grafana.example.com/api/datasources/proxy/uid/<uid>`; `/api/v1/...` is appended.
    pub url: SafeUrl,
    /// Credentials sent with every request; `None` for an open Prometheus.
    pub auth: Option<Auth>,
    /// Per attempt.
    pub timeout: Duration,
    /// Extra attempts on transient failures, with backoff.
    pub retries: u32,
}

/// Credentials, as a config file writes them:
/// `{bearer: {token: {env: PROM_TOKEN}}}` or
/// `{basic: {username: canaryd, password: {file: /run/secrets/prom}}}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    /// `Authorization: Bearer <token>`, as most hosted Prometheus and Grafana tokens need.
    Bearer {
        /// Where to read the token from.
        token: SecretSource,
    },
    /// HTTP basic authentication.
    Basic {
        /// The user name, in the clear.
        username: String,
        /// Where to read the password from.
        password: SecretSource,
    },
}

/// Waits between attempts. The defaults suit a production Prometheus; tests
/// shrink them so retries do not slow the suite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Wait before the first retry; doubled for each further one.
    pub initial: Duration,
    /// Longest computed wait.
    pub max: Duration,
    /// Longest wait a server may ask for with `Retry-After` (a server asking
    /// for an hour would otherwise stall the window).
    pub max_retry_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    fn delay(&self, retry: u32, asked: Option<Duration>) -> Duration {
        match asked {
            Some(d) => d.min(self.max_retry_after),
            None => self
                .initial
                .saturating_mul(2u32.saturating_pow(retry))
                .min(self.max),
        }
    }
}

/// A Prometheus API client. Cheap to clone: clones share the connection
/// pool and the query counter.
#[derive(Clone)]
pub struct PromClient {
    inner: Arc<Inner>,
}

struct Inner {
    base: String,
    auth: Option<LoadedAuth>,
    transport: Transport,
}

enum LoadedAuth {
    Bearer(Secret),
    Basic(String, Secret),
}

impl PromClient {
    /// Loads the secrets and validates the URL; sends nothing.
    pub fn new(cfg: ClientConfig) -> Result<PromClient, QueryError> {
        PromClient::with_backoff(cfg, Backoff::default())
    }

    /// [`PromClient::new`] with other waits between attempts.
    pub fn with_backoff(cfg: ClientConfig, backoff: Backoff) -> Result<PromClient, QueryError> {
        let base = check_base_url(&cfg.url)?;
        let auth = match &cfg.auth {
            None => None,
            Some(Auth::Bearer { token }) => Some(LoadedAuth::Bearer(load(token, &base)?)),
            Some(Auth::Basic { username, password }) => {
                Some(LoadedAuth::Basic(username.clone(), load(password, &base)?))
            }
        };
        let secrets: Vec<Secret> = match &auth {
            None => vec![],
            Some(LoadedAuth::Bearer(s)) => vec![s.clone()],
            // The header carries base64("user:password"): an endpoint that
            // echoes its request sends that back, decodable.
            Some(LoadedAuth::Basic(user, s)) => vec![
                s.clone(),
                Secret::new(canaryd_secrets::redact::base64(
                    format!("{user}:{}", s.expose()).as_bytes(),
                )),
            ],
        };
        let transport = Transport::new(cfg.timeout, cfg.retries, backoff, &secrets)?;
        Ok(PromClient {
            inner: Arc::new(Inner {
                base,
                auth,
                transport,
            }),
        })
    }

    /// `query` evaluated at one instant.
    pub async fn instant(&self, query: &str, at: Timestamp) -> Result<Answer, QueryError> {
        let form = vec![("query", query.to_string()), ("time", seconds(at))];
        self.post("query", form).await
    }

    /// `query` evaluated every `step` from `start` to `end`.
    pub async fn range(
        &self,
        query: &str,
        start: Timestamp,
        end: Timestamp,
        step: Duration,
    ) -> Result<Answer, QueryError> {
        if step.as_millis() == 0 {
            return Err(QueryError::BadConfig(format!(
                "range query to {}: the step must be at least 1ms",
                self.url()
            )));
        }
        if end < start {
            return Err(QueryError::BadConfig(format!(
                "range query to {}: the end ({}) is before the start ({})",
                self.url(),
                seconds(end),
                seconds(start)
            )));
        }
        let form = vec![
            ("query", query.to_string()),
            ("start", seconds(start)),
            ("end", seconds(end)),
            (
                "step",
                format!("{}.{:03}", step.as_secs(), step.subsec_millis()),
            ),
        ];
        self.post("query_range", form).await
    }

    /// HTTP queries sent so far (every attempt counts), for the batching benchmark.
    pub fn queries_issued(&self) -> u64 {
        self.inner.transport.issued()
    }

    /// The loaded credentials, for the redactor.
    pub fn secrets(&self) -> Vec<Secret> {
        match &self.inner.auth {
            None => vec![],
            Some(LoadedAuth::Bearer(s)) => vec![s.clone()],
            // The header carries base64("user:password"): an endpoint that
            // echoes its request sends that back, decodable.
            Some(LoadedAuth::Basic(user, s)) => vec![
                s.clone(),
                Secret::new(canaryd_secrets::redact::base64(
                    format!("{user}:{}", s.expose()).as_bytes(),
                )),
            ],
        }
    }

    /// The base URL (never with credentials), for messages.
    pub fn url(&self) -> &str {
        &self.inner.base
    }

    async fn post(
        &self,
        endpoint: &str,
        form: Vec<(&'static str, String)>,
    ) -> Result<Answer, QueryError> {
        let url = format!("{}/api/v1/{endpoint}", self.inner.base);
        let auth = &self.inner.auth;
        self.inner
            .transport
            .run(
                &url,
                |http| {
                    let req = http.post(&url).form(&form);
                    match auth {
                        None => req,
                        Some(LoadedAuth::Bearer(t)) => req.bearer_auth(t.expose()),
                        Some(LoadedAuth::Basic(u, p)) => req.basic_auth(u, Some(p.expose())),
                    }
                },
                parse_redacted,
            )
            .await
    }
}

fn load(source: &SecretSource, url: &str) -> Result<Secret, QueryError> {
    source
        .load(&format!("the credentials of {url}"))
        .map(|(secret, _inline)| secret)
        .map_err(|e| QueryError::BadConfig(e.to_string()))
}

/// Unix seconds with millisecond decimals, the form the API documents.
pub(crate) fn seconds(t: Timestamp) -> String {
    let sign = if t.0 < 0 { "-" } else { "" };
    let ms = t.0.unsigned_abs();
    format!("{sign}{}.{:03}", ms / 1000, ms % 1000)
}

/// The base URL without a trailing slash; refuses what cannot work. Parsed
/// as a [`SafeUrl`], so no error quotes the URL's credentials (even when the
/// URL is otherwise broken, e.g. a bad port).
pub fn validate_base_url(raw: &str) -> Result<String, QueryError> {
    let parsed = SafeUrl::parse(raw.trim()).map_err(|e| {
        QueryError::BadConfig(format!(
            "{e}: give the base URL, e.g. `http://prometheus:9090`"
        ))
    })?;
    check_base_url(&parsed)
}

/// The base URL the client appends `/api/v1/...` to: no credentials (they
/// belong in `auth`), no query, no fragment, no trailing slash.
pub fn check_base_url(parsed: &SafeUrl) -> Result<String, QueryError> {
    if parsed.credentials() == Some("user:password@") {
        return Err(QueryError::BadConfig(format!(
            "`{parsed}` carries credentials (`user:pass@`): move them to `auth` so they are \
             loaded as secrets and never printed"
        )));
    }
    if parsed.expose().query().is_some() || parsed.expose().fragment().is_some() {
        return Err(QueryError::BadConfig(format!(
            "`{parsed}`: the base URL must not have a `?query` or `#fragment`; canaryd appends \
             `/api/v1/...` to it"
        )));
    }
    // Checked above: this text carries no credentials.
    Ok(parsed.expose().as_str().trim_end_matches('/').to_string())
}

/// Sending with per-attempt timeouts and bounded, backed-off retries; shared
/// by the Prometheus and Datadog clients so both fail the same way.
pub(crate) struct Transport {
    http: reqwest::Client,
    timeout: Duration,
    retries: u32,
    backoff: Backoff,
    issued: AtomicU64,
    redactor: Redactor,
}

/// A body parser: status, content type, body, and the redactor for excerpts.
pub(crate) type Parser<T> =
    fn(u16, Option<&str>, &[u8], &dyn Fn(&str) -> String) -> Result<T, QueryError>;

impl Transport {
    pub(crate) fn new(
        timeout: Duration,
        retries: u32,
        backoff: Backoff,
        secrets: &[Secret],
    ) -> Result<Transport, QueryError> {
        if timeout.is_zero() {
            return Err(QueryError::BadConfig(
                "`timeout` must be longer than zero".into(),
            ));
        }
        let http = canaryd_http::client(timeout)
            .map_err(|e| QueryError::BadConfig(format!("cannot build the HTTP client: {e}")))?;
        let mut redactor = Redactor::new();
        secrets.iter().for_each(|s| redactor.add(s));
        Ok(Transport {
            http,
            timeout,
            retries,
            backoff,
            issued: AtomicU64::new(0),
            redactor,
        })
    }

    pub(crate) fn issued(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }

    /// Sends the request `build` makes, up to `1 + retries` times. `url` is
    /// the credential-free URL named in errors.
    pub(crate) async fn run<T>(
        &self,
        url: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        parse: Parser<T>,
    ) -> Result<T, QueryError> {
        let mut retry = 0;
        loop {
            let err = match self.attempt(url, &build, parse).await {
                Ok(answer) => return Ok(answer),
                Err(e) => e,
            };
            if !err.is_transient() || retry >= self.retries {
                return Err(err);
            }
            let wait = self.backoff.delay(retry, err.retry_after());
            tracing::debug!(url, error = %err, ?wait, "transient failure, retrying");
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }

    async fn attempt<T>(
        &self,
        url: &str,
        build: &impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        parse: Parser<T>,
    ) -> Result<T, QueryError> {
        self.issued.fetch_add(1, Ordering::Relaxed);
        let response = build(&self.http)
            .send()
            .await
            .map_err(|e| self.transport_error(url, e))?;
        let status = response.status().as_u16();
        let headers = response.headers();
        let content_type = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let retry_after = ["retry-after", "x-ratelimit-reset"].iter().find_map(|h| {
            headers
                .get(*h)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
        });
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(url, e))?;
        let redact = |s: &str| self.redactor.redact(s);
        parse(status, content_type.as_deref(), &body, &redact).map_err(|e| match e {
            QueryError::RateLimited { .. } => QueryError::RateLimited {
                url: url.to_string(),
                retry_after,
            },
            other => other.at(url),
        })
    }

    fn transport_error(&self, url: &str, e: reqwest::Error) -> QueryError {
        if e.is_timeout() {
            return QueryError::Timeout {
                url: url.to_string(),
                after: self.timeout,
            };
        }
        let mut detail = Vec::new();
        let e = e.without_url();
        let mut cause: Option<&dyn std::error::Error> = Some(&e);
        while let Some(c) = cause {
            let text = c.to_string();
            if !detail.contains(&text) {
                detail.push(text);
            }
            cause = c.source();
        }
        let detail = self.redactor.redact(&detail.join(": "));
        QueryError::Unreachable {
            url: url.to_string(),
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_caps_what_servers_ask_for() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(350),
            max_retry_after: Duration::from_secs(2),
        };
        let waits: Vec<u128> = (0..4).map(|r| b.delay(r, None).as_millis()).collect();
        assert_eq!(waits, vec![100, 200, 350, 350]);
        assert_eq!(
            b.delay(0, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(
            b.delay(0, Some(Duration::from_secs(3600))),
            Duration::from_secs(2)
        );
        assert_eq!(b.delay(u32::MAX, None), Duration::from_millis(350));
    }

    #[test]
    fn timestamps_are_seconds_with_millisecond_decimals() {
        assert_eq!(seconds(Timestamp(1_700_000_000_123)), "1700000000.123");
        assert_eq!(seconds(Timestamp(5)), "0.005");
        assert_eq!(seconds(Timestamp(-1)), "-0.001");
        assert_eq!(seconds(Timestamp(-1_500)), "-1.500");
    }
}
