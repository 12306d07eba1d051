//! Cross-checks against SciPy: every case in `fixtures/*.json` was produced by
//! `fixtures/gen_scipy.py`. p-values must agree to 1e-9 relative where the
//! method is exact and 1e-6 where it is asymptotic.

use canaryd_stats::{
    binomial_test, chi_square_2x2, fisher_exact, ks_two_sample, mann_whitney, Alternative, Counts,
    Method, MethodChoice,
};
use serde_json::Value;

const EXACT: f64 = 1e-9;
const ASYMPTOTIC: f64 = 1e-6;

fn cases(text: &str) -> Vec<Value> {
    let doc: Value = serde_json::from_str(text).expect("fixture is JSON");
    doc["cases"].as_array().expect("cases").clone()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn alternative(s: &str) -> Alternative {
    match s {
        "two-sided" => Alternative::TwoSided,
        "greater" => Alternative::Greater,
        "less" => Alternative::Less,
        other => panic!("unknown alternative {other}"),
    }
}

fn method(s: &str) -> MethodChoice {
    match s {
        "exact" => MethodChoice::Exact,
        "asymptotic" => MethodChoice::Asymptotic,
        "auto" => MethodChoice::Auto,
        other => panic!("unknown method {other}"),
    }
}

/// Relative difference, with an absolute floor for values that are ~0.
fn close(ours: f64, theirs: f64, rel: f64) -> bool {
    if ours == theirs {
        return true;
    }
    (ours - theirs).abs() <= rel * theirs.abs().max(1e-300)
}

fn counts(row: &Value) -> Counts {
    let r = floats(row);
    let (errors, ok) = (r[0] as u64, r[1] as u64);
    Counts::new(errors, errors + ok).unwrap()
}

type TwoSample = fn(
    &[f64],
    &[f64],
    Alternative,
    MethodChoice,
) -> canaryd_stats::Result<canaryd_stats::TestResult>;

fn check_two_sample(name: &str, text: &str, test: TwoSample) -> (usize, usize) {
    let (mut exact, mut asym) = (0, 0);
    for (i, case) in cases(text).iter().enumerate() {
        let (x, y) = (floats(&case["canary"]), floats(&case["baseline"]));
        let m = case["method"].as_str().unwrap();
        for (alt, want) in case["results"].as_object().unwrap() {
            let r = test(&x, &y, alternative(alt), method(m)).unwrap();
            let tol = if r.method == Method::Exact {
                EXACT
            } else {
                ASYMPTOTIC
            };
            if m == "exact" {
                assert_eq!(r.method, Method::Exact, "{name} case {i} {alt}: fell back");
                exact += 1;
            } else {
                asym += 1;
            }
            let (ws, wp) = (
                want["statistic"].as_f64().unwrap(),
                want["pvalue"].as_f64().unwrap(),
            );
            assert!(
                close(r.statistic, ws, 1e-12),
                "{name} case {i} ({m}, {alt}): statistic {} vs SciPy {ws}",
                r.statistic
            );
            assert!(
                close(r.p_value, wp, tol),
                "{name} case {i} ({m}, {alt}, n={}/{}): p {} vs SciPy {wp} (rel {:e})",
                x.len(),
                y.len(),
                r.p_value,
                (r.p_value - wp).abs() / wp
            );
        }
    }
    (exact, asym)
}

#[test]
fn mann_whitney_matches_scipy() {
    let (e, a) = check_two_sample(
        "mannwhitneyu",
        include_str!("fixtures/mannwhitneyu.json"),
        mann_whitney,
    );
    assert!(e >= 60 && a >= 60, "{e} exact, {a} asymptotic comparisons");
}

#[test]
fn ks_matches_scipy() {
    let (e, a) = check_two_sample(
        "ks_2samp",
        include_str!("fixtures/ks_2samp.json"),
        ks_two_sample,
    );
    assert!(e >= 60 && a >= 60, "{e} exact, {a} asymptotic comparisons");
}

#[test]
fn chi_square_matches_scipy() {
    let all = cases(include_str!("fixtures/chi2_contingency.json"));
    assert!(all.len() >= 20);
    for (i, case) in all.iter().enumerate() {
        let t = case["table"].as_array().unwrap();
        let yates = case["correction"].as_bool().unwrap();
        let r = chi_square_2x2(counts(&t[0]), counts(&t[1]), yates).unwrap();
        let (ws, wp) = (
            case["statistic"].as_f64().unwrap(),
            case["pvalue"].as_f64().unwrap(),
        );
        assert!(
            close(r.statistic, ws, 1e-9),
            "chi2 case {i}: {} vs {ws}",
            r.statistic
        );
        assert!(
            close(r.p_value, wp, ASYMPTOTIC),
            "chi2 case {i}: {} vs {wp}",
            r.p_value
        );
    }
}

#[test]
fn fisher_matches_scipy() {
    let all = cases(include_str!("fixtures/fisher_exact.json"));
    assert!(all.len() >= 40);
    for (i, case) in all.iter().enumerate() {
        let t = case["table"].as_array().unwrap();
        let alt = case["alternative"].as_str().unwrap();
        let r = fisher_exact(counts(&t[0]), counts(&t[1]), alternative(alt)).unwrap();
        let ws = case["statistic"].as_f64();
        let wp = case["pvalue"].as_f64().unwrap();
        match ws {
            Some(ws) => assert!(
                close(r.statistic, ws, 1e-12),
                "fisher case {i}: {} vs {ws}",
                r.statistic
            ),
            None => assert!(
                r.statistic.is_nan() || r.statistic.is_infinite(),
                "fisher case {i}"
            ),
        }
        assert!(
            close(r.p_value, wp, EXACT),
            "fisher case {i} {t:?} {alt}: {} vs {wp}",
            r.p_value
        );
    }
}

#[test]
fn binomial_matches_scipy() {
    let all = cases(include_str!("fixtures/binomtest.json"));
    assert!(all.len() >= 40);
    for (i, case) in all.iter().enumerate() {
        let (k, n) = (case["k"].as_u64().unwrap(), case["n"].as_u64().unwrap());
        let p = case["p"].as_f64().unwrap();
        let alt = case["alternative"].as_str().unwrap();
        let r = binomial_test(k, n, p, alternative(alt)).unwrap();
        let wp = case["pvalue"].as_f64().unwrap();
        assert!(close(
            r.statistic,
            case["statistic"].as_f64().unwrap(),
            1e-15
        ));
        assert!(
            close(r.p_value, wp, EXACT),
            "binomtest case {i} k={k} n={n} p={p} {alt}: {} vs {wp} (rel {:e})",
            r.p_value,
            (r.p_value - wp).abs() / wp
        );
    }
}
