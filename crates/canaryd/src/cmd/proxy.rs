//! `canaryd proxy`: the production front door for services outside
//! Kubernetes. It steers traffic between a stable and a canary upstream,
//! measures every request, runs the policy through the live loop, and takes
//! operator commands on its API. After the rollout ends it keeps serving at
//! the final split until stopped (Ctrl-C / SIGTERM); stopped or killed
//! mid-rollout, it resumes from the database when started again, serving the
//! stored split from its first request (`proxy_start`). Without `--policy`
//! it is a router only (`proxy_router_only`).

use canaryd_core::vocab::RolloutKey;
use canaryd_driver::{run_live, Driver, LiveLimits, Progress, Request};
use canaryd_notify::{Notifiers, NotifyConfig};
use canaryd_proxy::{Router, RouterConfig};
use canaryd_server::Registry;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::sync::mpsc;

use super::{proxy_history, proxy_release, proxy_start};
use crate::{fmt, DbArg, Fail};
use canaryd_core::policy::BaselinePolicy;
use canaryd_core::rollout::Phase;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

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
    /// The rollout policy. Without one the proxy is a plain measured router,
    /// steered only through `/admin/weight` (e.g. by `canaryd gate` with
    /// `router: embedded`): it runs no rollout of its own.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// The workload's name in the audit log, notifications and commands.
    #[arg(long, default_value = "default/proxy")]
    workload: String,
    /// The canary revision's name (an image tag, a build id). Required with
    /// `--policy`: it keys the audit log and every notification, so it is
    /// never derived from the canary URL, which may carry credentials.
    #[arg(long)]
    revision: Option<String>,
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
    limits: Box<LimitArgs>,
    #[command(flatten)]
    db: DbArg,
}

pub fn run(args: ProxyArgs) -> Result<u8, Fail> {
    crate::log::install();
    let policy = match &args.policy {
        Some(path) => Some(super::policy::load(path)?),
        None => None,
    };
    // Checked first: a rollout needs a name, and it is never a URL.
    let revision = match args.revision.as_deref().map(str::trim) {
        Some(r) if !r.is_empty() => r.to_string(),
        _ if policy.is_none() => String::new(),
        _ => {
            return Err(Fail::invalid(
                "--revision must name the canary revision (e.g. an image tag); \
                 with --policy it keys the audit log and every notification",
            ))
        }
    };
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
        canaryd_secrets::SafeUrl::parse_without_credentials(raw)
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
    args.limits.apply(&mut router_cfg);
    let Some(policy) = policy else {
        return super::proxy_router_only::run(
            router_cfg,
            &stable_url.to_string(),
            &canary_url.to_string(),
        );
    };
    let flags = proxy_release::Current {
        key: RolloutKey::new(args.workload.clone(), revision),
        stable: router_cfg.stable.clone(),
        canary: router_cfg.canary.clone(),
    };

    // Before any listener exists: this process alone writes the database, the
    // release in force is the newest one stored (flags naming a new revision
    // are one), and the router starts at the split the stored state says.
    let mut store = fmt::open_store(&args.db.db)?;
    let lease = proxy_start::take_lease(&args.db.db, &mut store, "canaryd proxy")?;
    let mut current = proxy_release::at_start(&mut store, flags)?;
    router_cfg.stable = current.stable.clone();
    router_cfg.canary = current.canary.clone();
    let stored = proxy_start::load(&store, &current.key)?;
    router_cfg.initial_weight = proxy_start::stored_weight(stored.as_ref());
    let fault = proxy_start::fault_hook()?;
    let in_memory = args.db.db.as_os_str() == ":memory:";
    // Releases are committed on a connection of their own, fenced by the lease.
    let mut release_store = if in_memory {
        None
    } else {
        let mut s = fmt::open_store(&args.db.db)?;
        if let Some(t) = lease.as_ref().and_then(|l| l.token()) {
            s.fence(&t);
        }
        Some(s)
    };

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
        let scrub = Box::new(move |v: &mut serde_json::Value| redactor.redact_json(v));
        let window = policy.window;
        let lookback = match &policy.baseline {
            BaselinePolicy::Required { lookback, .. } => *lookback,
            BaselinePolicy::None => Duration::from_secs(7 * 24 * 3600),
        };
        let mut driver = Driver::new(store, Box::new(router.clone()), Box::new(notifiers), policy)?.with_scrubber(scrub);
        if let Some(hook) = fault {
            driver = driver.with_after_commit(hook);
        }
        if let Some(s) = &stored {
            println!(
                "stored state of {}: {} at {}%; serving {}% to the canary from the first request",
                current.key,
                s.phase,
                s.weight,
                router.weight()
            );
        }

        let registry = Registry::default();
        if token.is_none() {
            eprintln!("warning: no API token (--api-token-file or CANARYD_API_TOKEN): operator commands will be refused");
        }
        let (release_tx, mut releases) = mpsc::channel::<proxy_release::Asked>(4);
        let api = canaryd_server::router(registry.clone(), token.clone()).merge(
            proxy_release::routes(token, current.key.workload.0.clone(), release_tx),
        );
        let listener = tokio::net::TcpListener::bind(args.api_listen)
            .await
            .map_err(|e| Fail::invalid(format!("cannot listen for the API on {}: {e}", args.api_listen)))?;
        tokio::spawn(async move {
            if let Err(e) = canaryd_server::serve(listener, api).await {
                eprintln!("canaryd proxy: the API stopped: {e}");
            }
        });
        println!(
            "canaryd proxy: {} → stable {} / canary {}; rollout {}; API on {}",
            router.url(),
            current.stable,
            current.canary,
            current.key,
            args.api_listen
        );

        // The stable cohort is recorded all the time; it is the next release's baseline.
        let canary_is_stable = Arc::new(AtomicBool::new(matches!(
            stored.as_ref().map(|s| &s.phase),
            Some(Phase::Promoted { .. })
        )));
        if !in_memory {
            proxy_history::spawn_recorder(
                &router,
                &args.db.db,
                current.key.workload.0.clone(),
                window,
                lookback,
                canary_is_stable.clone(),
            )?;
        }
        let mut source = proxy_history::HistorySource {
            inner: router.metrics_source(),
            store: if in_memory { None } else { Some(fmt::open_store(&args.db.db)?) },
            workload: current.key.workload.0.clone(),
            lookback,
        };
        let limits = LiveLimits { idle_windows: None, max_windows: None };
        let stop = shutdown_signal();
        tokio::pin!(stop);
        let status = proxy_release::Status::default();
        // One rollout after another, each started by a release, until stopped.
        let code = 'releases: loop {
            let key = current.key.clone();
            let (tx, rx) = mpsc::channel::<Request>(16);
            registry.register(key.clone(), tx);
            let progress = |p: &Progress| {
                log_progress(p);
                note_state(&status, p);
            };
            let live = run_live(&mut driver, &mut source, &key, rx, limits, progress);
            tokio::pin!(live);
            let outcome = loop {
                tokio::select! {
                    r = &mut live => break Some(r?),
                    Some(asked) = releases.recv() => proxy_release::while_in_progress(&current, &status, asked),
                    _ = &mut stop => break None,
                }
            };
            registry.unregister(&key);
            let Some((state, _)) = outcome else {
                println!("stopping: rollout {key} is saved and resumes where it was on the next start");
                break 2;
            };
            if matches!(state.phase, Phase::Promoted { .. }) {
                canary_is_stable.store(true, Ordering::SeqCst);
            }
            println!(
                "rollout {key} finished: {}; serving at {}% canary until stopped or a new canary is released",
                canaryd_driver::replay::phase_detail(&state),
                router.weight()
            );
            loop {
                tokio::select! {
                    Some(asked) = releases.recv() => {
                        if let Some(next) = proxy_release::take(release_store.as_mut(), &router, &current, &state, asked) {
                            canary_is_stable.store(false, Ordering::SeqCst);
                            current = next;
                            continue 'releases;
                        }
                    }
                    _ = &mut stop => break 'releases canaryd_driver::replay::outcome_of(&state).exit_code(),
                }
            }
        };
        router.shutdown().await;
        if let Some(l) = &lease {
            l.release();
        }
        Ok(code)
    })
}

/// Keeps the running rollout's phase for a release refused meanwhile.
fn note_state(status: &proxy_release::Status, p: &Progress) {
    match p {
        Progress::Started { state, .. } => status.set(state),
        Progress::Window { applied, .. } | Progress::Operator { applied, .. } => {
            status.set(&applied.state)
        }
        Progress::BaselineChecked { applied } => status.set(&applied.state),
        Progress::SourceFailed { .. } | Progress::StoreFailed { .. } => {}
    }
}

/// Deadlines and the connection cap of the router's listeners.
#[derive(Args)]
struct LimitArgs {
    /// How long an upstream may take to send response headers; past it the
    /// client gets 504, counted as an error of that revision (a hung canary
    /// shows up as errors, not as silence).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "8s")]
    upstream_timeout: std::time::Duration,
    /// A client must send a request's headers within this long of
    /// connecting (or of its previous response), else it is closed.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    header_timeout: std::time::Duration,
    /// Keep-alive connections with no request in flight close after this long.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    idle_timeout: std::time::Duration,
    /// Open client connections at most; past it new ones wait in the listen
    /// backlog and a log line says so (default: what the process's
    /// file-descriptor limit allows, two per connection).
    #[arg(long)]
    max_connections: Option<usize>,
}

impl LimitArgs {
    fn apply(&self, cfg: &mut RouterConfig) {
        cfg.upstream_timeout = self.upstream_timeout;
        for l in [&mut cfg.limits, &mut cfg.admin_limits] {
            l.header_timeout = self.header_timeout;
            l.idle_timeout = self.idle_timeout;
        }
        if let Some(n) = self.max_connections {
            cfg.limits.max_connections = n;
        }
    }
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
        Progress::StoreFailed {
            index,
            error,
            weight,
        } => eprintln!(
            "window {index}: the database cannot commit ({error}): the rollout is paused, \
             the router holds the last committed split ({weight}%) and nothing is decided \
             until commits succeed again"
        ),
        Progress::BaselineChecked { applied } => {
            if let Some(d @ canaryd_core::effect::Decision::BaselineAvailable { .. }) =
                &applied.decision
            {
                println!("{}", canaryd_driver::replay::describe_decision(d));
            }
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

pub(crate) async fn shutdown_signal() {
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
