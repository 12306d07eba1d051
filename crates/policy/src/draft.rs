//! A policy on its way to being resolved: every field may be unset (take the
//! preset's or the default), bad (already reported; skip checks that need it)
//! or set, with the place in the file it came from.
//!
//! A file is read into a `Draft`, merged over its preset's `Draft`, and
//! [`super::resolve`] turns the result into a [`Policy`], checking everything.
//! Presets and policies built in code go through the same door
//! ([`Draft::from_policy`]), so there is one set of rules for all of them.

use std::time::Duration;

use super::error::Loc;
use canaryd_core::policy::{
    BaselineApproval, BaselinePolicy, Comparison, Metric, Policy, Ramp, TestKind, TestSpec,
};

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct At<T> {
    pub v: T,
    pub loc: Loc,
}

pub(crate) fn at<T>(v: T, loc: Loc) -> At<T> {
    At { v, loc }
}

/// One field of a draft.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum F<T> {
    /// Not given: the base (preset or default) decides.
    Unset,
    /// Given but unusable; the problem is already reported.
    Bad,
    Set(At<T>),
}

impl<T> F<T> {
    pub fn set(v: T, loc: Loc) -> Self {
        F::Set(at(v, loc))
    }

    /// `Some` → set, `None` → bad (the reader reported why).
    pub fn from_opt(v: Option<T>, loc: Loc) -> Self {
        v.map_or(F::Bad, |v| F::set(v, loc))
    }

    /// This layer over `base`: anything the file gave (even a bad value) wins.
    pub fn over(self, base: F<T>) -> F<T> {
        match self {
            F::Unset => base,
            given => given,
        }
    }

    pub fn get(&self) -> Option<&At<T>> {
        match self {
            F::Set(a) => Some(a),
            _ => None,
        }
    }

    pub fn value(&self) -> Option<&T> {
        self.get().map(|a| &a.v)
    }

    pub fn loc(&self) -> Loc {
        self.get().and_then(|a| a.loc)
    }
}

/// How long a step is held: in windows, or as a duration (converted once the
/// window is known: it must be a whole multiple of it).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Hold {
    Windows(i64),
    Every(Duration),
}

/// How many breaching windows roll back: a count, or `for: 2m`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Consec {
    Windows(i64),
    For(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    Ratio,
    Absolute,
    Delta,
}

impl Kind {
    pub fn key(self) -> &'static str {
        match self {
            Kind::Ratio => "ratio",
            Kind::Absolute => "absolute",
            Kind::Delta => "delta",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DraftStep {
    pub loc: Loc,
    pub weight: F<i64>,
    pub hold: F<Hold>,
    /// Unset: the rules' own `min_requests` apply at this step.
    pub min_requests: F<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DraftAdaptive {
    pub initial_weight: F<i64>,
    pub min_increase: F<i64>,
    pub max_increase: F<i64>,
    pub latency_penalty: F<f64>,
    pub error_penalty: F<f64>,
    pub hold: F<Hold>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DraftRamp {
    Ladder(Vec<DraftStep>),
    Adaptive(DraftAdaptive),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DraftRule {
    /// `rules[0]` or `add_rules[1]`: how messages name the rule.
    pub path: String,
    /// The preset the rule was inherited from, if any.
    pub origin: Option<String>,
    pub loc: Loc,
    pub name: F<String>,
    pub metric: F<Metric>,
    pub comparison: F<(Kind, f64)>,
    pub consecutive: F<Consec>,
    pub critical: F<bool>,
    pub min_requests: F<i64>,
    pub min_value: F<f64>,
    pub routes: F<Vec<At<String>>>,
    /// Unset: no test, the comparison alone decides.
    pub test: F<DraftTest>,
}

/// A rule's `test:` mapping; its own `loc` is the mapping's.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DraftTest {
    pub loc: Loc,
    pub kind: F<TestKind>,
    pub alpha: F<f64>,
    pub warn_alpha: F<f64>,
    pub min_effect: F<f64>,
    pub transient: F<Duration>,
}

impl DraftTest {
    pub fn from_spec(t: &TestSpec) -> DraftTest {
        let opt = |v: Option<f64>| v.map_or(F::Unset, |v| F::set(v, None));
        DraftTest {
            loc: None,
            kind: F::set(t.kind, None),
            alpha: F::set(t.alpha, None),
            warn_alpha: opt(t.warn_alpha),
            min_effect: opt(t.min_effect),
            transient: t.transient.map_or(F::Unset, |d| F::set(d, None)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DraftBaseline {
    pub lookback: F<Duration>,
    pub min_history: F<Duration>,
    pub min_requests_per_route: F<i64>,
    pub approval: F<BaselineApproval>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DraftBudget {
    pub defer_below: F<f64>,
    pub freeze_at: F<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Draft {
    pub name: F<String>,
    /// The preset's name once known to be valid.
    pub preset: Option<String>,
    pub window: F<Duration>,
    pub ramp: F<DraftRamp>,
    pub ramp_budget: F<Duration>,
    pub rules: F<Vec<DraftRule>>,
    pub add_rules: Vec<DraftRule>,
    pub min_requests_per_route: F<i64>,
    pub max_extensions: F<i64>,
    /// `Set(None)` is `baseline: none`.
    pub baseline: F<Option<DraftBaseline>>,
    /// `Set(None)` is no gate (`error_budget: none`).
    pub error_budget: F<Option<DraftBudget>>,
    pub auto_resume: F<bool>,
}

/// Defaults of a policy written without a preset.
pub(crate) const DEFAULT_MIN_REQUESTS_PER_ROUTE: i64 = 100;
pub(crate) const DEFAULT_MAX_EXTENSIONS: i64 = 3;
pub(crate) const DEFAULT_LOOKBACK: Duration = Duration::from_secs(7 * 24 * 3600);
pub(crate) const DEFAULT_MIN_HISTORY: Duration = Duration::from_secs(24 * 3600);
pub(crate) const DEFAULT_BASELINE_MIN_REQUESTS: i64 = 1000;
pub(crate) const DEFAULT_DEFER_BELOW: f64 = 0.2;
pub(crate) const DEFAULT_FREEZE_AT: f64 = 0.0;
/// Breaching windows in a row that roll back, when a rule does not say.
pub(crate) const DEFAULT_CONSECUTIVE: u32 = 2;

impl DraftBaseline {
    fn defaults() -> Self {
        DraftBaseline {
            lookback: F::set(DEFAULT_LOOKBACK, None),
            min_history: F::set(DEFAULT_MIN_HISTORY, None),
            min_requests_per_route: F::set(DEFAULT_BASELINE_MIN_REQUESTS, None),
            approval: F::set(BaselineApproval::WhenThin, None),
        }
    }

    fn over(self, base: DraftBaseline) -> DraftBaseline {
        DraftBaseline {
            lookback: self.lookback.over(base.lookback),
            min_history: self.min_history.over(base.min_history),
            min_requests_per_route: self
                .min_requests_per_route
                .over(base.min_requests_per_route),
            approval: self.approval.over(base.approval),
        }
    }
}

impl DraftBudget {
    fn defaults() -> Self {
        DraftBudget {
            defer_below: F::set(DEFAULT_DEFER_BELOW, None),
            freeze_at: F::set(DEFAULT_FREEZE_AT, None),
        }
    }

    fn over(self, base: DraftBudget) -> DraftBudget {
        DraftBudget {
            defer_below: self.defer_below.over(base.defer_below),
            freeze_at: self.freeze_at.over(base.freeze_at),
        }
    }
}

impl Draft {
    /// A layer with nothing set (what a file starts as).
    pub fn empty() -> Draft {
        Draft {
            name: F::Unset,
            preset: None,
            window: F::Unset,
            ramp: F::Unset,
            ramp_budget: F::Unset,
            rules: F::Unset,
            add_rules: Vec::new(),
            min_requests_per_route: F::Unset,
            max_extensions: F::Unset,
            baseline: F::Unset,
            error_budget: F::Unset,
            auto_resume: F::Unset,
        }
    }

    /// The base of a policy without a preset: window, ramp, ramp_budget and
    /// rules stay unset (required); the rest has defaults.
    pub fn defaults() -> Draft {
        Draft {
            min_requests_per_route: F::set(DEFAULT_MIN_REQUESTS_PER_ROUTE, None),
            max_extensions: F::set(DEFAULT_MAX_EXTENSIONS, None),
            baseline: F::set(Some(DraftBaseline::defaults()), None),
            error_budget: F::set(None, None),
            auto_resume: F::set(true, None),
            ..Draft::empty()
        }
    }

    /// This file layer over `base` (a preset or the defaults): fields given
    /// replace the base's; traffic, baseline, error_budget and collectors merge
    /// field by field; `rules` replaces; `add_rules` appends.
    pub fn over(self, base: Draft) -> Draft {
        let baseline = match (self.baseline, base.baseline) {
            (F::Set(At { v: Some(mine), loc }), base) => {
                let under = match base {
                    F::Set(At { v: Some(b), .. }) => b,
                    _ => DraftBaseline::defaults(),
                };
                F::set(Some(mine.over(under)), loc)
            }
            (mine, base) => mine.over(base),
        };
        let error_budget = match (self.error_budget, base.error_budget) {
            (F::Set(At { v: Some(mine), loc }), base) => {
                let under = match base {
                    F::Set(At { v: Some(b), .. }) => b,
                    _ => DraftBudget::defaults(),
                };
                F::set(Some(mine.over(under)), loc)
            }
            (mine, base) => mine.over(base),
        };
        let mut add_rules = base.add_rules;
        add_rules.extend(self.add_rules);
        Draft {
            name: self.name.over(base.name),
            preset: self.preset.or(base.preset),
            window: self.window.over(base.window),
            ramp: self.ramp.over(base.ramp),
            ramp_budget: self.ramp_budget.over(base.ramp_budget),
            rules: self.rules.over(base.rules),
            add_rules,
            min_requests_per_route: self
                .min_requests_per_route
                .over(base.min_requests_per_route),
            max_extensions: self.max_extensions.over(base.max_extensions),
            baseline,
            error_budget,
            auto_resume: self.auto_resume.over(base.auto_resume),
        }
    }

    /// A resolved policy as a draft, for validating policies built in code and
    /// for starting a file from a preset. With `inherit_min_requests`, rules
    /// whose `min_requests` equals the traffic default leave it unset, so a
    /// file raising `traffic.min_requests_per_route` raises theirs too.
    pub fn from_policy(p: &Policy, inherit_min_requests: bool) -> Draft {
        let steps = |hold: u32| F::set(Hold::Windows(i64::from(hold)), None);
        let ramp = match &p.ramp {
            Ramp::Ladder(ladder) => DraftRamp::Ladder(
                ladder
                    .iter()
                    .map(|s| DraftStep {
                        loc: None,
                        weight: F::set(i64::from(s.weight), None),
                        hold: steps(s.hold_windows),
                        min_requests: s
                            .min_requests
                            .map_or(F::Unset, |n| F::set(clamp_i64(n), None)),
                    })
                    .collect(),
            ),
            Ramp::Adaptive(a) => DraftRamp::Adaptive(DraftAdaptive {
                initial_weight: F::set(i64::from(a.initial_weight), None),
                min_increase: F::set(i64::from(a.min_increase), None),
                max_increase: F::set(i64::from(a.max_increase), None),
                latency_penalty: F::set(a.latency_penalty, None),
                error_penalty: F::set(a.error_penalty, None),
                hold: steps(a.hold_windows),
            }),
        };
        let origin = p.preset.clone().filter(|_| inherit_min_requests);
        let rules = p
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let (kind, value) = match r.comparison {
                    Comparison::Ratio(x) => (Kind::Ratio, x),
                    Comparison::Absolute(x) => (Kind::Absolute, x),
                    Comparison::Delta(x) => (Kind::Delta, x),
                };
                let inherits =
                    inherit_min_requests && r.min_requests == p.traffic.min_requests_per_route;
                DraftRule {
                    path: format!("rules[{i}]"),
                    origin: origin.clone(),
                    loc: None,
                    name: F::set(r.name.clone(), None),
                    metric: F::set(r.metric.clone(), None),
                    comparison: F::set((kind, value), None),
                    consecutive: F::set(Consec::Windows(i64::from(r.consecutive)), None),
                    critical: F::set(r.critical, None),
                    min_requests: if inherits {
                        F::Unset
                    } else {
                        F::set(clamp_i64(r.min_requests), None)
                    },
                    min_value: r.min_value.map_or(F::Unset, |v| F::set(v, None)),
                    routes: F::set(
                        r.routes.iter().map(|x| at(x.0.clone(), None)).collect(),
                        None,
                    ),
                    test: r
                        .test
                        .as_ref()
                        .map_or(F::Unset, |t| F::set(DraftTest::from_spec(t), None)),
                }
            })
            .collect();
        let baseline = match &p.baseline {
            BaselinePolicy::Required {
                lookback,
                min_history,
                min_requests_per_route,
                approval,
            } => Some(DraftBaseline {
                lookback: F::set(*lookback, None),
                min_history: F::set(*min_history, None),
                min_requests_per_route: F::set(clamp_i64(*min_requests_per_route), None),
                approval: F::set(*approval, None),
            }),
            BaselinePolicy::None => None,
        };
        Draft {
            name: F::set(p.name.clone(), None),
            preset: p.preset.clone(),
            window: F::set(p.window, None),
            ramp: F::set(ramp, None),
            ramp_budget: F::set(p.ramp_budget, None),
            rules: F::set(rules, None),
            add_rules: Vec::new(),
            min_requests_per_route: F::set(clamp_i64(p.traffic.min_requests_per_route), None),
            max_extensions: F::set(i64::from(p.traffic.max_extensions), None),
            baseline: F::set(baseline, None),
            error_budget: F::set(
                p.error_budget.as_ref().map(|g| DraftBudget {
                    defer_below: F::set(g.defer_below, None),
                    freeze_at: F::set(g.freeze_at, None),
                }),
                None,
            ),
            auto_resume: F::set(p.collectors.auto_resume, None),
        }
    }
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
