//! canaryd in a Kubernetes cluster.
//!
//! The `Canary` custom resource ([`crd`]) names a workload, how its traffic
//! is split, and the policy that judges it. A reconcile reads the target
//! ([`target`]), decides with a pure function ([`reconcile::plan`]) and
//! carries the decision out through `canaryd_driver::Driver`
//! ([`execute`]), so every decision is the same core as everywhere else and
//! every action goes through the store's outbox: a controller killed at any
//! moment resumes without repeating or skipping an action. Status and
//! Events are mirrored from the store ([`status`]). The traffic routers
//! ([`router`]) are the cluster-side `TrafficRouter`s: Gateway API HTTPRoute
//! weights, Argo Rollouts, a pair of Deployments. [`lease`] elects the one
//! replica that acts.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod argo;
pub mod controller;
pub mod crd;
pub mod error;
pub mod events;
pub mod execute;
pub mod kubeapi;
pub mod lease;
pub mod reconcile;
pub mod revision;
pub mod router;
pub mod status;
pub mod target;
