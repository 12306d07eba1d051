//! The situations every policy is put through: a canary identical to stable,
//! regressions of several sizes and shapes, hiccups that must not roll back,
//! drift, thin traffic, and a canary that only breaks under load.
//!
//! A scenario is data: traffic rate, route mix, the stable revision's
//! behaviour, and what (if anything) is wrong with the canary and when.
//! [`Scenario::defaults`] gives the named set at realistic defaults (200 req/s,
//! 0.5% errors, p50 50 ms / p99 300 ms); every field can be changed.

use super::traffic::{CohortModel, Latency};

/// One route of the service and its share of the traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteMix {
    /// Route name as the canary's metrics label it.
    pub route: String,
    /// Share of all requests (the shares of a scenario sum to 1).
    pub share: f64,
    /// How the stable revision serves it.
    pub stable: CohortModel,
}

/// What is wrong with the canary.
#[derive(Debug, Clone, PartialEq)]
pub enum Regression {
    /// Nothing: the canary behaves exactly like stable.
    None,
    /// Error rate multiplied by `factor` on every route.
    ErrorFactor(f64),
    /// Error rate set to `rate` on every route (a broken build).
    ErrorRate(f64),
    /// Every latency multiplied by `factor` (median and tail move together).
    LatencyScale(f64),
    /// Only the 99th percentile multiplied by `factor`, median unchanged.
    TailScale(f64),
    /// A transient hiccup on the canary only (cold caches, a restart): for
    /// `duration_s` from `start_s`, errors at `error_rate` and latency ×
    /// `latency_factor`. Not a regression: rolling back on it is a false alarm.
    Blip {
        /// When the hiccup starts, in simulated seconds from the run's start.
        start_s: f64,
        /// How long it lasts, in seconds.
        duration_s: f64,
        /// Canary error rate during the hiccup (0 to 1).
        error_rate: f64,
        /// Canary latency multiplier during the hiccup.
        latency_factor: f64,
    },
    /// `inner` takes effect once the canary has reached `weight`% (a bug that
    /// only shows under load).
    FromWeight {
        /// Canary weight, in percent, from which the regression shows.
        weight: u8,
        /// The regression that shows from then on.
        inner: Box<Regression>,
    },
}

impl Regression {
    /// Whether the canary is a bad build (a rollback is a detection, not a false alarm).
    pub fn is_bad(&self) -> bool {
        !matches!(self, Regression::None | Regression::Blip { .. })
    }

    /// Whether the regression is in force at `t_s`, once the canary has
    /// reached `max_weight`.
    pub fn active(&self, t_s: f64, max_weight: u8) -> bool {
        match self {
            Regression::None => false,
            Regression::Blip {
                start_s,
                duration_s,
                ..
            } => t_s >= *start_s && t_s < start_s + duration_s,
            Regression::FromWeight { weight, .. } => max_weight >= *weight,
            _ => true,
        }
    }

    /// The canary's model on a route served by `stable`, at `t_s`.
    pub fn apply(&self, stable: CohortModel, t_s: f64, max_weight: u8) -> CohortModel {
        if !self.active(t_s, max_weight) {
            return stable;
        }
        match self {
            Regression::None => stable,
            Regression::ErrorFactor(f) => CohortModel {
                error_rate: (stable.error_rate * f).min(1.0),
                ..stable
            },
            Regression::ErrorRate(r) => CohortModel {
                error_rate: *r,
                ..stable
            },
            Regression::LatencyScale(f) => CohortModel {
                latency: stable.latency.scaled(*f),
                ..stable
            },
            Regression::TailScale(f) => CohortModel {
                latency: Latency {
                    p99_ms: stable.latency.p99_ms * f,
                    ..stable.latency
                },
                ..stable
            },
            Regression::Blip {
                error_rate,
                latency_factor,
                ..
            } => CohortModel {
                error_rate: *error_rate,
                latency: stable.latency.scaled(*latency_factor),
            },
            Regression::FromWeight { inner, .. } => inner.apply(stable, t_s, 0),
        }
    }

    /// The canary's error rate against stable's when the regression is in
    /// force, for error regressions (used for Wald's bound).
    pub fn error_rates(&self, stable: f64) -> Option<(f64, f64)> {
        match self {
            Regression::ErrorFactor(f) => Some((stable, (stable * f).min(1.0))),
            Regression::ErrorRate(r) => Some((stable, *r)),
            Regression::FromWeight { inner, .. } => inner.error_rates(stable),
            _ => None,
        }
    }
}

/// A slow swing of traffic and of both cohorts' error rate and latency
/// (time-of-day load), as a sine of the given period starting at its mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drift {
    /// Length of one full swing, in simulated seconds.
    pub period_s: f64,
    /// Relative amplitude of the request rate (0.5 = ±50%).
    pub rate: f64,
    /// Relative amplitude of the error rate of both cohorts.
    pub errors: f64,
    /// Relative amplitude of the latency of both cohorts.
    pub latency: f64,
}

/// One benchmark situation.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Short name that picks the scenario (see [`Scenario::named`]) and labels it in reports.
    pub name: String,
    /// One line on what the scenario tests.
    pub description: String,
    /// Total requests per second, both cohorts together.
    pub rate_rps: f64,
    /// The routes and their shares of the traffic.
    pub routes: Vec<RouteMix>,
    /// What is wrong with the canary, if anything.
    pub canary: Regression,
    /// Slow background swing of load and behaviour, if any.
    pub drift: Option<Drift>,
    /// Simulated time after which a run that has not finished is cut off
    /// (a rollout waiting for a human; a promoted bad canary serves until then).
    pub horizon_s: f64,
}

/// The service every default scenario runs: one route at 0.5% errors,
/// p50 50 ms, p99 300 ms.
pub fn default_routes() -> Vec<RouteMix> {
    vec![RouteMix {
        route: "GET /api".into(),
        share: 1.0,
        stable: CohortModel {
            error_rate: 0.005,
            latency: Latency::DEFAULT,
        },
    }]
}

impl Scenario {
    fn new(name: &str, description: &str, canary: Regression) -> Scenario {
        Scenario {
            name: name.into(),
            description: description.into(),
            rate_rps: 200.0,
            routes: default_routes(),
            canary,
            drift: None,
            horizon_s: 7_200.0,
        }
    }

    /// The named scenarios, at their defaults.
    pub fn defaults() -> Vec<Scenario> {
        let blip = |secs: f64| Regression::Blip {
            start_s: 150.0,
            duration_s: secs,
            error_rate: 0.05,
            latency_factor: 2.0,
        };
        vec![
            Scenario::new("aa", "A/A: canary identical to stable", Regression::None),
            Scenario::new("error-x1.5", "error rate ×1.5 (0.75%)", Regression::ErrorFactor(1.5)),
            Scenario::new("error-x2", "error rate ×2 (1%)", Regression::ErrorFactor(2.0)),
            Scenario::new("error-x5", "error rate ×5 (2.5%)", Regression::ErrorFactor(5.0)),
            Scenario::new("catastrophic", "50% of canary requests fail", Regression::ErrorRate(0.5)),
            Scenario::new("latency-p50+20%", "every latency +20% (median 50 → 60 ms)", Regression::LatencyScale(1.2)),
            Scenario::new("latency-p99x1.5", "tail only: p99 300 → 450 ms, median unchanged", Regression::TailScale(1.5)),
            Scenario::new("blip-30s", "canary-only hiccup, 30 s of 5% errors and 2× latency (must not roll back)", blip(30.0)),
            Scenario::new("blip-60s", "canary-only hiccup, 60 s of 5% errors and 2× latency (must not roll back)", blip(60.0)),
            Scenario {
                drift: Some(Drift {
                    period_s: 3_600.0,
                    rate: 0.5,
                    errors: 0.5,
                    latency: 0.2,
                }),
                ..Scenario::new("diurnal", "A/A under drift: traffic ±50%, errors ±50%, latency ±20% on both cohorts (1 h period)", Regression::None)
            },
            Scenario {
                rate_rps: 5.0,
                ..Scenario::new("low-traffic", "A/A at 5 req/s", Regression::None)
            },
            Scenario::new(
                "bad-at-50",
                "error rate ×5 once the canary reaches 50% (a bug under load)",
                Regression::FromWeight {
                    weight: 50,
                    inner: Box::new(Regression::ErrorFactor(5.0)),
                },
            ),
        ]
    }

    /// Looks a default scenario up by name.
    pub fn named(name: &str) -> Option<Scenario> {
        Scenario::defaults().into_iter().find(|s| s.name == name)
    }

    /// Whether a rollback is a detection (true) or a false alarm (false).
    pub fn is_bad(&self) -> bool {
        self.canary.is_bad()
    }

    /// Total request rate at `t_s`.
    pub fn rate_at(&self, t_s: f64) -> f64 {
        let swing = self.drift.map_or(0.0, |d| d.rate * sine(d.period_s, t_s));
        (self.rate_rps * (1.0 + swing)).max(0.0)
    }

    /// How stable serves `route` at `t_s` (drift applied).
    pub fn stable_at(&self, route: &RouteMix, t_s: f64) -> CohortModel {
        match self.drift {
            None => route.stable,
            Some(d) => {
                let s = sine(d.period_s, t_s);
                CohortModel {
                    error_rate: (route.stable.error_rate * (1.0 + d.errors * s)).clamp(0.0, 1.0),
                    latency: route.stable.latency.scaled((1.0 + d.latency * s).max(0.05)),
                }
            }
        }
    }

    /// Whether the stable and canary models can change inside
    /// `[from_s, to_s)` (then the window is integrated in short steps).
    pub fn varies(&self, from_s: f64, to_s: f64) -> bool {
        if self.drift.is_some() {
            return true;
        }
        match &self.canary {
            Regression::Blip {
                start_s,
                duration_s,
                ..
            } => from_s < start_s + duration_s && to_s > *start_s,
            _ => false,
        }
    }
}

fn sine(period_s: f64, t_s: f64) -> f64 {
    if period_s > 0.0 {
        (2.0 * std::f64::consts::PI * t_s / period_s).sin()
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_have_unique_names_and_shares_summing_to_one() {
        let all = Scenario::defaults();
        assert_eq!(all.len(), 12);
        for (i, s) in all.iter().enumerate() {
            assert!(all[..i].iter().all(|o| o.name != s.name), "{}", s.name);
            let total: f64 = s.routes.iter().map(|r| r.share).sum();
            assert!((total - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn a_blip_is_active_only_during_its_span_and_is_not_bad() {
        let s = Scenario::named("blip-30s").unwrap();
        assert!(!s.is_bad());
        assert!(!s.canary.active(149.0, 5));
        assert!(s.canary.active(150.0, 5));
        assert!(!s.canary.active(180.0, 5));
        assert!(s.varies(120.0, 180.0));
        assert!(!s.varies(180.0, 240.0));
    }

    #[test]
    fn bad_at_50_waits_for_the_weight() {
        let s = Scenario::named("bad-at-50").unwrap();
        let stable = s.routes[0].stable;
        assert_eq!(s.canary.apply(stable, 10.0, 25), stable);
        assert!((s.canary.apply(stable, 10.0, 50).error_rate - 0.025).abs() < 1e-12);
        assert_eq!(s.canary.error_rates(0.005), Some((0.005, 0.025)));
    }
}
