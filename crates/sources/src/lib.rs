//! Where the numbers come from when canaryd does not measure traffic itself:
//! a Prometheus server (HTTP API, directly or through Grafana's data-source
//! proxy) or Datadog (metrics query API).
//!
//! Each source turns "the canary and the stable cohort, per route, between
//! `start` and `end`" into a core [`Window`](canaryd_core::observation::Window),
//! and is defensive about it: an empty answer, a NaN, a selector that matches
//! nothing or a proxy's HTML error page never becomes a passing number. Either
//! the window says *no data* and names why (inconclusive), or the source
//! reports that it could not see (unreliable: the rollout pauses).
//!
//! Layout:
//! - [`config`]: the `source:` section of a policy file and the [`config::Connected`]
//!   it builds for one rollout;
//! - [`series`]: the answer model every backend's parser produces;
//! - [`prometheus`]: the HTTP client and its response parser, query templates
//!   and naming conventions, and the `MetricsSource` built on them;
//! - [`datadog`]: the same for Datadog;
//! - [`error`]: why a query failed, and which failures are retried;
//! - [`probe`]: direct HTTP probes of the canary, part of collector health.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod config;
pub mod datadog;
pub mod error;
pub mod probe;
pub mod prometheus;
pub mod series;
