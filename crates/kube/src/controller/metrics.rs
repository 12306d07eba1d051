//! The controller's own telemetry in the Prometheus text format, kept in
//! atomics: a scrape never waits on a reconcile.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// How a reconcile ended, the `result` label of `canaryd_controller_reconciles_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileResult {
    /// It ran to the end (whatever it decided).
    Ok,
    /// It failed and will be retried with back-off.
    Error,
    /// Not the leader: it did nothing.
    Skipped,
}

impl ReconcileResult {
    const ALL: [ReconcileResult; 3] = [
        ReconcileResult::Ok,
        ReconcileResult::Error,
        ReconcileResult::Skipped,
    ];

    fn label(self) -> &'static str {
        match self {
            ReconcileResult::Ok => "ok",
            ReconcileResult::Error => "error",
            ReconcileResult::Skipped => "skipped",
        }
    }

    fn index(self) -> usize {
        match self {
            ReconcileResult::Ok => 0,
            ReconcileResult::Error => 1,
            ReconcileResult::Skipped => 2,
        }
    }
}

/// Upper bounds of the duration histogram, in seconds: a reconcile with
/// nothing due is milliseconds, one that reads a window is a Prometheus
/// round trip or several.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Default)]
pub struct ControllerMetrics {
    reconciles: [AtomicU64; 3],
    /// Cumulative counts per bucket (the `+Inf` bucket is `count`).
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
    leader: AtomicI64,
    canaries: AtomicI64,
}

impl ControllerMetrics {
    pub fn observe(&self, result: ReconcileResult, took: Duration) {
        self.reconciles[result.index()].fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn set_leader(&self, leading: bool) {
        self.leader.store(i64::from(leading), Ordering::Relaxed);
    }

    pub fn set_canaries(&self, n: usize) {
        self.canaries
            .store(i64::try_from(n).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    pub fn reconciles(&self, result: ReconcileResult) -> u64 {
        self.reconciles[result.index()].load(Ordering::Relaxed)
    }

    /// The exposition text for `GET /metrics`.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP canaryd_controller_reconciles_total Reconciles of Canaries, by how they ended."
        );
        let _ = writeln!(s, "# TYPE canaryd_controller_reconciles_total counter");
        for r in ReconcileResult::ALL {
            let _ = writeln!(
                s,
                "canaryd_controller_reconciles_total{{result=\"{}\"}} {}",
                r.label(),
                self.reconciles(r)
            );
        }
        let _ = writeln!(
            s,
            "# HELP canaryd_controller_reconcile_duration_seconds How long one reconcile took."
        );
        let _ = writeln!(
            s,
            "# TYPE canaryd_controller_reconcile_duration_seconds histogram"
        );
        for (i, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                s,
                "canaryd_controller_reconcile_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                self.buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(
            s,
            "canaryd_controller_reconcile_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(s, "canaryd_controller_reconcile_duration_seconds_sum {sum}");
        let _ = writeln!(
            s,
            "canaryd_controller_reconcile_duration_seconds_count {count}"
        );
        let _ = writeln!(
            s,
            "# HELP canaryd_controller_is_leader 1 while this replica holds the Lease and reconciles."
        );
        let _ = writeln!(s, "# TYPE canaryd_controller_is_leader gauge");
        let _ = writeln!(
            s,
            "canaryd_controller_is_leader {}",
            self.leader.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "# HELP canaryd_controller_canaries Canaries this replica watches."
        );
        let _ = writeln!(s, "# TYPE canaryd_controller_canaries gauge");
        let _ = writeln!(
            s,
            "canaryd_controller_canaries {}",
            self.canaries.load(Ordering::Relaxed)
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_counts_match() {
        let m = ControllerMetrics::default();
        m.observe(ReconcileResult::Ok, Duration::from_millis(3));
        m.observe(ReconcileResult::Ok, Duration::from_millis(300));
        m.observe(ReconcileResult::Error, Duration::from_secs(60));
        m.set_leader(true);
        m.set_canaries(4);
        let text = m.render();
        for line in [
            "canaryd_controller_reconciles_total{result=\"ok\"} 2",
            "canaryd_controller_reconciles_total{result=\"error\"} 1",
            "canaryd_controller_reconciles_total{result=\"skipped\"} 0",
            "canaryd_controller_reconcile_duration_seconds_bucket{le=\"0.005\"} 1",
            "canaryd_controller_reconcile_duration_seconds_bucket{le=\"0.5\"} 2",
            "canaryd_controller_reconcile_duration_seconds_bucket{le=\"10\"} 2",
            "canaryd_controller_reconcile_duration_seconds_bucket{le=\"+Inf\"} 3",
            "canaryd_controller_reconcile_duration_seconds_count 3",
            "canaryd_controller_is_leader 1",
            "canaryd_controller_canaries 4",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
