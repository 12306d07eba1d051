mod common;

use canaryd_store::{AuditKind, SqliteStore, StoreError};
use common::{commit, effect, entry, rollout};
use serde_json::json;

#[test]
fn enqueue_and_list_pending_in_id_order() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let ids = store
        .commit(commit(
            rollout("web", "abc", 100),
            vec![],
            vec![effect("web@abc/1/a"), effect("web@abc/1/b")],
        ))
        .unwrap();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] < ids[1]);

    let pending = store.pending_effects(Some("web"), Some("abc")).unwrap();
    assert_eq!(pending.iter().map(|e| e.id).collect::<Vec<_>>(), ids);
    let first = &pending[0];
    assert_eq!(first.idempotency_key, "web@abc/1/a");
    assert_eq!(first.kind, "set_weight");
    assert_eq!(first.payload, json!({"weight": 25, "key": "web@abc/1/a"}));
    assert_eq!(
        first.created_at_ms, 100,
        "created at the commit's updated_at_ms"
    );
    assert!(!first.done);
    assert_eq!(first.result, None);
}

#[test]
fn pending_effects_filters_by_rollout() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let web = store
        .commit(commit(rollout("web", "abc", 1), vec![], vec![effect("w1")]))
        .unwrap();
    let api = store
        .commit(commit(rollout("api", "xyz", 2), vec![], vec![effect("a1")]))
        .unwrap();
    let web2 = store
        .commit(commit(rollout("web", "def", 3), vec![], vec![effect("w2")]))
        .unwrap();

    let ids = |w: Option<&str>, r: Option<&str>| -> Vec<i64> {
        store
            .pending_effects(w, r)
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect()
    };
    assert_eq!(ids(None, None), [web[0], api[0], web2[0]]);
    assert_eq!(ids(Some("web"), None), [web[0], web2[0]]);
    assert_eq!(ids(Some("web"), Some("def")), [web2[0]]);
    assert_eq!(ids(Some("api"), Some("abc")), Vec::<i64>::new());
}

#[test]
fn recommitting_the_same_step_returns_the_existing_ids() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let step = commit(
        rollout("web", "abc", 100),
        vec![],
        vec![effect("web@abc/2/shift"), effect("web@abc/2/notify")],
    );
    let first = store.commit(step.clone()).unwrap();

    // A crash after the commit; the controller re-commits the step, plus a new effect.
    let mut again = step;
    again.effects.insert(1, effect("web@abc/2/extra"));
    let second = store.commit(again).unwrap();

    assert_eq!(second[0], first[0]);
    assert_eq!(second[2], first[1]);
    assert!(!first.contains(&second[1]));
    assert_eq!(store.pending_effects(None, None).unwrap().len(), 3);
}

#[test]
fn duplicate_key_within_one_commit_is_enqueued_once() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let ids = store
        .commit(commit(
            rollout("web", "abc", 1),
            vec![],
            vec![effect("same"), effect("same")],
        ))
        .unwrap();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(store.pending_effects(None, None).unwrap().len(), 1);
}

#[test]
fn duplicate_key_of_a_completed_effect_is_still_skipped() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let step = commit(rollout("web", "abc", 1), vec![], vec![effect("k")]);
    let ids = store.commit(step.clone()).unwrap();
    store
        .complete_effect(ids[0], json!({"ok": true}), None, 5)
        .unwrap();
    assert_eq!(store.commit(step).unwrap(), ids);
    assert!(store.pending_effects(None, None).unwrap().is_empty());
}

#[test]
fn complete_effect_marks_done_and_appends_audit_atomically() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let ids = store
        .commit(commit(
            rollout("web", "abc", 1),
            vec![entry("web", "abc", 1, AuditKind::Decision)],
            vec![effect("e1"), effect("e2")],
        ))
        .unwrap();

    let mut action = entry("web", "abc", 7, AuditKind::Action);
    action.payload = json!({"effect": ids[0], "set_weight": 25});
    store
        .complete_effect(ids[0], json!({"applied": 25}), Some(action), 7)
        .unwrap();

    let pending = store.pending_effects(None, None).unwrap();
    assert_eq!(pending.iter().map(|e| e.id).collect::<Vec<_>>(), [ids[1]]);

    let log = store.audit_entries(Some("web"), Some("abc")).unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].kind, AuditKind::Action);
    assert_eq!(log[1].payload, json!({"effect": ids[0], "set_weight": 25}));
    assert_eq!(log[1].prev_hash, log[0].hash);
}

#[test]
fn complete_effect_without_audit_appends_nothing() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let ids = store
        .commit(commit(rollout("web", "abc", 1), vec![], vec![effect("e1")]))
        .unwrap();
    store.complete_effect(ids[0], json!(null), None, 2).unwrap();
    assert!(store.audit_entries(None, None).unwrap().is_empty());
    assert!(store.pending_effects(None, None).unwrap().is_empty());
}

#[test]
fn completing_twice_is_an_error_naming_the_effect() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let ids = store
        .commit(commit(
            rollout("web", "abc", 1),
            vec![],
            vec![effect("web@abc/1/shift")],
        ))
        .unwrap();
    store
        .complete_effect(ids[0], json!({"ok": true}), None, 10)
        .unwrap();

    let err = store
        .complete_effect(
            ids[0],
            json!({"ok": true}),
            Some(entry("web", "abc", 11, AuditKind::Action)),
            11,
        )
        .unwrap_err();
    match &err {
        StoreError::EffectAlreadyDone {
            id,
            idempotency_key,
            workload,
            revision,
            done_at_ms,
            ..
        } => {
            assert_eq!(*id, ids[0]);
            assert_eq!(idempotency_key, "web@abc/1/shift");
            assert_eq!((workload.as_str(), revision.as_str()), ("web", "abc"));
            assert_eq!(*done_at_ms, Some(10));
        }
        other => panic!("expected EffectAlreadyDone, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains(&format!("#{}", ids[0])), "{message}");
    assert!(message.contains("web@abc"), "{message}");
    // The refused completion must not have logged its action.
    assert!(store.audit_entries(None, None).unwrap().is_empty());
}

#[test]
fn completing_an_unknown_effect_is_not_found() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let err = store
        .complete_effect(
            42,
            json!(null),
            Some(entry("web", "abc", 1, AuditKind::Action)),
            1,
        )
        .unwrap_err();
    assert!(
        matches!(err, StoreError::EffectNotFound { id: 42 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("#42"));
    assert!(store.audit_entries(None, None).unwrap().is_empty());
}

#[test]
fn completed_result_is_stored() {
    let (_dir, path, mut store) = common::temp_store();
    let ids = store
        .commit(commit(rollout("web", "abc", 1), vec![], vec![effect("k")]))
        .unwrap();
    store
        .complete_effect(ids[0], json!({"applied": 25}), None, 3)
        .unwrap();
    let conn = common::raw(&path);
    let (done, result, done_at): (i64, String, i64) = conn
        .query_row(
            "SELECT done, result, done_at_ms FROM outbox WHERE id = ?1",
            [ids[0]],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(done, 1);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&result).unwrap(),
        json!({"applied": 25})
    );
    assert_eq!(done_at, 3);
}

#[test]
fn corrupt_outbox_payload_is_reported_with_the_effect_id() {
    let (_dir, path, mut store) = common::temp_store();
    let ids = store
        .commit(commit(rollout("web", "abc", 1), vec![], vec![effect("k")]))
        .unwrap();
    common::raw(&path)
        .execute(
            "UPDATE outbox SET payload = 'not json' WHERE id = ?1",
            [ids[0]],
        )
        .unwrap();
    let err = store.pending_effects(None, None).unwrap_err();
    assert!(
        matches!(err, StoreError::CorruptEffect { id, .. } if id == ids[0]),
        "{err:?}"
    );
    assert!(err.to_string().contains("payload"), "{err}");
}
