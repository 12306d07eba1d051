//! [`SqliteStore::commit`]: the one write path of the controller loop.

use crate::audit::append::append_in_tx;
use crate::audit::NewAuditEntry;
use crate::error::{sql_err, StoreError};
use crate::outbox::{enqueue, NewEffect};
use crate::rollouts::{upsert, RolloutRow};
use crate::SqliteStore;

/// Everything one controller step produces: the new rollout state, what to record
/// in the audit log, and which effects to execute.
#[derive(Debug, Clone)]
pub struct Commit {
    /// The rollout's state after the step, replacing the stored one.
    pub rollout: RolloutRow,
    /// Appended in order; may concern other rollouts than `rollout`.
    pub audit: Vec<NewAuditEntry>,
    /// Enqueued for `rollout`, with `rollout.updated_at_ms` as their creation time.
    pub effects: Vec<NewEffect>,
}

impl SqliteStore {
    /// Applies `commit` in ONE transaction: upserts the rollout row, appends the
    /// audit entries (chained, in order) and enqueues the effects.
    ///
    /// Either everything lands or nothing does, so after a crash the stored state,
    /// the log and the outbox agree. An effect whose idempotency key is already in
    /// the outbox (for the same rollout) is skipped, so re-committing a step after a
    /// crash cannot duplicate an action. Returns the outbox id of each effect in
    /// the given order, the existing id for skipped duplicates.
    pub fn commit(&mut self, commit: Commit) -> Result<Vec<i64>, StoreError> {
        let Commit {
            rollout,
            audit,
            effects,
        } = commit;
        let op = format!(
            "committing rollout {}@{} (phase {}, step {})",
            rollout.workload, rollout.revision, rollout.phase, rollout.step
        );
        let fence = self.fence.clone();
        let (tx, db) = self.write_tx(&op)?;
        if let Some(token) = &fence {
            crate::lease::renew_in(&tx, db, token, rollout.updated_at_ms)?;
        }
        // Any `?` below drops `tx` uncommitted, which rolls everything back.
        upsert(&tx, db, &rollout)?;
        for entry in audit {
            append_in_tx(&tx, db, entry)?;
        }
        let ids = effects
            .iter()
            .map(|effect| {
                enqueue(
                    &tx,
                    db,
                    &rollout.workload,
                    &rollout.revision,
                    effect,
                    rollout.updated_at_ms,
                )
            })
            .collect::<Result<Vec<i64>, StoreError>>()?;
        tx.commit().map_err(sql_err(db, || op))?;
        Ok(ids)
    }
}
