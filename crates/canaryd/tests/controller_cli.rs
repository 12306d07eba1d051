//! `canaryd controller` as the Helm chart runs it: the flags it relies on,
//! and a clear, fast failure when the API server cannot be reached.

use std::process::{Command, Output};

fn controller(args: &[&str], kubeconfig: Option<&std::path::Path>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_canaryd"));
    c.arg("controller").args(args);
    // Never the developer's real cluster.
    c.env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("POD_NAME")
        .env_remove("POD_NAMESPACE");
    match kubeconfig {
        Some(p) => c.env("KUBECONFIG", p),
        None => c.env("KUBECONFIG", "/nonexistent"),
    };
    c.output().expect("the binary runs")
}

#[test]
fn help_lists_the_flags_the_chart_uses() {
    let out = controller(&["--help"], None);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--namespace <NAMESPACE>",
        "--db <DB>",
        "[default: /var/lib/canaryd/canaryd.db]",
        "--listen <LISTEN>",
        "[default: 0.0.0.0:8080]",
        "--lease-name <LEASE_NAME>",
        "[default: canaryd-leader]",
        "--lease-namespace <LEASE_NAMESPACE>",
        "[env: POD_NAMESPACE=]",
        "--identity <IDENTITY>",
        "[env: POD_NAME=]",
        "--lease-duration <LEASE_DURATION>",
        "[default: 15s]",
        "--no-leader-election",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn an_unreachable_api_server_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster: {server: \"https://127.0.0.1:1\"}
users:
- name: u
  user: {token: not-a-real-token}
contexts:
- name: x
  context: {cluster: nowhere, user: u}
current-context: x
",
    )
    .unwrap();
    let db = dir.path().join("c.db");
    let out = controller(
        &[
            "--db",
            db.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--namespace",
            "shop",
        ],
        Some(&kubeconfig),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("cannot list Canaries in namespace shop on https://127.0.0.1:1/"),
        "{stderr}"
    );
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // That the process exited at all (exit 4 above) is the point: it does
    // not retry a dead API server forever. No bound on how long it took: the
    // machine may be loaded.
}

#[test]
fn an_in_memory_database_is_refused() {
    let out = controller(&["--db", ":memory:"], None);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("persistent volume"));
}

#[test]
fn a_lease_duration_the_lease_cannot_store_is_refused() {
    for bad in ["1500ms", "2s", "soon"] {
        let out = controller(&["--lease-duration", bad], None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{bad}: {stderr}");
        assert!(stderr.contains("--lease-duration"), "{bad}: {stderr}");
        assert!(stderr.contains(&format!("`{bad}`")), "{bad}: {stderr}");
    }
}
