//! `canaryd proxy` killed and restarted on the same `--db`, through the real
//! binary: the split it serves from its first request is the one the stored
//! state says (ramping at 50% → 50%, promoted → 100%, rolled back → 0%),
//! effects committed but not carried out when it died are carried out once
//! after the restart, and the audit log verifies with every action exactly
//! once. Also: a second process on the same database exits 4 naming the first.
//!
//! The kill points between a commit and the router call are reached with
//! `CANARYD_FAULT_HALT_AFTER_COMMIT=PHASE:WEIGHT`, which parks the process
//! right after the commit; the test then sends SIGKILL or SIGTERM. Nothing
//! here waits on a timer: every step waits for a line the process prints.
//!
//! On the code before this test, the restart after the kill at 50% served
//! 0% (`/admin/weight` said 0, every request went to stable) and the restart
//! after promotion served 0% too.

mod support;

use canaryd_sim::{SampleApp, SampleAppConfig};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_split_survives_kills_at_every_point_of_a_rollout() {
    let dir = tempfile::tempdir().unwrap();
    let stable = SampleApp::start(SampleAppConfig::new("v1")).await.unwrap();
    let canary = SampleApp::start(SampleAppConfig::new("v2")).await.unwrap();
    let (su, cu) = (stable.url(), canary.url());
    let urls = (su.as_str(), cu.as_str());
    std::fs::write(
        dir.path().join("policy.yaml"),
        "name: restart\nwindow: 1s\nladder:\n  - {weight: 50, hold_windows: 3}\n  - {weight: 100, hold_windows: 2}\n\
         ramp_budget: 1h\ntraffic: {min_requests_per_route: 5, max_extensions: 50}\n\
         baseline: {lookback: 7d, min_history: 1h, min_requests_per_route: 10}\n\
         collectors: {auto_resume: true}\n\
         rules:\n  - {metric: error_rate, ratio: 2, min_value: 5%}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("token"), TOKEN).unwrap();
    let db = dir.path().join("canaryd.db");
    let p = Ports {
        listen: free_port(),
        api: free_port(),
        admin: free_port(),
    };
    // Open-loop load through every run (requests while the proxy is down fail
    // on the client side, as they would for real clients).
    let mut load_cfg = canaryd_sim::LoadConfig::new(
        format!("http://127.0.0.1:{}", p.listen),
        100.0,
        Duration::from_secs(600),
    );
    load_cfg.mix = "GET /pay=100".parse().unwrap();
    let load = canaryd_sim::load::start(load_cfg).unwrap();

    // 1. Approved, ramping at 50%; SIGKILL after a window there.
    let mut run = Proxy::start(dir.path(), &p, urls, "v2", None);
    run.wait_for("awaiting_approval");
    operator(dir.path(), &p, "approve", "v2");
    run.wait_for("(ramping: 50%)");
    assert_eq!(admin_weight(&p), 50);
    assert_eq!(run.signal("-KILL"), None);

    // 2. Restarted: 50% from the first request. It halts right after
    //    committing the advance to 100%, before the router call; SIGKILL there.
    let mut run = Proxy::start(dir.path(), &p, urls, "v2", Some("ramping:100"));
    assert_eq!(admin_weight(&p), 50, "{}", run.output());
    let (_, seen) = split(&p, 200);
    assert!(
        seen.get("v1").is_some_and(|n| *n > 0) && seen.get("v2").is_some_and(|n| *n > 0),
        "a 50% split sends some of 200 requests each way: {seen:?}"
    );
    run.wait_for("fault injection: halted after committing shop/pay v2 ramping at 100%");
    assert_eq!(admin_weight(&p), 50, "committed, not yet acted on");
    let before = actions(&db, "v2");
    assert_eq!(
        summary(&before).last(),
        Some(&("set_weight 100".to_string(), 0, false)),
        "the advance is in the outbox, not yet carried out: {before:?}"
    );
    assert_eq!(run.signal("-KILL"), None);

    // 3. Restarted: the stored state is ramping at 100%, so 100% from the
    //    first request; the pending weight change is carried out once. It
    //    halts after committing the promotion; SIGTERM there.
    let mut run = Proxy::start(dir.path(), &p, urls, "v2", Some("promoted:100"));
    assert_eq!(admin_weight(&p), 100, "{}", run.output());
    let (first, seen) = split(&p, 50);
    assert_eq!(first, "v2");
    assert_eq!(seen.keys().collect::<Vec<_>>(), ["v2"], "{seen:?}");
    run.wait_for("fault injection: halted after committing shop/pay v2 promoted at 100%");
    assert_eq!(run.signal("-TERM"), Some(2), "{}", run.output());

    // 4. Restarted after the promotion: 100%, the pending promote carried out
    //    once, the rollout reported finished; a clean stop exits 0.
    let mut run = Proxy::start(dir.path(), &p, urls, "v2", None);
    assert_eq!(admin_weight(&p), 100, "{}", run.output());
    let (first, seen) = split(&p, 50);
    assert_eq!((first.as_str(), seen.len()), ("v2", 1), "{seen:?}");
    run.wait_for("finished: promoted");
    assert_eq!(run.signal("-TERM"), Some(0), "{}", run.output());

    // 5. And once more (SIGKILL): still 100%, nothing carried out again.
    let done = actions(&db, "v2");
    let mut run = Proxy::start(dir.path(), &p, urls, "v2", None);
    run.wait_for("finished: promoted");
    assert_eq!(admin_weight(&p), 100);
    assert_eq!(run.signal("-KILL"), None);
    assert_eq!(actions(&db, "v2"), done, "a finished rollout acts no more");
    assert_eq!(
        summary(&done),
        [
            ("set_weight 50".to_string(), 1, true),
            ("set_weight 100".to_string(), 1, true),
            ("promote".to_string(), 1, true)
        ],
        "every action exactly once, none skipped"
    );

    // 6. The next revision is aborted at 50%; killed between the commit of
    //    the rollback and the router call, it restarts at 0%.
    let mut run = Proxy::start(dir.path(), &p, urls, "v3", Some("rolled_back:0"));
    assert_eq!(admin_weight(&p), 0, "a new revision starts at 0%");
    run.wait_for("awaiting_approval");
    operator(dir.path(), &p, "approve", "v3");
    run.wait_for("(ramping: 50%)");
    // The abort's answer never comes (the process halts before replying).
    let mut abort = Command::new(bin())
        .args(["abort", "shop/pay", "v3", "--by", "alice"])
        .args(["--server", &format!("http://127.0.0.1:{}", p.api)])
        .args(["--token-file", dir.path().join("token").to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    run.wait_for("fault injection: halted after committing shop/pay v3 rolled_back at 0%");
    assert_eq!(admin_weight(&p), 50, "committed, not yet acted on");
    assert_eq!(run.signal("-KILL"), None);
    let _ = abort.kill();
    let _ = abort.wait();
    let mut run = Proxy::start(dir.path(), &p, urls, "v3", None);
    assert_eq!(admin_weight(&p), 0, "{}", run.output());
    let (first, seen) = split(&p, 50);
    assert_eq!((first.as_str(), seen.len()), ("v1", 1), "{seen:?}");
    run.wait_for("finished: aborted by alice");
    assert_eq!(run.signal("-TERM"), Some(1), "{}", run.output());
    assert_eq!(
        summary(&actions(&db, "v3")),
        [
            ("set_weight 50".to_string(), 1, true),
            ("roll_back".to_string(), 1, true)
        ]
    );

    let _ = load.stop().await;
    let verify = Command::new(bin())
        .args(["audit", "verify", "--db", db.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    stable.shutdown().await;
    canary.shutdown().await;
}

/// Two processes on one database: the second exits 4 and names the first
/// (pid, host, since when); once the first is SIGKILLed, its lease is stale
/// (dead pid on this host) and a new process takes over at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_process_on_the_same_database_exits_4_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.yaml"),
        "name: lease\nwindow: 1s\nladder:\n  - {weight: 50, hold_windows: 3}\n  - {weight: 100, hold_windows: 1}\n\
         ramp_budget: 1h\ntraffic: {min_requests_per_route: 5, max_extensions: 50}\n\
         baseline: {lookback: 7d, min_history: 1h, min_requests_per_route: 10}\n\
         rules:\n  - {metric: error_rate, ratio: 2, min_value: 5%}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("token"), TOKEN).unwrap();
    let urls = ("http://127.0.0.1:9", "http://127.0.0.1:9");
    let ports = || Ports {
        listen: free_port(),
        api: free_port(),
        admin: free_port(),
    };
    let mut first = Proxy::start(dir.path(), &ports(), urls, "v2", None);
    let pid = first.child.as_ref().unwrap().id();

    let p2 = ports();
    let second = Command::new(bin())
        .args([
            "proxy",
            "--stable",
            urls.0,
            "--canary",
            urls.1,
            "--revision",
            "v2",
        ])
        .args(["--policy", dir.path().join("policy.yaml").to_str().unwrap()])
        .args(["--listen", &format!("127.0.0.1:{}", p2.listen)])
        .args(["--api-listen", &format!("127.0.0.1:{}", p2.api)])
        .args(["--db", dir.path().join("canaryd.db").to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(4), "{err}");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    for part in [
        format!("pid {pid}"),
        format!("on host {}", host.trim()),
        "writing since 20".to_string(),
        "canaryd proxy".to_string(),
    ] {
        assert!(err.contains(&part), "no {part:?} in: {err}");
    }
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", p2.listen)).is_err(),
        "the refused process never listened"
    );

    assert_eq!(first.signal("-KILL"), None);
    let third = Proxy::start(dir.path(), &ports(), urls, "v2", None);
    third.wait_for("took over the writer lease");
    assert!(third.output().contains(&format!("from pid {pid}")));
}

/// The proxy records the stable cohort in its store all the time, and that
/// history is the next release's baseline: the first release through a
/// fresh database waits for approval until that history covers the policy's
/// `min_history` (then it starts on its own, the baseline being re-checked
/// every window), the next one (here after a restart with a new revision)
/// starts at once. On the code before, the baseline
/// was "stable traffic since this process started", nothing at start, so
/// every release through the proxy waited for a human.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_second_release_starts_on_the_recorded_stable_history() {
    let dir = tempfile::tempdir().unwrap();
    let stable = SampleApp::start(SampleAppConfig::new("v1")).await.unwrap();
    let canary = SampleApp::start(SampleAppConfig::new("v2")).await.unwrap();
    let (su, cu) = (stable.url(), canary.url());
    let urls = (su.as_str(), cu.as_str());
    std::fs::write(
        dir.path().join("policy.yaml"),
        "name: history\nwindow: 1s\nladder:\n  - {weight: 50, hold_windows: 1}\n  - {weight: 100, hold_windows: 1}\n\
         ramp_budget: 1h\ntraffic: {min_requests_per_route: 5, max_extensions: 50}\n\
         baseline: {lookback: 1h, min_history: 2s, min_requests_per_route: 10}\n\
         collectors: {auto_resume: true}\n\
         rules:\n  - {metric: error_rate, ratio: 2, min_value: 5%}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("token"), TOKEN).unwrap();
    let db = dir.path().join("canaryd.db");
    let p = Ports {
        listen: free_port(),
        api: free_port(),
        admin: free_port(),
    };
    let mut load_cfg = canaryd_sim::LoadConfig::new(
        format!("http://127.0.0.1:{}", p.listen),
        100.0,
        Duration::from_secs(600),
    );
    load_cfg.mix = "GET /pay=100".parse().unwrap();
    let load = canaryd_sim::load::start(load_cfg).unwrap();

    let mut run = Proxy::start(dir.path(), &p, urls, "v2", None);
    run.wait_for("awaiting_approval");
    // History spanning the policy's min_history (2 s), recorded by the proxy.
    let span = || {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.query_row(
            "SELECT coalesce(max(at_ms) - min(at_ms), 0) FROM stable_history WHERE workload = 'shop/pay'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
    };
    let t = Instant::now();
    while span() < 2_000 {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "no stable history recorded"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Once the recorded history covers min_history, the wait ends on its own
    // (the baseline is re-checked every window), no operator needed.
    run.wait_for("baseline became available: start at 50%");
    run.wait_for("finished: promoted");
    assert_eq!(run.signal("-TERM"), Some(0), "{}", run.output());

    let run = Proxy::start(dir.path(), &p, urls, "v3", None);
    run.wait_for("started shop/pay v3: ramping at 50%");
    assert!(
        !run.output().contains("awaiting_approval"),
        "{}",
        run.output()
    );
    drop(run);
    let _ = load.stop().await;
    stable.shutdown().await;
    canary.shutdown().await;
}
