//! Listing and exporting audit entries.

use std::io::Write;

use super::raw::{RawRow, COLUMNS};
use super::AuditEntry;
use crate::error::{sql_err, StoreError};
use crate::filter::Where;
use crate::SqliteStore;

impl SqliteStore {
    /// Audit entries in sequence order; `workload` and `revision` filter
    /// independently (ANDed), `None` means "any".
    ///
    /// Fails with [`StoreError::CorruptAuditEntry`] on a row canaryd could not have
    /// written; [`verify_audit`](SqliteStore::verify_audit) reports such rows instead.
    pub fn audit_entries(
        &self,
        workload: Option<&str>,
        revision: Option<&str>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut conditions = Where::default();
        conditions
            .add("workload = ?", workload.map(str::to_owned))
            .add("revision = ?", revision.map(str::to_owned));
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_log {} ORDER BY seq",
            conditions.sql()
        );
        let err = || {
            sql_err(&self.db, || {
                format!(
                    "reading audit entries of rollout {}@{}",
                    workload.unwrap_or("*"),
                    revision.unwrap_or("*")
                )
            })
        };
        let mut stmt = self.conn.prepare(&sql).map_err(err())?;
        let rows = stmt
            .query_map(conditions.params(), RawRow::from_row)
            .map_err(err())?;
        let mut entries = Vec::new();
        for row in rows {
            entries.push(self.decode_audit_row(row.map_err(err())?)?);
        }
        Ok(entries)
    }

    /// Writes every entry as one JSON object per line (JSON Lines), in sequence
    /// order, with all fields including both hashes, and returns how many were
    /// written. The output can be re-verified without canaryd: see
    /// [`AuditEntry::content_hash_input`].
    ///
    /// Entries are streamed, so exporting a large log needs little memory; a
    /// failure midway leaves a partial export and reports how far it got.
    pub fn export_audit<W: Write>(&self, out: W) -> Result<u64, StoreError> {
        let err = || sql_err(&self.db, || "exporting the audit log".to_owned());
        let mut out = std::io::BufWriter::new(out);
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq"))
            .map_err(err())?;
        let mut rows = stmt.query([]).map_err(err())?;
        let mut written: u64 = 0;
        while let Some(row) = rows.next().map_err(err())? {
            let entry = self.decode_audit_row(RawRow::from_row(row).map_err(err())?)?;
            serde_json::to_writer(&mut out, &entry)
                .map_err(std::io::Error::from)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|source| StoreError::Export { written, source })?;
            written += 1;
        }
        out.flush()
            .map_err(|source| StoreError::Export { written, source })?;
        Ok(written)
    }

    fn decode_audit_row(&self, raw: RawRow) -> Result<AuditEntry, StoreError> {
        raw.decode()
            .map_err(|detail| StoreError::CorruptAuditEntry {
                db: self.db.clone(),
                seq: raw.seq,
                detail,
            })
    }
}
