//! What `canaryd proxy` settles before its listener accepts a request: that
//! it alone writes the database (the writer lease), and the split the stored
//! state says is in force.
//!
//! The router lives in this process, so a restart starts it from nothing;
//! serving 0% until the next action would silently roll a promoted release
//! back. The stored state is what was committed, and only what was committed
//! is ever acted on, so it is the split to serve. Effects committed but not
//! carried out (a kill between the commit and the router call) are replayed
//! from the outbox by the driver right after, once each.

use canaryd_core::effect::Effect;
use canaryd_core::rollout::{Phase, Rollout};
use canaryd_core::vocab::{RolloutKey, Weight};
use canaryd_driver::live::wall_clock;
use canaryd_driver::AfterCommit;
use canaryd_store::{LeaseHolder, SqliteStore, WriterLease};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::Fail;

/// A holder that stops renewing loses the lease after this long.
pub const LEASE_TTL: Duration = Duration::from_secs(30);

/// The split to serve from the start: the stored state's weight (ramping
/// or paused: its step; promoted: 100; rolled back, awaiting approval or
/// never started: 0).
pub fn stored_weight(state: Option<&Rollout>) -> Weight {
    match state {
        None => 0,
        Some(s) => match s.phase {
            Phase::Promoted { .. } => 100,
            Phase::RolledBack { .. } | Phase::Pending | Phase::AwaitingApproval { .. } => 0,
            Phase::Ramping | Phase::Paused { .. } => s.weight,
        },
    }
}

/// The stored state of `key`, if any.
pub fn load(store: &SqliteStore, key: &RolloutKey) -> Result<Option<Rollout>, Fail> {
    Ok(canaryd_driver::driver::load_rollout(store, key)?)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Takes the database's writer lease (exit 4 naming the holder when another
/// live process has it), fences `store`'s commits with it, and keeps it
/// renewed from a background task until the returned guard is released.
pub fn take_lease(
    db: &Path,
    store: &mut SqliteStore,
    command: &str,
) -> Result<Option<LeaseGuard>, Fail> {
    if db.as_os_str() == ":memory:" {
        return Ok(None);
    }
    let me = LeaseHolder {
        pid: std::process::id(),
        host: host_name(),
        command: command.to_string(),
    };
    let ttl = i64::try_from(LEASE_TTL.as_millis()).unwrap_or(i64::MAX);
    let (lease, replaced) = WriterLease::acquire(db, me, wall_clock().0, ttl)?;
    if let Some(old) = replaced {
        eprintln!(
            "canaryd: took over the writer lease of {} from pid {} on host {} (gone, or not renewed for {} s)",
            db.display(),
            old.holder.pid,
            old.holder.host,
            LEASE_TTL.as_secs()
        );
    }
    store.fence(lease.token());
    let guard = LeaseGuard {
        lease: Arc::new(Mutex::new(Some(lease))),
    };
    guard.keep_renewed();
    Ok(Some(guard))
}

/// Holds the lease, renewed from a background thread until
/// [`LeaseGuard::release`] gives it up on a clean stop.
pub struct LeaseGuard {
    lease: Arc<Mutex<Option<WriterLease>>>,
}

impl LeaseGuard {
    /// Renews every third of the TTL on its own thread (SQLite calls block).
    /// A lost lease is fatal: the process exits 4 rather than go on deciding
    /// beside another writer.
    fn keep_renewed(&self) {
        let lease = self.lease.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(LEASE_TTL / 3);
            let mut held = lease.lock().unwrap_or_else(|p| p.into_inner());
            let Some(l) = held.as_mut() else {
                return;
            };
            match l.renew(wall_clock().0) {
                Ok(()) => {}
                Err(e @ canaryd_store::StoreError::LeaseLost { .. }) => {
                    eprintln!("canaryd proxy: {e}");
                    std::process::exit(4);
                }
                // A busy or full disk: the next renewal tries again (the TTL
                // is three renewals long).
                Err(e) => eprintln!("canaryd proxy: renewing the writer lease failed: {e}"),
            }
        });
    }

    /// The token that fences commits, for another connection of this process.
    pub fn token(&self) -> Option<String> {
        let held = self.lease.lock().unwrap_or_else(|p| p.into_inner());
        held.as_ref().map(|l| l.token().to_string())
    }

    /// Gives the lease up, so the next process starts without judging it stale.
    pub fn release(&self) {
        let taken = self.lease.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(l) = taken {
            if let Err(e) = l.release() {
                eprintln!("canaryd proxy: releasing the writer lease failed: {e}");
            }
        }
    }
}

/// `CANARYD_FAULT_HALT_AFTER_COMMIT=PHASE:WEIGHT` (e.g. `promoted:100`):
/// the first commit that leaves the rollout in that phase at that weight
/// with an action to carry out halts right after the commit, before the
/// router is called, and waits there to be killed. For crash tests of the
/// outbox (`crates/canaryd/tests/proxy_restart.rs`); never set in production.
pub fn fault_hook() -> Result<Option<AfterCommit>, Fail> {
    let Ok(spec) = std::env::var("CANARYD_FAULT_HALT_AFTER_COMMIT") else {
        return Ok(None);
    };
    let bad = || {
        Fail::invalid(format!(
            "CANARYD_FAULT_HALT_AFTER_COMMIT={spec:?}: expected PHASE:WEIGHT, e.g. promoted:100"
        ))
    };
    let (phase, weight) = spec.split_once(':').ok_or_else(bad)?;
    let weight: Weight = weight.trim().parse().map_err(|_| bad())?;
    let phase = phase.trim().to_string();
    let fired = AtomicBool::new(false);
    Ok(Some(Box::new(
        move |state: &Rollout, effects: &[Effect]| {
            let acts = effects.iter().any(|e| {
                matches!(
                    e,
                    Effect::SetWeight { .. } | Effect::RollBack | Effect::Promote
                )
            });
            let hit = acts && state.phase.name() == phase && state.weight == weight;
            if hit && !fired.swap(true, Ordering::SeqCst) {
                eprintln!(
                    "fault injection: halted after committing {} {} at {}%, before its effects run",
                    state.key, phase, weight
                );
                return true;
            }
            false
        },
    )))
}
