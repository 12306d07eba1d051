//! `canaryd demo`: a whole canary release on loopback, nothing to install.
//!
//! Two revisions of the sample service, the embedded router in front of them,
//! an open-loop load, and the same live loop, driver, core and store a
//! production `canaryd proxy` runs, with windows compressed to two seconds.
//! The scenario decides what goes wrong with the canary, and when.

pub(crate) mod output;
mod scenario;

use canaryd_core::effect::{OperatorAction, OperatorCommand};
use canaryd_core::observation::{BaselineStatus, Window};
use canaryd_core::vocab::{RolloutKey, Timestamp, Weight};
use canaryd_driver::{run_live, Driver, LiveLimits, Progress, Request};
use canaryd_policy::parse_policy;
use canaryd_ports::{ActionError, MetricsSource, SourceError, TrafficRouter};
use canaryd_proxy::{Router, RouterConfig, RouterHandle};
use canaryd_sim::{SampleApp, SampleAppConfig};
use clap::Args;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

use crate::{fmt, DbArg, Fail};
pub use output::{DemoReport, Output, WindowRow};
pub use scenario::DemoScenario;
use scenario::{normal, Inject};

#[derive(Args)]
pub struct DemoArgs {
    /// What happens to the canary.
    #[arg(long, value_enum, default_value_t = DemoScenario::ErrorSpike)]
    pub scenario: DemoScenario,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Approve a rollout that awaits approval after this long (e.g. 5s).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub approve_after: Option<Duration>,
    #[command(flatten)]
    pub db: DbArg,
}

/// The built-in demo policy (windows of 2 s; see policy.yaml beside this file).
pub const POLICY: &str = include_str!("policy.yaml");

/// Stable traffic measured before the canary starts, standing in for history.
const WARM_UP: Duration = Duration::from_secs(3);

pub fn run(args: DemoArgs) -> Result<u8, Fail> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Fail::Operational(e.into()))?;
    let report = rt.block_on(run_demo(&args))?;
    output::print(&report, args.output)?;
    Ok(report.outcome.exit_code())
}

/// Times and counts shared by the wrappers below, for the rollback figures.
#[derive(Default)]
struct Marks {
    /// When the latest window was closed (the decision follows from it).
    window_closed: Option<Instant>,
    /// When the router stopped sending to the canary, with the canary count then.
    rolled_back: Option<(Instant, u64)>,
}

/// The router's metrics, with the moment each window closes recorded, and
/// optionally no history (the `no-baseline` scenario).
struct DemoSource {
    inner: canaryd_proxy::EmbeddedSource,
    no_history: bool,
    marks: Arc<Mutex<Marks>>,
}

#[canaryd_ports::async_trait]
impl MetricsSource for DemoSource {
    async fn baseline(&mut self, key: &RolloutKey) -> Result<BaselineStatus, SourceError> {
        if self.no_history {
            return Ok(BaselineStatus::Missing(
                "no stable traffic was measured before the canary (demo scenario no-baseline)"
                    .into(),
            ));
        }
        self.inner.baseline(key).await
    }

    async fn window(
        &mut self,
        key: &RolloutKey,
        weight: Weight,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Window, SourceError> {
        if let Ok(mut m) = self.marks.lock() {
            m.window_closed = Some(Instant::now());
        }
        self.inner.window(key, weight, start, end).await
    }
}

/// The embedded router, noting when a rollback took effect.
struct DemoRouter {
    inner: RouterHandle,
    marks: Arc<Mutex<Marks>>,
}

#[canaryd_ports::async_trait]
impl TrafficRouter for DemoRouter {
    async fn set_weight(&mut self, key: &RolloutKey, weight: Weight) -> Result<(), ActionError> {
        TrafficRouter::set_weight(&mut self.inner, key, weight).await
    }

    async fn roll_back(&mut self, key: &RolloutKey) -> Result<(), ActionError> {
        TrafficRouter::roll_back(&mut self.inner, key).await?;
        let canary = self.inner.canary_requests();
        if let Ok(mut m) = self.marks.lock() {
            m.rolled_back = Some((Instant::now(), canary));
        }
        Ok(())
    }

    async fn promote(&mut self, key: &RolloutKey) -> Result<(), ActionError> {
        TrafficRouter::promote(&mut self.inner, key).await
    }
}

async fn run_demo(args: &DemoArgs) -> Result<DemoReport, Fail> {
    let scenario = args.scenario;
    let policy = parse_policy("built-in demo policy", POLICY)
        .map_err(|e| Fail::Operational(anyhow::anyhow!("{e}")))?;
    let op = |e: &dyn std::fmt::Display| Fail::Operational(anyhow::anyhow!("{e}"));
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));

    let mut stable_cfg = SampleAppConfig::new("v1.0.0");
    stable_cfg.listen = loopback;
    stable_cfg.faults = normal();
    let mut canary_cfg = SampleAppConfig::new("v1.1.0");
    canary_cfg.listen = loopback;
    canary_cfg.faults = normal();
    let stable = SampleApp::start(stable_cfg).await.map_err(|e| op(&e))?;
    let canary = SampleApp::start(canary_cfg).await.map_err(|e| op(&e))?;

    let mut cfg = RouterConfig::from_urls(&stable.url(), &canary.url()).map_err(|e| op(&e))?;
    cfg.listen = loopback;
    // Probes often enough for 2 s windows, with a deadline a busy machine
    // meets; rounds this process was too starved to time are set aside
    // (see canaryd-proxy's probe module), so a loaded laptop is no partition.
    cfg.probe.interval = Duration::from_millis(250);
    cfg.probe.timeout = Duration::from_secs(1);
    let router = Router::start(cfg).await.map_err(|e| op(&e))?;

    let start_load = |rps: f64| -> Result<canaryd_sim::LoadHandle, Fail> {
        let mut cfg = canaryd_sim::LoadConfig::new(router.url(), rps, Duration::from_secs(600));
        cfg.mix = "GET /pay=70,POST /pay=30".parse().map_err(|e| op(&e))?;
        canaryd_sim::load::start(cfg).map_err(|e| op(&e))
    };
    let mut load = start_load(DemoScenario::WARM_UP_RPS)?;
    let mut warm_up_sent = 0;

    let marks = Arc::new(Mutex::new(Marks::default()));
    let mut source = DemoSource {
        inner: router.metrics_source(),
        no_history: !scenario.warm_up(),
        marks: marks.clone(),
    };
    if scenario.warm_up() {
        tokio::time::sleep(WARM_UP).await;
    }
    if scenario.rps() != DemoScenario::WARM_UP_RPS {
        warm_up_sent = load.stop().await.counters.sent;
        load = start_load(scenario.rps())?;
    }

    let store = fmt::open_store(&args.db.db)?;
    let stamp = fmt::now().0 / 1000;
    let key = RolloutKey::new("demo/payments", format!("v1.1.0-{stamp}"));
    let demo_router = DemoRouter {
        inner: router.clone(),
        marks: marks.clone(),
    };
    let mut driver = Driver::new(
        store,
        Box::new(demo_router),
        Box::new(canaryd_driver::CollectingNotifier::default()),
        policy.clone(),
    )?;

    let (tx, rx) = mpsc::channel::<Request>(4);
    if let Some(after) = args.approve_after {
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let command = OperatorCommand {
                action: OperatorAction::Approve,
                by: "demo-operator".into(),
                reason: Some(format!(
                    "--approve-after {}",
                    humantime::format_duration(after)
                )),
            };
            let _ = tx
                .send(Request {
                    command,
                    reply: None,
                })
                .await;
        });
    }

    let show = output::Live::new(args.output, scenario, &key, &policy);
    let mut rows: Vec<WindowRow> = Vec::new();
    let started = Instant::now();
    let canary_for_faults = canary.clone();
    let (state, _stopped) = run_live(
        &mut driver,
        &mut source,
        &key,
        rx,
        LiveLimits {
            idle_windows: Some(3),
            max_windows: Some(40),
        },
        |p| {
            show.progress(p, router.completed_requests());
            if let Progress::Window {
                index,
                window,
                applied,
            } = p
            {
                rows.push(WindowRow::new(*index, window, applied));
                match scenario.inject(*index, applied.state.weight) {
                    Inject::Nothing => {}
                    Inject::Set(f) => {
                        let _ = canary_for_faults.set_faults(f);
                    }
                    Inject::Burst {
                        error_rate,
                        from_ms,
                        to_ms,
                    } => {
                        // Timed from the window's end, not from now: committing
                        // the window (an fsync) may have taken a while.
                        let (end, now) = (window.end.0, fmt::now().0);
                        let wait = |at: i64| {
                            Duration::from_millis(u64::try_from(end + at - now).unwrap_or(0))
                        };
                        let (start_in, stop_in) = (wait(from_ms), wait(to_ms));
                        let app = canary_for_faults.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(start_in).await;
                            if !stop_in.is_zero() {
                                let _ = app.set_faults(canaryd_sim::Faults {
                                    error_rate,
                                    ..normal()
                                });
                                tokio::time::sleep(stop_in.saturating_sub(start_in)).await;
                            }
                            let _ = app.set_faults(normal());
                        });
                    }
                }
            }
        },
    )
    .await?;
    show.finish();

    // Keep the load on for a moment after a rollback, to show that nothing
    // more reaches the canary.
    let rolled_back = matches!(state.phase, canaryd_core::Phase::RolledBack { .. });
    if rolled_back {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let canary_total = router.canary_requests();
    let load_report = load.stop().await;
    router.shutdown().await;
    stable.shutdown().await;
    canary.shutdown().await;

    let m = marks
        .lock()
        .map_err(|_| Fail::Operational(anyhow::anyhow!("demo marks poisoned")))?;
    let (rollback_latency_ms, canary_requests_after_decision) =
        match (m.window_closed, m.rolled_back) {
            (Some(closed), Some((at, count))) if rolled_back => (
                Some(at.saturating_duration_since(closed).as_secs_f64() * 1000.0),
                Some(canary_total.saturating_sub(count)),
            ),
            _ => (None, None),
        };
    let outcome = canaryd_driver::replay::outcome_of(&state);
    let after_window = rows
        .iter()
        .rev()
        .find(|r| r.decision_changed_phase)
        .map(|r| r.window)
        .filter(|_| !matches!(outcome, canaryd_driver::Outcome::InProgress));
    Ok(DemoReport {
        scenario: scenario.name().to_string(),
        workload: key.workload.0.clone(),
        revision: key.revision.0.clone(),
        outcome,
        after_window,
        final_weight: router.weight(),
        detail: canaryd_driver::replay::phase_detail(&state),
        windows: rows,
        rollback_latency_ms,
        canary_requests_after_decision,
        requests_sent: warm_up_sent + load_report.counters.sent,
        duration_s: started.elapsed().as_secs_f64(),
        db: args.db.db.display().to_string(),
    })
}
