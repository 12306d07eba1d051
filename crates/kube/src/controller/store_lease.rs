//! The store's writer lease follows the Kubernetes Lease.
//!
//! Replicas may share one SQLite file (a shared volume; the takeover test
//! runs two processes on one file). The store's writer lease (one process
//! writes a database at a time, every commit fenced by its token) must
//! then be held by the replica that leads, and only while it leads:
//! - a standby takes nothing, so it never meets a busy lease while it waits
//!   (it is not refused, and does not exit, as a second `canaryd proxy` is);
//! - a replica that wins the Kubernetes Lease takes the writer lease before
//!   it acts. A dead holder on this host (a SIGKILLed leader) is stale at
//!   once; one elsewhere, when not renewed for the Lease's duration. While
//!   a live process still holds it (a stepped-down leader finishing a
//!   commit, or a `canaryd proxy` on the same file), the new leader waits
//!   and says why, holding the Kubernetes Lease but acting on nothing;
//! - every election round renews it; losing or giving up the Kubernetes
//!   Lease releases it. A leader that hung past both leases and wakes up
//!   cannot commit: its token no longer holds the row.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use canaryd_core::vocab::Timestamp;
use canaryd_store::{LeaseHolder, SqliteStore, StoreError, WriterLease};

/// The token that fences this replica's commits, while it holds the
/// writer lease. Shared by the election and every reconcile's store.
#[derive(Debug, Clone, Default)]
pub struct StoreFence(Arc<Mutex<Option<String>>>);

impl StoreFence {
    pub fn token(&self) -> Option<String> {
        self.0.lock().ok().and_then(|t| t.clone())
    }

    fn set(&self, token: Option<String>) {
        if let Ok(mut t) = self.0.lock() {
            *t = token;
        }
    }

    /// Fences `store`'s commits with the token, when one is held.
    pub fn apply(&self, store: &mut SqliteStore) {
        if let Some(token) = self.token() {
            store.fence(&token);
        }
    }
}

/// This replica's side of the writer lease.
pub struct StoreLease {
    db: PathBuf,
    me: LeaseHolder,
    ttl: Duration,
    held: Mutex<Option<WriterLease>>,
    fence: StoreFence,
}

/// The host name, for the lease row (a holder on this host whose pid is
/// gone is stale at once).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown-host".into())
}

impl StoreLease {
    /// `ttl`: the Kubernetes Lease's duration (a holder on another host is
    /// stale when it was not renewed for as long as its Lease would last).
    pub fn new(db: PathBuf, identity: &str, ttl: Duration, fence: StoreFence) -> StoreLease {
        StoreLease {
            db,
            me: LeaseHolder {
                pid: std::process::id(),
                host: host_name(),
                command: format!("canaryd controller ({identity})"),
            },
            ttl,
            held: Mutex::new(None),
            fence,
        }
    }

    /// Takes or renews the writer lease; true while this replica holds it.
    pub fn hold(&self, now: Timestamp) -> bool {
        let Ok(mut held) = self.held.lock() else {
            return false;
        };
        if let Some(lease) = held.as_mut() {
            match lease.renew(now.0) {
                Ok(()) => return true,
                Err(e) => {
                    tracing::warn!(error = %e, "lost the store's writer lease: no longer reconciling");
                    *held = None;
                    self.fence.set(None);
                }
            }
        }
        // The schema must exist before the lease row can be read.
        if let Err(e) = SqliteStore::open(&self.db) {
            tracing::warn!(error = %e, "cannot open the store to take its writer lease");
            return false;
        }
        let ttl_ms = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        match WriterLease::acquire(&self.db, self.me.clone(), now.0, ttl_ms) {
            Ok((lease, replaced)) => {
                if let Some(old) = replaced {
                    tracing::info!(
                        pid = old.holder.pid,
                        host = %old.holder.host,
                        command = %old.holder.command,
                        "took over the store's writer lease (its holder is gone or stopped renewing)"
                    );
                }
                self.fence.set(Some(lease.token().to_string()));
                *held = Some(lease);
                true
            }
            Err(e @ StoreError::WriterBusy { .. }) => {
                tracing::warn!(error = %e, "holding the Lease, but another process still writes the store: waiting for it before reconciling");
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the store's writer lease; trying again");
                false
            }
        }
    }

    /// Gives the writer lease up (stepping down, or stopping).
    pub fn release(&self) {
        let Ok(mut held) = self.held.lock() else {
            return;
        };
        self.fence.set(None);
        if let Some(lease) = held.take() {
            if let Err(e) = lease.release() {
                tracing::warn!(error = %e, "could not release the store's writer lease; the next leader takes it over once it is stale");
            }
        }
    }
}
