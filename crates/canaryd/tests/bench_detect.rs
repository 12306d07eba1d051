//! `canaryd bench detect` as users run it: the headline ordering of the
//! figures at `--runs 100` with a fixed seed, the JSON contract, the chart,
//! and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn canaryd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_canaryd"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the binary runs")
}

fn row<'a>(rows: &'a [Value], policy: &str, scenario: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["policy"] == policy && r["scenario"] == scenario)
        .unwrap_or_else(|| panic!("no row for {policy} × {scenario}"))
}

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {v}"))
}

#[test]
fn headline_figures_keep_their_order_at_100_runs() {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("detect.svg");
    let o = canaryd(&[
        "bench",
        "detect",
        "--runs",
        "100",
        "--seed",
        "7",
        "--output",
        "json",
        "--chart",
        chart.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&o.stdout).expect("JSON rows");
    assert_eq!(rows.len(), 8 * 12, "every policy × every scenario");
    for key in [
        "policy",
        "scenario",
        "runs",
        "detection_rate",
        "false_alarm_rate",
        "ttd_median_s",
        "ttd_p90_s",
        "bad_requests_median",
        "promote_median_s",
        "wald_bound_requests",
        "requests_to_detect_median",
    ] {
        assert!(rows.iter().all(|r| r.get(key).is_some()), "rows lack {key}");
    }

    // canaryd catches a broken build within one minute; slo-ratio needs two
    // 5-minute windows by construction.
    let cat = row(&rows, "canaryd", "catastrophic");
    assert_eq!(f(cat, "detection_rate"), 1.0);
    assert!(f(cat, "ttd_median_s") <= 60.0);
    assert!(f(row(&rows, "slo-ratio", "catastrophic"), "ttd_median_s") >= 600.0);
    assert!(
        f(cat, "bad_requests_median") * 5.0
            < f(
                row(&rows, "slo-ratio", "catastrophic"),
                "bad_requests_median"
            )
    );

    // Error ×2: detected nearly always, with fewer bad requests than slo-ratio
    // and than Flagger's canary-only 1% check (which mostly misses it).
    let x2 = row(&rows, "canaryd", "error-x2");
    assert!(f(x2, "detection_rate") >= 0.9);
    assert!(
        f(x2, "bad_requests_median")
            < f(row(&rows, "slo-ratio", "error-x2"), "bad_requests_median")
    );
    assert!(
        f(x2, "bad_requests_median") < f(row(&rows, "flagger", "error-x2"), "bad_requests_median")
    );
    assert!(f(x2, "wald_bound_requests") > 2_000.0);
    // ... at least 5× fewer than slo-ratio, and near the physical limit:
    // within 2× of Wald's bound at 1,000 runs (BENCHMARKS.md); 100 runs are
    // noisier, hence the margin here.
    assert!(
        f(x2, "bad_requests_median") * 5.0
            < f(row(&rows, "slo-ratio", "error-x2"), "bad_requests_median"),
        "{x2}"
    );
    assert!(
        f(x2, "requests_to_detect_median") < 2.5 * f(x2, "wald_bound_requests"),
        "{x2}"
    );

    // Latency regressions, the whole distribution and the tail alone.
    for s in ["latency-p50+20%", "latency-p99x1.5"] {
        assert!(
            f(row(&rows, "canaryd", s), "detection_rate") >= 0.9,
            "canaryd × {s}"
        );
        assert_eq!(
            f(row(&rows, "slo-ratio", s), "detection_rate"),
            0.0,
            "slo-ratio × {s}"
        );
    }

    // Good canaries are not rolled back: A/A and both blips.
    for s in ["aa", "blip-30s", "blip-60s", "diurnal"] {
        let r = row(&rows, "canaryd", s);
        assert!(f(r, "false_alarm_rate") <= 0.015, "canaryd × {s}: {r}");
        assert!(r["detection_rate"].is_null());
    }
    // ... where the absolute 2-window SLO check rolls back a 60 s hiccup.
    assert!(f(row(&rows, "absolute-slo", "blip-60s"), "false_alarm_rate") > 0.5);

    let svg = std::fs::read_to_string(&chart).expect("chart written");
    assert!(svg.starts_with("<svg") && svg.contains(">kayenta<") && svg.contains("error-x2"));
}

#[test]
fn markdown_table_and_filters() {
    let o = canaryd(&[
        "bench",
        "detect",
        "--runs",
        "5",
        "--scenario",
        "aa,error-x5",
        "--policy",
        "canaryd",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("| policy | scenario |"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("| canaryd |")).count(),
        2
    );
    assert!(out.contains("10 rollouts (5 runs × 1 policies × 2 scenarios, seed 1)"));
}

#[test]
fn unknown_names_are_invalid_input() {
    let o = canaryd(&["bench", "detect", "--runs", "1", "--scenario", "nope"]);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("unknown scenario `nope`") && err.contains("blip-60s"),
        "{err}"
    );
    let o = canaryd(&["bench", "detect", "--runs", "1", "--policy", "spinnaker"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("argo-rollouts"));
    let o = canaryd(&["bench", "detect", "--runs", "0"]);
    assert_eq!(o.status.code(), Some(3));
}

#[test]
fn a_policy_file_runs_beside_the_presets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mine.yaml");
    // A team's variant of the default: a slower first step.
    std::fs::write(
        &file,
        "name: mine\npreset: canaryd\nladder:\n  - {weight: 10, hold: 2m}\n  - {weight: 100, hold: 1m}\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let o = canaryd(&[
        "bench",
        "detect",
        "--runs",
        "20",
        "--scenario",
        "aa,catastrophic",
        "--policy",
        &format!("canaryd,{path}"),
        "--output",
        "json",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    let mine = row(&rows, path, "catastrophic");
    assert_eq!(f(mine, "detection_rate"), 1.0);
    // 10% for 2 minutes then 100%: promoted after 3 minutes, unlike the preset.
    assert_eq!(f(row(&rows, path, "aa"), "promote_median_s"), 180.0);
    assert!(f(row(&rows, "canaryd", "aa"), "promote_median_s") > 180.0);

    // A broken file is invalid input, located.
    std::fs::write(&file, "preset: canaryd\nwindow: soon\n").unwrap();
    let o = canaryd(&["bench", "detect", "--runs", "1", "--policy", path]);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("window") && err.contains(":2"), "{err}");
}

#[test]
fn seeds_report_each_figure_across_seeds() {
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "bench",
            "detect",
            "--runs",
            "5",
            "--scenario",
            "aa,error-x5",
            "--policy",
            "canaryd",
            "--output",
            "json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        let o = canaryd(&a.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice::<Vec<Value>>(&o.stdout).expect("JSON rows")
    };
    let spread = run(&["--seeds", "1-2,5"]);
    assert_eq!(spread.len(), 2);
    let x5 = row(&spread, "canaryd", "error-x5");
    assert_eq!(x5["seeds"], serde_json::json!([1, 2, 5]));
    // Each seed's row is exactly what `--seed N` gives on its own.
    let alone = run(&["--seed", "5"]);
    assert_eq!(x5["per_seed"][2], *row(&alone, "canaryd", "error-x5"));
    let ttd: Vec<f64> = (0..3)
        .map(|i| f(&x5["per_seed"][i], "ttd_median_s"))
        .collect();
    let s = &x5["ttd_median_s"];
    assert_eq!(
        f(s, "min"),
        ttd.iter().copied().fold(f64::INFINITY, f64::min)
    );
    assert_eq!(f(s, "max"), ttd.iter().copied().fold(0.0, f64::max));
    assert!(row(&spread, "canaryd", "aa")["detection_rate"].is_null());

    let o = canaryd(&["bench", "detect", "--runs", "1", "--seeds", "9-3"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("must go upwards"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
