//! The resolved policy: what the judge and the state machine read.
//!
//! A policy file is parsed, merged onto its preset and validated into this
//! model by the `canaryd-policy` crate, which owns everything about policy
//! files (YAML, presets, error messages); the engine only reads the result.
//! Once a `Policy` exists it is known to be coherent: the ladder ends at 100,
//! holds fit the budget, every rule has the data it needs. The engine never
//! re-checks.

use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::vocab::{fmt_duration, Route, Weight};

/// A resolved canary policy: the window, the ladder, the rules and the gates
/// every [`step`](crate::rollout::step) of a rollout follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// The policy's name, for messages and the audit log.
    pub name: String,
    /// The preset it started from, if any.
    pub preset: Option<String>,
    /// Length of one analysis window.
    #[serde(with = "humantime_serde_compat")]
    pub window: Duration,
    /// How the canary's weight moves from step to step.
    pub ramp: Ramp,
    /// Maximum time from the first traffic shift to promotion; past it the
    /// rollout pauses for a human rather than ramping on indefinitely.
    #[serde(with = "humantime_serde_compat")]
    pub ramp_budget: Duration,
    /// The rules judged in every window; any one of them can roll back.
    pub rules: Vec<Rule>,
    /// How much traffic a window needs, and how long to wait for it.
    pub traffic: TrafficPolicy,
    /// What the canary is compared with, and when a human approves first.
    pub baseline: BaselinePolicy,
    /// Holds or freezes the ramp as the service's error budget runs out;
    /// `None`: no gate.
    pub error_budget: Option<ErrorBudgetGate>,
    /// What happens once the collectors recover from a pause.
    pub collectors: CollectorPolicy,
}

/// How the canary's weight moves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ramp {
    /// A fixed ladder of weights, each held for a number of healthy windows.
    Ladder(Vec<LadderStep>),
    /// The next weight is computed from how close the canary is to the baseline.
    Adaptive(AdaptiveRamp),
}

/// One step of a fixed ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LadderStep {
    /// The canary's share of traffic at this step, in percent.
    pub weight: Weight,
    /// Healthy windows needed at this weight before moving on.
    pub hold_windows: u32,
    /// Canary requests per route a rule needs at this step, replacing the
    /// rules' own `min_requests` (the `statistical` preset's phases ask for
    /// more data as the canary takes more traffic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_requests: Option<u64>,
}

/// The `adaptive-weight` strategy: after each hold, the weight grows by
/// `max_increase × factor`, where
/// `factor = exp(-latency_penalty × latency_regression) - error_penalty × error_regression`
/// clamped to [0, 1], and the increase is clamped to [`min_increase`, `max_increase`].
/// Latency regression is relative (`canary p99 / baseline p99 - 1`, floored at 0),
/// error regression is absolute (`canary rate - baseline rate`, floored at 0).
/// An exponential penalty on latency shrinks steps fast as the tail grows; a linear
/// one on errors keeps small error deltas from freezing the ramp. Severe regressions
/// do not go through this formula: critical rules roll back at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveRamp {
    /// The first weight, in percent.
    pub initial_weight: Weight,
    /// The smallest step, in points: a healthy hold always moves the canary
    /// on at least this much.
    pub min_increase: Weight,
    /// The largest step, in points: taken when the canary matches the baseline.
    pub max_increase: Weight,
    /// How fast steps shrink as the p99 regresses (exponential).
    pub latency_penalty: f64,
    /// How much the step shrinks per unit of error-rate regression (linear).
    pub error_penalty: f64,
    /// Healthy windows needed at each weight before the next step.
    pub hold_windows: u32,
}

impl Ramp {
    /// The weight of the first traffic shift.
    pub fn first_weight(&self) -> Weight {
        match self {
            Ramp::Ladder(steps) => steps.first().map(|s| s.weight).unwrap_or(100),
            Ramp::Adaptive(a) => a.initial_weight,
        }
    }

    /// The ladder as users read it: `10% → 25% → 50% → 100%`.
    pub fn describe(&self) -> String {
        match self {
            Ramp::Ladder(steps) => steps
                .iter()
                .map(|s| format!("{}%", s.weight))
                .collect::<Vec<_>>()
                .join(" → "),
            Ramp::Adaptive(a) => format!(
                "adaptive from {}% in steps of {}–{} points",
                a.initial_weight, a.min_increase, a.max_increase
            ),
        }
    }
}

/// One rule: a metric, a comparison, and how many consecutive breaching
/// windows it takes to roll back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Unique in the policy: keys the rule's breach streak and names it in
    /// evidence and the audit log.
    pub name: String,
    /// What the rule measures.
    pub metric: Metric,
    /// When the canary's value is a breach.
    pub comparison: Comparison,
    /// Routes the rule applies to; empty = every route.
    pub routes: Vec<Route>,
    /// Consecutive breaching windows that roll back (≥ 2 unless `critical`).
    pub consecutive: u32,
    /// A critical rule may roll back on a single window (e.g. 100% errors).
    pub critical: bool,
    /// Canary requests a route needs in a window before this rule may breach.
    pub min_requests: u64,
    /// The rule cannot breach while the canary value is at or below this:
    /// a floor under ratio rules so that 0 → 0.01% errors is not "infinitely worse".
    pub min_value: Option<f64>,
    /// A statistical test the data must also pass before the rule breaches.
    /// With a test, the comparison above is the *minimum effect size*: the
    /// regression must be both large enough to matter and unlikely to be noise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<TestSpec>,
}

/// A hypothesis test attached to a rule (see `canaryd-stats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestSpec {
    /// Which test.
    pub kind: TestKind,
    /// Significance level below which the rule breaches (e.g. 0.001).
    pub alpha: f64,
    /// Significance level below which the window only warns (e.g. 0.01).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_alpha: Option<f64>,
    /// Smallest standardized effect that counts: Cohen's h for error rates,
    /// |Cliff's delta| for latency distributions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_effect: Option<f64>,
    /// `sequential_errors` and `sequential_latency` only: the longest burst (a cold cache, a restart)
    /// that must never roll back, however bad. The test sets aside the
    /// evidence of the strongest stretch of windows one such burst can touch,
    /// so a rollback always rests on errors outside any single burst; the
    /// rule's threshold then compares the error rates pooled over the
    /// rollout, and `consecutive: 1` is allowed.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_humantime_serde_compat"
    )]
    pub transient: Option<Duration>,
}

/// The hypothesis tests a rule can require before it breaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestKind {
    /// 2×2 chi-square (with Yates' correction) on error counts; fixed horizon, one window.
    ChiSquare,
    /// Fisher's exact test on error counts; fixed horizon, one window.
    Fisher,
    /// Mann-Whitney U on the latency histograms of one window (ties by bucket).
    MannWhitney,
    /// Anytime-valid two-sample test on error counts, accumulated over the
    /// whole rollout: checking it every window does not inflate false alarms.
    SequentialErrors,
    /// Anytime-valid test on latency histograms, accumulated over the
    /// rollout: how often each cohort is slower than the baseline's own
    /// quantile bucket (the rule's p50 / p95 / p99), as an error-count test
    /// on those exceedances.
    SequentialLatency,
}

impl TestKind {
    /// The test's name as policy files and evidence write it.
    pub fn name(self) -> &'static str {
        match self {
            TestKind::ChiSquare => "chi_square",
            TestKind::Fisher => "fisher",
            TestKind::MannWhitney => "mann_whitney",
            TestKind::SequentialErrors => "sequential_errors",
            TestKind::SequentialLatency => "sequential_latency",
        }
    }

    /// Whether the test accumulates evidence over the rollout (and so can
    /// set a transient aside).
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            TestKind::SequentialErrors | TestKind::SequentialLatency
        )
    }

    /// Whether the test applies to this metric.
    pub fn fits(self, metric: &Metric) -> bool {
        match self {
            TestKind::ChiSquare | TestKind::Fisher | TestKind::SequentialErrors => {
                *metric == Metric::ErrorRate
            }
            TestKind::MannWhitney | TestKind::SequentialLatency => matches!(
                metric,
                Metric::LatencyP50 | Metric::LatencyP95 | Metric::LatencyP99
            ),
        }
    }
}

impl Rule {
    /// Whether the rule is judged on `route`.
    pub fn applies_to(&self, route: &Route) -> bool {
        self.routes.is_empty() || self.routes.contains(route)
    }

    /// The breach condition as the operator reads it, floor included: a ratio
    /// with a floor is `> max(2× baseline, 0.100%)`, because a multiple of a
    /// near-zero baseline is not evidence (DESIGN.md §1).
    pub fn describe_comparison(&self) -> String {
        match (&self.comparison, self.min_value) {
            (Comparison::Ratio(f), Some(floor)) => {
                format!("> max({f}× baseline, {})", self.metric.fmt_value(floor))
            }
            (c, Some(floor)) => format!(
                "{}, and > {}",
                c.describe(&self.metric),
                self.metric.fmt_value(floor)
            ),
            (c, None) => c.describe(&self.metric),
        }
    }

    /// The value the canary must exceed given the baseline's, if one applies:
    /// for a ratio `max(f × baseline, floor)`.
    pub fn threshold(&self, baseline: Option<f64>) -> Option<f64> {
        let t = match (&self.comparison, baseline) {
            (Comparison::Absolute(t), _) => *t,
            (Comparison::Ratio(f), Some(b)) => f * b,
            (Comparison::Delta(d), Some(b)) => b + d,
            (Comparison::Ratio(_) | Comparison::Delta(_), None) => return None,
        };
        Some(self.min_value.map_or(t, |floor| t.max(floor)))
    }
}

/// What a rule measures.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// errors / requests, as a fraction.
    ErrorRate,
    /// Median latency, in ms.
    LatencyP50,
    /// 95th percentile latency, in ms.
    LatencyP95,
    /// 99th percentile latency, in ms.
    LatencyP99,
    /// CPU as a fraction of the limit.
    Cpu,
    /// Memory as a fraction of the limit.
    Memory,
    /// Requests in flight.
    Inflight,
    /// A named metric from the observation's `custom` map.
    Custom(String),
}

impl Metric {
    /// The metric a policy file names (`error_rate`, `custom:queue_depth`),
    /// or `None` for a name canaryd does not know.
    pub fn parse(s: &str) -> Option<Metric> {
        Some(match s {
            "error_rate" => Metric::ErrorRate,
            "latency_p50" => Metric::LatencyP50,
            "latency_p95" => Metric::LatencyP95,
            "latency_p99" => Metric::LatencyP99,
            "cpu" => Metric::Cpu,
            "memory" => Metric::Memory,
            "inflight" => Metric::Inflight,
            other => {
                let name = other.strip_prefix("custom:")?;
                if name.is_empty() {
                    return None;
                }
                Metric::Custom(name.to_string())
            }
        })
    }

    /// Every name [`Metric::parse`] accepts, for error messages.
    pub const NAMES: &'static str =
        "error_rate, latency_p50, latency_p95, latency_p99, cpu, memory, inflight, custom:<name>";

    /// The metric's name as policy files write it; [`Metric::parse`] reads it back.
    pub fn name(&self) -> String {
        match self {
            Metric::ErrorRate => "error_rate".into(),
            Metric::LatencyP50 => "latency_p50".into(),
            Metric::LatencyP95 => "latency_p95".into(),
            Metric::LatencyP99 => "latency_p99".into(),
            Metric::Cpu => "cpu".into(),
            Metric::Memory => "memory".into(),
            Metric::Inflight => "inflight".into(),
            Metric::Custom(n) => format!("custom:{n}"),
        }
    }

    /// Renders a value of this metric in its natural unit.
    pub fn fmt_value(&self, v: f64) -> String {
        match self {
            Metric::ErrorRate | Metric::Cpu | Metric::Memory => format!("{:.3}%", v * 100.0),
            Metric::LatencyP50 | Metric::LatencyP95 | Metric::LatencyP99 => format!("{v:.1}ms"),
            Metric::Inflight | Metric::Custom(_) => format!("{v:.3}"),
        }
    }

    /// Renders a delta of this metric (percentage points for fractions).
    pub fn fmt_delta(&self, v: f64) -> String {
        match self {
            Metric::ErrorRate | Metric::Cpu | Metric::Memory => {
                format!("{:+.2} points", v * 100.0)
            }
            _ => format!("{:+}", self.fmt_value(v)),
        }
    }
}

/// How the canary is compared. The statistical tests of the `stats` crate
/// arrive as another variant; each variant says what "breach" means for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// Breach when canary > factor × baseline.
    Ratio(f64),
    /// Breach when canary > threshold (an SLO, in the metric's unit).
    Absolute(f64),
    /// Breach when canary > baseline + delta (in the metric's unit).
    Delta(f64),
}

impl Comparison {
    /// Whether the comparison is relative to the baseline (ratio, delta), so
    /// a rule using it cannot be judged without one.
    pub fn needs_baseline(&self) -> bool {
        matches!(self, Comparison::Ratio(_) | Comparison::Delta(_))
    }

    /// The comparison as the operator reads it (`> 2× baseline`), in the
    /// metric's unit.
    pub fn describe(&self, metric: &Metric) -> String {
        match self {
            Comparison::Ratio(f) => format!("> {f}× baseline"),
            Comparison::Absolute(t) => format!("> {}", metric.fmt_value(*t)),
            Comparison::Delta(d) => format!("> baseline {}", metric.fmt_delta(*d)),
        }
    }
}

/// How much traffic a window must carry to be judged, and how long a rollout
/// waits for it: thresholds on tiny counts are noise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrafficPolicy {
    /// Default minimum canary requests per route per window.
    pub min_requests_per_route: u64,
    /// Windows a step may be extended for lack of traffic or data before the
    /// rollout pauses and asks for a human.
    pub max_extensions: u32,
}

/// The historical baseline a canary is measured against, and the gate that
/// sends a rollout to a human when the history is too thin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselinePolicy {
    /// Compare with the stable revision, and ramp without a human only when
    /// its history is long and busy enough.
    Required {
        /// How far back the stable history is read.
        #[serde(with = "humantime_serde_compat")]
        lookback: Duration,
        /// Clean stable history needed to ramp without an approval.
        #[serde(with = "humantime_serde_compat")]
        min_history: Duration,
        /// Stable requests needed on every route over that history.
        min_requests_per_route: u64,
        /// Whether a rollout that waits for approval because the baseline was
        /// missing or thin starts on its own once the baseline passes.
        #[serde(default)]
        approval: BaselineApproval,
    },
    /// No baseline comparison: only absolute rules. The rollout ramps without
    /// a baseline gate.
    None,
}

/// Who may end a wait for approval caused by a missing or thin baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineApproval {
    /// The baseline is re-checked every window while the rollout waits; when
    /// it passes, the rollout starts on its own ("baseline became available").
    /// An operator may still approve earlier.
    #[default]
    WhenThin,
    /// Only an operator starts a rollout that waited for its baseline.
    Always,
}

impl BaselineApproval {
    /// The setting as policy files write it (`when_thin`, `always`).
    pub fn name(self) -> &'static str {
        match self {
            BaselineApproval::WhenThin => "when_thin",
            BaselineApproval::Always => "always",
        }
    }
}

/// The `progressive` strategy's error-budget gate: ramping further while the
/// monthly error budget is nearly spent risks the SLO itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBudgetGate {
    /// Below this fraction remaining, advancing is deferred (the rollout holds).
    pub defer_below: f64,
    /// At or below this fraction remaining, the rollout pauses for a human.
    pub freeze_at: f64,
}

/// How a rollout treats collector trouble, which never rolls it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectorPolicy {
    /// After a pause caused by collector trouble, resume on its own at the
    /// first window whose collectors are healthy again.
    pub auto_resume: bool,
}

impl Policy {
    /// Hold of ladder step `i` in windows (adaptive ramps use one hold for all).
    pub fn hold_windows(&self, step: usize) -> u32 {
        match &self.ramp {
            Ramp::Ladder(steps) => steps.get(step).map(|s| s.hold_windows).unwrap_or(1),
            Ramp::Adaptive(a) => a.hold_windows,
        }
    }

    /// One line for the operator: ladder, window, budget, rules.
    pub fn summary(&self) -> String {
        let rules: Vec<String> = self
            .rules
            .iter()
            .map(|r| {
                format!(
                    "{} {}{} ({} window{}{})",
                    r.metric.name(),
                    r.describe_comparison(),
                    r.test
                        .as_ref()
                        .map(|t| {
                            let aside = t.transient.map_or(String::new(), |d| {
                                format!(", {} transient set aside", fmt_duration(d))
                            });
                            format!(" and {} p < {}{aside}", t.kind.name(), t.alpha)
                        })
                        .unwrap_or_default(),
                    r.consecutive,
                    if r.consecutive == 1 { "" } else { "s" },
                    if r.critical { ", critical" } else { "" }
                )
            })
            .collect();
        format!(
            "{}: ladder {}, {} windows, budget {}; rules: {}",
            self.name,
            self.ramp.describe(),
            fmt_duration(self.window),
            fmt_duration(self.ramp_budget),
            rules.join("; ")
        )
    }
}

/// An optional duration, as [`humantime_serde_compat`] writes one.
pub(crate) mod opt_humantime_serde_compat {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&crate::vocab::fmt_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(s) => humantime::parse_duration(&s)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

/// Durations serialize as humantime strings (`"5m"`), the way policy files write them.
pub(crate) mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::vocab::fmt_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}
