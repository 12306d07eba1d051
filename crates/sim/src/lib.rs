//! canaryd's simulation kit: a sample service whose faults change at run time
//! and an open-loop load generator. `canaryd demo`, the integration tests and
//! the router benchmarks run real HTTP on loopback with these instead of
//! mocks, so what they show is what a real front door would see.
//!
//! - [`app`]: [`SampleApp::start`] runs one revision (`canaryd sample-app`);
//! - [`load`]: [`load::start`] runs a fixed arrival schedule (`canaryd load`);
//! - [`dist`]: the latency distribution syntax both share.
//! - [`detect`]: the detection benchmark, rollouts in virtual time through
//!   the real core (`canaryd bench detect`, `canaryd backtest`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod app;
pub mod detect;
pub mod dist;
mod error;
pub mod load;
pub mod prometheus;

pub use app::{Faults, FaultsPatch, SampleApp, SampleAppConfig};
pub use dist::LatencyDist;
pub use error::SimError;
pub use load::{LoadConfig, LoadCounters, LoadHandle, LoadReport, RouteMix};
