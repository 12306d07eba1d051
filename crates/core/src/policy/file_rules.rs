//! Reading `rules:` / `add_rules:` entries, with units that depend on the
//! metric: fractions (`0.01`, `"1%"`) for error_rate/cpu/memory, milliseconds
//! (`500`, `"500ms"`, `"1s"`) for latencies, plain numbers otherwise.

use super::draft::{at, Consec, DraftRule, Kind, F};
use super::error::{quote, suggestion, Errors};
use super::model::Metric;
use super::resolve_rules::{is_fraction, is_latency, unit_hint};
use super::yaml::{
    as_number, describe, get_bool, get_duration, get_int, get_seq, get_str, loc_of, map_view,
    parse_percent, MapView, Node, SNode,
};

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
];

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
    rule
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
