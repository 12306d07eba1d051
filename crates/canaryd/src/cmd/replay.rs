//! `canaryd replay SCENARIO`: one line per window, then the outcome.

use canaryd_core::vocab::{RolloutKey, Timestamp};
use canaryd_driver::{run_scenario, ReplayReport, Scenario};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

use crate::{fmt, DbArg, Fail};

#[derive(Args)]
pub struct ReplayArgs {
    scenario: PathBuf,
    #[command(flatten)]
    db: DbArg,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Replay under another revision name (a database keeps one rollout per workload + revision).
    #[arg(long)]
    revision: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

pub fn run(args: ReplayArgs) -> Result<u8, Fail> {
    let mut scenario = Scenario::load(&args.scenario).map_err(|e| Fail::invalid(e.to_string()))?;
    if let Some(r) = args.revision {
        scenario.key = RolloutKey::new(scenario.key.workload.0.clone(), r);
    }
    let store = fmt::open_store(&args.db.db)?;
    if let Some(row) = store.load_rollout(&scenario.key.workload.0, &scenario.key.revision.0)? {
        return Err(Fail::invalid(format!(
            "{} already holds rollout {} (phase {}, started {}); the audit log is append-only, so replay it \
             under another name with --revision NAME, or into another database with --db PATH (or --db :memory:)",
            args.db.db.display(),
            scenario.key,
            row.phase,
            fmt::time(Timestamp(row.started_at_ms)),
        )));
    }
    let start = scenario.start_ms.map(Timestamp).unwrap_or_else(fmt::now);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| Fail::Operational(e.into()))?;
    let report = rt.block_on(run_scenario(&scenario, store, start))?;
    match args.output {
        Output::Table => print_table(&report),
        Output::Json => {
            let line = serde_json::to_string(&report).map_err(|e| Fail::Operational(e.into()))?;
            println!("{line}");
        }
    }
    Ok(report.outcome.exit_code())
}

fn print_table(r: &ReplayReport) {
    println!("{} {} under policy {}", r.workload, r.revision, r.policy);
    let rows: Vec<Vec<String>> = r
        .windows
        .iter()
        .map(|w| {
            vec![
                w.window.to_string(),
                w.step.to_string(),
                format!("{}%", w.weight),
                w.verdict.clone(),
                w.decision.clone(),
                w.reason.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        fmt::table(
            &["window", "step", "weight", "verdict", "decision", "reason"],
            &rows
        )
    );
    for o in &r.operator {
        println!(
            "operator after window {}: {} by {} → {}",
            o.after_window, o.command, o.by, o.decision
        );
    }
    println!("outcome: {}", r.describe());
}
