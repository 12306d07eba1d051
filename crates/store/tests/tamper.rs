//! Tampering with the audit log through a second, raw connection to the file.

mod common;

use canaryd_store::{
    AuditBreak, AuditEntry, AuditKind, AuditProblem, AuditReport, SqliteStore, StoreError,
};
use common::{drop_triggers, raw, store_with_entries};
use rusqlite::Connection;

const N: i64 = 10;
const N_U64: u64 = N as u64;

fn broken(store: &SqliteStore) -> AuditBreak {
    match store.verify_audit().unwrap() {
        AuditReport::Broken(b) => b,
        intact => panic!("tampering not detected: {intact:?}"),
    }
}

fn assert_break(store: &SqliteStore, problem: AuditProblem, seq: i64) -> AuditBreak {
    let b = broken(store);
    assert_eq!((b.problem, b.seq), (problem, seq), "{b}");
    let line = b.to_string();
    assert!(line.contains(&format!("#{seq}")), "names the entry: {line}");
    assert!(!line.contains('\n'), "one line: {line}");
    b
}

/// A fresh log of N entries and an attacker connection without the triggers.
fn tampered() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    SqliteStore,
    Connection,
) {
    let (dir, path, store) = store_with_entries(N);
    assert!(matches!(
        store.verify_audit().unwrap(),
        AuditReport::Intact { entries: N_U64, .. }
    ));
    let conn = raw(&path);
    drop_triggers(&conn);
    (dir, path, store, conn)
}

fn swap_seq(conn: &Connection, a: i64, b: i64) {
    conn.execute("UPDATE audit_log SET seq = -1 WHERE seq = ?1", [a])
        .unwrap();
    conn.execute("UPDATE audit_log SET seq = ?1 WHERE seq = ?2", [a, b])
        .unwrap();
    conn.execute("UPDATE audit_log SET seq = ?1 WHERE seq = -1", [b])
        .unwrap();
}

fn column(conn: &Connection, column: &str, seq: i64) -> String {
    conn.query_row(
        &format!("SELECT {column} FROM audit_log WHERE seq = ?1"),
        [seq],
        |r| r.get(0),
    )
    .unwrap()
}

fn set_column(conn: &Connection, column: &str, seq: i64, value: &str) {
    conn.execute(
        &format!("UPDATE audit_log SET {column} = ?1 WHERE seq = ?2"),
        rusqlite::params![value, seq],
    )
    .unwrap();
}

fn entry_at(store: &SqliteStore, seq: i64) -> AuditEntry {
    store
        .audit_entries(None, None)
        .unwrap()
        .into_iter()
        .find(|e| e.seq == seq)
        .unwrap()
}

// ---- the triggers --------------------------------------------------------------

#[test]
fn triggers_refuse_update_and_delete() {
    let (_dir, path, store) = store_with_entries(N);
    let conn = raw(&path);

    let err = conn
        .execute("UPDATE audit_log SET payload = '{}' WHERE seq = 3", [])
        .unwrap_err();
    assert!(
        err.to_string().contains("audit_log is append-only"),
        "{err}"
    );
    let err = conn
        .execute("DELETE FROM audit_log WHERE seq = ?1", [N])
        .unwrap_err();
    assert!(
        err.to_string().contains("audit_log is append-only"),
        "{err}"
    );
    let err = conn.execute("DELETE FROM audit_log", []).unwrap_err();
    assert!(
        err.to_string().contains("audit_log is append-only"),
        "{err}"
    );

    // Inserting somewhere other than after the head is refused as well.
    let err = conn
        .execute(
            "INSERT INTO audit_log (seq, workload, revision, at_ms, kind, payload, prev_hash, hash)
             VALUES (100, 'web', 'x', 1, 'decision', '{}', ?1, ?1)",
            [canaryd_store::GENESIS_HASH],
        )
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");

    // And the head can neither be deleted nor moved backwards.
    let err = conn.execute("DELETE FROM audit_head", []).unwrap_err();
    assert!(
        err.to_string().contains("audit_head is append-only"),
        "{err}"
    );
    let err = conn
        .execute("UPDATE audit_head SET last_seq = last_seq - 2", [])
        .unwrap_err();
    assert!(
        err.to_string().contains("audit_head is append-only"),
        "{err}"
    );

    assert!(matches!(
        store.verify_audit().unwrap(),
        AuditReport::Intact { entries: N_U64, .. }
    ));
}

// ---- edits ---------------------------------------------------------------------

#[test]
fn edited_payload_is_altered() {
    let (_dir, _path, store, conn) = tampered();
    let victim = entry_at(&store, 4);
    set_column(
        &conn,
        "payload",
        4,
        r#"{"at":1004,"note":"nothing to see"}"#,
    );
    let b = assert_break(&store, AuditProblem::Altered, 4);
    assert!(b.detail.contains(&victim.workload), "{b}");
    assert!(b.detail.contains(&victim.revision), "{b}");
    assert!(b.detail.contains(victim.kind.as_str()), "{b}");
}

#[test]
fn every_edited_field_is_altered() {
    for column in ["workload", "revision", "kind", "at_ms"] {
        let (_dir, _path, store, conn) = tampered();
        let sql = match column {
            // Another valid kind, so that the row still decodes.
            "kind" => {
                "UPDATE audit_log SET kind = CASE kind WHEN 'approval' THEN 'action' \
                       ELSE 'approval' END WHERE seq = 6"
            }
            "at_ms" => "UPDATE audit_log SET at_ms = at_ms + 1 WHERE seq = 6",
            "workload" => "UPDATE audit_log SET workload = 'api' WHERE seq = 6",
            _ => "UPDATE audit_log SET revision = 'forged' WHERE seq = 6",
        };
        conn.execute(sql, []).unwrap();
        let b = broken(&store);
        assert_eq!(
            (b.problem, b.seq),
            (AuditProblem::Altered, 6),
            "{column}: {b}"
        );
    }
}

#[test]
fn rewritten_hash_column_is_altered() {
    let (_dir, _path, store, conn) = tampered();
    set_column(&conn, "hash", 5, &"ab".repeat(32));
    assert_break(&store, AuditProblem::Altered, 5);
}

#[test]
fn rewritten_prev_hash_column_is_altered() {
    let (_dir, _path, store, conn) = tampered();
    set_column(&conn, "prev_hash", 5, &"cd".repeat(32));
    assert_break(&store, AuditProblem::Altered, 5);
}

#[test]
fn editing_the_first_and_the_last_entry_is_detected() {
    let (_dir, _path, store, conn) = tampered();
    set_column(&conn, "payload", 1, "{}");
    assert_break(&store, AuditProblem::Altered, 1);

    let (_dir, _path, store, conn) = tampered();
    set_column(&conn, "payload", N, "{}");
    assert_break(&store, AuditProblem::Altered, N);
}

// ---- removals ------------------------------------------------------------------

#[test]
fn deleted_middle_row_is_removed() {
    let (_dir, _path, store, conn) = tampered();
    conn.execute("DELETE FROM audit_log WHERE seq = 5", [])
        .unwrap();
    let b = assert_break(&store, AuditProblem::Removed, 5);
    assert!(
        b.detail.contains("#6"),
        "names the entry after the gap: {b}"
    );
}

#[test]
fn deleted_rows_with_renumbering_are_removed() {
    let (_dir, _path, store, conn) = tampered();
    conn.execute_batch(
        "DELETE FROM audit_log WHERE seq IN (5, 6);
         UPDATE audit_log SET seq = -seq WHERE seq > 6;
         UPDATE audit_log SET seq = -seq - 2 WHERE seq < 0;
         UPDATE audit_head SET last_seq = last_seq - 2,
             last_hash = (SELECT hash FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log));",
    )
    .unwrap();
    assert_break(&store, AuditProblem::Removed, 5);
}

#[test]
fn deleted_first_row_is_removed() {
    let (_dir, _path, store, conn) = tampered();
    conn.execute("DELETE FROM audit_log WHERE seq = 1", [])
        .unwrap();
    assert_break(&store, AuditProblem::Removed, 1);
}

#[test]
fn deleted_tail_is_truncated() {
    let (_dir, _path, store, conn) = tampered();
    conn.execute("DELETE FROM audit_log WHERE seq > ?1", [N - 2])
        .unwrap();
    let b = assert_break(&store, AuditProblem::Truncated, N - 1);
    assert!(b.detail.contains(&format!("#{N}")), "{b}");

    let (_dir, _path, store, conn) = tampered();
    conn.execute("DELETE FROM audit_log WHERE seq = ?1", [N])
        .unwrap();
    assert_break(&store, AuditProblem::Truncated, N);
}

#[test]
fn deleting_everything_is_truncated() {
    let (_dir, _path, store, conn) = tampered();
    conn.execute("DELETE FROM audit_log", []).unwrap();
    assert_break(&store, AuditProblem::Truncated, 1);
}

/// The documented limitation: with the head rewritten as well, a truncated log is
/// indistinguishable from a shorter one.
#[test]
fn truncation_with_a_rewritten_head_is_not_detectable() {
    let (_dir, _path, store, conn) = tampered();
    conn.execute_batch(
        "DELETE FROM audit_log WHERE seq > 7;
         UPDATE audit_head SET last_seq = 7, last_hash = (SELECT hash FROM audit_log WHERE seq = 7);",
    )
    .unwrap();
    let seventh = entry_at(&store, 7);
    assert_eq!(
        store.verify_audit().unwrap(),
        AuditReport::Intact {
            entries: 7,
            head_hash: seventh.hash
        }
    );
}

// ---- reordering ----------------------------------------------------------------

#[test]
fn swapped_seq_numbers_are_reordered() {
    let (_dir, _path, store, conn) = tampered();
    swap_seq(&conn, 3, 7);
    let b = assert_break(&store, AuditProblem::Reordered, 3);
    assert!(b.detail.contains("#7"), "says where it came from: {b}");
}

#[test]
fn swapped_adjacent_seq_numbers_are_reordered() {
    let (_dir, _path, store, conn) = tampered();
    swap_seq(&conn, 4, 5);
    assert_break(&store, AuditProblem::Reordered, 4);
}

#[test]
fn swapped_payloads_are_reordered() {
    let (_dir, _path, store, conn) = tampered();
    let (p3, p7) = (column(&conn, "payload", 3), column(&conn, "payload", 7));
    set_column(&conn, "payload", 3, &p7);
    set_column(&conn, "payload", 7, &p3);
    let b = assert_break(&store, AuditProblem::Reordered, 3);
    assert!(b.detail.contains("#7"), "{b}");
}

#[test]
fn swapped_contents_are_reordered() {
    for with_hashes in [false, true] {
        let (_dir, _path, store, conn) = tampered();
        let mut columns = vec!["workload", "revision", "kind", "payload"];
        if with_hashes {
            columns.extend(["prev_hash", "hash"]);
        }
        for col in columns {
            let (a, b) = (column(&conn, col, 2), column(&conn, col, 8));
            set_column(&conn, col, 2, &b);
            set_column(&conn, col, 8, &a);
        }
        conn.execute_batch(
            "UPDATE audit_log SET at_ms = -at_ms WHERE seq IN (2, 8);
             UPDATE audit_log SET at_ms = CASE seq WHEN 2 THEN 1008 ELSE 1002 END
                 WHERE seq IN (2, 8);",
        )
        .unwrap();
        let b = broken(&store);
        assert_eq!(
            (b.problem, b.seq),
            (AuditProblem::Reordered, 2),
            "hashes moved: {with_hashes}: {b}"
        );
    }
}

#[test]
fn entry_moved_far_away_is_reordered() {
    let (_dir, _path, store, conn) = tampered();
    conn.execute_batch("UPDATE audit_log SET seq = 3000 WHERE seq = 3;")
        .unwrap();
    // #3000 lies beyond the head too, but the first problem is the hole at #3.
    assert_break(&store, AuditProblem::Reordered, 3);
}

// ---- insertions ----------------------------------------------------------------

#[test]
fn forged_row_appended_is_inserted() {
    let (_dir, _path, store, conn) = tampered();
    let last = entry_at(&store, N);
    conn.execute(
        "INSERT INTO audit_log (seq, workload, revision, at_ms, kind, payload, prev_hash, hash)
         VALUES (?1, 'web', 'rev0', 5000, 'approval', '{\"by\":\"mallory\"}', ?2, ?3)",
        rusqlite::params![N + 1, last.hash, "ee".repeat(32)],
    )
    .unwrap();
    assert_break(&store, AuditProblem::Inserted, N + 1);
}

#[test]
fn correctly_hashed_row_appended_without_the_head_is_inserted() {
    let (_dir, _path, store, conn) = tampered();
    let last = entry_at(&store, N);
    let forged = forge(N + 1, &last.hash);
    insert(&conn, &forged);
    assert_break(&store, AuditProblem::Inserted, N + 1);
}

fn forge(seq: i64, prev_hash: &str) -> AuditEntry {
    let mut forged = AuditEntry {
        seq,
        workload: "web".into(),
        revision: "rev0".into(),
        at_ms: 5_000,
        kind: AuditKind::Approval,
        payload: serde_json::json!({"approved_by": "mallory"}),
        prev_hash: prev_hash.to_owned(),
        hash: String::new(),
    };
    forged.hash = forged.compute_hash();
    forged
}

fn insert(conn: &Connection, e: &AuditEntry) {
    conn.execute(
        "INSERT INTO audit_log (seq, workload, revision, at_ms, kind, payload, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        rusqlite::params![
            e.seq,
            e.workload,
            e.revision,
            e.at_ms,
            e.kind.as_str(),
            e.payload.to_string(),
            e.prev_hash,
            e.hash
        ],
    )
    .unwrap();
}

fn shift_up_from(conn: &Connection, seq: i64) {
    conn.execute("UPDATE audit_log SET seq = -seq WHERE seq >= ?1", [seq])
        .unwrap();
    conn.execute("UPDATE audit_log SET seq = -seq + 1 WHERE seq < 0", [])
        .unwrap();
    conn.execute(
        "UPDATE audit_head SET last_seq = last_seq + 1,
             last_hash = (SELECT hash FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log))",
        [],
    )
    .unwrap();
}

#[test]
fn forged_row_slipped_into_the_middle_is_inserted() {
    let (_dir, _path, store, conn) = tampered();
    let fourth = entry_at(&store, 4);
    shift_up_from(&conn, 5);
    let mut forged = forge(5, &fourth.hash);
    forged.hash = "12".repeat(32); // made up
    insert(&conn, &forged);
    assert_break(&store, AuditProblem::Inserted, 5);
}

#[test]
fn correctly_hashed_row_slipped_into_the_middle_is_inserted() {
    let (_dir, _path, store, conn) = tampered();
    let fourth = entry_at(&store, 4);
    shift_up_from(&conn, 5);
    insert(&conn, &forge(5, &fourth.hash));
    let b = assert_break(&store, AuditProblem::Inserted, 5);
    assert!(b.detail.contains("#6"), "{b}");
}

#[test]
fn forged_row_with_made_up_links_is_detected() {
    let (_dir, _path, store, conn) = tampered();
    shift_up_from(&conn, 5);
    let forged = forge(5, &"77".repeat(32));
    insert(&conn, &forged);
    assert_break(&store, AuditProblem::Inserted, 5);
}

// ---- garbage -------------------------------------------------------------------

#[test]
fn garbage_in_text_columns_is_unreadable() {
    for (col, value) in [
        ("hash", "zzzz-not-a-hash"),
        ("hash", ""),
        ("prev_hash", "XYZ"),
        ("hash", &"AB".repeat(32)), // upper case is not the stored form
        ("payload", "{not json"),
        ("payload", ""),
        ("kind", "bogus"),
    ] {
        let (_dir, _path, store, conn) = tampered();
        set_column(&conn, col, 6, value);
        let b = broken(&store);
        assert_eq!(
            (b.problem, b.seq),
            (AuditProblem::Unreadable, 6),
            "{col}={value:?}: {b}"
        );
        assert!(b.detail.contains(col), "names the column: {b}");

        let err = store.audit_entries(None, None).unwrap_err();
        assert!(
            matches!(err, StoreError::CorruptAuditEntry { seq: 6, .. }),
            "{err:?}"
        );
        let err = store.export_audit(Vec::new()).unwrap_err();
        assert!(
            matches!(err, StoreError::CorruptAuditEntry { seq: 6, .. }),
            "{err:?}"
        );
    }
}

/// Replaces audit_log with a non-STRICT copy, so any type can be stored.
fn loosen(conn: &Connection) {
    conn.execute_batch(
        "CREATE TABLE loose (seq INTEGER PRIMARY KEY, workload, revision, at_ms, kind, payload, prev_hash, hash);
         INSERT INTO loose SELECT * FROM audit_log;
         DROP TABLE audit_log;
         ALTER TABLE loose RENAME TO audit_log;",
    )
    .unwrap();
}

#[test]
fn nulls_and_wrong_types_are_unreadable() {
    for (col, value) in [
        ("at_ms", "NULL"),
        ("at_ms", "'yesterday'"),
        ("at_ms", "1.5"),
        ("workload", "42"),
        ("revision", "NULL"),
        ("kind", "X'00'"),
        ("payload", "X'7b7d'"),
        ("prev_hash", "NULL"),
        ("hash", "3.25"),
    ] {
        let (_dir, _path, store, conn) = tampered();
        loosen(&conn);
        conn.execute_batch(&format!(
            "UPDATE audit_log SET {col} = {value} WHERE seq = 3"
        ))
        .unwrap();
        let b = broken(&store);
        assert_eq!(
            (b.problem, b.seq),
            (AuditProblem::Unreadable, 3),
            "{col}={value}: {b}"
        );
        assert!(b.detail.contains(col), "{b}");
    }
}

#[test]
fn tampered_head_is_detected() {
    // Garbage hash in the head.
    let (_dir, _path, store, conn) = tampered();
    conn.execute("UPDATE audit_head SET last_hash = 'nope'", [])
        .unwrap();
    let b = broken(&store);
    assert_eq!((b.problem, b.seq), (AuditProblem::Unreadable, 0), "{b}");
    assert!(b.detail.contains("audit_head.last_hash"), "{b}");
    assert!(
        !b.to_string().contains("#0"),
        "the head is not an entry: {b}"
    );

    // Missing head.
    let (_dir, _path, store, conn) = tampered();
    conn.execute("DELETE FROM audit_head", []).unwrap();
    let b = broken(&store);
    assert_eq!((b.problem, b.seq), (AuditProblem::Unreadable, 0), "{b}");

    // Head pointing to a different (valid-looking) hash for the right entry.
    let (_dir, _path, store, conn) = tampered();
    conn.execute("UPDATE audit_head SET last_hash = ?1", [&"00".repeat(32)])
        .unwrap();
    assert_break(&store, AuditProblem::Altered, N);

    // Head moved back: its hash no longer matches the entry it names.
    let (_dir, _path, store, conn) = tampered();
    conn.execute("UPDATE audit_head SET last_seq = ?1", [N - 3])
        .unwrap();
    assert_break(&store, AuditProblem::Altered, N - 3);
}

#[test]
fn first_problem_is_reported_when_there_are_several() {
    let (_dir, _path, store, conn) = tampered();
    set_column(&conn, "payload", 8, "{}");
    conn.execute("DELETE FROM audit_log WHERE seq = 3", [])
        .unwrap();
    set_column(&conn, "hash", 9, "garbage");
    assert_break(&store, AuditProblem::Removed, 3);
}
