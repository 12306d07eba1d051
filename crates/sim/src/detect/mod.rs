//! The detection benchmark: how fast each policy catches a bad canary, how
//! many users it hurts first, and how rarely it rolls back a good one.
//!
//! - [`traffic`]: the request model (Poisson arrivals split by weight and
//!   route, Bernoulli errors, log-normal latency with a heavy tail) and why
//!   drawing per-window aggregates is exact;
//! - [`scenario`]: the situations (A/A, regressions, blips, drift, thin
//!   traffic, a canary that breaks under load), all parameterizable;
//! - [`contender`](mod@contender): canaryd's presets through the production `step()`, and
//!   models of Flagger, Argo Rollouts and Kayenta with their documented rules;
//! - [`runner`]: one rollout in virtual time; [`report`]: the whole
//!   benchmark, in parallel and deterministic for a seed, and its figures;
//!   [`spread`]: the same at several seeds, min / median / max per figure;
//! - [`chart`]: an SVG of time to detect and harm per policy.

pub mod backtest;
pub mod chart;
pub mod contender;
pub mod report;
pub mod rng;
pub mod runner;
pub mod scenario;
pub mod spread;
pub mod traffic;

pub use contender::{contender, contender_names, Contender, PresetContender, Step};
pub use report::{json, markdown, run_bench, summarize, wald_bound, BenchConfig, Row};
pub use runner::{run_one, run_with, Outcome, RunError, RunResult};
pub use scenario::{Drift, Regression, RouteMix, Scenario};
pub use spread::{run_seeds, spread_markdown, Spread, SpreadRow};
pub use traffic::{CohortModel, Latency};
