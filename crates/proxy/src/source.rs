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
use canaryd_ports::{ActionError, MetricsSource, SourceError, TrafficRouter};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counters that decide whether a window is reliable.
#[derive(Clone, Copy, Default)]
struct HealthMarks {
    probe_failures: [u64; 2],
    probe_timeouts: [u64; 2],
    connect_failures: [u64; 2],
    resets: [u64; 2],
    timeouts: [u64; 2],
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
        let answered = |i: usize| {
            diff.routes
                .values()
                .map(|cs| cs[i].requests.saturating_sub(cs[i].errors))
                .sum::<u64>()
        };
        let answered = [answered(0), answered(1)];
        let collectors = self.health(&marks_now, answered);
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
                self.shared.upstreams.get().stable
            ));
        }
        BaselineStatus::Available(Baseline {
            history_hours: self.shared.rec.started.elapsed().as_secs_f64() / 3600.0,
            routes,
        })
    }

    /// Whether this window can be judged. The router *is* the data path:
    /// a user's request the canary refused, reset or left unanswered was
    /// answered 502/504 and is already an error of the canary's cohort, so
    /// a dead or hung canary is judged like any failing one (and rolled back
    /// by the policy's rules). What cannot be judged:
    /// - the stable upstream failing: the baseline says nothing about the
    ///   canary then, and that is not the canary's doing;
    /// - the canary's health probes refused or answered non-2xx while its
    ///   users are served: the two views disagree, so a human should look;
    /// - probes timing out while no user request to that upstream was
    ///   answered either: canaryd cannot see it at all;
    /// - probes that have stopped (this process starved for long).
    ///
    /// A probe that times out while users' requests to the same upstream
    /// are answered in the window is not a blind spot: the traffic shows
    /// the upstream answering, and a slow probe on a busy machine is the
    /// observer's delay. `answered[i]` counts those requests per cohort.
    fn health(&self, now: &HealthMarks, answered: [u64; 2]) -> CollectorHealth {
        if let Some(why) = self.stable_trouble(now, answered[idx(Cohort::Baseline)]) {
            return CollectorHealth::Unhealthy(why);
        }
        if let Some(why) = self.canary_view_impaired(now, answered[idx(Cohort::Canary)]) {
            return CollectorHealth::Unhealthy(why);
        }
        CollectorHealth::Healthy
    }

    /// Probe failures in the window that matter given `answered` user
    /// requests: refusals and bad answers always; timeouts only when no
    /// user request to the upstream was answered.
    fn probe_trouble(&self, now: &HealthMarks, c: Cohort, answered: u64) -> u64 {
        let probes = &self.shared.probes;
        let failed = self.delta(now, |m| m.probe_failures, c);
        let timeouts = self.delta(now, |m| m.probe_timeouts, c);
        let hard = failed.saturating_sub(timeouts) + u64::from(probes.is_failing_hard(c));
        let slow = timeouts + u64::from(probes.is_failing(c) && !probes.is_failing_hard(c));
        if answered == 0 {
            hard + slow
        } else {
            hard
        }
    }

    /// New counts of `field` per cohort since the previous window.
    fn delta(&self, now: &HealthMarks, field: fn(&HealthMarks) -> [u64; 2], c: Cohort) -> u64 {
        field(now)[idx(c)].saturating_sub(field(&self.marks)[idx(c)])
    }

    fn stable_trouble(&self, now: &HealthMarks, answered: u64) -> Option<String> {
        let sh = &self.shared;
        let b = Cohort::Baseline;
        let conn = self.delta(now, |m| m.connect_failures, b) + self.delta(now, |m| m.resets, b);
        let timeouts = self.delta(now, |m| m.timeouts, b);
        let probes = self.delta(now, |m| m.probe_failures, b);
        if conn + timeouts > 0 || self.probe_trouble(now, b, answered) > 0 {
            let last = sh
                .probes
                .latest(b)
                .map(|p| p.detail)
                .unwrap_or_else(|| "none yet".into());
            return Some(format!(
                "the STABLE upstream {} is failing, not the canary: {conn} refused/reset and \
                 {timeouts} timed-out user request(s), {probes} failed health probe(s) in the \
                 window (last probe: {last}); without a working baseline the canary cannot be \
                 compared",
                sh.upstreams.get().stable
            ));
        }
        stale(sh, b, "stable", &sh.upstreams.get().stable)
    }

    fn canary_view_impaired(&self, now: &HealthMarks, answered: u64) -> Option<String> {
        let sh = &self.shared;
        let c = Cohort::Canary;
        let users_failed = self.delta(now, |m| m.connect_failures, c)
            + self.delta(now, |m| m.resets, c)
            + self.delta(now, |m| m.timeouts, c);
        let probes = self.delta(now, |m| m.probe_failures, c);
        if users_failed == 0 && self.probe_trouble(now, c, answered) > 0 {
            let last = sh.probes.latest(c).map(|p| p.detail).unwrap_or_default();
            let users = if answered == 0 {
                "and no user request to it was answered in the window either: canaryd cannot \
                 see it"
                    .to_string()
            } else {
                format!(
                    "while its users were served ({answered} requests answered): the probes \
                     and the traffic disagree"
                )
            };
            return Some(format!(
                "canary upstream {}: {probes} failed health probe(s) in the window (last: \
                 {last}) {users}",
                sh.upstreams.get().canary
            ));
        }
        if users_failed > 0 {
            // What users got is in the window's errors; judge it.
            return None;
        }
        stale(sh, c, "canary", &sh.upstreams.get().canary)
    }
}

/// Why the probes of `cohort` say nothing current, if so.
fn stale(sh: &Shared, cohort: Cohort, name: &str, upstream: &crate::Upstream) -> Option<String> {
    // Generous: a busy machine delays probe rounds; only a probe loop that
    // has really stopped should make windows unjudgeable.
    let stale_after = (sh.probe_interval * 5 + sh.probe_timeout * 2).max(Duration::from_secs(10));
    match sh.probes.latest(cohort) {
        None => Some(format!(
            "{name} upstream {upstream}: no health probe has completed yet"
        )),
        Some(p) if Instant::now().saturating_duration_since(p.at) > stale_after => Some(format!(
            "{name} upstream {upstream}: last health probe is stale ({:?} old)",
            Instant::now().saturating_duration_since(p.at)
        )),
        Some(_) => None,
    }
}

fn marks(sh: &Shared) -> HealthMarks {
    let load = |a: &[std::sync::atomic::AtomicU64; 2]| {
        [a[0].load(Ordering::SeqCst), a[1].load(Ordering::SeqCst)]
    };
    HealthMarks {
        probe_failures: load(&sh.probes.failures),
        probe_timeouts: load(&sh.probes.timeouts),
        connect_failures: load(&sh.rec.failures.connect),
        resets: load(&sh.rec.failures.reset),
        timeouts: load(&sh.rec.failures.timeout),
    }
}

#[canaryd_ports::async_trait]
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

#[canaryd_ports::async_trait]
impl TrafficRouter for RouterHandle {
    async fn set_weight(&mut self, _key: &RolloutKey, weight: Weight) -> Result<(), ActionError> {
        // A weight past 100 is a bug in the caller, not a passing failure.
        RouterHandle::set_weight(self, weight).map_err(|e| ActionError::permanent(e.to_string()))
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
