//! Opening the database and the transaction helpers every writer uses.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::{sql_err, StoreError};
use crate::schema;

/// How long a statement waits for another process's write lock before failing with
/// "database is locked". canaryd's transactions are short, so seconds of waiting
/// mean something is wrong, yet a CLI reading while the daemon writes should not
/// fail spuriously.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// canaryd's persistent state: rollouts, the effect outbox and the audit log, in
/// one SQLite database. See the crate documentation for the tables.
///
/// A `SqliteStore` owns one connection and is not `Sync`; several processes (daemon and
/// CLI) may open the same file concurrently, SQLite serialises their writes.
#[derive(Debug)]
pub struct SqliteStore {
    pub(crate) conn: Connection,
    /// The database path (or `:memory:`), for error messages.
    pub(crate) db: String,
    /// The writer lease's token, when commits are fenced by it.
    pub(crate) fence: Option<String>,
}

impl SqliteStore {
    /// Opens the database at `path`, creating missing parent directories and the
    /// file, configures the connection and migrates the schema.
    ///
    /// Refuses a database whose schema version is newer than this build knows
    /// ([`StoreError::SchemaTooNew`]).
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                dir: dir.to_path_buf(),
                source,
            })?;
        }
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        // Set before anything else: switching to WAL needs a lock another process
        // may briefly hold while opening the same file.
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // WAL lets the CLI read (list, verify, export) while the daemon writes.
        // Where the filesystem cannot do WAL, SQLite keeps its rollback journal:
        // slower for concurrent readers but still correct, so that is not an error.
        // This first statement is also where a non-SQLite file is detected.
        //
        // SQLite may answer BUSY here at once, without calling the busy handler,
        // while another process holds the lock to switch the same new file to
        // WAL: retry for as long as the busy timeout would have waited.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        let _mode: String = loop {
            match conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)) {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => break other.map_err(open_err)?,
            }
        };
        // FULL, not WAL's usual NORMAL: an effect is executed right after its
        // commit, so a commit lost to a power cut would let it run twice.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        Self::configure(conn, path.display().to_string())
    }

    /// An empty, private in-memory database (for tests and dry runs).
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: ":memory:".into(),
            source,
        })?;
        Self::configure(conn, ":memory:".to_owned())
    }

    fn configure(mut conn: Connection, db: String) -> Result<SqliteStore, StoreError> {
        // Outbox rows reference their rollout; SQLite only enforces that when asked.
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(sql_err(&db, || "enabling foreign keys".to_owned()))?;
        schema::migrate(&mut conn, &db)?;
        Ok(SqliteStore {
            conn,
            db,
            fence: None,
        })
    }

    /// Fences every later [`SqliteStore::commit`] with a writer lease's token
    /// ([`crate::WriterLease::token`]): a commit checks, in its own
    /// transaction, that the lease is still ours (and renews it), and fails
    /// with [`StoreError::LeaseLost`] otherwise.
    pub fn fence(&mut self, token: &str) {
        self.fence = Some(token.to_owned());
    }

    /// Lets SQLite grow the database to at most `pages` pages (of
    /// `PRAGMA page_size` bytes) on this connection; past it a write fails
    /// as on a full disk. Returns the limit in force (never below the
    /// current size). For tests of a full disk where mounting a small
    /// filesystem is impossible.
    pub fn set_max_pages(&self, pages: i64) -> Result<i64, StoreError> {
        self.conn
            .pragma_update_and_check(None, "max_page_count", pages, |row| row.get(0))
            .map_err(sql_err(&self.db, || "setting max_page_count".to_owned()))
    }

    /// Starts an IMMEDIATE transaction and returns it with the database name.
    ///
    /// IMMEDIATE takes the write lock up front. A DEFERRED transaction that reads
    /// first and writes later can fail with SQLITE_BUSY at the write, without
    /// honouring busy_timeout, when another process committed in between.
    pub(crate) fn write_tx(&mut self, op: &str) -> Result<(Transaction<'_>, &str), StoreError> {
        let SqliteStore { conn, db, .. } = self;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql_err(db, || format!("{op} (starting transaction)")))?;
        Ok((tx, db.as_str()))
    }

    /// Starts a read transaction so that multi-query reads see one snapshot even
    /// while another process writes. Dropping it ends the transaction.
    pub(crate) fn read_tx(&self, op: &str) -> Result<Transaction<'_>, StoreError> {
        self.conn
            .unchecked_transaction()
            .map_err(sql_err(&self.db, || format!("{op} (starting transaction)")))
    }
}
