//! The `baseline_cache` table: the stable revision's history, as a source last
//! read it, per workload and route.
//!
//! The store does not know what a baseline is (it depends on no core type):
//! callers hand it one JSON payload per route and get the same payloads back.
//! A cached baseline is all-or-nothing: every row of one `(workload, source)`
//! is replaced in one transaction, and a read returns them only if the oldest
//! is younger than the TTL, so a rollout never mixes two fetches.

use rusqlite::named_params;

use crate::error::{sql_err, StoreError};
use crate::SqliteStore;

/// One cached route (`""` is the workload-wide row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedRoute {
    /// The route, or `""` for the whole workload.
    pub route: String,
    /// The cached baseline as its owner serialized it; the store does not read it.
    pub payload: String,
}

impl SqliteStore {
    /// Replaces the cached baseline of `workload` read from `source`.
    pub fn put_baseline(
        &mut self,
        workload: &str,
        source: &str,
        routes: &[CachedRoute],
        fetched_at_ms: i64,
    ) -> Result<(), StoreError> {
        let op = || format!("caching the baseline of {workload}");
        let (tx, db) = self.write_tx("caching a baseline")?;
        tx.execute(
            "DELETE FROM baseline_cache WHERE workload = :w AND source = :s",
            named_params! {":w": workload, ":s": source},
        )
        .map_err(sql_err(db, op))?;
        {
            let mut ins = tx
                .prepare(
                    "INSERT INTO baseline_cache (workload, source, route, payload, fetched_at_ms) \
                     VALUES (:w, :s, :r, :p, :t)",
                )
                .map_err(sql_err(db, op))?;
            for r in routes {
                ins.execute(named_params! {
                    ":w": workload, ":s": source, ":r": r.route, ":p": r.payload, ":t": fetched_at_ms,
                })
                .map_err(sql_err(db, op))?;
            }
        }
        tx.commit().map_err(sql_err(db, op))
    }

    /// The cached baseline of `workload` from `source` if it was fetched no
    /// more than `ttl_ms` before `now_ms` (and not in the future: a clock that
    /// stepped back must not make an old entry look fresh forever).
    pub fn cached_baseline(
        &self,
        workload: &str,
        source: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Option<Vec<CachedRoute>>, StoreError> {
        let op = || format!("reading the cached baseline of {workload}");
        let tx = self.read_tx("reading a cached baseline")?;
        let mut stmt = tx
            .prepare(
                "SELECT route, payload, fetched_at_ms FROM baseline_cache \
                 WHERE workload = :w AND source = :s ORDER BY route",
            )
            .map_err(sql_err(&self.db, op))?;
        let rows = stmt
            .query_map(named_params! {":w": workload, ":s": source}, |row| {
                Ok((
                    CachedRoute {
                        route: row.get(0)?,
                        payload: row.get(1)?,
                    },
                    row.get::<_, i64>(2)?,
                ))
            })
            .map_err(sql_err(&self.db, op))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql_err(&self.db, op))?;
        if rows.is_empty() {
            return Ok(None);
        }
        let fresh = rows.iter().all(|(_, at)| {
            let age = now_ms.saturating_sub(*at);
            (0..=ttl_ms).contains(&age)
        });
        Ok(fresh.then(|| rows.into_iter().map(|(r, _)| r).collect()))
    }
}
