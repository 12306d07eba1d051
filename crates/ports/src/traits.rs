//! The three edges. Every method takes `&mut self`: an edge may keep state
//! between calls (a cache, a connection, what it last did), and the shell
//! never calls one edge from two tasks at once.

use async_trait::async_trait;
use canaryd_core::effect::Notice;
use canaryd_core::observation::{BaselineStatus, Window};
use canaryd_core::vocab::{RolloutKey, Timestamp, Weight};

use crate::error::{ActionError, SourceError};

/// Where the numbers come from: the embedded router, Prometheus, Datadog, or
/// a scenario file in replay.
#[async_trait]
pub trait MetricsSource: Send {
    /// The stable revision's history, for the baseline gate.
    async fn baseline(&mut self, key: &RolloutKey) -> Result<BaselineStatus, SourceError>;

    /// The history read again from the source itself, past any cache: a
    /// rollout waiting for a thin baseline asks whether it has grown since.
    async fn fresh_baseline(&mut self, key: &RolloutKey) -> Result<BaselineStatus, SourceError> {
        self.baseline(key).await
    }

    /// The canary and baseline cohorts between `start` and `end`, per route.
    async fn window(
        &mut self,
        key: &RolloutKey,
        weight: Weight,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Window, SourceError>;
}

/// What moves traffic: the embedded proxy, a Gateway API HTTPRoute, Argo
/// Rollouts, a pair of Deployments, a webhook, a command. Every method must
/// be idempotent: after a crash the driver may call it again with the same
/// arguments.
#[async_trait]
pub trait TrafficRouter: Send {
    /// Sends `weight` percent of traffic to the canary.
    async fn set_weight(&mut self, key: &RolloutKey, weight: Weight) -> Result<(), ActionError>;

    /// All traffic to stable, and undo the canary.
    async fn roll_back(&mut self, key: &RolloutKey) -> Result<(), ActionError>;

    /// The canary takes all traffic and becomes stable.
    async fn promote(&mut self, key: &RolloutKey) -> Result<(), ActionError>;
}

/// Who is told: Slack, PagerDuty, a webhook, Kubernetes Events, the terminal.
#[async_trait]
pub trait Notifier: Send {
    /// Delivers `notice` about `key`. A failure is audited and never holds
    /// up the rollout.
    async fn notify(&mut self, key: &RolloutKey, notice: &Notice) -> Result<(), ActionError>;
}
