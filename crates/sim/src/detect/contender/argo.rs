//! A model of an Argo Rollouts canary with a background AnalysisRun.
//!
//! Rules modelled, from Argo Rollouts' documentation ("Analysis & Progressive
//! Delivery": background analysis, `failureLimit`, `inconclusiveLimit`,
//! `consecutiveErrorLimit`, `interval`, `count`) and its canary example
//! (`setWeight` steps each followed by a `pause`):
//! - The Rollout walks its steps: 20% → 40% → 60% → 80%, each held by a
//!   5-minute pause, then 100% (the rollout completes: promoted).
//! - From the start, a background AnalysisRun takes one measurement per
//!   metric every `interval` (no `count`: it runs until the rollout ends).
//!   Metrics: `success-rate` with `successCondition: result[0] >= 0.99` and
//!   `p99-latency` with `successCondition: result[0] <= 0.5` (seconds),
//!   both on the canary only. A measurement that does not meet its
//!   `successCondition` is Failed (no `failureCondition` set).
//! - A metric fails when its Failed measurements exceed `failureLimit`
//!   (total over the run, not consecutive: a passing measurement does not
//!   forgive an earlier failure). Any failed metric fails the AnalysisRun and
//!   the Rollout aborts (all traffic back to stable).
//! - A query returning an empty result (no traffic) makes `result[0]`
//!   unevaluable: the measurement is Error, not Failed. More than
//!   `consecutiveErrorLimit` (default 4) Errors in a row fail the run too.
//! - Inconclusive measurements (both conditions set, neither met) pause the
//!   rollout past `inconclusiveLimit`; with only `successCondition`, as here,
//!   no measurement is Inconclusive.

use std::time::Duration;

use canaryd_core::observation::Window;
use canaryd_core::vocab::{Timestamp, Weight};

use super::{service_level, Contender, Step};

/// Settings of the modelled Rollout and AnalysisRun; the default is the setup the module docs describe.
#[derive(Debug, Clone, PartialEq)]
pub struct ArgoConfig {
    /// `setWeight` of each step and the `pause` after it.
    pub steps: Vec<(Weight, Duration)>,
    /// Measurement interval of the background analysis.
    pub interval: Duration,
    /// `success-rate` `successCondition: result[0] >= min_success_rate`.
    pub min_success_rate: f64,
    /// `p99-latency` `successCondition: result[0] <= max_p99_ms / 1000`.
    pub max_p99_ms: f64,
    /// `failureLimit`: Failed measurements a metric tolerates over the whole run.
    pub failure_limit: u32,
    /// `consecutiveErrorLimit`: Error measurements in a row a metric tolerates.
    pub consecutive_error_limit: u32,
}

impl Default for ArgoConfig {
    fn default() -> Self {
        let pause = Duration::from_secs(300);
        ArgoConfig {
            steps: vec![(20, pause), (40, pause), (60, pause), (80, pause)],
            interval: Duration::from_secs(60),
            min_success_rate: 0.99,
            max_p99_ms: 500.0,
            failure_limit: 3,
            consecutive_error_limit: 4,
        }
    }
}

/// One metric's measurement outcome (Argo's `AnalysisPhase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measurement {
    Successful,
    Failed,
    Error,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct MetricTally {
    failed: u32,
    consecutive_errors: u32,
}

impl MetricTally {
    /// Records one measurement; true when the metric has failed.
    fn record(&mut self, m: Measurement, cfg: &ArgoConfig) -> bool {
        match m {
            Measurement::Successful => self.consecutive_errors = 0,
            Measurement::Failed => {
                self.consecutive_errors = 0;
                self.failed += 1;
            }
            Measurement::Error => self.consecutive_errors += 1,
        }
        self.failed > cfg.failure_limit || self.consecutive_errors > cfg.consecutive_error_limit
    }
}

/// The Argo Rollouts canary as a benchmark contender, stepping on each window.
pub struct ArgoModel {
    config: ArgoConfig,
    step: usize,
    in_step: Duration,
    success_rate: MetricTally,
    latency: MetricTally,
}

impl ArgoModel {
    /// A Rollout at its first step, with no measurement taken yet.
    pub fn new(config: ArgoConfig) -> ArgoModel {
        ArgoModel {
            config,
            step: 0,
            in_step: Duration::ZERO,
            success_rate: MetricTally::default(),
            latency: MetricTally::default(),
        }
    }

    /// Failed measurements of the success-rate metric so far.
    pub fn failed_success_rate(&self) -> u32 {
        self.success_rate.failed
    }

    fn weight(&self) -> Weight {
        self.config.steps.get(self.step).map_or(100, |s| s.0)
    }

    /// The two measurements of one interval.
    pub fn measure(&self, window: &Window) -> (Measurement, Measurement) {
        let (err, p99) = service_level(window);
        let success = match err {
            Some(e) if 1.0 - e >= self.config.min_success_rate => Measurement::Successful,
            Some(_) => Measurement::Failed,
            None => Measurement::Error,
        };
        let latency = match p99 {
            Some(p) if p <= self.config.max_p99_ms => Measurement::Successful,
            Some(_) => Measurement::Failed,
            None => Measurement::Error,
        };
        (success, latency)
    }
}

impl Contender for ArgoModel {
    fn start(&mut self, _now: Timestamp) -> Step {
        Step::Continue(self.weight())
    }

    fn window(&self) -> Duration {
        self.config.interval
    }

    fn on_window(&mut self, window: Window, _now: Timestamp) -> Step {
        let (s, l) = self.measure(&window);
        let cfg = &self.config;
        let failed_s = self.success_rate.record(s, cfg);
        let failed_l = self.latency.record(l, cfg);
        if failed_s || failed_l {
            return Step::RolledBack;
        }
        self.in_step += self.config.interval;
        if let Some((_, pause)) = self.config.steps.get(self.step) {
            if self.in_step >= *pause {
                self.step += 1;
                self.in_step = Duration::ZERO;
            }
        }
        if self.step >= self.config.steps.len() {
            return Step::Promoted;
        }
        Step::Continue(self.weight())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::window;
    use super::*;

    #[test]
    fn failure_limit_counts_total_failures_and_aborts_past_it() {
        let mut a = ArgoModel::new(ArgoConfig::default());
        a.start(Timestamp(0));
        // failureLimit 3: the 4th failed measurement aborts, even with
        // passing measurements in between.
        let seq = [30, 1, 30, 1, 30, 1];
        for errors in seq {
            assert_ne!(
                a.on_window(window(1000, errors, 100.0), Timestamp(0)),
                Step::RolledBack
            );
        }
        assert_eq!(a.failed_success_rate(), 3);
        assert_eq!(
            a.on_window(window(1000, 30, 100.0), Timestamp(0)),
            Step::RolledBack
        );
    }

    #[test]
    fn empty_results_are_errors_not_failures() {
        let mut a = ArgoModel::new(ArgoConfig::default());
        a.start(Timestamp(0));
        let empty = window(0, 0, 100.0);
        assert_eq!(a.measure(&empty).0, Measurement::Error);
        for _ in 0..4 {
            assert_ne!(a.on_window(empty.clone(), Timestamp(0)), Step::RolledBack);
        }
        assert_eq!(a.failed_success_rate(), 0);
        // The 5th error in a row exceeds consecutiveErrorLimit 4.
        assert_eq!(a.on_window(empty, Timestamp(0)), Step::RolledBack);
    }

    #[test]
    fn healthy_canary_walks_the_steps_and_completes_after_the_last_pause() {
        let mut a = ArgoModel::new(ArgoConfig::default());
        assert_eq!(a.start(Timestamp(0)), Step::Continue(20));
        let mut n = 0;
        let mut seen = Vec::new();
        loop {
            n += 1;
            match a.on_window(window(1000, 1, 100.0), Timestamp(0)) {
                Step::Continue(w) => {
                    if seen.last() != Some(&w) {
                        seen.push(w);
                    }
                }
                Step::Promoted => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(n, 20);
        assert_eq!(seen, vec![20, 40, 60, 80]);
    }
}
