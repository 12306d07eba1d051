//! The proxy's own baseline: the stable cohort's traffic, recorded in the
//! store all the time, per route and method.
//!
//! In proxy mode the router is the only place stable traffic is measured.
//! It used to read its baseline at start, before it had measured anything,
//! so every release through the proxy waited for a human. Now a recorder
//! writes what the stable side served every window into `stable_history`
//! (surviving restarts), and the baseline of the next release is that
//! history over the policy's lookback: the first release waits for approval
//! (no history), later ones start on their own once the history suffices.
//!
//! After a promotion the canary upstream *is* what users run, so it is the
//! canary cohort that is recorded from then on.

use canaryd_core::observation::{Baseline, BaselineStatus, Histogram, Observation, Window};
use canaryd_core::vocab::{RolloutKey, Route, Timestamp, Weight};
use canaryd_driver::live::wall_clock;
use canaryd_ports::{MetricsSource, SourceError};
use canaryd_proxy::{EmbeddedSource, RouterHandle};
use canaryd_store::{HistoryRow, SqliteStore};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Merges recorded intervals into one observation per route: counts add up,
/// histograms (cumulative, same bounds) add up bucket by bucket and give the
/// quantiles; without histograms, quantiles are request-weighted means.
pub fn merge(rows: &[HistoryRow], now_ms: i64) -> Option<Baseline> {
    let first = rows.iter().map(|r| r.at_ms).min()?;
    let mut routes: BTreeMap<Route, (Observation, [f64; 3])> = BTreeMap::new();
    for row in rows {
        let Ok(obs) = serde_json::from_str::<Observation>(&row.payload) else {
            continue;
        };
        let (acc, weighted) = routes.entry(Route(row.route.clone())).or_default();
        acc.requests += obs.requests;
        acc.errors += obs.errors;
        let w = obs.requests as f64;
        for (i, q) in [obs.latency_ms.p50, obs.latency_ms.p95, obs.latency_ms.p99]
            .into_iter()
            .enumerate()
        {
            weighted[i] += q.unwrap_or(0.0) * w;
        }
        if let Some(h) = obs.latency_buckets_ms {
            let into = acc
                .latency_buckets_ms
                .get_or_insert_with(|| Histogram(BTreeMap::new()));
            for (bound, count) in h.0 {
                *into.0.entry(bound).or_insert(0.0) += count;
            }
        }
    }
    let routes: BTreeMap<Route, Observation> = routes
        .into_iter()
        .filter(|(_, (o, _))| o.requests > 0)
        .map(|(route, (mut o, weighted))| {
            let n = o.requests as f64;
            let from_hist = |q: f64| {
                o.latency_buckets_ms
                    .as_ref()
                    .and_then(|h| h.quantile(q).ok())
            };
            o.latency_ms.p50 = from_hist(0.50).or(Some(weighted[0] / n));
            o.latency_ms.p95 = from_hist(0.95).or(Some(weighted[1] / n));
            o.latency_ms.p99 = from_hist(0.99).or(Some(weighted[2] / n));
            (route, o)
        })
        .collect();
    if routes.is_empty() {
        return None;
    }
    Some(Baseline {
        history_hours: (now_ms - first).max(0) as f64 / 3_600_000.0,
        routes,
    })
}

/// The router's windows, with the baseline read from the recorded history.
pub struct HistorySource {
    pub inner: EmbeddedSource,
    pub store: Option<SqliteStore>,
    pub workload: String,
    pub lookback: Duration,
}

#[canaryd_ports::async_trait]
impl MetricsSource for HistorySource {
    async fn baseline(&mut self, key: &RolloutKey) -> Result<BaselineStatus, SourceError> {
        let Some(store) = &self.store else {
            return self.inner.baseline(key).await;
        };
        let now = wall_clock().0;
        let rows = store
            .history(&self.workload, now.saturating_sub(ms(self.lookback)))
            .map_err(|e| SourceError::transient(e.to_string()))?;
        Ok(match merge(&rows, now) {
            Some(b) => BaselineStatus::Available(b),
            None => BaselineStatus::Missing(format!(
                "no stable traffic of {} recorded by this proxy in the last {}: the first \
                 release through it needs an approval",
                self.workload,
                humantime::format_duration(self.lookback)
            )),
        })
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

/// Records the stable cohort every `every` into the store at `db` (its own
/// connection) until the process ends. `canary_is_stable` flips the cohort
/// recorded once the canary was promoted.
pub fn spawn_recorder(
    router: &RouterHandle,
    db: &Path,
    workload: String,
    every: Duration,
    keep: Duration,
    canary_is_stable: Arc<AtomicBool>,
) -> Result<(), canaryd_store::StoreError> {
    let mut store = SqliteStore::open(db)?;
    let mut source = router.metrics_source();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        let mut start = wall_clock();
        loop {
            tick.tick().await;
            let end = wall_clock();
            let window = source.take_window(start, end);
            start = end;
            let canary = canary_is_stable.load(Ordering::SeqCst);
            let rows: Vec<(String, String)> = window
                .routes
                .iter()
                .filter_map(|(route, rw)| {
                    let obs = if canary { &rw.canary } else { &rw.baseline };
                    let obs = obs.as_ref().filter(|o| o.requests > 0)?;
                    Some((route.0.clone(), serde_json::to_string(obs).ok()?))
                })
                .collect();
            if rows.is_empty() {
                continue;
            }
            if let Err(e) =
                store.record_history(&workload, end.0, &rows, end.0.saturating_sub(ms(keep)))
            {
                eprintln!("canaryd proxy: recording the stable history failed: {e}");
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use canaryd_core::observation::LatencySummary;

    fn row(route: &str, at_ms: i64, requests: u64, errors: u64, p99: f64) -> HistoryRow {
        let mut buckets = BTreeMap::new();
        buckets.insert("10".to_string(), requests as f64 / 2.0);
        buckets.insert("100".to_string(), requests as f64);
        buckets.insert("+Inf".to_string(), requests as f64);
        let obs = Observation {
            requests,
            errors,
            latency_ms: LatencySummary {
                p50: Some(10.0),
                p95: Some(p99),
                p99: Some(p99),
            },
            latency_buckets_ms: Some(Histogram(buckets)),
            ..Default::default()
        };
        HistoryRow {
            route: route.into(),
            at_ms,
            payload: serde_json::to_string(&obs).unwrap(),
        }
    }

    #[test]
    fn intervals_add_up_per_route_and_the_history_runs_from_the_first() {
        let rows = [
            row("GET /pay", 1_000, 100, 1, 50.0),
            row("GET /pay", 2_000, 300, 5, 90.0),
            row("POST /pay", 2_000, 10, 0, 20.0),
            HistoryRow {
                route: "GET /bad".into(),
                at_ms: 2_000,
                payload: "not json".into(),
            },
        ];
        let b = merge(&rows, 3_600_000 + 1_000).unwrap();
        assert_eq!(b.history_hours, 1.0);
        let pay = &b.routes[&Route::from("GET /pay")];
        assert_eq!((pay.requests, pay.errors), (400, 6));
        let h = pay.latency_buckets_ms.as_ref().unwrap();
        assert_eq!(h.0["100"], 400.0);
        assert_eq!(h.0["10"], 200.0);
        // Quantiles come from the merged histogram: half the requests ≤ 10 ms.
        assert_eq!(pay.latency_ms.p50, h.quantile(0.5).ok());
        assert_eq!(b.routes.len(), 2, "an unreadable row is skipped");
        assert!(merge(&[], 5).is_none());
    }
}
