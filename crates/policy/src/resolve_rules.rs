//! Checking and resolving rules (see [`super::resolve`]).

use std::collections::HashMap;
use std::time::Duration;

use super::draft::{Draft, DraftRule, F};
use super::error::{Errors, Loc};
use super::resolve_rule::{resolve_rule, RuleCheck};
use canaryd_core::policy::{BaselinePolicy, Metric, Rule};

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
        let check = RuleCheck {
            r,
            note: origin_note(r),
            window,
            default_min_requests,
            baseline,
            baseline_loc,
        };
        let rule = resolve_rule(&check, errs);
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

/// Where an inherited rule comes from, for the end of every message about it:
/// the file has no line to point at.
pub(crate) fn origin_note(r: &DraftRule) -> String {
    r.origin
        .as_ref()
        .map(|p| {
            format!(
                " (this rule comes from preset `{p}`; give `rules:` to replace the preset's rules)"
            )
        })
        .unwrap_or_default()
}
