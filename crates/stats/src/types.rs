//! The vocabulary shared by every test: which direction is tested, and what
//! a test or an interval returns.

use crate::error::{Result, StatsError};

/// Which departure from "no difference" the test looks for.
///
/// The first sample is always the **canary**, the second the **baseline**,
/// exactly as SciPy's `x, y` (`mannwhitneyu(x=canary, y=baseline)`,
/// `ks_2samp(canary, baseline)`, `fisher_exact([[canary_err, canary_ok],
/// [baseline_err, baseline_ok]])`). `Greater` means "the canary's values are
/// larger" (slower, more errors), which is the regression direction for
/// latency and error rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Alternative {
    /// Any difference, in either direction.
    #[default]
    TwoSided,
    /// The canary is larger (stochastically, or in rate) than the baseline.
    Greater,
    /// The canary is smaller than the baseline.
    Less,
}

impl Alternative {
    /// SciPy's spelling: `two-sided`, `greater`, `less`.
    pub fn as_str(self) -> &'static str {
        match self {
            Alternative::TwoSided => "two-sided",
            Alternative::Greater => "greater",
            Alternative::Less => "less",
        }
    }
}

/// How a p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The exact null distribution (no approximation).
    Exact,
    /// A large-sample (normal, chi-square, Kolmogorov, ...) approximation.
    Asymptotic,
}

/// Which p-value method a caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MethodChoice {
    /// Exact when it is feasible and valid (small samples, no ties), as SciPy's `auto`.
    #[default]
    Auto,
    /// Exact; falls back to asymptotic only where SciPy also does (documented per test).
    Exact,
    /// The large-sample approximation.
    Asymptotic,
}

/// The outcome of a hypothesis test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestResult {
    /// The test statistic, in the convention documented on each test.
    pub statistic: f64,
    /// Probability, under "no difference", of a statistic at least this extreme.
    pub p_value: f64,
    /// How `p_value` was computed.
    pub method: Method,
}

/// A point estimate with a confidence interval.
///
/// `low` may be `-inf` and `high` `+inf` when the data cannot bound that
/// side at the requested level (e.g. a p99 upper bound from 50 samples):
/// an honest "unknown" beats a misleadingly tight interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// The best single value (a ratio, a difference, a quantile).
    pub estimate: f64,
    /// Lower bound; `-inf` when the data cannot bound it.
    pub low: f64,
    /// Upper bound; `+inf` when the data cannot bound it.
    pub high: f64,
    /// Confidence level, e.g. 0.95.
    pub level: f64,
}

impl Interval {
    /// Whether `x` lies inside the closed interval.
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }
}

/// Checks a confidence level is in (0, 1).
pub(crate) fn check_level(level: f64) -> Result<()> {
    if level.is_finite() && level > 0.0 && level < 1.0 {
        Ok(())
    } else {
        Err(StatsError::InvalidParameter {
            name: "level",
            value: level,
            why: "a confidence level must be strictly between 0 and 1",
        })
    }
}

/// Checks a significance level is in (0, 1).
pub(crate) fn check_alpha(alpha: f64) -> Result<()> {
    if alpha.is_finite() && alpha > 0.0 && alpha < 1.0 {
        Ok(())
    } else {
        Err(StatsError::InvalidParameter {
            name: "alpha",
            value: alpha,
            why: "a significance level must be strictly between 0 and 1",
        })
    }
}

/// Checks a probability is in [0, 1].
pub(crate) fn check_probability(name: &'static str, p: f64) -> Result<()> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(StatsError::InvalidParameter {
            name,
            value: p,
            why: "must be a probability in [0, 1]",
        })
    }
}
