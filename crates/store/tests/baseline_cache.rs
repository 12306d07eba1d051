//! The baseline cache: all-or-nothing per fetch, fresh only within the TTL,
//! keyed by what was asked, and added to existing databases by migration.

use canaryd_store::{CachedRoute, SqliteStore};

fn routes(names: &[(&str, &str)]) -> Vec<CachedRoute> {
    names
        .iter()
        .map(|(r, p)| CachedRoute {
            route: r.to_string(),
            payload: p.to_string(),
        })
        .collect()
}

#[test]
fn a_cached_baseline_is_returned_only_while_fresh() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    let rows = routes(&[
        ("", r#"{"history_hours":168}"#),
        ("GET /pay", r#"{"requests":10}"#),
    ]);
    s.put_baseline("shop/pay", "prom:abc", &rows, 1_000)
        .unwrap();

    assert_eq!(
        s.cached_baseline("shop/pay", "prom:abc", 1_000 + 60_000, 60_000)
            .unwrap(),
        Some(rows.clone())
    );
    // One millisecond past the TTL: stale, read again.
    assert_eq!(
        s.cached_baseline("shop/pay", "prom:abc", 1_000 + 60_001, 60_000)
            .unwrap(),
        None
    );
    // A clock that stepped back does not make the entry fresh forever.
    assert_eq!(
        s.cached_baseline("shop/pay", "prom:abc", 0, 60_000)
            .unwrap(),
        None
    );
    // Another query (source fingerprint) or workload is another entry.
    assert_eq!(
        s.cached_baseline("shop/pay", "prom:other", 1_000, 60_000)
            .unwrap(),
        None
    );
    assert_eq!(
        s.cached_baseline("shop/cart", "prom:abc", 1_000, 60_000)
            .unwrap(),
        None
    );
}

#[test]
fn a_new_fetch_replaces_every_route_of_the_old_one() {
    let mut s = SqliteStore::open_in_memory().unwrap();
    s.put_baseline(
        "w",
        "src",
        &routes(&[("", "a"), ("GET /old", "b"), ("GET /pay", "c")]),
        10,
    )
    .unwrap();
    let newer = routes(&[("", "a2"), ("GET /pay", "c2")]);
    s.put_baseline("w", "src", &newer, 20).unwrap();
    // The route that disappeared is gone, not mixed in from the old fetch.
    assert_eq!(s.cached_baseline("w", "src", 20, 100).unwrap(), Some(newer));
}

#[test]
fn the_cache_survives_reopening_and_is_added_to_old_databases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    // A version-1 database, as the previous release left it: everything but
    // the cache table (and the tables of versions 3, 4 and 5).
    {
        drop(SqliteStore::open(&path).unwrap());
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE baseline_cache; DROP TABLE writer_lease; DROP TABLE stable_history; DROP TABLE proxy_releases; PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    {
        let mut s = SqliteStore::open(&path).unwrap();
        s.put_baseline("w", "src", &routes(&[("", "x")]), 5)
            .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(
        s.cached_baseline("w", "src", 5, 0).unwrap(),
        Some(routes(&[("", "x")]))
    );
}
