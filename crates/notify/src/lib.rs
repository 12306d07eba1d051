//! Telling people: Slack, PagerDuty Events v2 and signed webhooks, with
//! secrets that cannot be printed (`canaryd-secrets`) and a redaction step
//! over everything that leaves the process.
//!
//! - [`config`]: the notification config file (targets, routing, retries);
//! - `message`, `slack`, [`pagerduty`], `webhook`: one payload shape per channel;
//! - `deliver`: [`Notifiers`], the driver's `Notifier`, with retries and fan-out.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

pub mod config;
mod deliver;
mod message;
pub mod pagerduty;
mod slack;
mod webhook;

pub use config::NotifyConfig;
pub use deliver::{Channel, Delivery, Notifiers, NotifyError};
