//! The `proxy_releases` table: which canary upstream a `canaryd proxy` took
//! for each revision, and who released it. Written with its audit entry in
//! one transaction, before the router switches, so a restart serves what was
//! committed and the log says who asked for it.

use rusqlite::{named_params, OptionalExtension, Row};

use crate::audit::append::append_in_tx;
use crate::audit::{AuditKind, NewAuditEntry};
use crate::error::{sql_err, StoreError};
use crate::SqliteStore;

/// One release: the upstreams that serve `revision` of `workload` as canary
/// (and the stable beside it). URLs carry no credentials (the proxy refuses
/// them), so they are stored as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The workload released.
    pub workload: String,
    /// The revision that becomes the canary.
    pub revision: String,
    /// Where the stable version serves.
    pub stable_url: String,
    /// Where the canary revision serves.
    pub canary_url: String,
    /// Who released it, for the audit log.
    pub by: String,
    /// Why, if they said.
    pub reason: Option<String>,
    /// When (Unix ms).
    pub at_ms: i64,
}

const COLUMNS: &str = "workload, revision, stable_url, canary_url, released_by, reason, at_ms";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Release> {
    Ok(Release {
        workload: row.get(0)?,
        revision: row.get(1)?,
        stable_url: row.get(2)?,
        canary_url: row.get(3)?,
        by: row.get(4)?,
        reason: row.get(5)?,
        at_ms: row.get(6)?,
    })
}

impl SqliteStore {
    /// Records `release` and its audit entry (kind `decision`, record
    /// `new_canary`) in one transaction, fenced by the writer lease. A
    /// revision is released once: a second release of it is refused
    /// ([`StoreError::Sql`] on the primary key) and changes nothing.
    pub fn record_release(&mut self, release: &Release) -> Result<(), StoreError> {
        let op = || {
            format!(
                "recording the release of {}@{}",
                release.workload, release.revision
            )
        };
        let fence = self.fence.clone();
        let (tx, db) = self.write_tx(&op())?;
        if let Some(token) = &fence {
            crate::lease::renew_in(&tx, db, token, release.at_ms)?;
        }
        tx.execute(
            &format!(
                "INSERT INTO proxy_releases ({COLUMNS}) VALUES (:w, :r, :s, :c, :b, :why, :t)"
            ),
            named_params! {
                ":w": release.workload, ":r": release.revision, ":s": release.stable_url,
                ":c": release.canary_url, ":b": release.by, ":why": release.reason,
                ":t": release.at_ms,
            },
        )
        .map_err(sql_err(db, op))?;
        append_in_tx(
            &tx,
            db,
            NewAuditEntry {
                workload: release.workload.clone(),
                revision: release.revision.clone(),
                at_ms: release.at_ms,
                kind: AuditKind::Decision,
                payload: serde_json::json!({
                    "record": "new_canary",
                    "canary_url": release.canary_url,
                    "stable_url": release.stable_url,
                    "by": release.by,
                    "reason": release.reason,
                }),
            },
        )?;
        tx.commit().map_err(sql_err(db, op))
    }

    /// The newest release of `workload`, if any.
    pub fn latest_release(&self, workload: &str) -> Result<Option<Release>, StoreError> {
        let op = || format!("reading the latest release of {workload}");
        self.conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM proxy_releases WHERE workload = :w \
                     ORDER BY at_ms DESC, rowid DESC LIMIT 1"
                ),
                named_params! {":w": workload},
                from_row,
            )
            .optional()
            .map_err(sql_err(&self.db, op))
    }

    /// The release of `revision` of `workload`, if it was released here.
    pub fn release_of(
        &self,
        workload: &str,
        revision: &str,
    ) -> Result<Option<Release>, StoreError> {
        let op = || format!("reading the release of {workload}@{revision}");
        self.conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM proxy_releases WHERE workload = :w AND revision = :r"
                ),
                named_params! {":w": workload, ":r": revision},
                from_row,
            )
            .optional()
            .map_err(sql_err(&self.db, op))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuditReport;

    fn release(revision: &str, at_ms: i64) -> Release {
        Release {
            workload: "shop/pay".into(),
            revision: revision.into(),
            stable_url: "http://127.0.0.1:1".into(),
            canary_url: format!("http://127.0.0.1:2/{revision}"),
            by: "alice".into(),
            reason: Some("hotfix".into()),
            at_ms,
        }
    }

    #[test]
    fn the_newest_release_wins_and_a_revision_is_released_once() {
        let mut s = SqliteStore::open_in_memory().unwrap();
        assert_eq!(s.latest_release("shop/pay").unwrap(), None);
        s.record_release(&release("v2", 1_000)).unwrap();
        s.record_release(&release("v3", 2_000)).unwrap();
        assert_eq!(
            s.latest_release("shop/pay").unwrap(),
            Some(release("v3", 2_000))
        );
        assert_eq!(
            s.release_of("shop/pay", "v2").unwrap(),
            Some(release("v2", 1_000))
        );
        assert!(s.record_release(&release("v2", 3_000)).is_err());
        assert_eq!(
            s.latest_release("shop/pay").unwrap(),
            Some(release("v3", 2_000))
        );
        assert_eq!(s.latest_release("shop/cart").unwrap(), None);
        // One audit entry per release, none for the refused one.
        let audited = s.audit_entries(None, None).unwrap();
        assert_eq!(audited.len(), 2);
        assert_eq!(audited[1].payload["record"], "new_canary");
        assert_eq!(audited[1].payload["by"], "alice");
        assert!(matches!(
            s.verify_audit().unwrap(),
            AuditReport::Intact { .. }
        ));
    }
}
