//! DESIGN.md §1: "A pause restarts the hold." Healthy windows on both sides of
//! an outage (or of any pause) do not add up to a step's hold.
//!
//! On the code before this rule, `pause()` left `healthy_at_step` as it was:
//! one healthy window, a blind window, and one healthy window after the
//! collectors came back advanced a two-window step. Both tests below fail there.

use canaryd_core::effect::{AuditRecord, Decision, Effect, OperatorAction, OperatorCommand};
use canaryd_core::observation::{BaselineStatus, CollectorHealth, Window};
use canaryd_core::policy::Policy;
use canaryd_core::rollout::{step, Event, Phase, Rollout};
use canaryd_core::verdict::Verdict;
use canaryd_core::vocab::{RolloutKey, Timestamp};
use proptest::prelude::*;

mod support;
use support::{obs, policy};

#[derive(Debug, Clone, Copy)]
enum Step {
    Healthy,
    /// The collectors cannot see the canary: the rollout pauses.
    Blind,
    /// Too little traffic: extended, and paused past the extension limit.
    Thin,
    /// An operator resumes (refused unless paused).
    Resume,
}

fn window(kind: Step, at: i64) -> Window {
    let canary = match kind {
        Step::Thin => obs(20, 0),
        _ => obs(2_000, 8),
    };
    let collectors = match kind {
        Step::Blind => CollectorHealth::Unhealthy("Prometheus unreachable".into()),
        _ => CollectorHealth::Healthy,
    };
    support::window(canary, obs(28_000, 110), collectors, at)
}

fn baseline() -> BaselineStatus {
    support::week_of_history(2_000)
}

/// Runs the steps and checks, at every automatic advance or promotion, that
/// the step's whole hold was healthy windows judged since the last pause.
fn check_holds(policy: &Policy, steps: &[Step]) -> Result<(), TestCaseError> {
    let key = RolloutKey::new("payments/payment-api", "v2");
    let mut now = Timestamp(1_800_000_000_000);
    let (mut s, _) = step(
        &Rollout::new(key),
        Event::Start {
            baseline: baseline(),
        },
        policy,
        now,
    );
    prop_assert_eq!(&s.phase, &Phase::Ramping);
    // Healthy windows judged while ramping at this step, since the last pause.
    let mut run = 0u32;
    for kind in steps {
        now = Timestamp(now.0 + 60_000);
        let event = match kind {
            Step::Resume => Event::Operator(OperatorCommand {
                action: OperatorAction::Resume,
                by: "bob".into(),
                reason: None,
            }),
            _ => Event::WindowClosed {
                window: window(*kind, now.0 - 60_000),
            },
        };
        let at_step = s.step;
        let was_paused = matches!(s.phase, Phase::Paused { .. });
        let (next, fx) = step(&s, event, policy, now);
        if was_paused {
            run = 0;
        }
        for e in &fx {
            if let Effect::Audit(AuditRecord::Window {
                judgement,
                decision,
                ..
            }) = e
            {
                let judged_ramping = matches!(next.phase, Phase::Ramping | Phase::Promoted { .. })
                    || matches!(
                        decision,
                        Decision::Advance { .. } | Decision::Promote { .. }
                    );
                if judgement.verdict == Verdict::Healthy && judged_ramping {
                    run += 1;
                }
                match decision {
                    Decision::Advance { .. } | Decision::Promote { by: None } => {
                        let hold = policy.hold_windows(at_step);
                        prop_assert!(
                            run >= hold,
                            "advanced from step {} after {} healthy windows since the last \
                             pause; the hold is {}",
                            at_step,
                            run,
                            hold
                        );
                        run = 0;
                    }
                    Decision::Pause { .. } => run = 0,
                    _ => {}
                }
            }
        }
        s = next;
        if s.phase.is_terminal() {
            break;
        }
    }
    Ok(())
}

fn step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => Just(Step::Healthy),
        2 => Just(Step::Blind),
        1 => Just(Step::Thin),
        1 => Just(Step::Resume),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_pause_restarts_the_hold(
        name in prop_oneof![Just("slo-ratio"), Just("absolute-slo"), Just("statistical")],
        steps in prop::collection::vec(step_strategy(), 0..40),
    ) {
        check_holds(&policy(name), &steps)?;
    }
}

/// The case from the issue: one healthy window, Prometheus down for one window,
/// one healthy window after it came back. The first step of `slo-ratio` holds
/// two windows, so the canary must still be at 10%; a second healthy window
/// after the outage advances it.
#[test]
fn healthy_windows_on_both_sides_of_an_outage_do_not_add_up() {
    let policy = policy("slo-ratio");
    assert_eq!(policy.hold_windows(0), 2);
    let key = RolloutKey::new("payments/payment-api", "v2");
    let mut now = Timestamp(1_800_000_000_000);
    let (mut s, _) = step(
        &Rollout::new(key),
        Event::Start {
            baseline: baseline(),
        },
        &policy,
        now,
    );
    for kind in [Step::Healthy, Step::Blind, Step::Healthy] {
        now = Timestamp(now.0 + 300_000);
        s = step(
            &s,
            Event::WindowClosed {
                window: window(kind, now.0 - 300_000),
            },
            &policy,
            now,
        )
        .0;
    }
    assert_eq!(s.phase, Phase::Ramping, "auto-resumed after the outage");
    assert_eq!((s.step, s.weight), (0, 10), "the hold restarted at 10%");
    assert_eq!(s.healthy_at_step, 1);
    now = Timestamp(now.0 + 300_000);
    let (s, _) = step(
        &s,
        Event::WindowClosed {
            window: window(Step::Healthy, now.0 - 300_000),
        },
        &policy,
        now,
    );
    assert_eq!((s.step, s.weight), (1, 25));
}
