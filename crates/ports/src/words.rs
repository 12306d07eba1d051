//! The words of a notice: the core gives the facts, the shell says them.
//!
//! The title is the same wherever canaryd runs (the audit log records it, and
//! Kubernetes Events carry it); the text ends with what a human can do next,
//! and that depends on the [`Surface`]: a `canaryd approve` command is the
//! way on a terminal next to `canaryd proxy`, not in a Kubernetes Event.

use canaryd_core::effect::RollbackCause;
use canaryd_core::notice::{BaselineGate, Ladder, NextAction, Notice, NoticeFacts};
use canaryd_core::vocab::{fmt_duration, RolloutKey};
use std::time::Duration;

/// Where the words are read, which decides how a human acts on a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Surface {
    /// A long-running canaryd with its operator API (`canaryd proxy`,
    /// `serve`, `demo`, replays): `canaryd approve ...` reaches it.
    #[default]
    Cli,
    /// `canaryd gate` in a pipeline: the same commands, sent to the API the
    /// gate serves with `--api-listen`.
    Gate,
    /// `canaryd controller`: it takes no operator commands (yet).
    Kubernetes,
}

/// A notice in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Words {
    /// One line, the same on every surface.
    pub title: String,
    /// What happened and what a human can do next, for the surface.
    pub text: String,
}

/// The title and the text of `notice`, for `surface`.
pub fn words(notice: &Notice, surface: Surface) -> Words {
    Words {
        title: title(notice),
        text: text(notice, surface),
    }
}

/// The one-line title: the same on every surface.
pub fn title(notice: &Notice) -> String {
    match &notice.facts {
        NoticeFacts::AwaitingApproval { key, .. } => format!("{key} awaits approval"),
        NoticeFacts::Started { key, weight, .. } => format!("{key} started at {weight}%"),
        NoticeFacts::BaselineAvailable { key, .. } => format!("{key} baseline became available"),
        NoticeFacts::Extended { key, weight, .. } => format!("{key} extended at {weight}%"),
        NoticeFacts::Advanced { key, to, .. } => format!("{key} advanced to {to}%"),
        NoticeFacts::Paused { key, weight, .. } => format!("{key} paused at {weight}%"),
        NoticeFacts::Resumed {
            key,
            weight,
            by: Some(by),
            ..
        } => format!("{key} resumed at {weight}% by {by}"),
        NoticeFacts::Resumed {
            key,
            weight,
            by: None,
            ..
        } => format!("{key} resumed at {weight}%"),
        NoticeFacts::RolledBack { key, .. } => format!("{key} rolled back"),
        NoticeFacts::Promoted { key, .. } => format!("{key} promoted"),
        NoticeFacts::Worded { title, .. } => title.clone(),
    }
}

/// The body: what happened, then what a human can do on `surface`.
pub fn text(notice: &Notice, surface: Surface) -> String {
    let what = match &notice.facts {
        NoticeFacts::AwaitingApproval { reason, ladder, .. } => format!(
            "{reason}. Proposed ladder: {}. No traffic has moved.",
            ladder_words(ladder)
        ),
        NoticeFacts::Started {
            key,
            approved_by,
            ladder,
            window,
            budget,
            ..
        } => format!(
            "Canary {} of {} started{}. Ladder: {}; windows of {}; budget {}.",
            key.revision,
            key.workload,
            approved_by
                .as_ref()
                .map(|b| format!(" (approved by {b})"))
                .unwrap_or_default(),
            ladder_words(ladder),
            fmt_duration(*window),
            fmt_duration(*budget)
        ),
        NoticeFacts::BaselineAvailable { weight, gate, .. } => format!(
            "The stable history now passes the baseline gate ({}); the rollout started on its \
             own at {weight}% without waiting for an approval.",
            gate_words(gate.as_ref())
        ),
        NoticeFacts::Extended {
            weight,
            window,
            reason,
            extensions,
            max_extensions,
            ..
        } => format!(
            "Window {window} was inconclusive ({reason}); one more window at {weight}% \
             ({extensions} of {max_extensions} extensions)."
        ),
        NoticeFacts::Advanced { from, to, .. } => {
            format!("Healthy at {from}% for its whole hold; now {to}%.")
        }
        NoticeFacts::Paused { weight, reason, .. } => {
            format!("{reason}. The split stays at {weight}%.")
        }
        NoticeFacts::Resumed {
            by: Some(_),
            reason,
            ..
        } => reason
            .clone()
            .unwrap_or_else(|| "Resumed by an operator.".into()),
        NoticeFacts::Resumed { by: None, .. } => {
            "The collectors can see the canary again; judging resumes.".into()
        }
        NoticeFacts::RolledBack {
            at_weight,
            took,
            cause,
            ..
        } => rolled_back_words(*at_weight, &took_words(*took), cause),
        NoticeFacts::Promoted {
            by, took, windows, ..
        } => {
            let took = took_words(*took);
            match by {
                Some(b) => format!("Promoted by {b} after {took} and {windows} windows."),
                None => format!(
                    "Healthy through the whole ladder: promoted after {took} and {windows} windows."
                ),
            }
        }
        NoticeFacts::Worded { text, .. } => return text.clone(),
    };
    match (key_of(&notice.facts), hints(&notice.next, surface)) {
        (Some(key), Some(hints)) => format!("{what} {}", hints.render(key)),
        _ => what,
    }
}

fn key_of(facts: &NoticeFacts) -> Option<&RolloutKey> {
    match facts {
        NoticeFacts::AwaitingApproval { key, .. }
        | NoticeFacts::Started { key, .. }
        | NoticeFacts::BaselineAvailable { key, .. }
        | NoticeFacts::Extended { key, .. }
        | NoticeFacts::Advanced { key, .. }
        | NoticeFacts::Paused { key, .. }
        | NoticeFacts::Resumed { key, .. }
        | NoticeFacts::RolledBack { key, .. }
        | NoticeFacts::Promoted { key, .. } => Some(key),
        NoticeFacts::Worded { .. } => None,
    }
}

/// How the next actions are said on one surface.
enum Hints<'a> {
    /// One command per action, sent to a canaryd's operator API
    /// (`server`: the `--server` argument to add, if the default is wrong).
    Commands {
        actions: &'a [NextAction],
        server: Option<&'static str>,
    },
    /// The surface takes no operator commands.
    NoCommands,
}

fn hints(next: &[NextAction], surface: Surface) -> Option<Hints<'_>> {
    if next.is_empty() {
        return None;
    }
    Some(match surface {
        Surface::Cli => Hints::Commands {
            actions: next,
            server: None,
        },
        Surface::Gate => Hints::Commands {
            actions: next,
            server: Some("http://<the gate's --api-listen address>"),
        },
        Surface::Kubernetes => Hints::NoCommands,
    })
}

impl Hints<'_> {
    fn render(&self, key: &RolloutKey) -> String {
        match self {
            Hints::Commands { actions, server } => {
                let server = server.map(|s| format!(" --server {s}")).unwrap_or_default();
                let (w, r) = (&key.workload, &key.revision);
                let phrases: Vec<String> = actions
                    .iter()
                    .map(|a| match a {
                        NextAction::Approve => format!(
                            "to start the ramp: canaryd approve {w} {r} --by <name> --reason <why>{server}"
                        ),
                        NextAction::Resume => {
                            format!("to continue: canaryd resume {w} {r} --by <name>{server}")
                        }
                        NextAction::RollBack => {
                            format!("to roll back: canaryd abort {w} {r} --by <name>{server}")
                        }
                    })
                    .collect();
                capitalized(&phrases.join("; "))
            }
            Hints::NoCommands => "canaryd controller takes no operator commands yet: to go on, \
                                  promote or roll back the target by hand."
                .into(),
        }
    }
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The ladder as users read it: `10% → 25% → 50% → 100%`.
pub fn ladder_words(ladder: &Ladder) -> String {
    match ladder {
        Ladder::Steps { weights } => weights
            .iter()
            .map(|w| format!("{w}%"))
            .collect::<Vec<_>>()
            .join(" → "),
        Ladder::Adaptive {
            from,
            min_increase,
            max_increase,
        } => format!("adaptive from {from}% in steps of {min_increase}–{max_increase} points"),
    }
}

fn gate_words(gate: Option<&BaselineGate>) -> String {
    match gate {
        Some(g) => format!(
            "at least {} of clean history and {} requests per route",
            fmt_duration(g.min_history),
            g.min_requests_per_route
        ),
        None => "no baseline required".into(),
    }
}

fn took_words(took: Option<Duration>) -> String {
    took.map(fmt_duration).unwrap_or_default()
}

fn rolled_back_words(at: canaryd_core::vocab::Weight, took: &str, cause: &RollbackCause) -> String {
    match cause {
        RollbackCause::Breach { evidence, windows } => format!(
            "Rolled back at {at}% after {} breaching windows in a row ({}), {took} after start: {}",
            windows.len(),
            canaryd_core::effect::window_numbers(windows),
            canaryd_core::effect::evidence_text(evidence)
        ),
        RollbackCause::Operator { by, reason } => format!(
            "Aborted by {by} at {at}%, {took} after start{}",
            reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
    }
}
