//! Statistics for judging a canary against its baseline.
//!
//! Pure functions and small state structs: no I/O, no clock, no environment.
//! The judge in `canaryd-core` calls these; `canaryd stats` exposes them on
//! the command line so any number can be checked by hand.
//!
//! # Why statistics at all
//! A threshold on a raw ratio is noise on small counts: 1 error in 1,000
//! requests against 3 in 1,000 is not "3x worse" (Fisher's exact p = 0.62).
//! Every test here answers "is the data strong enough?", and every interval
//! "how big could the difference really be?".
//!
//! # What is here
//! - **Two-sample tests, fixed horizon** — run once on one window:
//!   [`mann_whitney`] (latency, any shape), [`ks_two_sample`] (any
//!   distribution change), [`chi_square_2x2`] and [`fisher_exact`] (error
//!   counts), [`binomial_test`] and [`sample_ratio_mismatch`] (traffic split).
//!   p-values follow SciPy's conventions and are cross-checked against it
//!   (`tests/fixtures/gen_scipy.py`).
//! - **Estimates with confidence intervals**: [`hodges_lehmann`] (latency
//!   shift), [`rate_ratio`] and [`rate_difference`] (error rates),
//!   [`quantile_interval`] / [`quantile_ratio_interval`] (raw samples) and
//!   [`histogram_quantile`] (Prometheus buckets).
//! - **Effect sizes**: [`dominance`] (common-language effect size, Cliff's
//!   delta), [`cohens_h`], [`mean_ratio`]; [`iqr_outliers`].
//! - **Planning**: [`power`] — how many requests a window needs.
//! - **Anytime-valid tests** ([`sequential`]): [`Sprt`], [`ErrorCountTest`],
//!   [`LatencyTest`].
//!
//! # Peeking, and why the sequential tests exist
//! A fixed-horizon test has false-alarm rate alpha when run *once*. canaryd
//! judges every window; re-running Mann-Whitney or chi-square on the
//! accumulated data at each window and stopping at the first p < alpha
//! rejects a healthy canary far more often than alpha (with 100 looks at
//! alpha = 0.05, about 30-40% of the time; the `sequential_simulation` test
//! measures it). The tests in [`sequential`] are built on test martingales
//! and Ville's inequality: their false-alarm rate stays <= alpha however
//! often they are checked — they are *anytime-valid* — and their p-values
//! are valid at any stopping time. Use fixed-horizon tests for one judgement
//! of one window, sequential tests for evidence accumulated across windows.
//!
//! # Conventions
//! The first sample is always the canary, the second the baseline.
//! [`Alternative::Greater`] means "canary larger" (slower, more errors) —
//! except for KS, whose SciPy convention is about CDFs (see [`ks_two_sample`]).
//! Invalid input (empty samples, NaN, zero totals, errors > total) is a
//! [`StatsError`], never a panic or a NaN p-value.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

mod binned;
mod binomial;
mod counts;
mod dist;
mod effect;
mod error;
mod histogram;
mod hodges_lehmann;
mod hypergeometric;
pub mod kayenta;
mod kolmogorov;
mod ks;
mod ks_exact;
mod mann_whitney;
mod outliers;
pub mod power;
mod quantile;
mod rank_dist;
mod rates;
mod sample;
pub mod sequential;
mod srm;
mod types;

pub use binned::mann_whitney_binned;
pub use binomial::binomial_test;
pub use counts::{chi_square_2x2, fisher_exact, Counts};
pub use effect::{cohens_h, dominance, mean_ratio, Dominance};
pub use error::{Result, StatsError};
pub use histogram::{histogram_quantile, Histogram};
pub use hodges_lehmann::hodges_lehmann;
pub use hypergeometric::MAX_COUNT;
pub use ks::ks_two_sample;
pub use mann_whitney::mann_whitney;
pub use outliers::{iqr_outliers, Outliers};
pub use quantile::{quantile_interval, quantile_ratio_interval};
pub use rates::{rate_difference, rate_ratio, RateComparison};
pub use sequential::{
    AnytimeTest, ErrorCountTest, ExceedanceTest, LatencyTest, Sprt, SprtDecision,
};
pub use srm::sample_ratio_mismatch;
pub use types::{Alternative, Interval, Method, MethodChoice, TestResult};
