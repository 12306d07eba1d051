//! canaryd's decision engine, sans-IO.
//!
//! Sources produce [`observation::Window`]s; [`judge::judge`] turns a window
//! into a [`verdict::Verdict`]; [`rollout::step`] turns the verdict (or an
//! operator command) into the next [`rollout::Rollout`] state and the
//! [`effect::Effect`]s the shell must carry out. Nothing here reads a clock,
//! a socket, a file or an environment variable: time is an argument. That is
//! what makes every decision replayable from the audit log ([`replay`]) and
//! testable in virtual time.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod effect;
pub mod judge;
pub mod notice;
pub mod observation;
pub mod policy;
pub mod replay;
pub mod rollout;
pub mod significance;
pub mod tail;
pub mod verdict;
pub mod vocab;

pub use effect::{AuditRecord, Decision, Effect, Notice, OperatorAction, OperatorCommand};
pub use observation::{
    Baseline, BaselineStatus, CollectorHealth, Observation, RouteWindow, Window,
};
pub use policy::Policy;
pub use rollout::{step, Event, Phase, Rollout};
pub use verdict::{Evidence, Judgement, Verdict, VerdictKind};
pub use vocab::{Cohort, Revision, RolloutKey, Route, Timestamp, Weight, Workload};
