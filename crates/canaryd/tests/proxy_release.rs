//! A new canary taken by a running `canaryd proxy` through `canaryd release`
//! (its operator API), through the real binary: no restart, one process
//! from the first release to the second; refused while a rollout is in
//! progress; the same release twice is one rollout; and a restart after a
//! release serves the released upstreams, not the command line's.
//!
//! On the code before, `canaryd release` did not exist (clap refused it,
//! exit 3) and the only way to a new canary was a restart with a new
//! `--canary`: every assertion after the first `release` call fails there.
//! Nothing here waits on a timer: every step waits for a line the process
//! prints or for a count in its database.

mod support;

use canaryd_sim::{SampleApp, SampleAppConfig};
use std::time::Duration;
use support::*;

/// Long holds at 50%: a rollout stays in progress until an operator
/// promotes it, so "refused while ramping" does not race the ladder.
const POLICY: &str = "name: release\nwindow: 1s\nladder:\n  - {weight: 50, hold_windows: 100000}\n  - {weight: 100, hold_windows: 1}\n\
     ramp_budget: 100h\ntraffic: {min_requests_per_route: 5, max_extensions: 50}\n\
     baseline: {lookback: 1h, min_history: 2s, min_requests_per_route: 10}\n\
     collectors: {auto_resume: true}\n\
     rules:\n  - {metric: error_rate, ratio: 2, min_value: 5%}\n";

fn setup(policy: &str) -> (tempfile::TempDir, Ports) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.yaml"), policy).unwrap();
    std::fs::write(dir.path().join("token"), TOKEN).unwrap();
    let p = Ports {
        listen: free_port(),
        api: free_port(),
        admin: free_port(),
    };
    (dir, p)
}

fn load(p: &Ports) -> canaryd_sim::load::LoadHandle {
    let mut cfg = canaryd_sim::LoadConfig::new(
        format!("http://127.0.0.1:{}", p.listen),
        100.0,
        Duration::from_secs(600),
    );
    cfg.mix = "GET /pay=100".parse().unwrap();
    canaryd_sim::load::start(cfg).unwrap()
}

fn release(dir: &std::path::Path, p: &Ports, revision: &str, url: &str) -> (Option<i32>, String) {
    let (code, out, err) = command(
        dir,
        p,
        &[
            "release",
            "shop/pay",
            revision,
            "--canary",
            url,
            "--by",
            "bob",
            "--reason",
            "weekly release",
        ],
    );
    (code, format!("{out}{err}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_release_through_the_command_needs_no_restart_and_waits_for_the_ramp() {
    let (dir, p) = setup(POLICY);
    let db = dir.path().join("canaryd.db");
    let v1 = SampleApp::start(SampleAppConfig::new("v1")).await.unwrap();
    let v2 = SampleApp::start(SampleAppConfig::new("v2")).await.unwrap();
    let v3 = SampleApp::start(SampleAppConfig::new("v3")).await.unwrap();
    let mut run = Proxy::start(dir.path(), &p, (&v1.url(), &v2.url()), "v2", None);
    let pid = run.child.as_ref().unwrap().id();
    // Started once the proxy listens: from here on every request must succeed.
    let load = load(&p);
    run.wait_for("awaiting_approval");
    // In progress (awaiting approval): refused with the reason, nothing changes.
    let (code, out) = release(dir.path(), &p, "v3", &v3.url());
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("rollout shop/pay v2 is in progress (awaiting_approval at 0%)"),
        "{out}"
    );
    operator(dir.path(), &p, "approve", "v2");
    run.wait_for("(ramping: 50%)");
    // In progress (ramping at 50%): refused again.
    let (code, out) = release(dir.path(), &p, "v3", &v3.url());
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("in progress (ramping at 50%)"), "{out}");
    assert_eq!(admin_weight(&p), 50);
    // Bad input is refused before anything is sent or changed.
    let (code, out) = release(dir.path(), &p, "v3", "http://user:pw@127.0.0.1:9");
    assert_eq!(code, Some(3), "{out}");
    assert!(!out.contains("pw"), "the password is never echoed: {out}");
    let (code, out) = release(dir.path(), &p, " ", &v3.url());
    assert_eq!(code, Some(3), "{out}");
    assert!(
        releases_audited(&db).iter().all(|r| r.0 == "v2"),
        "only v2 was released"
    );

    operator(dir.path(), &p, "promote", "v2");
    run.wait_for("finished: promoted");
    // The next release starts on its own on the recorded history (min 2 s).
    wait_for_history(&db, 2_000);
    let (code, out) = release(dir.path(), &p, "v3", &v3.url());
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("released shop/pay v3"), "{out}");
    run.wait_for("new canary shop/pay v3");
    run.wait_for("started shop/pay v3: ramping at 50%");
    // The same release again (a retried command) is not a second rollout.
    let (code, out) = release(dir.path(), &p, "v3", &v3.url());
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("already the canary"), "{out}");
    // A released revision cannot be released again at another URL.
    let (code, out) = release(dir.path(), &p, "v3", &v1.url());
    assert_eq!(code, Some(1), "{out}");

    // Served: 50% to v3 beside the promoted v2, which is now the stable
    // side; the old stable v1 gets nothing.
    assert_eq!(admin_weight(&p), 50);
    let (_, seen) = split(&p, 200);
    assert!(
        seen.get("v2").is_some_and(|n| *n > 0) && seen.get("v3").is_some_and(|n| *n > 0),
        "{seen:?}"
    );
    assert_eq!(seen.get("v1"), None, "{seen:?}");

    operator(dir.path(), &p, "promote", "v3");
    run.wait_for("rollout shop/pay v3 finished: promoted");
    let (_, seen) = split(&p, 30);
    assert_eq!(seen.keys().collect::<Vec<_>>(), ["v3"], "{seen:?}");

    // One process from start to end, and no user request failed on the way.
    assert!(run.child.as_mut().unwrap().try_wait().unwrap().is_none());
    assert_eq!(run.child.as_ref().unwrap().id(), pid);
    assert_eq!(run.output().matches("canaryd proxy: http://").count(), 1);
    let report = load.stop().await;
    assert_eq!(report.counters.errors, 0, "{report:?}");
    assert!(report.counters.by_version.get("v3").is_some_and(|n| *n > 0));

    // Audited: each release once, who and why; each action once.
    let audited = releases_audited(&db);
    assert_eq!(audited.len(), 2, "{audited:?}");
    assert_eq!(audited[1].0, "v3");
    assert_eq!(audited[1].1, v3.url());
    assert_eq!(
        (audited[1].2.as_str(), audited[1].3.as_deref()),
        ("bob", Some("weekly release"))
    );
    assert_eq!(
        summary(&actions(&db, "v3")),
        [
            ("set_weight 50".to_string(), 1, true),
            ("promote".to_string(), 1, true)
        ]
    );
    assert_eq!(run.signal("-TERM"), Some(0), "{}", run.output());
    audit_verifies(&db);
    for app in [v1, v2, v3] {
        app.shutdown().await;
    }
}

/// A restart after a release serves the released upstreams even when the
/// service manager starts the proxy with its old flags (`--canary` of v2):
/// the newest release in the database wins, and the log line says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_after_a_release_keeps_the_new_canary() {
    // No history ever suffices: every rollout here awaits approval, so the
    // state at each restart is known.
    let (dir, p) = setup(&POLICY.replace(
        "lookback: 1h, min_history: 2s",
        "lookback: 2000h, min_history: 1000h",
    ));
    let db = dir.path().join("canaryd.db");
    let v1 = SampleApp::start(SampleAppConfig::new("v1")).await.unwrap();
    let v2 = SampleApp::start(SampleAppConfig::new("v2")).await.unwrap();
    let v3 = SampleApp::start(SampleAppConfig::new("v3")).await.unwrap();
    let load = load(&p);
    let urls = (v1.url(), v2.url());
    let urls = (urls.0.as_str(), urls.1.as_str());

    let mut run = Proxy::start(dir.path(), &p, urls, "v2", None);
    run.wait_for("awaiting_approval");
    // v2 is aborted: v1 stays the stable side.
    operator(dir.path(), &p, "abort", "v2");
    run.wait_for("finished: aborted by alice");
    let (code, out) = release(dir.path(), &p, "v3", &v3.url());
    assert_eq!(code, Some(0), "{out}");
    run.wait_for("new canary shop/pay v3");
    run.wait_for("started shop/pay v3: awaiting_approval");
    assert!(run.signal("-TERM").is_some(), "{}", run.output());

    // Restarted with the old flags.
    let mut run = Proxy::start(dir.path(), &p, urls, "v2", None);
    run.wait_for("the newest release in the database wins: shop/pay v3");
    assert!(
        run.output().contains(&format!("canary {}", v3.url())),
        "{}",
        run.output()
    );
    run.wait_for("resumed from the database shop/pay v3: awaiting_approval");
    assert_eq!(admin_weight(&p), 0);
    let (_, seen) = split(&p, 20);
    assert_eq!(seen.keys().collect::<Vec<_>>(), ["v1"], "{seen:?}");
    operator(dir.path(), &p, "approve", "v3");
    run.wait_for("(ramping: 50%)");
    let (_, seen) = split(&p, 200);
    assert!(
        seen.get("v1").is_some_and(|n| *n > 0) && seen.get("v3").is_some_and(|n| *n > 0),
        "the released v3 serves beside the stable v1: {seen:?}"
    );
    assert_eq!(
        seen.get("v2"),
        None,
        "the flag's old canary gets nothing: {seen:?}"
    );
    assert_eq!(
        releases_audited(&db).len(),
        2,
        "the restart released nothing"
    );
    assert_eq!(run.signal("-KILL"), None);
    let _ = load.stop().await;
    audit_verifies(&db);
    for app in [v1, v2, v3] {
        app.shutdown().await;
    }
}
