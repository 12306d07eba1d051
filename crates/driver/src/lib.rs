//! canaryd's shell: it owns time, I/O and effects; the core decides.
//!
//! [`driver::Driver`] applies events to rollouts through the core and the
//! store; [`traits`] names the edges (metrics sources, traffic routers,
//! notifiers); [`scenario`] and [`replay`] run scenario files through it all
//! in virtual time; [`words`] says the core's notices for each surface.

pub mod cache;
pub mod driver;
pub mod live;
pub mod replay;
pub mod scenario;
pub mod traits;
pub mod words;

pub use cache::CachedBaseline;
pub use driver::{is_store_outage, AfterCommit, Applied, Driver, DriverError};
pub use live::{run_live, LiveLimits, Progress, Reply, Request, Stopped};
pub use replay::{run_scenario, ReplayReport};
pub use scenario::{Outcome, Scenario, ScenarioError};
pub use traits::{ActionError, MetricsSource, Notifier, SourceError, TrafficRouter};
pub use words::{Surface, Words};
