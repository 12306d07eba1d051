//! The `rollouts` table: the latest state of each rollout.
//!
//! Rows are only written by [`SqliteStore::commit`](crate::SqliteStore::commit), together with
//! the audit entries and effects of the same step, so the stored state never runs
//! ahead of (or behind) what the audit log and outbox say.

use rusqlite::{named_params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use crate::error::{sql_err, StoreError};
use crate::filter::Where;
use crate::SqliteStore;

/// The latest state of one rollout, keyed by `(workload, revision)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutRow {
    /// The workload being rolled out.
    pub workload: String,
    /// The revision being rolled out.
    pub revision: String,
    /// e.g. "ramping", "rolled_back", "promoted", "paused", "awaiting_approval".
    pub phase: String,
    /// Where on its ramp the rollout is.
    pub step: i64,
    /// The canary's traffic weight in force, in percent.
    pub weight: i64,
    /// When the rollout started (Unix ms).
    pub started_at_ms: i64,
    /// When its state last changed (Unix ms).
    pub updated_at_ms: i64,
    /// When it reached a final phase (Unix ms); `None` while it runs.
    pub finished_at_ms: Option<i64>,
    /// Serialized rollout state owned by the core crate; stored verbatim.
    pub state_json: String,
    /// The resolved policy; stored verbatim.
    pub policy_json: String,
}

/// Filters for [`SqliteStore::list_rollouts`]; set fields are ANDed, `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct RolloutFilter {
    /// Only this workload's rollouts.
    pub workload: Option<String>,
    /// Only rollouts in this phase (as [`RolloutRow::phase`] spells it).
    pub phase: Option<String>,
    /// Only rollouts with `started_at_ms >= started_since_ms`.
    pub started_since_ms: Option<i64>,
    /// At most this many rows (the newest ones).
    pub limit: Option<u32>,
}

const COLUMNS: &str = "workload, revision, phase, step, weight, started_at_ms, updated_at_ms, \
                       finished_at_ms, state_json, policy_json";

fn from_row(row: &Row<'_>) -> rusqlite::Result<RolloutRow> {
    Ok(RolloutRow {
        workload: row.get(0)?,
        revision: row.get(1)?,
        phase: row.get(2)?,
        step: row.get(3)?,
        weight: row.get(4)?,
        started_at_ms: row.get(5)?,
        updated_at_ms: row.get(6)?,
        finished_at_ms: row.get(7)?,
        state_json: row.get(8)?,
        policy_json: row.get(9)?,
    })
}

/// Inserts or overwrites the row of `rollout` inside the caller's transaction.
pub(crate) fn upsert(conn: &Connection, db: &str, rollout: &RolloutRow) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO rollouts (workload, revision, phase, step, weight, started_at_ms,
                               updated_at_ms, finished_at_ms, state_json, policy_json)
         VALUES (:workload, :revision, :phase, :step, :weight, :started_at_ms,
                 :updated_at_ms, :finished_at_ms, :state_json, :policy_json)
         ON CONFLICT (workload, revision) DO UPDATE SET
             phase = excluded.phase,
             step = excluded.step,
             weight = excluded.weight,
             started_at_ms = excluded.started_at_ms,
             updated_at_ms = excluded.updated_at_ms,
             finished_at_ms = excluded.finished_at_ms,
             state_json = excluded.state_json,
             policy_json = excluded.policy_json",
        named_params! {
            ":workload": rollout.workload,
            ":revision": rollout.revision,
            ":phase": rollout.phase,
            ":step": rollout.step,
            ":weight": rollout.weight,
            ":started_at_ms": rollout.started_at_ms,
            ":updated_at_ms": rollout.updated_at_ms,
            ":finished_at_ms": rollout.finished_at_ms,
            ":state_json": rollout.state_json,
            ":policy_json": rollout.policy_json,
        },
    )
    .map_err(sql_err(db, || {
        format!(
            "saving rollout {}@{} (phase {}, step {})",
            rollout.workload, rollout.revision, rollout.phase, rollout.step
        )
    }))?;
    Ok(())
}

impl SqliteStore {
    /// The stored state of one rollout, or `None` if it was never committed.
    pub fn load_rollout(
        &self,
        workload: &str,
        revision: &str,
    ) -> Result<Option<RolloutRow>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM rollouts WHERE workload = ?1 AND revision = ?2"),
                [workload, revision],
                from_row,
            )
            .optional()
            .map_err(sql_err(&self.db, || {
                format!("loading rollout {workload}@{revision}")
            }))
    }

    /// Rollouts matching `filter`, newest first (by `started_at_ms`, ties broken by
    /// workload and revision so that the order is stable).
    pub fn list_rollouts(&self, filter: &RolloutFilter) -> Result<Vec<RolloutRow>, StoreError> {
        let mut conditions = Where::default();
        conditions
            .add("workload = ?", filter.workload.clone())
            .add("phase = ?", filter.phase.clone())
            .add("started_at_ms >= ?", filter.started_since_ms);
        // LIMIT -1 means "no limit" in SQLite; binding it keeps the SQL text fixed.
        conditions.bind_extra(filter.limit.map_or(-1, i64::from));
        let sql = format!(
            "SELECT {COLUMNS} FROM rollouts {} \
             ORDER BY started_at_ms DESC, workload, revision LIMIT ?",
            conditions.sql()
        );
        let err = || sql_err(&self.db, || format!("listing rollouts matching {filter:?}"));
        let mut stmt = self.conn.prepare(&sql).map_err(err())?;
        let rows = stmt
            .query_map(conditions.params(), from_row)
            .map_err(err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err())
    }
}
