//! A model of Flagger's canary analysis (`Canary.spec.analysis`).
//!
//! Rules modelled, from Flagger's documentation ("Canary analysis",
//! "Metrics analysis") and its tutorials' typical configuration
//! (`interval: 1m`, `threshold: 5`, `stepWeight: 10`, `maxWeight: 50`,
//! `request-success-rate` `thresholdRange.min: 99`, `request-duration`
//! `thresholdRange.max: 500`):
//! - The canary starts at `stepWeight`. Every `interval` each metric check
//!   runs on the canary alone (no comparison with the primary): the success
//!   rate of the interval must be ≥ `min`, the P99 duration (Prometheus'
//!   `histogram_quantile(0.99, ...)`) ≤ `max`.
//! - If any check fails, the failed-checks counter goes up by one and the
//!   weight holds. The counter is never reset by a passing check (only a new
//!   revision starts a fresh analysis). When it reaches `threshold`, Flagger
//!   rolls back.
//! - A query that returns no value (no traffic in the interval) is a failed
//!   check: Flagger halts on "no values found".
//! - If all checks pass, the weight goes up by `stepWeight`; a passing
//!   interval at `maxWeight` promotes.

use std::time::Duration;

use canaryd_core::observation::Window;
use canaryd_core::vocab::{Timestamp, Weight};

use super::{service_level, Contender, Step};

/// Settings of the modelled `Canary.spec.analysis`; the default is the tutorials' typical configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct FlaggerConfig {
    /// `interval`: how often the checks run and the weight may move.
    pub interval: Duration,
    /// Failed checks before rollback.
    pub threshold: u32,
    /// `stepWeight`: the first weight and each increase after a passing interval.
    pub step_weight: Weight,
    /// `maxWeight`: the weight at which a passing interval promotes.
    pub max_weight: Weight,
    /// `request-success-rate` `thresholdRange.min`, as a fraction.
    pub min_success_rate: f64,
    /// `request-duration` `thresholdRange.max`, P99 in ms.
    pub max_p99_ms: f64,
}

impl Default for FlaggerConfig {
    fn default() -> Self {
        FlaggerConfig {
            interval: Duration::from_secs(60),
            threshold: 5,
            step_weight: 10,
            max_weight: 50,
            min_success_rate: 0.99,
            max_p99_ms: 500.0,
        }
    }
}

/// Flagger's canary analysis as a benchmark contender, stepping on each window.
pub struct FlaggerModel {
    config: FlaggerConfig,
    weight: Weight,
    failed_checks: u32,
}

impl FlaggerModel {
    /// An analysis at weight 0 with no failed check yet.
    pub fn new(config: FlaggerConfig) -> FlaggerModel {
        FlaggerModel {
            config,
            weight: 0,
            failed_checks: 0,
        }
    }

    /// Failed checks so far in this analysis.
    pub fn failed_checks(&self) -> u32 {
        self.failed_checks
    }

    /// Whether every metric check of one interval passes.
    fn checks_pass(&self, window: &Window) -> bool {
        match service_level(window) {
            (Some(err), Some(p99)) => {
                1.0 - err >= self.config.min_success_rate && p99 <= self.config.max_p99_ms
            }
            // "no values found": a failed check, never a pass.
            _ => false,
        }
    }
}

impl Contender for FlaggerModel {
    fn start(&mut self, _now: Timestamp) -> Step {
        self.weight = self.config.step_weight.min(self.config.max_weight);
        Step::Continue(self.weight)
    }

    fn window(&self) -> Duration {
        self.config.interval
    }

    fn on_window(&mut self, window: Window, _now: Timestamp) -> Step {
        if !self.checks_pass(&window) {
            self.failed_checks += 1;
            if self.failed_checks >= self.config.threshold {
                return Step::RolledBack;
            }
            return Step::Continue(self.weight);
        }
        if self.weight >= self.config.max_weight {
            return Step::Promoted;
        }
        self.weight = self
            .weight
            .saturating_add(self.config.step_weight)
            .min(self.config.max_weight);
        Step::Continue(self.weight)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::window;
    use super::*;

    #[test]
    fn counter_never_resets_on_passing_checks() {
        let mut f = FlaggerModel::new(FlaggerConfig {
            max_weight: 100,
            ..FlaggerConfig::default()
        });
        assert_eq!(f.start(Timestamp(0)), Step::Continue(10));
        // Alternate bad (3% errors) and good windows: 5 bad ones roll back,
        // though never two in a row.
        let mut last = Step::Continue(10);
        for i in 0..9 {
            let errors = if i % 2 == 0 { 30 } else { 2 };
            last = f.on_window(window(1000, errors, 100.0), Timestamp(0));
            if i < 8 {
                assert_ne!(last, Step::RolledBack, "window {i}");
            }
        }
        assert_eq!(f.failed_checks(), 5);
        assert_eq!(last, Step::RolledBack);
    }

    #[test]
    fn no_data_is_a_failed_check_and_holds_the_weight() {
        let mut f = FlaggerModel::new(FlaggerConfig::default());
        f.start(Timestamp(0));
        assert_eq!(
            f.on_window(window(0, 0, 100.0), Timestamp(0)),
            Step::Continue(10)
        );
        assert_eq!(f.failed_checks(), 1);
    }

    #[test]
    fn passing_checks_step_up_and_promote_at_max_weight() {
        let mut f = FlaggerModel::new(FlaggerConfig::default());
        f.start(Timestamp(0));
        let mut weights = Vec::new();
        loop {
            match f.on_window(window(1000, 1, 100.0), Timestamp(0)) {
                Step::Continue(w) => weights.push(w),
                other => {
                    assert_eq!(other, Step::Promoted);
                    break;
                }
            }
        }
        assert_eq!(weights, vec![20, 30, 40, 50]);
    }

    #[test]
    fn a_slow_p99_fails_the_check() {
        let mut f = FlaggerModel::new(FlaggerConfig::default());
        f.start(Timestamp(0));
        f.on_window(window(1000, 0, 900.0), Timestamp(0));
        assert_eq!(f.failed_checks(), 1);
    }
}
