mod common;

use canaryd_store::{
    AuditKind, AuditReport, RolloutFilter, SqliteStore, StoreError, SCHEMA_VERSION,
};
use common::{commit, effect, entry, raw, rollout};
use serde_json::json;

#[test]
fn reopening_a_file_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    // Parent directories are created on open.
    let path = dir.path().join("nested").join("state").join("canaryd.db");
    let (row, ids, head) = {
        let mut store = SqliteStore::open(&path).unwrap();
        let row = rollout("web", "abc", 100);
        let ids = store
            .commit(commit(
                row.clone(),
                vec![entry("web", "abc", 100, AuditKind::Decision)],
                vec![effect("e1"), effect("e2")],
            ))
            .unwrap();
        store
            .complete_effect(
                ids[0],
                json!({"ok": true}),
                Some(entry("web", "abc", 101, AuditKind::Action)),
                101,
            )
            .unwrap();
        let AuditReport::Intact { head_hash, .. } = store.verify_audit().unwrap() else {
            panic!("fresh log must verify");
        };
        (row, ids, head_hash)
    };

    let mut store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.load_rollout("web", "abc").unwrap(), Some(row));
    assert_eq!(
        store
            .list_rollouts(&RolloutFilter::default())
            .unwrap()
            .len(),
        1
    );
    let pending = store.pending_effects(None, None).unwrap();
    assert_eq!(pending.iter().map(|e| e.id).collect::<Vec<_>>(), [ids[1]]);
    assert_eq!(
        store.verify_audit().unwrap(),
        AuditReport::Intact {
            entries: 2,
            head_hash: head.clone()
        }
    );

    // The chain continues across reopen.
    let appended = store
        .append_audit(entry("web", "abc", 102, AuditKind::Notification))
        .unwrap();
    assert_eq!(appended.seq, 3);
    assert_eq!(appended.prev_hash, head);
    // And idempotency survives too.
    assert_eq!(
        store
            .commit(commit(
                rollout("web", "abc", 100),
                vec![],
                vec![effect("e2")]
            ))
            .unwrap(),
        [ids[1]]
    );
}

#[test]
fn file_database_uses_wal_and_records_the_schema_version() {
    let (_dir, path, _store) = common::temp_store();
    let conn = raw(&path);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn a_newer_schema_is_refused_with_a_clear_error() {
    let (_dir, path, store) = common::temp_store();
    drop(store);
    raw(&path)
        .pragma_update(None, "user_version", SCHEMA_VERSION + 5)
        .unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    match &err {
        StoreError::SchemaTooNew {
            found, supported, ..
        } => {
            assert_eq!(*found, SCHEMA_VERSION + 5);
            assert_eq!(*supported, SCHEMA_VERSION);
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("canaryd.db"), "{message}");
    assert!(message.contains("newer canaryd"), "{message}");
}

#[test]
fn a_file_that_is_not_a_database_is_refused_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(
        &path,
        "this is not an SQLite database, just some text.".repeat(50),
    )
    .unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("notes.txt"), "{err}");
}

#[test]
fn reopening_does_not_rerun_migrations() {
    let (_dir, path, mut store) = common::temp_store();
    store
        .commit(commit(rollout("web", "abc", 1), vec![], vec![]))
        .unwrap();
    drop(store);
    for _ in 0..3 {
        let store = SqliteStore::open(&path).unwrap();
        assert!(store.load_rollout("web", "abc").unwrap().is_some());
    }
}

#[test]
fn a_negative_schema_version_is_not_a_canaryd_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    raw(&path)
        .execute_batch("CREATE TABLE t (x); PRAGMA user_version = -3;")
        .unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NotCanarydDatabase {
                user_version: -3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("other.db"), "{err}");
}

#[test]
fn a_parent_that_is_a_file_is_reported_with_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("state");
    std::fs::write(&blocker, "").unwrap();
    let err = SqliteStore::open(&blocker.join("sub").join("canaryd.db")).unwrap_err();
    assert!(matches!(err, StoreError::CreateDir { .. }), "{err:?}");
    assert!(err.to_string().contains("state"), "{err}");
}

#[test]
fn two_processes_appending_concurrently_keep_one_chain() {
    fn assert_send<T: Send>() {}
    assert_send::<SqliteStore>();

    // Both open the fresh file at once: migration and WAL setup race too.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("canaryd.db");
    let writers: Vec<_> = ["daemon", "cli"]
        .into_iter()
        .map(|who| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut store = SqliteStore::open(&path).unwrap();
                for i in 0..40 {
                    store
                        .append_audit(entry(who, "r1", i, AuditKind::Notification))
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert!(matches!(
        store.verify_audit().unwrap(),
        AuditReport::Intact { entries: 80, .. }
    ));
    assert_eq!(store.audit_entries(Some("daemon"), None).unwrap().len(), 40);
}
