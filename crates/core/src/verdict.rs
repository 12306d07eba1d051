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
    Breach { evidence: Vec<Evidence> },
    /// Not enough traffic, or no data (empty, NaN, Inf, missing series): never a pass.
    Inconclusive { reason: String },
    /// The collectors could not see the canary: the numbers prove nothing either way.
    Unreliable { reason: String },
}

impl Verdict {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    Healthy,
    Breach,
    Inconclusive,
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
    pub rule: String,
    pub metric: Metric,
    pub route: Route,
    pub canary: f64,
    /// The baseline value compared against (absent for absolute rules).
    pub baseline: Option<f64>,
    /// The effective threshold the canary crossed (e.g. 2 × baseline).
    pub threshold: f64,
    /// The comparison as the policy states it (`> 2× baseline`).
    pub comparison: String,
    pub canary_requests: u64,
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
    pub statistic: f64,
    pub p_value: f64,
    /// The level the p-value was compared with (the rule's alpha).
    pub alpha: f64,
    /// Standardized effect: Cohen's h (error rates) or Cliff's delta (latency).
    pub effect: f64,
    pub effect_name: String,
    /// Requests (or errors, for the sequential test) behind the figures.
    pub canary_n: u64,
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
    Breach { evidence: Vec<Evidence> },
    /// Could not be judged on some route (and breached on none).
    Inconclusive { reason: String },
}

/// The judge's full answer for a window: the verdict and each rule's outcome,
/// which the state machine needs to keep per-rule breach streaks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Per rule name. Empty when the window was not judged (unreliable).
    pub rules: BTreeMap<String, RuleOutcome>,
    /// Regressions past a rule's threshold whose test reached only its
    /// warning level: no breach, but worth a look.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Evidence>,
}
