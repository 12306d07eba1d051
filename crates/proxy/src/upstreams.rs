//! The stable and canary upstreams, swappable while the router runs: a new
//! canary (`canaryd release`) is taken without a restart, so without
//! dropping a connection.
//!
//! A request reads the pair *before* its split decision. With the switch
//! order of [`crate::RouterHandle::switch_upstreams`] (new stable first,
//! then weight 0, then the new canary) a request that sees the new canary
//! also sees weight 0, so the new canary gets nothing until a rollout raises
//! its weight; a request already sent keeps its connection and finishes.

use crate::config::Upstream;
use std::sync::{Arc, RwLock};

/// Which upstream serves each cohort.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pair {
    pub stable: Upstream,
    pub canary: Upstream,
}

pub(crate) struct Upstreams(RwLock<Arc<Pair>>);

impl Upstreams {
    pub fn new(stable: Upstream, canary: Upstream) -> Self {
        Upstreams(RwLock::new(Arc::new(Pair { stable, canary })))
    }

    /// The pair in force now (a cheap clone of an `Arc`).
    pub fn get(&self) -> Arc<Pair> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set(&self, pair: Pair) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(pair);
    }
}
