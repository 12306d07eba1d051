//! Checking and resolving rules (see [`super::resolve`]).

use std::collections::HashMap;
use std::time::Duration;

use super::draft::{Consec, Draft, DraftRule, Kind, DEFAULT_CONSECUTIVE, F};
use super::error::{Errors, Loc};
use super::model::{BaselinePolicy, Comparison, Metric, Rule};
use super::resolve::fmt_d;
use crate::vocab::Route;

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
    if let (Some((1, key, loc, why)), Some(false)) = (&consecutive, critical) {
        errs.push(
            loc.or(r.loc),
            format!("{p}.{key}"),
            format!(
                "a single bad window is noise; use consecutive ≥ 2, or mark the rule \
                 critical: true for severe cases like 100% errors{why}{note}"
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

    let rule = Rule {
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
