//! No input makes `parse_policy` panic: a list of malformed and hostile
//! documents, and property tests on arbitrary text and mutated valid files.

use canaryd_policy::{parse_policy, policy_to_yaml, preset, PolicyErrors, PRESET_NAMES};
use proptest::prelude::*;

/// Parses, and checks the shape of any error: never empty, every message
/// non-empty and on one line.
fn check(text: &str) -> Result<(), PolicyErrors> {
    match parse_policy("fuzz.yaml", text) {
        Ok(p) => {
            // Whatever parses prints back to the same policy.
            let shown = policy_to_yaml(&p);
            assert_eq!(
                parse_policy("shown.yaml", &shown).as_ref(),
                Ok(&p),
                "{text:?}\n{shown}"
            );
            Ok(())
        }
        Err(e) => {
            assert!(!e.is_empty(), "{text:?}");
            for err in &e {
                assert!(!err.message.is_empty(), "{text:?}: {err:?}");
                assert!(!err.message.contains('\n'), "{text:?}: {err:?}");
                assert_eq!(err.source, "fuzz.yaml");
            }
            Err(e)
        }
    }
}

fn nested(open: &str, close: &str, depth: usize) -> String {
    format!("{}{}", open.repeat(depth), close.repeat(depth))
}

#[test]
fn malformed_documents_are_errors_not_panics() {
    let billion_laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n\
        b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
        c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n\
        d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
        e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n\
        f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n\
        g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    let deep_flow = format!("rules: {}", nested("[", "]", 5000));
    let deep_map = format!("rules: {}", nested("{a: ", "}", 3000));
    let deep_block: String = (0..500)
        .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
        .collect();
    let long_key = format!("{}: 1\n", "k".repeat(100_000));
    let long_value = format!("name: {}\n", "v".repeat(1_000_000));
    let many_rules = format!(
        "preset: slo-ratio\nadd_rules:\n{}",
        "  - {metric: error_rate, ratio: 2}\n".repeat(2000)
    );
    let docs: Vec<String> = vec![
        "".into(),
        "\0".into(),
        "\u{feff}preset: slo-ratio\n".into(),
        "\t- x".into(),
        ":".into(),
        "- - -".into(),
        "{".into(),
        "[".into(),
        "}".into(),
        "'".into(),
        "\"\\u\"".into(),
        "&a".into(),
        "*a".into(),
        "!!binary AAAA".into(),
        "!custom {a: 1}".into(),
        "? [1, 2]\n: 3\n".into(),
        "? {a: 1}\n: 3\n".into(),
        "null: 1\n".into(),
        "~: 1\n".into(),
        "---\npreset: slo-ratio\n---\npreset: slo-ratio\n".into(),
        "...\n".into(),
        "%YAML 1.2\n---\npreset: slo-ratio\n".into(),
        "preset: slo-ratio\n<<: {window: 1m}\n".into(),
        "base: &b {weight: 100, hold: 5m}\npreset: slo-ratio\nladder: [*b]\n".into(),
        "preset: slo-ratio\nladder: [&s {weight: 100, hold: 5m}, *s]\n".into(),
        "preset: &p slo-ratio\nname: *p\n".into(),
        "preset: slo-ratio\nwindow: .inf\n".into(),
        "preset: slo-ratio\nwindow: -5m\n".into(),
        "preset: slo-ratio\nwindow: 99999999999999999999y\n".into(),
        "preset: slo-ratio\nwindow: 500000000y\n".into(),
        "preset: slo-ratio\nramp_budget: 500000000y\n".into(),
        "preset: slo-ratio\nwindow: 1ns\n".into(),
        "preset: slo-ratio\nwindow: 1s 1ns\n".into(),
        "preset: slo-ratio\nwindow: 1s\nladder: [{weight: 100, hold: 500000000y}]\nramp_budget: 500000000y\n".into(),
        "preset: slo-ratio\nladder: [{weight: 100, hold_windows: 4294967295}]\nramp_budget: 500000000y\n".into(),
        "preset: slo-ratio\nwindow: 500000000y\nladder: [{weight: 100, hold_windows: 4294967295}]\n".into(),
        "preset: slo-ratio\nladder: [{weight: 100, hold_windows: 4294967296}]\n".into(),
        "preset: slo-ratio\nladder: [{weight: 100, hold_windows: 99999999999999999999999999}]\n".into(),
        "preset: slo-ratio\nladder: [{weight: 1e400, hold: 5m}]\n".into(),
        "preset: slo-ratio\nladder: [{weight: .nan, hold: 5m}]\n".into(),
        "preset: slo-ratio\nladder: [{weight: 0x64, hold: 5m}]\n".into(),
        "preset: slo-ratio\nladder: [{weight: 256, hold: 5m}]\n".into(),
        "preset: slo-ratio\nladder: [{weight: -9223372036854775808, hold: 5m}]\n".into(),
        "preset: slo-ratio\nladder: [{weight: 170141183460469231731687303715884105727, hold: 5m}]\n".into(),
        "preset: slo-ratio\nladder: [null, ~, [], {}]\n".into(),
        "preset: slo-ratio\nladder: [{}]\n".into(),
        "preset: slo-ratio\nladder:\n".into(),
        "preset: slo-ratio\nrules:\n".into(),
        "preset: slo-ratio\nrules: [{}]\n".into(),
        "preset: slo-ratio\nrules: [{metric: error_rate, ratio: 1e308, min_value: 1e308}]\n".into(),
        "preset: slo-ratio\nrules: [{metric: error_rate, ratio: \"NaN\"}]\n".into(),
        "preset: slo-ratio\nrules: [{metric: latency_p99, absolute: \"inf\"}]\n".into(),
        "preset: slo-ratio\nrules: [{metric: latency_p99, absolute: 500000000y}]\n".into(),
        "preset: slo-ratio\nrules: [{metric: error_rate, absolute: \"%\"}]\n".into(),
        "preset: slo-ratio\nrules: [{metric: error_rate, absolute: \"1e999%\"}]\n".into(),
        "preset: slo-ratio\nrules: [{metric: error_rate, ratio: 2, for: 500000000y}]\n".into(),
        "preset: slo-ratio\nrules: [{metric: error_rate, ratio: 2, consecutive: 4294967296}]\n".into(),
        "preset: slo-ratio\nrules: [{metric: error_rate, ratio: 2, min_requests: -1}]\n".into(),
        "preset: slo-ratio\nrules: [{metric: [error_rate], ratio: {a: 1}, routes: [[]]}]\n".into(),
        "preset: slo-ratio\nrules: [{metric: \"custom:\\u0000\", absolute: 1}]\n".into(),
        "preset: slo-ratio\nadaptive: {initial_weight: 99, min_increase: 100, max_increase: 100, latency_penalty: 1e308, error_penalty: 0, hold_windows: 4294967295}\nramp_budget: 1s\n".into(),
        "preset: slo-ratio\nadaptive: []\n".into(),
        "preset: slo-ratio\nbaseline: {lookback: 0s, min_history: 0s, min_requests_per_route: 0}\n".into(),
        "preset: slo-ratio\nerror_budget: {defer_below: \"nan%\", freeze_at: \"-inf%\"}\n".into(),
        "preset: [slo-ratio]\n".into(),
        "preset: 🐤\nname: 🐤\n".into(),
        "preset: slo-ratio\n\u{1b}[31m: red\n".into(),
        "rules: [{metric: error_rate, ratio: 2}]\nadd_rules: 5\n".into(),
        billion_laughs.into(),
        deep_flow,
        deep_map,
        deep_block,
        long_key,
        long_value,
        many_rules,
    ];
    for doc in &docs {
        let result = std::panic::catch_unwind(|| check(doc));
        assert!(
            result.is_ok(),
            "panicked on {:?}",
            doc.chars().take(200).collect::<String>()
        );
    }
    // Spot checks that hostile documents are rejected, not accepted.
    for doc in [
        &docs[docs.len() - 7],
        &docs[docs.len() - 6],
        &docs[docs.len() - 5],
    ] {
        assert!(check(doc).is_err());
    }
}

#[test]
fn overflowing_durations_are_reported_not_wrapped() {
    let e = check("preset: slo-ratio\nwindow: 500000000y\nladder: [{weight: 100, hold_windows: 4294967295}]\n")
        .expect_err("cannot fit");
    assert!(e.iter().any(|e| e.field == "ramp_budget"), "{e}");
}

/// Valid files to mutate: every preset shown in full, plus small ones.
fn seeds() -> Vec<String> {
    let mut seeds: Vec<String> = PRESET_NAMES
        .iter()
        .filter_map(|n| preset(n))
        .map(|p| policy_to_yaml(&p))
        .collect();
    seeds.push("preset: slo-ratio\ntraffic: {max_extensions: 5}\nadd_rules:\n  - {metric: cpu, delta: 15%, for: 10m}\n".into());
    seeds.push("window: 1m\nladder: [{weight: 50, hold: 2m}, {weight: 100, hold_windows: 1}]\nramp_budget: 10m\nrules: [{metric: latency_p99, absolute: 500ms, consecutive: 3}]\nbaseline: none\n".into());
    seeds
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, String),
    Replace(usize, String),
    SwapLines(usize, usize),
    DuplicateLine(usize),
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(":".to_string()),
        Just("- ".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("\n".to_string()),
        Just("  ".to_string()),
        Just("\t".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("101".to_string()),
        Just("1%".to_string()),
        Just("500ms".to_string()),
        Just("0s".to_string()),
        Just("none".to_string()),
        Just("~".to_string()),
        Just("1e400".to_string()),
        Just("weight: ".to_string()),
        Just("critical: true".to_string()),
        Just("consecutive: 1".to_string()),
        Just("test: {kind: fisher, alpha: 0.01}".to_string()),
        Just("kind: mann_whitney".to_string()),
        Just("alpha: 0.6".to_string()),
        Just("warn_alpha: ".to_string()),
        Just("min_requests: 0".to_string()),
        "[a-z_:%0-9 ]{0,12}",
        any::<char>().prop_map(String::from),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0usize..20).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), token()).prop_map(|(a, t)| Mutation::Insert(a, t)),
        (any::<usize>(), token()).prop_map(|(a, t)| Mutation::Replace(a, t)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        any::<usize>().prop_map(Mutation::DuplicateLine),
    ]
}

/// Applies a mutation on char boundaries.
fn apply(text: &str, m: &Mutation) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| {
        if chars.is_empty() {
            0
        } else {
            i % (chars.len() + 1)
        }
    };
    match m {
        Mutation::Delete(a, n) => {
            let start = at(*a);
            let end = (start + n).min(chars.len());
            chars[..start].iter().chain(&chars[end..]).collect()
        }
        Mutation::Insert(a, t) => {
            let i = at(*a);
            chars[..i].iter().collect::<String>() + t + &chars[i..].iter().collect::<String>()
        }
        Mutation::Replace(a, t) => {
            // Replace the scalar after the `: ` on some line.
            let mut lines: Vec<String> = text.lines().map(String::from).collect();
            if lines.is_empty() {
                return t.clone();
            }
            let k = a % lines.len();
            if let Some(pos) = lines[k].find(": ") {
                lines[k] = format!("{}: {t}", &lines[k][..pos]);
            } else {
                lines[k] = t.clone();
            }
            lines.join("\n")
        }
        Mutation::SwapLines(a, b) => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let (i, j) = (a % lines.len(), b % lines.len());
                lines.swap(i, j);
            }
            lines.join("\n")
        }
        Mutation::DuplicateLine(a) => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let i = a % lines.len();
                lines.insert(i, lines[i]);
            }
            lines.join("\n")
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = check(&text);
    }

    #[test]
    fn yaml_ish_text_never_panics(text in "[a-z_:{}\\[\\],&*!%#'\"\\- \n0-9.]{0,200}") {
        let _ = check(&text);
    }

    #[test]
    fn mutated_valid_files_never_panic(
        seed in 0usize..8,
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let seeds = seeds();
        let mut text = seeds[seed % seeds.len()].clone();
        for m in &mutations {
            text = apply(&text, m);
        }
        let _ = check(&text);
    }
}
