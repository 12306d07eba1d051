//! `canaryd gate --policy FILE`: one rollout as a CI/CD step.
//!
//! The numbers come from the policy's `source:` (Prometheus or Datadog), the
//! traffic is moved by its `router:` (the embedded router's admin API, exec
//! commands, webhooks, or `none`), notices go to its `notify:`. The step
//! blocks until the rollout is decided and exits as `canaryd replay` does:
//! 0 promoted, 1 rolled back, 2 needs a human (paused or awaiting approval
//! for longer than `--max-idle-windows`), 3 invalid input, 4 operational.
//!
//! `--dry-run` is shadow mode: every window is judged, audited and reported,
//! and the router only records what it would have done.
//!
//! Re-running the step for the same workload and revision continues the
//! rollout from the database (a killed job loses nothing), or, when it has
//! already finished, reports the recorded outcome again without acting.

use canaryd_core::vocab::RolloutKey;
use canaryd_driver::replay::{
    describe_decision, outcome_of, phase_detail, OperatorLine, WindowLine,
};
use canaryd_driver::{
    run_live, CachedBaseline, Driver, LiveLimits, Progress, ReplayReport, Request, Stopped,
};
use canaryd_notify::Notifiers;
use canaryd_ports::{MetricsSource, TrafficRouter};
use canaryd_routers::config::ExternalConfig;
use canaryd_routers::{RouterConfig, ShadowRouter};
use canaryd_secrets::Secret;
use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;

use crate::demo::output::WindowRow;
use crate::policy_file::PolicyFile;
use crate::{fmt, DbArg, Fail};

#[derive(Args)]
pub struct GateArgs {
    #[arg(long)]
    policy: PathBuf,
    /// The workload, as the source's `{workload}` placeholder and the audit log name it.
    #[arg(long, env = "CANARYD_WORKLOAD", default_value = "default/app")]
    workload: String,
    /// The canary revision (the cohort label value of the canary, e.g. an image tag or a
    /// pod-template hash).
    #[arg(long, env = "CANARYD_REVISION")]
    revision: String,
    /// Judge and report, but never move traffic (shadow mode).
    #[arg(long)]
    dry_run: bool,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Give up (exit 2) after this many windows in a row spent paused or
    /// awaiting approval. A pause for collector trouble resumes on its own
    /// when `collectors.auto_resume` is set, so this is how long a pipeline
    /// waits for monitoring to come back or for a human.
    #[arg(long, default_value_t = 30)]
    max_idle_windows: u32,
    /// How long a baseline read from the source is reused by later rollouts
    /// of the same workload.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    baseline_ttl: Duration,
    /// Serve the operator API here while the gate runs, so `canaryd approve`,
    /// `resume`, `abort` and `promote` reach this rollout.
    #[arg(long)]
    api_listen: Option<SocketAddr>,
    /// File holding the API bearer token (else $CANARYD_API_TOKEN).
    #[arg(long)]
    api_token_file: Option<PathBuf>,
    #[command(flatten)]
    db: DbArg,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

pub fn run(args: GateArgs) -> Result<u8, Fail> {
    let file = crate::policy_file::load(&args.policy)?;
    let key = RolloutKey::new(args.workload.clone(), args.revision.clone());
    let PolicyFile {
        path,
        policy,
        source,
        router,
        notify,
    } = file;
    let source_cfg = source.ok_or_else(|| {
        Fail::invalid(format!(
            "{}: `canaryd gate` reads metrics from the policy's `source:` section \
             (`prometheus:` or `datadog:`), and this policy has none",
            path.display()
        ))
    })?;
    let router_cfg = match (router, args.dry_run) {
        (Some(r), _) => r,
        (None, true) => RouterConfig::External(ExternalConfig::default()),
        (None, false) => {
            return Err(Fail::invalid(format!(
                "{}: no `router:` section, so canaryd cannot move traffic; add one \
                 (`embedded`, `exec`, `webhook`, or `none: {{}}` when something else moves it) \
                 or run with --dry-run",
                path.display()
            )))
        }
    };
    let source = crate::policy_file::connect(&path, &policy, &source_cfg, &key)?;
    let notifiers = match notify {
        Some(cfg) => Notifiers::from_config(cfg).map_err(|e| Fail::invalid(e.to_string()))?,
        None => Notifiers::empty(Default::default()).map_err(|e| Fail::Operational(e.into()))?,
    }
    // Operator commands reach a gate only through its --api-listen.
    .with_surface(canaryd_ports::Surface::Gate);
    for w in &notifiers.warnings {
        eprintln!("warning: {w}");
    }
    let token = fmt::read_token(
        args.api_token_file.as_deref(),
        "CANARYD_API_TOKEN",
        "--api-token-file",
    )?;
    // Built before anything runs: a router whose secrets cannot be loaded is
    // a configuration error (exit 3), not a failure at the first step.
    // In a dry run the shadow router records what the real one would do;
    // the driver gets one handle on it, the summary reads the other.
    let (router, router_secrets, shadow): (Box<dyn TrafficRouter>, _, _) = if args.dry_run {
        let shadow = ShadowRouter::new(&router_cfg).map_err(|e| Fail::invalid(e.to_string()))?;
        (Box::new(shadow.clone()), Vec::new(), Some(shadow))
    } else {
        let built =
            canaryd_routers::build(&router_cfg).map_err(|e| Fail::invalid(e.to_string()))?;
        for w in &built.warnings {
            eprintln!("warning: {w}");
        }
        (built.router, built.secrets, None)
    };
    let mut redactor = notifiers.redactor().clone();
    for s in source
        .secrets
        .iter()
        .chain(token.iter())
        .chain(router_secrets.iter())
    {
        redactor.add(s);
    }

    let store = fmt::open_store(&args.db.db)?;
    let existing = store.load_rollout(&key.workload.0, &key.revision.0)?;
    if let Some(row) = &existing {
        if row.finished_at_ms.is_some() {
            let state = canaryd_driver::driver::decode_state(row)?;
            let outcome = outcome_of(&state);
            eprintln!(
                "rollout {key} already finished ({}); reporting the recorded outcome, not acting again",
                phase_detail(&state)
            );
            let report = report_of(&key, &policy.name, &state, Vec::new(), Vec::new());
            print_end(&report, args.output, &args.db.db, None)?;
            return Ok(outcome.exit_code());
        }
    }
    // The baseline cache uses a connection of its own on the same database.
    let cache_store = fmt::open_store(&args.db.db)?;
    let fingerprint = source_cfg.fingerprint();
    let mut source = CachedBaseline::new(
        source.source,
        cache_store,
        fingerprint,
        args.baseline_ttl,
        canaryd_driver::live::wall_clock,
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Fail::Operational(e.into()))?;
    rt.block_on(async move {
        let scrub = Box::new(move |v: &mut serde_json::Value| redactor.redact_json(v));
        let ctx = Ctx {
            key,
            policy_name: policy.name.clone(),
            output: args.output,
            db: args.db.db.clone(),
            limits: LiveLimits {
                idle_windows: Some(args.max_idle_windows.max(1)),
                max_windows: None,
            },
            api: args.api_listen.map(|a| (a, token)),
        };
        let mut driver =
            Driver::new(store, router, Box::new(notifiers), policy)?.with_scrubber(scrub);
        let code = drive(&mut driver, &mut source, &ctx).await?;
        if let Some(shadow) = shadow {
            let say = |line: String| {
                if ctx.output == Output::Table {
                    println!("{line}");
                } else {
                    eprintln!("{line}");
                }
            };
            say("dry run: canaryd moved no traffic; it would have:".into());
            for p in shadow.planned() {
                say(format!("  {} → {}", p.action, p.would));
            }
        }
        Ok(code)
    })
}

struct Ctx {
    key: RolloutKey,
    policy_name: String,
    output: Output,
    db: PathBuf,
    limits: LiveLimits,
    api: Option<(SocketAddr, Option<Secret>)>,
}

async fn drive(driver: &mut Driver, source: &mut dyn MetricsSource, ctx: &Ctx) -> Result<u8, Fail> {
    let (tx, rx) = mpsc::channel::<Request>(16);
    if let Some((addr, token)) = &ctx.api {
        let registry = canaryd_server::Registry::default();
        registry.register(ctx.key.clone(), tx.clone());
        let api = canaryd_server::router(registry, token.clone());
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Fail::invalid(format!("cannot listen for the API on {addr}: {e}")))?;
        if token.is_none() {
            eprintln!("warning: no API token (--api-token-file or CANARYD_API_TOKEN): operator commands will be refused");
        }
        tokio::spawn(async move {
            if let Err(e) = canaryd_server::serve(listener, api).await {
                eprintln!("canaryd gate: the API stopped: {e}");
            }
        });
    }
    let table = ctx.output == Output::Table;
    if table {
        println!(
            "canaryd gate: rollout {} under policy {} ({}); audit log in {}",
            ctx.key,
            ctx.policy_name,
            driver.policy().summary(),
            ctx.db.display()
        );
    }
    let mut windows = Vec::new();
    let mut operator = Vec::new();
    let (state, stopped) = run_live(driver, source, &ctx.key, rx, ctx.limits, |p| {
        let line = progress_line(p, &mut windows, &mut operator);
        if let Some(line) = line {
            // Progress goes to stdout in table mode and to stderr in JSON
            // mode, so stdout stays one parseable summary object.
            if table {
                println!("{line}");
            } else {
                eprintln!("{line}");
            }
        }
    })
    .await?;
    drop(tx);
    let report = report_of(&ctx.key, &ctx.policy_name, &state, windows, operator);
    print_end(&report, ctx.output, &ctx.db, Some(stopped))?;
    let code = match stopped {
        Stopped::Finished => report.outcome.exit_code(),
        // Paused or awaiting a human for too long, or stopped early: not decided.
        _ => 2,
    };
    Ok(code)
}

fn progress_line(
    p: &Progress,
    windows: &mut Vec<WindowLine>,
    operator: &mut Vec<OperatorLine>,
) -> Option<String> {
    match p {
        Progress::Started { state, .. } => Some(format!("started: {}", phase_detail(state))),
        Progress::Window {
            index,
            window,
            applied,
        } => {
            // The same row the demo prints: weight measured at, verdict,
            // reason, decision, requests per cohort.
            let row = WindowRow::new(*index, window, applied);
            let line = format!(
                "window {index:>3}  {:>3}%  {:<12} canary {} req, baseline {} req  {}{}",
                row.weight,
                row.verdict,
                row.canary_requests,
                row.baseline_requests,
                if row.decision.is_empty() {
                    String::new()
                } else {
                    format!("→ {}", row.decision)
                },
                if row.reason.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", row.reason)
                },
            );
            windows.push(WindowLine {
                window: *index,
                step: applied.state.step,
                weight: row.weight,
                verdict: row.verdict,
                reason: row.reason,
                decision: row.decision,
            });
            Some(line)
        }
        // Before the first window the rollout has not started: nothing is
        // judged, the start waits for a readable baseline.
        Progress::SourceFailed { index: 0, error } => {
            Some(format!("not started  the source failed: {error}"))
        }
        Progress::SourceFailed { index, error } => Some(format!(
            "window {index:>3}  the source failed: {error} (judged unreliable)"
        )),
        Progress::StoreFailed {
            index,
            error,
            weight,
        } => Some(format!(
            "window {index:>3}  the database cannot commit: {error} (holding {weight}%, nothing decided)"
        )),
        // Said once, when the wait ends; a baseline still thin is in the audit log.
        Progress::BaselineChecked { applied } => match &applied.decision {
            Some(d @ canaryd_core::effect::Decision::BaselineAvailable { .. }) => {
                Some(describe_decision(d))
            }
            _ => None,
        },
        Progress::Operator { command, applied } => {
            let decision = applied
                .decision
                .as_ref()
                .map(describe_decision)
                .unwrap_or_default();
            operator.push(OperatorLine {
                after_window: windows.last().map_or(0, |w| w.window),
                command: command.action.to_string(),
                by: command.by.clone(),
                decision: decision.clone(),
                refused: applied.refused.clone(),
            });
            Some(format!(
                "operator {} by {}: {}",
                command.action,
                command.by,
                applied.refused.clone().unwrap_or(decision)
            ))
        }
    }
}

fn report_of(
    key: &RolloutKey,
    policy: &str,
    state: &canaryd_core::Rollout,
    windows: Vec<WindowLine>,
    operator: Vec<OperatorLine>,
) -> ReplayReport {
    let outcome = outcome_of(state);
    let decided = matches!(
        outcome,
        canaryd_driver::Outcome::Promoted | canaryd_driver::Outcome::RolledBack
    );
    ReplayReport {
        workload: key.workload.0.clone(),
        revision: key.revision.0.clone(),
        policy: policy.to_string(),
        outcome,
        after_window: if decided {
            windows.last().map(|w| w.window)
        } else {
            None
        },
        final_weight: state.weight,
        phase_detail: phase_detail(state),
        windows,
        operator,
        notices: Vec::new(),
    }
}

fn print_end(
    r: &ReplayReport,
    output: Output,
    db: &std::path::Path,
    stopped: Option<Stopped>,
) -> Result<(), Fail> {
    match output {
        Output::Json => {
            let line = serde_json::to_string(r).map_err(|e| Fail::Operational(e.into()))?;
            println!("{line}");
        }
        Output::Table => {
            println!("outcome: {}", r.describe());
            let never_started =
                matches!(r.outcome, canaryd_driver::Outcome::InProgress) && r.windows.is_empty();
            if matches!(stopped, Some(Stopped::NeedsHuman)) && never_started {
                println!(
                    "nothing was started: the baseline could not be read from the metrics \
                     source (the error is above); fix the source and re-run this step"
                );
            } else if matches!(stopped, Some(Stopped::NeedsHuman)) {
                println!(
                    "the rollout needs a human: approve, resume, abort or promote it \
                     (`canaryd approve {} {}` against a running gate's --api-listen), \
                     or re-run this step to keep waiting",
                    r.workload, r.revision
                );
            }
            println!(
                "audit: canaryd report {} {} --db {}",
                r.workload,
                r.revision,
                db.display()
            );
        }
    }
    Ok(())
}
