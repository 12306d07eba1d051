//! The `stable_history` table: what a `canaryd proxy` measured of the stable
//! cohort, per workload, route and recording interval. The store does not
//! know what an observation is: callers hand it one JSON payload per route
//! and get them back in time order.

use rusqlite::named_params;

use crate::error::{sql_err, StoreError};
use crate::SqliteStore;

/// One recorded interval of one route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// The route the interval measured.
    pub route: String,
    /// When the interval was recorded (Unix ms).
    pub at_ms: i64,
    /// The observation as the caller serialized it; the store does not read it.
    pub payload: String,
}

impl SqliteStore {
    /// Records one interval of `workload` (all its routes in one
    /// transaction) and drops what is older than `keep_since_ms`.
    pub fn record_history(
        &mut self,
        workload: &str,
        at_ms: i64,
        routes: &[(String, String)],
        keep_since_ms: i64,
    ) -> Result<(), StoreError> {
        let op = || format!("recording the stable history of {workload}");
        let (tx, db) = self.write_tx("recording stable history")?;
        {
            let mut ins = tx
                .prepare(
                    "INSERT OR REPLACE INTO stable_history (workload, route, at_ms, payload) \
                     VALUES (:w, :r, :t, :p)",
                )
                .map_err(sql_err(db, op))?;
            for (route, payload) in routes {
                ins.execute(
                    named_params! {":w": workload, ":r": route, ":t": at_ms, ":p": payload},
                )
                .map_err(sql_err(db, op))?;
            }
        }
        tx.execute(
            "DELETE FROM stable_history WHERE workload = :w AND at_ms < :k",
            named_params! {":w": workload, ":k": keep_since_ms},
        )
        .map_err(sql_err(db, op))?;
        tx.commit().map_err(sql_err(db, op))
    }

    /// The recorded intervals of `workload` at or after `since_ms`, oldest first.
    pub fn history(&self, workload: &str, since_ms: i64) -> Result<Vec<HistoryRow>, StoreError> {
        let op = || format!("reading the stable history of {workload}");
        let mut stmt = self
            .conn
            .prepare(
                "SELECT route, at_ms, payload FROM stable_history \
                 WHERE workload = :w AND at_ms >= :s ORDER BY at_ms, route",
            )
            .map_err(sql_err(&self.db, op))?;
        let rows = stmt
            .query_map(named_params! {":w": workload, ":s": since_ms}, |row| {
                Ok(HistoryRow {
                    route: row.get(0)?,
                    at_ms: row.get(1)?,
                    payload: row.get(2)?,
                })
            })
            .map_err(sql_err(&self.db, op))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql_err(&self.db, op))?;
        Ok(rows)
    }
}
