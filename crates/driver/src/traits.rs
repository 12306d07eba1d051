//! The edges of the shell: where metrics come from, where traffic is steered,
//! who is told. The core knows none of these; integrations implement them.

use canaryd_core::effect::Notice;
use canaryd_core::observation::{BaselineStatus, Window};
use canaryd_core::vocab::{RolloutKey, Timestamp, Weight};
use std::future::Future;

/// A failure to carry out an effect. The effect stays in the outbox and is
/// retried; the message is what an operator needs to fix the cause.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ActionError(pub String);

/// A failure to read metrics. The driver turns it into an *unreliable* window
/// (the rollout pauses), never into a verdict about the canary.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// Where the numbers come from: the embedded router, Prometheus, Datadog, or a
/// scenario file in replay.
pub trait MetricsSource: Send {
    /// The stable revision's history, for the baseline gate.
    fn baseline(
        &mut self,
        key: &RolloutKey,
    ) -> impl Future<Output = Result<BaselineStatus, SourceError>> + Send;

    /// The history read again from the source itself, past any cache: a
    /// rollout waiting for a thin baseline asks whether it has grown since.
    fn fresh_baseline(
        &mut self,
        key: &RolloutKey,
    ) -> impl Future<Output = Result<BaselineStatus, SourceError>> + Send {
        self.baseline(key)
    }

    /// The canary and baseline cohorts between `start` and `end`, per route.
    fn window(
        &mut self,
        key: &RolloutKey,
        weight: Weight,
        start: Timestamp,
        end: Timestamp,
    ) -> impl Future<Output = Result<Window, SourceError>> + Send;
}

/// What moves traffic: the embedded proxy, a Gateway API HTTPRoute, Argo
/// Rollouts, a pair of Deployments, a webhook. Every method must be idempotent:
/// after a crash the driver may call it again with the same arguments.
pub trait TrafficRouter: Send {
    fn set_weight(
        &mut self,
        key: &RolloutKey,
        weight: Weight,
    ) -> impl Future<Output = Result<(), ActionError>> + Send;
    /// All traffic to stable, and undo the canary.
    fn roll_back(
        &mut self,
        key: &RolloutKey,
    ) -> impl Future<Output = Result<(), ActionError>> + Send;
    /// The canary takes all traffic and becomes stable.
    fn promote(&mut self, key: &RolloutKey)
        -> impl Future<Output = Result<(), ActionError>> + Send;
}

/// Who is told: Slack, PagerDuty, a webhook, the terminal.
pub trait Notifier: Send {
    fn notify(
        &mut self,
        key: &RolloutKey,
        notice: &Notice,
    ) -> impl Future<Output = Result<(), ActionError>> + Send;
}

/// A router for replays and dry runs: it steers no traffic, it remembers the
/// weight it was told so the report can show it.
#[derive(Debug, Default, Clone)]
pub struct VirtualRouter {
    pub weight: Weight,
    pub actions: Vec<String>,
}

impl TrafficRouter for VirtualRouter {
    async fn set_weight(&mut self, _key: &RolloutKey, weight: Weight) -> Result<(), ActionError> {
        self.weight = weight;
        self.actions.push(format!("set_weight {weight}"));
        Ok(())
    }

    async fn roll_back(&mut self, _key: &RolloutKey) -> Result<(), ActionError> {
        self.weight = 0;
        self.actions.push("roll_back".into());
        Ok(())
    }

    async fn promote(&mut self, _key: &RolloutKey) -> Result<(), ActionError> {
        self.weight = 100;
        self.actions.push("promote".into());
        Ok(())
    }
}

/// A notifier that keeps what it was told (replay prints them on request).
#[derive(Debug, Default, Clone)]
pub struct CollectingNotifier {
    pub notices: Vec<Notice>,
}

impl Notifier for CollectingNotifier {
    async fn notify(&mut self, _key: &RolloutKey, notice: &Notice) -> Result<(), ActionError> {
        self.notices.push(notice.clone());
        Ok(())
    }
}
