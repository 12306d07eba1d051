//! Verifying the audit chain.
//!
//! The walk goes through `audit_log` in `seq` order and stops at the first entry
//! that is not exactly what canaryd wrote. Detection is strict: every entry must be
//! decodable, numbered `1, 2, 3, …` without gaps, link to its predecessor's hash,
//! hash to its own stored hash, and the last one must be the one `audit_head`
//! records. Classification (which kind of tampering) is best-effort and only runs
//! once a break has been found: it scans the table to find where a misplaced
//! entry came from, which costs O(n) per question but nothing on an intact log.
//!
//! Rows are streamed (with one row of lookahead), so verifying a large log needs
//! little memory.

use std::fmt;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Rows};

use super::chain::{is_hash_hex, GENESIS_HASH};
use super::raw::{describe as describe_value, RawRow, COLUMNS};
use super::AuditEntry;
use crate::error::{sql_err, StoreError};
use crate::SqliteStore;

/// Outcome of [`SqliteStore::verify_audit`].
#[derive(Debug, Clone, PartialEq)]
pub enum AuditReport {
    /// Every entry verified. `head_hash` is the newest entry's hash (the genesis
    /// hash for an empty log); recording it elsewhere (a ticket, another system)
    /// lets a later verification prove that nothing was rewritten since.
    Intact {
        /// How many entries were checked.
        entries: u64,
        /// The newest entry's hash.
        head_hash: String,
    },
    /// The first problem found, walking in sequence order.
    Broken(AuditBreak),
}

impl fmt::Display for AuditReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditReport::Intact { entries, head_hash } => {
                write!(
                    f,
                    "audit log intact: {entries} entries, head hash {head_hash}"
                )
            }
            AuditReport::Broken(problem) => problem.fmt(f),
        }
    }
}

/// The first place where the audit log differs from what canaryd wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditBreak {
    /// The first bad entry (for [`AuditProblem::Removed`] and
    /// [`AuditProblem::Truncated`]: the first missing one). 0 when the problem is
    /// the `audit_head` record itself.
    pub seq: i64,
    /// What kind of tampering (or damage) it looks like.
    pub problem: AuditProblem,
    /// What was found, naming the entry (workload, revision, kind) and the hashes.
    pub detail: String,
}

impl fmt::Display for AuditBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.seq < 1 {
            // The head record itself, or a row numbered before the first entry.
            write!(
                f,
                "audit log tampered with ({}): {}",
                self.problem, self.detail
            )?;
        } else {
            write!(
                f,
                "audit log tampered with ({} at entry #{}): {}",
                self.problem, self.seq, self.detail
            )?;
            match self.seq {
                1 => {}
                2 => f.write_str("; entry #1 is intact")?,
                seq => write!(f, "; entries #1..#{} are intact", seq - 1)?,
            }
        }
        f.write_str("; compare with an earlier export or a backup to see what changed")
    }
}

/// The kind of tampering found. Classification is best-effort; detection is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditProblem {
    /// An entry's content or hashes were edited.
    Altered,
    /// Entries are missing from the middle of the log.
    Removed,
    /// Entries are in the wrong place (swapped sequence numbers or contents).
    Reordered,
    /// An entry canaryd did not write was added.
    Inserted,
    /// Entries are missing from the end (`audit_head` records more).
    Truncated,
    /// An entry (or `audit_head`) cannot even be decoded: NULLs, wrong types,
    /// invalid JSON, malformed hashes, unknown kinds.
    Unreadable,
}

impl AuditProblem {
    /// The one-word name used in reports and machine-readable output.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditProblem::Altered => "altered",
            AuditProblem::Removed => "removed",
            AuditProblem::Reordered => "reordered",
            AuditProblem::Inserted => "inserted",
            AuditProblem::Truncated => "truncated",
            AuditProblem::Unreadable => "unreadable",
        }
    }
}

impl fmt::Display for AuditProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl SqliteStore {
    /// Walks the whole chain and reports the first problem, or that it is intact.
    ///
    /// Never fails because of what is *in* the log: garbage (NULLs, wrong types,
    /// invalid JSON, malformed hashes) is reported as tampering of that entry. It
    /// only errors when the database itself cannot be read (e.g. a dropped table).
    pub fn verify_audit(&self) -> Result<AuditReport, StoreError> {
        // One snapshot for the head and the walk: otherwise an append by another
        // process between the two reads would look like tampering.
        let tx = self.read_tx("verifying the audit log")?;
        let report = Verifier {
            conn: &tx,
            db: &self.db,
        }
        .run()?;
        drop(tx);
        Ok(report)
    }
}

/// The head record, decoded.
struct Head {
    last_seq: i64,
    last_hash: String,
}

struct Verifier<'a> {
    conn: &'a Connection,
    db: &'a str,
}

/// A finding before it is turned into an [`AuditBreak`].
type Finding = (i64, AuditProblem, String);

impl Verifier<'_> {
    fn err(&self) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        sql_err(self.db, || "verifying the audit log".to_owned())
    }

    fn run(&self) -> Result<AuditReport, StoreError> {
        let head = match self.head()? {
            Ok(head) => head,
            Err(detail) => {
                return Ok(AuditReport::Broken(AuditBreak {
                    seq: 0,
                    problem: AuditProblem::Unreadable,
                    detail,
                }))
            }
        };
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq"))
            .map_err(self.err())?;
        let mut rows = stmt.query([]).map_err(self.err())?;

        let mut expected_seq: i64 = 1;
        let mut expected_prev = GENESIS_HASH.to_owned();
        let mut upcoming = self.fetch(&mut rows)?;
        while let Some(raw) = upcoming.take() {
            upcoming = self.fetch(&mut rows)?;
            let next_prev = upcoming.as_ref().and_then(RawRow::prev_hash_text);
            let step = Step {
                head: &head,
                expected_seq,
                expected_prev: &expected_prev,
                next_prev,
            };
            let entry = match self.check(&step, &raw)? {
                Ok(entry) => entry,
                Err((seq, problem, detail)) => {
                    return Ok(AuditReport::Broken(AuditBreak {
                        seq,
                        problem,
                        detail,
                    }))
                }
            };
            expected_seq = entry.seq + 1;
            expected_prev = entry.hash;
        }

        let count = expected_seq - 1;
        if count < head.last_seq {
            let missing = range(count + 1, head.last_seq, ("was", "were"));
            let ends = if count == 0 {
                "The log is empty".to_owned()
            } else {
                format!("The log ends at entry #{count}")
            };
            return Ok(AuditReport::Broken(AuditBreak {
                seq: count + 1,
                problem: AuditProblem::Truncated,
                detail: format!(
                    "{ends}, but audit_head records #{} (hash {}) as the newest entry. \
                     {missing} deleted from the end",
                    head.last_seq,
                    short(&head.last_hash)
                ),
            }));
        }
        if count == 0 && head.last_hash != GENESIS_HASH {
            return Ok(AuditReport::Broken(AuditBreak {
                seq: 0,
                problem: AuditProblem::Altered,
                detail: format!(
                    "the log is empty and audit_head records no entries, but its hash {} is not \
                     the genesis hash: audit_head was rewritten",
                    short(&head.last_hash)
                ),
            }));
        }
        Ok(AuditReport::Intact {
            entries: u64::try_from(count).unwrap_or_default(),
            head_hash: expected_prev,
        })
    }

    fn fetch(&self, rows: &mut Rows<'_>) -> Result<Option<RawRow>, StoreError> {
        match rows.next().map_err(self.err())? {
            Some(row) => Ok(Some(RawRow::from_row(row).map_err(self.err())?)),
            None => Ok(None),
        }
    }

    /// Reads `audit_head`, or describes why it is unusable.
    fn head(&self) -> Result<Result<Head, String>, StoreError> {
        let row: Option<(SqlValue, SqlValue)> = self
            .conn
            .query_row(
                "SELECT last_seq, last_hash FROM audit_head WHERE id = 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(self.err())?;
        let Some((last_seq, last_hash)) = row else {
            const MISSING: &str = "the audit_head record is missing (deleted outside \
                                   canaryd), so deletions at the end of the log cannot be ruled out";
            return Ok(Err(MISSING.to_owned()));
        };
        let last_seq = match last_seq {
            SqlValue::Integer(seq) if seq >= 0 => seq,
            other => {
                return Ok(Err(format!(
                    "audit_head.last_seq is {}, not a sequence number: it was rewritten \
                     outside canaryd",
                    describe_value(&other)
                )))
            }
        };
        match last_hash {
            SqlValue::Text(hash) if is_hash_hex(&hash) => Ok(Ok(Head {
                last_seq,
                last_hash: hash,
            })),
            other => Ok(Err(format!(
                "audit_head.last_hash is {}, not a SHA-256 hash: it was rewritten outside canaryd",
                describe_value(&other)
            ))),
        }
    }

    /// Checks one row against the chain so far; returns the decoded entry if it is
    /// exactly what canaryd wrote at this position, or the classified problem.
    fn check(
        &self,
        step: &Step<'_>,
        raw: &RawRow,
    ) -> Result<Result<AuditEntry, Finding>, StoreError> {
        let entry = match raw.decode() {
            Ok(entry) => entry,
            Err(why) => {
                return Ok(Err((
                    raw.seq,
                    AuditProblem::Unreadable,
                    format!("{} cannot be decoded: {why}", raw.label()),
                )))
            }
        };
        let name = describe(&entry);
        let head = step.head;

        if entry.seq < step.expected_seq {
            // Only possible for the first row: canaryd numbers from 1.
            return Ok(Err((
                entry.seq,
                AuditProblem::Inserted,
                format!("{name} has a sequence number below 1; canaryd numbers entries from #1"),
            )));
        }
        if entry.seq > head.last_seq {
            return Ok(Err((
                entry.seq,
                AuditProblem::Inserted,
                format!(
                    "{name} is not covered by audit_head, which records #{} as the newest \
                     entry: it was added outside canaryd",
                    head.last_seq
                ),
            )));
        }
        if entry.seq > step.expected_seq {
            return self.gap(step, &entry).map(Err);
        }
        if entry.prev_hash != step.expected_prev {
            return self.broken_link(step, &entry).map(Err);
        }
        let computed = entry.compute_hash();
        if computed != entry.hash {
            return self.hash_mismatch(step, &entry, &computed).map(Err);
        }
        if entry.seq == head.last_seq && entry.hash != head.last_hash {
            return Ok(Err((
                entry.seq,
                AuditProblem::Altered,
                format!(
                    "{name} is the newest entry, but its hash {} differs from the hash {} \
                     recorded in audit_head: the entry or the head was rewritten",
                    short(&entry.hash),
                    short(&head.last_hash)
                ),
            )));
        }
        Ok(Ok(entry))
    }

    /// `entry` comes after a gap in the numbering.
    fn gap(&self, step: &Step<'_>, entry: &AuditEntry) -> Result<Finding, StoreError> {
        let expected = step.expected_seq;
        if let Some(moved) = self.find_written_at(expected)? {
            return Ok((
                expected,
                AuditProblem::Reordered,
                format!(
                    "entry #{expected} is not in its place: {} was written as #{expected}",
                    describe(&moved)
                ),
            ));
        }
        Ok((
            expected,
            AuditProblem::Removed,
            format!(
                "{} missing: {} follows {}",
                range(expected, entry.seq - 1, ("is", "are")),
                describe(entry),
                predecessor(expected)
            ),
        ))
    }

    /// `entry` is numbered correctly but does not link to its predecessor's hash.
    fn broken_link(&self, step: &Step<'_>, entry: &AuditEntry) -> Result<Finding, StoreError> {
        let seq = entry.seq;
        let name = describe(entry);
        let written_as = self.written_as(entry, step.head.last_seq)?;
        let followed = self.find_by_hash(&entry.prev_hash, seq)?;

        if let Some(original) = written_as.filter(|&w| w != seq) {
            if original < seq {
                // Written earlier than where it sits: entries were slipped in before
                // it. The first inserted one directly follows the entry it links to.
                let first_inserted = followed
                    .as_ref()
                    .map_or(original, |f| f.seq.saturating_add(1));
                if first_inserted < seq {
                    return Ok((
                        first_inserted,
                        AuditProblem::Inserted,
                        format!(
                            "{} inserted: {name} was written as #{original}, directly after {}",
                            range(first_inserted, seq - 1, ("was", "were")),
                            followed
                                .as_ref()
                                .map_or_else(|| predecessor(original), describe)
                        ),
                    ));
                }
            }
            return Ok(match followed {
                Some(followed) => (
                    seq,
                    AuditProblem::Reordered,
                    format!(
                        "{name} was written as #{original} (it links to the entry now at #{}): \
                         entries were reordered",
                        followed.seq
                    ),
                ),
                None => (
                    seq,
                    AuditProblem::Removed,
                    format!(
                        "{name} was written as #{original}, and the entry it followed (hash {}) \
                         no longer exists: entries before it were deleted and the rest renumbered",
                        short(&entry.prev_hash)
                    ),
                ),
            });
        }
        if step.next_prev == Some(step.expected_prev) {
            return Ok((
                seq,
                AuditProblem::Inserted,
                format!(
                    "{name} is not part of the chain: the entry after it links directly to {}",
                    predecessor(seq)
                ),
            ));
        }
        let consistency = if written_as.is_some() {
            "yet its own hash is consistent: it was re-forged"
        } else {
            "and its own hash does not verify either: it was edited"
        };
        Ok((
            seq,
            AuditProblem::Altered,
            format!(
                "{name} has prev_hash {}, but {} has hash {}, {consistency}",
                short(&entry.prev_hash),
                predecessor(seq),
                short(step.expected_prev)
            ),
        ))
    }

    /// `entry` is in place and linked, but its content does not hash to its hash.
    fn hash_mismatch(
        &self,
        step: &Step<'_>,
        entry: &AuditEntry,
        computed: &str,
    ) -> Result<Finding, StoreError> {
        let seq = entry.seq;
        let name = describe(entry);
        if step.next_prev == Some(step.expected_prev) {
            return Ok((
                seq,
                AuditProblem::Inserted,
                format!(
                    "{name} is not part of the chain: its hash does not verify and the entry \
                     after it links directly to {}",
                    predecessor(seq)
                ),
            ));
        }
        if let Some(partner) = self.find_swap_partner(entry)? {
            let what = if partner.whole { "content" } else { "payload" };
            return Ok((
                seq,
                AuditProblem::Reordered,
                format!(
                    "{name} holds the {what} written for entry #{}, which does not verify \
                     either: the {what}s of the two entries were swapped",
                    partner.seq
                ),
            ));
        }
        let edited = if step.next_prev == Some(entry.hash.as_str()) {
            "its content was edited after it was written"
        } else {
            "its content or its hash column was rewritten"
        };
        Ok((
            seq,
            AuditProblem::Altered,
            format!(
                "{name} does not verify: {edited} (content hashes to {}, stored hash is {})",
                short(computed),
                short(&entry.hash)
            ),
        ))
    }

    /// The sequence number at which `entry`'s stored hash verifies given its own
    /// `prev_hash` (the hash covers `seq`, so a moved entry gives away where it was
    /// written). Tries its current position first.
    fn written_as(&self, entry: &AuditEntry, head_seq: i64) -> Result<Option<i64>, StoreError> {
        if entry.compute_hash() == entry.hash {
            return Ok(Some(entry.seq));
        }
        let max_seq: Option<i64> = self
            .conn
            .query_row("SELECT max(seq) FROM audit_log", [], |row| row.get(0))
            .map_err(self.err())?;
        let count: i64 = self
            .conn
            .query_row("SELECT count(*) FROM audit_log", [], |row| row.get(0))
            .map_err(self.err())?;
        // canaryd wrote no entry beyond the newest one, so the largest stored seq or
        // the head bounds the search. Both may be forged (seq 9e18 would make this
        // loop endless), so the search is also capped relative to the log's size:
        // this is classification only, detection has already happened.
        let cap = count.saturating_mul(2).saturating_add(1_000);
        let upper = max_seq.unwrap_or(0).max(head_seq).min(cap);
        Ok((1..=upper).find(|&candidate| {
            candidate != entry.seq
                && entry.content_at(candidate).hash(&entry.prev_hash) == entry.hash
        }))
    }

    /// The decodable entry (other than `#except`) whose stored hash is `hash`.
    fn find_by_hash(&self, hash: &str, except: i64) -> Result<Option<AuditEntry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM audit_log WHERE hash = ?1 AND seq <> ?2 ORDER BY seq"
            ))
            .map_err(self.err())?;
        let mut rows = stmt
            .query(rusqlite::params![hash, except])
            .map_err(self.err())?;
        while let Some(raw) = self.fetch(&mut rows)? {
            if let Ok(entry) = raw.decode() {
                return Ok(Some(entry));
            }
        }
        Ok(None)
    }

    /// A stored entry, now at another position, whose hash verifies as `#seq`.
    fn find_written_at(&self, seq: i64) -> Result<Option<AuditEntry>, StoreError> {
        self.scan(|entry| {
            entry.seq != seq && entry.content_at(seq).hash(&entry.prev_hash) == entry.hash
        })
    }

    /// Another entry that no longer verifies either, and for whose position
    /// `entry`'s content (or just its payload) does: evidence that the two swapped
    /// contents. Entries that still verify are ignored, so an edit that happens to
    /// resemble another entry is never misreported as a swap.
    fn find_swap_partner(&self, entry: &AuditEntry) -> Result<Option<SwapPartner>, StoreError> {
        let mut whole = false;
        let found = self.scan(|other| {
            if other.seq == entry.seq || other.compute_hash() == other.hash {
                return false;
            }
            if entry.content_at(other.seq).hash(&other.prev_hash) == other.hash {
                whole = true;
                return true;
            }
            let mut with_payload = other.content();
            with_payload.payload = &entry.payload;
            with_payload.hash(&other.prev_hash) == other.hash
        })?;
        Ok(found.map(|other| SwapPartner {
            seq: other.seq,
            whole,
        }))
    }

    /// The first decodable entry (in `seq` order) matching `predicate`.
    fn scan(
        &self,
        mut predicate: impl FnMut(&AuditEntry) -> bool,
    ) -> Result<Option<AuditEntry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq"))
            .map_err(self.err())?;
        let mut rows = stmt.query([]).map_err(self.err())?;
        while let Some(raw) = self.fetch(&mut rows)? {
            if let Ok(entry) = raw.decode() {
                if predicate(&entry) {
                    return Ok(Some(entry));
                }
            }
        }
        Ok(None)
    }
}

/// What the walk knows when it looks at one row.
struct Step<'a> {
    head: &'a Head,
    expected_seq: i64,
    /// Hash of the last verified entry (genesis before the first).
    expected_prev: &'a str,
    /// `prev_hash` of the row after the current one, if any and readable.
    next_prev: Option<&'a str>,
}

struct SwapPartner {
    seq: i64,
    /// The whole content (not just the payload) was swapped.
    whole: bool,
}

/// "entry #5 (decision, rollout web@abc123)": how an entry is named in reports.
fn describe(entry: &AuditEntry) -> String {
    format!(
        "entry #{} ({}, rollout {}@{})",
        entry.seq, entry.kind, entry.workload, entry.revision
    )
}

/// What entry `#seq` should follow.
fn predecessor(seq: i64) -> String {
    if seq <= 1 {
        "the start of the log".to_owned()
    } else {
        format!("entry #{}", seq - 1)
    }
}

/// "Entry #4 was" / "Entries #4..#7 were" (`verb` is (singular, plural)).
fn range(first: i64, last: i64, verb: (&str, &str)) -> String {
    if first == last {
        format!("Entry #{first} {}", verb.0)
    } else {
        format!("Entries #{first}..#{last} {}", verb.1)
    }
}

/// A hash shortened for messages; 16 hex digits are plenty to find it in an export.
fn short(hash: &str) -> String {
    match hash.get(..16) {
        Some(prefix) if hash.len() > 16 => format!("{prefix}…"),
        _ => hash.to_owned(),
    }
}
