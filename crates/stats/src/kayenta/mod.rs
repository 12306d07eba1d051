//! A Kayenta-compatible judge: per-metric classification and the weighted
//! 0-100 canary score of Netflix's `NetflixACAJudge` (Spinnaker's Kayenta).
//!
//! # Why a second judge
//! Teams moving from Spinnaker bring Kayenta canary configs and expect the
//! same verdicts on the same data. This module reproduces Kayenta's judge
//! decisions, including its quirks, so a `kayenta` rule in canaryd means what
//! it meant there. It is deliberately *not* canaryd's statistics: Kayenta
//! runs a fixed-horizon test on per-interval aggregates (which are not
//! independent), and re-judges at every interval; read the crate docs on
//! peeking before relying on it for fast decisions.
//!
//! # What Kayenta does, per metric ([`classify`])
//! 1. **NaN strategy** ([`NanStrategy`]): drop NaN intervals (default) or
//!    replace them with 0.
//! 2. **Outlier strategy** ([`OutlierStrategy`]): keep (default) or drop
//!    points outside IQR fences with factor 3 (widened to the 1st/99th
//!    percentiles).
//! 3. **No data**: an empty side is [`Classification::Nodata`]; with
//!    `must_have_data` on a non-critical metric it is
//!    [`Classification::NodataFailMetric`] (counts as a failure in the group
//!    score); a critical metric without data fails the whole canary. With
//!    the `Replace` NaN strategy an empty side passes (Kayenta's rule).
//! 4. Identical samples (as multisets), or one single value everywhere: Pass.
//! 5. **Mann-Whitney interval** for the shift experiment - control at
//!    `confidence_level` (0.98 in Kayenta's judge), with R's continuous
//!    root-solving ([`mann_whitney_interval`]), and its estimate.
//! 6. **Tolerance band**: ±`tolerance` × |estimate| (0.25 in the judge).
//!    High if the interval's lower end is above the band, Low if its upper
//!    end is below it, subject to `direction`. The band scales with the
//!    estimate itself, so it mostly guards against intervals that barely
//!    exclude zero; significance at 98% is what decides.
//! 7. **Effect size** ([`EffectSize`]): High also needs the mean ratio
//!    (experiment / control) >= `allowed_increase`, Low needs it
//!    <= `allowed_decrease` (defaults 1.0: no extra condition). When a mean
//!    is 0 the ratio is undefined and the effect-size check is skipped.
//! 8. **Critical metrics**: a High (Low) on a `critical` metric whose ratio
//!    is >= `critical_increase` (<= `critical_decrease`) is marked critical
//!    and fails the whole canary: [`score`] returns 0.
//!
//! # The score ([`score`])
//! Per group, `100 × Pass / (Pass + High + Low + NodataFailMetric)`; Nodata
//! does not count, and a group with nothing countable scores 100 in the
//! summary. Groups are combined with the configured weights (percent);
//! groups without a weight share what is left of 100 equally. Rounded to two
//! decimals. Any critical failure, or Nodata on >= 50% of metrics, gives 0.
//! Then `score >= pass` is Pass, `>= marginal` Marginal, else Fail.
//!
//! # Sources
//! Behaviour and constants were read from Kayenta's public sources
//! (`kayenta-judge`: `NetflixACAJudge`, `MannWhitneyClassifier`,
//! `WeightedSumScorer`, `IQRDetector`; `kayenta-mannwhitney`: `MannWhitney`,
//! `BrentSolver`) and its test suites, which `tests/kayenta.rs` reproduces.
//! One deliberate difference: where Kayenta jitters two constant samples
//! with Gaussian noise before the test, we use the exact limit of that
//! jitter (a zero-width interval at the difference of the constants), so
//! the verdict is deterministic.

mod preprocess;
mod score;
mod wilcox;

pub use score::{score, GroupScore, Score, ScoreClassification, Thresholds};
pub use wilcox::{mann_whitney_interval, wilcoxon_score};

use crate::error::{Result, StatsError};
use crate::sample::mean;
use crate::types::{check_level, Interval};

/// Which change of the metric is a regression. Kayenta's `direction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Only an increase fails (latency, errors).
    Increase,
    /// Only a decrease fails (throughput, success count).
    Decrease,
    /// Both fail (Kayenta's default).
    #[default]
    Either,
}

/// What to do with NaN (missing) interval values. Kayenta's `nanStrategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NanStrategy {
    /// Drop them (Kayenta's default, also for unknown spellings).
    #[default]
    Remove,
    /// Replace them by 0 (counters where "no sample" means "no event").
    Replace,
}

/// What to do with outlying interval values. Kayenta's `outliers.strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum OutlierStrategy {
    /// Use every value (Kayenta's default).
    #[default]
    Keep,
    /// Drop values outside `q1 - factor*IQR` / `q3 + factor*IQR`, fences
    /// widened to at least the 1st / 99th percentile. Kayenta's
    /// `outliers.outlierFactor` defaults to 3.
    Remove {
        /// How many IQRs past the quartiles a value must lie to be dropped.
        factor: f64,
    },
}

impl OutlierStrategy {
    /// Kayenta's `outliers: {strategy: remove}` with its default factor 3.
    pub const REMOVE: OutlierStrategy = OutlierStrategy::Remove { factor: 3.0 };
}

/// How the size of a change is measured for the allowed / critical checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EffectSizeMeasure {
    /// mean(experiment) / mean(control); 1 = no change. Kayenta's default.
    #[default]
    MeanRatio,
    /// Common-language effect size P(experiment > control) + ties/2;
    /// 0.5 = no change. Kayenta's `measure: cles`.
    Cles,
}

/// Kayenta's `effectSize` block: how large a significant change must be to
/// fail the metric, and to fail the whole canary (critical metrics only).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EffectSize {
    /// How the thresholds below are read: as a mean ratio or a CLES.
    pub measure: EffectSizeMeasure,
    /// High needs an effect >= this (e.g. 1.1: at least 10% more).
    pub allowed_increase: f64,
    /// Low needs an effect <= this (e.g. 0.9: at least 10% less).
    pub allowed_decrease: f64,
    /// A critical metric's High fails the canary when the effect is >= this.
    pub critical_increase: f64,
    /// A critical metric's Low fails the canary when the effect is <= this.
    pub critical_decrease: f64,
}

impl EffectSize {
    /// Kayenta's defaults for the mean ratio: every threshold 1.0, so any
    /// significant change counts, and any High/Low of a critical metric is
    /// critical.
    pub const MEAN_RATIO: EffectSize = EffectSize {
        measure: EffectSizeMeasure::MeanRatio,
        allowed_increase: 1.0,
        allowed_decrease: 1.0,
        critical_increase: 1.0,
        critical_decrease: 1.0,
    };
    /// The same "no extra condition" defaults on the CLES scale (0.5).
    pub const CLES: EffectSize = EffectSize {
        measure: EffectSizeMeasure::Cles,
        allowed_increase: 0.5,
        allowed_decrease: 0.5,
        critical_increase: 0.5,
        critical_decrease: 0.5,
    };
}

impl Default for EffectSize {
    fn default() -> Self {
        EffectSize::MEAN_RATIO
    }
}

/// One metric's canary configuration (Kayenta's `analysisConfigurations.canary`
/// plus the judge's classifier constants).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricConfig {
    /// The metric's name, carried into its [`MetricResult`].
    pub name: String,
    /// Groups the metric scores in (Kayenta's `groups`); usually one.
    pub groups: Vec<String>,
    /// Which way a change is bad (Kayenta's `direction`).
    pub direction: Direction,
    /// What to do with NaN values (Kayenta's `nanStrategy`).
    pub nan_strategy: NanStrategy,
    /// What to do with outlying values (Kayenta's `outliers`).
    pub outlier_strategy: OutlierStrategy,
    /// How large a significant change must be to count.
    pub effect_size: EffectSize,
    /// A failing critical metric fails the whole canary (score 0).
    pub critical: bool,
    /// Missing data is a failure of this metric (NodataFailMetric), not a skip.
    pub must_have_data: bool,
    /// Half-width of the tolerance band as a fraction of |estimate|
    /// (Kayenta's judge: 0.25).
    pub tolerance: f64,
    /// Two-sided level of the Mann-Whitney interval (Kayenta's judge: 0.98).
    pub confidence_level: f64,
}

impl MetricConfig {
    /// Kayenta's judge defaults: direction either, NaNs removed, outliers
    /// kept, effect sizes 1.0, not critical, data optional, tolerance 0.25,
    /// confidence 0.98; in no group.
    pub fn new(name: impl Into<String>) -> MetricConfig {
        MetricConfig {
            name: name.into(),
            groups: Vec::new(),
            direction: Direction::Either,
            nan_strategy: NanStrategy::Remove,
            outlier_strategy: OutlierStrategy::Keep,
            effect_size: EffectSize::MEAN_RATIO,
            critical: false,
            must_have_data: false,
            tolerance: 0.25,
            confidence_level: 0.98,
        }
    }

    /// The same, in one group.
    pub fn in_group(name: impl Into<String>, group: impl Into<String>) -> MetricConfig {
        MetricConfig {
            groups: vec![group.into()],
            ..MetricConfig::new(name)
        }
    }

    fn validate(&self) -> Result<()> {
        check_level(self.confidence_level)?;
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return Err(StatsError::InvalidParameter {
                name: "tolerance",
                value: self.tolerance,
                why: "the tolerance band fraction must be finite and >= 0",
            });
        }
        if let OutlierStrategy::Remove { factor } = self.outlier_strategy {
            if !(factor.is_finite() && factor > 0.0) {
                return Err(StatsError::InvalidParameter {
                    name: "outlier_factor",
                    value: factor,
                    why: "the IQR factor must be finite and > 0 (Kayenta requires > 0)",
                });
            }
        }
        let e = &self.effect_size;
        for (name, value) in [
            ("allowed_increase", e.allowed_increase),
            ("allowed_decrease", e.allowed_decrease),
            ("critical_increase", e.critical_increase),
            ("critical_decrease", e.critical_decrease),
        ] {
            if !value.is_finite() {
                return Err(StatsError::InvalidParameter {
                    name,
                    value,
                    why: "an effect-size threshold must be finite",
                });
            }
        }
        Ok(())
    }
}

/// Kayenta's metric classification labels (its `Error` label is our `Err`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classification {
    /// No significant change the metric's direction cares about.
    Pass,
    /// Significantly (and, if configured, sufficiently) higher than control.
    High,
    /// Significantly lower than control.
    Low,
    /// No data on one side; ignored by the group score.
    Nodata,
    /// No data on a `must_have_data` metric; counts as a failure.
    NodataFailMetric,
}

impl Classification {
    /// Kayenta's spelling, as found in its result JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Pass => "Pass",
            Classification::High => "High",
            Classification::Low => "Low",
            Classification::Nodata => "Nodata",
            Classification::NodataFailMetric => "NodataFailMetric",
        }
    }
}

/// The judgement of one metric, with the evidence behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricResult {
    /// The metric's name, from its [`MetricConfig`].
    pub name: String,
    /// The groups it scores in, from its [`MetricConfig`].
    pub groups: Vec<String>,
    /// The verdict on this metric.
    pub classification: Classification,
    /// This result fails the whole canary (see [`score`]).
    pub critical: bool,
    /// Why, in words (None for an unremarkable Pass).
    pub reason: Option<String>,
    /// Kayenta's "ratio": the effect size in the configured measure; 1.0 when
    /// the judgement stopped before testing (no data, identical data);
    /// `None` when undefined (a mean of 0 with the mean ratio).
    pub effect_size: Option<f64>,
    /// The Mann-Whitney interval and estimate for experiment - control, when
    /// the test ran.
    pub interval: Option<Interval>,
    /// The tolerance band (lower, upper) the interval was compared with.
    pub band: Option<(f64, f64)>,
    /// Experiment values judged after preprocessing.
    pub experiment_count: usize,
    /// Control values judged after preprocessing.
    pub control_count: usize,
    /// Experiment values dropped by the outlier strategy.
    pub experiment_outliers: usize,
    /// Control values dropped by the outlier strategy.
    pub control_outliers: usize,
}

/// Classifies one metric as Kayenta's `NetflixACAJudge` does: preprocessing,
/// the Mann-Whitney interval against a tolerance band, effect-size and
/// critical thresholds. `experiment` is the canary's per-interval values,
/// `control` the baseline's; NaN marks a missing interval.
///
/// Errors: an invalid config, or an infinite value (see the NaN strategy for
/// missing values).
pub fn classify(
    config: &MetricConfig,
    experiment: &[f64],
    control: &[f64],
) -> Result<MetricResult> {
    config.validate()?;
    let e = preprocess::prepare(
        "experiment",
        experiment,
        config.nan_strategy,
        config.outlier_strategy,
    )?;
    let c = preprocess::prepare(
        "control",
        control,
        config.nan_strategy,
        config.outlier_strategy,
    )?;
    let mut result = MetricResult {
        name: config.name.clone(),
        groups: config.groups.clone(),
        classification: Classification::Pass,
        critical: false,
        reason: None,
        effect_size: Some(1.0),
        interval: None,
        band: None,
        experiment_count: e.values.len(),
        control_count: c.values.len(),
        experiment_outliers: e.outliers_removed,
        control_outliers: c.outliers_removed,
    };
    let (x, y) = (e.values, c.values);

    if x.is_empty() || y.is_empty() {
        if config.nan_strategy == NanStrategy::Replace {
            // Kayenta: with NaNs replaced by zero, missing data passes.
            return Ok(result);
        }
        result.reason = Some(format!("missing data for {}", config.name));
        if config.must_have_data && !config.critical {
            result.classification = Classification::NodataFailMetric;
        } else {
            result.classification = Classification::Nodata;
            result.critical = config.critical;
        }
        return Ok(result);
    }

    let (xs, ys) = (ascending(&x), ascending(&y));
    if xs == ys {
        result.reason = Some("the canary and baseline data are identical".to_string());
        return Ok(result);
    }
    if xs[0] == xs[xs.len() - 1] && ys[0] == ys[ys.len() - 1] {
        if xs[0] == ys[0] {
            // One single value everywhere (samples of different sizes).
            return Ok(result);
        }
        // Both constant: Kayenta jitters the data (sd 1e-5 x value) to get a
        // finite interval; we take the limit of that jitter.
        let d = xs[0] - ys[0];
        result.interval = Some(Interval {
            estimate: d,
            low: d,
            high: d,
            level: config.confidence_level,
        });
    } else {
        result.interval = Some(mann_whitney_interval(&x, &y, config.confidence_level)?);
    }
    let Some(interval) = result.interval else {
        return Ok(result);
    };

    let effect = effect_size(config.effect_size.measure, &x, &y);
    result.effect_size = effect;
    let half = config.tolerance * interval.estimate.abs();
    let (lower, upper) = (-half, half);
    result.band = Some((lower, upper));

    let es = &config.effect_size;
    let up = matches!(config.direction, Direction::Increase | Direction::Either);
    let down = matches!(config.direction, Direction::Decrease | Direction::Either);
    // An undefined effect size skips the magnitude check (Kayenta's rule).
    let large_increase = effect.is_none_or(|d| d >= es.allowed_increase);
    let large_decrease = effect.is_none_or(|d| d <= es.allowed_decrease);
    let effect_text = match effect {
        Some(d) => format!("{d:.4}"),
        None => "undefined".to_string(),
    };
    if up && interval.low > upper && large_increase {
        result.classification = Classification::High;
        result.critical = config.critical && effect.is_none_or(|d| d >= es.critical_increase);
        result.reason = Some(format!(
            "{} was classified as High: the {:.0}% interval [{}, {}] lies above the tolerance band {} (effect size {})",
            config.name,
            100.0 * config.confidence_level,
            interval.low,
            interval.high,
            upper,
            effect_text
        ));
    } else if down && interval.high < lower && large_decrease {
        result.classification = Classification::Low;
        result.critical = config.critical && effect.is_none_or(|d| d <= es.critical_decrease);
        result.reason = Some(format!(
            "{} was classified as Low: the {:.0}% interval [{}, {}] lies below the tolerance band {} (effect size {})",
            config.name,
            100.0 * config.confidence_level,
            interval.low,
            interval.high,
            lower,
            effect_text
        ));
    }
    if result.critical {
        if let Some(reason) = result.reason.as_mut() {
            reason.push_str(" (critical)");
        }
    }
    Ok(result)
}

/// The configured effect size of experiment vs control; `None` where Kayenta
/// gets NaN (a mean of exactly 0 on either side, for the mean ratio).
fn effect_size(measure: EffectSizeMeasure, x: &[f64], y: &[f64]) -> Option<f64> {
    match measure {
        EffectSizeMeasure::MeanRatio => {
            let (mx, my) = (mean(x), mean(y));
            (mx != 0.0 && my != 0.0).then(|| mx / my)
        }
        EffectSizeMeasure::Cles => crate::dominance(x, y).ok().map(|d| d.common_language),
    }
}

fn ascending(v: &[f64]) -> Vec<f64> {
    let mut s: Vec<f64> = v.iter().map(|x| x + 0.0).collect();
    s.sort_unstable_by(f64::total_cmp);
    s
}
