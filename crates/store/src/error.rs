//! The crate's error type.
//!
//! Every variant carries enough context for an operator to act without reading the
//! code: which database file, which rollout (`workload@revision`), which outbox
//! effect or which audit entry. SQLite failures are wrapped together with a short
//! description of the operation that was running, because a bare "database is
//! locked" or "constraint failed" does not say what canaryd was trying to do.

use std::path::PathBuf;

/// Errors returned by [`SqliteStore`](crate::SqliteStore).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory that should hold the database could not be created.
    #[error("cannot create directory {} for the canaryd database: {source}", dir.display())]
    CreateDir {
        /// The directory canaryd tried to create.
        dir: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// The database file could not be opened or configured (missing permissions,
    /// not an SQLite file, unsupported journal mode, ...).
    #[error("cannot open canaryd database {}: {source}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },

    /// The database was written by a newer canaryd whose schema this build does not
    /// know. Refusing is the only safe choice: writing with an old schema could
    /// silently drop data the newer version relies on.
    #[error(
        "canaryd database {db} has schema version {found}, but this build only understands \
         versions up to {supported}; it was written by a newer canaryd. Run that newer version, \
         or restore a backup taken before the upgrade"
    )]
    SchemaTooNew {
        /// The database file, as shown in messages.
        db: String,
        /// The schema version found in the file.
        found: i64,
        /// The newest schema version this build knows.
        supported: i64,
    },

    /// The file is an SQLite database, but its `user_version` was not written by canaryd.
    #[error(
        "{db} is not a canaryd database (its schema version is {user_version}, which canaryd \
         never writes); check the configured database path"
    )]
    NotCanarydDatabase {
        /// The database file, as shown in messages.
        db: String,
        /// The `user_version` SQLite reports, which canaryd never writes.
        user_version: i64,
    },

    /// Applying a schema migration failed; the database is left at version `from`.
    #[error("migrating canaryd database {db} from schema version {from} to {to} failed: {source}")]
    Migrate {
        /// The database file, as shown in messages.
        db: String,
        /// The version the database stays at.
        from: i64,
        /// The version the failed migration would have reached.
        to: i64,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },

    /// An SQLite operation failed. `op` says what the store was doing.
    #[error("{op} (database {db}): {source}")]
    Sqlite {
        /// The database file, as shown in messages.
        db: String,
        /// What the store was doing, in words ("reading the outbox").
        op: String,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },

    /// `complete_effect` was called with an id that is not in the outbox.
    #[error("outbox effect #{id} does not exist")]
    EffectNotFound {
        /// The outbox id asked for.
        id: i64,
    },

    /// `complete_effect` was called twice for the same effect. This usually means two
    /// executors are draining the same outbox, which would also execute actions twice.
    #[error(
        "outbox effect #{id} ({kind}, idempotency key {idempotency_key:?}, rollout \
         {workload}@{revision}) was already completed{}; is another executor draining the same outbox?",
        done_at_ms.map(|ms| format!(" at {ms} ms")).unwrap_or_default()
    )]
    EffectAlreadyDone {
        /// The outbox id of the effect.
        id: i64,
        /// What the effect does (its kind as stored).
        kind: String,
        /// The effect's idempotency key, to find it in the audit log.
        idempotency_key: String,
        /// The rollout's workload.
        workload: String,
        /// The rollout's revision.
        revision: String,
        /// When it was first completed (Unix ms), if recorded.
        done_at_ms: Option<i64>,
    },

    /// An effect's idempotency key is already used by an effect of a *different*
    /// rollout. Skipping it (as is done for a same-rollout duplicate) would silently
    /// drop an action of this rollout, so the whole commit is refused instead.
    #[error(transparent)]
    IdempotencyKeyConflict(Box<KeyConflict>),

    /// A stored outbox row could not be decoded (e.g. its payload is not JSON).
    /// canaryd never writes such rows, so something else modified the database.
    #[error("outbox effect #{id} in database {db} is unreadable: {detail}")]
    CorruptEffect {
        /// The database file, as shown in messages.
        db: String,
        /// The outbox id of the unreadable row.
        id: i64,
        /// What could not be decoded.
        detail: String,
    },

    /// A stored audit entry could not be decoded. canaryd never writes such rows,
    /// so the log was modified outside canaryd; `verify_audit` gives the full picture.
    #[error(
        "audit entry #{seq} in database {db} is unreadable: {detail}; the audit log was modified \
         outside canaryd, run audit verification"
    )]
    CorruptAuditEntry {
        /// The database file, as shown in messages.
        db: String,
        /// The audit sequence number of the unreadable entry.
        seq: i64,
        /// What could not be decoded.
        detail: String,
    },

    /// Another process holds the database's writer lease (see [`crate::WriterLease`]).
    #[error(
        "database {db} is in use by another canaryd: pid {} on host {} (`{}`), writing since {}, \
         last renewed {}. One process writes a database at a time: stop that one, or give this \
         one another --db. (A holder that died is replaced at once when its pid is gone on this \
         host, or once its lease has not been renewed for {} s.)",
        holder.holder.pid, holder.holder.host, holder.holder.command, utc(holder.since_ms),
        utc(holder.renewed_at_ms), ttl_ms / 1000
    )]
    WriterBusy {
        /// The database file, as shown in messages.
        db: String,
        /// Who holds the lease, so the operator can find that process.
        holder: Box<crate::LeaseRecord>,
        /// How long an unrenewed lease lasts before another process may take it.
        ttl_ms: i64,
    },

    /// This process's writer lease was taken over (it was not renewed in
    /// time): it must not commit, another process may be deciding now.
    #[error(
        "this process no longer holds the writer lease of database {db}{}; it stops writing so \
         that two processes never drive the same rollouts",
        holder.as_ref().map(|h| format!(" (taken over by pid {} on host {} at {})", h.holder.pid, h.holder.host, utc(h.since_ms))).unwrap_or_default()
    )]
    LeaseLost {
        /// The database file, as shown in messages.
        db: String,
        /// Who holds the lease now, if it could be read.
        holder: Option<Box<crate::LeaseRecord>>,
    },

    /// Writing the audit export to its destination failed.
    #[error("writing the audit export failed after {written} entries: {source}")]
    Export {
        /// Entries written before the failure: the export is incomplete past them.
        written: u64,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

/// A Unix time in ms as RFC 3339 UTC, for messages.
pub(crate) fn utc(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// Returns a closure wrapping a [`rusqlite::Error`] into [`StoreError::Sqlite`], for
/// use with `map_err`. `op` is only evaluated on failure, so callers can format
/// freely without slowing down the happy path.
pub(crate) fn sql_err<'a>(
    db: &'a str,
    op: impl FnOnce() -> String + 'a,
) -> impl FnOnce(rusqlite::Error) -> StoreError + 'a {
    move |source| StoreError::Sqlite {
        db: db.to_owned(),
        op: op(),
        source,
    }
}

/// Details of [`StoreError::IdempotencyKeyConflict`] (boxed to keep `StoreError` small).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "idempotency key {key:?} of {kind} effect for rollout {workload}@{revision} is already \
     used by outbox effect #{existing_id} of rollout {existing_workload}@{existing_revision}; \
     idempotency keys must be unique per rollout step (include workload and revision in them)"
)]
pub struct KeyConflict {
    /// The idempotency key used twice.
    pub key: String,
    /// The kind of the effect being committed.
    pub kind: String,
    /// The workload of the rollout being committed.
    pub workload: String,
    /// The revision of the rollout being committed.
    pub revision: String,
    /// The outbox id of the effect that already has the key.
    pub existing_id: i64,
    /// The workload of the rollout that already has the key.
    pub existing_workload: String,
    /// The revision of the rollout that already has the key.
    pub existing_revision: String,
}
