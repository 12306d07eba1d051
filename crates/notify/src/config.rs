//! The notification config file: where notices go, and which ones.
//!
//! ```yaml
//! dashboard_url: "https://grafana.example.com/d/canary?var-workload={workload}&var-revision={revision}"
//! targets:
//!   - name: payments-channel
//!     slack: {webhook_url: {env: SLACK_WEBHOOK_URL}}
//!   - name: payments-oncall                 # rollbacks and pauses page someone
//!     pagerduty: {routing_key: {file: /run/secrets/pd-routing-key}}
//!     min_severity: warning
//!   - name: release-bot
//!     webhook: {url: "https://bots.example.com/canary", secret: {env: HOOK_SECRET}}
//!     kinds: [rolled_back, promoted]
//! ```

use canaryd_core::effect::{NoticeKind, Severity};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

use canaryd_secrets::secret::SecretSource;
use canaryd_secrets::{SafeUrl, UrlText};

/// The notification config file: who is told what, and how hard canaryd
/// tries. Unknown keys are refused, so a typo does not silently drop a target.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Link template for messages; `{workload}` and `{revision}` are filled in.
    #[serde(default)]
    pub dashboard_url: Option<UrlText>,
    /// How each delivery is retried (defaults: 3 attempts, 500 ms backoff, 5 s timeout).
    #[serde(default)]
    pub retry: RetryConfig,
    /// Every place a notice may go; each gets every notice its filters let through.
    pub targets: Vec<TargetConfig>,
}

/// How hard a delivery is tried before it counts as failed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts per delivery, first included.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Wait before the second attempt; doubled for each one after.
    #[serde(default = "default_backoff", with = "humantime_str")]
    pub backoff: Duration,
    /// Per-attempt timeout.
    #[serde(default = "default_timeout", with = "humantime_str")]
    pub timeout: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            attempts: default_attempts(),
            backoff: default_backoff(),
            timeout: default_timeout(),
        }
    }
}

fn default_attempts() -> u32 {
    3
}
fn default_backoff() -> Duration {
    Duration::from_millis(500)
}
fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

/// One place notices go. Exactly one of `slack`, `pagerduty`, `webhook`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Names the target in logs, delivery results and errors.
    pub name: String,
    /// Post to a Slack incoming webhook.
    #[serde(default)]
    pub slack: Option<SlackConfig>,
    /// Trigger and resolve PagerDuty incidents.
    #[serde(default)]
    pub pagerduty: Option<PagerDutyConfig>,
    /// POST a signed JSON body to any URL.
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    /// Only notices at or above this severity (default: all).
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Only these kinds of notice (default: all).
    #[serde(default)]
    pub kinds: Option<Vec<NoticeKind>>,
}

/// A Slack target.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// The incoming-webhook URL is itself the credential.
    pub webhook_url: SecretSource,
}

/// A PagerDuty target (Events API v2).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    /// The integration's routing key, a credential.
    pub routing_key: SecretSource,
    /// The Events API v2 endpoint; PagerDuty's own when left out.
    #[serde(default)]
    pub url: Option<SafeUrl>,
}

/// A generic webhook target.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST; a secret, since such URLs often embed a token.
    pub url: SecretSource,
    /// HMAC-SHA256 signing key.
    pub secret: SecretSource,
}

/// Why a notification config was refused; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read notification config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Well-formed YAML whose content makes no sense (no channel on a target,
    /// a URL with credentials in it, ...).
    #[error("{path}: {message}")]
    Invalid {
        /// The file, as the caller named it.
        path: String,
        /// What is wrong, naming the target.
        message: String,
    },
    /// Not YAML of the right shape; the text names the file, line and column.
    #[error("{0}")]
    Yaml(String),
}

impl NotifyConfig {
    /// Parses and checks a config's text; `source` names it in errors.
    pub fn parse(source: &str, text: &str) -> Result<NotifyConfig, ConfigError> {
        let cfg: NotifyConfig = serde_saphyr::from_str(text).map_err(|e| {
            ConfigError::Yaml(canaryd_secrets::yaml::describe_error(source, text, &e))
        })?;
        cfg.check(source)
    }

    /// The `notify:` mapping of a whole policy file, parsed in place so
    /// errors point at the policy file's own lines (not at a re-serialised
    /// copy's `<input>:1:48`).
    pub fn from_policy(source: &str, text: &str) -> Result<NotifyConfig, ConfigError> {
        #[derive(Deserialize)]
        struct Doc {
            notify: NotifyConfig,
        }
        let doc: Doc = serde_saphyr::from_str(text).map_err(|e| {
            ConfigError::Yaml(canaryd_secrets::yaml::describe_error(source, text, &e))
        })?;
        doc.notify.check(source)
    }

    /// The checks serde cannot express.
    fn check(self, source: &str) -> Result<NotifyConfig, ConfigError> {
        let cfg = self;
        let invalid = |message: String| ConfigError::Invalid {
            path: source.to_string(),
            message,
        };
        if cfg.retry.attempts == 0 {
            return Err(invalid("retry.attempts must be at least 1".into()));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, t) in cfg.targets.iter().enumerate() {
            let kinds = [
                t.slack.is_some(),
                t.pagerduty.is_some(),
                t.webhook.is_some(),
            ]
            .iter()
            .filter(|x| **x)
            .count();
            if kinds != 1 {
                return Err(invalid(format!(
                    "targets[{i}] ({}): give exactly one of `slack`, `pagerduty`, `webhook` (found {kinds})",
                    t.name
                )));
            }
            if t.name.trim().is_empty() || !names.insert(t.name.clone()) {
                return Err(invalid(format!(
                    "targets[{i}]: names must be non-empty and unique (`{}`)",
                    t.name
                )));
            }
            if let Some(url) = t.pagerduty.as_ref().and_then(|pd| pd.url.as_ref()) {
                url.refuse_credentials().map_err(|e| {
                    invalid(format!("targets[{i}] ({}): pagerduty.url: {e}", t.name))
                })?;
            }
        }
        Ok(cfg)
    }

    /// Reads and parses a config file.
    pub fn load(path: &std::path::Path) -> Result<NotifyConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path.display().to_string();
        // `notify: PATH` may point at anything readable (a token file, by
        // mistake): unless it looks like a notify config, say so without
        // quoting a byte of it.
        #[derive(Deserialize)]
        struct Shape {
            #[allow(dead_code)]
            targets: serde::de::IgnoredAny,
        }
        if serde_saphyr::from_str::<Shape>(&text).is_err() {
            return Err(ConfigError::Invalid {
                path: name,
                message: "this file is not a notification config (expected a YAML mapping with                           `targets:`); its content is not shown in case it holds a secret"
                    .into(),
            });
        }
        NotifyConfig::parse(&name, &text)
    }
}

mod humantime_str {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s)
            .map_err(|e| serde::de::Error::custom(format!("`{s}`: {e} (write e.g. 500ms, 2s, 1m)")))
    }
}
