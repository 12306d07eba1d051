//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};

use canaryd_store::{AuditKind, Commit, NewAuditEntry, NewEffect, RolloutRow, SqliteStore};
use serde_json::json;

pub fn rollout(workload: &str, revision: &str, started_at_ms: i64) -> RolloutRow {
    RolloutRow {
        workload: workload.to_owned(),
        revision: revision.to_owned(),
        phase: "ramping".to_owned(),
        step: 1,
        weight: 5,
        started_at_ms,
        updated_at_ms: started_at_ms,
        finished_at_ms: None,
        state_json: r#"{"step":1}"#.to_owned(),
        policy_json: r#"{"steps":[5,25,50,100]}"#.to_owned(),
    }
}

pub fn entry(workload: &str, revision: &str, at_ms: i64, kind: AuditKind) -> NewAuditEntry {
    NewAuditEntry {
        workload: workload.to_owned(),
        revision: revision.to_owned(),
        at_ms,
        kind,
        payload: json!({ "at": at_ms, "note": format!("{kind} at {at_ms}") }),
    }
}

pub fn effect(key: &str) -> NewEffect {
    NewEffect {
        idempotency_key: key.to_owned(),
        kind: "set_weight".to_owned(),
        payload: json!({ "weight": 25, "key": key }),
    }
}

pub fn commit(row: RolloutRow, audit: Vec<NewAuditEntry>, effects: Vec<NewEffect>) -> Commit {
    Commit {
        rollout: row,
        audit,
        effects,
    }
}

/// A store in a fresh temporary directory; keep the `TempDir` alive.
pub fn temp_store() -> (tempfile::TempDir, PathBuf, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("canaryd.db");
    let store = SqliteStore::open(&path).unwrap();
    (dir, path, store)
}

/// A store holding `n` audit entries with distinct kinds, times and payloads.
pub fn store_with_entries(n: i64) -> (tempfile::TempDir, PathBuf, SqliteStore) {
    let (dir, path, mut store) = temp_store();
    let entries = (1..=n)
        .map(|i| {
            let kind = AuditKind::ALL[(i as usize) % AuditKind::ALL.len()];
            entry("web", &format!("rev{}", i % 3), 1_000 + i, kind)
        })
        .collect();
    store
        .commit(commit(rollout("web", "rev0", 1), entries, vec![]))
        .unwrap();
    (dir, path, store)
}

/// A second, raw connection to the same file: the "attacker".
pub fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

/// Drops every trigger protecting the audit log, as an attacker with write access
/// to the file would.
pub fn drop_triggers(conn: &rusqlite::Connection) {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        names.len() >= 4,
        "expected the audit triggers, found {names:?}"
    );
    for name in names {
        conn.execute_batch(&format!("DROP TRIGGER {name}")).unwrap();
    }
}
