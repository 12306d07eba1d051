//! `canaryd serve --policy FILE`: canaryd as the analysis brain of Argo
//! Rollouts and Flagger.
//!
//! Argo (through its `web` metric provider) and Flagger (through its
//! webhooks) keep moving the traffic; canaryd answers their questions from
//! windows it reads through the policy's `source:` and judges with the core.
//! The first question about a canary starts watching it; every window is
//! audited like any rollout. The operator API (approve, abort, ...) is served
//! on the same listener. See README "Argo Rollouts" and "Flagger".

use canaryd_core::vocab::RolloutKey;
use canaryd_notify::Notifiers;
use canaryd_ports::{MetricsSource, SourceError};
use canaryd_server::{AnalysisConfig, AnalysisService, Registry, SourceFactory};
use canaryd_sources::config::SourceConfig;
use clap::Args;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::{fmt, DbArg, Fail};

#[derive(Args)]
pub struct ServeArgs {
    /// The policy every watched canary is judged by; its `source:` says
    /// where the numbers come from, its `notify:` who is told.
    #[arg(long)]
    policy: PathBuf,
    #[arg(long, default_value = "127.0.0.1:7431")]
    listen: SocketAddr,
    /// File holding the operator token (approve, abort, ...; else $CANARYD_API_TOKEN).
    #[arg(long)]
    api_token_file: Option<PathBuf>,
    /// File holding the token Argo Rollouts and Flagger present (else
    /// $CANARYD_INTEGRATION_TOKEN). It only asks questions; keep the operator
    /// token out of cluster manifests.
    #[arg(long)]
    integration_token_file: Option<PathBuf>,
    /// At most this many canaries watched at once.
    #[arg(long, default_value_t = 1000)]
    max_watches: usize,
    #[command(flatten)]
    db: DbArg,
}

/// Builds each watched canary's source from the policy's `source:`, with the
/// stable revision the integration named as the baseline cohort.
struct Factory {
    source: SourceConfig,
    lookback: Option<std::time::Duration>,
}

impl SourceFactory for Factory {
    fn source_for(
        &self,
        key: &RolloutKey,
        stable: &str,
    ) -> Result<Box<dyn MetricsSource>, SourceError> {
        self.source
            .with_baseline(stable)
            .connect(key, self.lookback)
            .map(|c| c.source)
            // The section was checked at start; what fails here is a secret
            // that went away since, which needs a human.
            .map_err(|e| SourceError::permanent(e.to_string()))
    }
}

/// A notifier per watched canary (`Notifiers` holds per-rollout incident
/// state), built from the policy's `notify:` section.
fn notifiers_for(policy: &Path) -> Notifiers {
    let built = crate::policy_file::load(policy)
        .ok()
        .and_then(|f| f.notify)
        .map(Notifiers::from_config);
    match built {
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("warning: notifications disabled for this canary: {e}");
            fallback()
        }
        None => fallback(),
    }
}

fn fallback() -> Notifiers {
    match Notifiers::empty(Default::default()) {
        Ok(n) => n,
        // Checked at start (`run`): building the same client again cannot
        // fail unless the process ran out of resources.
        Err(e) => panic!("cannot build an HTTP client: {e}"),
    }
}

pub fn run(args: ServeArgs) -> Result<u8, Fail> {
    let mut file = crate::policy_file::load(&args.policy)?;
    let source = file.source.clone().ok_or_else(|| {
        Fail::invalid(format!(
            "{}: `canaryd serve` reads metrics from the policy's `source:` section, and it has none",
            args.policy.display()
        ))
    })?;
    // Load the secrets once now, so a missing one is an error at start and
    // not at the first question.
    let connected = source
        .connect(&RolloutKey::new("check", "check"), None)
        .map_err(|e| Fail::invalid(format!("{}: {e}", args.policy.display())))?;
    // Every configured secret, for what is audited: a Flagger message or a
    // source's error may quote any of them.
    let mut redactor = canaryd_secrets::Redactor::new();
    connected.secrets.iter().for_each(|s| redactor.add(s));
    if let Some(n) = file.notify.take().map(Notifiers::from_config) {
        let n = n.map_err(|e| Fail::invalid(format!("{}: notify: {e}", args.policy.display())))?;
        for w in &n.warnings {
            eprintln!("warning: {w}");
        }
        redactor.merge(n.redactor());
    }
    let operator = fmt::read_token(
        args.api_token_file.as_deref(),
        "CANARYD_API_TOKEN",
        "--api-token-file",
    )?;
    let integration = fmt::read_token(
        args.integration_token_file.as_deref(),
        "CANARYD_INTEGRATION_TOKEN",
        "--integration-token-file",
    )?;
    operator
        .iter()
        .chain(integration.iter())
        .for_each(|s| redactor.add(s));
    if integration.is_none() {
        eprintln!("warning: no integration token (--integration-token-file or CANARYD_INTEGRATION_TOKEN): Argo and Flagger questions will be refused (401)");
    }
    // What the per-canary fallback below needs, checked once at start.
    drop(Notifiers::empty(Default::default()).map_err(|e| Fail::Operational(e.into()))?);
    // Make sure the database opens (and is migrated) before serving.
    drop(fmt::open_store(&args.db.db)?);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Fail::Operational(e.into()))?;
    let watch_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("canaryd-watch")
        .enable_all()
        .build()
        .map_err(|e| Fail::Operational(e.into()))?;
    let lookback = match &file.policy.baseline {
        canaryd_core::policy::BaselinePolicy::Required { lookback, .. } => Some(*lookback),
        canaryd_core::policy::BaselinePolicy::None => None,
    };
    let mut config = AnalysisConfig::new(args.db.db.clone(), file.policy);
    config.max_watches = args.max_watches;
    config.watch_runtime = Some(watch_rt.handle().clone());
    config.redactor = redactor;
    let policy_path = args.policy.clone();
    let code = rt.block_on(async move {
        let service = AnalysisService::new(
            Factory { source, lookback },
            move |_key: &RolloutKey| notifiers_for(&policy_path),
            Registry::default(),
            config,
        );
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| Fail::invalid(format!("cannot listen on {}: {e}", args.listen)))?;
        println!(
            "canaryd serve: Argo Rollouts analysis on http://{}/api/v1/argo/analysis, Flagger webhooks under /api/v1/flagger/, operator API under /api/v1/commands",
            args.listen
        );
        tokio::select! {
            r = canaryd_server::serve_analysis(listener, operator, integration, service) => {
                r.map_err(|e| Fail::Operational(e.into()))?;
                Ok::<u8, Fail>(0)
            }
            _ = tokio::signal::ctrl_c() => {
                println!("stopping: watched canaries resume from the database on the next start");
                Ok(0)
            }
        }
    })?;
    drop(watch_rt);
    Ok(code)
}
