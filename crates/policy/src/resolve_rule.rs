//! Checking one rule, field by field (see [`super::resolve_rules`]).

use std::time::Duration;

use super::draft::{Consec, DraftRule, Kind, DEFAULT_CONSECUTIVE, F};
use super::error::{Errors, Loc};
use super::resolve::fmt_d;
use super::resolve_rules::{is_fraction, unit_hint};
use super::resolve_test::resolve_test;
use canaryd_core::policy::{BaselinePolicy, Comparison, Metric, Rule};
use canaryd_core::vocab::Route;

/// One rule being checked, and what its field checks need besides the rule.
/// Each field has its own check; a check reports what is wrong with its
/// field and gives `None`, so that every problem of a rule is reported.
pub(crate) struct RuleCheck<'a> {
    pub r: &'a DraftRule,
    /// [`origin_note`](super::resolve_rules::origin_note): every message about the rule ends with it.
    pub note: String,
    pub window: Option<Duration>,
    /// The rule's `min_requests` when it gives none.
    pub default_min_requests: Option<u64>,
    pub baseline: Option<&'a BaselinePolicy>,
    /// Where `baseline:` is, to point at when an inherited rule conflicts with it.
    pub baseline_loc: Loc,
}

/// The fields are checked in this order, which is the order their errors are
/// reported in.
pub(crate) fn resolve_rule(c: &RuleCheck, errs: &mut Errors) -> Option<Rule> {
    let metric = c.metric(errs);
    let comparison = c.comparison(metric.as_ref(), errs);
    let tested = matches!(c.r.test, F::Set(_));
    let min_value = c
        .min_value(metric.as_ref(), errs)
        .map(|v| v.or_else(|| default_floor(metric.as_ref(), comparison.as_ref(), tested)));
    let critical = c.critical();
    let consecutive = c.consecutive(errs);
    let not_one_window = c.more_than_one_window(consecutive.as_ref(), critical, errs);
    let min_requests = c.min_requests(errs);
    let routes = c.routes(errs);
    let name = c.name(metric.as_ref(), errs);
    let test = match &c.r.test {
        F::Set(t) => resolve_test(&t.v, c, metric.as_ref(), errs),
        F::Bad => None,
        F::Unset => Some(None),
    };

    let rule = Rule {
        test: test?,
        name: name?,
        metric: metric?,
        comparison: comparison?,
        routes: routes?,
        consecutive: consecutive?.windows,
        critical: critical?,
        min_requests: min_requests?,
        min_value: min_value?,
    };
    not_one_window.then_some(rule)
}

/// The error rate a ratio rule must exceed when it names no `min_value`: a
/// multiple of a clean stable cohort's 0% is 0%, and one stray error in
/// thousands of requests is not evidence of a regression (DESIGN.md §1).
/// The ratio presets use the same floor.
pub const DEFAULT_RATIO_ERROR_FLOOR: f64 = 0.001;

/// `min_value` when the rule gives none: the floor of an error-rate ratio
/// judged on the raw ratio. A rule with a `test:` needs none: the test is
/// its evidence, and its ratio is the minimum effect.
fn default_floor(
    metric: Option<&Metric>,
    comparison: Option<&Comparison>,
    tested: bool,
) -> Option<f64> {
    match (metric, comparison) {
        (Some(Metric::ErrorRate), Some(Comparison::Ratio(_))) if !tested => {
            Some(DEFAULT_RATIO_ERROR_FLOOR)
        }
        _ => None,
    }
}

/// A rule's `consecutive:` (or `for:`, in windows), and how the file gave it,
/// for messages.
struct Consecutive {
    windows: u32,
    /// `consecutive` or `for`.
    key: &'static str,
    loc: Loc,
    /// How `for:` became windows, or empty.
    why: String,
}

impl RuleCheck<'_> {
    fn path(&self) -> &str {
        &self.r.path
    }

    /// `metric:`: required, and a name a file could write (policies built in
    /// code can hold names a file could not, `custom:`).
    fn metric(&self, errs: &mut Errors) -> Option<Metric> {
        let (r, p) = (self.r, self.path());
        match &r.metric {
            F::Set(m) if Metric::parse(&m.v.name()).as_ref() != Some(&m.v) => {
                errs.push(
                    m.loc,
                    format!("{p}.metric"),
                    format!(
                        "`{}` is not a metric; allowed: {}",
                        m.v.name(),
                        Metric::NAMES
                    ),
                );
                None
            }
            F::Set(m) => Some(m.v.clone()),
            F::Bad => None,
            F::Unset => {
                errs.push(
                    r.loc,
                    format!("{p}.metric"),
                    format!(
                        "missing: the metric the rule watches, one of {}",
                        Metric::NAMES
                    ),
                );
                None
            }
        }
    }

    /// `ratio:`, `absolute:` or `delta:`: exactly one, in range for the
    /// metric, and only `absolute:` without a baseline.
    fn comparison(&self, metric: Option<&Metric>, errs: &mut Errors) -> Option<Comparison> {
        let (r, p, note) = (self.r, self.path(), &self.note);
        let c = match &r.comparison {
            F::Set(c) => c,
            F::Bad => return None,
            F::Unset => {
                errs.push(
                    r.loc,
                    p.to_string(),
                    "missing comparison: give exactly one of `ratio:` (× baseline), `absolute:` \
                     (an SLO threshold) or `delta:` (baseline + amount)",
                );
                return None;
            }
        };
        let (kind, x) = c.v;
        let field = format!("{p}.{}", kind.key());
        let mut ok = true;
        if let Some(problem) = comparison_problem(kind, x, metric) {
            errs.push(c.loc, field.clone(), format!("{problem}{note}"));
            ok = false;
        }
        if kind != Kind::Absolute && matches!(self.baseline, Some(BaselinePolicy::None)) {
            // An inherited rule has no line: point at `baseline: none`.
            errs.push(
                c.loc.or(r.loc).or(self.baseline_loc),
                field,
                format!(
                    "a {} rule needs a baseline; remove `baseline: none` or use an \
                     absolute rule{note}",
                    kind.key()
                ),
            );
            ok = false;
        }
        ok.then_some(match kind {
            Kind::Ratio => Comparison::Ratio(x),
            Kind::Absolute => Comparison::Absolute(x),
            Kind::Delta => Comparison::Delta(x),
        })
    }

    /// `min_value:`: a finite number ≥ 0 in the metric's unit, at most 1 for
    /// a fraction. `Some(None)` when not given.
    fn min_value(&self, metric: Option<&Metric>, errs: &mut Errors) -> Option<Option<f64>> {
        let (p, note) = (self.path(), &self.note);
        match &self.r.min_value {
            F::Set(v) => {
                let too_big = v.v > 1.0 && metric.is_some_and(is_fraction);
                if !v.v.is_finite() || v.v < 0.0 || too_big {
                    errs.push(
                        v.loc,
                        format!("{p}.min_value"),
                        format!(
                            "{} is not allowed; min_value is a finite number ≥ 0 in the metric's unit{}{note}",
                            v.v,
                            metric
                                .map(|m| format!(" ({}{})", unit_hint(m), if is_fraction(m) { ", at most 1" } else { "" }))
                                .unwrap_or_default()
                        ),
                    );
                    return None;
                }
                Some(Some(v.v))
            }
            F::Bad => None,
            F::Unset => Some(None),
        }
    }

    /// `critical:`, false when not given.
    fn critical(&self) -> Option<bool> {
        match &self.r.critical {
            F::Set(c) => Some(c.v),
            F::Bad => None,
            F::Unset => Some(false),
        }
    }

    /// `consecutive:` (at least 1) or `for:` (at least one window, as whole
    /// windows); [`DEFAULT_CONSECUTIVE`] when neither is given.
    fn consecutive(&self, errs: &mut Errors) -> Option<Consecutive> {
        let (p, note) = (self.path(), &self.note);
        let c = match &self.r.consecutive {
            F::Set(c) => c,
            F::Bad => return None,
            F::Unset => {
                return Some(Consecutive {
                    windows: DEFAULT_CONSECUTIVE,
                    key: "consecutive",
                    loc: None,
                    why: String::new(),
                })
            }
        };
        match c.v {
            Consec::Windows(n) => match u32::try_from(n) {
                Ok(n) if n >= 1 => Some(Consecutive {
                    windows: n,
                    key: "consecutive",
                    loc: c.loc,
                    why: String::new(),
                }),
                _ => {
                    errs.push(
                        c.loc,
                        format!("{p}.consecutive"),
                        format!(
                            "{n} is not allowed; the number of breaching windows in a row that \
                             rolls back, at least 2 (1 only for critical rules){note}"
                        ),
                    );
                    None
                }
            },
            Consec::For(d) => match self.window {
                Some(w) if d < w => {
                    errs.push(
                        c.loc,
                        format!("{p}.for"),
                        format!(
                            "{} is shorter than the window ({}); `for:` must be at least one \
                             window (it becomes ⌈for / window⌉ windows in a row)",
                            fmt_d(d),
                            fmt_d(w)
                        ),
                    );
                    None
                }
                Some(w) => {
                    let n = d.as_nanos().div_ceil(w.as_nanos());
                    match u32::try_from(n) {
                        Ok(n) => Some(Consecutive {
                            windows: n,
                            key: "for",
                            loc: c.loc,
                            why: format!(" (for: {} is {n} window(s) of {})", fmt_d(d), fmt_d(w)),
                        }),
                        Err(_) => {
                            errs.push(
                                c.loc,
                                format!("{p}.for"),
                                format!("{} is far too long", fmt_d(d)),
                            );
                            None
                        }
                    }
                }
                None => None,
            },
        }
    }

    /// A rule that rolls back on one window must be critical, or have a
    /// sequential test that sets transients aside: such a test already sets
    /// aside the windows one burst can touch, so its rollback never rests on
    /// one window. False when reported.
    fn more_than_one_window(
        &self,
        consecutive: Option<&Consecutive>,
        critical: Option<bool>,
        errs: &mut Errors,
    ) -> bool {
        let (r, p, note) = (self.r, self.path(), &self.note);
        let tolerant = matches!(&r.test, F::Set(t)
            if matches!(t.v.transient, F::Set(_))
                && matches!(&t.v.kind, F::Set(k) if k.v.is_sequential()));
        let Some(Consecutive {
            windows: 1,
            key,
            loc,
            why,
        }) = consecutive
        else {
            return true;
        };
        if critical != Some(false) || tolerant {
            return true;
        }
        errs.push(
            loc.or(r.loc),
            format!("{p}.{key}"),
            format!(
                "a single bad window is noise; use consecutive ≥ 2, mark the rule \
                 critical: true for severe cases like 100% errors, or give its \
                 sequential_errors / sequential_latency test a `transient:` to set \
                 aside{why}{note}"
            ),
        );
        false
    }

    /// `min_requests:`: at least 1; the policy's default when not given.
    fn min_requests(&self, errs: &mut Errors) -> Option<u64> {
        let (p, note) = (self.path(), &self.note);
        match &self.r.min_requests {
            F::Set(n) if n.v >= 1 => u64::try_from(n.v).ok(),
            F::Set(n) => {
                errs.push(
                    n.loc,
                    format!("{p}.min_requests"),
                    format!(
                        "{} is too low; a rule needs at least 1 canary request on a route before it \
                         may breach (100–1000 is typical){note}",
                        n.v
                    ),
                );
                None
            }
            F::Bad => None,
            F::Unset => self.default_min_requests,
        }
    }

    /// `routes:`: no empty route; every route when not given.
    fn routes(&self, errs: &mut Errors) -> Option<Vec<Route>> {
        let p = self.path();
        let routes = match &self.r.routes {
            F::Set(routes) => routes,
            F::Bad => return None,
            F::Unset => return Some(Vec::new()),
        };
        let mut ok = true;
        let mut out = Vec::with_capacity(routes.v.len());
        for (i, route) in routes.v.iter().enumerate() {
            if route.v.trim().is_empty() {
                errs.push(
                    route.loc,
                    format!("{p}.routes[{i}]"),
                    "an empty route; name a route as `METHOD /path`, e.g. \"GET /pay\" \
                     (leave `routes:` out to apply the rule to every route)",
                );
                ok = false;
            } else {
                out.push(Route(route.v.clone()));
            }
        }
        ok.then_some(out)
    }

    /// `name:`: not empty; `<metric>-<ratio|absolute|delta>` when not given.
    fn name(&self, metric: Option<&Metric>, errs: &mut Errors) -> Option<String> {
        let (r, p) = (self.r, self.path());
        match &r.name {
            F::Set(n) if n.v.trim().is_empty() => {
                errs.push(
                    n.loc,
                    format!("{p}.name"),
                    "the rule name is empty; give a name or leave `name:` out for the default \
                     `<metric>-<ratio|absolute|delta>`",
                );
                None
            }
            F::Set(n) => Some(n.v.clone()),
            F::Bad => None,
            F::Unset => match (metric, r.comparison.value()) {
                (Some(m), Some((kind, _))) => Some(format!("{}-{}", m.name(), kind.key())),
                _ => None,
            },
        }
    }
}

/// What is wrong with a comparison's value for the metric, if anything: a
/// ratio is finite and ≥ 1, a threshold finite and ≥ 0, and an absolute
/// threshold on a fraction at most 1.
fn comparison_problem(kind: Kind, x: f64, metric: Option<&Metric>) -> Option<String> {
    match kind {
        Kind::Ratio if !x.is_finite() || x < 1.0 => Some(format!(
            "{x} is not allowed; a ratio is a finite number ≥ 1 (breach when canary > \
             ratio × baseline): a ratio below 1 would breach on a canary better than \
             the baseline"
        )),
        Kind::Absolute | Kind::Delta if !x.is_finite() || x < 0.0 => Some(format!(
            "{x} is not allowed; a threshold is a finite number ≥ 0 in the metric's unit{}",
            metric
                .map(|m| format!(" ({})", unit_hint(m)))
                .unwrap_or_default()
        )),
        Kind::Absolute if x > 1.0 && metric.is_some_and(is_fraction) => Some(format!(
            "{x} is above 100%; {} is a fraction (0.01 = 1%), so an absolute \
             threshold must be ≤ 1",
            metric.map(Metric::name).unwrap_or_default()
        )),
        _ => None,
    }
}
