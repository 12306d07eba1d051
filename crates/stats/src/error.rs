//! Why an input was refused. Every public function validates its input and
//! returns one of these instead of panicking or returning NaN: a judge that
//! silently compares NaNs would pass a broken canary.

use thiserror::Error;

/// An input the statistics cannot be computed from.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum StatsError {
    /// A sample with no observations (e.g. a route with no traffic yet).
    #[error("the {which} sample is empty")]
    EmptySample {
        /// Which input: "canary", "baseline", or the argument's name.
        which: &'static str,
    },
    /// A NaN or infinite observation: upstream parsing or scraping is broken.
    #[error("the {which} sample has a non-finite value ({value}) at position {index}")]
    NotFinite {
        /// Which input: "canary", "baseline", or the argument's name.
        which: &'static str,
        /// Position of the first bad value, so it can be found upstream.
        index: usize,
        /// The value itself (NaN or ±inf).
        value: f64,
    },
    /// A count total of zero where a rate is needed.
    #[error("the {which} total is zero")]
    ZeroTotal {
        /// Which input: "canary", "baseline", or the argument's name.
        which: &'static str,
    },
    /// More errors than requests.
    #[error("the {which} errors ({errors}) exceed its total ({total})")]
    ErrorsExceedTotal {
        /// Which input: "canary", "baseline", or the argument's name.
        which: &'static str,
        /// The error count given.
        errors: u64,
        /// The request total it exceeds.
        total: u64,
    },
    /// A parameter outside its domain (a level of 1.5, a quantile of -0.1, ...).
    #[error("invalid {name} = {value}: {why}")]
    InvalidParameter {
        /// The parameter's name, as the caller's API spells it.
        name: &'static str,
        /// The value that was refused.
        value: f64,
        /// The domain it must lie in, in words.
        why: &'static str,
    },
    /// A histogram that is not a cumulative Prometheus-style histogram.
    #[error("invalid histogram: {why}")]
    InvalidHistogram {
        /// What is wrong with it (bounds out of order, counts decreasing, ...).
        why: String,
    },
    /// A count too large for the test to represent exactly (past 2^53 a
    /// count is no longer an exact `f64`).
    #[error(
        "the {which} total ({value}) is too large for this test: at most {max} requests per cohort"
    )]
    CountTooLarge {
        /// Which input: "canary", "baseline", or the argument's name.
        which: &'static str,
        /// The count given.
        value: u64,
        /// The largest count the test handles exactly.
        max: u64,
    },
    /// The test is undefined for this data (e.g. an expected count of zero).
    #[error("{0}")]
    Undefined(&'static str),
}

/// Shorthand used throughout the crate.
pub type Result<T> = std::result::Result<T, StatsError>;
