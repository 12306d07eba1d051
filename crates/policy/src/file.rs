//! Policy files → [`Policy`].
//!
//! The text is parsed into a tree of YAML nodes that know their line and
//! column, read into a draft layer (unknown fields, types, units, fields that
//! exclude each other), merged over its preset (or the defaults) and resolved
//! (ranges, ladder shape, ramp budget, rules).
//! Every stage keeps going after a problem so that all of them are reported.
//!
//! Nothing here does I/O: callers read the file and pass its text and name.

use super::draft::{
    Draft, DraftAdaptive, DraftBaseline, DraftBudget, DraftRamp, DraftStep, Hold, F,
};
use super::error::{suggestion, Errors, PolicyErrors};
use super::file_rules::read_rules;
use super::presets::{preset, PRESET_NAMES};
use super::resolve::resolve;
use super::yaml::{
    describe, get_bool, get_duration, get_fraction, get_int, get_seq, get_str, loc_of, map_view,
    parse_document, MapView, Node, SNode,
};
use canaryd_core::policy::{BaselineApproval, Policy};

pub(crate) const TOP_FIELDS: &[&str] = &[
    "name",
    "preset",
    "window",
    "ladder",
    "adaptive",
    "ramp_budget",
    "traffic",
    "baseline",
    "error_budget",
    "collectors",
    "rules",
    "add_rules",
    // The shell's sections (see SHELL_SECTIONS): accepted here, read there.
    "source",
    "router",
    "notify",
];

/// Sections of a policy file that configure the shell, not the decision:
/// where metrics come from and how the collectors are checked (`source`),
/// what moves traffic (`router`) and who is told (`notify`). One file describes one rollout end to end, but the core only
/// decides, so it accepts these sections without reading them; the binary
/// parses them with the integrations' own strict types.
pub const SHELL_SECTIONS: &[&str] = &["source", "router", "notify"];
const STEP_FIELDS: &[&str] = &["weight", "hold", "hold_windows", "min_requests"];
const ADAPTIVE_FIELDS: &[&str] = &[
    "initial_weight",
    "min_increase",
    "max_increase",
    "latency_penalty",
    "error_penalty",
    "hold",
    "hold_windows",
];
const TRAFFIC_FIELDS: &[&str] = &["min_requests_per_route", "max_extensions"];
const BASELINE_FIELDS: &[&str] = &[
    "lookback",
    "min_history",
    "min_requests_per_route",
    "approval",
];
const BUDGET_FIELDS: &[&str] = &["defer_below", "freeze_at"];
const COLLECTOR_FIELDS: &[&str] = &["auto_resume"];

/// Parses a policy file. `source` names it in messages (usually the path).
///
/// On failure, every problem found is returned, each with the line and
/// column of the offending node, the field, and what is allowed.
pub fn parse_policy(source: &str, text: &str) -> Result<Policy, PolicyErrors> {
    let mut errs = Errors::new(source);
    let policy = parse_into(text, &mut errs);
    errs.into_result(policy)
}

fn parse_into(text: &str, errs: &mut Errors) -> Option<Policy> {
    let root = parse_document(text, errs)?;
    match &root.value {
        Node::Map(_) => {}
        Node::Null => {
            errs.push(
                loc_of(&root),
                "",
                "the policy is empty; start from a preset (`preset: slo-ratio`) or give \
                 window, ladder, ramp_budget and rules",
            );
            return None;
        }
        other => {
            errs.push(
                loc_of(&root),
                "",
                format!(
                    "a policy is a mapping of fields ({}), got {}",
                    TOP_FIELDS.join(", "),
                    describe(other)
                ),
            );
            return None;
        }
    }
    let view = map_view(&root, "", "a policy", TOP_FIELDS, errs)?;
    let (layer, choice) = read_layer(&view, errs);
    let base = match choice {
        Preset::None => Draft::defaults(),
        Preset::Known(name) => match preset(&name) {
            Some(p) => Draft::from_policy(&p, true),
            None => {
                errs.push(None, "preset", format!("preset `{name}` is not available"));
                return None;
            }
        },
        // The preset is unknown: the error says so; do not also report every
        // field it would have provided as missing.
        Preset::Bad => Draft {
            window: F::Bad,
            ramp: F::Bad,
            ramp_budget: F::Bad,
            rules: F::Bad,
            ..Draft::defaults()
        },
    };
    resolve(&layer.over(base), errs)
}

enum Preset {
    None,
    Known(String),
    Bad,
}

fn read_layer(view: &MapView, errs: &mut Errors) -> (Draft, Preset) {
    let mut d = Draft::empty();

    let choice = match view.get("preset") {
        None => Preset::None,
        Some(n) => match get_str(n, "preset", errs) {
            Some(name) if PRESET_NAMES.contains(&name.as_str()) => {
                d.preset = Some(name.clone());
                Preset::Known(name)
            }
            Some(name) => {
                let hint = suggestion(&name, PRESET_NAMES)
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default();
                errs.push(
                    loc_of(n),
                    "preset",
                    format!(
                        "unknown preset `{name}`{hint}; presets: {}",
                        PRESET_NAMES.join(", ")
                    ),
                );
                Preset::Bad
            }
            None => Preset::Bad,
        },
    };

    if let Some(n) = view.get("name") {
        d.name = F::from_opt(get_str(n, "name", errs), loc_of(n));
    }
    if let Some(n) = view.get("window") {
        d.window = F::from_opt(get_duration(n, "window", errs), loc_of(n));
    }
    if let Some(n) = view.get("ramp_budget") {
        d.ramp_budget = F::from_opt(get_duration(n, "ramp_budget", errs), loc_of(n));
    }

    d.ramp = match (view.get("ladder"), view.get("adaptive")) {
        (Some(_), Some(_)) => {
            errs.push(
                view.key_loc("adaptive"),
                "adaptive",
                "give either `ladder:` (fixed steps) or `adaptive:` (computed steps), not both",
            );
            F::Bad
        }
        (Some(n), None) => read_ladder(n, errs),
        (None, Some(n)) => read_adaptive(n, errs),
        (None, None) => F::Unset,
    };

    if let Some(n) = view.get("traffic") {
        if let Some(t) = map_view(n, "traffic", "traffic settings", TRAFFIC_FIELDS, errs) {
            d.min_requests_per_route = int_field(
                &t,
                "traffic",
                "min_requests_per_route",
                "a request count ≥ 1",
                errs,
            );
            d.max_extensions = int_field(
                &t,
                "traffic",
                "max_extensions",
                "a number of windows ≥ 0",
                errs,
            );
        }
    }

    if let Some(n) = view.get("baseline") {
        d.baseline = read_baseline(n, errs);
    }
    if let Some(n) = view.get("error_budget") {
        d.error_budget = read_error_budget(n, errs);
    }
    if let Some(n) = view.get("collectors") {
        if let Some(c) = map_view(
            n,
            "collectors",
            "collector settings",
            COLLECTOR_FIELDS,
            errs,
        ) {
            if let Some(a) = c.get("auto_resume") {
                d.auto_resume = F::from_opt(get_bool(a, "collectors.auto_resume", errs), loc_of(a));
            }
        }
    }

    if let Some(n) = view.get("rules") {
        d.rules = match read_rules(n, "rules", errs) {
            Some(rules) => F::set(rules, loc_of(n)),
            None => F::Bad,
        };
    }
    if let Some(n) = view.get("add_rules") {
        d.add_rules = read_rules(n, "add_rules", errs).unwrap_or_default();
    }
    (d, choice)
}

/// An integer field of a mapping: unset if absent, bad if malformed.
fn int_field(view: &MapView, parent: &str, key: &str, expected: &str, errs: &mut Errors) -> F<i64> {
    match view.get(key) {
        None => F::Unset,
        Some(n) => F::from_opt(
            get_int(n, &format!("{parent}.{key}"), expected, errs),
            loc_of(n),
        ),
    }
}

fn read_hold(view: &MapView, field: &str, errs: &mut Errors) -> F<Hold> {
    match (view.get("hold"), view.get("hold_windows")) {
        (Some(_), Some(_)) => {
            errs.push(
                view.key_loc("hold_windows"),
                format!("{field}.hold_windows"),
                "give either `hold:` (a duration, a whole multiple of window) or \
                 `hold_windows:` (a count of windows), not both",
            );
            F::Bad
        }
        (Some(h), None) => F::from_opt(
            get_duration(h, &format!("{field}.hold"), errs).map(Hold::Every),
            loc_of(h),
        ),
        (None, Some(h)) => F::from_opt(
            get_int(
                h,
                &format!("{field}.hold_windows"),
                "a number of windows ≥ 1",
                errs,
            )
            .map(Hold::Windows),
            loc_of(h),
        ),
        (None, None) => F::Unset,
    }
}

fn read_ladder(n: &SNode, errs: &mut Errors) -> F<DraftRamp> {
    let Some(items) = get_seq(n, "ladder", "steps like {weight: 10, hold: 10m}", errs) else {
        return F::Bad;
    };
    let mut steps = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let field = format!("ladder[{i}]");
        let Some(s) = map_view(item, &field, "a ladder step", STEP_FIELDS, errs) else {
            ok = false;
            continue;
        };
        steps.push(DraftStep {
            loc: s.loc,
            weight: int_field(&s, &field, "weight", "a weight, 1..=100", errs),
            hold: read_hold(&s, &field, errs),
            min_requests: int_field(&s, &field, "min_requests", "a request count ≥ 1", errs),
        });
    }
    if ok {
        F::set(DraftRamp::Ladder(steps), loc_of(n))
    } else {
        F::Bad
    }
}

fn number_field(view: &MapView, field: &str, errs: &mut Errors) -> F<f64> {
    let key = field.rsplit('.').next().unwrap_or(field);
    match view.get(key) {
        None => F::Unset,
        Some(n) => match &n.value {
            Node::Int(i) => F::set(*i as f64, loc_of(n)),
            Node::Float(x) => F::set(*x, loc_of(n)),
            other => {
                errs.push(
                    loc_of(n),
                    field,
                    format!("expected a number ≥ 0 (e.g. 3.0), got {}", describe(other)),
                );
                F::Bad
            }
        },
    }
}

fn read_adaptive(n: &SNode, errs: &mut Errors) -> F<DraftRamp> {
    let Some(a) = map_view(n, "adaptive", "an adaptive ramp", ADAPTIVE_FIELDS, errs) else {
        return F::Bad;
    };
    let f = "adaptive";
    let ramp = DraftAdaptive {
        initial_weight: int_field(&a, f, "initial_weight", "a weight, 1..=99", errs),
        min_increase: int_field(&a, f, "min_increase", "percentage points, 1..=100", errs),
        max_increase: int_field(&a, f, "max_increase", "percentage points, 1..=100", errs),
        latency_penalty: number_field(&a, "adaptive.latency_penalty", errs),
        error_penalty: number_field(&a, "adaptive.error_penalty", errs),
        hold: read_hold(&a, f, errs),
    };
    F::set(DraftRamp::Adaptive(ramp), loc_of(n))
}

fn is_none_word(n: &SNode) -> bool {
    matches!(&n.value, Node::Str(s) if s == "none")
}

fn read_baseline(n: &SNode, errs: &mut Errors) -> F<Option<DraftBaseline>> {
    if is_none_word(n) {
        return F::set(None, loc_of(n));
    }
    if !matches!(n.value, Node::Map(_)) {
        errs.push(
            loc_of(n),
            "baseline",
            format!(
                "expected `none` or a mapping with fields {}, got {}",
                BASELINE_FIELDS.join(", "),
                describe(&n.value)
            ),
        );
        return F::Bad;
    }
    let Some(b) = map_view(n, "baseline", "baseline settings", BASELINE_FIELDS, errs) else {
        return F::Bad;
    };
    let duration = |key: &str, errs: &mut Errors| match b.get(key) {
        None => F::Unset,
        Some(v) => F::from_opt(get_duration(v, &format!("baseline.{key}"), errs), loc_of(v)),
    };
    let baseline = DraftBaseline {
        lookback: duration("lookback", errs),
        min_history: duration("min_history", errs),
        min_requests_per_route: int_field(
            &b,
            "baseline",
            "min_requests_per_route",
            "a request count ≥ 1",
            errs,
        ),
        approval: match b.get("approval") {
            None => F::Unset,
            Some(v) => F::from_opt(read_approval(v, errs), loc_of(v)),
        },
    };
    F::set(Some(baseline), loc_of(n))
}

/// `baseline.approval`: `when_thin` (the default: a rollout waiting for its
/// baseline starts on its own once the baseline passes) or `always`.
fn read_approval(v: &SNode, errs: &mut Errors) -> Option<BaselineApproval> {
    let s = get_str(v, "baseline.approval", errs)?;
    match s.as_str() {
        "when_thin" => Some(BaselineApproval::WhenThin),
        "always" => Some(BaselineApproval::Always),
        other => {
            errs.push(
                loc_of(v),
                "baseline.approval",
                format!(
                    "`{other}` is not allowed; `when_thin` (start on its own once the baseline \
                     passes) or `always` (only an operator starts a rollout that waited)"
                ),
            );
            None
        }
    }
}

fn read_error_budget(n: &SNode, errs: &mut Errors) -> F<Option<DraftBudget>> {
    if is_none_word(n) {
        return F::set(None, loc_of(n));
    }
    if !matches!(n.value, Node::Map(_)) {
        errs.push(
            loc_of(n),
            "error_budget",
            format!(
                "expected `none` or a mapping with fields {}, got {}",
                BUDGET_FIELDS.join(", "),
                describe(&n.value)
            ),
        );
        return F::Bad;
    }
    let Some(b) = map_view(
        n,
        "error_budget",
        "error budget settings",
        BUDGET_FIELDS,
        errs,
    ) else {
        return F::Bad;
    };
    let fraction = |key: &str, errs: &mut Errors| match b.get(key) {
        None => F::Unset,
        Some(v) => F::from_opt(
            get_fraction(v, &format!("error_budget.{key}"), errs),
            loc_of(v),
        ),
    };
    let budget = DraftBudget {
        defer_below: fraction("defer_below", errs),
        freeze_at: fraction("freeze_at", errs),
    };
    F::set(Some(budget), loc_of(n))
}

/// Checks a policy built in code (not read from a file) against the same
/// rules as files; `source` labels the errors.
pub fn validate_policy(source: &str, p: &Policy) -> Result<(), PolicyErrors> {
    let mut errs = Errors::new(source);
    let resolved = resolve(&Draft::from_policy(p, false), &mut errs);
    errs.into_result(resolved).map(|_| ())
}
