//! An intact audit log must verify, whatever numbers its payloads carry.
//!
//! Regression: serde_json's default float parser is not exact, so a payload
//! holding e.g. a latency quantile could re-parse one ULP off, re-canonicalize
//! differently, and make `verify` report an untouched entry as altered. The
//! workspace enables serde_json's `float_roundtrip`; this test holds it to that.

use canaryd_store::{AuditKind, AuditReport, NewAuditEntry, SqliteStore};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn payload_floats_never_break_the_chain(values in prop::collection::vec(any::<f64>().prop_filter("finite", |f| f.is_finite()), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        {
            let mut s = SqliteStore::open(&path).unwrap();
            for (i, v) in values.iter().enumerate() {
                s.append_audit(NewAuditEntry {
                    workload: "w".into(),
                    revision: "r".into(),
                    at_ms: i as i64,
                    kind: AuditKind::WindowVerdict,
                    payload: serde_json::json!({"p99": v, "nested": {"values": [v, v / 3.0, v * 1e-7]}}),
                }).unwrap();
            }
        }
        let s = SqliteStore::open(&path).unwrap();
        let report = s.verify_audit().unwrap();
        prop_assert!(matches!(report, AuditReport::Intact { entries, .. } if entries == values.len() as u64), "{report:?}");
    }
}
