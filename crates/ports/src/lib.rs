//! The edges of canaryd's shell, as traits: where the numbers come from
//! ([`MetricsSource`]), what moves traffic ([`TrafficRouter`]) and who is
//! told ([`Notifier`]).
//!
//! Why a crate of its own: every integration (the embedded proxy, Prometheus,
//! Datadog, Kubernetes, webhooks, Slack) implements one of these, and the
//! driver calls them. Kept here, next to nothing but the core's vocabulary,
//! an integration depends on the contract and not on the driver, the store or
//! SQLite behind it.
//!
//! The traits are object safe (their futures are boxed, through
//! [`macro@async_trait`]): a process picks its source, router and notifier at run
//! time from configuration, and holds them as `Box<dyn …>`. One dispatch
//! mechanism, instead of an enum per place that needs a choice.
//!
//! Failures are typed ([`ActionError`], [`SourceError`]) with an
//! [`ErrorKind`] that says whether trying again can help: a timeout or a 503
//! is [`ErrorKind::Transient`], a refused credential or a missing object is
//! [`ErrorKind::Permanent`] and needs a human.
//!
//! The core gives a notice as facts; [`words`] says them for the surface a
//! human reads them on (a terminal, a pipeline, a Kubernetes Event), for
//! every notifier and for the shell alike.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

mod error;
mod traits;
pub mod words;

pub use async_trait::async_trait;
pub use error::{Action, ActionError, EdgeError, ErrorKind, Source, SourceError};
pub use traits::{MetricsSource, Notifier, TrafficRouter};
pub use words::{Surface, Words};
