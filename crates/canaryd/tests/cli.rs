//! The binary as users run it: exit codes, messages for bad input, and the
//! audit log catching tampering made with plain SQL.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn scenarios() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join("examples/scenarios"))
        .unwrap()
        .map(|e| {
            format!(
                "examples/scenarios/{}",
                e.unwrap().file_name().to_string_lossy()
            )
        })
        .filter(|p| p.ends_with(".yaml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_shipped_scenario_meets_its_expectation() {
    let s = scenarios();
    assert!(
        s.len() >= 15,
        "scenarios cover every branch of the decision flow"
    );
    let mut args = vec!["policy", "test"];
    args.extend(s.iter().map(|s| s.as_str()));
    let o = canaryd(&args);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains(&format!("{} passed, 0 failed", s.len())),
        "{}",
        stdout(&o)
    );
}

#[test]
fn every_branch_of_the_decision_flow_is_reached_by_a_shipped_scenario() {
    let mut decisions = std::collections::BTreeSet::new();
    let mut verdicts = std::collections::BTreeSet::new();
    let mut outcomes = std::collections::BTreeSet::new();
    for s in scenarios() {
        let o = canaryd(&["replay", &s, "--db", ":memory:", "--output", "json"]);
        let line = stdout(&o);
        let v: serde_json::Value = serde_json::from_str(line.lines().last().unwrap()).unwrap();
        outcomes.insert(v["outcome"].as_str().unwrap().to_string());
        for w in v["windows"].as_array().unwrap() {
            verdicts.insert(w["verdict"].as_str().unwrap().to_string());
            let d = w["decision"].as_str().unwrap();
            decisions.insert(d.split([' ', ':']).next().unwrap().to_string());
        }
        for op in v["operator"].as_array().unwrap() {
            decisions.insert(
                op["decision"]
                    .as_str()
                    .unwrap()
                    .split([' ', ':'])
                    .next()
                    .unwrap()
                    .to_string(),
            );
        }
    }
    for d in [
        "hold", "extend", "advance", "pause", "resumed", "ROLL", "PROMOTE", "approved", "refused",
        "ignored",
    ] {
        assert!(
            decisions.contains(d),
            "no scenario reaches decision {d}: {decisions:?}"
        );
    }
    for v in ["healthy", "breach", "inconclusive", "unreliable"] {
        assert!(verdicts.contains(v), "no scenario produces verdict {v}");
    }
    for o in ["promoted", "rolled_back", "paused", "awaiting_approval"] {
        assert!(outcomes.contains(o), "no scenario ends {o}");
    }
}

#[test]
fn replay_exit_codes_and_json() {
    for (s, want) in [
        ("promoted", 0),
        ("rolled-back-error-spike", 1),
        ("partition-paused", 2),
        ("awaiting-approval-no-baseline", 2),
    ] {
        let o = canaryd(&[
            "replay",
            &format!("examples/scenarios/{s}.yaml"),
            "--db",
            ":memory:",
            "--output",
            "json",
        ]);
        assert_eq!(code(&o), want, "{s}: {}", stderr(&o));
        let v: serde_json::Value =
            serde_json::from_str(stdout(&o).lines().last().unwrap()).unwrap();
        for field in ["outcome", "after_window", "final_weight", "windows"] {
            assert!(v.get(field).is_some(), "{s}: json lacks {field}");
        }
    }
    let o = canaryd(&[
        "replay",
        "examples/scenarios/rolled-back-error-spike.yaml",
        "--db",
        ":memory:",
    ]);
    let out = stdout(&o);
    assert!(out.contains("outcome: rolled_back after window 3"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("3 ") && l.contains("breach") && l.contains("ROLL BACK")),
        "{out}"
    );
}

#[test]
fn malformed_policies_exit_3_with_a_located_message_and_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str)] = &[
        ("empty.yaml", ""),
        ("syntax.yaml", "window: [5m\n"),
        ("unknown-field.yaml", "preset: slo-ratio\nwindoww: 5m\n"),
        ("bad-preset.yaml", "preset: yolo\n"),
        ("not-100.yaml", "preset: slo-ratio\nladder:\n  - {weight: 10, hold: 10m}\n  - {weight: 50, hold: 10m}\n"),
        ("n1.yaml", "preset: slo-ratio\nrules:\n  - {metric: error_rate, ratio: 2, consecutive: 1}\n"),
        ("budget.yaml", "preset: slo-ratio\nramp_budget: 10m\n"),
        ("ratio-no-baseline.yaml", "preset: absolute-slo\nadd_rules:\n  - {metric: error_rate, ratio: 2}\n"),
        ("weight-type.yaml", "preset: slo-ratio\nladder:\n  - {weight: ten, hold: 10m}\n"),
        ("binary.yaml", "\u{0}\u{1}\u{2}garbage: [}"),
        ("list.yaml", "- a\n- b\n"),
    ];
    for (name, text) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let o = canaryd(&["policy", "check", p.to_str().unwrap()]);
        let err = stderr(&o);
        assert_eq!(code(&o), 3, "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert!(
            err.contains(name),
            "{name}: the message names the file: {err}"
        );
    }
    // A located message: file, line and field.
    let o = canaryd(&[
        "policy",
        "check",
        dir.path().join("not-100.yaml").to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert!(
        err.contains("not-100.yaml:4") && err.contains("ladder"),
        "{err}"
    );
    // A missing file.
    let o = canaryd(&["policy", "check", "no/such/file.yaml"]);
    assert_eq!(code(&o), 3);
    assert!(stderr(&o).contains("no/such/file.yaml"));
    // All shipped policies are valid.
    let o = canaryd(&[
        "policy",
        "check",
        "examples/slo-ratio.yaml",
        "examples/absolute-slo.yaml",
        "examples/progressive.yaml",
        "examples/adaptive-weight.yaml",
        "examples/statistical.yaml",
        "examples/canaryd.yaml",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn malformed_scenarios_exit_3_and_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let good_head = "policy: {preset: slo-ratio}\nworkload: w\nrevision: r\n";
    let cases: Vec<(&str, String)> = vec![
        ("empty.yaml", String::new()),
        ("no-policy.yaml", "workload: w\nrevision: r\nbaseline: missing\n".into()),
        ("missing-policy-file.yaml", "policy: ../nope.yaml\nworkload: w\nrevision: r\nbaseline: missing\n".into()),
        ("bad-inline-policy.yaml", "policy: {preset: slo-ratio, window: 0s}\nworkload: w\nrevision: r\nbaseline: missing\n".into()),
        ("bad-baseline.yaml", format!("{good_head}baseline: maybe\n")),
        ("baseline-no-hours.yaml", format!("{good_head}baseline: {{routes: {{}}}}\n")),
        ("unknown-window-field.yaml", format!("{good_head}baseline: missing\nwindows:\n  - {{routez: {{}}}}\n")),
        ("negative-requests.yaml", format!("{good_head}baseline: missing\nwindows:\n  - routes: {{\"GET /\": {{canary: {{requests: -5, errors: 0}}}}}}\n")),
        ("bad-operator.yaml", format!("{good_head}baseline: missing\nwindows:\n  - operator: {{reboot: {{by: x}}}}\n")),
        ("operator-no-by.yaml", format!("{good_head}baseline: missing\nwindows:\n  - operator: {{approve: {{by: \"\"}}}}\n")),
        ("mixed.yaml", format!("{good_head}baseline: missing\nwindows:\n  - {{operator: {{approve: {{by: a}}}}, routes: {{}}}}\n")),
        ("bad-start.yaml", format!("{good_head}start: yesterday\nbaseline: missing\n")),
        ("bad-outcome.yaml", format!("{good_head}baseline: missing\nexpect: {{outcome: exploded}}\n")),
        ("bad-bucket.yaml", format!("{good_head}baseline: missing\nwindows:\n  - routes: {{\"GET /\": {{canary: {{requests: 5, errors: 0, latency_buckets_ms: {{\"50\": many}}}}}}}}\n")),
    ];
    for (name, text) in &cases {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        for args in [
            vec!["replay", p.to_str().unwrap(), "--db", ":memory:"],
            vec!["policy", "test", p.to_str().unwrap()],
        ] {
            let o = canaryd(&args);
            let err = stderr(&o);
            assert_eq!(code(&o), 3, "{name} ({}): {err}{}", args[0], stdout(&o));
            assert!(!err.contains("panicked"), "{name}: {err}");
            assert!(
                err.contains(name) || err.contains("nope.yaml"),
                "{name}: message names the file: {err}"
            );
        }
    }
}

#[test]
fn policy_test_names_the_first_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("examples/scenarios/promoted.yaml"))
        .unwrap()
        .replace("outcome: promoted", "outcome: rolled_back");
    let p = dir.path().join("wrong.yaml");
    std::fs::write(&p, text).unwrap();
    let o = canaryd(&["policy", "test", p.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("wrong.yaml: expected outcome rolled_back, got promoted"),
        "{}",
        stderr(&o)
    );
}

/// Replays two scenarios into a fresh database and returns its path.
fn populated_db(dir: &Path) -> PathBuf {
    let db = dir.join("canaryd.db");
    for s in ["promoted", "rolled-back-error-spike"] {
        let o = canaryd(&[
            "replay",
            &format!("examples/scenarios/{s}.yaml"),
            "--db",
            db.to_str().unwrap(),
        ]);
        assert!(code(&o) <= 1, "{}", stderr(&o));
    }
    db
}

fn sql(db: &Path, statements: &str) {
    let c = rusqlite::Connection::open(db).unwrap();
    let triggers: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    for t in triggers {
        c.execute_batch(&format!("DROP TRIGGER \"{t}\"")).unwrap();
    }
    let before = c.total_changes();
    c.execute_batch(statements).unwrap();
    assert!(
        c.total_changes() > before,
        "the tampering changed nothing: {statements}"
    );
}

#[test]
fn audit_verify_catches_every_kind_of_tampering() {
    let cases = [
        ("edited payload", "UPDATE audit_log SET payload = replace(payload, '\"errors\":41', '\"errors\":4') WHERE payload LIKE '%\"errors\":41%'"),
        ("deleted row", "DELETE FROM audit_log WHERE seq = 5"),
        ("swapped rows", "UPDATE audit_log SET seq = -1 WHERE seq = 3; UPDATE audit_log SET seq = 3 WHERE seq = 4; UPDATE audit_log SET seq = 4 WHERE seq = -1"),
        ("deleted tail", "DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)"),
        ("inserted row", "INSERT INTO audit_log SELECT seq + 1000, workload, revision, at_ms, kind, payload, prev_hash, hash FROM audit_log WHERE seq = 2"),
    ];
    for (what, stmt) in cases {
        let dir = tempfile::tempdir().unwrap();
        let db = populated_db(dir.path());
        let ok = canaryd(&["audit", "verify", "--db", db.to_str().unwrap()]);
        assert_eq!(code(&ok), 0, "{what}: intact before: {}", stdout(&ok));
        sql(&db, stmt);
        let o = canaryd(&["audit", "verify", "--db", db.to_str().unwrap()]);
        assert_eq!(
            code(&o),
            1,
            "{what}: not caught: {}{}",
            stdout(&o),
            stderr(&o)
        );
        assert!(
            stdout(&o).contains("BROKEN") && stdout(&o).contains('#'),
            "{what}: names the entry: {}",
            stdout(&o)
        );
    }
}

#[test]
fn the_database_refuses_updates_and_deletes_of_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let db = populated_db(dir.path());
    let c = rusqlite::Connection::open(&db).unwrap();
    let e = c
        .execute("UPDATE audit_log SET payload = '{}' WHERE seq = 1", [])
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    let e = c
        .execute("DELETE FROM audit_log WHERE seq = 1", [])
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
}

#[test]
fn history_report_and_export_tell_the_story() {
    let dir = tempfile::tempdir().unwrap();
    let db = populated_db(dir.path());
    let dbs = db.to_str().unwrap();

    let o = canaryd(&[
        "history", "--db", dbs, "--since", "3650d", "--output", "json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let rb = lines
        .iter()
        .find(|l| l["outcome"] == "rolled_back")
        .unwrap();
    assert_eq!(rb["trigger_metric"], "error_rate");
    assert_eq!(rb["weight"], 10, "the weight it was rolled back from");
    assert_eq!(rb["duration_s"], 900, "three 5-minute windows");
    assert!((rb["trigger_value"].as_f64().unwrap() - 41.0 / 1500.0).abs() < 1e-9);
    assert!((rb["trigger_baseline"].as_f64().unwrap() - 110.0 / 28000.0).abs() < 1e-9);

    let o = canaryd(&[
        "history",
        "--db",
        dbs,
        "--since",
        "3650d",
        "--outcome",
        "rolled-back",
    ]);
    assert_eq!(
        stdout(&o).lines().count(),
        2,
        "header + one rollout: {}",
        stdout(&o)
    );

    let o = canaryd(&["report", "payments/payment-api", "v2.4.2", "--db", dbs]);
    let md = stdout(&o);
    assert_eq!(code(&o), 0);
    assert!(md.contains("| 3 |") && md.contains("ROLL BACK"), "{md}");
    assert!(
        md.contains("## Evidence") && md.contains("canary 2.733%"),
        "{md}"
    );

    let o = canaryd(&["report", "payments/payment-api", "v0-none", "--db", dbs]);
    assert_eq!(code(&o), 3);

    let out = dir.path().join("audit.jsonl");
    let o = canaryd(&[
        "audit",
        "export",
        "--db",
        dbs,
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0);
    let text = std::fs::read_to_string(&out).unwrap();
    let entries: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(entries.len() > 20);
    assert!(entries
        .iter()
        .all(|e| e["hash"].as_str().unwrap().len() == 64));

    // A second replay of the same rollout into the same database is refused, losing nothing.
    let o = canaryd(&["replay", "examples/scenarios/promoted.yaml", "--db", dbs]);
    assert_eq!(code(&o), 3);
    assert!(stderr(&o).contains("--revision"), "{}", stderr(&o));
    let o = canaryd(&[
        "replay",
        "examples/scenarios/promoted.yaml",
        "--db",
        dbs,
        "--revision",
        "v2.4.1-again",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn missing_database_is_a_clear_error() {
    let o = canaryd(&["audit", "verify", "--db", "/nonexistent/dir/c.db"]);
    assert_eq!(code(&o), 3);
    assert!(
        stderr(&o).contains("no canaryd database at /nonexistent/dir/c.db"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn policy_check_rejects_broken_shell_sections_with_their_location() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // (section text, words the message must contain)
        (
            "source:\n  prometheus:\n    url: http://127.0.0.1:9090\n    quries: {}\n",
            // file:line:column, as the core's own located errors read
            vec!["p0.yaml:5:", "unknown field `quries`", "queries"],
        ),
        (
            "source: {graphite: {}}\n",
            vec!["unknown variant `graphite`", "prometheus, datadog"],
        ),
        (
            "router:\n  exec: {set_weight: [echo, \"{wieght}\"]}\n",
            vec!["router", "wieght"],
        ),
        (
            "notify:\n  targets:\n    - {name: x, slack: {webhook_url: {envv: X}}}\n",
            vec!["notify", "envv"],
        ),
    ];
    for (i, (section, words)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("p{i}.yaml"));
        std::fs::write(&path, format!("preset: slo-ratio\n{section}")).unwrap();
        let o = canaryd(&["policy", "check", path.to_str().unwrap()]);
        assert_eq!(code(&o), 3, "case {i}: {}", stderr(&o));
        for w in words {
            assert!(
                stderr(&o).contains(w),
                "case {i}: `{w}` missing in:\n{}",
                stderr(&o)
            );
        }
    }
    // The same sections, well formed, pass.
    let path = dir.path().join("ok.yaml");
    std::fs::write(
        &path,
        "preset: slo-ratio\nsource:\n  prometheus: {url: \"http://127.0.0.1:9090\", baseline: v1}\n\
         router:\n  exec: {set_weight: [echo, \"{weight}\"]}\n",
    )
    .unwrap();
    let o = canaryd(&["policy", "check", path.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// A gate whose metrics source cannot be read never starts the rollout, and
/// when it gives up it says so: not "approve, resume, abort or promote" (an
/// approval would start a rollout nobody can see), and no window is
/// "judged unreliable" before there is a rollout to judge.
#[test]
fn a_gate_that_cannot_read_its_baseline_says_nothing_was_started() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let policy = dir.path().join("unread.yaml");
    std::fs::write(
        &policy,
        format!(
            "preset: canaryd\nname: unread\nwindow: 1s\nsource:\n  prometheus:\n    \
             url: http://127.0.0.1:{port}\n    convention: client-libraries\n    \
             cohort_label: version\n    canary: \"{{revision}}\"\n    selector: 'job=\"pay\"'\n\
             router:\n  none: {{}}\n"
        ),
    )
    .unwrap();
    let db = dir.path().join("gate.db");
    let o = canaryd(&[
        "gate",
        "--policy",
        policy.to_str().unwrap(),
        "--workload",
        "shop/pay",
        "--revision",
        "v2",
        "--max-idle-windows",
        "2",
        "--db",
        db.to_str().unwrap(),
    ]);
    let out = stdout(&o);
    assert_eq!(code(&o), 2, "{out}{}", stderr(&o));
    assert!(out.contains("the baseline could not be read"), "{out}");
    assert!(out.contains("nothing was started"), "{out}");
    assert!(!out.contains("approve, resume, abort or promote"), "{out}");
    assert!(!out.contains("judged unreliable"), "{out}");
}
