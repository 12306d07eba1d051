//! The demo's scenarios: each reaches one branch of DESIGN.md §1 through real
//! traffic, by changing the canary's faults as the rollout progresses.

use canaryd_sim::{Faults, LatencyDist};
use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DemoScenario {
    /// A good canary: promoted.
    Healthy,
    /// Canary errors jump after the first step: rolled back after 2 breaching windows.
    ErrorSpike,
    /// Canary p99 doubles: rolled back.
    LatencyRegression,
    /// One short error burst: not rolled back, promoted.
    TransientBlip,
    /// Too few requests: windows extended, then paused.
    LowTraffic,
    /// No baseline: awaiting approval (`--approve-after S` approves it).
    NoBaseline,
    /// The canary's health checks fail while its users are served: paused, not rolled back.
    Partition,
}

impl DemoScenario {
    pub fn name(self) -> &'static str {
        match self {
            DemoScenario::Healthy => "healthy",
            DemoScenario::ErrorSpike => "error-spike",
            DemoScenario::LatencyRegression => "latency-regression",
            DemoScenario::TransientBlip => "transient-blip",
            DemoScenario::LowTraffic => "low-traffic",
            DemoScenario::NoBaseline => "no-baseline",
            DemoScenario::Partition => "partition",
        }
    }

    /// What the run should show, printed before it starts.
    pub fn story(self) -> &'static str {
        match self {
            DemoScenario::Healthy => "a good canary climbs 10 → 25 → 50 → 100% and is promoted",
            DemoScenario::ErrorSpike => "after the first step the canary starts failing 20% of requests: a sustained breach rolls it back",
            DemoScenario::LatencyRegression => "after the first step the canary's tail latency doubles (p95 and p99): rolled back",
            DemoScenario::TransientBlip => "one window sees a burst of canary errors, then it recovers: a single bad window never rolls back",
            DemoScenario::LowTraffic => "traffic is too thin to judge: windows are extended, then the rollout pauses for a human",
            DemoScenario::NoBaseline => "no stable history was measured: the rollout waits for an operator's approval",
            DemoScenario::Partition => "the canary's health checks start failing while its users are served fine: canaryd's two views disagree, so the rollout pauses at its split for a human and does not roll back",
        }
    }

    /// Requests per second while stable history is measured.
    pub const WARM_UP_RPS: f64 = 600.0;

    /// Requests per second once the canary starts.
    pub fn rps(self) -> f64 {
        match self {
            DemoScenario::LowTraffic => 40.0,
            _ => Self::WARM_UP_RPS,
        }
    }

    /// Whether stable traffic is measured before the canary starts.
    pub fn warm_up(self) -> bool {
        self != DemoScenario::NoBaseline
    }
}

/// The stable revision and the healthy canary behave the same.
pub fn normal() -> Faults {
    Faults {
        error_rate: 0.0,
        latency_ms: LatencyDist::LogNormal {
            p50: 20.0,
            p99: 60.0,
        },
        down: false,
        unhealthy: false,
    }
}

/// What to do to the canary when window `index` has just closed at `weight`.
#[derive(Debug, Clone, PartialEq)]
pub enum Inject {
    Nothing,
    Set(Faults),
    /// Errors at this rate from `from_ms` to `to_ms` after the window that
    /// just closed ended (so the burst lies inside the next window, however
    /// late this instruction is carried out), then back to normal.
    Burst {
        error_rate: f64,
        from_ms: i64,
        to_ms: i64,
    },
}

impl DemoScenario {
    pub fn inject(self, index: u32, weight: u8) -> Inject {
        match (self, index, weight) {
            (DemoScenario::ErrorSpike, _, w) if w > 10 => Inject::Set(Faults {
                error_rate: 0.20,
                ..normal()
            }),
            (DemoScenario::LatencyRegression, _, w) if w > 10 => Inject::Set(Faults {
                latency_ms: LatencyDist::LogNormal {
                    p50: 22.0,
                    p99: 130.0,
                },
                ..normal()
            }),
            // Right after window 3 closes: the burst lies inside window 4.
            (DemoScenario::TransientBlip, 3, _) => Inject::Burst {
                error_rate: 0.30,
                from_ms: 200,
                to_ms: 800,
            },
            (DemoScenario::Partition, 2, _) => Inject::Set(Faults {
                unhealthy: true,
                ..normal()
            }),
            _ => Inject::Nothing,
        }
    }
}
