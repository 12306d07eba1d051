//! Checking a rule's `test:`, field by field (see [`super::resolve_rule`]).

use std::time::Duration;

use super::draft::{DraftTest, F};
use super::error::{Errors, Loc};
use super::file_rules::test_kind_names;
use super::resolve::fmt_d;
use super::resolve_rule::RuleCheck;
use super::resolve_rules::is_latency;
use canaryd_core::policy::{BaselinePolicy, Metric, TestKind, TestSpec};

/// A burst longer than this is an outage, not a transient: it must be judged.
const MAX_TRANSIENT: Duration = Duration::from_secs(3600);

/// Largest standardized effect a test can report: |Cliff's delta| ≤ 1 for
/// latency distributions, Cohen's h ≤ π for error rates.
fn max_effect(kind: TestKind) -> (f64, &'static str) {
    match kind {
        TestKind::MannWhitney => (1.0, "|Cliff's delta| is at most 1"),
        TestKind::SequentialLatency => (
            f64::MAX,
            "the exceedance ratio (canary / baseline) has no upper bound",
        ),
        TestKind::ChiSquare | TestKind::Fisher | TestKind::SequentialErrors => {
            (std::f64::consts::PI, "Cohen's h is at most π ≈ 3.14")
        }
    }
}

/// The rule's `test:`: a known kind that fits the metric, 0 < alpha ≤ 0.5,
/// alpha < warn_alpha ≤ 0.5, 0 ≤ min_effect (reachable), and a baseline to
/// test against. `Some(Some(spec))` when valid, `None` when reported.
///
/// The fields are checked in this order, which is the order their errors are
/// reported in.
pub(crate) fn resolve_test(
    t: &DraftTest,
    rule: &RuleCheck,
    metric: Option<&Metric>,
    errs: &mut Errors,
) -> Option<Option<TestSpec>> {
    let c = TestCheck {
        t,
        p: format!("{}.test", rule.r.path),
        note: &rule.note,
        owner: t.loc.or(rule.r.loc),
    };
    let kind = c.kind(errs);
    let fits = c.fits_metric(metric, errs);
    let alpha = c.alpha(errs);
    let warn_alpha = c.warn_alpha(alpha, errs);
    let min_effect = c.min_effect(kind, errs);
    let has_baseline = c.has_baseline(rule.baseline, rule.baseline_loc, errs);
    let transient = c.transient(kind, errs);

    let spec = TestSpec {
        kind: kind?,
        alpha: alpha?,
        warn_alpha: warn_alpha?,
        min_effect: min_effect?,
        transient: transient?,
    };
    (fits && has_baseline).then_some(Some(spec))
}

/// One `test:` being checked. Each field has its own check; a check reports
/// what is wrong with its field and gives `None` (or false).
struct TestCheck<'a> {
    t: &'a DraftTest,
    /// `rules[0].test`: how messages name the test.
    p: String,
    /// Which preset the rule comes from, if any: every message ends with it.
    note: &'a str,
    /// Where to point when the field itself has no line: the `test:`
    /// mapping, else the rule.
    owner: Loc,
}

impl TestCheck<'_> {
    /// `kind:`: required.
    fn kind(&self, errs: &mut Errors) -> Option<TestKind> {
        let (p, note) = (&self.p, self.note);
        match &self.t.kind {
            F::Set(k) => Some(k.v),
            F::Bad => None,
            F::Unset => {
                errs.push(
                    self.owner,
                    format!("{p}.kind"),
                    format!(
                        "missing: which test to run, one of {} (chi_square, fisher and \
                         sequential_errors fit error_rate; mann_whitney and sequential_latency fit \
                         latencies){note}",
                        test_kind_names()
                    ),
                );
                None
            }
        }
    }

    /// The kind fits the rule's metric: error-count tests on `error_rate`,
    /// distribution tests on latencies. False when reported.
    fn fits_metric(&self, metric: Option<&Metric>, errs: &mut Errors) -> bool {
        let (p, note) = (&self.p, self.note);
        let F::Set(k) = &self.t.kind else {
            return true;
        };
        let Some(m) = metric.filter(|m| !k.v.fits(m)) else {
            return true;
        };
        let fits = match k.v {
            TestKind::MannWhitney | TestKind::SequentialLatency => {
                "mann_whitney and sequential_latency compare latency distributions: \
                 they only fit latency_p50, latency_p95 and latency_p99"
            }
            TestKind::ChiSquare | TestKind::Fisher | TestKind::SequentialErrors => {
                "chi_square, fisher and sequential_errors test error counts: they only \
                 fit error_rate"
            }
        };
        let instead = if *m == Metric::ErrorRate {
            "; on error_rate use chi_square, fisher or sequential_errors"
        } else if is_latency(m) {
            "; on latencies use mann_whitney or sequential_latency"
        } else {
            "; no test fits this metric yet, remove `test:`"
        };
        errs.push(
            k.loc.or(self.owner),
            format!("{p}.kind"),
            format!(
                "{} does not fit metric {}; {fits}{instead}{note}",
                k.v.name(),
                m.name()
            ),
        );
        false
    }

    /// `alpha:`: required, 0 < alpha ≤ 0.5.
    fn alpha(&self, errs: &mut Errors) -> Option<f64> {
        let (p, note) = (&self.p, self.note);
        match &self.t.alpha {
            F::Set(a) if a.v.is_finite() && a.v > 0.0 && a.v <= 0.5 => Some(a.v),
            F::Set(a) => {
                errs.push(
                    a.loc.or(self.owner),
                    format!("{p}.alpha"),
                    format!(
                        "{} is out of range; alpha is the significance level below which the rule \
                         breaches, 0 < alpha ≤ 0.5 (e.g. 0.001 or \"0.1%\"){note}",
                        a.v
                    ),
                );
                None
            }
            F::Bad => None,
            F::Unset => {
                errs.push(
                    self.owner,
                    format!("{p}.alpha"),
                    format!(
                        "missing: the significance level below which the rule breaches, \
                         0 < alpha ≤ 0.5 (e.g. alpha: 0.001){note}"
                    ),
                );
                None
            }
        }
    }

    /// `warn_alpha:`: alpha < warn_alpha ≤ 0.5. `Some(None)` when not given.
    fn warn_alpha(&self, alpha: Option<f64>, errs: &mut Errors) -> Option<Option<f64>> {
        let (p, note) = (&self.p, self.note);
        match &self.t.warn_alpha {
            F::Set(w) if !(w.v.is_finite() && w.v > 0.0 && w.v <= 0.5) => {
                errs.push(
                    w.loc.or(self.owner),
                    format!("{p}.warn_alpha"),
                    format!(
                        "{} is out of range; warn_alpha is the significance level below which a \
                         window only warns, alpha < warn_alpha ≤ 0.5 (e.g. 0.01 or \"1%\"){note}",
                        w.v
                    ),
                );
                None
            }
            F::Set(w) => match alpha {
                Some(a) if w.v <= a => {
                    errs.push(
                        w.loc.or(self.owner),
                        format!("{p}.warn_alpha"),
                        format!(
                            "{} is not above alpha ({a}); need alpha < warn_alpha ≤ 0.5: p below \
                             alpha breaches, alpha ≤ p < warn_alpha only warns{note}",
                            w.v
                        ),
                    );
                    None
                }
                _ => Some(Some(w.v)),
            },
            F::Bad => None,
            F::Unset => Some(None),
        }
    }

    /// `min_effect:`: finite, ≥ 0 and reachable by the kind's effect size.
    /// `Some(None)` when not given.
    fn min_effect(&self, kind: Option<TestKind>, errs: &mut Errors) -> Option<Option<f64>> {
        let (p, note) = (&self.p, self.note);
        match &self.t.min_effect {
            F::Set(e) if !e.v.is_finite() || e.v < 0.0 => {
                errs.push(
                    e.loc.or(self.owner),
                    format!("{p}.min_effect"),
                    format!(
                        "{} is not allowed; min_effect is a finite standardized effect size ≥ 0 \
                         (e.g. 0.2: Cohen's h for error rates, |Cliff's delta| for latencies){note}",
                        e.v
                    ),
                );
                None
            }
            F::Set(e) => match kind.map(max_effect) {
                Some((max, why)) if e.v > max => {
                    errs.push(
                        e.loc.or(self.owner),
                        format!("{p}.min_effect"),
                        format!(
                            "{} can never be reached, so the rule could never breach: {why} \
                             (0.2 is a small effect, 0.5 a medium one){note}",
                            e.v
                        ),
                    );
                    None
                }
                _ => Some(Some(e.v)),
            },
            F::Bad => None,
            F::Unset => Some(None),
        }
    }

    /// A test compares the canary with the baseline, so it needs one. False
    /// when reported.
    fn has_baseline(
        &self,
        baseline: Option<&BaselinePolicy>,
        baseline_loc: Loc,
        errs: &mut Errors,
    ) -> bool {
        if !matches!(baseline, Some(BaselinePolicy::None)) {
            return true;
        }
        let note = self.note;
        // An inherited rule has no line: point at `baseline: none`.
        errs.push(
            self.owner.or(baseline_loc),
            self.p.clone(),
            format!(
                "a test compares the canary with the baseline; remove `baseline: none` or \
                 remove the test{note}"
            ),
        );
        false
    }

    /// `transient:`: only on a sequential test, more than 0s and at most
    /// [`MAX_TRANSIENT`]. `Some(None)` when not given.
    fn transient(&self, kind: Option<TestKind>, errs: &mut Errors) -> Option<Option<Duration>> {
        let (p, note) = (&self.p, self.note);
        match &self.t.transient {
            F::Set(d) if kind.is_some_and(|k| !k.is_sequential()) => {
                errs.push(
                    d.loc.or(self.owner),
                    format!("{p}.transient"),
                    format!(
                        "only a sequential_errors or sequential_latency test can set a transient \
                         aside: it accumulates \
                         evidence over the rollout, a one-window test has none to set aside{note}"
                    ),
                );
                None
            }
            F::Set(d) if d.v.is_zero() || d.v > MAX_TRANSIENT => {
                errs.push(
                    d.loc.or(self.owner),
                    format!("{p}.transient"),
                    format!(
                        "{} is not allowed; transient is the longest burst that must never roll \
                         back, more than 0s and at most {} (e.g. \"60s\"){note}",
                        fmt_d(d.v),
                        fmt_d(MAX_TRANSIENT)
                    ),
                );
                None
            }
            F::Set(d) => Some(Some(d.v)),
            F::Bad => None,
            F::Unset => Some(None),
        }
    }
}
