//! The `embedded` router: a `canaryd proxy` running as its own process,
//! driven through its admin API (`PUT /admin/weight`, `GET /admin/weight`).
//!
//! Every change is read back: the action is done only when the router
//! reports the weight that was asked for, so a proxy that restarted at its
//! initial weight, or a second controller fighting over it, is an error the
//! operator sees rather than a split nobody intended.

use canaryd_core::vocab::{RolloutKey, Weight};
use canaryd_ports::{ActionError, ErrorKind, TrafficRouter};
use canaryd_secrets::{Redactor, SafeUrl, Secret};
use reqwest::StatusCode;

use crate::action::Action;
use crate::config::{ConfigError, EmbeddedConfig};
use crate::webhook::error_chain;

/// The admin API path, relative to `admin_url`.
pub const WEIGHT_PATH: &str = "/admin/weight";

/// Why the embedded router did not take a weight. Every variant names the
/// admin URL (masked).
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// No answer: nothing listening, a timeout, a network error.
    #[error("embedded router at {url} is unreachable: {why} (is `canaryd proxy` running with its admin listener there?)")]
    Unreachable {
        /// The admin URL, masked.
        url: String,
        /// What the client said.
        why: String,
    },
    /// An answer other than success (a wrong token, say).
    #[error("embedded router at {url} refused: {status}: {body}")]
    Refused {
        /// The admin URL, masked.
        url: String,
        /// The status it answered.
        status: StatusCode,
        /// The start of its answer, redacted.
        body: String,
    },
    /// A success whose body is not the weight.
    #[error("embedded router at {url} answered something that is not {{\"weight\": N}}: {why}")]
    BadAnswer {
        /// The admin URL, masked.
        url: String,
        /// What could not be read.
        why: String,
    },
    /// The weight read back is not the one just set.
    #[error("embedded router at {url} reports weight {got} after being set to {wanted}; is something else changing it?")]
    Mismatch {
        /// The admin URL, masked.
        url: String,
        /// The weight canaryd set.
        wanted: Weight,
        /// The weight the router reports.
        got: Weight,
    },
}

/// An unreachable router (restarting, say) may answer next time; a refusal,
/// an answer that is not a weight, or a weight someone else set needs a look.
impl From<EmbeddedError> for ActionError {
    fn from(e: EmbeddedError) -> ActionError {
        let transient = matches!(e, EmbeddedError::Unreachable { .. })
            || matches!(&e, EmbeddedError::Refused { status, .. } if status.is_server_error());
        ActionError::new(ErrorKind::from_transient(transient), e.to_string())
    }
}

#[derive(serde::Deserialize)]
struct WeightBody {
    weight: Weight,
}

/// Client of one router's admin API.
pub struct EmbeddedRouter {
    client: reqwest::Client,
    url: SafeUrl,
    shown: String,
    token: Option<Secret>,
    redactor: Redactor,
    /// Things the operator should know about the config (an inline token).
    pub warnings: Vec<String>,
}

impl EmbeddedRouter {
    /// Checks the config and loads the token; nothing is contacted yet.
    pub fn new(cfg: &EmbeddedConfig) -> Result<EmbeddedRouter, ConfigError> {
        crate::config::check_admin_url(&cfg.admin_url)?;
        crate::config::check_timeout("embedded.timeout", cfg.timeout)?;
        let client =
            canaryd_http::client(cfg.timeout).map_err(|e| ConfigError::Client(e.to_string()))?;
        let mut warnings = Vec::new();
        let mut redactor = Redactor::new();
        let token = match &cfg.token {
            None => None,
            Some(src) => {
                let (t, inline) = src.load("router embedded.token")?;
                if inline {
                    warnings.push("router embedded.token is written inline in the policy; load it from {env: VAR} or {file: PATH}".into());
                }
                redactor.add(&t);
                Some(t)
            }
        };
        let url = cfg.admin_url.join_path(WEIGHT_PATH);
        Ok(EmbeddedRouter {
            client,
            shown: url.to_string(),
            url,
            token,
            redactor,
            warnings,
        })
    }

    /// The token, for the process-wide redactor.
    pub fn secrets(&self) -> Vec<Secret> {
        self.token.iter().cloned().collect()
    }

    /// `PUT /admin/weight` as a shadow run would describe it.
    pub fn describe(&self, action: Action) -> String {
        format!("PUT {} {{\"weight\": {}}}", self.shown, action.weight())
    }

    fn request(&self, method: reqwest::Method) -> reqwest::RequestBuilder {
        let r = self.client.request(method, self.url.expose().clone());
        match &self.token {
            Some(t) => r.bearer_auth(t.expose()),
            None => r,
        }
    }

    async fn answer(
        &self,
        sent: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<Weight, EmbeddedError> {
        let resp = sent.map_err(|e| EmbeddedError::Unreachable {
            url: self.shown.clone(),
            why: self.redactor.redact(&error_chain(e)),
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(EmbeddedError::Refused {
                url: self.shown.clone(),
                status,
                body: self
                    .redactor
                    .redact(text.trim())
                    .chars()
                    .take(500)
                    .collect(),
            });
        }
        serde_json::from_str::<WeightBody>(&text)
            .map(|b| b.weight)
            .map_err(|e| EmbeddedError::BadAnswer {
                url: self.shown.clone(),
                why: e.to_string(),
            })
    }

    /// The weight the router splits with now.
    pub async fn weight(&self) -> Result<Weight, EmbeddedError> {
        let sent = self.request(reqwest::Method::GET).send().await;
        self.answer(sent).await
    }

    /// Sets the weight and reads it back.
    pub async fn apply(&self, action: Action) -> Result<(), EmbeddedError> {
        let wanted = action.weight();
        let sent = self
            .request(reqwest::Method::PUT)
            .json(&serde_json::json!({ "weight": wanted }))
            .send()
            .await;
        self.answer(sent).await?;
        let got = self.weight().await?;
        if got != wanted {
            return Err(EmbeddedError::Mismatch {
                url: self.shown.clone(),
                wanted,
                got,
            });
        }
        tracing::info!(url = %self.shown, %action, "embedded router weight set");
        Ok(())
    }
}

#[canaryd_ports::async_trait]
impl TrafficRouter for EmbeddedRouter {
    async fn set_weight(&mut self, _key: &RolloutKey, weight: Weight) -> Result<(), ActionError> {
        self.apply(Action::SetWeight(weight))
            .await
            .map_err(ActionError::from)
    }

    async fn roll_back(&mut self, _key: &RolloutKey) -> Result<(), ActionError> {
        self.apply(Action::RollBack)
            .await
            .map_err(ActionError::from)
    }

    async fn promote(&mut self, _key: &RolloutKey) -> Result<(), ActionError> {
        self.apply(Action::Promote).await.map_err(ActionError::from)
    }
}
