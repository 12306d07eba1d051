//! Fixtures shared by the core's `step()` tests: one route, a window of it,
//! a week of stable history, a preset by name.
#![allow(dead_code)]

use canaryd_core::observation::{
    Baseline, BaselineStatus, CollectorHealth, LatencySummary, Observation, RouteWindow, Window,
};
use canaryd_core::policy::Policy;
use canaryd_core::vocab::{Route, Timestamp};
use canaryd_policy::preset;
use std::collections::BTreeMap;

pub const ROUTE: &str = "GET /pay";

/// `requests` with `errors` among them, and the same healthy latencies on
/// both sides, so only errors decide.
pub fn obs(requests: u64, errors: u64) -> Observation {
    Observation {
        requests,
        errors,
        latency_ms: LatencySummary {
            p50: Some(40.0),
            p95: Some(120.0),
            p99: Some(300.0),
        },
        ..Default::default()
    }
}

/// A one-minute window of [`ROUTE`] starting at `at` (ms).
pub fn window(
    canary: Observation,
    baseline: Observation,
    collectors: CollectorHealth,
    at: i64,
) -> Window {
    let mut routes = BTreeMap::new();
    routes.insert(
        Route::from(ROUTE),
        RouteWindow {
            canary: Some(canary),
            baseline: Some(baseline),
        },
    );
    Window {
        start: Timestamp(at),
        end: Timestamp(at + 60_000),
        collectors,
        routes,
        error_budget_remaining: Some(1.0),
        gaps: Vec::new(),
    }
}

/// A week of stable history on [`ROUTE`]: 500,000 requests, `errors` of them failed.
pub fn week_of_history(errors: u64) -> BaselineStatus {
    let mut routes = BTreeMap::new();
    routes.insert(Route::from(ROUTE), obs(500_000, errors));
    BaselineStatus::Available(Baseline {
        history_hours: 168.0,
        routes,
    })
}

pub fn policy(name: &str) -> Policy {
    preset(name).unwrap_or_else(|| panic!("preset {name} does not resolve"))
}
