//! Checking and resolving rules (see [`super::resolve`]).

use std::collections::HashMap;
use std::time::Duration;

use super::draft::{Consec, Draft, DraftRule, DraftTest, Kind, DEFAULT_CONSECUTIVE, F};
use super::error::{Errors, Loc};
use super::file_rules::test_kind_names;
use super::resolve::fmt_d;
use canaryd_core::policy::{BaselinePolicy, Comparison, Metric, Rule, TestKind, TestSpec};
use canaryd_core::vocab::Route;

/// Metrics measured as a fraction (0.01 = 1%).
pub(crate) fn is_fraction(m: &Metric) -> bool {
    matches!(m, Metric::ErrorRate | Metric::Cpu | Metric::Memory)
}

pub(crate) fn is_latency(m: &Metric) -> bool {
    matches!(
        m,
        Metric::LatencyP50 | Metric::LatencyP95 | Metric::LatencyP99
    )
}

/// What a value of this metric is written as, for messages.
pub(crate) fn unit_hint(m: &Metric) -> &'static str {
    if is_fraction(m) {
        "a fraction: 0.01 or \"1%\""
    } else if is_latency(m) {
        "milliseconds: 500 or \"500ms\" / \"1s\""
    } else {
        "a plain number"
    }
}

pub(crate) fn resolve_rules(
    d: &Draft,
    baseline_loc: Loc,
    window: Option<Duration>,
    default_min_requests: Option<u64>,
    baseline: Option<&BaselinePolicy>,
    errs: &mut Errors,
) -> Option<Vec<Rule>> {
    let mut all: Vec<&DraftRule> = Vec::new();
    let mut ok = true;
    match &d.rules {
        F::Set(rules) => {
            all.extend(rules.v.iter());
            if rules.v.is_empty() && d.add_rules.is_empty() {
                errs.push(
                    rules.loc,
                    "rules",
                    "at least one rule is needed: a canary nothing can fail is not being judged \
                     (e.g. - {metric: error_rate, ratio: 2})",
                );
                ok = false;
            }
        }
        F::Bad => ok = false,
        F::Unset => {
            errs.push(
                None,
                "rules",
                "missing: the rules that roll a canary back, e.g. \
                 - {metric: error_rate, ratio: 2}. They are required when no `preset:` is given \
                 (`add_rules:` only adds to a preset's rules)",
            );
            ok = false;
        }
    }
    all.extend(d.add_rules.iter());

    let mut names: HashMap<String, String> = HashMap::new();
    let mut out = Vec::with_capacity(all.len());
    for r in all {
        let rule = resolve_rule(
            r,
            baseline_loc,
            window,
            default_min_requests,
            baseline,
            errs,
        );
        if let Some(rule) = rule {
            let name_loc = r.name.loc().or(r.loc);
            if let Some(first) = names.get(&rule.name) {
                errs.push(
                    name_loc,
                    format!("{}.name", r.path),
                    format!(
                        "the rule name `{}` is already used by {first}; rule names must be \
                         unique (give this rule its own `name:`){}",
                        rule.name,
                        origin_note(r)
                    ),
                );
                ok = false;
            } else {
                names.insert(rule.name.clone(), r.path.clone());
            }
            out.push(rule);
        } else {
            ok = false;
        }
    }
    ok.then_some(out)
}

fn origin_note(r: &DraftRule) -> String {
    r.origin
        .as_ref()
        .map(|p| {
            format!(
                " (this rule comes from preset `{p}`; give `rules:` to replace the preset's rules)"
            )
        })
        .unwrap_or_default()
}

fn resolve_rule(
    r: &DraftRule,
    baseline_loc: Loc,
    window: Option<Duration>,
    default_min_requests: Option<u64>,
    baseline: Option<&BaselinePolicy>,
    errs: &mut Errors,
) -> Option<Rule> {
    let p = &r.path;
    let note = origin_note(r);
    let mut ok = true;

    let metric = match &r.metric {
        // Policies built in code can hold names a file could not (`custom:`).
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
    };

    let comparison = match &r.comparison {
        F::Set(c) => {
            let (kind, x) = c.v;
            let field = format!("{p}.{}", kind.key());
            let problem =
                match kind {
                    Kind::Ratio if !x.is_finite() || x < 1.0 => Some(format!(
                        "{x} is not allowed; a ratio is a finite number ≥ 1 (breach when canary > \
                     ratio × baseline): a ratio below 1 would breach on a canary better than \
                     the baseline"
                    )),
                    Kind::Absolute | Kind::Delta if !x.is_finite() || x < 0.0 => Some(format!(
                    "{x} is not allowed; a threshold is a finite number ≥ 0 in the metric's unit{}",
                    metric.as_ref().map(|m| format!(" ({})", unit_hint(m))).unwrap_or_default()
                )),
                    Kind::Absolute if x > 1.0 && metric.as_ref().is_some_and(is_fraction) => {
                        Some(format!(
                            "{x} is above 100%; {} is a fraction (0.01 = 1%), so an absolute \
                         threshold must be ≤ 1",
                            metric.as_ref().map(Metric::name).unwrap_or_default()
                        ))
                    }
                    _ => None,
                };
            if let Some(problem) = problem {
                errs.push(c.loc, field.clone(), format!("{problem}{note}"));
                ok = false;
            }
            if kind != Kind::Absolute && matches!(baseline, Some(BaselinePolicy::None)) {
                // An inherited rule has no line: point at `baseline: none`.
                errs.push(
                    c.loc.or(r.loc).or(baseline_loc),
                    field,
                    format!(
                        "a {} rule needs a baseline; remove `baseline: none` or use an \
                         absolute rule{note}",
                        kind.key()
                    ),
                );
                ok = false;
            }
            Some(match kind {
                Kind::Ratio => Comparison::Ratio(x),
                Kind::Absolute => Comparison::Absolute(x),
                Kind::Delta => Comparison::Delta(x),
            })
        }
        F::Bad => None,
        F::Unset => {
            errs.push(
                r.loc,
                p.clone(),
                "missing comparison: give exactly one of `ratio:` (× baseline), `absolute:` \
                 (an SLO threshold) or `delta:` (baseline + amount)",
            );
            None
        }
    };

    let min_value = match &r.min_value {
        F::Set(v) => {
            let too_big = v.v > 1.0 && metric.as_ref().is_some_and(is_fraction);
            if !v.v.is_finite() || v.v < 0.0 || too_big {
                errs.push(
                    v.loc,
                    format!("{p}.min_value"),
                    format!(
                        "{} is not allowed; min_value is a finite number ≥ 0 in the metric's unit{}{note}",
                        v.v,
                        metric
                            .as_ref()
                            .map(|m| format!(" ({}{})", unit_hint(m), if is_fraction(m) { ", at most 1" } else { "" }))
                            .unwrap_or_default()
                    ),
                );
                ok = false;
            }
            Some(v.v)
        }
        F::Bad => {
            ok = false;
            None
        }
        F::Unset => None,
    };

    let critical = match &r.critical {
        F::Set(c) => Some(c.v),
        F::Bad => None,
        F::Unset => Some(false),
    };

    let consecutive = match &r.consecutive {
        F::Set(c) => match c.v {
            Consec::Windows(n) => match u32::try_from(n) {
                Ok(n) if n >= 1 => Some((n, "consecutive", c.loc, String::new())),
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
            Consec::For(d) => match window {
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
                        Ok(n) => Some((
                            n,
                            "for",
                            c.loc,
                            format!(" (for: {} is {n} window(s) of {})", fmt_d(d), fmt_d(w)),
                        )),
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
        },
        F::Bad => None,
        F::Unset => Some((DEFAULT_CONSECUTIVE, "consecutive", None, String::new())),
    };
    // A sequential test that tolerates transients already sets aside the
    // windows one burst can touch: its rollback never rests on one window.
    let tolerant = matches!(&r.test, F::Set(t)
        if matches!(t.v.transient, F::Set(_))
            && matches!(&t.v.kind, F::Set(k) if k.v.is_sequential()));
    if let (Some((1, key, loc, why)), Some(false), false) = (&consecutive, critical, tolerant) {
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
        ok = false;
    }

    let min_requests = match &r.min_requests {
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
        F::Unset => default_min_requests,
    };

    let routes = match &r.routes {
        F::Set(routes) => {
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
            Some(out)
        }
        F::Bad => None,
        F::Unset => Some(Vec::new()),
    };

    let name = match &r.name {
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
        F::Unset => match (&metric, r.comparison.value()) {
            (Some(m), Some((kind, _))) => Some(format!("{}-{}", m.name(), kind.key())),
            _ => None,
        },
    };

    let test = match &r.test {
        F::Set(t) => resolve_test(&t.v, r, metric.as_ref(), baseline, baseline_loc, errs),
        F::Bad => None,
        F::Unset => Some(None),
    };

    let rule = Rule {
        test: test?,
        name: name?,
        metric: metric?,
        comparison: comparison?,
        routes: routes?,
        consecutive: consecutive?.0,
        critical: critical?,
        min_requests: min_requests?,
        min_value,
    };
    ok.then_some(rule)
}

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
fn resolve_test(
    t: &DraftTest,
    r: &DraftRule,
    metric: Option<&Metric>,
    baseline: Option<&BaselinePolicy>,
    baseline_loc: Loc,
    errs: &mut Errors,
) -> Option<Option<TestSpec>> {
    let p = format!("{}.test", r.path);
    let note = origin_note(r);
    let owner = t.loc.or(r.loc);
    let mut ok = true;

    let kind = match &t.kind {
        F::Set(k) => {
            if let Some(m) = metric.filter(|m| !k.v.fits(m)) {
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
                    k.loc.or(owner),
                    format!("{p}.kind"),
                    format!(
                        "{} does not fit metric {}; {fits}{instead}{note}",
                        k.v.name(),
                        m.name()
                    ),
                );
                ok = false;
            }
            Some(k.v)
        }
        F::Bad => None,
        F::Unset => {
            errs.push(
                owner,
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
    };

    let alpha = match &t.alpha {
        F::Set(a) if a.v.is_finite() && a.v > 0.0 && a.v <= 0.5 => Some(a.v),
        F::Set(a) => {
            errs.push(
                a.loc.or(owner),
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
                owner,
                format!("{p}.alpha"),
                format!(
                    "missing: the significance level below which the rule breaches, \
                     0 < alpha ≤ 0.5 (e.g. alpha: 0.001){note}"
                ),
            );
            None
        }
    };

    let warn_alpha = match &t.warn_alpha {
        F::Set(w) if !(w.v.is_finite() && w.v > 0.0 && w.v <= 0.5) => {
            errs.push(
                w.loc.or(owner),
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
                    w.loc.or(owner),
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
    };

    let min_effect = match &t.min_effect {
        F::Set(e) if !e.v.is_finite() || e.v < 0.0 => {
            errs.push(
                e.loc.or(owner),
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
                    e.loc.or(owner),
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
    };

    if matches!(baseline, Some(BaselinePolicy::None)) {
        // An inherited rule has no line: point at `baseline: none`.
        errs.push(
            owner.or(baseline_loc),
            p.clone(),
            format!(
                "a test compares the canary with the baseline; remove `baseline: none` or \
                 remove the test{note}"
            ),
        );
        ok = false;
    }

    let transient = match &t.transient {
        F::Set(d) if kind.is_some_and(|k| !k.is_sequential()) => {
            errs.push(
                d.loc.or(owner),
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
                d.loc.or(owner),
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
    };

    let spec = TestSpec {
        kind: kind?,
        alpha: alpha?,
        warn_alpha: warn_alpha?,
        min_effect: min_effect?,
        transient: transient?,
    };
    ok.then_some(Some(spec))
}
