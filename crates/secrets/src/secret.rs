//! Secrets that cannot leak by accident.
//!
//! A [`Secret`] holds a credential (a Slack webhook URL, a PagerDuty routing
//! key, an API token). It has no `Display` and no `Serialize`, and its `Debug`
//! prints `Secret(***)`, so neither a log line, an error message nor an audit
//! entry can carry it by mistake. The value is only reachable through
//! [`Secret::expose`], which greps well in review.

use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;
use subtle::ConstantTimeEq;

/// A credential's value. See the module docs for why it cannot be printed.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value read from the environment, a file or a config, from
    /// which point on it is never shown.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares with a presented credential in constant time, so response
    /// timing reveals nothing about how much of a token was right.
    pub fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        a.len() == b.len() && bool::from(a.ct_eq(b))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where a secret comes from, as a config file writes it:
/// `{env: SLACK_WEBHOOK_URL}`, `{file: /run/secrets/pd-key}`, or (discouraged,
/// warned about) an inline string.
#[derive(Clone)]
pub enum SecretSource {
    /// `{env: VAR}`: read from an environment variable at load time.
    Env {
        /// The variable's name.
        env: String,
    },
    /// `{file: PATH}`: read from a file (a mounted Kubernetes secret, say),
    /// surrounding whitespace trimmed.
    File {
        /// Where the file is.
        file: PathBuf,
    },
    /// The value written in the config itself: works, but the secret then
    /// lives in a file that is often committed, so loading it warns.
    Inline(String),
}

/// Hand-written rather than `#[serde(untagged)]`: untagged enums lose the
/// reason a value was rejected, and a user fixing a config needs it.
impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = SecretSource;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("{env: VAR}, {file: PATH}, or (discouraged) the value itself")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SecretSource, E> {
                Ok(SecretSource::Inline(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<SecretSource, A::Error> {
                let Some(k) = m.next_key::<String>()? else {
                    return Err(serde::de::Error::custom(
                        "empty mapping: give {env: VAR} or {file: PATH}",
                    ));
                };
                let v: String = m.next_value()?;
                if m.next_key::<String>()?.is_some() {
                    return Err(serde::de::Error::custom("give only one of `env` or `file`"));
                }
                match k.as_str() {
                    "env" => Ok(SecretSource::Env { env: v }),
                    "file" => Ok(SecretSource::File { file: v.into() }),
                    other => Err(serde::de::Error::custom(format!(
                        "unknown secret source `{other}`: give {{env: VAR}} or {{file: PATH}}"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env { env } => write!(f, "env:{env}"),
            SecretSource::File { file } => write!(f, "file:{}", file.display()),
            SecretSource::Inline(_) => f.write_str("inline:***"),
        }
    }
}

/// Why a secret could not be loaded. The text names the secret and where it
/// was looked for, never its value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The `{env: VAR}` variable is not set in canaryd's environment.
    #[error("secret for {what}: environment variable {var} is not set")]
    EnvMissing {
        /// Which secret, as the caller named it ("slack target payments").
        what: String,
        /// The variable that was missing.
        var: String,
    },
    /// The `{file: PATH}` file could not be read.
    #[error("secret for {what}: cannot read {path}: {source}")]
    File {
        /// Which secret, as the caller named it.
        what: String,
        /// The file that could not be read.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The source was found but holds nothing (after trimming), which would
    /// otherwise fail later as a confusing authentication error.
    #[error("secret for {what} is empty")]
    Empty {
        /// Which secret, as the caller named it.
        what: String,
    },
}

impl SecretSource {
    /// Loads the secret. `what` names it in errors ("slack target payments").
    /// Returns whether it was inline, so the caller can warn.
    pub fn load(&self, what: &str) -> Result<(Secret, bool), SecretError> {
        let (value, inline) = match self {
            SecretSource::Env { env } => (
                std::env::var(env).map_err(|_| SecretError::EnvMissing {
                    what: what.to_string(),
                    var: env.clone(),
                })?,
                false,
            ),
            SecretSource::File { file } => (
                std::fs::read_to_string(file).map_err(|source| SecretError::File {
                    what: what.to_string(),
                    path: file.clone(),
                    source,
                })?,
                false,
            ),
            SecretSource::Inline(v) => (v.clone(), true),
        };
        let value = value.trim().to_string();
        if value.is_empty() {
            return Err(SecretError::Empty {
                what: what.to_string(),
            });
        }
        Ok((Secret(value), inline))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("xoxb-very-secret");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(
            format!("{:?}", SecretSource::Inline("hunter2".into())),
            "inline:***"
        );
    }

    #[test]
    fn constant_time_match() {
        let s = Secret::new("token-123");
        assert!(s.matches("token-123"));
        assert!(!s.matches("token-124"));
        assert!(!s.matches("token-12"));
        assert!(!s.matches(""));
    }

    #[test]
    fn loading_reports_where_it_looked() {
        let err = SecretSource::Env {
            env: "CANARYD_TEST_UNSET_VAR".into(),
        }
        .load("slack target ops")
        .unwrap_err();
        assert!(err.to_string().contains("CANARYD_TEST_UNSET_VAR"));
        assert!(err.to_string().contains("slack target ops"));
        let err = SecretSource::File {
            file: "/nonexistent/key".into(),
        }
        .load("pagerduty")
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/key"));
        assert!(SecretSource::Inline("  ".into()).load("x").is_err());
        let (s, inline) = SecretSource::Inline(" abc \n".into()).load("x").unwrap();
        assert_eq!((s.expose(), inline), ("abc", true));
    }
}
