//! Policies: the model the engine reads ([`Policy`]), and how policy files
//! become that model: [`parse_policy`] (see [`mod@file`]), [`preset`] (see
//! [`presets`]), [`PolicyErrors`] (see [`error`]) and [`policy_to_yaml`].

mod draft;
pub mod error;
pub mod file;
mod file_rules;
mod model;
pub mod presets;
mod render;
mod resolve;
mod resolve_ramp;
mod resolve_rules;
mod resolve_sections;
mod yaml;

pub use error::{PolicyError, PolicyErrors};
pub use file::{parse_policy, validate_policy, SHELL_SECTIONS};
pub use model::*;
pub use presets::{preset, PRESET_NAMES};
pub use render::policy_to_yaml;
