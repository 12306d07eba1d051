//! Appending to the audit log.

use rusqlite::{params, Connection};

use super::chain::{canonicalize, Content};
use super::{AuditEntry, NewAuditEntry};
use crate::error::{sql_err, StoreError};
use crate::SqliteStore;

/// Appends one entry inside the caller's transaction and advances `audit_head`.
///
/// Taking a plain `&Connection` (a `Transaction` derefs to one) lets `commit` and
/// `complete_effect` append in the same transaction as their other writes. The
/// caller must hold a write transaction: the head read and the two writes below
/// are only race-free because no other writer can interleave.
pub(crate) fn append_in_tx(
    conn: &Connection,
    db: &str,
    entry: NewAuditEntry,
) -> Result<AuditEntry, StoreError> {
    let what = || {
        format!(
            "appending {} audit entry for rollout {}@{}",
            entry.kind, entry.workload, entry.revision
        )
    };
    let (last_seq, last_hash): (i64, String) = conn
        .query_row(
            "SELECT last_seq, last_hash FROM audit_head WHERE id = 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(sql_err(db, || format!("{} (reading audit_head)", what())))?;
    let seq = last_seq
        .checked_add(1)
        .ok_or_else(|| StoreError::CorruptAuditEntry {
            db: db.to_owned(),
            seq: last_seq,
            detail: "audit_head.last_seq is at the maximum sequence number".to_owned(),
        })?;

    let payload = canonicalize(entry.payload);
    let hash = Content {
        seq,
        workload: &entry.workload,
        revision: &entry.revision,
        at_ms: entry.at_ms,
        kind: entry.kind,
        payload: &payload,
    }
    .hash(&last_hash);
    let payload_text = payload.to_string();

    conn.execute(
        "INSERT INTO audit_log (seq, workload, revision, at_ms, kind, payload, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            seq,
            entry.workload,
            entry.revision,
            entry.at_ms,
            entry.kind.as_str(),
            payload_text,
            last_hash,
            hash
        ],
    )
    .map_err(sql_err(db, || format!("{} as #{seq}", what())))?;
    conn.execute(
        "UPDATE audit_head SET last_seq = ?1, last_hash = ?2 WHERE id = 1",
        params![seq, hash],
    )
    .map_err(sql_err(db, || {
        format!("{} (advancing audit_head to #{seq})", what())
    }))?;

    Ok(AuditEntry {
        seq,
        workload: entry.workload,
        revision: entry.revision,
        at_ms: entry.at_ms,
        kind: entry.kind,
        payload,
        prev_hash: last_hash,
        hash,
    })
}

impl SqliteStore {
    /// Appends one audit entry in its own transaction and returns it as stored
    /// (with its `seq`, canonical payload and hashes).
    pub fn append_audit(&mut self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError> {
        let op = format!(
            "appending {} audit entry for rollout {}@{}",
            entry.kind, entry.workload, entry.revision
        );
        let (tx, db) = self.write_tx(&op)?;
        let stored = append_in_tx(&tx, db, entry)?;
        tx.commit().map_err(sql_err(db, || op))?;
        Ok(stored)
    }
}
