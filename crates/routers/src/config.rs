//! The `router:` section of a policy file: what moves traffic.
//!
//! Exactly one of `embedded`, `exec`, `webhook` or `none`. Checked in full at
//! load (placeholders, argv, URLs, methods, headers), before any secret is
//! read, so `canaryd policy check` can reject a broken router without the
//! production credentials.

use canaryd_secrets::secret::SecretError;
use canaryd_secrets::{SafeUrl, SecretSource, UrlText};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::template::Template;

/// The `router:` section. See the crate documentation for examples.
// Parsed once per policy: size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RouterConfig {
    /// A `canaryd proxy` running elsewhere, driven through its admin API.
    Embedded(EmbeddedConfig),
    /// Commands (argv arrays, no shell) per action.
    Exec(ExecConfig),
    /// HTTP requests per action.
    Webhook(WebhookConfig),
    /// `none: {}`: something else (a pipeline step, a human, a mesh operator)
    /// moves traffic; canaryd only judges and reports.
    #[serde(rename = "none")]
    External(ExternalConfig),
}

/// The `embedded` router: canaryd's own proxy, driven through its admin API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedConfig {
    /// The router's admin listener, e.g. `http://127.0.0.1:9091`.
    pub admin_url: SafeUrl,
    /// The bearer token the router was started with.
    #[serde(default)]
    pub token: Option<SecretSource>,
    /// How long one call to the admin API may take (default 5 s).
    #[serde(default = "default_embedded_timeout", with = "duration")]
    pub timeout: Duration,
}

/// The `exec` router: one command per action (see the `exec` module docs).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecConfig {
    /// The argv run to set a weight; placeholders such as `{weight}` are filled per argument.
    pub set_weight: Vec<String>,
    /// Default: `set_weight` with weight 0.
    #[serde(default)]
    pub rollback: Option<Vec<String>>,
    /// Default: `set_weight` with weight 100.
    #[serde(default)]
    pub promote: Option<Vec<String>>,
    /// How long a command may run before its process group is killed (default 30 s).
    #[serde(default = "default_exec_timeout", with = "duration")]
    pub timeout: Duration,
    /// Added to the environment canaryd itself runs with. Values are
    /// secrets like every other credential (`{env: VAR}`, `{file: PATH}`, or
    /// inline, warned about when the name looks like a credential); every
    /// value is masked in whatever the command prints.
    #[serde(default)]
    pub env: BTreeMap<String, SecretSource>,
}

/// The `webhook` router: one HTTP request per action, to a load balancer's API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The request that sets a weight.
    pub set_weight: RequestConfig,
    /// Default: `set_weight` with weight 0.
    #[serde(default)]
    pub rollback: Option<RequestConfig>,
    /// Default: `set_weight` with weight 100.
    #[serde(default)]
    pub promote: Option<RequestConfig>,
    /// Per attempt.
    #[serde(default = "default_webhook_timeout", with = "duration")]
    pub timeout: Duration,
    /// Attempts after the first, for 5xx, 408, 429 and network failures.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Wait before the first retry; doubled for each one after.
    #[serde(default = "default_backoff", with = "duration")]
    pub backoff: Duration,
    /// HMAC-SHA256 key: every request carries `X-Canaryd-Signature: sha256=<hex>`
    /// over the exact body bytes (the notify crate's webhook scheme).
    #[serde(default)]
    pub secret: Option<SecretSource>,
    /// Sent as `Authorization: Bearer <token>`.
    #[serde(default)]
    pub token: Option<SecretSource>,
}

/// One HTTP request of the `webhook` router.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestConfig {
    /// A template (`{revision}`...); may carry the load balancer's own
    /// credentials, so it is shown masked.
    pub url: UrlText,
    /// The HTTP method (default `POST`).
    #[serde(default = "default_method")]
    pub method: String,
    /// Plain values are templates (`{revision}`...); `{env: VAR}` and
    /// `{file: PATH}` values are secrets, sent but never shown. An inline
    /// value under a credential-looking name (`Authorization`, `X-Api-Key`)
    /// is warned about and masked like a secret.
    #[serde(default)]
    pub headers: BTreeMap<String, SecretSource>,
    /// Default: no body. With a body and no `Content-Type` header,
    /// `application/json` is sent.
    #[serde(default)]
    pub body: Option<String>,
}

/// `none: {}`: something else moves traffic; canaryd only judges. Empty, and
/// any key is refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalConfig {}

fn default_embedded_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_exec_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_webhook_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_retries() -> u32 {
    2
}
fn default_backoff() -> Duration {
    Duration::from_millis(500)
}
fn default_method() -> String {
    "POST".into()
}

/// At most this many retries: a router that keeps failing should surface to
/// the driver (which keeps the effect in its outbox), not stall it.
pub const MAX_RETRIES: u32 = 10;

/// Environment variables canaryd sets for every command; a config may not
/// override them.
pub const EXEC_ENV: &[&str] = &[
    "CANARYD_ACTION",
    "CANARYD_WEIGHT",
    "CANARYD_STABLE_WEIGHT",
    "CANARYD_WORKLOAD",
    "CANARYD_REVISION",
];

/// Why a router config was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The text is not a router config of the right shape.
    #[error("{source_name}: router: {message}")]
    Parse {
        /// The file or source the config came from.
        source_name: String,
        /// What the parser objected to.
        message: String,
    },
    /// A value that parses but cannot work.
    #[error("router.{field}: {message}")]
    Invalid {
        /// The setting, as a path under `router.`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A credential could not be loaded.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The outbound HTTP client could not be built (TLS setup, say).
    #[error("cannot build the HTTP client for the router: {0}")]
    Client(String),
}

pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// A whole policy document, reading only `router:`.
#[derive(Deserialize)]
struct PolicyDocument {
    #[serde(default)]
    router: Option<RouterConfig>,
}

/// The keys of the section, to say "exactly one" plainly before serde's
/// enum errors ("expected end of mapping after enum variant value") do.
type Kinds = BTreeMap<String, serde::de::IgnoredAny>;

#[derive(Deserialize)]
struct PolicyKinds {
    #[serde(default)]
    router: Option<Kinds>,
}

const KINDS: &[&str] = &["embedded", "exec", "webhook", "none"];

fn check_one_kind(source_name: &str, kinds: &Kinds) -> Result<(), ConfigError> {
    if kinds.len() == 1 {
        return Ok(());
    }
    let found: Vec<&str> = kinds.keys().map(String::as_str).collect();
    Err(ConfigError::Parse {
        source_name: source_name.to_string(),
        message: format!(
            "give exactly one of {} (found {})",
            KINDS.join(", "),
            if found.is_empty() {
                "none".to_string()
            } else {
                found.join(", ")
            }
        ),
    })
}

impl RouterConfig {
    /// Parses and checks the section on its own (`exec: {...}`).
    /// `source_name` (usually the file path) prefixes parse errors.
    pub fn from_yaml(source_name: &str, text: &str) -> Result<RouterConfig, ConfigError> {
        if let Ok(kinds) = serde_saphyr::from_str::<Kinds>(text) {
            check_one_kind(source_name, &kinds)?;
        }
        let cfg: RouterConfig = serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse {
            source_name: source_name.to_string(),
            message: canaryd_secrets::yaml::describe_error(source_name, text, &e),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The `router:` section of a whole policy file; `None` when it has none.
    /// Other sections are left to the policy parser.
    pub fn from_policy(source_name: &str, text: &str) -> Result<Option<RouterConfig>, ConfigError> {
        if let Ok(PolicyKinds {
            router: Some(kinds),
        }) = serde_saphyr::from_str(text)
        {
            check_one_kind(source_name, &kinds)?;
        }
        let doc: PolicyDocument = serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse {
            source_name: source_name.to_string(),
            message: canaryd_secrets::yaml::describe_error(source_name, text, &e),
        })?;
        if let Some(cfg) = &doc.router {
            cfg.validate()?;
        }
        Ok(doc.router)
    }

    /// Every check that needs no secret and no network.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self {
            RouterConfig::Embedded(c) => {
                check_admin_url(&c.admin_url)?;
                check_timeout("embedded.timeout", c.timeout)
            }
            RouterConfig::Exec(c) => crate::exec::Commands::compile(c).map(|_| ()),
            RouterConfig::Webhook(c) => crate::webhook::Requests::compile(c).map(|_| ()),
            RouterConfig::External(_) => Ok(()),
        }
    }
}

pub(crate) fn check_timeout(field: &str, t: Duration) -> Result<(), ConfigError> {
    if t.is_zero() {
        return Err(invalid(field, "must be longer than 0 (write e.g. 10s)"));
    }
    Ok(())
}

/// The embedded router's admin listener: an http(s) URL with a host and
/// nothing in it that looks like a credential (the token has its own field).
pub(crate) fn check_admin_url(url: &SafeUrl) -> Result<(), ConfigError> {
    if url.host_str().is_none() {
        return Err(invalid(
            "embedded.admin_url",
            format!("`{url}` must be an http:// or https:// URL with a host"),
        ));
    }
    url.refuse_credentials()
        .map_err(|e| invalid("embedded.admin_url", e.to_string()))
}

/// An http(s) URL with a host. Checked on the template with placeholders
/// replaced by a harmless value, so `{revision}` in a path is allowed.
pub(crate) fn check_http_url(field: &str, text: &str) -> Result<url::Url, ConfigError> {
    let t = Template::parse(text).map_err(|e| invalid(field, e.to_string()))?;
    let probe = t.render(
        &crate::template::Values {
            weight: 0,
            workload: "w".into(),
            revision: "r".into(),
        },
        crate::template::Escape::Url,
    );
    let u = url::Url::parse(&probe).map_err(|e| {
        invalid(
            field,
            format!(
                "`{}` is not a URL: {e}",
                canaryd_secrets::without_credentials_or_query(text)
            ),
        )
    })?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(invalid(
            field,
            format!(
                "`{}` must be an http:// or https:// URL with a host",
                canaryd_secrets::without_credentials_or_query(text)
            ),
        ));
    }
    Ok(u)
}

mod duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(|e| {
            serde::de::Error::custom(format!("`{s}`: {e} (write e.g. 500ms, 10s, 1m)"))
        })
    }
}
