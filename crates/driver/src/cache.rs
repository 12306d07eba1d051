//! A metrics source with its baseline cached in the store.
//!
//! Reading a stable revision's week of history is the most expensive query
//! canaryd makes, and teams ship the same workload several times a day. The
//! wrapper answers [`MetricsSource::baseline`] from the store while the cached
//! copy is younger than the TTL, and otherwise asks the source and caches what
//! it said. Only *available* baselines are cached: a missing one is asked
//! again next time, since history appears as the stable revision runs.
//!
//! Windows are never cached: they are the evidence, read fresh every time.

use canaryd_core::observation::{Baseline, BaselineStatus, Observation, Window};
use canaryd_core::vocab::{duration_ms, RolloutKey, Route, Timestamp, Weight};
use canaryd_store::{CachedRoute, SqliteStore};
use std::collections::BTreeMap;
use std::time::Duration;

use canaryd_ports::{async_trait, MetricsSource, SourceError};

/// `source` wrapped with a baseline cache in `store`.
pub struct CachedBaseline {
    inner: Box<dyn MetricsSource>,
    store: SqliteStore,
    /// What was asked (source, queries, lookback): a changed query is a
    /// different cache entry.
    fingerprint: String,
    ttl: Duration,
    clock: fn() -> Timestamp,
}

impl CachedBaseline {
    /// `store` is a connection of its own (SQLite serialises it with the
    /// driver's); `clock` is the wall clock in production.
    pub fn new(
        inner: Box<dyn MetricsSource>,
        store: SqliteStore,
        fingerprint: impl Into<String>,
        ttl: Duration,
        clock: fn() -> Timestamp,
    ) -> Self {
        CachedBaseline {
            inner,
            store,
            fingerprint: fingerprint.into(),
            ttl,
            clock,
        }
    }

    fn read(&self, workload: &str, now: Timestamp) -> Option<Baseline> {
        let rows = match self.store.cached_baseline(
            workload,
            &self.fingerprint,
            now.millis(),
            duration_ms(self.ttl),
        ) {
            Ok(rows) => rows?,
            Err(e) => {
                // A broken cache is not a broken source: ask the source.
                tracing::warn!(error = %e, workload, "baseline cache unreadable; asking the source");
                return None;
            }
        };
        decode(&rows)
    }

    fn write(&mut self, workload: &str, baseline: &Baseline, now: Timestamp) {
        let rows = match encode(baseline) {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, workload, "baseline not cached: cannot encode it");
                return;
            }
        };
        if let Err(e) = self
            .store
            .put_baseline(workload, &self.fingerprint, &rows, now.millis())
        {
            tracing::warn!(error = %e, workload, "baseline not cached");
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Summary {
    history_hours: canaryd_core::observation::Lossless,
}

fn encode(b: &Baseline) -> Result<Vec<CachedRoute>, serde_json::Error> {
    let mut rows = vec![CachedRoute {
        route: String::new(),
        payload: serde_json::to_string(&Summary {
            history_hours: canaryd_core::observation::Lossless(b.history_hours),
        })?,
    }];
    for (route, obs) in &b.routes {
        rows.push(CachedRoute {
            route: route.0.clone(),
            payload: serde_json::to_string(obs)?,
        });
    }
    Ok(rows)
}

/// `None` when any row does not decode: a cache written by another version
/// is a miss, not an error.
fn decode(rows: &[CachedRoute]) -> Option<Baseline> {
    let mut history_hours = None;
    let mut routes = BTreeMap::new();
    for r in rows {
        if r.route.is_empty() {
            history_hours = Some(
                serde_json::from_str::<Summary>(&r.payload)
                    .ok()?
                    .history_hours
                    .0,
            );
        } else {
            let obs: Observation = serde_json::from_str(&r.payload).ok()?;
            routes.insert(Route(r.route.clone()), obs);
        }
    }
    Some(Baseline {
        history_hours: history_hours?,
        routes,
    })
}

#[async_trait]
impl MetricsSource for CachedBaseline {
    async fn baseline(&mut self, key: &RolloutKey) -> Result<BaselineStatus, SourceError> {
        let now = (self.clock)();
        if let Some(b) = self.read(&key.workload.0, now) {
            tracing::debug!(workload = %key.workload, "baseline from cache");
            return Ok(BaselineStatus::Available(b));
        }
        let status = self.inner.baseline(key).await?;
        if let BaselineStatus::Available(b) = &status {
            self.write(&key.workload.0, b, now);
        }
        Ok(status)
    }

    async fn fresh_baseline(&mut self, key: &RolloutKey) -> Result<BaselineStatus, SourceError> {
        let status = self.inner.baseline(key).await?;
        if let BaselineStatus::Available(b) = &status {
            self.write(&key.workload.0, b, (self.clock)());
        }
        Ok(status)
    }

    async fn window(
        &mut self,
        key: &RolloutKey,
        weight: Weight,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Window, SourceError> {
        self.inner.window(key, weight, start, end).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that counts (in a shared counter) how often its history is read.
    struct Counting {
        baselines: std::sync::Arc<std::sync::atomic::AtomicU32>,
        answer: BaselineStatus,
    }

    impl Counting {
        fn new(answer: BaselineStatus) -> (Counting, std::sync::Arc<std::sync::atomic::AtomicU32>) {
            let n = std::sync::Arc::default();
            (
                Counting {
                    baselines: std::sync::Arc::clone(&n),
                    answer,
                },
                n,
            )
        }
    }

    fn reads(n: &std::sync::atomic::AtomicU32) -> u32 {
        n.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[async_trait]
    impl MetricsSource for Counting {
        async fn baseline(&mut self, _key: &RolloutKey) -> Result<BaselineStatus, SourceError> {
            self.baselines
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(self.answer.clone())
        }
        async fn window(
            &mut self,
            _key: &RolloutKey,
            _weight: Weight,
            start: Timestamp,
            end: Timestamp,
        ) -> Result<Window, SourceError> {
            Ok(Window {
                start,
                end,
                ..Default::default()
            })
        }
    }

    static NOW: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    fn clock() -> Timestamp {
        Timestamp(NOW.load(std::sync::atomic::Ordering::SeqCst))
    }

    fn available() -> BaselineStatus {
        let mut routes = BTreeMap::new();
        routes.insert(
            Route::from("GET /pay"),
            Observation {
                requests: 120_000,
                errors: 60,
                cpu: Some(f64::NAN),
                ..Default::default()
            },
        );
        BaselineStatus::Available(Baseline {
            history_hours: 168.0,
            routes,
        })
    }

    #[tokio::test]
    async fn history_is_read_once_per_ttl_and_comes_back_identical() {
        NOW.store(1_000_000, std::sync::atomic::Ordering::SeqCst);
        let (inner, n) = Counting::new(available());
        let mut src = CachedBaseline::new(
            Box::new(inner),
            SqliteStore::open_in_memory().unwrap(),
            "prom:q1",
            Duration::from_secs(600),
            clock,
        );
        let key = RolloutKey::new("shop/pay", "v2");
        let first = src.baseline(&key).await.unwrap();
        let second = src.baseline(&key).await.unwrap();
        assert_eq!(reads(&n), 1, "the second read came from the cache");
        // NaN survives the cache (Observation's lossless encoding).
        match (&first, &second) {
            (BaselineStatus::Available(a), BaselineStatus::Available(b)) => {
                assert_eq!(a.history_hours, b.history_hours);
                let (oa, ob) = (
                    &a.routes[&Route::from("GET /pay")],
                    &b.routes[&Route::from("GET /pay")],
                );
                assert_eq!((oa.requests, oa.errors), (ob.requests, ob.errors));
                assert!(ob.cpu.unwrap().is_nan());
            }
            other => panic!("{other:?}"),
        }
        // Past the TTL the source is asked again.
        NOW.store(1_000_000 + 600_001, std::sync::atomic::Ordering::SeqCst);
        src.baseline(&key).await.unwrap();
        assert_eq!(reads(&n), 2);
    }

    #[tokio::test]
    async fn a_missing_baseline_is_not_cached() {
        let (inner, n) = Counting::new(BaselineStatus::Missing("stable matched no series".into()));
        let mut src = CachedBaseline::new(
            Box::new(inner),
            SqliteStore::open_in_memory().unwrap(),
            "prom:q1",
            Duration::from_secs(600),
            || Timestamp(5),
        );
        let key = RolloutKey::new("w", "v2");
        src.baseline(&key).await.unwrap();
        src.baseline(&key).await.unwrap();
        assert_eq!(reads(&n), 2);
    }
}
