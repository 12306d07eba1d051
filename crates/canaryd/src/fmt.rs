//! Shared formatting and small shell helpers for the subcommands.

use canaryd_core::vocab::Timestamp;
use canaryd_store::SqliteStore;
use std::path::Path;

use crate::Fail;

/// `2026-11-20 10:05:00Z` for tables; the epoch number when out of range.
pub fn time(t: Timestamp) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.0) * 1_000_000)
        .ok()
        .and_then(|d| d.format(&fmt).ok())
        .unwrap_or_else(|| t.0.to_string())
}

/// The wall clock, read here at the edge and handed to the core as an input.
pub fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    Timestamp(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// Opens the store, or an in-memory one for `:memory:`.
pub fn open_store(path: &Path) -> Result<SqliteStore, Fail> {
    if path.as_os_str() == ":memory:" {
        return Ok(SqliteStore::open_in_memory()?);
    }
    Ok(SqliteStore::open(path)?)
}

/// Opens an existing store for reading: a missing file is a user error, not
/// a reason to create an empty database.
pub fn open_existing(path: &Path) -> Result<SqliteStore, Fail> {
    if path.as_os_str() != ":memory:" && !path.exists() {
        return Err(Fail::invalid(format!(
            "no canaryd database at {} (pass --db PATH; the default is {})",
            path.display(),
            crate::DEFAULT_DB
        )));
    }
    open_store(path)
}

/// A plain text table: columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                out.push_str(c);
                out.push_str(&" ".repeat(w.saturating_sub(c.chars().count()) + 2));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.iter().map(|s| s.as_str()).collect()));
        out.push('\n');
    }
    out
}

/// A bearer token from `--<flag> FILE`, else from the environment variable
/// `env`; surrounding white space (a file's trailing newline) is not part of
/// it, and an empty one is no token (an empty token would let anyone in).
pub fn read_token(
    file: Option<&Path>,
    env: &str,
    flag: &str,
) -> Result<Option<canaryd_secrets::Secret>, Fail> {
    let raw = match (file, std::env::var(env)) {
        (Some(f), _) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| Fail::invalid(format!("cannot read {flag} {}: {e}", f.display())))?,
        ),
        (None, Ok(t)) => Some(t),
        (None, Err(_)) => None,
    };
    Ok(raw
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .map(canaryd_secrets::Secret::new))
}
