//! The policies compared: canaryd's presets through the real `step()`, and
//! models of the tools users would pick instead (Flagger, Argo Rollouts,
//! Kayenta), each following that tool's documented rules.
//!
//! Every contender sees the same windows (built as the embedded router's
//! metrics source builds them) and answers the same question after each:
//! keep going at some weight, roll back, promote, or wait for a human.

mod argo;
mod flagger;
mod kayenta;
mod preset;

pub use argo::{ArgoConfig, ArgoModel};
pub use flagger::{FlaggerConfig, FlaggerModel};
pub use kayenta::{KayentaConfig, KayentaModel};
pub use preset::PresetContender;

use std::time::Duration;

use canaryd_core::judge::metric_value;
use canaryd_core::observation::{Observation, Window};
use canaryd_core::policy::Metric;
use canaryd_core::vocab::{Timestamp, Weight};

/// What a contender decided after a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Keep serving the canary at this weight.
    Continue(Weight),
    /// The canary is gone: all traffic back to stable.
    RolledBack,
    /// The canary became stable (100%).
    Promoted,
    /// Waiting for a human at this weight (the canary keeps its share;
    /// further windows are still fed, since some tools judge while paused).
    Paused(Weight),
}

/// One policy under test. A fresh value is made for every run.
pub trait Contender {
    /// The first weight (after the rollout starts).
    fn start(&mut self, now: Timestamp) -> Step;
    /// Length of the next window it wants measured.
    fn window(&self) -> Duration;
    /// Judges one closed window, measured at the current weight.
    fn on_window(&mut self, window: Window, now: Timestamp) -> Step;
}

/// The policy names `bench detect` knows, canaryd's presets first.
pub fn contender_names() -> Vec<&'static str> {
    vec![
        "canaryd",
        "slo-ratio",
        "absolute-slo",
        "statistical",
        "adaptive-weight",
        "flagger",
        "argo-rollouts",
        "kayenta",
    ]
}

/// A fresh contender by name, or `None` for an unknown name.
pub fn contender(name: &str, routes: &[String]) -> Option<Box<dyn Contender>> {
    match name {
        "flagger" => Some(Box::new(FlaggerModel::new(FlaggerConfig::default()))),
        "argo-rollouts" => Some(Box::new(ArgoModel::new(ArgoConfig::default()))),
        "kayenta" => Some(Box::new(KayentaModel::new(KayentaConfig::default()))),
        preset => PresetContender::new(preset, routes).map(|p| Box::new(p) as Box<dyn Contender>),
    }
}

/// Canary error rate and p99 (from the buckets) over all routes of a window,
/// as a single service-level query (`sum(rate(...))` over routes) returns
/// them; `None` where the query would return no data (no requests, no
/// histogram).
pub(crate) fn service_level(window: &Window) -> (Option<f64>, Option<f64>) {
    let canary: Vec<&Observation> = window
        .routes
        .values()
        .filter_map(|rw| rw.canary.as_ref())
        .collect();
    merged_metrics(&canary)
}

/// The baseline cohort's figures, as [`service_level`] gives the canary's.
pub(crate) fn service_level_baseline(window: &Window) -> (Option<f64>, Option<f64>) {
    let base: Vec<&Observation> = window
        .routes
        .values()
        .filter_map(|rw| rw.baseline.as_ref())
        .collect();
    merged_metrics(&base)
}

fn merged_metrics(obs: &[&Observation]) -> (Option<f64>, Option<f64>) {
    let merged = match obs {
        [] => return (None, None),
        [one] => (*one).clone(),
        many => merge(many),
    };
    (
        metric_value(&merged, &Metric::ErrorRate).ok(),
        metric_value(&merged, &Metric::LatencyP99).ok(),
    )
}

/// Sums observations (counts and cumulative buckets).
fn merge(obs: &[&Observation]) -> Observation {
    let mut out = Observation::default();
    for o in obs {
        out.requests += o.requests;
        out.errors += o.errors;
        if let Some(h) = &o.latency_buckets_ms {
            let dst = out.latency_buckets_ms.get_or_insert_with(Default::default);
            for (k, v) in &h.0 {
                *dst.0.entry(k.clone()).or_insert(0.0) += v;
            }
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests_support {
    use canaryd_core::observation::{Histogram, Observation, RouteWindow, Window};
    use canaryd_core::vocab::Route;

    use crate::detect::traffic::BUCKETS_MS;

    /// An observation whose requests all took `latency_ms`.
    pub fn obs(requests: u64, errors: u64, latency_ms: f64) -> Observation {
        let buckets = (requests > 0).then(|| {
            let mut h = Histogram::default();
            for b in BUCKETS_MS {
                let n = if latency_ms <= b { requests } else { 0 };
                h.0.insert(format!("{b}"), n as f64);
            }
            h.0.insert("+Inf".into(), requests as f64);
            h
        });
        Observation {
            requests,
            errors,
            latency_buckets_ms: buckets,
            ..Default::default()
        }
    }

    /// A one-route window with the given canary and a healthy baseline.
    pub fn window(requests: u64, errors: u64, latency_ms: f64) -> Window {
        window_both((requests, errors, latency_ms), (requests * 9, 0, 100.0))
    }

    /// A one-route window: (requests, errors, latency) of canary and baseline.
    pub fn window_both(c: (u64, u64, f64), b: (u64, u64, f64)) -> Window {
        let mut w = Window::default();
        w.routes.insert(
            Route("GET /api".into()),
            RouteWindow {
                canary: Some(obs(c.0, c.1, c.2)),
                baseline: Some(obs(b.0, b.1, b.2)),
            },
        );
        w
    }
}
