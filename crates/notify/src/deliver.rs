//! Delivering notices: routing per target, HTTP with bounded retries, and
//! redaction of everything that could echo a credential back (request errors
//! carry URLs, and a Slack webhook URL *is* the credential).
//!
//! Targets are delivered concurrently, so a Slack outage does not hold up the
//! page to PagerDuty. A notifier never delays a rollback: the driver executes
//! the rollback effect before the notify effect, and a failed delivery is
//! audited, not retried forever.

use canaryd_core::effect::{Notice, NoticeKind, Severity};
use canaryd_core::vocab::RolloutKey;

use canaryd_ports::Surface;
use canaryd_ports::{ActionError, Notifier};
use std::collections::HashSet;
use std::time::Duration;

use crate::config::{NotifyConfig, RetryConfig};
use crate::message::Message;
use crate::{pagerduty, slack, webhook};
use canaryd_secrets::redact::Redactor;
use canaryd_secrets::secret::{Secret, SecretError};
use canaryd_secrets::{SafeUrl, UrlText};

/// Why the notifiers could not be set up (sending itself never fails: a
/// failed delivery is reported in its [`Delivery`]).
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A target's credential could not be loaded.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The outbound HTTP client could not be built (TLS setup, say).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// Where one target's messages go, its credentials already loaded (from a
/// config file's sources, or by a caller that holds them, such as the
/// Kubernetes controller reading Secrets).
pub enum Channel {
    /// A Slack incoming webhook.
    Slack {
        /// The webhook URL, which is itself the credential.
        url: Secret,
    },
    /// `url`: the Events API v2 endpoint, PagerDuty's own when `None`.
    PagerDuty {
        /// The endpoint; PagerDuty's own when `None`.
        url: Option<SafeUrl>,
        /// The integration's routing key.
        key: Secret,
    },
    /// A generic webhook, its body signed with HMAC-SHA256.
    Webhook {
        /// Where to POST.
        url: Secret,
        /// The signing key the receiver checks the signature with.
        secret: Secret,
    },
}

impl Channel {
    fn name(&self) -> &'static str {
        match self {
            Channel::Slack { .. } => "slack",
            Channel::PagerDuty { .. } => "pagerduty",
            Channel::Webhook { .. } => "webhook",
        }
    }
}

struct Target {
    name: String,
    channel: Channel,
    min_severity: Severity,
    kinds: Option<Vec<NoticeKind>>,
}

/// The outcome of one delivery to one target.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Delivery {
    /// The target's configured name.
    pub target: String,
    /// "slack", "pagerduty" or "webhook".
    pub channel: &'static str,
    /// The receiver accepted it (a 2xx answer).
    pub ok: bool,
    /// Attempts made, the successful one included.
    pub attempts: u32,
    /// The last HTTP status received, if any answer came.
    pub status: Option<u16>,
    /// Why it failed, redacted; `None` when it succeeded.
    pub error: Option<String>,
}

/// All configured targets, ready to send.
pub struct Notifiers {
    client: reqwest::Client,
    dashboard_url: Option<UrlText>,
    retry: RetryConfig,
    targets: Vec<Target>,
    redactor: Redactor,
    /// PagerDuty incidents this process opened (dedup keys), to resolve only those.
    open_incidents: HashSet<String>,
    /// Things the operator should know about the config (inline secrets).
    pub warnings: Vec<String>,
    /// Every delivery so far, newest last (for `--verbose` output and tests).
    pub log: Vec<Delivery>,
    /// Where canaryd runs, which decides how messages say what a human can
    /// do next (a `canaryd approve` command, or not).
    surface: Surface,
}

impl Notifiers {
    /// Loads every target's secrets; fails naming the first that cannot be read.
    pub fn from_config(cfg: NotifyConfig) -> Result<Notifiers, NotifyError> {
        let mut n = Notifiers::empty(cfg.retry.clone())?;
        n.dashboard_url = cfg.dashboard_url;
        for t in cfg.targets {
            let what = |field: &str| format!("target {} ({field})", t.name);
            let mut load = |src: &canaryd_secrets::secret::SecretSource,
                            field: &str|
             -> Result<Secret, NotifyError> {
                let (s, inline) = src.load(&what(field))?;
                if inline {
                    n.warnings.push(format!(
                        "{} is written inline in the config; load it from {{env: VAR}} or {{file: PATH}} so it stays out of your repository",
                        what(field)
                    ));
                }
                n.redactor.add(&s);
                Ok(s)
            };
            let channel = if let Some(s) = &t.slack {
                Channel::Slack {
                    url: load(&s.webhook_url, "slack.webhook_url")?,
                }
            } else if let Some(p) = &t.pagerduty {
                Channel::PagerDuty {
                    url: p.url.clone(),
                    key: load(&p.routing_key, "pagerduty.routing_key")?,
                }
            } else if let Some(w) = &t.webhook {
                Channel::Webhook {
                    url: load(&w.url, "webhook.url")?,
                    secret: load(&w.secret, "webhook.secret")?,
                }
            } else {
                continue; // NotifyConfig::parse guarantees exactly one channel
            };
            n.targets.push(Target {
                name: t.name,
                channel,
                min_severity: t.min_severity.unwrap_or(Severity::Info),
                kinds: t.kinds,
            });
        }
        Ok(n)
    }

    /// Adds a target whose credentials the caller loaded. Its secrets join the
    /// redactor, like those read from a config file.
    pub fn add_target(&mut self, name: impl Into<String>, channel: Channel) {
        match &channel {
            Channel::Slack { url } => self.redactor.add(url),
            Channel::PagerDuty { key, .. } => self.redactor.add(key),
            Channel::Webhook { url, secret } => {
                self.redactor.add(url);
                self.redactor.add(secret);
            }
        }
        self.targets.push(Target {
            name: name.into(),
            channel,
            min_severity: Severity::Info,
            kinds: None,
        });
    }

    /// No targets: notices are dropped (the audit log still records them).
    pub fn empty(retry: RetryConfig) -> Result<Notifiers, NotifyError> {
        let client =
            canaryd_http::client(retry.timeout).map_err(|e| NotifyError::Client(e.to_string()))?;
        Ok(Notifiers {
            client,
            dashboard_url: None,
            retry,
            targets: Vec::new(),
            redactor: Redactor::new(),
            open_incidents: HashSet::new(),
            warnings: Vec::new(),
            log: Vec::new(),
            surface: Surface::default(),
        })
    }

    /// Words every message for `surface` (the default: a canaryd with its
    /// operator API, where `canaryd approve ...` is the way to act).
    pub fn with_surface(mut self, surface: Surface) -> Self {
        self.surface = surface;
        self
    }

    /// The redactor knowing every secret of this config, for logs and audit payloads.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Sends `notice` to every target that wants it; returns one delivery per target tried.
    pub async fn send(&mut self, key: &RolloutKey, notice: &Notice) -> Vec<Delivery> {
        // Notices are built from what the collectors reported, and a reason can
        // quote a URL with credentials in it: scrub before anything is sent.
        let mut msg = Message::new(
            key,
            notice,
            self.surface,
            self.dashboard_url.as_ref().map(UrlText::expose),
            now_rfc3339(),
        );
        if let Ok(mut v) = serde_json::to_value(&msg) {
            self.redactor.redact_json(&mut v);
            if let Ok(clean) = serde_json::from_value::<Message>(v) {
                msg = clean;
            }
        }
        let mut jobs = tokio::task::JoinSet::new();
        for t in &self.targets {
            if notice.severity < t.min_severity
                || t.kinds.as_ref().is_some_and(|k| !k.contains(&notice.kind))
            {
                continue;
            }
            let prepared = match &t.channel {
                Channel::Slack { url } => Some((
                    url.expose().to_string(),
                    body_json(&slack::payload(&msg)),
                    vec![],
                )),
                Channel::PagerDuty { url, key: routing } => {
                    let Some(action) = pagerduty::action_for(notice.kind) else {
                        continue;
                    };
                    let dedup = msg.dedup_key();
                    if action == pagerduty::Action::Resolve && !self.open_incidents.remove(&dedup) {
                        continue; // nothing of ours to resolve
                    }
                    if action == pagerduty::Action::Trigger {
                        self.open_incidents.insert(dedup);
                    }
                    Some((
                        url.as_ref()
                            .map_or(pagerduty::DEFAULT_URL, |u| u.expose().as_str())
                            .to_string(),
                        body_json(&pagerduty::payload(&msg, routing, action)),
                        vec![],
                    ))
                }
                Channel::Webhook { url, secret } => webhook::body(&msg).ok().map(|body| {
                    let sig = canaryd_secrets::sign::signature(secret, &body);
                    (
                        url.expose().to_string(),
                        body,
                        vec![(canaryd_secrets::sign::SIGNATURE_HEADER, sig)],
                    )
                }),
            };
            let Some((url, body, headers)) = prepared else {
                continue;
            };
            let (client, retry, redactor) = (
                self.client.clone(),
                self.retry.clone(),
                self.redactor.clone(),
            );
            let (name, channel) = (t.name.clone(), t.channel.name());
            jobs.spawn(async move {
                post(
                    &client, &retry, &redactor, name, channel, url, body, headers,
                )
                .await
            });
        }
        let mut out = Vec::new();
        while let Some(done) = jobs.join_next().await {
            if let Ok(d) = done {
                out.push(d);
            }
        }
        out.sort_by(|a, b| a.target.cmp(&b.target));
        self.log.extend(out.iter().cloned());
        out
    }
}

#[canaryd_ports::async_trait]
impl Notifier for Notifiers {
    async fn notify(&mut self, key: &RolloutKey, notice: &Notice) -> Result<(), ActionError> {
        let failed: Vec<String> = self
            .send(key, notice)
            .await
            .into_iter()
            .filter(|d| !d.ok)
            .map(|d| {
                format!(
                    "{} ({}): {}",
                    d.target,
                    d.channel,
                    d.error.unwrap_or_default()
                )
            })
            .collect();
        if failed.is_empty() {
            Ok(())
        } else {
            // Each target was already retried with back-off; what is left
            // is an outage at the receiving end, which passes on its own.
            Err(ActionError::transient(failed.join("; ")))
        }
    }
}

fn body_json(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

#[allow(clippy::too_many_arguments)]
async fn post(
    client: &reqwest::Client,
    retry: &RetryConfig,
    redactor: &Redactor,
    target: String,
    channel: &'static str,
    url: String,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
) -> Delivery {
    let mut last_error = String::new();
    let mut status = None;
    for attempt in 1..=retry.attempts {
        let mut req = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone());
        for (k, v) in &headers {
            req = req.header(*k, v);
        }
        match req.send().await {
            Ok(resp) if resp.status().is_success() => {
                return Delivery {
                    target,
                    channel,
                    ok: true,
                    attempts: attempt,
                    status: Some(resp.status().as_u16()),
                    error: None,
                };
            }
            Ok(resp) => {
                let code = resp.status();
                status = Some(code.as_u16());
                let text = resp.text().await.unwrap_or_default();
                last_error = redactor.redact(&format!(
                    "HTTP {code}: {}",
                    crate::message::truncate(text.trim(), 200)
                ));
                // A 4xx other than 429 will not get better by asking again.
                if !(code.as_u16() == 429 || code.is_server_error()) {
                    return Delivery {
                        target,
                        channel,
                        ok: false,
                        attempts: attempt,
                        status,
                        error: Some(last_error),
                    };
                }
            }
            // Request errors print the URL; the URL may be the secret.
            Err(e) => last_error = redactor.redact(&e.without_url().to_string()),
        }
        if attempt < retry.attempts {
            let wait = retry.backoff.saturating_mul(1u32 << (attempt - 1).min(10));
            tokio::time::sleep(wait.min(Duration::from_secs(30))).await;
        }
    }
    tracing::warn!(target = %target, channel, error = %last_error, "notification failed");
    Delivery {
        target,
        channel,
        ok: false,
        attempts: retry.attempts,
        status,
        error: Some(last_error),
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
