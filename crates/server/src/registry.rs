//! Which rollouts are running in this process, and how to reach each one.

use canaryd_core::vocab::RolloutKey;
use canaryd_driver::Request;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use tokio::sync::mpsc;

/// Shared between the API and the loops: a loop registers its command
/// channel when it starts and removes it when it ends.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<RwLock<BTreeMap<RolloutKey, mpsc::Sender<Request>>>>,
}

impl Registry {
    /// Makes a rollout's loop reachable; a second loop for the same rollout
    /// replaces the first's channel.
    pub fn register(&self, key: RolloutKey, commands: mpsc::Sender<Request>) {
        if let Ok(mut m) = self.inner.write() {
            m.insert(key, commands);
        }
    }

    /// Forgets a rollout whose loop has ended: it is no longer running here.
    pub fn unregister(&self, key: &RolloutKey) {
        if let Ok(mut m) = self.inner.write() {
            m.remove(key);
        }
    }

    /// The command channel of a running rollout's loop, if it is running here.
    pub fn get(&self, key: &RolloutKey) -> Option<mpsc::Sender<Request>> {
        self.inner.read().ok()?.get(key).cloned()
    }

    /// Every rollout running in this process.
    pub fn keys(&self) -> Vec<RolloutKey> {
        self.inner
            .read()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
}
