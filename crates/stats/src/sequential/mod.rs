//! Anytime-valid (sequential) tests: the false-alarm rate stays <= alpha
//! however often, and for however long, they are checked.
//!
//! Each test keeps a *test martingale* M_t: a non-negative process with
//! M_0 = 1 whose expectation stays <= 1 under "no regression". Ville's
//! inequality gives P(sup_t M_t >= 1/alpha) <= alpha, so rejecting the first
//! time M_t >= 1/alpha is a level-alpha test at *every* look, and
//! p_t = min(1, 1 / max_{s <= t} M_s) is a p-value valid at any (even
//! data-dependent) stopping time. Re-running a fixed-horizon test every
//! window instead ("peeking") inflates false alarms toward 1; see the
//! `sequential_simulation` test for both, measured.
//!
//! The states are a few numbers; one `update` is a handful of logarithms
//! (well under a microsecond, see `BENCHMARKS.md`).

mod error_counts;
mod exceedance;
mod latency;
mod sprt;

pub use error_counts::ErrorCountTest;
pub use exceedance::{above, tail_bound, ExceedanceTest};
pub use latency::LatencyTest;
pub use sprt::{bernoulli_kl, wald_expected_sample_size, Sprt, SprtDecision};

/// What every anytime-valid test reports.
pub trait AnytimeTest {
    /// Always-valid p-value: min(1, 1 / running max of the test martingale).
    /// Non-increasing over updates.
    fn p_value(&self) -> f64;
    /// Whether the test has rejected "no regression" at its alpha (sticky).
    fn rejected(&self) -> bool;
}

/// Running maximum of log M_t and the alpha it is compared against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Evidence {
    pub log_max: f64,
    pub log_threshold: f64,
}

impl Evidence {
    pub(crate) fn new(alpha: f64) -> Evidence {
        Evidence {
            log_max: 0.0,
            log_threshold: -alpha.ln(),
        }
    }

    #[inline]
    pub(crate) fn observe(&mut self, log_m: f64) {
        if log_m > self.log_max {
            self.log_max = log_m;
        }
    }

    pub(crate) fn p_value(&self) -> f64 {
        (-self.log_max).exp().min(1.0)
    }

    pub(crate) fn rejected(&self) -> bool {
        self.log_max >= self.log_threshold
    }
}
