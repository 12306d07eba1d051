//! The `canaryd` binary: argument parsing and wiring only. Every decision is
//! made in `canaryd-core`, every side effect goes through `canaryd-driver`.
//!
//! Exit codes are part of the interface (CI pipelines branch on them):
//! 0 promoted / ok, 1 rolled back / audit broken / test mismatch,
//! 2 paused, awaiting approval or still in progress, 3 invalid input,
//! 4 an operational failure (database unreadable, disk full).

mod cmd;
mod fail;
mod fmt;

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
    /// Check, show or test policies.
    #[command(subcommand)]
    Policy(cmd::policy::PolicyCmd),
    /// Replay a scenario file through the real driver and store, in virtual time.
    Replay(cmd::replay::ReplayArgs),
    /// Verify or export the audit log.
    #[command(subcommand)]
    Audit(cmd::audit::AuditCmd),
    /// Past rollouts, newest first.
    History(cmd::history::HistoryArgs),
    /// The whole story of one rollout, window by window.
    Report(cmd::report::ReportArgs),
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
        Command::Policy(c) => cmd::policy::run(c),
        Command::Replay(a) => cmd::replay::run(a),
        Command::Audit(c) => cmd::audit::run(c),
        Command::History(a) => cmd::history::run(a),
        Command::Report(a) => cmd::report::run(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(fail) => {
            eprintln!("canaryd: {fail}");
            ExitCode::from(fail.code())
        }
    }
}
