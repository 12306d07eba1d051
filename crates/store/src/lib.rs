//! canaryd's persistent storage, in one SQLite database.
//!
//! The controller loop calls [`SqliteStore::commit`] once per step: in a single
//! transaction it saves the rollout's new state, appends what happened to the audit
//! log and enqueues the side effects to perform. An executor then drains the
//! outbox ([`SqliteStore::pending_effects`], [`SqliteStore::complete_effect`]). Because state,
//! log and intents are written atomically, a crash at any point leaves them
//! consistent, and a re-committed step cannot enqueue an action twice.
//!
//! # Tables
//!
//! | table        | contents                                                                  |
//! |--------------|---------------------------------------------------------------------------|
//! | `rollouts`   | latest state per `(workload, revision)`, upserted by [`SqliteStore::commit`]     |
//! | `outbox`     | effects to execute; `idempotency_key` is unique, `done`/`result` once run   |
//! | `audit_log`  | append-only, hash-chained entries numbered `seq = 1, 2, 3, …`               |
//! | `audit_head` | one row: `last_seq` and `last_hash` of the newest entry                    |
//! | `baseline_cache` | the stable history a source last returned, per workload and route, with its fetch time |
//! | `stable_history` | the stable cohort's traffic a proxy measured, per workload, route and interval |
//! | `proxy_releases` | the stable and canary upstream of each release a proxy took, who released it and why |
//! | `writer_lease` | one row: the process allowed to write (pid, host, since, last renewal; see [`WriterLease`]) |
//!
//! The schema version is kept in `PRAGMA user_version`; a database written by a
//! newer canaryd is refused. Connections use WAL, `synchronous=FULL`, a 5 s busy
//! timeout and foreign keys.
//!
//! # The audit chain
//!
//! Each entry stores the hash of its predecessor (`prev_hash`, 64 zeros for the
//! first) and its own `hash`:
//!
//! ```text
//! hash = hex(SHA-256(prev_hash + "\n" + canonical_content))
//! canonical_content = compact JSON of the object
//!     {"at_ms", "kind", "payload", "revision", "seq", "workload"}
//!     with object keys sorted at every level (the payload included)
//! ```
//!
//! [`AuditEntry::content_hash_input`] returns the exact hashed text, so an export
//! ([`SqliteStore::export_audit`]) can be checked with independent tools.
//!
//! Triggers refuse UPDATE and DELETE on `audit_log`, refuse an INSERT that does not
//! continue from `audit_head`, and only let `audit_head` advance to the newest
//! entry; `audit_head` is advanced in the same transaction as every append. The
//! triggers stop accidents and casual edits; anyone who drops them is caught by
//! the hash chain instead.
//!
//! # What verification detects, and what it cannot
//!
//! [`SqliteStore::verify_audit`] walks the log in `seq` order and reports the first entry
//! that is not what canaryd wrote: edited fields or hashes, deleted entries (a gap
//! or a broken link), moved or swapped entries (the hash covers `seq`), forged
//! entries, entries deleted from the end (`audit_head` records more), and garbage
//! that cannot be decoded. It never panics on what it reads.
//!
//! The chain is unkeyed, so it proves *consistency*, not authorship. Someone with
//! write access who drops the triggers, rewrites entries *and recomputes every
//! later hash and the head* produces a log that verifies. In particular,
//! truncating the log together with rewriting `audit_head` to the new last entry is
//! undetectable from the database alone. Recording the head hash elsewhere (the
//! [`AuditReport::Intact`] head hash, or an export kept off-host) closes that gap:
//! a later head must extend it. Payload hashes also depend on serde_json's number
//! formatting; keep floats out of payloads where exactness matters.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

mod audit;
mod baseline;
mod commit;
mod error;
mod filter;
mod history;
mod lease;
mod outbox;
mod port;
mod releases;
mod rollouts;
mod schema;
mod sqlite;

pub use audit::chain::{canonical_json, GENESIS_HASH};
pub use audit::verify::{AuditBreak, AuditProblem, AuditReport};
pub use audit::{AuditEntry, AuditKind, NewAuditEntry, UnknownAuditKind};
pub use baseline::CachedRoute;
pub use commit::Commit;
pub use error::{KeyConflict, StoreError};
pub use history::HistoryRow;
pub use lease::{LeaseHolder, LeaseRecord, WriterLease};
pub use outbox::{NewEffect, OutboxRow};
pub use port::{LeaseGrant, Store};
pub use releases::Release;
pub use rollouts::{RolloutFilter, RolloutRow};
pub use schema::SCHEMA_VERSION;
pub use sqlite::SqliteStore;
