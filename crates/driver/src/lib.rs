//! canaryd's shell: it owns time, I/O and effects; the core decides.
//!
//! [`driver::Driver`] applies events to rollouts through the core and the
//! store, through the edges `canaryd-ports` names (metrics sources, traffic
//! routers, notifiers); [`scenario`] and [`replay`] run scenario files
//! through it all in virtual time, with the [`recording`] edges.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

pub mod cache;
pub mod driver;
pub mod live;
pub mod recording;
pub mod replay;
pub mod scenario;

pub use cache::CachedBaseline;
pub use driver::{is_store_outage, AfterCommit, Applied, ClosedWindow, Driver, DriverError};
pub use live::{run_live, LiveLimits, Progress, Reply, Request, Stopped};
pub use recording::{CollectingNotifier, VirtualRouter};
pub use replay::{run_scenario, ReplayReport};
pub use scenario::{Outcome, Scenario, ScenarioError};
