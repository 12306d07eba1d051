//! The `webhook` router: one HTTP request per action, for feature-flag
//! services and load balancers with an API.
//!
//! Placeholders are percent-encoded in the URL, JSON-escaped in the body and
//! checked in headers (no line breaks), so a revision name cannot change
//! where a request goes or what it says. With a `secret`, each request is
//! signed like canaryd's notification webhooks: `X-Canaryd-Signature:
//! sha256=<hex>`, HMAC-SHA256 of the exact body bytes (the signing function is
//! `canaryd_secrets::sign::signature`). `X-Canaryd-Action` names the action.
//!
//! A 2xx answer means done. 408, 429, 5xx and network failures are retried
//! `retries` times with doubling backoff; any other answer is permanent (the
//! request itself is wrong, retrying cannot help). Requests should set an
//! absolute weight, so repeating one after a crash is harmless.

use canaryd_core::vocab::RolloutKey;
use canaryd_ports::{ActionError, ErrorKind, TrafficRouter};
use canaryd_secrets::{Redactor, Secret, SecretSource};
use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use std::time::Duration;

use crate::action::Action;
use crate::config::{ConfigError, WebhookConfig};
use crate::template::{Escape, Values};

mod request;
pub(crate) use request::Requests;

pub use canaryd_secrets::sign::SIGNATURE_HEADER;
pub const ACTION_HEADER: &str = "X-Canaryd-Action";

/// Bytes of an error answer quoted in messages.
const BODY_EXCERPT: usize = 500;

/// Why a router request did not do its job. Every variant names the method
/// and the URL (masked).
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// An answer retrying would not change (anything but 408, 429 or 5xx).
    #[error("router webhook {method} {url} answered {status}, not retried (fix the request or the receiver): {body}")]
    Rejected {
        /// The HTTP method.
        method: Method,
        /// The URL, masked.
        url: String,
        /// The status it answered.
        status: StatusCode,
        /// The start of its answer, redacted.
        body: String,
    },
    /// Every attempt failed on the network or with 408/429/5xx.
    #[error("router webhook {method} {url} failed {attempts} times; last: {last}")]
    Exhausted {
        /// The HTTP method.
        method: Method,
        /// The URL, masked.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure, redacted.
        last: String,
    },
    /// The request could not be built from its template.
    #[error("router webhook {method} {url}: cannot build the request: {why}")]
    Request {
        /// The HTTP method.
        method: Method,
        /// The URL, masked.
        url: String,
        /// What is wrong with it.
        why: String,
    },
}

/// Retries already ran out on a network error or a 408/429/5xx: the
/// receiver is down, which passes. A 4xx or a request that cannot be built
/// fails the same way until the config or the receiver changes.
impl From<WebhookError> for ActionError {
    fn from(e: WebhookError) -> ActionError {
        let transient = matches!(e, WebhookError::Exhausted { .. });
        ActionError::new(ErrorKind::from_transient(transient), e.to_string())
    }
}

/// One request, ready to send. Its `Debug` masks the URL's credentials.
#[derive(Clone, PartialEq)]
pub struct Prepared {
    pub method: Method,
    pub url: String,
    /// Without `Authorization` (added when sending, never shown).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("method", &self.method)
            .field(
                "url",
                &canaryd_secrets::redact::mask_url_credentials(&self.url),
            )
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

/// How a request went when it succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub status: StatusCode,
    pub attempts: u32,
}

/// Sends the configured requests. See the module documentation.
pub struct WebhookRouter {
    requests: Requests,
    client: reqwest::Client,
    retries: u32,
    backoff: Duration,
    secret: Option<Secret>,
    token: Option<Secret>,
    /// Header values that are secrets (loaded, or inline under a credential name).
    header_secrets: Vec<Secret>,
    redactor: Redactor,
    /// Things the operator should know about the config (inline secrets).
    pub warnings: Vec<String>,
}

impl WebhookRouter {
    /// Checks the config and loads its secrets.
    pub fn new(cfg: &WebhookConfig) -> Result<WebhookRouter, ConfigError> {
        let mut requests = Requests::compile(cfg)?;
        let client =
            canaryd_http::client(cfg.timeout).map_err(|e| ConfigError::Client(e.to_string()))?;
        let mut warnings = Vec::new();
        let mut redactor = Redactor::new();
        let mut load = |src: &Option<SecretSource>,
                        field: &str|
         -> Result<Option<Secret>, ConfigError> {
            let Some(src) = src else { return Ok(None) };
            let (s, inline) = src.load(&format!("router {field}"))?;
            if inline {
                warnings.push(format!(
                    "router {field} is written inline in the policy; load it from {{env: VAR}} or {{file: PATH}} so it stays out of your repository"
                ));
            }
            redactor.add(&s);
            Ok(Some(s))
        };
        let secret = load(&cfg.secret, "webhook.secret")?;
        let token = load(&cfg.token, "webhook.token")?;
        let mut header_secrets = Vec::new();
        requests.load_secrets(|src, field| {
            let s = load(&Some(src.clone()), field)?
                .ok_or_else(|| crate::config::invalid(field, "no value"))?;
            header_secrets.push(s.clone());
            Ok(s)
        })?;
        for (field, value) in requests.inline_secret_headers() {
            warnings.push(format!(
                "router {field} looks like a credential and is written inline in the policy; \
                 load it from {{env: VAR}} or {{file: PATH}} so it stays out of your repository"
            ));
            let s = Secret::new(value);
            redactor.add(&s);
            header_secrets.push(s);
        }
        Ok(WebhookRouter {
            requests,
            client,
            retries: cfg.retries,
            backoff: cfg.backoff,
            secret,
            token,
            header_secrets,
            redactor,
            warnings,
        })
    }

    /// The configured secrets, for the process-wide redactor.
    pub fn secrets(&self) -> Vec<Secret> {
        self.secret
            .iter()
            .chain(self.token.iter())
            .chain(self.header_secrets.iter())
            .cloned()
            .collect()
    }

    /// The request `action` sends for `key`, signature included.
    pub fn prepare(&self, key: &RolloutKey, action: Action) -> Prepared {
        let t = self.requests.for_action(action);
        let values = Values::new(key, action.weight());
        let body = t
            .body
            .as_ref()
            .map(|b| {
                b.render(
                    &values,
                    if t.json_body {
                        Escape::Json
                    } else {
                        Escape::Raw
                    },
                )
            })
            .unwrap_or_default()
            .into_bytes();
        let mut headers: Vec<(String, String)> = t
            .headers
            .iter()
            .map(|(h, v)| (h.as_str().to_string(), v.render(&values, Escape::Raw)))
            .collect();
        if t.body.is_some() && !t.headers.iter().any(|(h, _)| *h == CONTENT_TYPE) {
            headers.push((CONTENT_TYPE.as_str().into(), "application/json".into()));
        }
        headers.push((ACTION_HEADER.into(), action.name().into()));
        if let Some(s) = &self.secret {
            headers.push((
                SIGNATURE_HEADER.into(),
                canaryd_secrets::sign::signature(s, &body),
            ));
        }
        Prepared {
            method: t.method.clone(),
            url: t.url.render(&values, Escape::Url),
            headers,
            body,
        }
    }

    /// Sends `action`'s request, retrying what may succeed later.
    pub async fn call(&self, key: &RolloutKey, action: Action) -> Result<Delivered, WebhookError> {
        let p = self.prepare(key, action);
        let shown = canaryd_secrets::without_credentials_or_query(&p.url);
        let bad = |why: String| WebhookError::Request {
            method: p.method.clone(),
            url: shown.clone(),
            why: self.redactor.redact(&why),
        };
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &p.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(e.to_string()))?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                bad(format!(
                    "header {name} would contain line breaks or control characters"
                ))
            })?;
            headers.insert(name, value);
        }
        for (name, secret) in &self.requests.for_action(action).loaded {
            let mut v = HeaderValue::from_str(secret.expose()).map_err(|_| {
                bad(format!(
                    "the secret for header {name} contains characters a header cannot carry"
                ))
            })?;
            v.set_sensitive(true);
            headers.insert(name.clone(), v);
        }
        if let Some(t) = &self.token {
            let mut v = HeaderValue::from_str(&format!("Bearer {}", t.expose()))
                .map_err(|_| bad("the token contains characters a header cannot carry".into()))?;
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        let attempts = 1 + self.retries;
        let mut last = String::new();
        for attempt in 1..=attempts {
            if attempt > 1 {
                let factor = 1u32 << (attempt - 2).min(16);
                tokio::time::sleep(self.backoff.saturating_mul(factor)).await;
            }
            let sent = self
                .client
                .request(p.method.clone(), &p.url)
                .headers(headers.clone())
                .body(p.body.clone())
                .send()
                .await;
            match sent {
                Ok(resp) if resp.status().is_success() => {
                    return Ok(Delivered {
                        status: resp.status(),
                        attempts: attempt,
                    })
                }
                Ok(resp) => {
                    let status = resp.status();
                    let body = self.redactor.redact(&excerpt(resp).await);
                    let retry = status.is_server_error()
                        || status == StatusCode::REQUEST_TIMEOUT
                        || status == StatusCode::TOO_MANY_REQUESTS;
                    if !retry {
                        return Err(WebhookError::Rejected {
                            method: p.method.clone(),
                            url: shown,
                            status,
                            body,
                        });
                    }
                    last = format!("{status}: {body}");
                }
                Err(e) => {
                    let kind = if e.is_timeout() {
                        "timed out"
                    } else {
                        "request failed"
                    };
                    last = self.redactor.redact(&format!("{kind}: {}", error_chain(e)));
                }
            }
            tracing::warn!(url = %shown, attempt, attempts, %last, "router webhook failed");
        }
        Err(WebhookError::Exhausted {
            method: p.method,
            url: shown,
            attempts,
            last,
        })
    }
}

#[canaryd_ports::async_trait]
impl TrafficRouter for WebhookRouter {
    async fn set_weight(&mut self, key: &RolloutKey, weight: u8) -> Result<(), ActionError> {
        self.call(key, Action::SetWeight(weight))
            .await
            .map(|_| ())
            .map_err(ActionError::from)
    }

    async fn roll_back(&mut self, key: &RolloutKey) -> Result<(), ActionError> {
        self.call(key, Action::RollBack)
            .await
            .map(|_| ())
            .map_err(ActionError::from)
    }

    async fn promote(&mut self, key: &RolloutKey) -> Result<(), ActionError> {
        self.call(key, Action::Promote)
            .await
            .map(|_| ())
            .map_err(ActionError::from)
    }
}

/// The start of an error answer's body, for the operator.
async fn excerpt(mut resp: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < BODY_EXCERPT {
        match resp.chunk().await {
            Ok(Some(c)) => buf.extend_from_slice(&c),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".into();
    }
    let mut out: String = text.chars().take(BODY_EXCERPT).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// reqwest's message plus its causes ("error sending request" alone says little).
/// URLs in it lose credentials and query.
pub(crate) fn error_chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}
