//! The judge's answers: a verdict per window, and the evidence behind a breach.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

use crate::policy::Metric;
use crate::vocab::Route;

/// What one window says about the canary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Every rule had enough data on every route it applies to, and none breached.
    Healthy,
    /// At least one rule breached on at least one route, on enough data.
    Breach {
        /// What breached where, with the figures: one entry per rule and route.
        evidence: Vec<Evidence>,
    },
    /// Not enough traffic, or no data (empty, NaN, Inf, missing series): never a pass.
    Inconclusive {
        /// What was missing or too thin, and on which route.
        reason: String,
    },
    /// The collectors could not see the canary: the numbers prove nothing either way.
    Unreliable {
        /// What impaired canaryd's view, in the collector's words.
        reason: String,
    },
}

impl Verdict {
    /// The verdict without its details: what the rollout keeps as its last
    /// verdict and what counts and tables group by.
    pub fn kind(&self) -> VerdictKind {
        match self {
            Verdict::Healthy => VerdictKind::Healthy,
            Verdict::Breach { .. } => VerdictKind::Breach,
            Verdict::Inconclusive { .. } => VerdictKind::Inconclusive,
            Verdict::Unreliable { .. } => VerdictKind::Unreliable,
        }
    }

    /// One line for tables and logs.
    pub fn reason(&self) -> String {
        match self {
            Verdict::Healthy => "all rules within thresholds".to_string(),
            Verdict::Breach { evidence } => evidence
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; "),
            Verdict::Inconclusive { reason } | Verdict::Unreliable { reason } => reason.clone(),
        }
    }
}

/// Which of the four verdicts a window got, without the evidence or reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    /// Every rule was judged and none breached.
    Healthy,
    /// A rule breached on enough data.
    Breach,
    /// Not enough traffic or no data: never a pass.
    Inconclusive,
    /// The collectors could not see the canary: neither a pass nor a breach.
    Unreliable,
}

impl fmt::Display for VerdictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VerdictKind::Healthy => "healthy",
            VerdictKind::Breach => "breach",
            VerdictKind::Inconclusive => "inconclusive",
            VerdictKind::Unreliable => "unreliable",
        })
    }
}

/// Why a rule breached: enough for an on-call engineer to agree or disagree
/// without opening a dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The breaching rule's name, as the policy names it.
    pub rule: String,
    /// What the rule measures.
    pub metric: Metric,
    /// Where it breached: rules are judged per route.
    pub route: Route,
    /// The canary's value, in the metric's unit (a fraction for rates, ms
    /// for latency); pooled over the rollout when the test sets transients aside.
    pub canary: f64,
    /// The baseline value compared against (absent for absolute rules).
    pub baseline: Option<f64>,
    /// The effective threshold the canary crossed (e.g. 2 × baseline).
    pub threshold: f64,
    /// The comparison as the policy states it (`> 2× baseline`).
    pub comparison: String,
    /// Canary requests behind the canary value: how much data the breach rests on.
    pub canary_requests: u64,
    /// Requests behind the baseline value (`None` when the rule compares
    /// with no baseline).
    pub baseline_requests: Option<u64>,
    /// 1-based index of the window in the rollout.
    pub window: u32,
    /// The statistical test that confirmed (or, in a warning, nearly
    /// confirmed) the breach, when the rule has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<TestEvidence>,
}

/// A test's numbers, as an SRE would want to check them by hand
/// (`canaryd stats` reproduces each one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestEvidence {
    /// chi_square, fisher, mann_whitney or sequential_errors.
    pub test: String,
    /// The test's statistic (chi-square, U, or the log-evidence of a
    /// sequential test).
    pub statistic: f64,
    /// How likely a regression this large would be if the canary were no
    /// worse than the baseline; the rule breaches below its alpha.
    pub p_value: f64,
    /// The level the p-value was compared with (the rule's alpha).
    pub alpha: f64,
    /// Standardized effect: Cohen's h (error rates) or Cliff's delta (latency).
    pub effect: f64,
    /// Which effect `effect` is (`cohens_h`, `cliffs_delta`, or the
    /// exceedance ratio of a sequential latency test).
    pub effect_name: String,
    /// Requests (or errors, for the sequential test) behind the figures.
    pub canary_n: u64,
    /// The baseline's count, counted the same way as `canary_n`.
    pub baseline_n: u64,
    /// Windows accumulated, for sequential tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub looks: Option<u32>,
}

impl fmt::Display for TestEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} p={:.2e} (alpha {}), {}={:.3}, n={}/{}",
            self.test,
            self.p_value,
            self.alpha,
            self.effect_name,
            self.effect,
            self.canary_n,
            self.baseline_n
        )?;
        if let Some(l) = self.looks {
            write!(f, " over {l} windows")?;
        }
        Ok(())
    }
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on {}: canary {} vs threshold {}",
            self.metric.name(),
            self.route,
            self.metric.fmt_value(self.canary),
            self.metric.fmt_value(self.threshold),
        )?;
        if let Some(b) = self.baseline {
            write!(
                f,
                " (baseline {}, {})",
                self.metric.fmt_value(b),
                self.comparison
            )?;
        } else {
            write!(f, " ({})", self.comparison)?;
        }
        write!(f, " [rule {}, n={}]", self.rule, self.canary_requests)?;
        if let Some(t) = &self.test {
            write!(f, " [{t}]")?;
        }
        Ok(())
    }
}

/// How one rule fared in one window, over all its routes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RuleOutcome {
    /// Judged on every route it applies to, within threshold everywhere.
    Pass,
    /// Breached on at least one route.
    Breach {
        /// One entry per breaching route.
        evidence: Vec<Evidence>,
    },
    /// Could not be judged on some route (and breached on none).
    Inconclusive {
        /// Which route could not be judged, and why.
        reason: String,
    },
}

/// The judge's full answer for a window: the verdict and each rule's outcome,
/// which the state machine needs to keep per-rule breach streaks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// What the window says about the canary, over all rules and routes.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Per rule name. Empty when the window was not judged (unreliable).
    pub rules: BTreeMap<String, RuleOutcome>,
    /// Regressions past a rule's threshold whose test reached only its
    /// warning level: no breach, but worth a look.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Evidence>,
}
