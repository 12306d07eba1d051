//! The `canaryd` binary: argument parsing and wiring only. Every decision is
//! made in `canaryd-core`, every side effect goes through `canaryd-driver`.
//!
//! Exit codes are part of the interface (CI pipelines branch on them):
//! 0 promoted / ok, 1 rolled back / audit broken / test mismatch,
//! 2 paused, awaiting approval or still in progress, 3 invalid input,
//! 4 an operational failure (database unreadable, disk full).

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod cmd;
mod demo;
mod fail;
mod fmt;
mod log;
mod policy_file;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

pub use fail::Fail;

/// Where the embedded store lives unless `--db` says otherwise.
pub const DEFAULT_DB: &str = "./canaryd-data/canaryd.db";

#[derive(Parser)]
#[command(name = "canaryd", version, about = "Canary releases gated on live service signals", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A whole canary release on loopback: sample services, router, load, decisions.
    Demo(demo::DemoArgs),
    /// The production front door: steer and measure traffic, run a policy, take operator commands.
    Proxy(cmd::proxy::ProxyArgs),
    /// Check, show or test policies.
    #[command(subcommand)]
    Policy(cmd::policy::PolicyCmd),
    /// One rollout as a CI/CD step against the policy's Prometheus or Datadog source; blocks until decided.
    Gate(cmd::gate::GateArgs),
    /// Check a policy against the real world before trusting it: data for both cohorts, traffic split, baseline, notifications.
    Doctor(cmd::doctor::DoctorArgs),
    /// The analysis service for Argo Rollouts (web metric) and Flagger (webhooks), with the operator API.
    Serve(cmd::serve::ServeArgs),
    /// Replay a scenario file through the real driver and store, in virtual time.
    Replay(cmd::replay::ReplayArgs),
    /// Verify or export the audit log.
    #[command(subcommand)]
    Audit(cmd::audit::AuditCmd),
    /// The Kubernetes controller: roll out every Canary's new revisions, with leader election.
    Controller(cmd::controller::ControllerArgs),
    /// Print the Canary CustomResourceDefinition (YAML) for `kubectl apply -f -`.
    Crd,
    /// Past rollouts, newest first.
    History(cmd::history::HistoryArgs),
    /// The whole story of one rollout, window by window.
    Report(cmd::report::ReportArgs),
    /// Run the demo service (one revision) with fault injection.
    SampleApp(cmd::sample_app::SampleAppArgs),
    /// Open-loop HTTP load: fixed arrival rate, route mix, latency summary.
    Load(cmd::load::LoadArgs),
    /// Let a rollout that awaits approval start ramping (via a running canaryd's API).
    Approve(cmd::operator::OperatorArgs),
    /// Continue a paused rollout from its current step.
    Resume(cmd::operator::OperatorArgs),
    /// Roll a rollout back now.
    Abort(cmd::operator::OperatorArgs),
    /// Promote a rollout now, skipping the rest of its ladder.
    Promote(cmd::operator::OperatorArgs),
    /// Give a running `canaryd proxy` a new canary (upstream URL and revision) without a restart; its rollout starts at 0%.
    Release(cmd::release::ReleaseArgs),
    /// Run a statistical test by hand (Mann-Whitney, KS, Fisher, ...).
    #[command(subcommand)]
    Stats(cmd::stats::StatsCmd),
    /// Replay recorded windows (scenario, audit export, Prometheus export) through a policy.
    Backtest(cmd::backtest::BacktestArgs),
    /// Benchmarks: `bench detect` compares policies on simulated rollouts.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCmd),
}

#[derive(clap::Args, Clone)]
pub struct DbArg {
    /// SQLite database file (`:memory:` for a throwaway one).
    #[arg(long, default_value = DEFAULT_DB)]
    pub db: PathBuf,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 3 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Proxy(a) => cmd::proxy::run(a),
        Command::Policy(c) => cmd::policy::run(c),
        Command::Gate(a) => cmd::gate::run(a),
        Command::Doctor(a) => cmd::doctor::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Replay(a) => cmd::replay::run(a),
        Command::Audit(c) => cmd::audit::run(c),
        Command::Controller(a) => cmd::controller::run(a),
        Command::Crd => cmd::crd::run(),
        Command::History(a) => cmd::history::run(a),
        Command::Report(a) => cmd::report::run(a),
        Command::Approve(a) => cmd::operator::run("approve", a),
        Command::Resume(a) => cmd::operator::run("resume", a),
        Command::Abort(a) => cmd::operator::run("abort", a),
        Command::Promote(a) => cmd::operator::run("promote", a),
        Command::Release(a) => cmd::release::run(a),
        Command::SampleApp(a) => cmd::sample_app::run(a),
        Command::Load(a) => cmd::load::run(a),
        Command::Stats(c) => cmd::stats::run(c),
        Command::Backtest(a) => cmd::backtest::run(a),
        Command::Bench(c) => cmd::bench::run(c),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(fail) => {
            eprintln!("canaryd: {fail}");
            ExitCode::from(fail.code())
        }
    }
}
