//! Scenario files: a policy, a baseline and a sequence of windows and operator
//! commands, replayed through the real driver and store in virtual time.
//!
//! This is how users test a policy before trusting it with production traffic,
//! and how we test the whole engine end to end without infrastructure.

use canaryd_core::effect::{OperatorAction, OperatorCommand};
use canaryd_core::observation::{Baseline, BaselineStatus, CollectorHealth, RouteWindow, Window};
use canaryd_core::vocab::{RolloutKey, Route};
use canaryd_core::Policy;
use canaryd_policy::{parse_policy, PolicyErrors};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A scenario, parsed and with its policy resolved.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file it was read from, for messages.
    pub source: PathBuf,
    /// The policy it names, resolved.
    pub policy: Policy,
    /// The rollout replayed.
    pub key: RolloutKey,
    /// Virtual start time (ms since the epoch), if the file fixes one.
    pub start_ms: Option<i64>,
    /// What the baseline check says at the start.
    pub baseline: BaselineStatus,
    /// Windows and operator commands, in order.
    pub steps: Vec<ScenarioStep>,
    /// What the scenario expects, if it says; `canaryd policy test` checks it.
    pub expect: Option<Expectation>,
}

/// One step of a scenario.
#[derive(Debug, Clone)]
pub enum ScenarioStep {
    /// A window of measurements closes.
    Window(Box<Window>),
    /// An operator gives a command.
    Operator(OperatorCommand),
}

/// The outcome a scenario expects; `canaryd policy test` checks it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// How the rollout must end.
    pub outcome: Outcome,
    /// The window that must decide it, if checked.
    #[serde(default)]
    pub after_window: Option<u32>,
    /// The weight it must end at, in percent, if checked.
    #[serde(default)]
    pub final_weight: Option<u8>,
}

/// How a replay ended, in the words of the exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The canary became stable (exit code 0).
    Promoted,
    /// The canary was rolled back (exit code 1).
    RolledBack,
    /// Paused, waiting for an operator (exit code 2).
    Paused,
    /// Waiting for an operator's approval (exit code 2).
    AwaitingApproval,
    /// Still ramping when the windows ran out (exit code 2).
    InProgress,
}

impl Outcome {
    /// The outcome as the CLI and JSON output spell it.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Promoted => "promoted",
            Outcome::RolledBack => "rolled_back",
            Outcome::Paused => "paused",
            Outcome::AwaitingApproval => "awaiting_approval",
            Outcome::InProgress => "in_progress",
        }
    }

    /// 0 promoted, 1 rolled back, 2 needs a human or still running.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Promoted => 0,
            Outcome::RolledBack => 1,
            _ => 2,
        }
    }
}

/// Why a scenario file was refused; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Not YAML of the right shape.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Line of the problem, from 1 (0 when the parser gave none).
        line: u64,
        /// Column of the problem (0 when the parser gave none).
        column: u64,
        /// What the parser objected to.
        message: String,
    },
    /// Well-formed, but its content makes no sense.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The policy it names or embeds is invalid.
    #[error("{0}")]
    Policy(PolicyErrors),
}

// ---- the file format -------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    policy: serde_saphyr::Spanned<RawPolicyRef>,
    workload: String,
    revision: String,
    #[serde(default)]
    start: Option<String>,
    baseline: RawBaseline,
    #[serde(default)]
    windows: Vec<RawStep>,
    #[serde(default)]
    expect: Option<Expectation>,
}

/// `policy:` is a path (string) or an inline policy (mapping).
enum RawPolicyRef {
    Path(String),
    Inline(serde_json::Value),
}

/// `baseline:` is the word `missing`, `{missing: "why"}`, or the history.
enum RawBaseline {
    Word(String),
    Map(RawBaselineMap),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBaselineMap {
    #[serde(default)]
    missing: Option<String>,
    #[serde(default)]
    history_hours: Option<f64>,
    #[serde(default)]
    routes: BTreeMap<Route, canaryd_core::Observation>,
}

/// A string-or-mapping visitor. Written by hand instead of `#[serde(untagged)]`
/// because untagged enums throw away the location and the reason of an error
/// inside the mapping, and a user fixing a scenario needs both.
macro_rules! string_or_map {
    ($ty:ident, $str_variant:ident, $map_variant:ident, $map_ty:ty, $expecting:literal) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$ty, E> {
                        Ok($ty::$str_variant(v.to_string()))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        m: A,
                    ) -> Result<$ty, A::Error> {
                        <$map_ty>::deserialize(serde::de::value::MapAccessDeserializer::new(m))
                            .map($ty::$map_variant)
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}
string_or_map!(
    RawPolicyRef,
    Path,
    Inline,
    serde_json::Value,
    "a policy file path or an inline policy mapping"
);
string_or_map!(
    RawBaseline,
    Word,
    Map,
    RawBaselineMap,
    "`missing`, `{missing: \"why\"}` or `{history_hours, routes}`"
);

/// One entry of `windows:`: a window, or `{operator: {approve: {by, reason}}}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(default)]
    operator: Option<BTreeMap<String, RawCommand>>,
    #[serde(default)]
    collectors: Option<CollectorHealth>,
    #[serde(default)]
    routes: Option<BTreeMap<Route, RouteWindow>>,
    #[serde(default)]
    error_budget_remaining: Option<canaryd_core::observation::Lossless>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommand {
    by: String,
    #[serde(default)]
    reason: Option<String>,
}

impl Scenario {
    /// Reads a scenario file and the policy it names (relative to the file).
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Scenario::parse(path, &text)
    }

    /// Parses a scenario's text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let invalid = |message: String| ScenarioError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        // Scenarios are longer than policies and lean on anchors (`- *healthy`),
        // but hostile input still must not exhaust the stack or memory.
        let options = serde_saphyr::options! {
            budget: serde_saphyr::budget! {
                max_depth: 32,
                flow_nesting_limit: 32,
                max_nodes: 2_000_000,
            },
            alias_limits: serde_saphyr::alias_limits! {
                max_total_replayed_events: 2_000_000,
            },
        };
        let raw: RawScenario = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            ScenarioError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: e.to_string(),
            }
        })?;

        let policy_line = raw.policy.referenced.line();
        let policy = match raw.policy.value {
            RawPolicyRef::Path(p) => {
                let base = path.parent().unwrap_or(Path::new("."));
                let ppath = base.join(&p);
                let ptext =
                    std::fs::read_to_string(&ppath).map_err(|source| ScenarioError::Read {
                        path: ppath.clone(),
                        source,
                    })?;
                parse_policy(&ppath.display().to_string(), &ptext).map_err(ScenarioError::Policy)?
            }
            RawPolicyRef::Inline(v) => {
                // Inline policies are re-read as their own document: line numbers
                // in errors count from the `policy:` key.
                let ptext = serde_saphyr::to_string(&v)
                    .map_err(|e| invalid(format!("inline policy cannot be read: {e}")))?;
                let src = format!(
                    "{} (inline policy at line {policy_line}; lines below count from it)",
                    path.display()
                );
                parse_policy(&src, &ptext).map_err(ScenarioError::Policy)?
            }
        };

        if raw.workload.trim().is_empty() || raw.revision.trim().is_empty() {
            return Err(invalid(
                "`workload` and `revision` must not be empty".into(),
            ));
        }
        let start_ms = match raw.start.as_deref() {
            None => None,
            Some(s) => Some(parse_start(s).ok_or_else(|| {
                invalid(format!(
                    "`start: {s}` is not an RFC 3339 time (e.g. 2026-11-20T10:00:00Z) or milliseconds since the epoch"
                ))
            })?),
        };
        let baseline = match raw.baseline {
            RawBaseline::Word(w) if w == "missing" => {
                BaselineStatus::Missing("no stable history was found for this workload".into())
            }
            RawBaseline::Word(w) => {
                return Err(invalid(format!(
                    "`baseline: {w}` is not understood: give `missing`, `{{missing: \"why\"}}` or {{history_hours, routes}}"
                )))
            }
            RawBaseline::Map(RawBaselineMap {
                missing: Some(why), ..
            }) => BaselineStatus::Missing(why),
            RawBaseline::Map(RawBaselineMap {
                history_hours, routes, ..
            }) => {
                let Some(h) = history_hours.filter(|h| h.is_finite() && *h >= 0.0) else {
                    return Err(invalid(
                        "baseline.history_hours must be a number ≥ 0 (hours of clean stable history), or write `baseline: missing`".into(),
                    ));
                };
                BaselineStatus::Available(Baseline {
                    history_hours: h,
                    routes,
                })
            }
        };

        let mut steps = Vec::new();
        for (i, s) in raw.windows.into_iter().enumerate() {
            let is_window =
                s.collectors.is_some() || s.routes.is_some() || s.error_budget_remaining.is_some();
            steps.push(match s.operator {
                None => ScenarioStep::Window(Box::new(Window {
                    start: Default::default(),
                    end: Default::default(),
                    collectors: s.collectors.unwrap_or_default(),
                    routes: s.routes.unwrap_or_default(),
                    error_budget_remaining: s.error_budget_remaining.map(|l| l.0),
                    gaps: Vec::new(),
                })),
                Some(_) if is_window => {
                    return Err(invalid(format!(
                        "windows[{i}] mixes `operator` with window fields; put the operator command in its own entry"
                    )))
                }
                Some(operator) => {
                    let mut it = operator.into_iter();
                    let (Some((action, cmd)), None) = (it.next(), it.next()) else {
                        return Err(invalid(format!(
                            "windows[{i}].operator must hold exactly one command: approve, resume, abort or promote"
                        )));
                    };
                    let action = match action.as_str() {
                        "approve" => OperatorAction::Approve,
                        "resume" => OperatorAction::Resume,
                        "abort" => OperatorAction::Abort,
                        "promote" | "promote_now" => OperatorAction::PromoteNow,
                        other => {
                            return Err(invalid(format!(
                                "windows[{i}].operator.{other} is not a command; allowed: approve, resume, abort, promote"
                            )))
                        }
                    };
                    if cmd.by.trim().is_empty() {
                        return Err(invalid(format!("windows[{i}].operator.{action}.by must name who did it")));
                    }
                    ScenarioStep::Operator(OperatorCommand {
                        action,
                        by: cmd.by,
                        reason: cmd.reason,
                    })
                }
            });
        }
        Ok(Scenario {
            source: path.to_path_buf(),
            policy,
            key: RolloutKey::new(raw.workload, raw.revision),
            start_ms,
            baseline,
            steps,
            expect: raw.expect,
        })
    }
}

fn parse_start(s: &str) -> Option<i64> {
    if let Ok(ms) = s.trim().parse::<i64>() {
        return Some(ms);
    }
    let t = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}
