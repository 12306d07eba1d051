//! canaryd's policy compiler: policy files and presets become the
//! [`Policy`](canaryd_core::policy::Policy) the engine reads.
//!
//! [`parse_policy`] reads a policy file's text (YAML), merges it over its
//! preset ([`preset`], [`PRESET_NAMES`]) and checks every field, reporting
//! all problems at once with their line and column ([`PolicyErrors`]).
//! [`validate_policy`] runs the same checks on a policy built in code, and
//! [`policy_to_yaml`] prints a policy back in the file format
//! (`canaryd policy show`).
//!
//! It is a crate of its own because the engine in `canaryd-core` only reads
//! the resolved model: keeping the YAML parser, the presets and the error
//! wording out of the core keeps the decision engine small, free of a YAML
//! dependency, and lets either side change without rebuilding the other.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

pub mod error;
pub mod file;
pub mod presets;

mod draft;
mod file_rules;
mod render;
mod resolve;
mod resolve_ramp;
mod resolve_rule;
mod resolve_rules;
mod resolve_sections;
mod resolve_test;
mod yaml;

pub use error::{PolicyError, PolicyErrors};
pub use file::{parse_policy, validate_policy, SHELL_SECTIONS};
pub use presets::{preset, PRESET_NAMES};
pub use render::policy_to_yaml;
