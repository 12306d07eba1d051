mod common;

use std::io::Write;

use canaryd_store::{
    AuditEntry, AuditKind, AuditReport, NewAuditEntry, SqliteStore, StoreError, GENESIS_HASH,
};
use common::{entry, store_with_entries};
use serde_json::json;
use sha2::{Digest, Sha256};

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[test]
fn hash_matches_the_documented_definition() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let stored = store
        .append_audit(NewAuditEntry {
            workload: "web".into(),
            revision: "abc".into(),
            at_ms: 5,
            kind: AuditKind::Decision,
            payload: json!({"z": 1, "a": {"y": [{"b": 2, "a": 1}], "x": null}}),
        })
        .unwrap();
    let canonical = r#"{"at_ms":5,"kind":"decision","payload":{"a":{"x":null,"y":[{"a":1,"b":2}]},"z":1},"revision":"abc","seq":1,"workload":"web"}"#;
    assert_eq!(stored.seq, 1);
    assert_eq!(stored.prev_hash, GENESIS_HASH);
    assert_eq!(GENESIS_HASH, "0".repeat(64));
    assert_eq!(stored.canonical_content(), canonical);
    let input = format!("{GENESIS_HASH}\n{canonical}");
    assert_eq!(stored.content_hash_input(), input);
    assert_eq!(stored.hash, sha256_hex(&input));
    assert_eq!(stored.compute_hash(), stored.hash);

    let second = store
        .append_audit(entry("web", "abc", 6, AuditKind::Action))
        .unwrap();
    assert_eq!(second.seq, 2);
    assert_eq!(second.prev_hash, stored.hash);
    assert!(second
        .content_hash_input()
        .starts_with(&format!("{}\n", stored.hash)));
}

#[test]
fn payload_key_order_does_not_matter() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let a = store
        .append_audit(NewAuditEntry {
            workload: "w".into(),
            revision: "r".into(),
            at_ms: 1,
            kind: AuditKind::Approval,
            payload: serde_json::from_str(r#"{"b":1,"a":{"d":2,"c":3}}"#).unwrap(),
        })
        .unwrap();
    let b = store
        .append_audit(NewAuditEntry {
            workload: "w".into(),
            revision: "r".into(),
            at_ms: 1,
            kind: AuditKind::Approval,
            payload: serde_json::from_str(r#"{"a":{"c":3,"d":2},"b":1}"#).unwrap(),
        })
        .unwrap();
    assert_eq!(
        a.canonical_content().replace("\"seq\":1", ""),
        b.canonical_content().replace("\"seq\":2", "")
    );
    assert_eq!(
        canaryd_store::canonical_json(&b.payload),
        r#"{"a":{"c":3,"d":2},"b":1}"#
    );
}

#[test]
fn audit_kind_names_round_trip() {
    for kind in AuditKind::ALL {
        assert_eq!(kind.as_str().parse::<AuditKind>().unwrap(), kind);
        assert_eq!(
            serde_json::to_value(kind).unwrap(),
            json!(kind.as_str()),
            "serde and as_str agree"
        );
    }
    assert_eq!(AuditKind::WindowVerdict.as_str(), "window_verdict");
    let err = "WindowVerdict".parse::<AuditKind>().unwrap_err();
    assert!(err.to_string().contains("window_verdict"), "{err}");
}

#[test]
fn audit_entries_filter_and_order() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    for (w, r) in [("web", "a"), ("api", "a"), ("web", "b"), ("web", "a")] {
        store
            .append_audit(entry(w, r, 1, AuditKind::Decision))
            .unwrap();
    }
    let seqs = |w: Option<&str>, r: Option<&str>| -> Vec<i64> {
        store
            .audit_entries(w, r)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect()
    };
    assert_eq!(seqs(None, None), [1, 2, 3, 4]);
    assert_eq!(seqs(Some("web"), None), [1, 3, 4]);
    assert_eq!(seqs(Some("web"), Some("a")), [1, 4]);
    assert_eq!(seqs(None, Some("a")), [1, 2, 4]);
    assert_eq!(seqs(Some("db"), None), Vec::<i64>::new());
}

#[test]
fn empty_log_is_intact() {
    let store = SqliteStore::open_in_memory().unwrap();
    assert_eq!(
        store.verify_audit().unwrap(),
        AuditReport::Intact {
            entries: 0,
            head_hash: GENESIS_HASH.to_owned()
        }
    );
}

#[test]
fn thousand_entries_verify_with_count_and_head_hash() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let mut last = None;
    for i in 0..1_000 {
        let kind = AuditKind::ALL[i % AuditKind::ALL.len()];
        let mut e = entry("web", &format!("rev{}", i % 7), i as i64, kind);
        e.payload = json!({"i": i, "weight": i % 100, "nested": {"b": [i, "x"], "a": 0.5}});
        last = Some(store.append_audit(e).unwrap());
    }
    let last = last.unwrap();
    assert_eq!(last.seq, 1_000);
    assert_eq!(
        store.verify_audit().unwrap(),
        AuditReport::Intact {
            entries: 1_000,
            head_hash: last.hash.clone()
        }
    );
    // Every stored link is consistent with the entries the API returns.
    let all = store.audit_entries(None, None).unwrap();
    assert_eq!(all.len(), 1_000);
    for pair in all.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
        assert_eq!(pair[1].compute_hash(), pair[1].hash);
    }
}

#[test]
fn export_writes_one_json_object_per_entry() {
    let (_dir, _path, mut store) = store_with_entries(25);
    store
        .append_audit(NewAuditEntry {
            workload: "web".into(),
            revision: "multi\nline".into(),
            at_ms: 9,
            kind: AuditKind::Notification,
            payload: json!({"text": "line one\nline two", "emoji": "🚀"}),
        })
        .unwrap();
    let mut out = Vec::new();
    let written = store.export_audit(&mut out).unwrap();
    assert_eq!(written, 26);

    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 26);
    assert!(text.ends_with('\n'));
    let stored = store.audit_entries(None, None).unwrap();
    let mut prev = GENESIS_HASH.to_owned();
    for (line, expected) in lines.iter().zip(&stored) {
        let object: serde_json::Value = serde_json::from_str(line).unwrap();
        for field in [
            "seq",
            "workload",
            "revision",
            "at_ms",
            "kind",
            "payload",
            "prev_hash",
            "hash",
        ] {
            assert!(object.get(field).is_some(), "{field} missing in {line}");
        }
        let parsed: AuditEntry = serde_json::from_value(object).unwrap();
        assert_eq!(&parsed, expected);
        // The export alone is enough to re-verify the chain.
        assert_eq!(parsed.prev_hash, prev);
        assert_eq!(sha256_hex(&parsed.content_hash_input()), parsed.hash);
        prev = parsed.hash;
    }
}

#[test]
fn export_of_an_empty_log_writes_nothing() {
    let store = SqliteStore::open_in_memory().unwrap();
    let mut out = Vec::new();
    assert_eq!(store.export_audit(&mut out).unwrap(), 0);
    assert!(out.is_empty());
}

struct FailingWriter;

impl Write for FailingWriter {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("disk full"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Err(std::io::Error::other("disk full"))
    }
}

#[test]
fn export_reports_write_failures() {
    let (_dir, _path, store) = store_with_entries(3);
    let err = store.export_audit(FailingWriter).unwrap_err();
    assert!(matches!(err, StoreError::Export { .. }), "{err:?}");
    assert!(err.to_string().contains("disk full"), "{err}");
}
