//! `canaryd proxy`: the production front door for services outside
//! Kubernetes. It steers traffic between a stable and a canary upstream,
//! measures every request, runs the policy through the live loop, and takes
//! operator commands on its API. After the rollout ends it keeps serving at
//! the final split until stopped (Ctrl-C / SIGTERM); stopped mid-rollout, it
//! resumes from the database when started again.

use canaryd_core::vocab::RolloutKey;
use canaryd_driver::{run_live, Driver, LiveLimits, Progress, Request};
use canaryd_notify::{Notifiers, NotifyConfig};
use canaryd_proxy::{Router, RouterConfig};
use canaryd_server::Registry;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::sync::mpsc;

use crate::{fmt, DbArg, Fail};

#[derive(Args)]
pub struct ProxyArgs {
    /// Where clients connect.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The stable revision's base URL.
    #[arg(long)]
    stable: String,
    /// The canary revision's base URL.
    #[arg(long)]
    canary: String,
    #[arg(long)]
    policy: PathBuf,
    /// The workload's name in the audit log, notifications and commands.
    #[arg(long, default_value = "default/proxy")]
    workload: String,
    /// The canary revision's name (an image tag, a build id). Required: it
    /// keys the audit log and every notification, so it is never derived
    /// from the canary URL, which may carry credentials.
    #[arg(long)]
    revision: String,
    /// Notification targets (Slack, PagerDuty, webhooks): see crates/notify.
    #[arg(long)]
    notify: Option<PathBuf>,
    /// The operator API (approve, resume, abort, promote).
    #[arg(long, default_value = "127.0.0.1:7431")]
    api_listen: SocketAddr,
    /// File holding the API bearer token (else $CANARYD_API_TOKEN; without one the API refuses every command).
    #[arg(long)]
    api_token_file: Option<PathBuf>,
    /// The router's own /metrics, /healthz and /admin/weight.
    #[arg(long)]
    admin_listen: Option<SocketAddr>,
    /// File holding the bearer token that lets another canaryd (`router:
    /// embedded:` in a gate's policy) set the weight through /admin/weight
    /// (else $CANARYD_ROUTER_TOKEN; without one the weight is read-only over HTTP).
    #[arg(long)]
    admin_token_file: Option<PathBuf>,
    /// Health-check path probed on both upstreams.
    #[arg(long, default_value = "/healthz")]
    probe_path: String,
    #[command(flatten)]
    db: DbArg,
}

pub fn run(args: ProxyArgs) -> Result<u8, Fail> {
    let policy = super::policy::load(&args.policy)?;
    let notifiers = match &args.notify {
        Some(path) => {
            let cfg = NotifyConfig::load(path).map_err(|e| Fail::invalid(e.to_string()))?;
            Notifiers::from_config(cfg).map_err(|e| Fail::invalid(e.to_string()))?
        }
        None => Notifiers::empty(Default::default()).map_err(|e| Fail::Operational(e.into()))?,
    };
    for w in &notifiers.warnings {
        eprintln!("warning: {w}");
    }
    let token = crate::fmt::read_token(
        args.api_token_file.as_deref(),
        "CANARYD_API_TOKEN",
        "--api-token-file",
    )?;

    // The upstream URLs are shown (stdout, errors): parsed as SafeUrl, they
    // print masked, and credentials in them are refused (the router forwards
    // the clients' own credentials and sends none of its own).
    let upstream = |which: &str, raw: &str| {
        canaryd_notify::SafeUrl::parse_without_credentials(raw)
            .map_err(|e| Fail::invalid(format!("--{which}: {e}")))
    };
    let (stable_url, canary_url) = (
        upstream("stable", &args.stable)?,
        upstream("canary", &args.canary)?,
    );
    let mut router_cfg = RouterConfig::from_urls(&args.stable, &args.canary)
        .map_err(|e| Fail::invalid(e.to_string()))?;
    router_cfg.listen = args.listen;
    router_cfg.admin_listen = args.admin_listen;
    let admin_token = crate::fmt::read_token(
        args.admin_token_file.as_deref(),
        "CANARYD_ROUTER_TOKEN",
        "--admin-token-file",
    )?;
    if let Some(t) = admin_token.and_then(|t| canaryd_proxy::AdminToken::new(t.expose())) {
        router_cfg.admin_access = canaryd_proxy::AdminAccess::Token(t);
    }
    router_cfg.probe.path = args.probe_path.clone();
    if args.revision.trim().is_empty() {
        return Err(Fail::invalid(
            "--revision must name the canary revision (e.g. an image tag)",
        ));
    }
    let key = RolloutKey::new(args.workload.clone(), args.revision.clone());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Fail::Operational(e.into()))?;
    rt.block_on(async move {
        let router = Router::start(router_cfg).await.map_err(|e| Fail::invalid(e.to_string()))?;
        let mut redactor = notifiers.redactor().clone();
        if let Some(t) = &token {
            redactor.add(t);
        }
        let store = fmt::open_store(&args.db.db)?;
        let scrub = Box::new(move |v: &mut serde_json::Value| redactor.redact_json(v));
        let mut driver = Driver::new(store, router.clone(), notifiers, policy)?.with_scrubber(scrub);

        let registry = Registry::default();
        let (tx, rx) = mpsc::channel::<Request>(16);
        registry.register(key.clone(), tx);
        if token.is_none() {
            eprintln!("warning: no API token (--api-token-file or CANARYD_API_TOKEN): operator commands will be refused");
        }
        let api = canaryd_server::router(registry.clone(), token);
        let listener = tokio::net::TcpListener::bind(args.api_listen)
            .await
            .map_err(|e| Fail::invalid(format!("cannot listen for the API on {}: {e}", args.api_listen)))?;
        tokio::spawn(async move {
            if let Err(e) = canaryd_server::serve(listener, api).await {
                eprintln!("canaryd proxy: the API stopped: {e}");
            }
        });
        println!(
            "canaryd proxy: {} → stable {} / canary {}; rollout {key}; API on {}",
            router.url(),
            stable_url,
            canary_url,
            args.api_listen
        );

        let mut source = router.metrics_source();
        let limits = LiveLimits { idle_windows: None, max_windows: None };
        let outcome = tokio::select! {
            r = run_live(&mut driver, &mut source, &key, rx, limits, log_progress) => Some(r?),
            _ = shutdown_signal() => None,
        };
        registry.unregister(&key);
        let code = match outcome {
            Some((state, _)) => {
                println!(
                    "rollout {key} finished: {}; serving at {}% canary until stopped",
                    canaryd_driver::replay::phase_detail(&state),
                    router.weight()
                );
                shutdown_signal().await;
                canaryd_driver::replay::outcome_of(&state).exit_code()
            }
            None => {
                println!("stopping: rollout {key} is saved and resumes where it was on the next start");
                2
            }
        };
        router.shutdown().await;
        Ok(code)
    })
}

fn log_progress(p: &Progress) {
    match p {
        Progress::Started { state, applied } => println!(
            "{} {}: {} at {}%",
            if applied.is_some() {
                "started"
            } else {
                "resumed from the database"
            },
            state.key,
            state.phase,
            state.weight
        ),
        Progress::Window { index, applied, .. } => println!(
            "window {index}: {} — {} ({}: {}%)",
            applied
                .judgement
                .as_ref()
                .map(|j| j.verdict.kind().to_string())
                .unwrap_or_default(),
            applied
                .decision
                .as_ref()
                .map(canaryd_driver::replay::describe_decision)
                .unwrap_or_default(),
            applied.state.phase,
            applied.state.weight
        ),
        Progress::SourceFailed { index, error } => {
            println!("window {index}: metrics unreadable: {error}")
        }
        Progress::Operator { command, applied } => println!(
            "operator {} {}: {}",
            command.by,
            command.action,
            applied.refused.clone().unwrap_or_else(|| applied
                .decision
                .as_ref()
                .map(canaryd_driver::replay::describe_decision)
                .unwrap_or_default())
        ),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
