//! Reading audit rows without trusting them.
//!
//! Rows are fetched as untyped SQLite values and decoded in Rust, so that a row
//! with NULLs, wrong types, invalid JSON or malformed hashes becomes a described
//! problem (for `verify_audit`) or a [`StoreError::CorruptAuditEntry`] (for the
//! readers) instead of a panic or an opaque conversion error.

use rusqlite::types::Value as SqlValue;
use rusqlite::Row;

use super::chain::is_hash_hex;
use super::{AuditEntry, AuditKind};

/// Columns in the order [`RawRow::from_row`] expects them.
pub(crate) const COLUMNS: &str = "seq, workload, revision, at_ms, kind, payload, prev_hash, hash";

/// One `audit_log` row exactly as stored.
#[derive(Debug, Clone)]
pub(crate) struct RawRow {
    /// `seq` is the rowid, which SQLite guarantees to be an integer.
    pub seq: i64,
    workload: SqlValue,
    revision: SqlValue,
    at_ms: SqlValue,
    kind: SqlValue,
    payload: SqlValue,
    prev_hash: SqlValue,
    hash: SqlValue,
}

impl RawRow {
    /// Reads a row selected with [`COLUMNS`]. Only fails on SQLite-level errors.
    pub fn from_row(row: &Row<'_>) -> rusqlite::Result<RawRow> {
        Ok(RawRow {
            seq: row.get(0)?,
            workload: row.get(1)?,
            revision: row.get(2)?,
            at_ms: row.get(3)?,
            kind: row.get(4)?,
            payload: row.get(5)?,
            prev_hash: row.get(6)?,
            hash: row.get(7)?,
        })
    }

    /// The stored `prev_hash` column if it is text, whatever its shape; used to see
    /// what the row after a suspicious entry links to.
    pub fn prev_hash_text(&self) -> Option<&str> {
        text(&self.prev_hash)
    }

    /// "entry #6 (decision, rollout web@abc)", with `?` for parts that cannot be
    /// read, so that even an undecodable row is named as precisely as possible.
    pub fn label(&self) -> String {
        let part =
            |value: &SqlValue| text(value).map_or_else(|| "?".to_owned(), |s| truncate(s, 80));
        format!(
            "entry #{} ({}, rollout {}@{})",
            self.seq,
            part(&self.kind),
            part(&self.workload),
            part(&self.revision)
        )
    }

    /// Decodes the row, or describes the first column that cannot be decoded.
    pub fn decode(&self) -> Result<AuditEntry, String> {
        let workload = text_column(&self.workload, "workload")?.to_owned();
        let revision = text_column(&self.revision, "revision")?.to_owned();
        let at_ms = match &self.at_ms {
            SqlValue::Integer(ms) => *ms,
            other => return Err(format!("at_ms is {}, expected an integer", describe(other))),
        };
        let kind_text = text_column(&self.kind, "kind")?;
        let kind: AuditKind = kind_text
            .parse()
            .map_err(|_| format!("kind {kind_text:?} is not a known audit kind"))?;
        let payload_text = text_column(&self.payload, "payload")?;
        let payload = serde_json::from_str(payload_text)
            .map_err(|e| format!("payload is not valid JSON ({e})"))?;
        let prev_hash = hash_column(&self.prev_hash, "prev_hash")?.to_owned();
        let hash = hash_column(&self.hash, "hash")?.to_owned();
        Ok(AuditEntry {
            seq: self.seq,
            workload,
            revision,
            at_ms,
            kind,
            payload,
            prev_hash,
            hash,
        })
    }
}

fn text(value: &SqlValue) -> Option<&str> {
    match value {
        SqlValue::Text(s) => Some(s),
        _ => None,
    }
}

fn text_column<'a>(value: &'a SqlValue, column: &str) -> Result<&'a str, String> {
    text(value).ok_or_else(|| format!("{column} is {}, expected text", describe(value)))
}

fn hash_column<'a>(value: &'a SqlValue, column: &str) -> Result<&'a str, String> {
    let s = text_column(value, column)?;
    if is_hash_hex(s) {
        Ok(s)
    } else {
        Err(format!(
            "{column} {:?} is not a SHA-256 hash (64 lowercase hex digits)",
            truncate(s, 80)
        ))
    }
}

/// Short description of an unexpected SQLite value for error messages.
pub(crate) fn describe(value: &SqlValue) -> String {
    match value {
        SqlValue::Null => "NULL".to_owned(),
        SqlValue::Integer(i) => format!("the integer {i}"),
        SqlValue::Real(r) => format!("the real {r}"),
        SqlValue::Text(s) => format!("the text {:?}", truncate(s, 80)),
        SqlValue::Blob(b) => format!("a {}-byte blob", b.len()),
    }
}

/// Cuts `s` to at most `max` characters so that garbage cannot flood a log line.
fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}
