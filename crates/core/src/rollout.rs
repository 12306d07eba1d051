//! The rollout state machine: `step(state, event, policy, now) -> (state, effects)`.
//!
//! This is DESIGN.md §1 as code. It is pure: the same inputs always give the
//! same outputs, so a rollout can be replayed from its audit log, simulated in
//! virtual time, and property-tested. It never panics on any input: events that
//! do not fit the current phase are refused (and audited), not asserted.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

use crate::effect::{
    AuditRecord, Decision, Effect, Notice, NoticeKind, OperatorAction, OperatorCommand,
    PauseReason, RollbackCause, Severity, Superseded,
};
use crate::judge::{judge_with, look_key, metric_value, JudgeContext};
use crate::notice::{BaselineGate, Ladder, NextAction, NoticeFacts};
use crate::observation::{Baseline, BaselineStatus, CollectorHealth, Observation, Window};
use crate::policy::{BaselineApproval, BaselinePolicy, Metric, Policy, Ramp, TestKind};
use crate::significance::Look;
use crate::verdict::{Judgement, RuleOutcome, Verdict, VerdictKind};
use crate::vocab::{fmt_duration, Revision, RolloutKey, Route, Timestamp, Weight};

/// What can happen to a rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A new canary revision was detected; the shell looked up its baseline.
    Start {
        /// The stable history found for the workload, or why there is none.
        baseline: BaselineStatus,
    },
    /// An analysis window ended.
    WindowClosed {
        /// Everything measured in it.
        window: Window,
    },
    /// An operator said something.
    Operator(OperatorCommand),
    /// The shell looked the baseline up again while the rollout awaited
    /// approval for a missing or thin one (every window, in `canaryd gate`).
    BaselineChecked {
        /// The baseline as found now.
        baseline: BaselineStatus,
    },
    /// A newer revision of the same workload appeared while this rollout was
    /// in progress, and the shell started over for it (the Kubernetes
    /// controller: a new pod template mid-rollout).
    Superseded {
        /// The newer revision.
        by: Revision,
    },
}

/// Where a rollout is in its life.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Created, not started.
    Pending,
    /// The baseline gate failed: a human must approve before any traffic moves.
    AwaitingApproval {
        /// Why the baseline cannot be trusted.
        reason: String,
    },
    /// Traffic moves step by step; every window is judged.
    Ramping,
    /// The split is held for a human (or for the collectors to recover).
    /// Windows are still judged: the canary still takes traffic, so a
    /// sustained breach still rolls back.
    Paused {
        /// Why it paused.
        reason: PauseReason,
    },
    /// The canary lost all its traffic and was undone. Terminal.
    RolledBack {
        /// A sustained breach, or an operator's abort.
        cause: RollbackCause,
        /// The canary's weight when it was rolled back.
        at_weight: Weight,
    },
    /// The canary became the stable revision. Terminal.
    Promoted {
        /// The operator who promoted it early (`None`: the ladder ended healthy).
        by: Option<String>,
    },
}

impl Phase {
    /// The phase's name as the audit log, the API and the CLI show it
    /// (`awaiting_approval`).
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::AwaitingApproval { .. } => "awaiting_approval",
            Phase::Ramping => "ramping",
            Phase::Paused { .. } => "paused",
            Phase::RolledBack { .. } => "rolled_back",
            Phase::Promoted { .. } => "promoted",
        }
    }

    /// Whether the rollout is over (rolled back or promoted): every later
    /// command is refused.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Phase::RolledBack { .. } | Phase::Promoted { .. })
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A rule's current run of breaching windows.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Streak {
    /// Breaching windows in the run; the rule rolls back when it reaches the
    /// rule's `consecutive`. A passing window ends the run; an inconclusive
    /// one leaves it as it is.
    pub count: u32,
    /// Window index where the run started.
    pub since: u32,
}

/// The whole state of one rollout. Everything the next decision depends on is
/// here, so the shell can persist it and resume after a crash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    /// The workload and the canary revision.
    pub key: RolloutKey,
    /// Where the rollout is in its life.
    pub phase: Phase,
    /// Index into the ladder (adaptive ramps: number of advances so far).
    pub step: usize,
    /// Canary weight now in force, in percent.
    pub weight: Weight,
    /// When the start event arrived, before any approval: what "took" is
    /// measured from.
    pub started_at: Option<Timestamp>,
    /// When the current ramp budget started (first traffic, or last resume).
    pub ramp_started_at: Option<Timestamp>,
    /// When it was rolled back or promoted.
    pub finished_at: Option<Timestamp>,
    /// Windows seen so far (the last window's 1-based index).
    pub windows: u32,
    /// Healthy windows at the current step.
    pub healthy_at_step: u32,
    /// Inconclusive windows in a row at the current step.
    pub extensions: u32,
    /// Per rule, the current run of breaching windows.
    pub streaks: BTreeMap<String, Streak>,
    /// Events applied, including refused ones: a deterministic sequence the
    /// shell uses to build idempotency keys.
    pub events: u64,
    /// The last window's verdict, for status displays.
    pub last_verdict: Option<VerdictKind>,
    /// The stable history found at start, for rules that fall back to it.
    pub baseline: Option<Baseline>,
    /// Per route, the latest stable cohort seen with enough traffic during
    /// this rollout. At 100% the stable side takes no traffic; this is what
    /// ratio rules compare against then (fresher than the history, and the
    /// only baseline a human-approved rollout without history has).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub recent_baseline: BTreeMap<Route, Observation>,
    /// Per rule and route (see `judge::look_key`), the windows a sequential
    /// test has accumulated: its whole state, replayable and serializable.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub looks: BTreeMap<String, Vec<Look>>,
}

impl Rollout {
    /// A rollout of `key` that has not started: where every rollout, and
    /// every replay, begins.
    pub fn new(key: RolloutKey) -> Rollout {
        Rollout {
            key,
            phase: Phase::Pending,
            step: 0,
            weight: 0,
            started_at: None,
            ramp_started_at: None,
            finished_at: None,
            windows: 0,
            healthy_at_step: 0,
            extensions: 0,
            streaks: BTreeMap::new(),
            events: 0,
            last_verdict: None,
            baseline: None,
            recent_baseline: BTreeMap::new(),
            looks: BTreeMap::new(),
        }
    }

    fn streak_counts(&self) -> BTreeMap<String, u32> {
        self.streaks
            .iter()
            .map(|(k, s)| (k.clone(), s.count))
            .collect()
    }
}

/// Applies one event. Pure and total.
pub fn step(
    state: &Rollout,
    event: Event,
    policy: &Policy,
    now: Timestamp,
) -> (Rollout, Vec<Effect>) {
    let mut s = state.clone();
    s.events += 1;
    let mut fx = Vec::new();
    match event {
        Event::Start { baseline } => on_start(&mut s, baseline, policy, now, &mut fx),
        Event::WindowClosed { window } => on_window(&mut s, window, policy, now, &mut fx),
        Event::Operator(cmd) => on_operator(&mut s, cmd, policy, now, &mut fx),
        Event::BaselineChecked { baseline } => on_baseline(&mut s, baseline, policy, now, &mut fx),
        Event::Superseded { by } => on_superseded(by, &mut fx),
    }
    (s, fx)
}

fn on_start(
    s: &mut Rollout,
    baseline: BaselineStatus,
    policy: &Policy,
    now: Timestamp,
    fx: &mut Vec<Effect>,
) {
    if !matches!(s.phase, Phase::Pending) {
        let decision = Decision::Refuse {
            reason: format!("{} was already started ({})", s.key, s.phase),
        };
        refuse(fx, &decision);
        return;
    }
    s.started_at = Some(now);
    let gate = baseline_gate(&baseline, &policy.baseline);
    if let BaselineStatus::Available(b) = &baseline {
        s.baseline = Some(b.clone());
    }
    let decision = match gate {
        Some(reason) => {
            s.phase = Phase::AwaitingApproval {
                reason: reason.clone(),
            };
            fx.push(Effect::Notify(Notice {
                kind: NoticeKind::AwaitingApproval,
                severity: Severity::Warning,
                facts: NoticeFacts::AwaitingApproval {
                    key: s.key.clone(),
                    reason: reason.clone(),
                    ladder: Ladder::from(&policy.ramp),
                },
                next: vec![NextAction::Approve],
                evidence: vec![],
            }));
            Decision::AwaitApproval { reason }
        }
        None => begin_ramp(s, policy, now, fx, None),
    };
    fx.push(Effect::Audit(AuditRecord::Started {
        baseline,
        policy: policy.name.clone(),
        decision,
    }));
}

/// A baseline re-check while awaiting approval: no baseline, no automatic
/// advance — but once the stable history is long and busy enough, the reason
/// for waiting is gone, and the rollout starts as if the baseline had been
/// there at its start ("baseline became available"), unless the policy says
/// only an operator may start it (`baseline.approval: always`).
fn on_baseline(
    s: &mut Rollout,
    baseline: BaselineStatus,
    policy: &Policy,
    now: Timestamp,
    fx: &mut Vec<Effect>,
) {
    let decision = match (&s.phase, &policy.baseline) {
        (Phase::AwaitingApproval { .. }, BaselinePolicy::Required { approval, .. })
            if *approval == BaselineApproval::Always =>
        {
            Decision::Hold {
                reason: "the policy requires an operator's approval (baseline.approval: always)"
                    .into(),
            }
        }
        (Phase::AwaitingApproval { .. }, _) => match baseline_gate(&baseline, &policy.baseline) {
            Some(why) => {
                s.phase = Phase::AwaitingApproval {
                    reason: why.clone(),
                };
                Decision::Hold {
                    reason: format!("still awaiting approval: {why}"),
                }
            }
            None => {
                if let BaselineStatus::Available(b) = &baseline {
                    s.baseline = Some(b.clone());
                }
                let weight = match begin_ramp(s, policy, now, fx, None) {
                    Decision::Start { weight } => weight,
                    _ => s.weight,
                };
                fx.push(Effect::Notify(Notice {
                    kind: NoticeKind::Started,
                    severity: Severity::Info,
                    facts: NoticeFacts::BaselineAvailable {
                        key: s.key.clone(),
                        weight,
                        gate: BaselineGate::of(&policy.baseline),
                    },
                    next: vec![],
                    evidence: vec![],
                }));
                Decision::BaselineAvailable { weight }
            }
        },
        (phase, _) => Decision::Ignore {
            reason: format!(
                "baseline re-checked while {phase}: only a rollout awaiting approval uses it"
            ),
        },
    };
    fx.push(Effect::Audit(AuditRecord::BaselineRechecked {
        baseline,
        decision,
    }));
}

/// A newer revision replaced the rollout. The shell starts a rollout of its
/// own for that revision; this one only records what replaced it. Its state
/// stays as it was, in whatever phase (the controller never steps it again,
/// and leaves its outbox alone), so nothing here moves traffic or tells
/// anyone: the new rollout's start does both.
fn on_superseded(by: Revision, fx: &mut Vec<Effect>) {
    fx.push(Effect::Audit(AuditRecord::Superseded(Superseded {
        by_revision: by,
        reason: "a newer revision of the target appeared during the rollout; canaryd restarted \
                 for it"
            .into(),
    })));
}

/// Why the baseline cannot be trusted for an automatic ramp, if it cannot
/// (DESIGN.md §1: no baseline, no automatic advance). Public so `canaryd
/// doctor` can say in advance what a rollout would be told at its start.
pub fn baseline_gate(baseline: &BaselineStatus, policy: &BaselinePolicy) -> Option<String> {
    let BaselinePolicy::Required {
        min_history,
        min_requests_per_route,
        ..
    } = policy
    else {
        return None;
    };
    let b = match baseline {
        BaselineStatus::Missing(why) => return Some(format!("no baseline: {why}")),
        BaselineStatus::Available(b) => b,
    };
    let need_h = min_history.as_secs_f64() / 3600.0;
    if !b.history_hours.is_finite() || b.history_hours < need_h {
        return Some(format!(
            "thin baseline: {:.1}h of clean stable history, the policy requires {}",
            b.history_hours,
            fmt_duration(*min_history)
        ));
    }
    if b.routes.is_empty() {
        return Some("thin baseline: the stable history has no routes".into());
    }
    let thin: Vec<String> = b
        .routes
        .iter()
        .filter(|(_, o)| o.requests < *min_requests_per_route)
        .map(|(r, o)| format!("{r} ({} requests)", o.requests))
        .collect();
    if !thin.is_empty() {
        return Some(format!(
            "thin baseline: fewer than {min_requests_per_route} stable requests on {}",
            thin.join(", ")
        ));
    }
    None
}

fn begin_ramp(
    s: &mut Rollout,
    policy: &Policy,
    now: Timestamp,
    fx: &mut Vec<Effect>,
    by: Option<&str>,
) -> Decision {
    let weight = policy.ramp.first_weight();
    s.phase = Phase::Ramping;
    s.step = 0;
    s.weight = weight;
    s.ramp_started_at = Some(now);
    s.healthy_at_step = 0;
    s.extensions = 0;
    fx.push(Effect::SetWeight { weight });
    fx.push(Effect::Notify(Notice {
        kind: NoticeKind::Started,
        severity: Severity::Info,
        facts: NoticeFacts::Started {
            key: s.key.clone(),
            weight,
            approved_by: by.map(str::to_string),
            ladder: Ladder::from(&policy.ramp),
            window: policy.window,
            budget: policy.ramp_budget,
        },
        next: vec![],
        evidence: vec![],
    }));
    match by {
        Some(b) => Decision::Approve { by: b.to_string() },
        None => Decision::Start { weight },
    }
}

fn on_window(
    s: &mut Rollout,
    window: Window,
    policy: &Policy,
    now: Timestamp,
    fx: &mut Vec<Effect>,
) {
    s.windows += 1;
    let index = s.windows;
    let step_at = s.step;
    let weight_at = s.weight;

    let not_judged = match &s.phase {
        Phase::Pending => Some("rollout not started"),
        Phase::AwaitingApproval { .. } => {
            Some("rollout awaits approval; the canary takes no traffic")
        }
        Phase::RolledBack { .. } => Some("rollout already rolled back"),
        Phase::Promoted { .. } => Some("rollout already promoted"),
        Phase::Ramping | Phase::Paused { .. } => None,
    };
    if let Some(why) = not_judged {
        let judgement = Judgement {
            verdict: Verdict::Inconclusive {
                reason: format!("not judged: {why}"),
            },
            rules: BTreeMap::new(),
            warnings: Vec::new(),
        };
        let decision = Decision::Ignore {
            reason: why.to_string(),
        };
        fx.push(window_audit(
            s,
            (index, step_at, weight_at),
            window,
            judgement,
            decision,
        ));
        return;
    }

    // A pause caused by the collectors lifts itself once they can see again.
    if let Phase::Paused {
        reason: PauseReason::CollectorsUnhealthy { .. },
    } = &s.phase
    {
        if policy.collectors.auto_resume && window.collectors == Default::default() {
            s.phase = Phase::Ramping;
            s.extensions = 0;
            let decision = Decision::Resume { by: None };
            fx.push(resumed(s, None, None));
            fx.push(Effect::Audit(AuditRecord::Decision {
                decision,
                step: s.step,
                weight: s.weight,
            }));
        }
    }

    let ctx = JudgeContext {
        min_requests: match &policy.ramp {
            Ramp::Ladder(steps) => steps.get(s.step).and_then(|st| st.min_requests),
            Ramp::Adaptive(_) => None,
        },
        looks: Some(&s.looks),
        recent: Some(&s.recent_baseline),
    };
    let judgement = judge_with(&window, index, policy, s.baseline.as_ref(), ctx);
    remember_baseline(s, &window, policy);
    remember_looks(s, &window, policy);
    s.last_verdict = Some(judgement.verdict.kind());
    update_streaks(s, &judgement, index);

    let decision = decide(s, &judgement, &window, policy, now, fx);
    fx.push(window_audit(
        s,
        (index, step_at, weight_at),
        window,
        judgement,
        decision.clone(),
    ));
    if decision.is_transition() {
        fx.push(Effect::Audit(AuditRecord::Decision {
            decision,
            step: s.step,
            weight: s.weight,
        }));
    }
}

/// Keeps the stable cohorts of a reliable window that carry enough traffic.
fn remember_baseline(s: &mut Rollout, window: &Window, policy: &Policy) {
    if window.collectors != CollectorHealth::Healthy {
        return;
    }
    for (route, rw) in &window.routes {
        if let Some(b) = &rw.baseline {
            if b.requests >= policy.traffic.min_requests_per_route && b.errors <= b.requests {
                // In place when the route is known: no key allocation per window.
                match s.recent_baseline.get_mut(route) {
                    Some(slot) => slot.clone_from(b),
                    None => {
                        s.recent_baseline.insert(route.clone(), b.clone());
                    }
                }
            }
        }
    }
}

/// Adds this window's look to every sequential test, where both cohorts served.
fn remember_looks(s: &mut Rollout, window: &Window, policy: &Policy) {
    if window.collectors != CollectorHealth::Healthy {
        return;
    }
    for rule in &policy.rules {
        let kind = rule.test.as_ref().map(|t| t.kind);
        if !kind.is_some_and(TestKind::is_sequential) {
            continue;
        }
        for (route, rw) in &window.routes {
            if !rule.applies_to(route) {
                continue;
            }
            if let (Some(c), Some(b)) = (&rw.canary, &rw.baseline) {
                let span = (window.start, window.end);
                let look = match kind {
                    Some(TestKind::SequentialLatency) => Look::with_latency(c, b, span),
                    _ => Look::over(c, b, span),
                };
                if let Some(look) = look {
                    s.looks
                        .entry(look_key(&rule.name, route))
                        .or_default()
                        .push(look);
                }
            }
        }
    }
}

/// The audit record of window `index`, judged at `step` and `weight` (the
/// state's before the decision), with the streaks as they stand after it.
fn window_audit(
    s: &Rollout,
    (index, step, weight): (u32, usize, Weight),
    window: Window,
    judgement: Judgement,
    decision: Decision,
) -> Effect {
    Effect::Audit(AuditRecord::Window {
        index,
        step,
        weight,
        window,
        judgement,
        streaks: s.streak_counts(),
        decision,
    })
}

/// The notice that `s` ramps again, `by` an operator or on its own.
fn resumed(s: &Rollout, by: Option<String>, reason: Option<String>) -> Effect {
    Effect::Notify(Notice {
        kind: NoticeKind::Resumed,
        severity: Severity::Info,
        facts: NoticeFacts::Resumed {
            key: s.key.clone(),
            weight: s.weight,
            by,
            reason,
        },
        next: vec![],
        evidence: vec![],
    })
}

fn update_streaks(s: &mut Rollout, judgement: &Judgement, index: u32) {
    for (rule, outcome) in &judgement.rules {
        match outcome {
            RuleOutcome::Pass => {
                s.streaks.remove(rule);
            }
            RuleOutcome::Breach { .. } => {
                let st = s.streaks.entry(rule.clone()).or_insert(Streak {
                    count: 0,
                    since: index,
                });
                st.count += 1;
            }
            // No data neither proves nor disproves: the run is kept as it is.
            RuleOutcome::Inconclusive { .. } => {}
        }
    }
}

/// The decision for a judged window (phase is Ramping or Paused).
fn decide(
    s: &mut Rollout,
    judgement: &Judgement,
    window: &Window,
    policy: &Policy,
    now: Timestamp,
    fx: &mut Vec<Effect>,
) -> Decision {
    // 1. A sustained breach rolls back, from any judged phase: a paused canary
    //    still takes traffic, and a proven regression must not wait for a human.
    if let Verdict::Breach { evidence } = &judgement.verdict {
        let mut tripped: Vec<(&str, &Streak)> = Vec::new();
        for rule in &policy.rules {
            if let Some(st) = s.streaks.get(&rule.name) {
                if st.count >= rule.consecutive {
                    tripped.push((&rule.name, st));
                }
            }
        }
        if !tripped.is_empty() {
            let evidence: Vec<_> = evidence
                .iter()
                .filter(|e| tripped.iter().any(|(r, _)| *r == e.rule))
                .cloned()
                .collect();
            let longest = tripped
                .iter()
                .map(|(_, st)| st.since)
                .min()
                .unwrap_or(s.windows);
            let windows = (longest..=s.windows).collect();
            return roll_back(
                s,
                RollbackCause::Breach { evidence, windows },
                policy,
                now,
                fx,
            );
        }
    }

    if let Phase::Paused { reason } = &s.phase {
        return Decision::Hold {
            reason: format!("paused: {reason}"),
        };
    }

    let decision = match &judgement.verdict {
        Verdict::Unreliable { reason } => {
            return pause(
                s,
                PauseReason::CollectorsUnhealthy {
                    detail: reason.clone(),
                },
                fx,
            )
        }
        Verdict::Inconclusive { reason } => {
            s.extensions += 1;
            if s.extensions > policy.traffic.max_extensions {
                return pause(
                    s,
                    PauseReason::NotEnoughData {
                        detail: reason.clone(),
                        windows: s.extensions,
                    },
                    fx,
                );
            }
            fx.push(Effect::Notify(Notice {
                kind: NoticeKind::Extended,
                severity: Severity::Info,
                facts: NoticeFacts::Extended {
                    key: s.key.clone(),
                    weight: s.weight,
                    window: s.windows,
                    reason: reason.clone(),
                    extensions: s.extensions,
                    max_extensions: policy.traffic.max_extensions,
                },
                next: vec![],
                evidence: vec![],
            }));
            Decision::Extend {
                reason: reason.clone(),
                extensions: s.extensions,
                max: policy.traffic.max_extensions,
            }
        }
        Verdict::Breach { .. } => {
            s.extensions = 0;
            let rules: Vec<String> = s
                .streaks
                .iter()
                .filter_map(|(name, st)| {
                    let need = policy.rules.iter().find(|r| &r.name == name)?.consecutive;
                    Some(format!("{name} {} of {need} windows", st.count))
                })
                .collect();
            Decision::Hold {
                reason: format!("breach not yet sustained: {}", rules.join(", ")),
            }
        }
        Verdict::Healthy => {
            s.extensions = 0;
            s.healthy_at_step += 1;
            let hold = policy.hold_windows(s.step);
            if s.healthy_at_step < hold {
                Decision::Hold {
                    reason: format!(
                        "healthy {} of {hold} windows at {}%",
                        s.healthy_at_step, s.weight
                    ),
                }
            } else {
                match error_budget_gate(policy, window) {
                    Gate::Freeze(remaining) => {
                        return pause(s, PauseReason::ErrorBudgetExhausted { remaining }, fx)
                    }
                    Gate::Defer(why) => Decision::Hold { reason: why },
                    Gate::Open => match next_weight(s, policy, window) {
                        None => return promote(s, None, now, fx),
                        Some(to) => advance(s, to, fx),
                    },
                }
            }
        }
    };

    // The budget stops a ramp that drags on; a rollout that has just finished
    // its ladder has already returned (promoted) above.
    if let Some(started) = s.ramp_started_at {
        let elapsed = now.since(started);
        if elapsed > policy.ramp_budget {
            return pause(
                s,
                PauseReason::RampBudgetExceeded {
                    elapsed_s: elapsed.as_secs(),
                    budget_s: policy.ramp_budget.as_secs(),
                },
                fx,
            );
        }
    }
    decision
}

enum Gate {
    Open,
    Defer(String),
    Freeze(f64),
}

fn error_budget_gate(policy: &Policy, window: &Window) -> Gate {
    let Some(gate) = &policy.error_budget else {
        return Gate::Open;
    };
    match window.error_budget_remaining {
        Some(r) if r.is_finite() && r <= gate.freeze_at => Gate::Freeze(r),
        Some(r) if r.is_finite() && r < gate.defer_below => Gate::Defer(format!(
            "advance deferred: {:.1}% of the error budget left, below {:.0}%",
            r * 100.0,
            gate.defer_below * 100.0
        )),
        Some(r) if r.is_finite() => Gate::Open,
        // No data is never a pass, for the gate too.
        _ => Gate::Defer("advance deferred: the error budget is unknown in this window".into()),
    }
}

/// The next weight, or `None` when the ladder is done.
fn next_weight(s: &Rollout, policy: &Policy, window: &Window) -> Option<Weight> {
    match &policy.ramp {
        Ramp::Ladder(steps) => steps.get(s.step + 1).map(|st| st.weight),
        Ramp::Adaptive(a) => {
            if s.weight >= 100 {
                return None;
            }
            let (lat, err) = regressions(window);
            let factor = ((-a.latency_penalty * lat).exp() - a.error_penalty * err).clamp(0.0, 1.0);
            let raw = (f64::from(a.max_increase) * factor).round();
            let inc = raw.clamp(f64::from(a.min_increase), f64::from(a.max_increase)) as u16;
            Some((u16::from(s.weight) + inc).min(100) as Weight)
        }
    }
}

/// Worst relative p99 regression and worst absolute error-rate regression over
/// the routes of a window, floored at zero. Missing figures count as no regression:
/// the adaptive ramp only runs on windows the judge has already found healthy.
fn regressions(window: &Window) -> (f64, f64) {
    let mut lat: f64 = 0.0;
    let mut err: f64 = 0.0;
    for rw in window.routes.values() {
        let (Some(c), Some(b)) = (&rw.canary, &rw.baseline) else {
            continue;
        };
        if let (Ok(cv), Ok(bv)) = (
            metric_value(c, &Metric::LatencyP99),
            metric_value(b, &Metric::LatencyP99),
        ) {
            if bv > 0.0 {
                lat = lat.max(cv / bv - 1.0);
            }
        }
        if let (Ok(cv), Ok(bv)) = (
            metric_value(c, &Metric::ErrorRate),
            metric_value(b, &Metric::ErrorRate),
        ) {
            err = err.max(cv - bv);
        }
    }
    (lat.max(0.0), err.max(0.0))
}

fn advance(s: &mut Rollout, to: Weight, fx: &mut Vec<Effect>) -> Decision {
    let from = s.weight;
    s.step += 1;
    s.weight = to;
    s.healthy_at_step = 0;
    s.extensions = 0;
    fx.push(Effect::SetWeight { weight: to });
    fx.push(Effect::Notify(Notice {
        kind: NoticeKind::Advanced,
        severity: Severity::Info,
        facts: NoticeFacts::Advanced {
            key: s.key.clone(),
            from,
            to,
        },
        next: vec![],
        evidence: vec![],
    }));
    Decision::Advance {
        from,
        to,
        step: s.step,
    }
}

fn promote(s: &mut Rollout, by: Option<String>, now: Timestamp, fx: &mut Vec<Effect>) -> Decision {
    s.phase = Phase::Promoted { by: by.clone() };
    s.weight = 100;
    s.finished_at = Some(now);
    fx.push(Effect::Promote);
    fx.push(Effect::Notify(Notice {
        kind: NoticeKind::Promoted,
        severity: Severity::Info,
        facts: NoticeFacts::Promoted {
            key: s.key.clone(),
            by: by.clone(),
            took: s.started_at.map(|t| now.since(t)),
            windows: s.windows,
        },
        next: vec![],
        evidence: vec![],
    }));
    Decision::Promote { by }
}

fn roll_back(
    s: &mut Rollout,
    cause: RollbackCause,
    _policy: &Policy,
    now: Timestamp,
    fx: &mut Vec<Effect>,
) -> Decision {
    let at = s.weight;
    s.phase = Phase::RolledBack {
        cause: cause.clone(),
        at_weight: at,
    };
    s.weight = 0;
    s.finished_at = Some(now);
    fx.push(Effect::RollBack);
    let evidence = match &cause {
        RollbackCause::Breach { evidence, .. } => evidence.clone(),
        RollbackCause::Operator { .. } => vec![],
    };
    fx.push(Effect::Notify(Notice {
        kind: NoticeKind::RolledBack,
        severity: Severity::Critical,
        facts: NoticeFacts::RolledBack {
            key: s.key.clone(),
            at_weight: at,
            took: s.started_at.map(|t| now.since(t)),
            cause: cause.clone(),
        },
        next: vec![],
        evidence,
    }));
    Decision::RollBack { cause }
}

/// A pause restarts the hold at the current step (DESIGN.md §1): the healthy
/// windows before an outage say nothing about the canary after it, so they do
/// not add up with the ones after the resume.
fn pause(s: &mut Rollout, reason: PauseReason, fx: &mut Vec<Effect>) -> Decision {
    s.phase = Phase::Paused {
        reason: reason.clone(),
    };
    s.healthy_at_step = 0;
    fx.push(Effect::Notify(Notice {
        kind: NoticeKind::Paused,
        severity: Severity::Warning,
        facts: NoticeFacts::Paused {
            key: s.key.clone(),
            weight: s.weight,
            reason: reason.clone(),
        },
        next: vec![NextAction::Resume, NextAction::RollBack],
        evidence: vec![],
    }));
    Decision::Pause { reason }
}

fn refuse(fx: &mut Vec<Effect>, decision: &Decision) {
    if let Decision::Refuse { reason } = decision {
        fx.push(Effect::Refuse {
            reason: reason.clone(),
        });
    }
}

fn on_operator(
    s: &mut Rollout,
    cmd: OperatorCommand,
    policy: &Policy,
    now: Timestamp,
    fx: &mut Vec<Effect>,
) {
    let decision = match (cmd.action, &s.phase) {
        (OperatorAction::Approve, Phase::AwaitingApproval { .. }) => {
            begin_ramp(s, policy, now, fx, Some(&cmd.by))
        }
        (OperatorAction::Resume, Phase::Paused { .. }) => {
            s.phase = Phase::Ramping;
            s.extensions = 0;
            // A resumed rollout gets a fresh budget: the operator has looked at it.
            s.ramp_started_at = Some(now);
            fx.push(resumed(s, Some(cmd.by.clone()), cmd.reason.clone()));
            Decision::Resume {
                by: Some(cmd.by.clone()),
            }
        }
        (OperatorAction::Abort, phase) if !phase.is_terminal() => roll_back(
            s,
            RollbackCause::Operator {
                by: cmd.by.clone(),
                reason: cmd.reason.clone(),
            },
            policy,
            now,
            fx,
        ),
        (OperatorAction::PromoteNow, phase) if !phase.is_terminal() => {
            promote(s, Some(cmd.by.clone()), now, fx)
        }
        (action, phase) => {
            let reason = refusal(action, phase, s);
            let d = Decision::Refuse { reason };
            refuse(fx, &d);
            d
        }
    };
    fx.push(Effect::Audit(AuditRecord::Operator {
        command: cmd,
        decision,
    }));
}

fn refusal(action: OperatorAction, phase: &Phase, s: &Rollout) -> String {
    let what = match phase {
        Phase::Pending => "has not started".to_string(),
        Phase::AwaitingApproval { .. } => "is awaiting approval".to_string(),
        Phase::Ramping => format!("is ramping at {}%", s.weight),
        Phase::Paused { reason } => format!("is paused at {}% ({reason})", s.weight),
        Phase::RolledBack { .. } => "was already rolled back".to_string(),
        Phase::Promoted { .. } => "was already promoted".to_string(),
    };
    let hint = match action {
        OperatorAction::Approve => "only a rollout awaiting approval can be approved",
        OperatorAction::Resume => "only a paused rollout can be resumed",
        OperatorAction::Abort | OperatorAction::PromoteNow => "a finished rollout cannot change",
    };
    format!("cannot {action} {}: it {what}; {hint}", s.key)
}
