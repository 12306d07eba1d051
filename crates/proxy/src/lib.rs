//! canaryd's embedded weighted router: the front door that `canaryd proxy`
//! and `canaryd demo` put between clients and two revisions of a service.
//!
//! Why embedded: teams without a service mesh still need to steer a share of
//! traffic to a canary and to *measure both sides in the same window*. Doing
//! both in one process means every request is measured where it is routed
//! (no scrape lag, no missing series), and a rollback is one atomic store
//! that is final when [`RouterHandle::roll_back`] returns.
//!
//! - [`Router::start`] with a [`RouterConfig`] → [`RouterHandle`]
//!   (weight control, counters, `/metrics` text, shutdown); the handle is
//!   also the driver's `TrafficRouter`.
//! - [`RouterHandle::metrics_source`] → [`EmbeddedSource`], the driver's
//!   `MetricsSource` (windows as snapshot differences; baseline = stable
//!   traffic since start). The router *is* the data path, so a canary that
//!   refuses, resets or leaves users' requests unanswered is judged on the
//!   502/504s it caused; a window is `CollectorHealth::Unhealthy` only when
//!   canaryd's view is impaired: the stable side failing, canary probes
//!   failing while its users are served, or probes stopped.
//! - `/metrics` (Prometheus text, `cohort` label) and `/healthz` are served
//!   on a separate admin listener ([`RouterConfig::admin_listen`]) so no
//!   proxied path is shadowed; so is `GET|PUT /admin/weight` for a
//!   controller in another process, guarded by [`AdminAccess`].
//!
//! Every listener is bounded ([`ConnectionLimits`]): header and idle
//! timeouts, and a connection cap below the file-descriptor limit, so idle
//! or half-open clients cannot take the router or its `/healthz` down.
//!
//! Measurement: route names come from [`RouteTable`]; a request counts as an
//! error when the upstream answers 5xx, cannot be reached (502) or does not
//! answer in time (504). Requests the router refuses itself (413 for bodies
//! over the limit, 400 when the client's upload breaks) are counted apart
//! and never against a cohort: they say nothing about either revision.
//! Latency runs from request received to the end of the response body.

// One libc call needs unsafe; it is allowed where it is, with its SAFETY note.
#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

mod admin;
mod body;
mod config;
mod error;
mod forward;
mod handle;
mod metrics;
mod probe;
mod routes;
mod source;
mod split;
mod trim;
mod upstreams;

pub use admin::{AdminAccess, AdminToken};
pub use canaryd_http::ConnectionLimits;
pub use config::{ProbeConfig, RouterConfig, Stickiness, Upstream};
pub use error::ProxyError;
pub use handle::{Router, RouterHandle};
pub use probe::ProbeResult;
pub use routes::RouteTable;
pub use source::EmbeddedSource;
