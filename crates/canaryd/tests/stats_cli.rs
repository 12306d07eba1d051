//! `canaryd stats` as users run it: numbers against SciPy/R reference values,
//! JSON fields, and exit code 3 with the file and line for bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn canaryd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_canaryd"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

fn json(o: &Output) -> serde_json::Value {
    assert_eq!(code(o), 0, "stderr: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("one JSON object")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p: PathBuf = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn close(v: &serde_json::Value, want: f64) -> bool {
    let got = v.as_f64().unwrap_or(f64::NAN);
    (got - want).abs() <= 1e-9 * want.abs().max(1e-12)
}

/// The example of R's `?wilcox.test`, with comments and blank lines.
fn samples(dir: &Path) -> (String, String) {
    let c = write(
        dir,
        "canary.txt",
        "# canary latencies\n0.8\n0.83\n1.89\n1.04\n\n1.45 # slow pod\n1.38\n1.91\n1.64\n0.73\n1.46\n",
    );
    let b = write(dir, "baseline.txt", "1.15\n0.88\n0.90\n0.74\n1.21\n");
    (c, b)
}

#[test]
fn mann_whitney_matches_scipy() {
    let dir = tempfile::tempdir().unwrap();
    let (c, b) = samples(dir.path());
    let o = canaryd(&[
        "stats",
        "mann-whitney",
        "--canary",
        &c,
        "--baseline",
        &b,
        "--alternative",
        "greater",
        "--json",
    ]);
    let v = json(&o);
    // scipy.stats.mannwhitneyu(x, y, alternative="greater"): U = 35, p = 0.1272061272061272.
    assert!(
        close(&v["statistic"], 35.0) && close(&v["p_value"], 0.1272061272061272),
        "{v}"
    );
    assert_eq!(v["method"], "exact");
    let o = canaryd(&["stats", "mann-whitney", "--canary", &c, "--baseline", &b]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(text.contains("p_value: 0.2544122544122544"), "{text}");
}

#[test]
fn ks_and_hodges_lehmann() {
    let dir = tempfile::tempdir().unwrap();
    let (c, b) = samples(dir.path());
    let v = json(&canaryd(&[
        "stats",
        "ks",
        "--canary",
        &c,
        "--baseline",
        &b,
        "--json",
    ]));
    // scipy.stats.ks_2samp(x, y): D = 0.6, p = 0.16583416583416583.
    assert!(
        close(&v["statistic"], 0.6) && close(&v["p_value"], 0.16583416583416583),
        "{v}"
    );
    let v = json(&canaryd(&[
        "stats",
        "hodges-lehmann",
        "--canary",
        &c,
        "--baseline",
        &b,
        "--json",
    ]));
    assert!(
        close(&v["estimate"], 0.305) && close(&v["low"], -0.15) && close(&v["high"], 0.76),
        "{v}"
    );
    assert!(close(&v["p_value"], 0.2544122544122544), "{v}");
}

#[test]
fn quantile_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let lines: String = (1..=100).map(|i| format!("{i}\n")).collect();
    let c = write(dir.path(), "c.txt", &lines);
    let b = write(dir.path(), "b.txt", &lines);
    let v = json(&canaryd(&[
        "stats",
        "quantile",
        "--q",
        "0.5",
        "--canary",
        &c,
        "--baseline",
        &b,
        "--json",
    ]));
    assert_eq!(v["canary"]["low"], 40.0);
    assert_eq!(v["canary"]["high"], 61.0);
    assert!(
        close(&v["estimate"], 1.0) && close(&v["statistic"], 1.0),
        "{v}"
    );
    assert!(v["low"].as_f64().unwrap() < 1.0 && v["high"].as_f64().unwrap() > 1.0);
    assert!(close(&v["p_value"], 1.0), "{v}");
    // p99 of 100 values has no upper bound: null in JSON.
    let v = json(&canaryd(&[
        "stats",
        "quantile",
        "--canary",
        &c,
        "--baseline",
        &b,
        "--json",
    ]));
    assert!(v["canary"]["high"].is_null(), "{v}");
}

#[test]
fn count_tests_match_scipy() {
    let v = json(&canaryd(&[
        "stats",
        "fisher",
        "--canary",
        "1/1000",
        "--baseline",
        "3/1000",
        "--json",
    ]));
    assert!(
        close(&v["p_value"], 0.6246245305927876) && close(&v["statistic"], 0.332665999332666),
        "{v}"
    );
    let v = json(&canaryd(&[
        "stats",
        "chi2",
        "--canary",
        "12/1000",
        "--baseline",
        "5/1000",
        "--json",
    ]));
    assert!(close(&v["statistic"], 2.1358013704725463), "{v}");
    assert!(
        (v["p_value"].as_f64().unwrap() - 0.14389524652914915).abs() < 1e-6 * 0.144,
        "{v}"
    );
    let v = json(&canaryd(&[
        "stats",
        "rate-ratio",
        "--canary",
        "30/10000",
        "--baseline",
        "15/10000",
        "--json",
    ]));
    assert!(
        close(&v["estimate"], 2.0)
            && close(&v["low"], 1.0767769282858306)
            && close(&v["high"], 3.7147898463684386),
        "{v}"
    );
    assert!(close(&v["p_value"], 0.02822685126320409), "{v}");
}

#[test]
fn bad_input_is_exit_3_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.txt", "1\n2\n3\n");
    let cases = [
        (
            write(dir.path(), "word.txt", "1\n2\nfast\n"),
            "word.txt:3: not a number",
        ),
        (
            write(dir.path(), "nan.txt", "# header\n1\nNaN\n"),
            "nan.txt:3: not a finite number",
        ),
        (
            write(dir.path(), "inf.txt", "inf\n"),
            "inf.txt:1: not a finite number",
        ),
        (
            write(dir.path(), "empty.txt", "# nothing\n\n"),
            "empty.txt: no numbers",
        ),
        (
            dir.path().join("missing.txt").display().to_string(),
            "cannot read",
        ),
    ];
    for (file, want) in &cases {
        for test in ["mann-whitney", "ks", "hodges-lehmann", "quantile"] {
            let o = canaryd(&["stats", test, "--canary", file, "--baseline", &good]);
            assert_eq!(code(&o), 3, "{test} {file}: {}", stderr(&o));
            assert!(stderr(&o).contains(want), "{test}: {}", stderr(&o));
        }
    }
    for (c, b) in [
        ("5/3", "1/10"),
        ("1/0", "1/10"),
        ("x/10", "1/10"),
        ("110", "1/10"),
        ("1/10", "-1/10"),
    ] {
        for test in ["fisher", "chi2", "rate-ratio"] {
            let o = canaryd(&["stats", test, "--canary", c, "--baseline", b]);
            assert_eq!(code(&o), 3, "{test} {c} {b}: {}", stderr(&o));
        }
    }
    // Out-of-range parameters are invalid input too.
    let o = canaryd(&[
        "stats",
        "quantile",
        "--q",
        "1.5",
        "--canary",
        &good,
        "--baseline",
        &good,
    ]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let o = canaryd(&["stats", "chi2", "--canary", "0/10", "--baseline", "0/10"]);
    assert_eq!(
        code(&o),
        3,
        "an empty column makes chi-square undefined: {}",
        stderr(&o)
    );
}

/// Fisher's test at counts no window reaches: a clear error (exit 3) naming
/// the cohort and the limit where a count is not representable, and an answer
/// in constant memory at billions of requests. Before, the first aborted the
/// process (`memory allocation of 144000000008 bytes failed`, signal 6).
#[test]
fn fisher_at_huge_counts_never_aborts() {
    let o = canaryd(&[
        "stats",
        "fisher",
        "--canary",
        "9000000000/18446744073709551615",
        "--baseline",
        "10/1000",
    ]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("canary total (18446744073709551615) is too large"),
        "{}",
        stderr(&o)
    );
    let o = canaryd(&[
        "stats",
        "fisher",
        "--canary",
        "4000000000/5000000000",
        "--baseline",
        "4000000000/5000000000",
        "--json",
    ]);
    let v = json(&o);
    assert!(close(&v["p_value"], 1.0), "{v}");
}
