//! What the demo shows: live progress while it runs, the report at the end.

use canaryd_core::effect::Decision;
use canaryd_core::observation::Window;
use canaryd_core::vocab::{fmt_duration, RolloutKey};
use canaryd_core::Policy;
use canaryd_driver::replay::describe_decision;
use canaryd_driver::{Applied, Outcome, Progress};
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::time::Duration;

use super::scenario::DemoScenario;
use crate::Fail;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// One window as the demo reports it.
#[derive(Debug, Clone, Serialize)]
pub struct WindowRow {
    pub window: u32,
    pub weight: u8,
    pub verdict: String,
    pub reason: String,
    pub decision: String,
    pub canary_requests: u64,
    pub baseline_requests: u64,
    #[serde(skip)]
    pub decision_changed_phase: bool,
}

impl WindowRow {
    pub fn new(index: u32, window: &Window, applied: &Applied) -> WindowRow {
        let (canary, baseline) = window.requests();
        let weight = match applied.decision {
            // The weight the window was measured at, not the one it moved to.
            Some(Decision::Advance { from, .. }) => from,
            _ => applied.state.weight,
        };
        let weight = if matches!(applied.decision, Some(Decision::RollBack { .. })) {
            match &applied.state.phase {
                canaryd_core::Phase::RolledBack { at_weight, .. } => *at_weight,
                _ => weight,
            }
        } else {
            weight
        };
        WindowRow {
            window: index,
            weight,
            verdict: applied
                .judgement
                .as_ref()
                .map(|j| j.verdict.kind().to_string())
                .unwrap_or_default(),
            reason: applied
                .judgement
                .as_ref()
                .map(|j| j.verdict.reason())
                .unwrap_or_default(),
            decision: applied
                .decision
                .as_ref()
                .map(describe_decision)
                .unwrap_or_default(),
            canary_requests: canary,
            baseline_requests: baseline,
            decision_changed_phase: matches!(
                applied.decision,
                Some(Decision::RollBack { .. } | Decision::Promote { .. } | Decision::Pause { .. })
            ),
        }
    }
}

/// The end of a demo run: what `--output json` prints as its last line.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    pub scenario: String,
    pub workload: String,
    pub revision: String,
    pub outcome: Outcome,
    pub after_window: Option<u32>,
    pub final_weight: u8,
    pub detail: String,
    pub windows: Vec<WindowRow>,
    /// From the close of the deciding window to the router sending no new
    /// request to the canary (judging, committing and acting included).
    pub rollback_latency_ms: Option<f64>,
    /// Requests the router sent to the canary after the rollback took effect.
    pub canary_requests_after_decision: Option<u64>,
    pub requests_sent: u64,
    pub duration_s: f64,
    pub db: String,
}

/// Live progress on stderr (a spinner and one line per window), or nothing
/// when the output is JSON.
pub struct Live {
    bar: Option<ProgressBar>,
}

impl Live {
    pub fn new(output: Output, scenario: DemoScenario, key: &RolloutKey, policy: &Policy) -> Live {
        if output == Output::Json {
            return Live { bar: None };
        }
        println!(
            "canaryd demo — scenario {}: {}",
            scenario.name(),
            scenario.story()
        );
        println!(
            "rollout {key}: ladder {}, windows of {}, {} req/s of open-loop load on 127.0.0.1\n",
            policy.ramp.describe(),
            fmt_duration(policy.window),
            scenario.rps()
        );
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar.set_message("measuring stable traffic…");
        Live { bar: Some(bar) }
    }

    /// A line above the spinner, or plainly when stderr is not a terminal
    /// (indicatif hides everything then, and CI logs want the lines).
    fn line(&self, bar: &ProgressBar, text: String) {
        if bar.is_hidden() {
            println!("{text}");
        } else {
            bar.println(text);
        }
    }

    pub fn progress(&self, p: &Progress, requests: u64) {
        let Some(bar) = &self.bar else { return };
        match p {
            Progress::Started { state, .. } => {
                self.line(bar, format!("start: {} ({}%)", state.phase, state.weight));
            }
            Progress::Window {
                index,
                window,
                applied,
            } => {
                let row = WindowRow::new(*index, window, applied);
                self.line(
                    bar,
                    format!(
                        "window {:>2} at {:>3}%  canary {:>5} req  baseline {:>5} req  {:<12} {}{}",
                        row.window,
                        row.weight,
                        row.canary_requests,
                        row.baseline_requests,
                        row.verdict,
                        row.decision,
                        if row.verdict == "healthy" || row.reason.is_empty() {
                            String::new()
                        } else {
                            format!("\n           ↳ {}", row.reason)
                        }
                    ),
                );
                bar.set_message(format!(
                    "{} · step {} at {}% · {requests} requests through the router",
                    applied.state.phase,
                    applied.state.step + 1,
                    applied.state.weight
                ));
            }
            Progress::SourceFailed { index, error } => {
                self.line(bar, format!("window {index}: source failed: {error}"))
            }
            Progress::StoreFailed {
                index,
                error,
                weight,
            } => self.line(
                bar,
                format!("window {index}: the database cannot commit: {error} (holding {weight}%)"),
            ),
            Progress::BaselineChecked { applied } => {
                if let Some(d @ canaryd_core::effect::Decision::BaselineAvailable { .. }) =
                    &applied.decision
                {
                    self.line(bar, describe_decision(d));
                }
            }
            Progress::Operator { command, applied } => self.line(
                bar,
                format!(
                    "operator {} {}: {}",
                    command.by,
                    command.action,
                    applied
                        .decision
                        .as_ref()
                        .map(describe_decision)
                        .unwrap_or_default()
                ),
            ),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

pub fn print(r: &DemoReport, output: Output) -> Result<(), Fail> {
    match output {
        Output::Json => {
            let line = serde_json::to_string(r).map_err(|e| Fail::Operational(e.into()))?;
            println!("{line}");
        }
        Output::Table => {
            println!();
            println!(
                "outcome: {}{} at {}% — {}",
                r.outcome.name(),
                r.after_window
                    .map(|w| format!(" after window {w}"))
                    .unwrap_or_default(),
                r.final_weight,
                r.detail
            );
            if let (Some(ms), Some(n)) = (r.rollback_latency_ms, r.canary_requests_after_decision) {
                println!("rollback: the router sent no new request to the canary {ms:.1} ms after the deciding window closed; {n} canary requests after that");
            }
            println!(
                "{} requests in {:.1}s; audit log in {} — try: canaryd report {} {} --db {}",
                r.requests_sent, r.duration_s, r.db, r.workload, r.revision, r.db
            );
        }
    }
    Ok(())
}
