//! DESIGN.md §1: "A multiple of nothing is not evidence." The ratio presets'
//! error-rate rules breach above `max(f × baseline, floor)`, through `step()`.
//!
//! Before the floor, `slo-ratio` against a clean stable cohort (0 errors)
//! rolled back on one error in 3,000 canary requests in two windows: the
//! threshold was 2 × 0% = 0%. `stray_errors_on_a_clean_baseline_never_roll_back`
//! fails there on its first case.

use canaryd_core::effect::{AuditRecord, Decision, Effect, RollbackCause};
use canaryd_core::observation::{CollectorHealth, Observation, Window};
use canaryd_core::policy::Policy;
use canaryd_core::rollout::{step, Event, Phase, Rollout};
use canaryd_core::vocab::{RolloutKey, Timestamp};
use proptest::prelude::*;

mod support;
use support::{obs, policy, week_of_history};

fn window(canary: Observation, baseline: Observation, at: i64) -> Window {
    support::window(canary, baseline, CollectorHealth::Healthy, at)
}

/// Feeds the windows; returns the 1-based window that rolled back, with the
/// rollback's effects, if one did.
fn run(policy: &Policy, windows: &[(Observation, Observation)]) -> Option<(usize, Vec<Effect>)> {
    let mut now = Timestamp(1_800_000_000_000);
    let (mut s, _) = step(
        &Rollout::new(RolloutKey::new("payments/payment-api", "v2")),
        Event::Start {
            baseline: week_of_history(0),
        },
        policy,
        now,
    );
    assert_eq!(s.phase, Phase::Ramping);
    for (i, (c, b)) in windows.iter().enumerate() {
        now = Timestamp(now.0 + 60_000);
        let (next, fx) = step(
            &s,
            Event::WindowClosed {
                window: window(c.clone(), b.clone(), now.0 - 60_000),
            },
            policy,
            now,
        );
        if matches!(next.phase, Phase::RolledBack { .. }) {
            return Some((i + 1, fx));
        }
        s = next;
        if s.phase.is_terminal() {
            break;
        }
    }
    None
}

fn ratio_preset() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("slo-ratio"), Just("adaptive-weight")]
}

/// A canary window at or below the 0.1% floor against a 0-error stable cohort.
fn stray(min_requests: u64) -> impl Strategy<Value = (Observation, Observation)> {
    (min_requests..20_000u64, 10_000u64..200_000, 0.0f64..=1.0).prop_map(|(n, nb, f)| {
        let errors = ((n as f64 * 0.001) * f).floor() as u64;
        (obs(n, errors), obs(nb, 0))
    })
}

/// A canary window at 1% to 10% errors against a 0-error stable cohort.
fn regression(min_requests: u64) -> impl Strategy<Value = (Observation, Observation)> {
    (min_requests..20_000u64, 10_000u64..200_000, 0.01f64..0.1).prop_map(|(n, nb, rate)| {
        let errors = (n as f64 * rate).ceil() as u64;
        (obs(n, errors), obs(nb, 0))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn stray_errors_on_a_clean_baseline_never_roll_back(
        name in ratio_preset(),
        windows in prop::collection::vec(stray(1_000), 1..30),
    ) {
        let p = policy(name);
        prop_assert!(run(&p, &windows).is_none(), "{name} rolled back on stray errors");
    }

    #[test]
    fn a_real_regression_on_a_clean_baseline_rolls_back_in_two_windows(
        windows in prop::collection::vec(regression(1_000), 2..10),
    ) {
        let p = policy("slo-ratio");
        let (at, fx) = run(&p, &windows).expect("a 1%+ error rate against 0 rolls back");
        prop_assert_eq!(at, 2);
        let evidence = fx.iter().find_map(|e| match e {
            Effect::Audit(AuditRecord::Window {
                decision: Decision::RollBack { cause: RollbackCause::Breach { evidence, .. } },
                ..
            }) => Some(evidence.clone()),
            _ => None,
        });
        let evidence = evidence.expect("the rollback carries its evidence");
        let text = evidence.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ");
        prop_assert!(
            text.contains("threshold 0.100%") && text.contains("max(2× baseline, 0.100%)"),
            "{}", text
        );
    }
}

/// The exact case from the issue: 1 error in 3,000 requests, twice.
#[test]
fn one_error_in_3000_twice_does_not_roll_back() {
    let w = (obs(3_000, 1), obs(28_000, 0));
    assert!(run(&policy("slo-ratio"), &[w.clone(), w]).is_none());
}

/// Above the floor the ratio still governs: against a 0.5% baseline, a 1.2%
/// canary breaches 2× baseline (1%) and rolls back in two windows, and a 0.9%
/// one does not.
#[test]
fn above_the_floor_the_ratio_decides() {
    let p = policy("slo-ratio");
    let bad = (obs(5_000, 60), obs(40_000, 200));
    assert_eq!(run(&p, &[bad.clone(), bad]).map(|(at, _)| at), Some(2));
    let fine = (obs(5_000, 45), obs(40_000, 200));
    assert!(run(&p, &[fine.clone(), fine.clone(), fine]).is_none());
}

/// `policy show` and the one-line summary state the floor.
#[test]
fn the_floor_is_shown() {
    let p = policy("slo-ratio");
    assert!(
        p.summary()
            .contains("error_rate > max(2× baseline, 0.100%)"),
        "{}",
        p.summary()
    );
    let yaml = canaryd_policy::policy_to_yaml(&p);
    assert!(yaml.contains("min_value: 0.001"), "{yaml}");
}

/// A ratio rule a user writes without `min_value`, as a policy file.
fn users_ratio_policy(factor: f64) -> Policy {
    let text = format!(
        "name: mine\nwindow: 60s\nladder: [{{weight: 10, hold_windows: 3}}, {{weight: 100, hold_windows: 3}}]\n\
         ramp_budget: 2h\nrules: [{{name: errors, metric: error_rate, ratio: {factor}, consecutive: 2}}]\n"
    );
    canaryd_policy::parse_policy("mine.yaml", &text).expect("the policy parses")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// Issue 17: not only the presets; any error-rate ratio rule judged on
    /// the raw ratio gets the 0.1% floor when it names none.
    #[test]
    fn a_users_ratio_rule_ignores_stray_errors_on_a_clean_baseline(
        factor in 1.1f64..10.0,
        windows in prop::collection::vec(stray(1), 1..20),
    ) {
        let p = users_ratio_policy(factor);
        prop_assert!(run(&p, &windows).is_none(), "a {factor}× ratio rolled back on stray errors");
    }

    #[test]
    fn a_users_ratio_rule_still_rolls_back_a_real_regression_in_two_windows(
        windows in prop::collection::vec(regression(1_000), 2..10),
    ) {
        let p = users_ratio_policy(2.0);
        let (at, _) = run(&p, &windows).expect("1%+ against 0 rolls back");
        prop_assert_eq!(at, 2);
    }
}

/// The default floor is shown where the operator reads the rule, and a rule
/// with a test (whose ratio is the minimum effect) gets none.
#[test]
fn a_users_ratio_rule_shows_its_default_floor() {
    let p = users_ratio_policy(2.0);
    assert_eq!(p.rules[0].min_value, Some(0.001));
    assert!(
        p.summary()
            .contains("error_rate > max(2× baseline, 0.100%)"),
        "{}",
        p.summary()
    );
    assert!(canaryd_policy::policy_to_yaml(&p).contains("min_value: 0.001"));

    let tested = canaryd_policy::parse_policy(
        "t.yaml",
        "name: t\nwindow: 60s\nladder: [{weight: 10, hold_windows: 1}, {weight: 100, hold_windows: 1}]\n\
         ramp_budget: 1h\nrules: [{name: e, metric: error_rate, ratio: 1.0, test: {kind: fisher, alpha: 0.001}}]\n",
    )
    .expect("parses");
    assert_eq!(tested.rules[0].min_value, None);
}
