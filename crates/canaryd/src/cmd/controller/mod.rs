//! `canaryd controller`: canaryd as a Kubernetes controller. It watches
//! `Canary` resources (one namespace or all), rolls out each new revision
//! of their targets through the policy, and mirrors every rollout into the
//! Canary's status and Events. Several replicas may run: one holds the
//! Lease and acts, the others wait to take over.
//!
//! The flags, the listener's paths and the metric names are a contract with
//! the Helm chart; change them only together.

mod channels;
mod cohort;
#[cfg(test)]
mod examples_check;
mod listen;
mod log;
mod sources;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use canaryd_kube::controller::{
    run as run_loop, Context, ControllerMetrics, LeaderFlag, LeaseConfig, RunConfig, Scope,
};
use clap::Args;
use tokio::sync::watch;

use crate::{fmt, Fail};

pub const DEFAULT_CONTROLLER_DB: &str = "/var/lib/canaryd/canaryd.db";

#[derive(Args)]
pub struct ControllerArgs {
    /// Watch Canaries in this namespace only (default: all namespaces).
    #[arg(long)]
    namespace: Option<String>,
    /// SQLite database file: every rollout's state, outbox and audit log
    /// (put it on a persistent volume).
    #[arg(long, default_value = DEFAULT_CONTROLLER_DB)]
    db: PathBuf,
    /// Where /healthz, /readyz and /metrics are served.
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// The coordination.k8s.io Lease the replicas compete for.
    #[arg(long, default_value = "canaryd-leader")]
    lease_name: String,
    /// The Lease's namespace.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// This replica's name in the Lease and on its Events (default: $POD_NAME, else the hostname).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// How long the Lease holds without renewal: a crashed leader is
    /// replaced after this; the leader renews every third of it and stops
    /// acting when it could not renew for two thirds. Whole seconds, 3 s or more.
    #[arg(long, default_value = "15s", value_parser = lease_duration)]
    lease_duration: Duration,
    /// Reconcile without a Lease. Only for a single replica: two replicas
    /// without election would both act.
    #[arg(long)]
    no_leader_election: bool,
}

/// `--lease-duration`: the Lease stores whole seconds, and a renewal every
/// third of it must leave a slow API server at least a second.
fn lease_duration(v: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(v).map_err(|e| format!("`{v}`: {e}"))?;
    if d.subsec_nanos() != 0 || d < Duration::from_secs(3) {
        return Err(format!(
            "`{v}`: give whole seconds, at least 3s (the Lease stores seconds; the leader renews every third)"
        ));
    }
    Ok(d)
}

fn hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
}

pub fn run(args: ControllerArgs) -> Result<u8, Fail> {
    if args.db.as_os_str() == ":memory:" {
        return Err(Fail::invalid(
            "--db :memory: would forget every rollout between reconciles; give a file on a persistent volume",
        ));
    }
    // Create and migrate the database now: a read-only volume is an error
    // at start, not at the first rollout.
    drop(fmt::open_store(&args.db)?);
    log::install();
    // Before any client is built: reqwest (the metrics sources) and kube
    // share the process's rustls provider.
    canaryd_http::install_crypto_provider();
    let identity = args
        .identity
        .clone()
        .or_else(hostname)
        .unwrap_or_else(|| format!("canaryd-{}", std::process::id()));
    let scope = match &args.namespace {
        Some(ns) => Scope::Namespace(ns.clone()),
        None => Scope::All,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Fail::Operational(e.into()))?;
    rt.block_on(async move {
        let listener = listen::bind(args.listen)
            .await
            .map_err(|e| Fail::invalid(format!("cannot listen on {}: {e}", args.listen)))?;
        let config = kube::Config::infer()
            .await
            .context("cannot configure a Kubernetes client from KUBECONFIG or the in-cluster service account")
            .map_err(Fail::Operational)?;
        let url = config.cluster_url.to_string();
        let client = kube::Client::try_from(config)
            .context("cannot build a Kubernetes client")
            .map_err(Fail::Operational)?;
        let where_ = match &scope {
            Scope::Namespace(ns) => format!("namespace {ns}"),
            Scope::All => "all namespaces".to_string(),
        };
        let metrics = Arc::new(ControllerMetrics::default());
        let (stop_tx, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = watch::channel(false);
        let http = tokio::spawn(listen::serve(
            listener,
            listen::router(ready_rx, metrics.clone()),
            stop_rx.clone(),
        ));
        let ctx = Context::new(client, args.db.clone(), sources::PolicySources, LeaderFlag::new(false))
            .with_instance(Some(identity.clone()))
            .with_metrics(metrics);
        let lease = (!args.no_leader_election).then(|| LeaseConfig {
            namespace: args.lease_namespace.clone(),
            name: args.lease_name.clone(),
            identity: identity.clone(),
            duration: args.lease_duration,
        });
        tokio::spawn(async move {
            wait_for_signal().await;
            eprintln!("canaryd controller: stopping; rollouts resume from {} on the next leader", args.db.display());
            let _ = stop_tx.send(true);
        });
        eprintln!(
            "canaryd controller {identity}: Canaries in {where_}; {}; /healthz /readyz /metrics on http://{}",
            if args.no_leader_election { "no leader election".to_string() } else { format!("Lease {}/{}", args.lease_namespace, args.lease_name) },
            args.listen
        );
        let config = RunConfig {
            scope,
            lease,
            concurrency: 4,
        };
        let result = run_loop(Arc::new(ctx), config, ready_tx, stop_rx).await;
        http.abort();
        result.map(|()| 0).map_err(|e| {
            // The only error is the first list's (the loop retries the rest).
            Fail::Operational(anyhow::anyhow!(
                "cannot list Canaries in {where_} on {url}: {}. Is the API server reachable (KUBECONFIG or the in-cluster service account), the CRD installed (canaryd crd | kubectl apply -f -), and listing canaries.canaryd.io allowed?",
                root_cause(&e)
            ))
        })
    })
}

/// The innermost error's words: kube nests "client error (Connect)" several
/// times before it says "Connection refused".
fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
