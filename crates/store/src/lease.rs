//! The writer lease: one process writes a database at a time.
//!
//! Two `canaryd proxy` processes on one `--db` once drove the same rollout,
//! windows interleaving, one ending "promoted ... serving at 0%". SQLite
//! serialises their transactions but cannot tell that both are *deciding*.
//! So a writing process takes the one row of `writer_lease`, and a second
//! one is refused with the holder's pid, host and start time.
//!
//! A holder that died must not block forever. The lease is *stale*, and is
//! taken over, when
//! - the holder ran on this host and its pid no longer exists (or is our own
//!   pid: a restarted container reuses pid 1, and we hold nothing yet), or
//! - it was not renewed for `ttl_ms` (a holder on another host sharing the
//!   volume, or one that hangs). Holders renew every third of the TTL.
//!
//! Every commit of a [`SqliteStore`](crate::SqliteStore) fenced with the lease's token
//! checks, in its own transaction, that the token still holds the row: a
//! process whose lease was taken over (it hung past the TTL) cannot commit,
//! so it can never act on a decision another process may contradict.
//!
//! Time is an input (`now_ms`), so the TTL rule is tested without waiting.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::error::{sql_err, StoreError};

/// Who asks for the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    /// The holder's process id, checked for liveness on the same host.
    pub pid: u32,
    /// The holder's host name, so a pid is only trusted on the same host.
    pub host: String,
    /// What the holder runs (`canaryd proxy`), for the refusal message.
    pub command: String,
}

/// The stored lease row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    /// Who holds the lease.
    pub holder: LeaseHolder,
    /// When the holder took it (Unix ms).
    pub since_ms: i64,
    /// When the holder last renewed it (Unix ms); too old and another
    /// process may take it over.
    pub renewed_at_ms: i64,
}

/// A lease this process holds, with its own connection so it can be renewed
/// while the driver's connection is busy.
#[derive(Debug)]
pub struct WriterLease {
    conn: Connection,
    db: String,
    token: String,
    record: LeaseRecord,
}

/// Whether a pid exists on this host; `true` when it cannot be told (no
/// `/proc`): then only the TTL frees the lease.
fn pid_alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    Path::new(&format!("/proc/{pid}")).exists()
}

fn is_stale(held: &LeaseRecord, me: &LeaseHolder, now_ms: i64, ttl_ms: i64) -> bool {
    let same_host = held.holder.host == me.host;
    (same_host && (held.holder.pid == me.pid || !pid_alive(held.holder.pid)))
        || now_ms.saturating_sub(held.renewed_at_ms) > ttl_ms
}

fn read(conn: &Connection, db: &str) -> Result<Option<(String, LeaseRecord)>, StoreError> {
    conn.query_row(
        "SELECT token, pid, host, command, since_ms, renewed_at_ms FROM writer_lease WHERE id = 1",
        [],
        |row| {
            Ok((
                row.get::<_, String>(0)?,
                LeaseRecord {
                    holder: LeaseHolder {
                        pid: row.get(1)?,
                        host: row.get(2)?,
                        command: row.get(3)?,
                    },
                    since_ms: row.get(4)?,
                    renewed_at_ms: row.get(5)?,
                },
            ))
        },
    )
    .optional()
    .map_err(sql_err(db, || "reading the writer lease".to_owned()))
}

/// A token no other acquisition will produce: pid, host and the time, plus
/// a random number (std's per-process hash keys) for two in one millisecond.
fn new_token(me: &LeaseHolder, now_ms: i64) -> String {
    use std::hash::{BuildHasher, Hasher};
    let salt = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("{}@{}:{now_ms}:{salt:016x}", me.pid, me.host)
}

impl WriterLease {
    /// Takes the lease of the (already migrated) database at `path`, or says
    /// who holds it ([`StoreError::WriterBusy`]). Returns the stale record it
    /// replaced, if any, so the caller can say so.
    pub fn acquire(
        path: &Path,
        me: LeaseHolder,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<(WriterLease, Option<LeaseRecord>), StoreError> {
        let db = path.display().to_string();
        let mut conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sql_err(&db, || {
                "configuring the lease connection".to_owned()
            }))?;
        let op = || "taking the writer lease".to_owned();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql_err(&db, op))?;
        let replaced = match read(&tx, &db)? {
            Some((_, held)) if !is_stale(&held, &me, now_ms, ttl_ms) => {
                return Err(StoreError::WriterBusy {
                    db,
                    holder: Box::new(held),
                    ttl_ms,
                })
            }
            other => other.map(|(_, r)| r),
        };
        let token = new_token(&me, now_ms);
        tx.execute(
            "INSERT INTO writer_lease (id, token, pid, host, command, since_ms, renewed_at_ms)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT (id) DO UPDATE SET token = ?1, pid = ?2, host = ?3, command = ?4,
                 since_ms = ?5, renewed_at_ms = ?5",
            params![token, me.pid, me.host, me.command, now_ms],
        )
        .map_err(sql_err(&db, op))?;
        tx.commit().map_err(sql_err(&db, op))?;
        let record = LeaseRecord {
            holder: me,
            since_ms: now_ms,
            renewed_at_ms: now_ms,
        };
        Ok((
            WriterLease {
                conn,
                db,
                token,
                record,
            },
            replaced,
        ))
    }

    /// The token that fences commits ([`crate::SqliteStore::fence`]).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The lease as stored when this process took it.
    pub fn record(&self) -> &LeaseRecord {
        &self.record
    }

    /// Extends the lease to `now_ms`; [`StoreError::LeaseLost`] if another
    /// process took it over meanwhile.
    pub fn renew(&mut self, now_ms: i64) -> Result<(), StoreError> {
        renew_in(&self.conn, &self.db, &self.token, now_ms)?;
        self.record.renewed_at_ms = self.record.renewed_at_ms.max(now_ms);
        Ok(())
    }

    /// Gives the lease up (on a clean stop), so the next process need not
    /// judge it stale. A lease already taken over is left alone.
    pub fn release(self) -> Result<(), StoreError> {
        self.conn
            .execute(
                "DELETE FROM writer_lease WHERE id = 1 AND token = ?1",
                [&self.token],
            )
            .map_err(sql_err(&self.db, || {
                "releasing the writer lease".to_owned()
            }))?;
        Ok(())
    }
}

/// Extends the lease held by `token`; the check that fences every commit.
pub(crate) fn renew_in(
    conn: &Connection,
    db: &str,
    token: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    let changed = conn
        .execute(
            "UPDATE writer_lease SET renewed_at_ms = max(renewed_at_ms, ?2)
             WHERE id = 1 AND token = ?1",
            params![token, now_ms],
        )
        .map_err(sql_err(db, || "renewing the writer lease".to_owned()))?;
    if changed == 1 {
        return Ok(());
    }
    Err(StoreError::LeaseLost {
        db: db.to_owned(),
        holder: read(conn, db)?.map(|(_, r)| Box::new(r)),
    })
}
