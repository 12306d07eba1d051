//! From the policy's `router:` section to the driver's [`TrafficRouter`]:
//! every kind is built the same way and handed over as a `Box<dyn …>`, so
//! no caller needs to know which kind it holds.

use canaryd_core::vocab::{RolloutKey, Weight};
use canaryd_ports::{ActionError, TrafficRouter};
use canaryd_secrets::Secret;

use crate::config::{ConfigError, RouterConfig};
use crate::embedded::EmbeddedRouter;
use crate::exec::ExecRouter;
use crate::webhook::WebhookRouter;

/// A router ready to act, and what the process must know about it.
pub struct BuiltRouter {
    /// The router, for the driver.
    pub router: Box<dyn TrafficRouter>,
    /// Every secret the router holds, for the process-wide redactor.
    pub secrets: Vec<Secret>,
    /// Warnings about the config the operator should see at start (an
    /// inline secret, say).
    pub warnings: Vec<String>,
}

/// Checks `cfg` and loads its secrets; fails naming the first problem (an
/// unset variable, an unreadable file, a bad field).
pub fn build(cfg: &RouterConfig) -> Result<BuiltRouter, ConfigError> {
    cfg.validate()?;
    Ok(match cfg {
        RouterConfig::Embedded(c) => {
            EmbeddedRouter::new(c).map(|r| built(r.secrets(), r.warnings.clone(), r))?
        }
        RouterConfig::Exec(c) => {
            ExecRouter::new(c).map(|r| built(r.secrets(), r.warnings.clone(), r))?
        }
        RouterConfig::Webhook(c) => {
            WebhookRouter::new(c).map(|r| built(r.secrets(), r.warnings.clone(), r))?
        }
        RouterConfig::External(_) => built(Vec::new(), Vec::new(), ExternalRouter),
    })
}

fn built(
    secrets: Vec<Secret>,
    warnings: Vec<String>,
    router: impl TrafficRouter + 'static,
) -> BuiltRouter {
    BuiltRouter {
        router: Box::new(router),
        secrets,
        warnings,
    }
}

/// `none: {}`: traffic is moved outside canaryd (another pipeline step, a
/// mesh operator, a human). Every action succeeds without doing anything,
/// and says so in the log.
#[derive(Debug, Default, Clone, Copy)]
pub struct ExternalRouter;

impl ExternalRouter {
    fn say(key: &RolloutKey, action: crate::Action) -> Result<(), ActionError> {
        tracing::info!(rollout = %key, %action, "router: none; traffic is moved outside canaryd");
        Ok(())
    }
}

#[canaryd_ports::async_trait]
impl TrafficRouter for ExternalRouter {
    async fn set_weight(&mut self, key: &RolloutKey, weight: Weight) -> Result<(), ActionError> {
        ExternalRouter::say(key, crate::Action::SetWeight(weight))
    }

    async fn roll_back(&mut self, key: &RolloutKey) -> Result<(), ActionError> {
        ExternalRouter::say(key, crate::Action::RollBack)
    }

    async fn promote(&mut self, key: &RolloutKey) -> Result<(), ActionError> {
        ExternalRouter::say(key, crate::Action::Promote)
    }
}
