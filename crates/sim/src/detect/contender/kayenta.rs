//! A model of Spinnaker's automated canary analysis with Kayenta's judge.
//!
//! Rules modelled, from Spinnaker's "How canary judgment works" and the
//! canary-analysis stage's settings (`lifetime`, `interval`, `step`,
//! `scoreThresholds.marginal` / `pass`), with Kayenta's `NetflixACAJudge`
//! (reused from `canaryd_stats::kayenta`, which reproduces its test vectors):
//! - The canary takes a fixed share (10%) next to the stable cohort for the
//!   whole `lifetime` (30 min); Spinnaker does not ramp during the analysis,
//!   and deploys to 100% only when the stage passes.
//! - Metrics are per-`step` points (one per minute): canary and baseline
//!   error rate and p99 latency, each in its own group, groups weighted
//!   equally, direction `increase`, NaN points (a minute without traffic)
//!   removed.
//! - Every `interval` (10 min) the judge runs on all points since the start
//!   (no lookback window): each metric is classified by a Mann-Whitney
//!   98% confidence interval of canary − baseline with Kayenta's tolerance
//!   band; the score is 100 × passing metrics / metrics per group, weighted.
//! - An interim score below `marginal` (75) ends the stage as failed: roll
//!   back. The last judgement must reach `pass` (95) or the stage fails.

use std::time::Duration;

use canaryd_core::observation::Window;
use canaryd_core::vocab::{Timestamp, Weight};
use canaryd_stats::kayenta::{
    classify, score, Direction, MetricConfig, ScoreClassification, Thresholds,
};

use super::{service_level, service_level_baseline, Contender, Step};

/// Settings of the modelled canary-analysis stage; the default is 10% for 30 one-minute points, judged every 10.
#[derive(Debug, Clone, PartialEq)]
pub struct KayentaConfig {
    /// Canary share, in percent, held for the whole analysis.
    pub weight: Weight,
    /// Metric resolution (one point per step).
    pub step: Duration,
    /// Points between two judgements.
    pub interval_points: u32,
    /// Points in the whole analysis.
    pub lifetime_points: u32,
    /// `scoreThresholds`: `marginal` ends the stage early, `pass` is needed at the end.
    pub thresholds: Thresholds,
}

impl Default for KayentaConfig {
    fn default() -> Self {
        KayentaConfig {
            weight: 10,
            step: Duration::from_secs(60),
            interval_points: 10,
            lifetime_points: 30,
            thresholds: Thresholds {
                pass: 95.0,
                marginal: 75.0,
            },
        }
    }
}

/// Per-point series of one metric: canary and baseline.
#[derive(Debug, Clone, Default)]
struct Series {
    canary: Vec<f64>,
    baseline: Vec<f64>,
}

/// Spinnaker's canary analysis with Kayenta's judge as a benchmark contender.
pub struct KayentaModel {
    config: KayentaConfig,
    errors: Series,
    latency: Series,
    /// The last judgement's score, for tests and reports.
    last_score: Option<f64>,
}

impl KayentaModel {
    /// An analysis with no points collected yet.
    pub fn new(config: KayentaConfig) -> KayentaModel {
        KayentaModel {
            config,
            errors: Series::default(),
            latency: Series::default(),
            last_score: None,
        }
    }

    /// The last judgement's score (0 to 100), `None` before the first judgement.
    pub fn last_score(&self) -> Option<f64> {
        self.last_score
    }

    /// Kayenta's score over the points so far; `None` if the judge refused
    /// the data (which Spinnaker reports as a failed stage).
    fn judge(&self) -> Option<(f64, ScoreClassification)> {
        let metric = |name: &str| MetricConfig {
            direction: Direction::Increase,
            ..MetricConfig::in_group(name, name)
        };
        let e = classify(
            &metric("error_rate"),
            &self.errors.canary,
            &self.errors.baseline,
        );
        let l = classify(
            &metric("latency_p99"),
            &self.latency.canary,
            &self.latency.baseline,
        );
        let (e, l) = (e.ok()?, l.ok()?);
        let weights = [("error_rate", 50.0), ("latency_p99", 50.0)];
        let s = score(&weights, &[e, l], self.config.thresholds).ok()?;
        Some((s.score, s.classification))
    }
}

impl Contender for KayentaModel {
    fn start(&mut self, _now: Timestamp) -> Step {
        Step::Continue(self.config.weight)
    }

    fn window(&self) -> Duration {
        self.config.step
    }

    fn on_window(&mut self, window: Window, _now: Timestamp) -> Step {
        let (ce, cl) = service_level(&window);
        let (be, bl) = service_level_baseline(&window);
        // A missing point is NaN: Kayenta's default NaN strategy removes it.
        self.errors.canary.push(ce.unwrap_or(f64::NAN));
        self.errors.baseline.push(be.unwrap_or(f64::NAN));
        self.latency.canary.push(cl.unwrap_or(f64::NAN));
        self.latency.baseline.push(bl.unwrap_or(f64::NAN));
        let n = self.errors.canary.len() as u32;
        if !n.is_multiple_of(self.config.interval_points.max(1)) && n < self.config.lifetime_points
        {
            return Step::Continue(self.config.weight);
        }
        let verdict = self.judge();
        self.last_score = verdict.map(|v| v.0);
        let last = n >= self.config.lifetime_points;
        match verdict {
            None => Step::RolledBack,
            Some((_, ScoreClassification::Fail)) => Step::RolledBack,
            Some((_, ScoreClassification::Pass)) if last => Step::Promoted,
            Some(_) if last => Step::RolledBack,
            Some(_) => Step::Continue(self.config.weight),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::window_both;
    use super::*;

    fn run(model: &mut KayentaModel, canary_errors: impl Fn(u32) -> u64) -> (Step, u32) {
        model.start(Timestamp(0));
        for i in 0..40 {
            let s = model.on_window(
                window_both((1000, canary_errors(i), 100.0), (9000, 45, 100.0)),
                Timestamp(0),
            );
            if s != Step::Continue(10) {
                return (s, i + 1);
            }
        }
        panic!("no decision in 40 points");
    }

    #[test]
    fn a_clear_error_regression_fails_at_the_first_interval() {
        let mut k = KayentaModel::new(KayentaConfig::default());
        let (step, points) = run(&mut k, |i| 20 + u64::from(i % 3));
        assert_eq!(step, Step::RolledBack);
        assert_eq!(points, 10);
        // One of two equally weighted groups fails: score 50 < marginal 75.
        assert_eq!(k.last_score(), Some(50.0));
    }

    #[test]
    fn an_identical_canary_passes_at_the_end_of_its_lifetime() {
        let mut k = KayentaModel::new(KayentaConfig::default());
        let (step, points) = run(&mut k, |i| 4 + u64::from(i % 3));
        assert_eq!(step, Step::Promoted);
        assert_eq!(points, 30);
        assert_eq!(k.last_score(), Some(100.0));
    }
}
