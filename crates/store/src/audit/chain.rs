//! The hash chain: canonical encoding of an entry and the hash linking it to its
//! predecessor.
//!
//! ```text
//! hash(entry) = hex(SHA-256( prev_hash_hex || "\n" || canonical_content ))
//! canonical_content = compact JSON of {"at_ms","kind","payload","revision","seq","workload"}
//! ```
//!
//! Canonical JSON here means: objects with keys sorted (recursively, payload
//! included), no whitespace, serde_json's number formatting. serde_json's default
//! `Map` is a `BTreeMap`, which already sorts keys; but if any crate in the build
//! enabled serde_json's `preserve_order` feature (features are unified across the
//! whole dependency graph) `Map` would keep insertion order instead and every hash
//! would change. [`canonicalize`] therefore sorts keys itself, which makes the
//! encoding independent of that feature. Do not enable `preserve_order` or
//! `arbitrary_precision` for this crate regardless: the latter changes how numbers
//! are printed, and thus the hashes of entries whose payloads contain floats.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::AuditKind;

/// `prev_hash` of the first entry: 64 zeros (the SHA-256 length in hex).
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Returns `value` with all object keys sorted, recursively.
///
/// Rebuilding the maps in sorted order yields the same serialization whether
/// `Map` is a `BTreeMap` (sorted anyway) or an insertion-ordered map.
pub fn canonicalize(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut sorted = Map::new();
            for (key, inner) in entries {
                sorted.insert(key, canonicalize(inner));
            }
            Value::Object(sorted)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonicalize).collect()),
        scalar => scalar,
    }
}

/// Canonical JSON text of a payload, as stored in `audit_log.payload`.
pub fn canonical_json(value: &Value) -> String {
    // `Display` for `Value` is compact serialization and, unlike `to_string`, infallible.
    canonicalize(value.clone()).to_string()
}

/// The fields of an entry that the chain protects, borrowed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Content<'a> {
    pub seq: i64,
    pub workload: &'a str,
    pub revision: &'a str,
    pub at_ms: i64,
    pub kind: AuditKind,
    pub payload: &'a Value,
}

impl Content<'_> {
    /// The canonical JSON object hashed for this entry.
    pub fn canonical(&self) -> String {
        let mut object = Map::new();
        object.insert("seq".into(), Value::from(self.seq));
        object.insert("workload".into(), Value::from(self.workload));
        object.insert("revision".into(), Value::from(self.revision));
        object.insert("at_ms".into(), Value::from(self.at_ms));
        object.insert("kind".into(), Value::from(self.kind.as_str()));
        object.insert("payload".into(), self.payload.clone());
        canonical_json(&Value::Object(object))
    }

    /// The exact bytes fed to SHA-256: `prev_hash`, a newline, the canonical content.
    pub fn hash_input(&self, prev_hash: &str) -> String {
        let mut input = String::with_capacity(prev_hash.len() + 1 + 128);
        input.push_str(prev_hash);
        input.push('\n');
        input.push_str(&self.canonical());
        input
    }

    /// This entry's chain hash given its predecessor's hash, as lowercase hex.
    pub fn hash(&self, prev_hash: &str) -> String {
        hex::encode(Sha256::digest(self.hash_input(prev_hash).as_bytes()))
    }
}

/// Whether `s` has the shape of a stored hash: 64 lowercase hex digits.
///
/// Only this exact form is accepted: hashes are compared as strings, so an
/// upper-case variant of a correct hash would otherwise be "a different hash".
pub fn is_hash_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
