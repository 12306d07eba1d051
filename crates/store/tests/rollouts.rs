mod common;

use canaryd_store::{RolloutFilter, SqliteStore};
use common::{commit, rollout};

#[test]
fn load_missing_rollout_is_none() {
    let store = SqliteStore::open_in_memory().unwrap();
    assert_eq!(store.load_rollout("web", "abc").unwrap(), None);
}

#[test]
fn commit_then_load_round_trips_every_field() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let mut row = rollout("web", "abc", 100);
    row.finished_at_ms = Some(900);
    row.phase = "promoted".into();
    row.state_json = r#"{"opaque": ["state", 1]}"#.into();
    store.commit(commit(row.clone(), vec![], vec![])).unwrap();
    assert_eq!(store.load_rollout("web", "abc").unwrap(), Some(row));
    assert_eq!(store.load_rollout("web", "other").unwrap(), None);
}

#[test]
fn upsert_overwrites_the_same_rollout() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    store
        .commit(commit(rollout("web", "abc", 100), vec![], vec![]))
        .unwrap();
    let mut later = rollout("web", "abc", 100);
    later.phase = "rolled_back".into();
    later.step = 3;
    later.weight = 0;
    later.updated_at_ms = 500;
    later.finished_at_ms = Some(500);
    later.state_json = r#"{"step":3}"#.into();
    store.commit(commit(later.clone(), vec![], vec![])).unwrap();

    assert_eq!(store.load_rollout("web", "abc").unwrap(), Some(later));
    assert_eq!(
        store
            .list_rollouts(&RolloutFilter::default())
            .unwrap()
            .len(),
        1
    );
}

fn seeded() -> SqliteStore {
    let mut store = SqliteStore::open_in_memory().unwrap();
    for (workload, revision, started, phase) in [
        ("web", "r1", 100, "rolled_back"),
        ("web", "r2", 300, "ramping"),
        ("api", "a1", 200, "promoted"),
        ("api", "a2", 400, "ramping"),
        ("db", "d1", 50, "paused"),
    ] {
        let mut row = rollout(workload, revision, started);
        row.phase = phase.into();
        store.commit(commit(row, vec![], vec![])).unwrap();
    }
    store
}

fn keys(rows: &[canaryd_store::RolloutRow]) -> Vec<String> {
    rows.iter()
        .map(|r| format!("{}@{}", r.workload, r.revision))
        .collect()
}

#[test]
fn list_is_newest_first() {
    let store = seeded();
    let all = store.list_rollouts(&RolloutFilter::default()).unwrap();
    assert_eq!(
        keys(&all),
        ["api@a2", "web@r2", "api@a1", "web@r1", "db@d1"]
    );
}

#[test]
fn list_filters_are_anded() {
    let store = seeded();
    let by_workload = store
        .list_rollouts(&RolloutFilter {
            workload: Some("web".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(keys(&by_workload), ["web@r2", "web@r1"]);

    let by_phase = store
        .list_rollouts(&RolloutFilter {
            phase: Some("ramping".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(keys(&by_phase), ["api@a2", "web@r2"]);

    let since = store
        .list_rollouts(&RolloutFilter {
            started_since_ms: Some(200),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        keys(&since),
        ["api@a2", "web@r2", "api@a1"],
        "inclusive bound"
    );

    let combined = store
        .list_rollouts(&RolloutFilter {
            workload: Some("api".into()),
            phase: Some("ramping".into()),
            started_since_ms: Some(100),
            limit: None,
        })
        .unwrap();
    assert_eq!(keys(&combined), ["api@a2"]);

    let none = store
        .list_rollouts(&RolloutFilter {
            workload: Some("web".into()),
            phase: Some("promoted".into()),
            ..Default::default()
        })
        .unwrap();
    assert!(none.is_empty());
}

#[test]
fn list_limit_keeps_the_newest() {
    let store = seeded();
    let two = store
        .list_rollouts(&RolloutFilter {
            limit: Some(2),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(keys(&two), ["api@a2", "web@r2"]);

    let limited_and_filtered = store
        .list_rollouts(&RolloutFilter {
            workload: Some("web".into()),
            limit: Some(1),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(keys(&limited_and_filtered), ["web@r2"]);

    let zero = store
        .list_rollouts(&RolloutFilter {
            limit: Some(0),
            ..Default::default()
        })
        .unwrap();
    assert!(zero.is_empty());
}
