//! Reading `rules:` / `add_rules:` entries, with units that depend on the
//! metric: fractions (`0.01`, `"1%"`) for error_rate/cpu/memory, milliseconds
//! (`500`, `"500ms"`, `"1s"`) for latencies, plain numbers otherwise.
//! A rule may name a statistical `test:` (kind, alpha, warn_alpha, min_effect,
//! transient).

use super::draft::{at, Consec, DraftRule, DraftTest, Kind, F};
use super::error::{quote, suggestion, Errors};
use super::resolve_rules::{is_fraction, is_latency, unit_hint};
use super::yaml::{
    as_number, describe, get_bool, get_duration, get_int, get_seq, get_str, loc_of, map_view,
    parse_percent, MapView, Node, SNode,
};
use canaryd_core::policy::{Metric, TestKind};

const RULE_FIELDS: &[&str] = &[
    "name",
    "metric",
    "ratio",
    "absolute",
    "delta",
    "consecutive",
    "for",
    "critical",
    "min_requests",
    "min_value",
    "routes",
    "test",
];

const TEST_FIELDS: &[&str] = &["kind", "alpha", "warn_alpha", "min_effect", "transient"];

/// Every test kind a rule may name.
pub(crate) const TEST_KINDS: [TestKind; 5] = [
    TestKind::ChiSquare,
    TestKind::Fisher,
    TestKind::MannWhitney,
    TestKind::SequentialErrors,
    TestKind::SequentialLatency,
];

/// `chi_square, fisher, mann_whitney, sequential_errors, sequential_latency`.
pub(crate) fn test_kind_names() -> String {
    TEST_KINDS.map(TestKind::name).join(", ")
}

const METRIC_NAMES: &[&str] = &[
    "error_rate",
    "latency_p50",
    "latency_p95",
    "latency_p99",
    "cpu",
    "memory",
    "inflight",
];

/// Reads a list of rules; `None` if `n` is not a list.
pub(crate) fn read_rules(n: &SNode, list: &str, errs: &mut Errors) -> Option<Vec<DraftRule>> {
    let items = get_seq(n, list, "rules like {metric: error_rate, ratio: 2}", errs)?;
    Some(
        items
            .iter()
            .enumerate()
            .map(|(i, item)| read_rule(item, format!("{list}[{i}]"), errs))
            .collect(),
    )
}

fn read_rule(n: &SNode, path: String, errs: &mut Errors) -> DraftRule {
    let mut rule = DraftRule {
        path: path.clone(),
        origin: None,
        loc: loc_of(n),
        name: F::Unset,
        metric: F::Unset,
        comparison: F::Unset,
        consecutive: F::Unset,
        critical: F::Unset,
        min_requests: F::Unset,
        min_value: F::Unset,
        routes: F::Unset,
        test: F::Unset,
    };
    let Some(view) = map_view(n, &path, "a rule", RULE_FIELDS, errs) else {
        // Not a mapping: reported; keep the rule but mark it unusable.
        rule.metric = F::Bad;
        rule.comparison = F::Bad;
        return rule;
    };
    let field = |key: &str| format!("{path}.{key}");

    if let Some(v) = view.get("name") {
        rule.name = F::from_opt(get_str(v, &field("name"), errs), loc_of(v));
    }
    if let Some(v) = view.get("metric") {
        rule.metric = F::from_opt(read_metric(v, &field("metric"), errs), loc_of(v));
    }
    let metric = rule.metric.value().cloned();
    // A bad metric is already reported: do not pile unit errors on top of it.
    let metric_known = !matches!(rule.metric, F::Bad);

    let given: Vec<Kind> = [Kind::Ratio, Kind::Absolute, Kind::Delta]
        .into_iter()
        .filter(|k| view.get(k.key()).is_some())
        .collect();
    rule.comparison = match given.as_slice() {
        [] => F::Unset,
        [kind] => match view.get(kind.key()) {
            Some(v) => F::from_opt(
                read_amount(
                    v,
                    &field(kind.key()),
                    metric.as_ref(),
                    metric_known,
                    Some(*kind),
                    errs,
                )
                .map(|x| (*kind, x)),
                loc_of(v),
            ),
            None => F::Unset,
        },
        [_, second, ..] => {
            let names: Vec<&str> = given.iter().map(|k| k.key()).collect();
            errs.push(
                view.key_loc(second.key()),
                field(second.key()),
                format!(
                    "give exactly one of ratio, absolute, delta per rule; this rule has {} \
                     (split it into one rule per comparison)",
                    names.join(" and ")
                ),
            );
            F::Bad
        }
    };

    rule.consecutive = match (view.get("consecutive"), view.get("for")) {
        (Some(_), Some(_)) => {
            errs.push(
                view.key_loc("for"),
                field("for"),
                "give either `consecutive:` (a count of windows) or `for:` (a duration), not both",
            );
            F::Bad
        }
        (Some(v), None) => F::from_opt(
            get_int(
                v,
                &field("consecutive"),
                "a number of windows ≥ 2 (1 only with critical: true)",
                errs,
            )
            .map(Consec::Windows),
            loc_of(v),
        ),
        (None, Some(v)) => F::from_opt(
            get_duration(v, &field("for"), errs).map(Consec::For),
            loc_of(v),
        ),
        (None, None) => F::Unset,
    };

    if let Some(v) = view.get("critical") {
        rule.critical = F::from_opt(get_bool(v, &field("critical"), errs), loc_of(v));
    }
    if let Some(v) = view.get("min_requests") {
        rule.min_requests = F::from_opt(
            get_int(v, &field("min_requests"), "a request count ≥ 1", errs),
            loc_of(v),
        );
    }
    if let Some(v) = view.get("min_value") {
        rule.min_value = F::from_opt(
            read_amount(
                v,
                &field("min_value"),
                metric.as_ref(),
                metric_known,
                None,
                errs,
            ),
            loc_of(v),
        );
    }
    rule.routes = read_routes(&view, &field("routes"), errs);
    if let Some(v) = view.get("test") {
        rule.test = read_test(v, &field("test"), errs);
    }
    rule
}

/// `test: {kind: chi_square, alpha: 0.001, warn_alpha: 0.01, min_effect: 0.2}`.
/// Ranges and the fit with the rule's metric are checked when resolving.
fn read_test(n: &SNode, field: &str, errs: &mut Errors) -> F<DraftTest> {
    let Some(view) = map_view(n, field, "a test", TEST_FIELDS, errs) else {
        return F::Bad;
    };
    let sub = |key: &str| format!("{field}.{key}");
    let mut test = DraftTest {
        loc: view.loc,
        kind: F::Unset,
        alpha: F::Unset,
        warn_alpha: F::Unset,
        min_effect: F::Unset,
        transient: F::Unset,
    };
    if let Some(v) = view.get("transient") {
        test.transient = F::from_opt(get_duration(v, &sub("transient"), errs), loc_of(v));
    }
    if let Some(v) = view.get("kind") {
        test.kind = F::from_opt(read_test_kind(v, &sub("kind"), errs), loc_of(v));
    }
    if let Some(v) = view.get("alpha") {
        test.alpha = F::from_opt(read_level(v, &sub("alpha"), errs), loc_of(v));
    }
    if let Some(v) = view.get("warn_alpha") {
        test.warn_alpha = F::from_opt(read_level(v, &sub("warn_alpha"), errs), loc_of(v));
    }
    if let Some(v) = view.get("min_effect") {
        let effect = as_number(&v.value);
        if effect.is_none() {
            errs.push(
                loc_of(v),
                sub("min_effect"),
                format!(
                    "expected a standardized effect size, a plain number ≥ 0 (e.g. 0.2: \
                     Cohen's h for error rates, |Cliff's delta| for latencies), got {}",
                    describe(&v.value)
                ),
            );
        }
        test.min_effect = F::from_opt(effect, loc_of(v));
    }
    F::set(test, view.loc)
}

fn read_test_kind(v: &SNode, field: &str, errs: &mut Errors) -> Option<TestKind> {
    let name = get_str(v, field, errs)?;
    let kind = TEST_KINDS.into_iter().find(|k| k.name() == name.trim());
    if kind.is_none() {
        let names = TEST_KINDS.map(TestKind::name);
        let hint = suggestion(&name, &names)
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        errs.push(
            loc_of(v),
            field,
            format!(
                "unknown test {}{hint}; allowed: {} (chi_square, fisher and sequential_errors \
                 fit error_rate; mann_whitney and sequential_latency fit latency_p50, latency_p95 and \
                 latency_p99)",
                quote(&name),
                test_kind_names()
            ),
        );
    }
    kind
}

/// A significance level: a number (`0.001`) or a percentage (`"0.1%"`).
fn read_level(v: &SNode, field: &str, errs: &mut Errors) -> Option<f64> {
    if let Some(x) = as_number(&v.value) {
        return Some(x);
    }
    if let Node::Str(s) = &v.value {
        if let Some(x) = parse_percent(s) {
            return Some(x);
        }
    }
    errs.push(
        loc_of(v),
        field,
        format!(
            "expected a significance level like 0.001 or a percentage like \"0.1%\", got {}",
            describe(&v.value)
        ),
    );
    None
}

fn read_metric(v: &SNode, field: &str, errs: &mut Errors) -> Option<Metric> {
    let name = get_str(v, field, errs)?;
    let metric = Metric::parse(name.trim());
    if metric.is_none() {
        let hint = suggestion(&name, METRIC_NAMES)
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        errs.push(
            loc_of(v),
            field,
            format!(
                "unknown metric {}{hint}; allowed: {}",
                quote(&name),
                Metric::NAMES
            ),
        );
    }
    metric
}

/// A threshold, delta, ratio (`kind`) or floor (`kind: None`) in the unit of
/// `metric`. Units that do not fit the metric are errors.
fn read_amount(
    v: &SNode,
    field: &str,
    metric: Option<&Metric>,
    metric_known: bool,
    kind: Option<Kind>,
    errs: &mut Errors,
) -> Option<f64> {
    if let Some(x) = as_number(&v.value) {
        return Some(x);
    }
    let Node::Str(s) = &v.value else {
        let expected = match (kind, metric) {
            (Some(Kind::Ratio), _) => "a plain number ≥ 1, e.g. 2 (canary > 2 × baseline)",
            (_, Some(m)) => unit_hint(m),
            (_, None) => "a number",
        };
        errs.push(
            loc_of(v),
            field,
            format!("expected {expected}, got {}", describe(&v.value)),
        );
        return None;
    };
    if kind == Some(Kind::Ratio) {
        errs.push(
            loc_of(v),
            field,
            format!(
                "a ratio is a plain number ≥ 1, e.g. 2 (canary > 2 × baseline), got {}",
                quote(s)
            ),
        );
        return None;
    }
    if let Ok(x) = s.trim().parse::<f64>() {
        return Some(x);
    }
    let Some(m) = metric else {
        if metric_known {
            errs.push(
                loc_of(v),
                field,
                format!(
                    "{} is not a number; give the rule's `metric:` first",
                    quote(s)
                ),
            );
        }
        return None;
    };
    let name = m.name();
    if let Some(x) = parse_percent(s) {
        if is_fraction(m) {
            return Some(x);
        }
        errs.push(
            loc_of(v),
            field,
            format!(
                "{} is a percentage, but {name} is measured in {}; percentages only fit \
                 error_rate, cpu and memory",
                quote(s),
                unit_hint(m)
            ),
        );
        return None;
    }
    if let Ok(d) = humantime::parse_duration(s.trim()) {
        if is_latency(m) {
            return Some(d.as_nanos() as f64 / 1e6);
        }
        errs.push(
            loc_of(v),
            field,
            format!(
                "{} is a duration, but {name} is measured as {}; durations only fit latency metrics",
                quote(s),
                unit_hint(m)
            ),
        );
        return None;
    }
    errs.push(
        loc_of(v),
        field,
        format!(
            "{} is not a value for {name}; expected {}",
            quote(s),
            unit_hint(m)
        ),
    );
    None
}

fn read_routes(view: &MapView, field: &str, errs: &mut Errors) -> F<Vec<super::draft::At<String>>> {
    let Some(v) = view.get("routes") else {
        return F::Unset;
    };
    let Some(items) = get_seq(v, field, "routes like \"GET /pay\"", errs) else {
        return F::Bad;
    };
    let mut routes = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        match get_str(item, &format!("{field}[{i}]"), errs) {
            Some(r) => routes.push(at(r, loc_of(item))),
            None => ok = false,
        }
    }
    if ok {
        F::set(routes, loc_of(v))
    } else {
        F::Bad
    }
}
