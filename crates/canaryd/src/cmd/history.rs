//! `canaryd history`: past rollouts, newest first, with what ended each one.

use canaryd_core::effect::RollbackCause;
use canaryd_core::rollout::Phase;
use canaryd_core::vocab::{fmt_duration, Timestamp};
use canaryd_driver::driver::decode_state;
use canaryd_store::RolloutFilter;
use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::{fmt, DbArg, Fail};

#[derive(Args)]
pub struct HistoryArgs {
    /// Only rollouts started within this long (e.g. 30d, 12h).
    #[arg(long, default_value = "30d")]
    since: String,
    #[arg(long)]
    workload: Option<String>,
    #[arg(long, value_enum)]
    outcome: Option<OutcomeFilter>,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
    #[command(flatten)]
    db: DbArg,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum OutcomeFilter {
    RolledBack,
    Promoted,
    Paused,
    AwaitingApproval,
    Ramping,
}

impl OutcomeFilter {
    fn phase(self) -> &'static str {
        match self {
            OutcomeFilter::RolledBack => "rolled_back",
            OutcomeFilter::Promoted => "promoted",
            OutcomeFilter::Paused => "paused",
            OutcomeFilter::AwaitingApproval => "awaiting_approval",
            OutcomeFilter::Ramping => "ramping",
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// One rollout as `history` shows it.
#[derive(Serialize)]
pub struct HistoryLine {
    pub started_at: String,
    pub workload: String,
    pub revision: String,
    pub outcome: String,
    pub step: usize,
    /// The weight where it ended (for a rollback: the weight it was rolled back from).
    pub weight: u8,
    /// For a rollback on a breach: the metric, its value, the threshold and the baseline.
    pub trigger: Option<String>,
    pub trigger_metric: Option<String>,
    pub trigger_value: Option<f64>,
    pub trigger_threshold: Option<f64>,
    pub trigger_baseline: Option<f64>,
    /// Start to promotion or rollback.
    pub duration: Option<String>,
    pub duration_s: Option<u64>,
}

pub fn run(args: HistoryArgs) -> Result<u8, Fail> {
    let since = humantime::parse_duration(&args.since).map_err(|e| {
        Fail::invalid(format!(
            "--since {}: {e} (write e.g. 30d, 12h, 90m)",
            args.since
        ))
    })?;
    let store = fmt::open_existing(&args.db.db)?;
    let now = fmt::now();
    let rows = store.list_rollouts(&RolloutFilter {
        workload: args.workload.clone(),
        phase: args.outcome.map(|o| o.phase().to_string()),
        started_since_ms: Some(
            now.0
                .saturating_sub(canaryd_core::vocab::duration_ms(since)),
        ),
        limit: None,
    })?;
    let mut lines = Vec::new();
    for row in &rows {
        let state = decode_state(row)?;
        let mut line = HistoryLine {
            started_at: fmt::time(Timestamp(row.started_at_ms)),
            workload: row.workload.clone(),
            revision: row.revision.clone(),
            outcome: state.phase.name().to_string(),
            step: state.step + 1,
            weight: state.weight,
            trigger: None,
            trigger_metric: None,
            trigger_value: None,
            trigger_threshold: None,
            trigger_baseline: None,
            duration: None,
            duration_s: None,
        };
        if let (Some(s), Some(f)) = (state.started_at, state.finished_at) {
            line.duration = Some(fmt_duration(f.since(s)));
            line.duration_s = Some(f.since(s).as_secs());
        }
        if let Phase::RolledBack { cause, at_weight } = &state.phase {
            line.weight = *at_weight;
            match cause {
                RollbackCause::Breach { evidence, .. } => {
                    if let Some(e) = evidence.first() {
                        line.trigger = Some(format!(
                            "{} {} {} > {}{}",
                            e.metric.name(),
                            e.route,
                            e.metric.fmt_value(e.canary),
                            e.metric.fmt_value(e.threshold),
                            e.baseline
                                .map(|b| format!(" (baseline {})", e.metric.fmt_value(b)))
                                .unwrap_or_default()
                        ));
                        line.trigger_metric = Some(e.metric.name());
                        line.trigger_value = Some(e.canary);
                        line.trigger_threshold = Some(e.threshold);
                        line.trigger_baseline = e.baseline;
                    }
                }
                RollbackCause::Operator { by, reason } => {
                    line.trigger = Some(format!(
                        "aborted by {by}{}",
                        reason
                            .as_ref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    ));
                }
            }
        }
        lines.push(line);
    }
    match args.output {
        Output::Json => {
            for l in &lines {
                println!(
                    "{}",
                    serde_json::to_string(l).map_err(|e| Fail::Operational(e.into()))?
                );
            }
        }
        Output::Table => {
            let rows: Vec<Vec<String>> = lines
                .iter()
                .map(|l| {
                    vec![
                        l.started_at.clone(),
                        l.workload.clone(),
                        l.revision.clone(),
                        l.outcome.clone(),
                        format!("step {} at {}%", l.step, l.weight),
                        l.duration.clone().unwrap_or_else(|| "-".into()),
                        l.trigger.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            print!(
                "{}",
                fmt::table(
                    &["started", "workload", "revision", "outcome", "ended at", "took", "trigger"],
                    &rows
                )
            );
            if lines.is_empty() {
                println!("(no rollouts in the last {})", args.since);
            }
        }
    }
    Ok(0)
}
