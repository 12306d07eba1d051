//! This replica's side of the Lease election, for the loop in [`super::run`].

use std::sync::Arc;
use std::time::Duration;

use canaryd_core::vocab::Timestamp;

use super::{ControllerMetrics, LeaderFlag};
use crate::lease::{Leadership, LeaseLock};

/// This replica's side of the election: one round at a time (the loop
/// calls [`Election::round`] every third of the Lease's duration) and a
/// resignation on stop.
pub struct Election {
    lock: LeaseLock,
    leader: LeaderFlag,
    metrics: Arc<ControllerMetrics>,
    /// When the Lease was last written as ours.
    renewed: std::sync::Mutex<Option<Timestamp>>,
}

impl Election {
    pub fn new(lock: LeaseLock, leader: LeaderFlag, metrics: Arc<ControllerMetrics>) -> Election {
        Election {
            lock,
            leader,
            metrics,
            renewed: std::sync::Mutex::new(None),
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
                self.leader.set(true);
                if !was {
                    tracing::info!("took the Lease: reconciling every Canary");
                }
                !was
            }
            Ok(Leadership::Follower { holder }) => {
                if was {
                    tracing::warn!(%holder, "lost the Lease: no longer reconciling");
                }
                self.leader.set(false);
                false
            }
            Err(e) => {
                let renewed = self.renewed.lock().ok().and_then(|r| *r);
                let deadline = self.renew_every().saturating_mul(2);
                let stale = renewed.is_none_or(|t| now.since(t) >= deadline);
                if was && stale {
                    tracing::warn!(error = %e, "cannot renew the Lease: no longer reconciling");
                    self.leader.set(false);
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
        if let Err(e) = self.lock.release().await {
            tracing::warn!(error = %e, "could not release the Lease; a standby takes over when it expires");
        }
    }
}
