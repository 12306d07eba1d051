//! `canaryd backtest`: each kind of recorded data through a policy, and bad
//! files rejected with a message that says where.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

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

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A range-query export: `points` one-minute steps of per-step counts, with
/// latency buckets (the same shape for both cohorts) when `buckets`.
fn prometheus(points: usize, canary: (u64, u64), baseline: (u64, u64), buckets: bool) -> Value {
    let values = |v: f64| {
        (0..points)
            .map(|i| json!([1_767_225_660.0 + 60.0 * i as f64, v.to_string()]))
            .collect::<Vec<_>>()
    };
    let series = |name: &str, version: &str, v: u64| {
        json!({
            "metric": {"__name__": name, "version": version, "route": "GET /pay"},
            "values": values(v as f64),
        })
    };
    let mut result = vec![
        series("http_requests_total", "canary", canary.0),
        series("http_errors_total", "canary", canary.1),
        series("http_requests_total", "stable", baseline.0),
        series("http_errors_total", "stable", baseline.1),
    ];
    if buckets {
        for (version, total) in [("canary", canary.0), ("stable", baseline.0)] {
            for (le, share) in [
                ("0.05", 0.5),
                ("0.1", 0.8),
                ("0.25", 0.97),
                ("0.5", 0.995),
                ("+Inf", 1.0),
            ] {
                result.push(json!({
                    "metric": {"__name__": "http_request_duration_seconds_bucket", "version": version, "route": "GET /pay", "le": le},
                    "values": values((total as f64 * share).round()),
                }));
            }
        }
    }
    json!({"status": "success", "data": {"resultType": "matrix", "result": result}})
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn scenario_file_under_two_policies() {
    let data = "examples/scenarios/canaryd-sequential-rollback.yaml";
    let o = canaryd(&["backtest", "--policy", "canaryd", "--data", data]);
    assert_eq!(o.status.code(), Some(1), "{}{}", out(&o), err(&o));
    let text = out(&o);
    assert!(text.contains("window") && text.contains("verdict") && text.contains("decision"));
    assert!(
        text.contains("outcome: rolled_back after window 8"),
        "{text}"
    );
    // slo-ratio wants 1,000 canary requests a window: windows of 180 are too
    // thin, extended three times, then a human is asked (no data is never a pass).
    let o = canaryd(&[
        "backtest",
        "--policy",
        "slo-ratio",
        "--data",
        data,
        "--output",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    let v: Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(v["outcome"], "paused");
    assert_eq!(v["final_weight"], 10);
    assert_eq!(v["policy"], "slo-ratio");
    assert_eq!(v["windows"][0]["verdict"], "inconclusive");
    assert_eq!(v["windows"][0]["decision"], "extend");
}

#[test]
fn audit_export_replays_each_recorded_window() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let db = db.to_str().unwrap();
    let scenario = "examples/scenarios/rolled-back-error-spike.yaml";
    let o = canaryd(&["replay", scenario, "--db", db]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let export = dir.path().join("audit.jsonl");
    let o = canaryd(&[
        "audit",
        "export",
        "--db",
        db,
        "--output",
        export.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    // The policy it ran under: the same decisions as recorded.
    let o = canaryd(&[
        "backtest",
        "--policy",
        "slo-ratio",
        "--data",
        export.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let v: Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(v["outcome"], "rolled_back");
    // The window recorded after the rollback is shown, not judged.
    assert_eq!(v["windows"].as_array().unwrap().len(), 4);
    assert_eq!(v["windows"][2]["decision"], "roll_back");
    assert_eq!(v["windows"][3]["decision"], "ignore");
    assert!(v["summary"].as_str().unwrap().contains("after window 3"));
    // canaryd's default on the same four windows: a 2.7% vs 0.4% spike over
    // three 5-minute windows is no 60 s transient. The test sets aside the
    // two windows one burst could touch and the third convinces it.
    let o = canaryd(&[
        "backtest",
        "--policy",
        "canaryd",
        "--data",
        export.to_str().unwrap(),
        "--output",
        "json",
    ]);
    let v: Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(o.status.code(), Some(1), "{v}");
    assert_eq!(v["outcome"], "rolled_back");
    assert_eq!(v["windows"].as_array().unwrap().len(), 4);
    assert_eq!(v["windows"][2]["verdict"], "healthy", "{v}");
    assert_eq!(v["windows"][3]["decision"], "roll_back", "{v}");
}

#[test]
fn prometheus_export_bad_and_good_canaries() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.json",
        &prometheus(10, (600, 30), (11_400, 57), true).to_string(),
    );
    let o = canaryd(&["backtest", "--policy", "canaryd", "--data", &bad]);
    assert_eq!(o.status.code(), Some(1), "{}{}", out(&o), err(&o));
    let text = out(&o);
    assert!(text.contains("backtest bad under policy canaryd"), "{text}");
    // 1-minute windows at 10× the baseline: the first two are what one 60 s
    // burst could touch, set aside; the third makes it sustained.
    assert!(text.contains("rolled_back after window 3"), "{text}");
    assert!(text.contains("error_rate on GET /pay"), "{text}");

    // Without latency buckets, the latency rules have no data: never a pass.
    let blind = write(
        dir.path(),
        "blind.json",
        &prometheus(10, (600, 3), (11_400, 57), false).to_string(),
    );
    let o = canaryd(&["backtest", "--policy", "canaryd", "--data", &blind]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(
        out(&o).contains("latency_p50 on GET /pay is missing"),
        "{}",
        out(&o)
    );
    assert!(
        out(&o).contains("outcome: paused after window 10"),
        "{}",
        out(&o)
    );

    let good = write(
        dir.path(),
        "good.json",
        &prometheus(40, (600, 3), (11_400, 57), true).to_string(),
    );
    let o = canaryd(&[
        "backtest", "--policy", "canaryd", "--data", &good, "--output", "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let v: Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(v["outcome"], "promoted");
    assert_eq!(v["final_weight"], 100);
    assert_eq!(v["windows"].as_array().unwrap().len(), 40);
    // 24 windows at 3%, 4 at 25%, 6 at 50%, 2 at 100%.
    assert_eq!(v["windows"][35]["decision"], "promote", "{v}");
    assert!(v["summary"].as_str().unwrap().contains("after window 36"));
    assert_eq!(v["windows"][24]["weight"], 25);
}

#[test]
fn malformed_files_are_invalid_input_with_a_location() {
    let dir = tempfile::tempdir().unwrap();
    let run = |file: &str| {
        let o = canaryd(&["backtest", "--policy", "canaryd", "--data", file]);
        assert_eq!(o.status.code(), Some(3), "{file}: {}", out(&o));
        err(&o)
    };
    let broken = write(
        dir.path(),
        "broken.json",
        "{\"status\": \"success\",\n \"data\": [1,",
    );
    let e = run(&broken);
    assert!(
        e.contains("broken.json") && e.contains("line 2, column"),
        "{e}"
    );

    let mut v = prometheus(3, (600, 3), (11_400, 57), false);
    v["data"]["result"][1]["metric"]
        .as_object_mut()
        .unwrap()
        .remove("version");
    let e = run(&write(dir.path(), "nolabel.json", &v.to_string()));
    assert!(
        e.contains("data.result[1].metric") && e.contains("cohort label"),
        "{e}"
    );

    let mut v = prometheus(3, (600, 3), (11_400, 57), false);
    v["data"]["result"][0]["values"][2][1] = json!("lots");
    let e = run(&write(dir.path(), "value.json", &v.to_string()));
    assert!(
        e.contains("data.result[0].values[2]") && e.contains("`lots`"),
        "{e}"
    );

    let v = json!({"status": "success", "data": {"resultType": "vector", "result": []}});
    let e = run(&write(dir.path(), "vector.json", &v.to_string()));
    assert!(e.contains("data.resultType") && e.contains("matrix"), "{e}");

    let audit = "{\"seq\":1,\"payload\":{}}\nnot json\n";
    let e = run(&write(dir.path(), "audit.jsonl", audit));
    assert!(e.contains("line 1") || e.contains("line 2"), "{e}");

    let yaml = "policy: {preset: canaryd}\nworkload: w\nrevision: r\nwindows: [{routes: 7}]\n";
    let e = run(&write(dir.path(), "s.yaml", yaml));
    assert!(e.contains("s.yaml"), "{e}");

    let o = canaryd(&["backtest", "--policy", "nope", "--data", &broken]);
    assert_eq!(o.status.code(), Some(3));
    assert!(err(&o).contains("neither a preset"), "{}", err(&o));
}
