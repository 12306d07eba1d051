//! Wald's sequential probability ratio test for an error rate against a
//! known rate, and Wald's bound on how fast any test can be.

use super::{AnytimeTest, Evidence};
use crate::error::{Result, StatsError};
use crate::types::check_alpha;

/// Where an SPRT stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SprtDecision {
    /// Not enough evidence either way yet.
    Continue,
    /// The rate is p1 rather than p0 (regression), at level alpha.
    RejectNull,
    /// The rate is p0 rather than p1, with type II error about beta.
    AcceptNull,
}

/// SPRT of H0: error rate p0 against H1: error rate p1, on counts.
///
/// **Use it for** a canary's error rate against a rate known in advance (an
/// SLO, or a long-run baseline measured elsewhere). When the baseline rate
/// must be estimated from the concurrent baseline, use
/// [`super::ErrorCountTest`] instead: plugging an estimate in for p0 voids
/// the guarantee.
///
/// **Guarantee**: the likelihood ratio is a test martingale under H0 (for
/// any p1), so rejecting at LR >= 1/alpha has false-alarm probability
/// <= alpha by Ville's inequality, however often it is checked. (Wald's
/// classical boundary (1 - beta)/alpha only guarantees about alpha/(1-beta).)
/// Acceptance uses Wald's lower boundary beta/(1 - alpha), which bounds the
/// miss rate at about beta when the true rate is p1. Among all tests with
/// these error rates the SPRT needs the fewest requests on average (Wald &
/// Wolfowitz 1948); [`wald_expected_sample_size`] gives that number.
#[derive(Debug, Clone, PartialEq)]
pub struct Sprt {
    step_error: f64,
    step_ok: f64,
    log_accept: f64,
    llr: f64,
    evidence: Evidence,
    accepted: bool,
    requests: u64,
    errors: u64,
}

impl Sprt {
    /// `p0` the rate under no regression, `p1` the rate worth detecting.
    pub fn new(p0: f64, p1: f64, alpha: f64, beta: f64) -> Result<Sprt> {
        check_alpha(alpha)?;
        check_alpha(beta)?;
        for (name, p) in [("p0", p0), ("p1", p1)] {
            if !(p > 0.0 && p < 1.0) {
                return Err(StatsError::InvalidParameter {
                    name,
                    value: p,
                    why: "an error rate for the SPRT must be strictly between 0 and 1",
                });
            }
        }
        if p0 == p1 {
            return Err(StatsError::InvalidParameter {
                name: "p1",
                value: p1,
                why: "must differ from p0",
            });
        }
        Ok(Sprt {
            step_error: (p1 / p0).ln(),
            step_ok: ((1.0 - p1) / (1.0 - p0)).ln(),
            log_accept: (beta / (1.0 - alpha)).ln(),
            llr: 0.0,
            evidence: Evidence::new(alpha),
            accepted: false,
            requests: 0,
            errors: 0,
        })
    }

    /// Adds one look's counts (errors among requests since the last look).
    pub fn update(&mut self, errors: u64, requests: u64) -> Result<SprtDecision> {
        if errors > requests {
            return Err(StatsError::ErrorsExceedTotal {
                which: "sprt update",
                errors,
                total: requests,
            });
        }
        self.requests += requests;
        self.errors += errors;
        self.llr += errors as f64 * self.step_error + (requests - errors) as f64 * self.step_ok;
        self.evidence.observe(self.llr);
        if !self.evidence.rejected() && self.llr <= self.log_accept {
            self.accepted = true;
        }
        Ok(self.decision())
    }

    /// The current decision; rejection is sticky, and so is acceptance.
    pub fn decision(&self) -> SprtDecision {
        if self.evidence.rejected() {
            SprtDecision::RejectNull
        } else if self.accepted {
            SprtDecision::AcceptNull
        } else {
            SprtDecision::Continue
        }
    }

    /// Log likelihood ratio log(L(p1) / L(p0)) so far.
    pub fn log_likelihood_ratio(&self) -> f64 {
        self.llr
    }

    /// Requests seen so far.
    pub fn requests(&self) -> u64 {
        self.requests
    }
}

impl AnytimeTest for Sprt {
    fn p_value(&self) -> f64 {
        self.evidence.p_value()
    }

    fn rejected(&self) -> bool {
        self.evidence.rejected()
    }
}

/// Kullback-Leibler divergence KL(Bernoulli(p) || Bernoulli(q)) in nats.
pub fn bernoulli_kl(p: f64, q: f64) -> f64 {
    let term = |a: f64, b: f64| if a == 0.0 { 0.0 } else { a * (a / b).ln() };
    term(p, q) + term(1.0 - p, 1.0 - q)
}

/// Wald's lower bound on the expected number of requests that *any*
/// sequential test with false-alarm rate `alpha` and miss rate `beta` needs
/// to detect an error rate p1 against p0, when the rate is p1:
/// E[N] >= d(1 - beta || alpha) / KL(p1 || p0), with d the binary KL
/// divergence. The SPRT nearly attains it; the detection benchmark reports
/// canaryd's speed as a ratio to it.
pub fn wald_expected_sample_size(p0: f64, p1: f64, alpha: f64, beta: f64) -> Result<f64> {
    check_alpha(alpha)?;
    if !(0.0..1.0).contains(&beta) {
        return Err(StatsError::InvalidParameter {
            name: "beta",
            value: beta,
            why: "a miss rate must be in [0, 1)",
        });
    }
    for (name, p) in [("p0", p0), ("p1", p1)] {
        if !(p > 0.0 && p < 1.0) {
            return Err(StatsError::InvalidParameter {
                name,
                value: p,
                why: "must be strictly between 0 and 1",
            });
        }
    }
    let kl = bernoulli_kl(p1, p0);
    if kl <= 0.0 {
        return Err(StatsError::Undefined(
            "p0 and p1 are equal: nothing to detect",
        ));
    }
    Ok(bernoulli_kl(1.0 - beta, alpha) / kl)
}
