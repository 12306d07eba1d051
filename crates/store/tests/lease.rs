//! The writer lease on a real SQLite file: a live holder refuses a second
//! writer with its pid, host and start time; a dead pid on this host, or a
//! lease not renewed for its TTL, is taken over; a process whose lease was
//! taken over can no longer commit. Time is an input, so nothing sleeps.

mod common;

use canaryd_store::{Commit, LeaseHolder, SqliteStore, StoreError, WriterLease};

const TTL: i64 = 30_000;

fn holder(pid: u32, host: &str) -> LeaseHolder {
    LeaseHolder {
        pid,
        host: host.to_owned(),
        command: "canaryd proxy".to_owned(),
    }
}

/// A pid that is alive for the whole test: this test process's own parent
/// is not guaranteed, but our own pid is (as "another host" it is not ours).
fn live_pid() -> u32 {
    std::process::id()
}

/// A pid that does not exist on this host (beyond the kernel's pid range).
const DEAD_PID: u32 = 4_000_000_000;

fn commit(store: &mut SqliteStore, at_ms: i64) -> Result<Vec<i64>, StoreError> {
    let mut row = common::rollout("shop/pay", "v2", 0);
    row.updated_at_ms = at_ms;
    store.commit(Commit {
        rollout: row,
        audit: vec![],
        effects: vec![],
    })
}

#[test]
fn a_live_holder_is_named_and_a_stale_one_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    drop(SqliteStore::open(&db).unwrap());
    let host = "this-host";

    let (first, replaced) =
        WriterLease::acquire(&db, holder(live_pid(), host), 1_000, TTL).unwrap();
    assert!(replaced.is_none());

    // A second process on the same host while the first lives, within the TTL.
    let err = WriterLease::acquire(&db, holder(live_pid() + 1, host), 20_000, TTL).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::WriterBusy { .. }), "{msg}");
    for part in [
        format!("pid {}", live_pid()),
        format!("host {host}"),
        "since 1970-01-01T00:00:01Z".to_owned(),
        "canaryd proxy".to_owned(),
        "30 s".to_owned(),
    ] {
        assert!(msg.contains(&part), "no {part:?} in {msg}");
    }

    // From another host the pid cannot be checked: only the TTL frees it.
    let err = WriterLease::acquire(&db, holder(7, "other-host"), 1_000 + TTL, TTL).unwrap_err();
    assert!(matches!(err, StoreError::WriterBusy { .. }));
    let (second, replaced) =
        WriterLease::acquire(&db, holder(7, "other-host"), 1_001 + TTL, TTL).unwrap();
    assert_eq!(replaced.unwrap().holder.pid, live_pid());

    // The first holder's renewals now fail: it lost the lease.
    let mut first = first;
    let err = first.renew(1_002 + TTL).unwrap_err();
    assert!(
        err.to_string()
            .contains("taken over by pid 7 on host other-host"),
        "{err}"
    );
    drop(second);
}

#[test]
fn a_dead_pid_on_this_host_is_replaced_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    drop(SqliteStore::open(&db).unwrap());
    let (_dead, _) = WriterLease::acquire(&db, holder(DEAD_PID, "h"), 1_000, TTL).unwrap();
    let (_me, replaced) = WriterLease::acquire(&db, holder(live_pid(), "h"), 1_001, TTL).unwrap();
    assert_eq!(replaced.unwrap().holder.pid, DEAD_PID);
}

#[test]
fn commits_are_fenced_by_the_lease_and_release_frees_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let mut store = SqliteStore::open(&db).unwrap();
    let (lease, _) = WriterLease::acquire(&db, holder(live_pid(), "h1"), 1_000, TTL).unwrap();
    store.fence(lease.token());
    commit(&mut store, 2_000).unwrap();

    // A commit renews the lease: at 2_000 + TTL it is not stale yet.
    let err = WriterLease::acquire(&db, holder(9, "h2"), 2_000 + TTL, TTL).unwrap_err();
    assert!(matches!(err, StoreError::WriterBusy { .. }));

    // Taken over after the TTL: the fenced store refuses to commit.
    let (other, _) = WriterLease::acquire(&db, holder(9, "h2"), 2_001 + TTL, TTL).unwrap();
    let err = commit(&mut store, 2_002 + TTL).unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
    assert!(err.to_string().contains("pid 9 on host h2"), "{err}");

    // The old holder's release leaves the new lease alone; the new one's frees it.
    lease.release().unwrap();
    assert!(WriterLease::acquire(&db, holder(10, "h3"), 2_003 + TTL, TTL).is_err());
    other.release().unwrap();
    WriterLease::acquire(&db, holder(10, "h3"), 2_004 + TTL, TTL).unwrap();
}
