//! The transactional outbox: side effects (traffic shifts, rollbacks,
//! notifications) recorded in the same transaction as the decision that caused
//! them, and executed afterwards.
//!
//! Writing the intent first and marking it done after execution means a crash
//! between the two re-executes the effect rather than losing it; the idempotency
//! key lets the executor (and the target system) recognise such a retry, and lets
//! a re-committed step avoid enqueueing the same effect twice.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::audit::append::append_in_tx;
use crate::audit::NewAuditEntry;
use crate::error::{sql_err, KeyConflict, StoreError};
use crate::filter::Where;
use crate::SqliteStore;

/// An effect to enqueue as part of a [`Commit`](crate::Commit).
#[derive(Debug, Clone)]
pub struct NewEffect {
    /// Unique across the whole outbox; a second effect with the same key is
    /// skipped. Should identify the rollout and step, e.g. `web@abc/step-3/shift`.
    pub idempotency_key: String,
    /// What the effect does, named by its executor; the store does not read it.
    pub kind: String,
    /// What the executor needs to carry it out.
    pub payload: serde_json::Value,
}

/// A stored outbox effect.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    /// The effect's id, to complete it with.
    pub id: i64,
    /// The workload of the rollout whose commit enqueued it.
    pub workload: String,
    /// The revision of the rollout whose commit enqueued it.
    pub revision: String,
    /// See [`NewEffect::idempotency_key`].
    pub idempotency_key: String,
    /// See [`NewEffect::kind`].
    pub kind: String,
    /// See [`NewEffect::payload`].
    pub payload: serde_json::Value,
    /// When it was enqueued (Unix ms).
    pub created_at_ms: i64,
    /// Whether it was carried out; effects not yet done are what
    /// [`SqliteStore::pending_effects`] returns, so an executor picks them up again.
    pub done: bool,
    /// What the executor recorded on completion, if anything.
    pub result: Option<serde_json::Value>,
}

const COLUMNS: &str =
    "id, workload, revision, idempotency_key, kind, payload, created_at_ms, done, result";

/// An outbox row with its JSON columns still as text, so that a corrupt value can
/// be reported with the effect's id instead of as an anonymous conversion error.
struct RawEffect {
    id: i64,
    workload: String,
    revision: String,
    idempotency_key: String,
    kind: String,
    payload: String,
    created_at_ms: i64,
    done: bool,
    result: Option<String>,
}

impl RawEffect {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawEffect> {
        Ok(RawEffect {
            id: row.get(0)?,
            workload: row.get(1)?,
            revision: row.get(2)?,
            idempotency_key: row.get(3)?,
            kind: row.get(4)?,
            payload: row.get(5)?,
            created_at_ms: row.get(6)?,
            done: row.get(7)?,
            result: row.get(8)?,
        })
    }

    fn decode(self, db: &str) -> Result<OutboxRow, StoreError> {
        let id = self.id;
        let corrupt = |column: &str, e: serde_json::Error| StoreError::CorruptEffect {
            db: db.to_owned(),
            id,
            detail: format!("its {column} is not valid JSON ({e})"),
        };
        let payload = serde_json::from_str(&self.payload).map_err(|e| corrupt("payload", e))?;
        let result = self
            .result
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| corrupt("result", e))?;
        Ok(OutboxRow {
            id,
            workload: self.workload,
            revision: self.revision,
            idempotency_key: self.idempotency_key,
            kind: self.kind,
            payload,
            created_at_ms: self.created_at_ms,
            done: self.done,
            result,
        })
    }
}

/// Enqueues `effect` for `workload@revision` inside the caller's transaction and
/// returns its id, or the id of the existing effect with the same idempotency key.
///
/// A duplicate key is only accepted from the same rollout: a different rollout
/// reusing the key would otherwise have its effect silently dropped.
pub(crate) fn enqueue(
    conn: &Connection,
    db: &str,
    workload: &str,
    revision: &str,
    effect: &NewEffect,
    created_at_ms: i64,
) -> Result<i64, StoreError> {
    let what = || {
        format!(
            "enqueueing {} effect {:?} for rollout {workload}@{revision}",
            effect.kind, effect.idempotency_key
        )
    };
    let existing: Option<(i64, String, String)> = conn
        .query_row(
            "SELECT id, workload, revision FROM outbox WHERE idempotency_key = ?1",
            [&effect.idempotency_key],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()
        .map_err(sql_err(db, what))?;
    if let Some((id, existing_workload, existing_revision)) = existing {
        if existing_workload == workload && existing_revision == revision {
            return Ok(id);
        }
        return Err(StoreError::IdempotencyKeyConflict(Box::new(KeyConflict {
            key: effect.idempotency_key.clone(),
            kind: effect.kind.clone(),
            workload: workload.to_owned(),
            revision: revision.to_owned(),
            existing_id: id,
            existing_workload,
            existing_revision,
        })));
    }
    conn.execute(
        "INSERT INTO outbox (workload, revision, idempotency_key, kind, payload, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            workload,
            revision,
            effect.idempotency_key,
            effect.kind,
            effect.payload.to_string(),
            created_at_ms
        ],
    )
    .map_err(sql_err(db, what))?;
    Ok(conn.last_insert_rowid())
}

impl SqliteStore {
    /// Effects not yet completed, oldest first (by id). `workload` and `revision`
    /// filter independently; both `None` returns the pending effects of all rollouts.
    pub fn pending_effects(
        &self,
        workload: Option<&str>,
        revision: Option<&str>,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let mut conditions = Where::default();
        conditions
            .add("workload = ?", workload.map(str::to_owned))
            .add("revision = ?", revision.map(str::to_owned));
        let filter = conditions.sql();
        let sql = if filter.is_empty() {
            format!("SELECT {COLUMNS} FROM outbox WHERE done = 0 ORDER BY id")
        } else {
            format!("SELECT {COLUMNS} FROM outbox {filter} AND done = 0 ORDER BY id")
        };
        let err = || {
            sql_err(&self.db, || {
                format!(
                    "listing pending effects of rollout {}@{}",
                    workload.unwrap_or("*"),
                    revision.unwrap_or("*")
                )
            })
        };
        let mut stmt = self.conn.prepare(&sql).map_err(err())?;
        let raw = stmt
            .query_map(conditions.params(), RawEffect::from_row)
            .map_err(err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err())?;
        raw.into_iter()
            .map(|effect| effect.decode(&self.db))
            .collect()
    }

    /// Marks effect `id` done with `result` and, in the same transaction, appends
    /// `audit` (typically an [`AuditKind::Action`](crate::AuditKind::Action) entry
    /// describing what was done), so the log never claims an action the outbox
    /// still considers pending, or vice versa.
    ///
    /// Errors with [`StoreError::EffectNotFound`] for an unknown id and
    /// [`StoreError::EffectAlreadyDone`] for an effect completed before.
    pub fn complete_effect(
        &mut self,
        id: i64,
        result: serde_json::Value,
        audit: Option<NewAuditEntry>,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let op = format!("completing outbox effect #{id}");
        let (tx, db) = self.write_tx(&op)?;
        let found: Option<(RawEffect, Option<i64>)> = tx
            .query_row(
                &format!("SELECT {COLUMNS}, done_at_ms FROM outbox WHERE id = ?1"),
                [id],
                |row| Ok((RawEffect::from_row(row)?, row.get(9)?)),
            )
            .optional()
            .map_err(sql_err(db, || op.clone()))?;
        let Some((effect, done_at_ms)) = found else {
            return Err(StoreError::EffectNotFound { id });
        };
        if effect.done {
            return Err(StoreError::EffectAlreadyDone {
                id,
                kind: effect.kind,
                idempotency_key: effect.idempotency_key,
                workload: effect.workload,
                revision: effect.revision,
                done_at_ms,
            });
        }
        tx.execute(
            "UPDATE outbox SET done = 1, result = ?2, done_at_ms = ?3 WHERE id = ?1 AND done = 0",
            params![id, result.to_string(), at_ms],
        )
        .map_err(sql_err(db, || op.clone()))?;
        if let Some(entry) = audit {
            append_in_tx(&tx, db, entry)?;
        }
        tx.commit().map_err(sql_err(db, || op))
    }
}
