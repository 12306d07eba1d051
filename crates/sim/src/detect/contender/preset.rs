//! canaryd's own presets, driven through the production state machine.

use std::collections::BTreeMap;
use std::time::Duration;

use canaryd_core::observation::{Baseline, BaselineStatus, Observation, Window};
use canaryd_core::policy::Policy;
use canaryd_core::rollout::{step, Event, Phase, Rollout};
use canaryd_core::vocab::{RolloutKey, Route, Timestamp};
use canaryd_policy::preset;

use super::{Contender, Step};

/// A preset policy, judged by `canaryd_core::rollout::step` exactly as the
/// driver calls it in production.
pub struct PresetContender {
    policy: Policy,
    rollout: Rollout,
    baseline: BaselineStatus,
}

impl PresetContender {
    /// The preset `name`, with a clean week of stable history on `routes`
    /// (so the baseline gate lets the ramp start on its own).
    pub fn new(name: &str, routes: &[String]) -> Option<PresetContender> {
        Some(PresetContender::with_policy(preset(name)?, routes))
    }

    /// Any resolved policy (a team's own file), with the same history.
    pub fn with_policy(policy: Policy, routes: &[String]) -> PresetContender {
        let history = Baseline {
            history_hours: 7.0 * 24.0,
            routes: routes
                .iter()
                .map(|r| {
                    (
                        Route(r.clone()),
                        Observation {
                            requests: 10_000_000,
                            errors: 50_000,
                            ..Default::default()
                        },
                    )
                })
                .collect::<BTreeMap<_, _>>(),
        };
        PresetContender {
            policy,
            rollout: Rollout::new(RolloutKey::new("bench", "canary")),
            baseline: BaselineStatus::Available(history),
        }
    }

    fn outcome(&self) -> Step {
        match &self.rollout.phase {
            Phase::RolledBack { .. } => Step::RolledBack,
            Phase::Promoted { .. } => Step::Promoted,
            Phase::Paused { .. } | Phase::AwaitingApproval { .. } => {
                Step::Paused(self.rollout.weight)
            }
            Phase::Pending | Phase::Ramping => Step::Continue(self.rollout.weight),
        }
    }
}

impl Contender for PresetContender {
    fn start(&mut self, now: Timestamp) -> Step {
        let (next, _) = step(
            &self.rollout,
            Event::Start {
                baseline: self.baseline.clone(),
            },
            &self.policy,
            now,
        );
        self.rollout = next;
        self.outcome()
    }

    fn window(&self) -> Duration {
        self.policy.window
    }

    fn on_window(&mut self, window: Window, now: Timestamp) -> Step {
        let (next, _) = step(
            &self.rollout,
            Event::WindowClosed { window },
            &self.policy,
            now,
        );
        self.rollout = next;
        self.outcome()
    }
}
