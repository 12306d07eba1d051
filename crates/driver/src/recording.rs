//! Edges that act on nothing and remember what they were asked: the router
//! and notifier of replays, dry runs and tests.
//!
//! Each is a handle: clone it, give one clone to the driver (which owns its
//! edges as `Box<dyn …>`) and read what happened through the other.

use canaryd_core::effect::Notice;
use canaryd_core::vocab::{RolloutKey, Weight};
use canaryd_ports::{async_trait, ActionError, Notifier, TrafficRouter};
use std::sync::{Arc, Mutex, MutexGuard};

/// Locks `m`, carrying on past a panic in another holder: what is guarded
/// here is a record of calls, never left half-written.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What a [`VirtualRouter`] was told.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Moves {
    /// The weight the canary would have now.
    pub weight: Weight,
    /// Every call, in order (`set_weight 25`, `roll_back`, `promote`).
    pub actions: Vec<String>,
}

/// A router for replays and dry runs: it steers no traffic, it remembers the
/// weight it was told so the report can show it.
#[derive(Debug, Default, Clone)]
pub struct VirtualRouter {
    moves: Arc<Mutex<Moves>>,
}

impl VirtualRouter {
    /// The weight the canary would have now.
    pub fn weight(&self) -> Weight {
        lock(&self.moves).weight
    }

    /// Every call so far, in order.
    pub fn actions(&self) -> Vec<String> {
        lock(&self.moves).actions.clone()
    }

    fn record(&self, weight: Weight, action: String) {
        let mut m = lock(&self.moves);
        m.weight = weight;
        m.actions.push(action);
    }
}

#[async_trait]
impl TrafficRouter for VirtualRouter {
    async fn set_weight(&mut self, _key: &RolloutKey, weight: Weight) -> Result<(), ActionError> {
        self.record(weight, format!("set_weight {weight}"));
        Ok(())
    }

    async fn roll_back(&mut self, _key: &RolloutKey) -> Result<(), ActionError> {
        self.record(0, "roll_back".into());
        Ok(())
    }

    async fn promote(&mut self, _key: &RolloutKey) -> Result<(), ActionError> {
        self.record(100, "promote".into());
        Ok(())
    }
}

/// A notifier that keeps what it was told (replay prints them on request).
#[derive(Debug, Default, Clone)]
pub struct CollectingNotifier {
    notices: Arc<Mutex<Vec<Notice>>>,
}

impl CollectingNotifier {
    /// Every notice so far, oldest first.
    pub fn notices(&self) -> Vec<Notice> {
        lock(&self.notices).clone()
    }
}

#[async_trait]
impl Notifier for CollectingNotifier {
    async fn notify(&mut self, _key: &RolloutKey, notice: &Notice) -> Result<(), ActionError> {
        lock(&self.notices).push(notice.clone());
        Ok(())
    }
}
