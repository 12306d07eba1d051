//! Schema definition and migrations.
//!
//! The schema version lives in `PRAGMA user_version`. Migration `i` (0-based) in
//! [`MIGRATIONS`] takes the database from version `i` to `i + 1`. Migrations are
//! append-only and never edited once released, so every database converges on the
//! same schema regardless of the version it started from.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{sql_err, StoreError};

/// Version 1: rollouts, outbox, the audit log and its head record.
///
/// Tables are STRICT so that a value of the wrong type is refused at write time
/// rather than discovered when reading. The audit triggers make the log
/// append-only for anyone using SQL without first dropping them; dropping triggers
/// is a deliberate act that the hash chain then exposes. The `audit_head` triggers
/// keep the head in lock-step with the log, so deleting the newest entries requires
/// rewriting the head too. The head starts at the genesis hash (64 zeros, see
/// [`GENESIS_HASH`](crate::GENESIS_HASH)).
const V1: &str = r#"
CREATE TABLE rollouts (
    workload       TEXT    NOT NULL,
    revision       TEXT    NOT NULL,
    phase          TEXT    NOT NULL,
    step           INTEGER NOT NULL,
    weight         INTEGER NOT NULL,
    started_at_ms  INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL,
    finished_at_ms INTEGER,
    state_json     TEXT    NOT NULL,
    policy_json    TEXT    NOT NULL,
    PRIMARY KEY (workload, revision)
) STRICT;
-- list_rollouts orders by started_at_ms DESC and filters by workload and/or phase.
CREATE INDEX rollouts_by_started ON rollouts (started_at_ms DESC);
CREATE INDEX rollouts_by_workload_started ON rollouts (workload, started_at_ms DESC);
CREATE INDEX rollouts_by_phase_started ON rollouts (phase, started_at_ms DESC);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    workload        TEXT    NOT NULL,
    revision        TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL UNIQUE,
    kind            TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    done            INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
    result          TEXT,
    done_at_ms      INTEGER,
    FOREIGN KEY (workload, revision) REFERENCES rollouts (workload, revision)
) STRICT;
-- Partial indexes: pending effects are few, done ones accumulate forever.
CREATE INDEX outbox_pending ON outbox (id) WHERE done = 0;
CREATE INDEX outbox_pending_by_rollout ON outbox (workload, revision, id) WHERE done = 0;

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    workload  TEXT    NOT NULL,
    revision  TEXT    NOT NULL,
    at_ms     INTEGER NOT NULL,
    kind      TEXT    NOT NULL,
    payload   TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
) STRICT;
CREATE INDEX audit_log_by_rollout ON audit_log (workload, revision, seq);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: updating audit entries is not allowed');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: deleting audit entries is not allowed');
END;
CREATE TRIGGER audit_log_append_only BEFORE INSERT ON audit_log
WHEN NEW.seq IS NOT (SELECT last_seq + 1 FROM audit_head)
  OR NEW.prev_hash IS NOT (SELECT last_hash FROM audit_head)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: a new entry must follow the current head (seq = last_seq + 1, prev_hash = last_hash)');
END;

-- One row: the newest entry, updated in the same transaction as every append.
CREATE TABLE audit_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq  INTEGER NOT NULL,
    last_hash TEXT    NOT NULL
) STRICT;
INSERT INTO audit_head (id, last_seq, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN
    SELECT RAISE(ABORT, 'audit_head is append-only: deleting the head is not allowed');
END;
CREATE TRIGGER audit_head_advance_only BEFORE UPDATE ON audit_head
WHEN NEW.id IS NOT OLD.id
  OR NEW.last_seq IS NOT OLD.last_seq + 1
  OR NEW.last_hash IS NOT (SELECT hash FROM audit_log WHERE seq = NEW.last_seq)
BEGIN
    SELECT RAISE(ABORT, 'audit_head is append-only: it may only advance to the newest audit entry');
END;
"#;

/// Version 2: the baseline cache. A stable revision's week of history is the
/// most expensive read canaryd makes (a 7-day range per route); rollouts of
/// the same workload in quick succession reuse it until it is `ttl` old.
///
/// `source` fingerprints what was asked (the source, its queries and the
/// lookback): a changed query must not be answered from an old cache. `route`
/// is the route as the core names it (`GET /pay`), or `''` for the row holding
/// the workload-wide figures (hours of history). Not audited: it is a cache of
/// the source's answers, and the audit log records the baseline each rollout
/// was started with.
const V2: &str = r#"
CREATE TABLE baseline_cache (
    workload      TEXT    NOT NULL,
    source        TEXT    NOT NULL,
    route         TEXT    NOT NULL,
    payload       TEXT    NOT NULL,
    fetched_at_ms INTEGER NOT NULL,
    PRIMARY KEY (workload, source, route)
) STRICT;
"#;

/// Version 3: the writer lease. One process writes a database at a time (two
/// proxies on one file drove the same rollout with interleaved windows); the
/// row names the holder so the second process can say who it is, and
/// `renewed_at_ms` lets a holder on another host that died be replaced.
/// `token` fences commits: a process whose lease was taken over cannot commit.
const V3: &str = r#"
CREATE TABLE writer_lease (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    token         TEXT    NOT NULL,
    pid           INTEGER NOT NULL,
    host          TEXT    NOT NULL,
    command       TEXT    NOT NULL,
    since_ms      INTEGER NOT NULL,
    renewed_at_ms INTEGER NOT NULL
) STRICT;
"#;

/// Version 4: the stable history a `canaryd proxy` records itself. In proxy
/// mode the router is the only place the stable cohort is measured, so its
/// traffic per route and method is kept here (one row per route per
/// recording interval, the payload an observation as JSON) and survives
/// restarts: it is the baseline of the next release.
const V4: &str = r#"
CREATE TABLE stable_history (
    workload TEXT    NOT NULL,
    route    TEXT    NOT NULL,
    at_ms    INTEGER NOT NULL,
    payload  TEXT    NOT NULL,
    PRIMARY KEY (workload, route, at_ms)
) STRICT;
CREATE INDEX stable_history_by_time ON stable_history (workload, at_ms);
"#;

/// Version 5: the canary upstream of each release a `canaryd proxy` took,
/// by `canaryd release` or by a `--revision` it had never seen. The router
/// lives in the process, so after a restart this row, not the command line,
/// says which upstreams serve the workload (the newest release wins).
const V5: &str = r#"
CREATE TABLE proxy_releases (
    workload    TEXT    NOT NULL,
    revision    TEXT    NOT NULL,
    stable_url  TEXT    NOT NULL,
    canary_url  TEXT    NOT NULL,
    released_by TEXT    NOT NULL,
    reason      TEXT,
    at_ms       INTEGER NOT NULL,
    PRIMARY KEY (workload, revision)
) STRICT;
CREATE INDEX proxy_releases_by_time ON proxy_releases (workload, at_ms);
"#;

/// All migrations in order; the schema version is the number applied.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`], or refuses a newer one.
///
/// The version is re-read inside an IMMEDIATE transaction before migrating, so
/// that two processes opening a fresh database at the same time cannot both run
/// the same migration: the second waits (busy_timeout), then sees the new version
/// and does nothing. An up-to-date database is not write-locked at all.
pub(crate) fn migrate(conn: &mut Connection, db: &str) -> Result<(), StoreError> {
    let read_version = |conn: &Connection| -> Result<i64, StoreError> {
        conn.pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(sql_err(db, || "reading the schema version".to_owned()))
    };
    if check_version(db, read_version(conn)?)? == MIGRATIONS.len() {
        return Ok(());
    }

    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_err(db, || "starting the schema migration".to_owned()))?;
    let found = read_version(&tx)?;
    let start = check_version(db, found)?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(start) {
        let to = index as i64 + 1;
        let wrap = |source| StoreError::Migrate {
            db: db.to_owned(),
            from: index as i64,
            to,
            source,
        };
        tx.execute_batch(sql).map_err(wrap)?;
        tx.pragma_update(None, "user_version", to).map_err(wrap)?;
    }
    tx.commit().map_err(|source| StoreError::Migrate {
        db: db.to_owned(),
        from: found,
        to: SCHEMA_VERSION,
        source,
    })
}

/// Validates a stored schema version and returns how many migrations it has.
fn check_version(db: &str, found: i64) -> Result<usize, StoreError> {
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            db: db.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    // canaryd never writes a negative version; migrating such a file would create
    // tables inside somebody else's database.
    usize::try_from(found).map_err(|_| StoreError::NotCanarydDatabase {
        db: db.to_owned(),
        user_version: found,
    })
}
