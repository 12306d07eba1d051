//! Every validation rule triggers with the right field, line and a message
//! that says what is allowed; all problems are reported together.

use canaryd_policy::{parse_policy, PolicyError, PolicyErrors};

fn errors(text: &str) -> PolicyErrors {
    match parse_policy("p.yaml", text) {
        Ok(p) => panic!("expected errors for:\n{text}\ngot {p:?}"),
        Err(e) => {
            assert!(!e.0.is_empty());
            e
        }
    }
}

/// The error about `field`; its line must be `line` and its message must
/// contain every `words`.
#[track_caller]
fn expect(text: &str, field: &str, line: Option<u64>, words: &[&str]) -> PolicyError {
    let all = errors(text);
    let Some(e) = all.iter().find(|e| e.field == field) else {
        panic!("no error on `{field}` for:\n{text}\ngot:\n{all}");
    };
    assert_eq!(e.line, line, "line of {field}:\n{all}");
    assert_eq!(e.source, "p.yaml");
    if line.is_some() {
        assert!(e.column.is_some(), "{e}");
    }
    for w in words {
        assert!(e.message.contains(w), "`{w}` missing from: {e}");
    }
    e.clone()
}

/// A valid policy without a preset; tests replace one line.
const BASE: &str = "\
window: 5m
ladder:
  - {weight: 10, hold: 10m}
  - {weight: 100, hold: 10m}
ramp_budget: 60m
rules:
  - {metric: error_rate, ratio: 2}
";

fn base_with(line: usize, replacement: &str) -> String {
    let mut lines: Vec<&str> = BASE.lines().collect();
    lines[line - 1] = replacement;
    lines.join("\n") + "\n"
}

#[test]
fn the_base_policy_is_valid() {
    parse_policy("p.yaml", BASE).unwrap_or_else(|e| panic!("{e}"));
}

// ---- window and durations ----

#[test]
fn window_at_least_one_second() {
    expect(
        &base_with(1, "window: 500ms"),
        "window",
        Some(1),
        &["at least 1s"],
    );
    expect(
        &base_with(1, "window: 0s"),
        "window",
        Some(1),
        &["at least 1s"],
    );
}

#[test]
fn unparsable_durations_quote_the_value_and_an_example() {
    expect(
        &base_with(1, "window: five"),
        "window",
        Some(1),
        &["\"five\"", "\"5m\"", "\"90s\""],
    );
    expect(
        &base_with(1, "window: 300"),
        "window",
        Some(1),
        &["no unit", "\"5m\""],
    );
    expect(
        &base_with(5, "ramp_budget: soon"),
        "ramp_budget",
        Some(5),
        &["\"soon\"", "\"5m\""],
    );
    expect(
        &base_with(3, "  - {weight: 10, hold: [10m]}"),
        "ladder[0].hold",
        Some(3),
        &["duration"],
    );
}

// ---- ladder ----

#[test]
fn ladder_must_not_be_empty() {
    expect(
        "window: 5m\nladder: []\nramp_budget: 1h\nrules: [{metric: error_rate, ratio: 2}]\n",
        "ladder",
        Some(2),
        &["has no steps", "ending at 100"],
    );
}

#[test]
fn weights_are_percentages() {
    expect(
        &base_with(3, "  - {weight: 0, hold: 10m}"),
        "ladder[0].weight",
        Some(3),
        &["1..=100"],
    );
    expect(
        &base_with(4, "  - {weight: 101, hold: 10m}"),
        "ladder[1].weight",
        Some(4),
        &["1..=100"],
    );
    expect(
        &base_with(3, "  - {weight: -5, hold: 10m}"),
        "ladder[0].weight",
        Some(3),
        &["1..=100"],
    );
    expect(
        &base_with(3, "  - {weight: ten, hold: 10m}"),
        "ladder[0].weight",
        Some(3),
        &["\"ten\"", "1..=100"],
    );
    expect(
        &base_with(3, "  - {weight: 12.5, hold: 10m}"),
        "ladder[0].weight",
        Some(3),
        &["1..=100"],
    );
}

#[test]
fn weights_strictly_increase() {
    let text = "preset: slo-ratio\nladder:\n  - {weight: 10, hold: 10m}\n  - {weight: 50, hold: 10m}\n  - {weight: 50, hold: 10m}\n  - {weight: 100, hold: 10m}\n";
    expect(
        text,
        "ladder[2].weight",
        Some(5),
        &["strictly increase", "50"],
    );
}

#[test]
fn ladder_ends_at_100() {
    let text =
        "preset: slo-ratio\nladder:\n  - {weight: 10, hold: 10m}\n  - {weight: 50, hold: 10m}\n";
    expect(
        text,
        "ladder[1].weight",
        Some(4),
        &["ladder must end at 100 so the canary can be promoted; it ends at 50"],
    );
}

#[test]
fn holds_are_whole_windows() {
    expect(
        &base_with(3, "  - {weight: 10, hold: 2m}"),
        "ladder[0].hold",
        Some(3),
        &["shorter than the window (5m)"],
    );
    expect(
        &base_with(3, "  - {weight: 10, hold: 12m}"),
        "ladder[0].hold",
        Some(3),
        &["whole multiple", "10m", "15m"],
    );
    expect(
        &base_with(3, "  - {weight: 10, hold_windows: 0}"),
        "ladder[0].hold_windows",
        Some(3),
        &["at least 1"],
    );
    expect(
        &base_with(3, "  - {weight: 10, hold: 10m, hold_windows: 2}"),
        "ladder[0].hold_windows",
        Some(3),
        &["either `hold:`", "not both"],
    );
    expect(
        &base_with(3, "  - {weight: 10}"),
        "ladder[0].hold",
        Some(3),
        &["missing", "hold_windows"],
    );
}

// ---- adaptive ----

const ADAPTIVE: &str = "\
preset: adaptive-weight
adaptive:
  initial_weight: 5
  min_increase: 5
  max_increase: 25
  latency_penalty: 3.0
  error_penalty: 20.0
  hold: 2m
";

fn adaptive_with(line: usize, replacement: &str) -> String {
    let mut lines: Vec<&str> = ADAPTIVE.lines().collect();
    lines[line - 1] = replacement;
    lines.join("\n") + "\n"
}

#[test]
fn the_adaptive_base_is_valid() {
    parse_policy("p.yaml", ADAPTIVE).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn adaptive_ranges() {
    expect(
        &adaptive_with(3, "  initial_weight: 100"),
        "adaptive.initial_weight",
        Some(3),
        &["1..=99"],
    );
    expect(
        &adaptive_with(3, "  initial_weight: 0"),
        "adaptive.initial_weight",
        Some(3),
        &["1..=99"],
    );
    expect(
        &adaptive_with(4, "  min_increase: 0"),
        "adaptive.min_increase",
        Some(4),
        &["1..=100"],
    );
    expect(
        &adaptive_with(5, "  max_increase: 4"),
        "adaptive.max_increase",
        Some(5),
        &["min_increase ≤ max_increase"],
    );
    expect(
        &adaptive_with(5, "  max_increase: 101"),
        "adaptive.max_increase",
        Some(5),
        &["1..=100"],
    );
    expect(
        &adaptive_with(6, "  latency_penalty: -1"),
        "adaptive.latency_penalty",
        Some(6),
        &["≥ 0"],
    );
    expect(
        &adaptive_with(7, "  error_penalty: lots"),
        "adaptive.error_penalty",
        Some(7),
        &["number"],
    );
    expect(
        &adaptive_with(8, "  hold: 90s"),
        "adaptive.hold",
        Some(8),
        &["whole multiple"],
    );
    expect(
        &adaptive_with(8, "  hold_windows: 0"),
        "adaptive.hold_windows",
        Some(8),
        &["at least 1"],
    );
}

#[test]
fn adaptive_fields_are_all_required() {
    let e = expect(
        "preset: adaptive-weight\nadaptive:\n  initial_weight: 5\n",
        "adaptive.max_increase",
        Some(3),
        &["missing"],
    );
    assert_eq!(e.column, Some(3));
    let all = errors("preset: adaptive-weight\nadaptive:\n  initial_weight: 5\n");
    for f in [
        "adaptive.min_increase",
        "adaptive.latency_penalty",
        "adaptive.error_penalty",
        "adaptive.hold",
    ] {
        assert!(all.iter().any(|e| e.field == f), "{f} not reported:\n{all}");
    }
}

#[test]
fn ladder_and_adaptive_exclude_each_other() {
    let text = format!("{ADAPTIVE}ladder: [{{weight: 100, hold: 1m}}]\n");
    // The error points at the `adaptive:` key.
    expect(
        &text,
        "adaptive",
        Some(2),
        &["either `ladder:`", "not both"],
    );
}

// ---- budget ----

#[test]
fn ladder_holds_must_fit_the_budget() {
    let text = "preset: slo-ratio\nladder:\n  - {weight: 10, hold: 30m}\n  - {weight: 50, hold: 20m}\n  - {weight: 100, hold: 20m}\nramp_budget: 60m\n";
    expect(
        text,
        "ramp_budget",
        Some(6),
        &[
            "the ladder's holds need 70m (14 windows of 5m) but ramp_budget is 60m; \
             raise ramp_budget or shorten holds",
        ],
    );
    // Exactly fitting is fine.
    let text = text.replace("ramp_budget: 60m", "ramp_budget: 70m");
    parse_policy("p.yaml", &text).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_longer_window_can_break_the_budget() {
    // The preset's holds are 8 windows: 80m with 10m windows > 60m. The error
    // points at the line that changed.
    expect(
        "preset: slo-ratio\nwindow: 10m\n",
        "ramp_budget",
        Some(2),
        &["need 80m (8 windows of 10m)", "ramp_budget is 60m"],
    );
}

#[test]
fn adaptive_ramp_must_fit_the_budget() {
    // 5 → 30 → 55 → 80 → 100: 5 steps × 2 windows × 1m = 10m.
    let text = format!("{ADAPTIVE}ramp_budget: 9m\n");
    expect(
        &text,
        "ramp_budget",
        Some(9),
        &["needs at least 10m", "5 steps", "ramp_budget is 9m"],
    );
    let text = format!("{ADAPTIVE}ramp_budget: 10m\n");
    parse_policy("p.yaml", &text).unwrap_or_else(|e| panic!("{e}"));
}

// ---- rules ----

#[test]
fn at_least_one_rule() {
    expect(
        &base_with(6, "rules: []").replace("  - {metric: error_rate, ratio: 2}\n", ""),
        "rules",
        Some(6),
        &["at least one rule"],
    );
}

#[test]
fn exactly_one_comparison() {
    expect(
        &base_with(7, "  - {metric: error_rate}"),
        "rules[0]",
        Some(7),
        &["exactly one of `ratio:`"],
    );
    expect(
        &base_with(7, "  - {metric: error_rate, ratio: 2, absolute: 1%}"),
        "rules[0].absolute",
        Some(7),
        &[
            "exactly one of ratio, absolute, delta",
            "ratio and absolute",
        ],
    );
}

#[test]
fn metric_must_be_known() {
    let e = expect(
        &base_with(7, "  - {metric: errors, ratio: 2}"),
        "rules[0].metric",
        Some(7),
        &[
            "unknown metric \"errors\"",
            "error_rate, latency_p50",
            "custom:<name>",
        ],
    );
    assert_eq!(e.column, Some(14));
    expect(
        &base_with(7, "  - {metric: \"custom:\", ratio: 2}"),
        "rules[0].metric",
        Some(7),
        &["custom:<name>"],
    );
    expect(
        &base_with(7, "  - {ratio: 2}"),
        "rules[0].metric",
        Some(7),
        &["missing", "error_rate"],
    );
}

#[test]
fn ratios_are_at_least_one() {
    expect(
        &base_with(7, "  - {metric: error_rate, ratio: 0.5}"),
        "rules[0].ratio",
        Some(7),
        &["≥ 1", "better than the baseline"],
    );
    expect(
        &base_with(7, "  - {metric: error_rate, ratio: 2x}"),
        "rules[0].ratio",
        Some(7),
        &["plain number"],
    );
    parse_policy(
        "p.yaml",
        &base_with(7, "  - {metric: error_rate, ratio: 1}"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn thresholds_are_non_negative_and_fractions_at_most_one() {
    expect(
        &base_with(7, "  - {metric: latency_p99, absolute: -1}"),
        "rules[0].absolute",
        Some(7),
        &["≥ 0"],
    );
    expect(
        &base_with(7, "  - {metric: latency_p99, delta: -5ms}"),
        "rules[0].delta",
        Some(7),
        &[],
    );
    expect(
        &base_with(7, "  - {metric: cpu, delta: -0.1}"),
        "rules[0].delta",
        Some(7),
        &["≥ 0"],
    );
    expect(
        &base_with(7, "  - {metric: error_rate, absolute: 1.5}"),
        "rules[0].absolute",
        Some(7),
        &["above 100%", "≤ 1"],
    );
    expect(
        &base_with(7, "  - {metric: memory, absolute: 120%}"),
        "rules[0].absolute",
        Some(7),
        &["above 100%"],
    );
    expect(
        &base_with(7, "  - {metric: error_rate, ratio: 2, min_value: -0.1}"),
        "rules[0].min_value",
        Some(7),
        &["≥ 0"],
    );
    expect(
        &base_with(7, "  - {metric: error_rate, ratio: 2, min_value: \"inf\"}"),
        "rules[0].min_value",
        Some(7),
        &["finite"],
    );
}

#[test]
fn units_must_fit_the_metric() {
    expect(
        &base_with(7, "  - {metric: error_rate, absolute: 500ms}"),
        "rules[0].absolute",
        Some(7),
        &["\"500ms\" is a duration", "error_rate", "0.01 or \"1%\""],
    );
    expect(
        &base_with(7, "  - {metric: latency_p99, absolute: 1%}"),
        "rules[0].absolute",
        Some(7),
        &["\"1%\" is a percentage", "milliseconds"],
    );
    expect(
        &base_with(7, "  - {metric: inflight, absolute: 10%}"),
        "rules[0].absolute",
        Some(7),
        &["percentage", "plain number"],
    );
    expect(
        &base_with(7, "  - {metric: latency_p99, ratio: 2, min_value: 5%}"),
        "rules[0].min_value",
        Some(7),
        &["percentage"],
    );
    expect(
        &base_with(7, "  - {metric: cpu, absolute: lots}"),
        "rules[0].absolute",
        Some(7),
        &["\"lots\"", "fraction"],
    );
}

#[test]
fn consecutive_rules() {
    expect(
        &base_with(7, "  - {metric: error_rate, ratio: 2, consecutive: 1}"),
        "rules[0].consecutive",
        Some(7),
        &[
            "a single bad window is noise; use consecutive ≥ 2, mark the rule critical: true",
            "`transient:`",
        ],
    );
    expect(
        &base_with(7, "  - {metric: error_rate, ratio: 2, consecutive: 0}"),
        "rules[0].consecutive",
        Some(7),
        &["at least 2"],
    );
    expect(
        &base_with(7, "  - {metric: error_rate, ratio: 2, consecutive: two}"),
        "rules[0].consecutive",
        Some(7),
        &["\"two\""],
    );
    // Critical rules may roll back on one window.
    let p = parse_policy(
        "p.yaml",
        &base_with(
            7,
            "  - {metric: error_rate, ratio: 5, consecutive: 1, critical: true}",
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(p.rules[0].critical);
    assert_eq!(p.rules[0].consecutive, 1);
    // So may a rule whose sequential test sets a transient aside: one
    // window's evidence never decides alone.
    let p = parse_policy(
        "p.yaml",
        &base_with(
            7,
            "  - {metric: error_rate, ratio: 1.5, consecutive: 1, test: {kind: sequential_errors, alpha: 0.05, transient: 60s}}",
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.rules[0].consecutive, 1);
    assert_eq!(
        p.rules[0].test.as_ref().and_then(|t| t.transient),
        Some(std::time::Duration::from_secs(60))
    );
}

#[test]
fn transients_only_on_sequential_tests_and_in_range() {
    expect(
        &base_with(
            7,
            "  - {metric: error_rate, ratio: 2, test: {kind: chi_square, alpha: 0.01, transient: 60s}}",
        ),
        "rules[0].test.transient",
        Some(7),
        &["only a sequential_errors or sequential_latency test"],
    );
    for (bad, words) in [
        ("0s", &["0s", "more than 0s"][..]),
        ("2h", &["at most 60m"][..]),
        ("soon", &["not a duration"][..]),
        ("60", &["no unit"][..]),
    ] {
        expect(
            &base_with(
                7,
                &format!(
                    "  - {{metric: error_rate, ratio: 2, test: {{kind: sequential_errors, alpha: 0.01, transient: {bad}}}}}"
                ),
            ),
            "rules[0].test.transient",
            Some(7),
            words,
        );
    }
    // A one-window rule still needs a sequential test with a transient.
    expect(
        &base_with(
            7,
            "  - {metric: error_rate, ratio: 2, consecutive: 1, test: {kind: chi_square, alpha: 0.01}}",
        ),
        "rules[0].consecutive",
        Some(7),
        &["single bad window"],
    );
}

#[test]
fn for_durations() {
    expect(
        &base_with(7, "  - {metric: error_rate, ratio: 2, for: 1m}"),
        "rules[0].for",
        Some(7),
        &["shorter than the window (5m)"],
    );
    // for: 5m with 5m windows is one window: only for critical rules.
    expect(
        &base_with(7, "  - {metric: error_rate, ratio: 2, for: 5m}"),
        "rules[0].for",
        Some(7),
        &["single bad window", "for: 5m is 1 window"],
    );
    expect(
        &base_with(
            7,
            "  - {metric: error_rate, ratio: 2, for: 10m, consecutive: 2}",
        ),
        "rules[0].for",
        Some(7),
        &["either `consecutive:`", "not both"],
    );
    // ⌈11m / 5m⌉ = 3.
    let p = parse_policy(
        "p.yaml",
        &base_with(7, "  - {metric: error_rate, ratio: 2, for: 11m}"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.rules[0].consecutive, 3);
}

#[test]
fn min_requests_at_least_one() {
    expect(
        &base_with(7, "  - {metric: error_rate, ratio: 2, min_requests: 0}"),
        "rules[0].min_requests",
        Some(7),
        &["at least 1"],
    );
}

#[test]
fn rule_names_are_unique() {
    let text = format!("{BASE}  - {{metric: error_rate, ratio: 3}}\n");
    expect(
        &text,
        "rules[1].name",
        Some(8),
        &["`error_rate-ratio` is already used by rules[0]", "unique"],
    );
    // add_rules colliding with a preset's rule.
    expect(
        "preset: slo-ratio\nadd_rules:\n  - {name: latency_p99-ratio, metric: latency_p99, ratio: 2}\n",
        "add_rules[0].name",
        Some(3),
        &["already used by rules[1]"],
    );
    expect(
        &base_with(7, "  - {name: \" \", metric: error_rate, ratio: 2}"),
        "rules[0].name",
        Some(7),
        &["empty"],
    );
}

#[test]
fn routes_are_not_empty() {
    expect(
        "preset: slo-ratio\nadd_rules:\n  - metric: error_rate\n    ratio: 3\n    routes:\n      - GET /pay\n      - \"\"\n",
        "add_rules[0].routes[1]",
        Some(7),
        &["empty route", "GET /pay"],
    );
    expect(
        &base_with(7, "  - {metric: error_rate, ratio: 2, routes: GET /pay}"),
        "rules[0].routes",
        Some(7),
        &["list"],
    );
}

#[test]
fn ratio_and_delta_rules_need_a_baseline() {
    let text = "preset: absolute-slo\nadd_rules:\n  - {metric: error_rate, ratio: 2}\n  - {metric: cpu, delta: 10%}\n";
    expect(
        text,
        "add_rules[0].ratio",
        Some(3),
        &["a ratio rule needs a baseline; remove `baseline: none` or use an absolute rule"],
    );
    expect(
        text,
        "add_rules[1].delta",
        Some(4),
        &["a delta rule needs a baseline"],
    );
    // Inherited ratio rules point at the `baseline: none` that broke them.
    let all = errors("preset: slo-ratio\nbaseline: none\n");
    assert_eq!(all.len(), 2, "{all}");
    for e in &all {
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("preset `slo-ratio`"), "{e}");
    }
}

// ---- baseline, error budget, traffic ----

#[test]
fn baseline_rules() {
    expect(
        "preset: slo-ratio\nbaseline: {min_history: 0s}\n",
        "baseline.min_history",
        Some(2),
        &["longer than 0s"],
    );
    expect(
        "preset: slo-ratio\nbaseline:\n  lookback: 12h\n  min_history: 24h\n",
        "baseline.lookback",
        Some(3),
        &["shorter than min_history (24h)"],
    );
    expect(
        "preset: slo-ratio\nbaseline:\n  min_requests_per_route: 0\n",
        "baseline.min_requests_per_route",
        Some(3),
        &["at least 1"],
    );
    expect(
        "preset: slo-ratio\nbaseline: off\n",
        "baseline",
        Some(2),
        &["`none`", "lookback"],
    );
}

#[test]
fn error_budget_rules() {
    expect(
        "preset: progressive\nerror_budget:\n  defer_below: 10%\n  freeze_at: 20%\n",
        "error_budget.freeze_at",
        Some(4),
        &["0 ≤ freeze_at < defer_below ≤ 1"],
    );
    expect(
        "preset: progressive\nerror_budget: {defer_below: 150%}\n",
        "error_budget.defer_below",
        Some(2),
        &["(0, 1]"],
    );
    expect(
        "preset: progressive\nerror_budget: {freeze_at: -0.1}\n",
        "error_budget.freeze_at",
        Some(2),
        &["[0, 1)"],
    );
    expect(
        "preset: progressive\nerror_budget: {defer_below: lots}\n",
        "error_budget.defer_below",
        Some(2),
        &["\"20%\""],
    );
    expect(
        "preset: progressive\nerror_budget: 20%\n",
        "error_budget",
        Some(2),
        &["`none`"],
    );
}

#[test]
fn traffic_rules() {
    expect(
        "preset: slo-ratio\ntraffic:\n  min_requests_per_route: 0\n",
        "traffic.min_requests_per_route",
        Some(3),
        &["at least 1"],
    );
    expect(
        "preset: slo-ratio\ntraffic:\n  max_extensions: -1\n",
        "traffic.max_extensions",
        Some(3),
        &["0..="],
    );
    expect(
        "preset: slo-ratio\ncollectors: {auto_resume: sometimes}\n",
        "collectors.auto_resume",
        Some(2),
        &["true or false"],
    );
}

// ---- required fields, presets, unknown fields ----

#[test]
fn required_fields_without_a_preset() {
    let all = errors("name: x\n");
    for field in ["window", "ladder", "ramp_budget", "rules"] {
        let e = all
            .iter()
            .find(|e| e.field == field)
            .unwrap_or_else(|| panic!("{field}:\n{all}"));
        assert!(e.message.contains("missing"), "{e}");
        assert!(e.message.contains("preset"), "{e}");
    }
    assert_eq!(all.len(), 4, "{all}");
    // add_rules alone does not make rules.
    let all = errors("window: 5m\nladder: [{weight: 100, hold: 5m}]\nramp_budget: 1h\nadd_rules: [{metric: error_rate, ratio: 2}]\n");
    assert!(
        all.iter()
            .any(|e| e.field == "rules" && e.message.contains("add_rules")),
        "{all}"
    );
}

#[test]
fn unknown_preset_lists_the_presets() {
    let all = errors("preset: canary\nwindow: 5m\n");
    assert_eq!(all.len(), 1, "no cascade of missing fields: {all}");
    expect(
        "preset: canary\n",
        "preset",
        Some(1),
        &[
            "unknown preset `canary`",
            "slo-ratio, absolute-slo, progressive, adaptive-weight",
        ],
    );
    expect(
        "preset: slo_ratio\n",
        "preset",
        Some(1),
        &["did you mean `slo-ratio`?"],
    );
}

#[test]
fn unknown_fields_name_the_field_line_and_allowed_fields() {
    let e = expect(
        "preset: slo-ratio\nwindw: 5m\n",
        "windw",
        Some(2),
        &[
            "unknown field `windw`",
            "did you mean `window`?",
            "allowed fields: name, preset, window, ladder",
        ],
    );
    assert_eq!(e.column, Some(1));
    expect(
        "preset: slo-ratio\nladder:\n  - {weight: 100, hold: 10m, pause: true}\n",
        "ladder[0].pause",
        Some(3),
        &["unknown field `pause`", "weight, hold, hold_windows"],
    );
    expect(
        "preset: slo-ratio\nadd_rules:\n  - metric: error_rate\n    ratio: 2\n    threshold: 3\n",
        "add_rules[0].threshold",
        Some(5),
        &[
            "unknown field `threshold`",
            "ratio",
            "absolute",
            "delta",
            "routes",
        ],
    );
    expect(
        "preset: slo-ratio\nbaseline:\n  lookback: 7d\n  history: 1d\n",
        "baseline.history",
        Some(4),
        &[
            "in baseline",
            "lookback, min_history, min_requests_per_route",
        ],
    );
    expect(
        "preset: slo-ratio\ntraffic: {max_extension: 2}\n",
        "traffic.max_extension",
        Some(2),
        &["did you mean `max_extensions`?"],
    );
    expect(
        "preset: slo-ratio\n3: x\n",
        "",
        Some(2),
        &["field names", "allowed fields"],
    );
}

#[test]
fn type_errors_have_locations() {
    expect(
        "preset: slo-ratio\nname: [a]\n",
        "name",
        Some(2),
        &["expected a string", "a list"],
    );
    expect(
        "preset: slo-ratio\nname: no\n",
        "name",
        Some(2),
        &["quote it"],
    );
    expect(
        "preset: slo-ratio\nladder: {weight: 100}\n",
        "ladder",
        Some(2),
        &["list of steps"],
    );
    expect(
        "preset: slo-ratio\nladder: [100]\n",
        "ladder[0]",
        Some(2),
        &["a ladder step", "weight, hold"],
    );
    expect(
        "preset: slo-ratio\nrules: [error_rate]\n",
        "rules[0]",
        Some(2),
        &["expected a rule"],
    );
    expect(
        "preset: slo-ratio\nrules: error_rate\n",
        "rules",
        Some(2),
        &["list of rules"],
    );
    expect(
        "preset: slo-ratio\ntraffic: 1000\n",
        "traffic",
        Some(2),
        &["min_requests_per_route"],
    );
}

// ---- document-level problems ----

#[test]
fn syntax_errors_carry_the_parser_location() {
    let all = errors("preset: slo-ratio\nladder: [{weight: 10\n");
    assert_eq!(all.len(), 1);
    assert!(all.0[0].line.is_some(), "{all}");
    assert!(all.0[0].message.starts_with("invalid YAML"), "{all}");

    let all = errors("preset: slo-ratio\nwindow: 5m\nwindow: 10m\n");
    assert_eq!(all.0[0].line, Some(3), "{all}");
    assert!(all.0[0].message.contains("duplicate"), "{all}");

    let all = errors("a:\n  b: c\n d: e\n");
    assert_eq!(all.0[0].line, Some(3), "{all}");
}

#[test]
fn empty_and_non_mapping_documents() {
    for text in ["", "   \n", "# only a comment\n", "~\n", "---\n"] {
        let all = errors(text);
        assert_eq!(all.len(), 1, "{text:?}: {all}");
        assert!(all.0[0].message.contains("empty"), "{text:?}: {all}");
    }
    for text in ["- a\n- b\n", "just text\n", "42\n", "true\n"] {
        let all = errors(text);
        assert_eq!(all.len(), 1, "{text:?}: {all}");
        assert!(
            all.0[0].message.contains("a policy is a mapping"),
            "{text:?}: {all}"
        );
        assert_eq!(all.0[0].line, Some(1));
    }
}

// ---- all problems at once, and how they print ----

#[test]
fn all_problems_are_reported_together() {
    let text = "\
preset: slo-ratio
window: 0s
ladder:
  - {weight: 10, hold: 10m}
  - {weight: 150, hold: 10m}
traffic: {min_requests_per_route: 0, burst: 3}
error_budget: {defer_below: 0.1, freeze_at: 0.5}
add_rules:
  - {metric: errors, ratio: 2}
  - {metric: latency_p99, absolute: 1%, consecutive: 1}
";
    let all = errors(text);
    let got: Vec<(String, Option<u64>)> = all.iter().map(|e| (e.field.clone(), e.line)).collect();
    let want = [
        ("window", 2),
        ("ladder[1].weight", 5),
        ("traffic.min_requests_per_route", 6),
        ("traffic.burst", 6),
        ("error_budget.freeze_at", 7),
        ("add_rules[0].metric", 9),
        ("add_rules[1].absolute", 10),
        ("add_rules[1].consecutive", 10),
    ];
    for (field, line) in want {
        assert!(
            got.contains(&(field.to_string(), Some(line))),
            "{field} at line {line} missing:\n{all}"
        );
    }
    // Sorted by position, one per line when displayed.
    let lines: Vec<u64> = all.iter().filter_map(|e| e.line).collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
    assert_eq!(all.to_string().lines().count(), all.len());
}

#[test]
fn display_format() {
    let all = errors(&base_with(3, "  - {weight: 0, hold: 10m}"));
    assert_eq!(
        all.to_string(),
        "p.yaml:3:14: ladder[0].weight: 0 is out of range; a weight is the canary's percentage of traffic, 1..=100"
    );
    let all = errors("name: x\n");
    assert!(
        all.to_string().lines().all(|l| l.starts_with("p.yaml: ")),
        "{all}"
    );
}

// ---- policies built in code ----

#[test]
fn validate_policy_checks_policies_built_in_code() {
    use canaryd_core::policy::{LadderStep, Metric, Ramp};
    use canaryd_policy::{preset, validate_policy};
    let Some(mut p) = preset("slo-ratio") else {
        panic!("no preset")
    };
    validate_policy("code", &p).unwrap_or_else(|e| panic!("{e}"));
    p.ramp = Ramp::Ladder(vec![LadderStep {
        weight: 50,
        hold_windows: 0,
        min_requests: Some(0),
    }]);
    p.rules[0].metric = Metric::Custom(String::new());
    p.rules[1].consecutive = 1;
    let all = validate_policy("code", &p).expect_err("invalid");
    let fields: Vec<&str> = all.iter().map(|e| e.field.as_str()).collect();
    for f in [
        "ladder[0].weight",
        "ladder[0].hold_windows",
        "ladder[0].min_requests",
        "rules[0].metric",
        "rules[1].consecutive",
    ] {
        assert!(fields.contains(&f), "{f} not in\n{all}");
    }
    assert!(all.iter().all(|e| e.line.is_none() && e.source == "code"));
}

// ---- statistical tests on rules, step minimums ----

/// BASE with rule line 7 carrying `test: {…}`.
fn with_test(metric: &str, test: &str) -> String {
    base_with(
        7,
        &format!("  - {{metric: {metric}, ratio: 2, test: {{{test}}}}}"),
    )
}

#[test]
fn a_valid_test_parses() {
    let p = parse_policy(
        "p.yaml",
        &with_test("error_rate", "kind: chi_square, alpha: 0.1%"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let Some(t) = &p.rules[0].test else {
        panic!("no test")
    };
    assert_eq!(t.kind.name(), "chi_square");
    assert!((t.alpha - 0.001).abs() < 1e-15);
}

#[test]
fn test_kinds_are_known() {
    let e = expect(
        &with_test("error_rate", "kind: chi-square, alpha: 0.001"),
        "rules[0].test.kind",
        Some(7),
        &[
            "unknown test \"chi-square\"",
            "did you mean `chi_square`?",
            "allowed: chi_square, fisher, mann_whitney, sequential_errors",
        ],
    );
    assert_eq!(e.column, Some(49));
    expect(
        &with_test("error_rate", "kind: 3, alpha: 0.001"),
        "rules[0].test.kind",
        Some(7),
        &["expected a string"],
    );
    expect(
        &with_test("error_rate", "alpha: 0.001"),
        "rules[0].test.kind",
        Some(7),
        &[
            "missing",
            "chi_square, fisher, mann_whitney, sequential_errors",
        ],
    );
}

#[test]
fn test_kinds_must_fit_the_metric() {
    for kind in ["chi_square", "fisher", "sequential_errors"] {
        for metric in ["latency_p99", "cpu", "custom:queue"] {
            expect(
                &with_test(metric, &format!("kind: {kind}, alpha: 0.001")),
                "rules[0].test.kind",
                Some(7),
                &[
                    &format!("{kind} does not fit metric {metric}"),
                    "only fit error_rate",
                    if metric == "latency_p99" {
                        "on latencies use mann_whitney"
                    } else {
                        "no test fits this metric yet"
                    },
                ],
            );
        }
    }
    for metric in ["error_rate", "memory", "inflight"] {
        expect(
            &with_test(metric, "kind: mann_whitney, alpha: 0.001"),
            "rules[0].test.kind",
            Some(7),
            &[
                &format!("mann_whitney does not fit metric {metric}"),
                "latency_p50, latency_p95 and latency_p99",
                if metric == "error_rate" {
                    "on error_rate use chi_square, fisher or sequential_errors"
                } else {
                    "remove `test:`"
                },
            ],
        );
    }
    for metric in ["latency_p50", "latency_p95", "latency_p99"] {
        parse_policy(
            "p.yaml",
            &with_test(metric, "kind: mann_whitney, alpha: 0.001"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn alpha_is_required_and_in_range() {
    expect(
        &with_test("error_rate", "kind: fisher"),
        "rules[0].test.alpha",
        Some(7),
        &["missing", "0 < alpha ≤ 0.5"],
    );
    // (Non-finite numbers are rejected by the YAML reader already.)
    for bad in ["0", "-0.01", "0.6", "60%", "-1%"] {
        expect(
            &with_test("error_rate", &format!("kind: fisher, alpha: {bad}")),
            "rules[0].test.alpha",
            Some(7),
            &["out of range", "0 < alpha ≤ 0.5"],
        );
    }
    expect(
        &with_test("error_rate", "kind: fisher, alpha: often"),
        "rules[0].test.alpha",
        Some(7),
        &["significance level like 0.001", "\"0.1%\"", "\"often\""],
    );
    parse_policy(
        "p.yaml",
        &with_test("error_rate", "kind: fisher, alpha: 0.5"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn warn_alpha_is_above_alpha_and_at_most_half() {
    for bad in ["0.001", "0.0005", "0.1%"] {
        expect(
            &with_test(
                "error_rate",
                &format!("kind: chi_square, alpha: 0.001, warn_alpha: {bad}"),
            ),
            "rules[0].test.warn_alpha",
            Some(7),
            &["not above alpha (0.001)", "alpha < warn_alpha ≤ 0.5"],
        );
    }
    for bad in ["0.51", "0", "-1", "51%"] {
        expect(
            &with_test(
                "error_rate",
                &format!("kind: chi_square, alpha: 0.001, warn_alpha: {bad}"),
            ),
            "rules[0].test.warn_alpha",
            Some(7),
            &["out of range", "alpha < warn_alpha ≤ 0.5"],
        );
    }
    expect(
        &with_test(
            "error_rate",
            "kind: chi_square, alpha: 0.001, warn_alpha: [0.01]",
        ),
        "rules[0].test.warn_alpha",
        Some(7),
        &["significance level", "a list"],
    );
}

#[test]
fn min_effect_is_finite_non_negative_and_reachable() {
    for bad in ["-0.2", "-1e-9"] {
        expect(
            &with_test(
                "error_rate",
                &format!("kind: chi_square, alpha: 0.001, min_effect: {bad}"),
            ),
            "rules[0].test.min_effect",
            Some(7),
            &["finite standardized effect size ≥ 0"],
        );
    }
    expect(
        &with_test(
            "error_rate",
            "kind: chi_square, alpha: 0.001, min_effect: 20%",
        ),
        "rules[0].test.min_effect",
        Some(7),
        &["plain number ≥ 0", "the string \"20%\""],
    );
    expect(
        &with_test(
            "latency_p95",
            "kind: mann_whitney, alpha: 0.001, min_effect: 1.5",
        ),
        "rules[0].test.min_effect",
        Some(7),
        &["can never be reached", "Cliff's delta| is at most 1"],
    );
    expect(
        &with_test("error_rate", "kind: fisher, alpha: 0.001, min_effect: 4"),
        "rules[0].test.min_effect",
        Some(7),
        &["can never be reached", "Cohen's h is at most π"],
    );
    parse_policy(
        "p.yaml",
        &with_test("error_rate", "kind: fisher, alpha: 0.001, min_effect: 3"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn test_fields_are_checked_like_everywhere() {
    expect(
        &with_test("error_rate", "kind: fisher, alpha: 0.001, alpah: 0.01"),
        "rules[0].test.alpah",
        Some(7),
        &[
            "unknown field `alpah`",
            "in rules[0].test",
            "kind, alpha, warn_alpha, min_effect",
        ],
    );
    expect(
        &base_with(7, "  - {metric: error_rate, ratio: 2, test: fisher}"),
        "rules[0].test",
        Some(7),
        &["expected a test", "kind, alpha, warn_alpha, min_effect"],
    );
    // `test` is listed among a rule's fields.
    expect(
        &base_with(7, "  - {metric: error_rate, ratio: 2, tset: {}}"),
        "rules[0].tset",
        Some(7),
        &["did you mean `test`?", "routes, test"],
    );
}

#[test]
fn test_errors_point_at_their_own_lines() {
    let text = "preset: slo-ratio\nadd_rules:\n  - metric: latency_p99\n    ratio: 1.2\n    test:\n      kind: fisher\n      alpha: 0.7\n      warn_alpha: 0.01\n      min_effect: -1\n";
    let all = errors(text);
    for (field, line, column) in [
        ("add_rules[0].test.kind", 6, 13),
        ("add_rules[0].test.alpha", 7, 14),
        ("add_rules[0].test.min_effect", 9, 19),
    ] {
        let e = all
            .for_field(field)
            .next()
            .unwrap_or_else(|| panic!("no {field} in\n{all}"));
        assert_eq!((e.line, e.column), (Some(line), Some(column)), "{e}");
    }
    // alpha is invalid: warn_alpha is not also compared with it.
    assert_eq!(
        all.for_field("add_rules[0].test.warn_alpha").count(),
        0,
        "{all}"
    );
    // A missing alpha points at the `test:` mapping.
    expect(
        "preset: slo-ratio\nadd_rules:\n  - metric: error_rate\n    ratio: 1.2\n    test:\n      kind: fisher\n",
        "add_rules[0].test.alpha",
        Some(6),
        &["missing"],
    );
}

#[test]
fn tests_need_a_baseline() {
    expect(
        "preset: absolute-slo\nadd_rules:\n  - {metric: error_rate, absolute: 1%, test: {kind: fisher, alpha: 0.01}}\n",
        "add_rules[0].test",
        Some(3),
        &["a test compares the canary with the baseline", "`baseline: none`"],
    );
    // Inherited: points at `baseline: none`, names the preset.
    let e = expect(
        "preset: statistical\nbaseline: none\n",
        "rules[0].test",
        Some(2),
        &["preset `statistical`"],
    );
    assert!(e.message.contains("baseline"), "{e}");
}

#[test]
fn step_min_requests_at_least_one() {
    expect(
        &base_with(3, "  - {weight: 10, hold: 10m, min_requests: 0}"),
        "ladder[0].min_requests",
        Some(3),
        &["at least 1", "replacing the rules' own min_requests"],
    );
    expect(
        &base_with(4, "  - {weight: 100, hold: 10m, min_requests: many}"),
        "ladder[1].min_requests",
        Some(4),
        &["a request count ≥ 1", "the string \"many\""],
    );
    expect(
        &base_with(3, "  - {weight: 10, hold: 10m, min_requests: 1e30}"),
        "ladder[0].min_requests",
        Some(3),
        &["a request count ≥ 1"],
    );
    expect(
        &base_with(3, "  - {weight: 10, hold: 10m, min_request: 5}"),
        "ladder[0].min_request",
        Some(3),
        &["did you mean `min_requests`?"],
    );
    let p = parse_policy(
        "p.yaml",
        &base_with(3, "  - {weight: 10, hold: 10m, min_requests: 1}"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let canaryd_core::policy::Ramp::Ladder(steps) = &p.ramp else {
        panic!("not a ladder")
    };
    assert_eq!(steps[0].min_requests, Some(1));
    assert_eq!(steps[1].min_requests, None);
}

#[test]
fn validate_policy_checks_tests_built_in_code() {
    use canaryd_core::policy::{TestKind, TestSpec};
    use canaryd_policy::{preset, validate_policy};
    let Some(mut p) = preset("statistical") else {
        panic!("no preset")
    };
    p.rules[0].test = Some(TestSpec {
        kind: TestKind::MannWhitney,
        alpha: 0.0,
        warn_alpha: Some(0.6),
        min_effect: Some(f64::NAN),
        transient: None,
    });
    let all = validate_policy("code", &p).expect_err("invalid");
    for f in [
        "rules[0].test.kind",
        "rules[0].test.alpha",
        "rules[0].test.warn_alpha",
        "rules[0].test.min_effect",
    ] {
        assert!(all.for_field(f).count() == 1, "{f} not in\n{all}");
    }
    assert!(all.iter().all(|e| e.line.is_none() && e.source == "code"));
}

#[test]
fn shell_sections_are_accepted_but_left_to_the_shell() {
    let with = "preset: slo-ratio\nsource:\n  prometheus: {url: \"http://127.0.0.1:9090\"}\nrouter:\n  exec: {set_weight: [\"true\"]}\nnotify: {targets: []}\n";
    let bare = "preset: slo-ratio\n";
    let a = parse_policy("p.yaml", with).unwrap();
    let b = parse_policy("p.yaml", bare).unwrap();
    assert_eq!(
        a, b,
        "the core's policy does not depend on the shell's sections"
    );
    // A misspelt section is still an error, not silently a shell section.
    expect(
        "preset: slo-ratio\nsoruce: {}\n",
        "soruce",
        Some(2),
        &["source"],
    );
}
