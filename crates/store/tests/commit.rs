//! A commit is one transaction: a failure at any point leaves nothing behind.

mod common;

use canaryd_store::{AuditKind, AuditReport, RolloutFilter, SqliteStore, StoreError};
use common::{commit, effect, entry, raw, rollout, temp_store};

/// Everything observable through the API, to compare before and after a failure.
fn snapshot(store: &SqliteStore) -> (Vec<canaryd_store::RolloutRow>, usize, usize, AuditReport) {
    (
        store.list_rollouts(&RolloutFilter::default()).unwrap(),
        store.audit_entries(None, None).unwrap().len(),
        store.pending_effects(None, None).unwrap().len(),
        store.verify_audit().unwrap(),
    )
}

#[test]
fn commit_writes_rollout_audit_and_effects_together() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let ids = store
        .commit(commit(
            rollout("web", "abc", 10),
            vec![
                entry("web", "abc", 10, AuditKind::WindowVerdict),
                entry("web", "abc", 11, AuditKind::Decision),
            ],
            vec![effect("web@abc/1/shift")],
        ))
        .unwrap();
    assert_eq!(ids.len(), 1);
    assert!(store.load_rollout("web", "abc").unwrap().is_some());
    let log = store.audit_entries(None, None).unwrap();
    assert_eq!(
        log.iter().map(|e| (e.seq, e.kind)).collect::<Vec<_>>(),
        [(1, AuditKind::WindowVerdict), (2, AuditKind::Decision)]
    );
    assert_eq!(store.pending_effects(None, None).unwrap().len(), 1);
}

#[test]
fn idempotency_key_of_another_rollout_fails_the_whole_commit() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    store
        .commit(commit(
            rollout("web", "abc", 10),
            vec![entry("web", "abc", 10, AuditKind::Decision)],
            vec![effect("shared-key")],
        ))
        .unwrap();
    let before = snapshot(&store);

    // The rollout upsert and both audit appends succeed, then the second effect
    // conflicts: all of it must be rolled back.
    let err = store
        .commit(commit(
            rollout("api", "xyz", 20),
            vec![
                entry("api", "xyz", 20, AuditKind::WindowVerdict),
                entry("api", "xyz", 21, AuditKind::Decision),
            ],
            vec![effect("api@xyz/1/fresh"), effect("shared-key")],
        ))
        .unwrap_err();
    match &err {
        StoreError::IdempotencyKeyConflict(conflict) => {
            assert_eq!(conflict.key, "shared-key");
            assert_eq!(conflict.workload, "api");
            assert_eq!(
                (
                    conflict.existing_workload.as_str(),
                    conflict.existing_revision.as_str()
                ),
                ("web", "abc")
            );
        }
        other => panic!("expected IdempotencyKeyConflict, got {other:?}"),
    }
    assert!(err.to_string().contains("web@abc"), "{err}");

    assert_eq!(store.load_rollout("api", "xyz").unwrap(), None);
    assert_eq!(snapshot(&store), before);

    // The connection is not left inside a transaction: the next commit works and
    // continues the chain where it was.
    store
        .commit(commit(
            rollout("api", "xyz", 20),
            vec![entry("api", "xyz", 22, AuditKind::Decision)],
            vec![effect("api@xyz/1/fresh")],
        ))
        .unwrap();
    let log = store.audit_entries(None, None).unwrap();
    assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    assert!(matches!(
        store.verify_audit().unwrap(),
        AuditReport::Intact { entries: 2, .. }
    ));
}

#[test]
fn failed_update_of_an_existing_rollout_keeps_its_previous_state() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let first = rollout("web", "abc", 10);
    store
        .commit(commit(first.clone(), vec![], vec![effect("taken")]))
        .unwrap();
    store
        .commit(commit(
            rollout("api", "xyz", 5),
            vec![],
            vec![effect("api-key")],
        ))
        .unwrap();

    let mut next = first.clone();
    next.step = 2;
    next.weight = 25;
    next.phase = "paused".into();
    let err = store
        .commit(commit(
            next,
            vec![entry("web", "abc", 30, AuditKind::Decision)],
            vec![effect("api-key")],
        ))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::IdempotencyKeyConflict(_)),
        "{err:?}"
    );
    assert_eq!(store.load_rollout("web", "abc").unwrap(), Some(first));
    assert!(store.audit_entries(None, None).unwrap().is_empty());
}

#[test]
fn sqlite_failure_while_enqueueing_rolls_back_everything() {
    let (_dir, path, mut store) = temp_store();
    store
        .commit(commit(
            rollout("web", "abc", 10),
            vec![entry("web", "abc", 10, AuditKind::Decision)],
            vec![],
        ))
        .unwrap();
    let before = snapshot(&store);

    // Make the database refuse outbox inserts, as a full disk or I/O error would
    // at that point of the transaction.
    raw(&path)
        .execute_batch(
            "CREATE TRIGGER fail_outbox BEFORE INSERT ON outbox
             BEGIN SELECT RAISE(ABORT, 'injected outbox failure'); END;",
        )
        .unwrap();
    let err = store
        .commit(commit(
            rollout("web", "def", 20),
            vec![entry("web", "def", 20, AuditKind::Decision)],
            vec![effect("web@def/1/shift")],
        ))
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StoreError::Sqlite { .. }), "{err:?}");
    assert!(message.contains("injected outbox failure"), "{message}");
    assert!(message.contains("web@def"), "names the rollout: {message}");
    assert!(message.contains("canaryd.db"), "names the file: {message}");

    assert_eq!(store.load_rollout("web", "def").unwrap(), None);
    assert_eq!(snapshot(&store), before);
}

#[test]
fn sqlite_failure_between_audit_entries_rolls_back_the_earlier_ones() {
    let (_dir, path, mut store) = temp_store();
    raw(&path)
        .execute_batch(
            "CREATE TRIGGER fail_second_entry BEFORE INSERT ON audit_log WHEN NEW.seq = 2
             BEGIN SELECT RAISE(ABORT, 'injected audit failure'); END;",
        )
        .unwrap();
    let err = store
        .commit(commit(
            rollout("web", "abc", 10),
            vec![
                entry("web", "abc", 10, AuditKind::WindowVerdict),
                entry("web", "abc", 11, AuditKind::Decision),
            ],
            vec![effect("web@abc/1/shift")],
        ))
        .unwrap_err();
    assert!(err.to_string().contains("injected audit failure"), "{err}");
    assert_eq!(store.load_rollout("web", "abc").unwrap(), None);
    assert!(store.audit_entries(None, None).unwrap().is_empty());
    assert!(store.pending_effects(None, None).unwrap().is_empty());
    // audit_head was not advanced by the first (rolled back) entry.
    assert_eq!(
        store.verify_audit().unwrap(),
        AuditReport::Intact {
            entries: 0,
            head_hash: canaryd_store::GENESIS_HASH.to_owned()
        }
    );
}
