//! This replica's side of the Lease election, for the loop in [`super::run`].

use std::sync::Arc;
use std::time::Duration;

use canaryd_core::vocab::Timestamp;

use super::store_lease::StoreLease;
use super::{ControllerMetrics, LeaderFlag};
use crate::lease::{Leadership, LeaseLock};

/// This replica's side of the election: one round at a time (the loop
/// calls [`Election::round`] every third of the Lease's duration) and a
/// resignation on stop. With a store ([`Election::with_store`]) a replica
/// acts only while it holds both the Lease and the store's writer lease.
pub struct Election {
    lock: LeaseLock,
    leader: LeaderFlag,
    metrics: Arc<ControllerMetrics>,
    /// When the Lease was last written as ours.
    renewed: std::sync::Mutex<Option<Timestamp>>,
    /// The store's writer lease, held only while leading (see [`StoreLease`]).
    store: Option<StoreLease>,
}

impl Election {
    pub fn new(lock: LeaseLock, leader: LeaderFlag, metrics: Arc<ControllerMetrics>) -> Election {
        Election {
            lock,
            leader,
            metrics,
            renewed: std::sync::Mutex::new(None),
            store: None,
        }
    }

    /// Leads only while also holding the store's writer lease.
    pub fn with_store(mut self, store: StoreLease) -> Election {
        self.store = Some(store);
        self
    }

    fn release_store(&self) {
        if let Some(s) = &self.store {
            s.release();
        }
    }

    pub fn renew_every(&self) -> Duration {
        self.lock.renew_every()
    }

    /// One round; true when it made this replica the leader (the caller
    /// then reconciles every Canary). A failure to reach the API server
    /// keeps the current role for a blip, but a leader that could not renew
    /// for two thirds of the Lease's duration steps down before a standby
    /// may take the expired Lease (client-go's renew deadline): never two
    /// replicas acting at once.
    pub async fn round(&self, now: Timestamp) -> bool {
        let was = self.leader.is_leader();
        let became = match self.lock.try_lead(now).await {
            Ok(Leadership::Leader) => {
                if let Ok(mut r) = self.renewed.lock() {
                    *r = Some(now);
                }
                let writes = self.store.as_ref().is_none_or(|s| s.hold(now));
                self.leader.set(writes);
                if writes && !was {
                    tracing::info!("took the Lease: reconciling every Canary");
                }
                writes && !was
            }
            Ok(Leadership::Follower { holder }) => {
                if was {
                    tracing::warn!(%holder, "lost the Lease: no longer reconciling");
                }
                self.leader.set(false);
                self.release_store();
                false
            }
            Err(e) => {
                let renewed = self.renewed.lock().ok().and_then(|r| *r);
                let deadline = self.renew_every().saturating_mul(2);
                let stale = renewed.is_none_or(|t| now.since(t) >= deadline);
                if was && stale {
                    tracing::warn!(error = %e, "cannot renew the Lease: no longer reconciling");
                    self.leader.set(false);
                    self.release_store();
                } else {
                    tracing::warn!(error = %e, "leader election failed; trying again");
                }
                false
            }
        };
        self.metrics.set_leader(self.leader.is_leader());
        became
    }

    /// Stops acting, then gives the Lease up so a standby takes over now
    /// rather than when it expires.
    pub async fn resign(&self) {
        self.leader.set(false);
        self.metrics.set_leader(false);
        self.release_store();
        if let Err(e) = self.lock.release().await {
            tracing::warn!(error = %e, "could not release the Lease; a standby takes over when it expires");
        }
    }
}
