//! The exec router against real processes: what a command receives, how it
//! fails, and that a hanging one is killed with its children.

use canaryd_core::vocab::RolloutKey;
use canaryd_ports::TrafficRouter;
use canaryd_routers::config::ExecConfig;
use canaryd_routers::{Action, ExecError, ExecRouter, RouterConfig};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A script that writes each argument and the CANARYD_* variables to $LOG,
/// one per line, and appends `--` between runs.
fn recorder(dir: &Path) -> PathBuf {
    let script = dir.join("rec.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n{\n  for a in \"$@\"; do printf 'arg=%s\\n' \"$a\"; done\n  \
         printf 'env=%s|%s|%s|%s|%s|%s\\n' \"$CANARYD_ACTION\" \"$CANARYD_WEIGHT\" \
         \"$CANARYD_STABLE_WEIGHT\" \"$CANARYD_WORKLOAD\" \"$CANARYD_REVISION\" \"$EXTRA\"\n  \
         echo --\n} >> \"$LOG\"\n",
    )
    .unwrap();
    script
}

fn exec_config(yaml: &str) -> ExecConfig {
    match RouterConfig::from_yaml("test", yaml).unwrap() {
        RouterConfig::Exec(c) => c,
        other => panic!("not exec: {other:?}"),
    }
}

fn router_for(dir: &Path, extra: &str) -> ExecRouter {
    let script = recorder(dir);
    let log = dir.join("log");
    ExecRouter::new(&exec_config(&format!(
        "exec:\n  set_weight: [sh, '{}', set, '--weight={{weight}}', '{{stable_weight}}', '{{workload}}', '{{revision}}']\n  env: {{LOG: '{}', EXTRA: extra-value}}\n{extra}",
        script.display(),
        log.display()
    )))
    .unwrap()
}

fn runs(dir: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    text.split("--\n")
        .filter(|r| !r.is_empty())
        .map(|r| r.lines().map(str::to_string).collect())
        .collect()
}

#[tokio::test]
async fn commands_receive_exact_argv_and_env() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = router_for(
        dir.path(),
        "  promote: [sh, -c, 'echo promoted-$CANARYD_REVISION >> \"$LOG\"; echo -- >> \"$LOG\"']\n",
    );
    let key = RolloutKey::new("shop/checkout", "v2.1");
    r.set_weight(&key, 25).await.unwrap();
    r.set_weight(&key, 25).await.unwrap(); // idempotent: the same command again
    r.roll_back(&key).await.unwrap(); // no `rollback:`: set_weight with 0
    r.promote(&key).await.unwrap();
    let expect_set = |w: &str, sw: &str, action: &str| {
        vec![
            "arg=set".to_string(),
            format!("arg=--weight={w}"),
            format!("arg={sw}"),
            "arg=shop/checkout".into(),
            "arg=v2.1".into(),
            format!("env={action}|{w}|{sw}|shop/checkout|v2.1|extra-value"),
        ]
    };
    assert_eq!(
        runs(dir.path()),
        vec![
            expect_set("25", "75", "set_weight"),
            expect_set("25", "75", "set_weight"),
            expect_set("0", "100", "rollback"),
            vec!["promoted-v2.1".to_string()],
        ]
    );
}

#[tokio::test]
async fn a_hostile_revision_is_one_literal_argument() {
    let dir = tempfile::tempdir().unwrap();
    let r = router_for(dir.path(), "");
    let canary_file = dir.path().join("pwned");
    let revision = format!(
        "v2; rm -rf / $(touch {}) `touch {}`",
        canary_file.display(),
        canary_file.display()
    );
    let key = RolloutKey::new("shop", revision.clone());
    assert_eq!(r.argv(&key, Action::SetWeight(5))[6], revision);
    r.run(&key, Action::SetWeight(5)).await.unwrap();
    let run = &runs(dir.path())[0];
    assert_eq!(run[4], format!("arg={revision}"));
    assert_eq!(
        run.len(),
        6,
        "the revision was split into several arguments: {run:?}"
    );
    assert!(!canary_file.exists(), "a shell ran the revision");
}

#[tokio::test]
async fn a_failing_command_is_named_with_its_status_and_stderr() {
    let cfg = exec_config(
        "exec: {set_weight: [sh, -c, 'echo progress on stdout; echo \"Error from server (NotFound): httproutes shop not found\" >&2; exit 3', '{weight}']}",
    );
    let mut r = ExecRouter::new(&cfg).unwrap();
    let key = RolloutKey::new("shop", "v2");
    match r.run(&key, Action::SetWeight(10)).await {
        Err(ExecError::Failed {
            command,
            status,
            output,
        }) => {
            assert!(command.starts_with("sh -c 'echo progress"), "{command}");
            assert!(command.ends_with(" 10"), "{command}");
            assert!(status.contains('3'), "{status}");
            assert_eq!(
                output,
                "Error from server (NotFound): httproutes shop not found"
            );
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    let msg = r
        .set_weight(&key, 10)
        .await
        .unwrap_err()
        .message()
        .to_string();
    assert!(
        msg.contains("router command `sh -c") && msg.contains("httproutes shop not found"),
        "{msg}"
    );
}

#[tokio::test]
async fn long_error_output_is_cut_to_its_end() {
    let cfg = exec_config(
        "exec: {set_weight: [sh, -c, 'i=0; while [ $i -lt 3000 ]; do echo noise-line-$i >&2; i=$((i+1)); done; echo the-real-error >&2; exit 1']}",
    );
    let r = ExecRouter::new(&cfg).unwrap();
    let e = r
        .run(&RolloutKey::new("w", "r"), Action::RollBack)
        .await
        .unwrap_err();
    let ExecError::Failed { output, .. } = e else {
        panic!("expected Failed, got {e:?}")
    };
    assert!(output.ends_with("the-real-error"));
    assert!(output.starts_with('…'));
    assert!(output.chars().count() <= 1001, "{}", output.len());
}

#[tokio::test]
async fn a_missing_program_says_so() {
    let cfg = exec_config("exec: {set_weight: [/nonexistent/lbctl, '{weight}']}");
    let e = ExecRouter::new(&cfg)
        .unwrap()
        .run(&RolloutKey::new("w", "r"), Action::Promote)
        .await
        .unwrap_err();
    assert!(matches!(e, ExecError::Spawn { .. }), "{e:?}");
    assert!(e.to_string().contains("/nonexistent/lbctl 100"), "{e}");
}

fn is_gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // Killed but not yet reaped by whoever adopted it.
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z')),
    }
}

#[tokio::test]
async fn a_hanging_command_is_killed_with_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let cfg = exec_config(&format!(
        "exec: {{set_weight: [sh, -c, 'sleep 300 & echo $! > {}; wait'], timeout: 1s}}",
        pidfile.display()
    ));
    let e = ExecRouter::new(&cfg)
        .unwrap()
        .run(&RolloutKey::new("w", "r"), Action::SetWeight(50))
        .await
        .unwrap_err();
    assert!(matches!(e, ExecError::TimedOut { .. }), "{e:?}");
    assert!(e.to_string().contains("did not finish within 1s"), "{e}");
    let pid = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .to_string();
    // SIGKILL is delivered asynchronously; allow it a bounded moment.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !is_gone(&pid) {
        assert!(
            Instant::now() < deadline,
            "the background `sleep` ({pid}) survived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
