//! `canaryd report WORKLOAD REVISION`: the whole story of one rollout, from
//! its audit entries, window by window, with the evidence.

use canaryd_core::effect::AuditRecord;
use canaryd_core::verdict::Verdict;
use canaryd_core::vocab::Timestamp;
use canaryd_driver::driver::decode_state;
use canaryd_driver::replay::{describe_decision, phase_detail};
use canaryd_store::AuditKind;
use clap::{Args, ValueEnum};
use std::fmt::Write as _;

use crate::{fmt, DbArg, Fail};

#[derive(Args)]
pub struct ReportArgs {
    workload: String,
    revision: String,
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    format: Format,
    #[command(flatten)]
    db: DbArg,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Markdown,
    Json,
}

pub fn run(args: ReportArgs) -> Result<u8, Fail> {
    let store = fmt::open_existing(&args.db.db)?;
    let Some(row) = store.load_rollout(&args.workload, &args.revision)? else {
        return Err(Fail::invalid(format!(
            "no rollout {} {} in {} (see `canaryd history --db {}`)",
            args.workload,
            args.revision,
            args.db.db.display(),
            args.db.db.display()
        )));
    };
    let state = decode_state(&row)?;
    let entries = store.audit_entries(Some(&args.workload), Some(&args.revision))?;

    if let Format::Json = args.format {
        let doc = serde_json::json!({
            "workload": row.workload,
            "revision": row.revision,
            "outcome": state.phase.name(),
            "detail": phase_detail(&state),
            "state": state,
            "entries": entries,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).map_err(|e| Fail::Operational(e.into()))?
        );
        return Ok(0);
    }

    let mut md = String::new();
    let _ = writeln!(md, "# Rollout {} {}\n", row.workload, row.revision);
    let _ = writeln!(
        md,
        "- **Outcome:** {} — {}",
        state.phase.name(),
        phase_detail(&state)
    );
    let _ = writeln!(
        md,
        "- **Started:** {}",
        fmt::time(Timestamp(row.started_at_ms))
    );
    if let (Some(s), Some(f)) = (state.started_at, state.finished_at) {
        let _ = writeln!(
            md,
            "- **Finished:** {} ({} after start)",
            fmt::time(f),
            canaryd_core::vocab::fmt_duration(f.since(s))
        );
    }
    let _ = writeln!(
        md,
        "- **Windows:** {}; audit entries: {}\n",
        state.windows,
        entries.len()
    );

    let _ = writeln!(md, "## Timeline\n");
    let _ = writeln!(
        md,
        "| # | time | step | weight | verdict | decision | reason |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    let mut evidence_md = String::new();
    let mut other_md = String::new();
    for e in &entries {
        let at = fmt::time(Timestamp(e.at_ms));
        match e.kind {
            AuditKind::WindowVerdict => {
                let Ok(AuditRecord::Window {
                    index,
                    step,
                    weight,
                    judgement,
                    decision,
                    ..
                }) = serde_json::from_value::<AuditRecord>(e.payload.clone())
                else {
                    let _ = writeln!(other_md, "- {at}: unreadable window entry #{}", e.seq);
                    continue;
                };
                let _ = writeln!(
                    md,
                    "| {index} | {at} | {} | {weight}% | {} | {} | {} |",
                    step + 1,
                    judgement.verdict.kind(),
                    cell(&describe_decision(&decision)),
                    cell(&judgement.verdict.reason())
                );
                if let Verdict::Breach { evidence } = &judgement.verdict {
                    let _ = writeln!(evidence_md, "### Window {index} ({at})\n");
                    for ev in evidence {
                        let _ = writeln!(
                            evidence_md,
                            "- rule `{}`: {} on `{}` — canary {} (n={}) vs threshold {}{}; {}",
                            ev.rule,
                            ev.metric.name(),
                            ev.route,
                            ev.metric.fmt_value(ev.canary),
                            ev.canary_requests,
                            ev.metric.fmt_value(ev.threshold),
                            ev.baseline
                                .map(|b| format!(", baseline {}", ev.metric.fmt_value(b)))
                                .unwrap_or_default(),
                            ev.comparison
                        );
                        if let Some(t) = &ev.test {
                            let _ = writeln!(evidence_md, "  - test: {t}");
                        }
                    }
                    evidence_md.push('\n');
                }
                for w in &judgement.warnings {
                    let _ = writeln!(
                        evidence_md,
                        "### Window {index} ({at}): warning only\n\n- {w}\n"
                    );
                }
            }
            AuditKind::Decision | AuditKind::Approval => {
                match serde_json::from_value::<AuditRecord>(e.payload.clone()) {
                    Ok(AuditRecord::Started {
                        decision, policy, ..
                    }) => {
                        let _ = writeln!(
                            other_md,
                            "- {at}: started under policy `{policy}` → {}",
                            describe_decision(&decision)
                        );
                    }
                    Ok(AuditRecord::Operator { command, decision }) => {
                        let _ = writeln!(
                            other_md,
                            "- {at}: operator {} `{}`{} → {}",
                            command.by,
                            command.action,
                            command
                                .reason
                                .map(|r| format!(" ({r})"))
                                .unwrap_or_default(),
                            describe_decision(&decision)
                        );
                    }
                    Ok(AuditRecord::Decision {
                        decision, weight, ..
                    }) => {
                        let _ = writeln!(
                            other_md,
                            "- {at}: decision {} (weight now {weight}%)",
                            describe_decision(&decision)
                        );
                    }
                    Ok(AuditRecord::BaselineRechecked { decision, .. }) => {
                        let _ = writeln!(
                            other_md,
                            "- {at}: baseline re-checked → {}",
                            describe_decision(&decision)
                        );
                    }
                    Ok(AuditRecord::Superseded(s)) => {
                        let _ = writeln!(
                            other_md,
                            "- {at}: superseded by revision {}: {}",
                            s.by_revision.0, s.reason
                        );
                    }
                    Err(_) if e.payload["record"] == "new_canary" => {
                        let _ = writeln!(
                            other_md,
                            "- {at}: new canary at {} by {}{} (stable {})",
                            e.payload["canary_url"].as_str().unwrap_or("?"),
                            e.payload["by"].as_str().unwrap_or("?"),
                            e.payload["reason"]
                                .as_str()
                                .map(|r| format!(": {r}"))
                                .unwrap_or_default(),
                            e.payload["stable_url"].as_str().unwrap_or("?"),
                        );
                    }
                    Ok(AuditRecord::Window { .. }) | Err(_) => {
                        let _ =
                            writeln!(other_md, "- {at}: entry #{} ({})", e.seq, e.kind.as_str());
                    }
                }
            }
            AuditKind::Action | AuditKind::Notification => {
                let _ = writeln!(other_md, "- {at}: {}", describe_effect(&e.payload));
            }
        }
    }
    if !evidence_md.is_empty() {
        let _ = writeln!(md, "\n## Evidence\n\n{evidence_md}");
    }
    let _ = writeln!(
        md,
        "\n## Decisions, operator commands and actions\n\n{other_md}"
    );
    print!("{md}");
    Ok(0)
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// `set weight 25% → ok`, `notify [critical] "… rolled back" → failed: 503`.
fn describe_effect(p: &serde_json::Value) -> String {
    let effect = p["effect"].as_str().unwrap_or("action");
    let what = match effect {
        "set_weight" => format!("set weight {}%", p["weight"].as_u64().unwrap_or_default()),
        "notify" => format!(
            "notify [{}] \"{}\"",
            p["notice"]["severity"].as_str().unwrap_or("?"),
            p["notice"]["title"].as_str().unwrap_or("?")
        ),
        other => other.replace('_', " "),
    };
    let result = if p["result"]["ok"].as_bool() == Some(true) {
        "ok".to_string()
    } else {
        format!(
            "FAILED: {}",
            p["result"]["error"].as_str().unwrap_or("unknown error")
        )
    };
    format!("{what} → {result}")
}
