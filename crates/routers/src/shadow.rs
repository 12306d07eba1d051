//! `--dry-run`: shadow mode. The rollout is judged and reported as usual,
//! and every action the router would have taken is recorded instead of done.
//!
//! A [`ShadowRouter`] is built from the config alone: it loads no secret and
//! holds no HTTP client, so it *cannot* act, and a dry run works in a CI job
//! that has no production credentials.

use canaryd_core::vocab::{RolloutKey, Weight};
use canaryd_ports::{ActionError, TrafficRouter};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::action::Action;
use crate::config::{ConfigError, RouterConfig};
use crate::exec::{shell_words, Commands};
use crate::webhook::Requests;

// One per shadow router: size does not matter.
#[allow(clippy::large_enum_variant)]
enum Plan {
    Embedded { url: String },
    Exec(Commands),
    Webhook(Requests),
    External,
}

/// What a shadow run would have done, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The rollout the action was for.
    pub key: RolloutKey,
    /// What the driver asked.
    pub action: Action,
    /// The command line or request, without credentials.
    pub would: String,
}

/// A handle: clone it, give one clone to the driver and read what the
/// rollout would have done through the other.
#[derive(Clone)]
pub struct ShadowRouter {
    plan: Arc<Plan>,
    log: Arc<Mutex<ShadowLog>>,
}

#[derive(Default)]
struct ShadowLog {
    /// The weight the real router would be at now.
    weight: Weight,
    planned: Vec<Planned>,
}

impl ShadowRouter {
    /// Checks `cfg` and prepares what each action would do; nothing is
    /// contacted or run.
    pub fn new(cfg: &RouterConfig) -> Result<ShadowRouter, ConfigError> {
        cfg.validate()?;
        let plan = match cfg {
            RouterConfig::Embedded(c) => Plan::Embedded {
                url: c
                    .admin_url
                    .join_path(crate::embedded::WEIGHT_PATH)
                    .to_string(),
            },
            RouterConfig::Exec(c) => Plan::Exec(Commands::compile(c)?),
            RouterConfig::Webhook(c) => Plan::Webhook(Requests::compile(c)?),
            RouterConfig::External(_) => Plan::External,
        };
        Ok(ShadowRouter {
            plan: Arc::new(plan),
            log: Arc::default(),
        })
    }

    /// The weight the real router would be at now.
    pub fn weight(&self) -> Weight {
        self.log().weight
    }

    /// What the real router would have done so far, in order.
    pub fn planned(&self) -> Vec<Planned> {
        self.log().planned.clone()
    }

    /// The log, past a panic in another holder: it is only ever appended to.
    fn log(&self) -> MutexGuard<'_, ShadowLog> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What `action` would do for `key`.
    pub fn describe(&self, key: &RolloutKey, action: Action) -> String {
        match self.plan.as_ref() {
            Plan::Embedded { url } => format!("PUT {url} {{\"weight\": {}}}", action.weight()),
            Plan::Exec(c) => format!("run {}", shell_words(&c.argv(key, action))),
            Plan::Webhook(r) => r.describe(key, action),
            Plan::External => "nothing (router: none)".into(),
        }
    }

    fn record(&mut self, key: &RolloutKey, action: Action) -> Result<(), ActionError> {
        let would = self.describe(key, action);
        tracing::info!(rollout = %key, %action, %would, "dry run: not acting");
        let mut log = self.log();
        log.weight = action.weight();
        log.planned.push(Planned {
            key: key.clone(),
            action,
            would,
        });
        Ok(())
    }
}

#[canaryd_ports::async_trait]
impl TrafficRouter for ShadowRouter {
    async fn set_weight(&mut self, key: &RolloutKey, weight: Weight) -> Result<(), ActionError> {
        self.record(key, Action::SetWeight(weight))
    }

    async fn roll_back(&mut self, key: &RolloutKey) -> Result<(), ActionError> {
        self.record(key, Action::RollBack)
    }

    async fn promote(&mut self, key: &RolloutKey) -> Result<(), ActionError> {
        self.record(key, Action::Promote)
    }
}
