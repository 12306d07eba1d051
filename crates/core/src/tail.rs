//! `sequential_latency`: a latency rule's anytime-valid test over the
//! rollout's windows (`canaryd_stats::ExceedanceTest`), and the quantiles
//! it rests on, pooled over the windows it did not set aside.
//!
//! Each window the canary and the baseline are compared on how often they
//! were slower than the bucket edge below the baseline's quantile (the
//! rule's p50 / p95 / p99) in the window before. A tail regression that
//! stays inside one bucket reads as a small quantile ratio per window, but
//! as exceedances it is a large, steady ratio the test accumulates.

use canaryd_stats::sequential::{AnytimeTest, ExceedanceTest};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::observation::{Histogram, Observation};
use crate::policy::{Metric, TestKind, TestSpec};
use crate::verdict::TestEvidence;

/// Exceedance-rate ratios (canary / baseline) the test mixes, by √2 from
/// 1.5×: below 1.5× more requests over the baseline's tail is within what
/// a real workload's mix moves by; above 6× the 6× component is already
/// overwhelming.
const RATIOS: [f64; 5] = [1.5, 2.12, 3.0, 4.24, 6.0];

/// One window's latency histograms of both cohorts, per bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyCells {
    /// Finite bucket bounds (ms), ascending; the cells have one more, `+Inf`.
    pub bounds_ms: Vec<f64>,
    /// Canary requests per bucket (not cumulative), `+Inf` last.
    pub canary: Vec<u64>,
    /// Baseline requests per bucket (not cumulative), `+Inf` last.
    pub baseline: Vec<u64>,
}

impl LatencyCells {
    /// Both cohorts' histograms, when both have the same buckets.
    pub fn of(canary: &Observation, baseline: &Observation) -> Option<LatencyCells> {
        let (ch, bh) = (
            canary.latency_buckets_ms.as_ref()?,
            baseline.latency_buckets_ms.as_ref()?,
        );
        let (c, b) = crate::significance::per_bucket(ch, bh).ok()?;
        let sorted = ch.sorted().ok()?;
        if sorted.last()?.0 != f64::INFINITY {
            return None;
        }
        let bounds_ms = sorted[..sorted.len() - 1].iter().map(|x| x.0).collect();
        Some(LatencyCells {
            bounds_ms,
            canary: c,
            baseline: b,
        })
    }
}

/// The quantile a latency metric is about.
pub fn quantile_of(metric: &Metric) -> Option<f64> {
    match metric {
        Metric::LatencyP50 => Some(0.5),
        Metric::LatencyP95 => Some(0.95),
        Metric::LatencyP99 => Some(0.99),
        _ => None,
    }
}

/// The test replayed over the looks' histograms, and which looks had them.
pub struct Run {
    /// The test after its last look: its verdict, evidence and set-aside burst.
    pub test: ExceedanceTest,
    /// Looks replayed: the window count the evidence reports.
    pub looks: u32,
}

/// Replays `spec` over `cells` (one per look, in order, with its span).
pub fn run(
    spec: &TestSpec,
    metric: &Metric,
    cells: &[(&LatencyCells, Option<(i64, i64)>)],
) -> Result<Run, String> {
    let q = quantile_of(metric)
        .ok_or_else(|| format!("sequential_latency does not fit {}", metric.name()))?;
    let name = TestKind::SequentialLatency.name();
    let mut t = ExceedanceTest::new(spec.alpha, q, &RATIOS).map_err(|e| format!("{name}: {e}"))?;
    if let Some(d) = spec.transient {
        t = t
            .tolerating_transients(crate::vocab::duration_ms(d))
            .map_err(|e| format!("{name}: {e}"))?;
    }
    for (c, span) in cells {
        t.update_over(&c.bounds_ms, &c.canary, &c.baseline, *span)
            .map_err(|e| match (spec.transient, span) {
                (Some(_), None) => format!(
                    "{name}: a look recorded without its time span cannot be judged by a \
                     test with `transient:`"
                ),
                _ => format!("{name}: {e}"),
            })?;
    }
    if t.last_threshold().is_none() {
        return Err(format!(
            "{name} needs two windows with both cohorts' latency histograms (the first \
             sets the baseline's tail bound)"
        ));
    }
    Ok(Run {
        looks: cells.len() as u32,
        test: t,
    })
}

impl Run {
    /// What the test saw: exceedances of its bound on each side, their
    /// ratio (canary rate / baseline rate), the log-evidence and p-value.
    pub fn evidence(&self) -> TestEvidence {
        let (ec, eb) = self.test.exceedances();
        let (nc, nb) = self.test.requests();
        let rate = |e: u64, n: u64| e as f64 / n.max(1) as f64;
        let ratio = if eb == 0 {
            f64::INFINITY
        } else {
            rate(ec, nc) / rate(eb, nb)
        };
        let bound = self.test.last_threshold().unwrap_or(f64::NAN);
        TestEvidence {
            test: TestKind::SequentialLatency.name().into(),
            statistic: self.test.log_evidence(),
            p_value: self.test.p_value(),
            alpha: 0.0,
            effect: ratio,
            effect_name: format!("ratio_of_requests_over_{bound}ms"),
            canary_n: ec,
            baseline_n: eb,
            looks: Some(self.looks),
        }
    }
}

/// Per-bucket counts summed over looks, as a cumulative histogram (the
/// looks must share their bounds; a look with other bounds is left out).
pub fn pooled(cells: &[&LatencyCells]) -> Option<(Histogram, Histogram, u64, u64)> {
    let first = cells.first()?;
    let mut c = vec![0u64; first.canary.len()];
    let mut b = vec![0u64; first.baseline.len()];
    for l in cells.iter().filter(|l| l.bounds_ms == first.bounds_ms) {
        for (s, x) in c.iter_mut().zip(&l.canary) {
            *s = s.saturating_add(*x);
        }
        for (s, x) in b.iter_mut().zip(&l.baseline) {
            *s = s.saturating_add(*x);
        }
    }
    let cumulative = |v: &[u64]| {
        let mut m = BTreeMap::new();
        let mut acc = 0u64;
        for (i, x) in v.iter().enumerate() {
            acc = acc.saturating_add(*x);
            let key = first
                .bounds_ms
                .get(i)
                .map_or("+Inf".to_string(), |b| b.to_string());
            m.insert(key, acc as f64);
        }
        (Histogram(m), acc)
    };
    let ((ch, nc), (bh, nb)) = (cumulative(&c), cumulative(&b));
    Some((ch, bh, nc, nb))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn evidence_names_the_bound_the_counts_and_the_windows() {
        let spec = TestSpec {
            kind: TestKind::SequentialLatency,
            alpha: 0.01,
            warn_alpha: None,
            min_effect: None,
            transient: Some(Duration::from_secs(60)),
        };
        // Baseline: 1.8% over 250 ms; canary: 10% over 250 ms.
        let cells = LatencyCells {
            bounds_ms: vec![100.0, 250.0, 500.0],
            canary: vec![150, 12, 15, 3],
            baseline: vec![5_000, 716, 90, 18],
        };
        let looks: Vec<(&LatencyCells, Option<(i64, i64)>)> = (0..12)
            .map(|i| (&cells, Some((i * 30_000, (i + 1) * 30_000))))
            .collect();
        let r = run(&spec, &Metric::LatencyP99, &looks).unwrap();
        let ev = r.evidence();
        assert!(r.test.rejected(), "{ev}");
        assert_eq!(ev.effect_name, "ratio_of_requests_over_250ms");
        // 11 judged looks (the first only sets the bound) of 18 and 108.
        assert_eq!((ev.canary_n, ev.baseline_n), (11 * 18, 11 * 108));
        assert!((ev.effect - (18.0 / 180.0) / (108.0 / 5_824.0)).abs() < 1e-9);
        assert_eq!(ev.looks, Some(12));
        let shown = ev.to_string();
        assert!(shown.starts_with("sequential_latency p="), "{shown}");
        // One window is not enough: the first only sets the bound.
        assert!(run(&spec, &Metric::LatencyP99, &looks[..1]).is_err());
        assert!(run(&spec, &Metric::ErrorRate, &looks).is_err());
    }
}
