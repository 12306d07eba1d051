//! One router type for whatever the policy's `router:` section names, so the
//! driver is built the same way for every kind.

use canaryd_core::vocab::{RolloutKey, Weight};
use canaryd_driver::{ActionError, TrafficRouter};
use canaryd_notify::Secret;

use crate::action::Action;
use crate::config::{ConfigError, RouterConfig};
use crate::embedded::EmbeddedRouter;
use crate::exec::ExecRouter;
use crate::webhook::WebhookRouter;

/// The router a [`RouterConfig`] describes, ready to act.
// Built once per process and moved into the driver: size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum AnyRouter {
    Embedded(EmbeddedRouter),
    Exec(ExecRouter),
    Webhook(WebhookRouter),
    /// `none: {}`: traffic is moved outside canaryd. Every action succeeds
    /// without doing anything, and says so in the log.
    External,
}

impl AnyRouter {
    /// Checks the config and loads its secrets; fails naming the first
    /// problem (an unset variable, an unreadable file, a bad field).
    pub fn build(cfg: &RouterConfig) -> Result<AnyRouter, ConfigError> {
        cfg.validate()?;
        Ok(match cfg {
            RouterConfig::Embedded(c) => AnyRouter::Embedded(EmbeddedRouter::new(c)?),
            RouterConfig::Exec(c) => AnyRouter::Exec(ExecRouter::new(c)?),
            RouterConfig::Webhook(c) => AnyRouter::Webhook(WebhookRouter::new(c)?),
            RouterConfig::External(_) => AnyRouter::External,
        })
    }

    /// Every secret this router holds, for the process-wide redactor.
    pub fn secrets(&self) -> Vec<Secret> {
        match self {
            AnyRouter::Embedded(r) => r.secrets(),
            AnyRouter::Webhook(r) => r.secrets(),
            AnyRouter::Exec(r) => r.secrets(),
            AnyRouter::External => Vec::new(),
        }
    }

    /// Warnings about the config the operator should see at start.
    pub fn warnings(&self) -> &[String] {
        match self {
            AnyRouter::Embedded(r) => &r.warnings,
            AnyRouter::Webhook(r) => &r.warnings,
            AnyRouter::Exec(r) => &r.warnings,
            AnyRouter::External => &[],
        }
    }

    /// Carries out `action` for `key`.
    pub async fn apply(&mut self, key: &RolloutKey, action: Action) -> Result<(), ActionError> {
        let err = |e: &dyn std::fmt::Display| ActionError(e.to_string());
        match self {
            AnyRouter::Embedded(r) => r.apply(action).await.map_err(|e| err(&e)),
            AnyRouter::Exec(r) => r.run(key, action).await.map_err(|e| err(&e)),
            AnyRouter::Webhook(r) => r.call(key, action).await.map(|_| ()).map_err(|e| err(&e)),
            AnyRouter::External => {
                tracing::info!(rollout = %key, %action, "router: none; traffic is moved outside canaryd");
                Ok(())
            }
        }
    }
}

impl TrafficRouter for AnyRouter {
    async fn set_weight(&mut self, key: &RolloutKey, weight: Weight) -> Result<(), ActionError> {
        self.apply(key, Action::SetWeight(weight)).await
    }

    async fn roll_back(&mut self, key: &RolloutKey) -> Result<(), ActionError> {
        self.apply(key, Action::RollBack).await
    }

    async fn promote(&mut self, key: &RolloutKey) -> Result<(), ActionError> {
        self.apply(key, Action::Promote).await
    }
}
