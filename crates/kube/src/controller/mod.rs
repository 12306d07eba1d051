//! The controller process: one reconcile per `Canary` ([`reconcile_canary`])
//! and the loop that runs it for the Lease holder ([`run`]).
//!
//! A reconcile is level-triggered and keeps no state of its own: it reads
//! the Canary, its policy and its target, asks the pure [`crate::reconcile::plan`]
//! what is due, and carries that out through the driver and the SQLite
//! store ([`crate::execute`]). Killing the process at any point therefore
//! loses nothing and repeats nothing; the next reconcile (this replica's or
//! the next leader's) picks up from the store.
//!
//! Where the numbers come from and who else is told are the binary's
//! business ([`EdgeFactory`]): this crate knows the `Canary`'s
//! `spec.metrics`, `spec.notify` and the Secrets they name, not Prometheus,
//! Datadog or Slack.

mod argo_hold;
mod canary;
mod credentials;
mod election;
mod error;
mod metrics;
mod notifier;
mod parts;
mod policy_secrets;
mod run;
mod status_write;
mod store_lease;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use canaryd_core::vocab::{RolloutKey, Timestamp};
use canaryd_core::Policy;
use canaryd_ports::{MetricsSource, Notifier};
use kube::Client;

use crate::crd::MetricsSpec;
use crate::events::Announcer;
use crate::kubeapi::Backoff;
use crate::target::TargetKind;

pub use argo_hold::hold_argo;
pub use canary::{reconcile_canary, Outcome};
pub use credentials::{
    read_credentials, read_notify_targets, Credentials, NotifyTarget, SecretValue,
};
pub use election::Election;
pub use error::ControllerError;
pub use metrics::{ControllerMetrics, ReconcileResult};
pub use notifier::{Channels, EventNotifier};
pub use policy_secrets::refuse_policy_credentials;
pub use run::{first_list, run, LeaseConfig, RunConfig, Scope};
pub use status_write::write_status_retrying;
pub use store_lease::{StoreFence, StoreLease};

/// What an [`EdgeFactory`] gets to build one rollout's metrics source.
pub struct SourceRequest<'a> {
    pub namespace: &'a str,
    /// The Canary's name.
    pub canary: &'a str,
    pub key: &'a RolloutKey,
    /// The stable side's revision, as observed now.
    pub stable: &'a str,
    pub target: &'a TargetKind,
    pub metrics: Option<&'a MetricsSpec>,
    /// The policy YAML as written (its `source:` section is the factory's to read).
    pub policy_text: &'a str,
    /// Where the policy came from, for messages (`spec.policy.inline`, `ConfigMap ns/name:key`).
    pub policy_origin: &'a str,
    pub policy: &'a Policy,
    /// The values of the Secrets `spec.metrics` names.
    pub credentials: &'a Credentials,
}

/// Builds the edges of one rollout that the binary knows and this crate
/// does not: its metrics source, the scrubber for the credentials it reads,
/// and its `spec.notify` channels. Sends nothing: a source that cannot be
/// built (a missing Secret key, an invalid URL) is a condition on the
/// Canary, and a source that cannot be reached is the core's business (an
/// *unreliable* window: the rollout pauses, it is never rolled back).
pub trait EdgeFactory: Send + Sync + 'static {
    /// The metrics source of one rollout. `Err` is a message for the
    /// Canary's `MetricsReady` condition.
    fn source(&self, request: &SourceRequest<'_>) -> Result<Box<dyn MetricsSource>, String>;

    /// Masks `credentials` in everything the driver stores (audit entries,
    /// the outbox): a collector's error message may quote a token or a URL
    /// with a password. The default masks nothing.
    fn scrubber(&self, _credentials: &Credentials) -> Option<canaryd_driver::driver::Scrubber> {
        None
    }

    /// The channels of `spec.notify` (Slack, PagerDuty, webhooks), beside
    /// the Kubernetes Events every transition gets anyway. `Err` is a
    /// message for the Canary's `NotifyReady` condition; the rollout goes
    /// on with Events only. The default sends nothing more.
    fn channels(&self, _targets: Vec<NotifyTarget>) -> Result<Option<Box<dyn Notifier>>, String> {
        Ok(None)
    }
}

/// Whether this replica holds the Lease; shared by the election loop and
/// every reconcile, which does nothing at all (not even a read) without it.
#[derive(Debug, Clone, Default)]
pub struct LeaderFlag(Arc<AtomicBool>);

impl LeaderFlag {
    pub fn new(leading: bool) -> LeaderFlag {
        LeaderFlag(Arc::new(AtomicBool::new(leading)))
    }

    pub fn is_leader(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    pub fn set(&self, leading: bool) {
        self.0.store(leading, Ordering::SeqCst);
    }
}

/// The time a reconcile runs at. An argument (not `SystemTime::now()` deep
/// inside) so tests fix it and status times are exact.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(ms)
    })
}

/// Everything a reconcile needs, shared by all of them.
pub struct Context<F> {
    pub client: Client,
    /// The SQLite store, opened per reconcile (one connection per
    /// reconcile keeps concurrent reconciles apart; WAL lets them overlap).
    pub db: PathBuf,
    pub sources: F,
    pub leader: LeaderFlag,
    pub announcer: Arc<Announcer>,
    pub metrics: Arc<ControllerMetrics>,
    /// For the controller's own writes (status).
    pub backoff: Backoff,
    pub clock: Clock,
    /// Consecutive failures per Canary (`ns/name`), for the exponential back-off.
    pub failures: std::sync::Mutex<std::collections::HashMap<String, u32>>,
    /// The writer lease's token while this replica leads: every commit of
    /// a reconcile is fenced with it (see [`StoreLease`]).
    pub fence: StoreFence,
}

impl<F> Context<F> {
    pub fn new(client: Client, db: PathBuf, sources: F, leader: LeaderFlag) -> Context<F> {
        Context {
            announcer: Arc::new(Announcer::new(client.clone(), None)),
            client,
            db,
            sources,
            leader,
            metrics: Arc::new(ControllerMetrics::default()),
            backoff: Backoff::default(),
            clock: system_clock(),
            failures: Default::default(),
            fence: StoreFence::default(),
        }
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// `instance`: this replica's identity, on every Event it publishes.
    pub fn with_instance(mut self, instance: Option<String>) -> Self {
        self.announcer = Arc::new(Announcer::new(self.client.clone(), instance));
        self
    }

    pub fn with_metrics(mut self, metrics: Arc<ControllerMetrics>) -> Self {
        self.metrics = metrics;
        self
    }
}
