//! The [`Store`] trait: what canaryd asks of its database, whichever it is.
//!
//! Two implementations give the same guarantees: [`SqliteStore`](crate::SqliteStore)
//! (the embedded default, one file) and `PgStore` (PostgreSQL, behind the
//! `postgres` feature, for several replicas). Callers hold an
//! `Arc<dyn Store>`; the shared test suite (`tests/suite/`) runs against both.
//!
//! The guarantees every implementation keeps:
//! - [`Store::commit`] writes the rollout row, its audit entries and its
//!   outbox effects in ONE transaction, before anything is acted on;
//! - the audit log is append-only (enforced by the database itself) and
//!   hash-chained (`crate::audit::chain`), with its head in `audit_head`;
//!   two concurrent appends never fork or reorder the chain;
//! - an outbox idempotency key is unique per rollout: re-committing a step
//!   does not enqueue its effects twice; the same key on another rollout
//!   refuses the commit ([`StoreError::IdempotencyKeyConflict`]);
//! - once [`Store::fence`]d with a writer lease token, every commit checks
//!   (in its own transaction) that the lease is still held by that token and
//!   renews it, else fails with [`StoreError::LeaseLost`].
//!
//! Methods are async because PostgreSQL is reached over the network; the
//! SQLite implementation runs each call on tokio's blocking pool (a commit
//! fsyncs), so no call ever blocks an async worker.

use async_trait::async_trait;

use crate::{
    AuditEntry, AuditReport, CachedRoute, Commit, HistoryRow, LeaseHolder, LeaseRecord,
    NewAuditEntry, OutboxRow, Release, RolloutFilter, RolloutRow, StoreError,
};

/// A writer lease this process took: its token fences commits
/// ([`Store::fence`]), `record` says who holds it (us) and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseGrant {
    /// The token only this acquisition produced.
    pub token: String,
    /// The row as written.
    pub record: LeaseRecord,
    /// The stale holder this acquisition replaced, if any (to say so).
    pub replaced: Option<LeaseRecord>,
}

/// canaryd's persistent state: rollouts, the effect outbox, the hash-chained
/// audit log, the baseline cache, a proxy's stable history and releases, and
/// the writer lease. See the module doc for the guarantees.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// The database as shown in messages (`sqlite:/var/lib/canaryd.db`,
    /// `postgres://canaryd@db:5432/canaryd`): never with a password.
    fn describe(&self) -> String;

    /// Fences every later commit (and release record) with a writer lease's
    /// token; `None` removes the fence. See the module doc.
    fn fence(&self, token: Option<String>);

    // ---- rollouts, the outbox and the audit log -------------------------

    /// The stored state of one rollout.
    async fn load_rollout(
        &self,
        workload: &str,
        revision: &str,
    ) -> Result<Option<RolloutRow>, StoreError>;

    /// Rollouts matching `filter`, newest first.
    async fn list_rollouts(&self, filter: &RolloutFilter) -> Result<Vec<RolloutRow>, StoreError>;

    /// Applies one controller step in ONE transaction (see [`Commit`]);
    /// returns the outbox id of each effect in order (the existing id for a
    /// same-rollout duplicate).
    async fn commit(&self, commit: Commit) -> Result<Vec<i64>, StoreError>;

    /// Appends one audit entry on its own (chained after the head).
    async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError>;

    /// Effects not yet completed, oldest first, optionally of one workload /
    /// revision.
    async fn pending_effects(
        &self,
        workload: Option<&str>,
        revision: Option<&str>,
    ) -> Result<Vec<OutboxRow>, StoreError>;

    /// Marks effect `id` done with `result`, appending `audit` in the same
    /// transaction. Completing twice is [`StoreError::EffectAlreadyDone`].
    async fn complete_effect(
        &self,
        id: i64,
        result: serde_json::Value,
        audit: Option<NewAuditEntry>,
        at_ms: i64,
    ) -> Result<(), StoreError>;

    /// Audit entries in sequence order, optionally of one workload / revision.
    async fn audit_entries(
        &self,
        workload: Option<&str>,
        revision: Option<&str>,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// Walks the whole chain and reports the first entry that is not what
    /// canaryd wrote (the same findings, in the same words, on every backend).
    async fn verify_audit(&self) -> Result<AuditReport, StoreError>;

    /// Writes every entry as JSON Lines in sequence order to `out` and
    /// returns how many were written (see `SqliteStore::export_audit`).
    async fn export_audit(&self, out: &mut (dyn std::io::Write + Send)) -> Result<u64, StoreError>;

    // ---- the baseline cache ---------------------------------------------

    /// Replaces the cached baseline of `workload` from `source`.
    async fn put_baseline(
        &self,
        workload: &str,
        source: &str,
        routes: &[CachedRoute],
        fetched_at_ms: i64,
    ) -> Result<(), StoreError>;

    /// The cached baseline if fetched within `ttl_ms` of `now_ms`.
    async fn cached_baseline(
        &self,
        workload: &str,
        source: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Option<Vec<CachedRoute>>, StoreError>;

    // ---- a proxy's stable history and releases --------------------------

    /// Records one interval of stable traffic per route, dropping rows older
    /// than `keep_since_ms`.
    async fn record_history(
        &self,
        workload: &str,
        at_ms: i64,
        routes: &[(String, String)],
        keep_since_ms: i64,
    ) -> Result<(), StoreError>;

    /// Stable history of `workload` since `since_ms`, oldest first.
    async fn history(&self, workload: &str, since_ms: i64) -> Result<Vec<HistoryRow>, StoreError>;

    /// Records a release (fenced like a commit) with its audit entry.
    async fn record_release(&self, release: &Release) -> Result<(), StoreError>;

    /// The newest release of `workload`.
    async fn latest_release(&self, workload: &str) -> Result<Option<Release>, StoreError>;

    /// The release of `workload@revision`, if it was released.
    async fn release_of(
        &self,
        workload: &str,
        revision: &str,
    ) -> Result<Option<Release>, StoreError>;

    // ---- the writer lease -----------------------------------------------

    /// Takes the writer lease for `me`, or says who holds it
    /// ([`StoreError::WriterBusy`]). A holder is stale when its pid is gone
    /// on this host or it was not renewed for `ttl_ms`.
    async fn acquire_lease(
        &self,
        me: LeaseHolder,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<LeaseGrant, StoreError>;

    /// Renews the lease held by `token`; [`StoreError::LeaseLost`] when it is
    /// no longer ours.
    async fn renew_lease(&self, token: &str, now_ms: i64) -> Result<(), StoreError>;

    /// Gives the lease up, if `token` still holds it.
    async fn release_lease(&self, token: &str) -> Result<(), StoreError>;
}
