//! `canaryd backtest --policy P --data FILE`: what a policy would have
//! decided on recorded windows, window by window (see
//! `canaryd_sim::detect::backtest` for the accepted files).

use std::path::{Path, PathBuf};

use canaryd_core::observation::Window;
use canaryd_core::rollout::Event;
use canaryd_core::vocab::{RolloutKey, Timestamp};
use canaryd_core::{OperatorCommand, Policy};
use canaryd_driver::replay::{describe_decision, outcome_of, phase_detail};
use canaryd_driver::scenario::ScenarioStep;
use canaryd_driver::Scenario;
use canaryd_policy::{parse_policy, preset, PRESET_NAMES};
use canaryd_sim::detect::backtest::{
    backtest, parse_audit_export, parse_prometheus, with_start, Backtest, Recorded,
};
use clap::{Args, ValueEnum};
use serde_json::json;

use crate::{fmt, Fail};

/// Virtual start of a scenario file that does not fix one.
const DEFAULT_START_MS: i64 = 1_767_225_600_000;

#[derive(Args)]
pub struct BacktestArgs {
    /// A preset name or a policy file.
    #[arg(long)]
    policy: String,
    /// Recorded windows: a scenario YAML, an audit export (JSON Lines) or a
    /// Prometheus range-query export (JSON).
    #[arg(long)]
    data: PathBuf,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

pub fn run(args: BacktestArgs) -> Result<u8, Fail> {
    let policy = load_policy(&args.policy)?;
    let text = std::fs::read_to_string(&args.data)
        .map_err(|e| Fail::invalid(format!("cannot read {}: {e}", args.data.display())))?;
    let recorded = read_data(&args.data, &text, &policy)?;
    let mut code = 0;
    let mut all = Vec::new();
    for r in &recorded {
        let b = backtest(&policy, r);
        code = code.max(outcome_of(&b.last).exit_code());
        match args.output {
            Output::Table => print_table(&policy, r, &b),
            Output::Json => all.push(to_json(&policy, r, &b)),
        }
    }
    if let Output::Json = args.output {
        let v = if all.len() == 1 {
            all.remove(0)
        } else {
            serde_json::Value::Array(all)
        };
        println!("{v}");
    }
    Ok(code)
}

fn load_policy(arg: &str) -> Result<Policy, Fail> {
    if let Some(p) = preset(arg) {
        return Ok(p);
    }
    let path = Path::new(arg);
    if !path.exists() {
        return Err(Fail::invalid(format!(
            "--policy `{arg}` is neither a preset ({}) nor a file",
            PRESET_NAMES.join(", ")
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Fail::invalid(format!("cannot read policy {}: {e}", path.display())))?;
    parse_policy(&path.display().to_string(), &text).map_err(|e| Fail::invalid(e.to_string()))
}

/// Recognizes the file by its content: a JSON object with `status` is a
/// Prometheus export, JSON Lines with a `payload` an audit export, anything
/// else a scenario YAML.
fn read_data(path: &Path, text: &str, policy: &Policy) -> Result<Vec<Recorded>, Fail> {
    let name = path.display();
    let trimmed = text.trim_start();
    let invalid = |e: String| Fail::invalid(format!("{name}: {e}"));
    if trimmed.starts_with('{') {
        let first = trimmed.lines().next().unwrap_or_default();
        let first_json: Option<serde_json::Value> = serde_json::from_str(first).ok();
        if first_json
            .as_ref()
            .is_some_and(|v| v.get("payload").is_some())
        {
            return parse_audit_export(text).map_err(|e| invalid(e.to_string()));
        }
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "prometheus".into());
        let key = RolloutKey::new("backtest", stem);
        return parse_prometheus(text, key)
            .map(|r| vec![r])
            .map_err(|e| invalid(format!("not a Prometheus range-query export: {e}")));
    }
    let scenario = Scenario::parse(path, text).map_err(|e| Fail::invalid(e.to_string()))?;
    let start = Timestamp(scenario.start_ms.unwrap_or(DEFAULT_START_MS));
    let mut t = start;
    let mut rest = Vec::new();
    for s in scenario.steps {
        match s {
            ScenarioStep::Window(w) => {
                let start = t;
                t = t.plus(policy.window);
                // Windows follow each other, one policy window long, as in `replay`.
                let window = Window {
                    start,
                    end: t,
                    ..*w
                };
                rest.push((t, Event::WindowClosed { window }));
            }
            ScenarioStep::Operator(cmd) => rest.push((t, Event::Operator(cmd))),
        }
    }
    Ok(vec![with_start(
        scenario.key,
        scenario.baseline,
        start,
        rest,
    )])
}

fn print_table(policy: &Policy, r: &Recorded, b: &Backtest) {
    println!("{} under policy {} (backtest)", r.key, policy.name);
    let rows: Vec<Vec<String>> = b
        .windows
        .iter()
        .map(|w| {
            vec![
                w.index.to_string(),
                fmt::time(w.at),
                format!("{}%", w.weight),
                w.judgement.verdict.kind().to_string(),
                w.decision.name().to_string(),
                reason(w),
            ]
        })
        .collect();
    print!(
        "{}",
        fmt::table(
            &["window", "at", "weight", "verdict", "decision", "reason"],
            &rows
        )
    );
    for c in operator_commands(r) {
        println!("operator: {} by {}", c.action, c.by);
    }
    println!("{}", summary(b));
}

fn reason(w: &canaryd_sim::detect::backtest::WindowOutcome) -> String {
    format!(
        "{} — {}",
        w.judgement.verdict.reason(),
        describe_decision(&w.decision)
    )
}

fn operator_commands(r: &Recorded) -> impl Iterator<Item = &OperatorCommand> {
    r.events.iter().filter_map(|(_, e)| match e {
        Event::Operator(c) if c.by != "backtest" => Some(c),
        _ => None,
    })
}

fn summary(b: &Backtest) -> String {
    // Windows that arrive after the end are recorded but not judged.
    let after = b
        .windows
        .iter()
        .rev()
        .find(|w| w.decision.name() != "ignore")
        .map(|w| format!(" after window {}", w.index))
        .unwrap_or_default();
    format!(
        "outcome: {}{after} at {}%: {}",
        outcome_of(&b.last).name(),
        b.last.weight,
        phase_detail(&b.last)
    )
}

fn to_json(policy: &Policy, r: &Recorded, b: &Backtest) -> serde_json::Value {
    json!({
        "workload": r.key.workload.0,
        "revision": r.key.revision.0,
        "policy": policy.name,
        "windows": b.windows.iter().map(|w| json!({
            "window": w.index,
            "at_ms": w.at.0,
            "weight": w.weight,
            "verdict": w.judgement.verdict.kind().to_string(),
            "decision": w.decision.name(),
            "reason": reason(w),
        })).collect::<Vec<_>>(),
        "outcome": outcome_of(&b.last).name(),
        "final_weight": b.last.weight,
        "summary": summary(b),
    })
}
