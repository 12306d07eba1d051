//! The router as the driver sees it: a `MetricsSource` (windows and the
//! stable baseline, from the router's own measurements) and a
//! `TrafficRouter` (the weight).
//!
//! Windows are *cumulative snapshot differences*: an [`EmbeddedSource`] keeps
//! the snapshot it took at its previous window (or at its creation) and
//! reports what happened since. Several sources can read the same router
//! without stealing each other's data, and `/metrics` stays monotonic.
//! The `start`/`end` timestamps the driver passes are copied into the window;
//! the figures cover the time since the previous call.

use crate::handle::{RouterHandle, Shared};
use crate::metrics::Snapshot;
use crate::split::idx;
use canaryd_core::observation::{Baseline, BaselineStatus, CollectorHealth, RouteWindow, Window};
use canaryd_core::vocab::{Cohort, RolloutKey, Route, Timestamp, Weight};
use canaryd_driver::traits::{ActionError, MetricsSource, SourceError, TrafficRouter};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Counters that decide whether a window is reliable.
#[derive(Clone, Copy, Default)]
struct HealthMarks {
    probe_failures: [u64; 2],
    connect_failures: [u64; 2],
}

/// Reads windows and the baseline off a running router.
pub struct EmbeddedSource {
    shared: Arc<Shared>,
    last: Snapshot,
    marks: HealthMarks,
}

impl EmbeddedSource {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let last = shared.rec.snapshot();
        let marks = marks(&shared);
        EmbeddedSource {
            shared,
            last,
            marks,
        }
    }

    /// The window since the previous call (or since creation), and resets the mark.
    pub fn take_window(&mut self, start: Timestamp, end: Timestamp) -> Window {
        let now = self.shared.rec.snapshot();
        let diff = now.since(&self.last);
        let marks_now = marks(&self.shared);
        let collectors = self.health(&marks_now);
        self.last = now;
        self.marks = marks_now;
        let mut routes = BTreeMap::new();
        for (name, [b, c]) in &diff.routes {
            if b.requests == 0 && c.requests == 0 {
                continue;
            }
            routes.insert(
                Route(name.clone()),
                RouteWindow {
                    canary: Some(c.observation()),
                    baseline: Some(b.observation()),
                },
            );
        }
        Window {
            start,
            end,
            collectors,
            routes,
            error_budget_remaining: None,
            gaps: Vec::new(),
        }
    }

    /// The stable upstream's figures since the router started.
    pub fn baseline_status(&self) -> BaselineStatus {
        let snap = self.shared.rec.snapshot();
        let routes: BTreeMap<Route, _> = snap
            .routes
            .iter()
            .filter(|(_, cs)| cs[idx(Cohort::Baseline)].requests > 0)
            .map(|(name, cs)| (Route(name.clone()), cs[idx(Cohort::Baseline)].observation()))
            .collect();
        if routes.is_empty() {
            return BaselineStatus::Missing(format!(
                "the embedded router has measured no request to the stable upstream {} yet",
                self.shared.stable
            ));
        }
        BaselineStatus::Available(Baseline {
            history_hours: self.shared.rec.started.elapsed().as_secs_f64() / 3600.0,
            routes,
        })
    }

    /// Why the collectors could not see an upstream in this window, if so.
    fn health(&self, now: &HealthMarks) -> CollectorHealth {
        for cohort in [Cohort::Canary, Cohort::Baseline] {
            if let Some(why) = self.blind_on(cohort, now) {
                return CollectorHealth::Unhealthy(why);
            }
        }
        CollectorHealth::Healthy
    }

    fn blind_on(&self, cohort: Cohort, now: &HealthMarks) -> Option<String> {
        let i = idx(cohort);
        let sh = &self.shared;
        let (name, upstream) = match cohort {
            Cohort::Canary => ("canary", &sh.canary),
            Cohort::Baseline => ("stable", &sh.stable),
        };
        let failed = now.probe_failures[i].saturating_sub(self.marks.probe_failures[i]);
        let latest = sh.probes.latest(cohort);
        if failed > 0 || latest.as_ref().is_some_and(|p| !p.ok) {
            let detail = latest.map(|p| p.detail).unwrap_or_default();
            return Some(format!(
                "{name} upstream {upstream}: {failed} failed health probe(s) in the window (last: {detail})"
            ));
        }
        let conn = now.connect_failures[i].saturating_sub(self.marks.connect_failures[i]);
        if conn > 0 {
            return Some(format!(
                "{name} upstream {upstream} unreachable: {conn} connection failure(s) in the window"
            ));
        }
        let stale_after = sh.probe_interval * 3 + sh.probe_timeout;
        match sh.probes.latest(cohort) {
            None => Some(format!(
                "{name} upstream {upstream}: no health probe has completed yet"
            )),
            Some(p) if Instant::now().saturating_duration_since(p.at) > stale_after => {
                Some(format!(
                    "{name} upstream {upstream}: last health probe is stale ({:?} old)",
                    Instant::now().saturating_duration_since(p.at)
                ))
            }
            Some(_) => None,
        }
    }
}

fn marks(sh: &Shared) -> HealthMarks {
    let load = |a: &[std::sync::atomic::AtomicU64; 2]| {
        [a[0].load(Ordering::SeqCst), a[1].load(Ordering::SeqCst)]
    };
    HealthMarks {
        probe_failures: load(&sh.probes.failures),
        connect_failures: load(&sh.rec.failures.connect),
    }
}

impl MetricsSource for EmbeddedSource {
    async fn baseline(&mut self, _key: &RolloutKey) -> Result<BaselineStatus, SourceError> {
        Ok(self.baseline_status())
    }

    async fn window(
        &mut self,
        _key: &RolloutKey,
        _weight: Weight,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Window, SourceError> {
        Ok(self.take_window(start, end))
    }
}

impl TrafficRouter for RouterHandle {
    async fn set_weight(&mut self, _key: &RolloutKey, weight: Weight) -> Result<(), ActionError> {
        RouterHandle::set_weight(self, weight).map_err(|e| ActionError(e.to_string()))
    }

    async fn roll_back(&mut self, _key: &RolloutKey) -> Result<(), ActionError> {
        RouterHandle::roll_back(self);
        Ok(())
    }

    async fn promote(&mut self, _key: &RolloutKey) -> Result<(), ActionError> {
        RouterHandle::promote(self);
        Ok(())
    }
}
