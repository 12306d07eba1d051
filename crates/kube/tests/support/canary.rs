//! Fixtures for the controller tests: Canary objects, a scripted metrics
//! source (no network), and a context with a fixed clock and a temp store.

use canaryd_core::effect::Notice;
use canaryd_core::observation::{
    Baseline, BaselineStatus, CollectorHealth, Observation, RouteWindow, Window,
};
use canaryd_core::vocab::{RolloutKey, Route, Timestamp, Weight};
use canaryd_kube::controller::{Context, EdgeFactory, LeaderFlag, NotifyTarget, SourceRequest};
use canaryd_kube::crd::Canary;
use canaryd_kube::kubeapi::Backoff;
use canaryd_ports::{ActionError, MetricsSource, Notifier, SourceError};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::ApiServer;

pub const POLICY: &str = "name: t
window: 60s
ladder:
  - {weight: 10, hold_windows: 1}
  - {weight: 50, hold_windows: 1}
  - {weight: 100, hold_windows: 1}
ramp_budget: 1h
traffic: {min_requests_per_route: 20, max_extensions: 3}
baseline: {lookback: 7d, min_history: 1h, min_requests_per_route: 50}
rules:
  - {name: errors, metric: error_rate, absolute: 5%, consecutive: 2}
";

/// 2026-01-01T00:00:00Z
pub const T0: i64 = 1_767_225_600_000;
pub const DEPLOYS: &str = "/apis/apps/v1/namespaces/shop/deployments";
pub const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/shop/events";
pub const CANARY_STATUS: &str = "/apis/canaryd.io/v1alpha1/namespaces/shop/canaries/web/status";
pub const ROLLOUT: &str = "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/checkout";

/// What the next window reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    Healthy,
    /// Half the canary's requests fail.
    Breach,
    /// The collectors cannot see the canary.
    Blind,
}

#[derive(Default)]
pub struct ScriptState {
    pub readings: VecDeque<Reading>,
    pub windows_read: u32,
    pub baselines_read: u32,
    /// When set, every baseline read fails with this (a source that cannot be reached).
    pub baseline_error: Option<String>,
    pub built: u32,
    /// What the factory's `spec.notify` channels were built from and sent.
    pub channel_targets: Vec<String>,
    pub channel_notices: Vec<String>,
}

/// Shared between the test and every source the factory builds.
#[derive(Clone, Default)]
pub struct Script(pub Arc<Mutex<ScriptState>>);

impl Script {
    pub fn new(readings: &[Reading]) -> Script {
        let s = Script::default();
        s.0.lock().unwrap().readings = readings.iter().copied().collect();
        s
    }

    pub fn windows_read(&self) -> u32 {
        self.0.lock().unwrap().windows_read
    }

    pub fn built(&self) -> u32 {
        self.0.lock().unwrap().built
    }
}

pub struct ScriptedFactory(pub Script);

impl EdgeFactory for ScriptedFactory {
    fn source(&self, _request: &SourceRequest<'_>) -> Result<Box<dyn MetricsSource>, String> {
        self.0 .0.lock().unwrap().built += 1;
        Ok(Box::new(ScriptedSource(self.0.clone())))
    }

    fn channels(&self, targets: Vec<NotifyTarget>) -> Result<Option<Box<dyn Notifier>>, String> {
        let described = targets.iter().map(|t| match t {
            NotifyTarget::Slack { webhook_url } => format!("slack {}", webhook_url.expose()),
            NotifyTarget::PagerDuty { routing_key } => {
                format!("pagerduty {}", routing_key.expose())
            }
            NotifyTarget::Webhook { url, .. } => format!("webhook {}", url.expose()),
        });
        self.0 .0.lock().unwrap().channel_targets.extend(described);
        Ok(Some(Box::new(RecordingChannels(self.0.clone()))))
    }
}

/// `spec.notify` channels that only remember what they were asked to send.
pub struct RecordingChannels(Script);

#[canaryd_ports::async_trait]
impl Notifier for RecordingChannels {
    async fn notify(&mut self, _key: &RolloutKey, notice: &Notice) -> Result<(), ActionError> {
        let line = format!("{:?}: {}", notice.kind, canaryd_ports::words::title(notice));
        self.0 .0.lock().unwrap().channel_notices.push(line);
        Ok(())
    }
}

pub struct ScriptedSource(Script);

fn obs(requests: u64, errors: u64) -> Observation {
    Observation {
        requests,
        errors,
        ..Default::default()
    }
}

#[canaryd_ports::async_trait]
impl MetricsSource for ScriptedSource {
    async fn baseline(&mut self, _key: &RolloutKey) -> Result<BaselineStatus, SourceError> {
        let failure = {
            let mut s = self.0 .0.lock().unwrap();
            s.baselines_read += 1;
            s.baseline_error.clone()
        };
        if let Some(e) = failure {
            return Err(SourceError::transient(e));
        }
        let mut routes = BTreeMap::new();
        routes.insert(Route::from("GET /"), obs(100_000, 10));
        Ok(BaselineStatus::Available(Baseline {
            history_hours: 168.0,
            routes,
        }))
    }

    async fn window(
        &mut self,
        _key: &RolloutKey,
        _weight: Weight,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Window, SourceError> {
        let reading = {
            let mut s = self.0 .0.lock().unwrap();
            s.windows_read += 1;
            s.readings.pop_front().unwrap_or(Reading::Healthy)
        };
        let mut routes = BTreeMap::new();
        let errors = if reading == Reading::Breach { 500 } else { 0 };
        routes.insert(
            Route::from("GET /"),
            RouteWindow {
                canary: Some(obs(1_000, errors)),
                baseline: Some(obs(9_000, 1)),
            },
        );
        let collectors = match reading {
            Reading::Blind => CollectorHealth::Unhealthy("probe timeouts to the canary".into()),
            _ => CollectorHealth::Healthy,
        };
        Ok(Window {
            start,
            end,
            routes,
            collectors,
            ..Default::default()
        })
    }
}

pub fn context(
    client: kube::Client,
    db: &std::path::Path,
    script: &Script,
    at: i64,
    leading: bool,
) -> Context<ScriptedFactory> {
    Context::new(
        client,
        db.to_path_buf(),
        ScriptedFactory(script.clone()),
        LeaderFlag::new(leading),
    )
    .with_clock(Arc::new(move || Timestamp(at)))
    .with_backoff(Backoff {
        attempts: 3,
        first: Duration::from_millis(10),
        max: Duration::from_millis(50),
    })
}

pub fn canary(spec: Value, status: Option<Value>) -> Canary {
    let mut v = json!({
        "apiVersion": "canaryd.io/v1alpha1", "kind": "Canary",
        "metadata": {"name": "web", "namespace": "shop", "uid": "uid-canary",
                     "generation": 2, "resourceVersion": "10"},
        "spec": spec,
    });
    if let Some(s) = status {
        v["status"] = s;
    }
    serde_json::from_value(v).unwrap()
}

pub fn pair_spec() -> Value {
    json!({"target": {"stable": "web", "canary": "web-canary"}, "policy": {"inline": POLICY}})
}

pub fn argo_spec() -> Value {
    json!({"target": {"rollout": "checkout"}, "policy": {"inline": POLICY}})
}

/// Echo of a Canary for a status patch's answer.
pub fn canary_json(spec: Value, status: &Value) -> Value {
    json!({"apiVersion": "canaryd.io/v1alpha1", "kind": "Canary",
           "metadata": {"name": "web", "namespace": "shop", "uid": "uid-canary",
                        "generation": 2, "resourceVersion": "11"},
           "spec": spec, "status": status["status"].clone()})
}

pub fn template(image: &str, track: &str) -> Value {
    json!({"metadata": {"labels": {"app": "web", "track": track}},
           "spec": {"containers": [{"name": "app", "image": image}]}})
}

pub fn revision(image: &str) -> String {
    let t: PodTemplateSpec = serde_json::from_value(template(image, "canary")).unwrap();
    canaryd_kube::revision::template_revision(&t)
}

pub fn deployment(
    name: &str,
    track: &str,
    image: &str,
    replicas: i32,
    rv: &str,
    rev: u32,
) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"),
                     "resourceVersion": rv,
                     "annotations": {"deployment.kubernetes.io/revision": rev.to_string()}},
        "spec": {"replicas": replicas,
                 "selector": {"matchLabels": {"app": "web", "track": track}},
                 "template": template(image, track)}
    })
}

impl ApiServer {
    /// Answers the two reads of the pair (stable `web:1` × 9, canary `image` × `replicas`).
    pub async fn serve_pair(&mut self, image: &str, replicas: i32) {
        self.expect("GET", &format!("{DEPLOYS}/web"))
            .await
            .ok(deployment("web", "stable", "web:1", 9, "5", 1));
        self.expect("GET", &format!("{DEPLOYS}/web-canary"))
            .await
            .ok(deployment("web-canary", "canary", image, replicas, "7", 2));
    }

    /// Expects Events with these reasons (each on the Canary, then on
    /// `target_kind`), answering each; returns their bodies.
    pub async fn events(&mut self, reasons: &[&str], target_kind: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        for reason in reasons {
            for kind in ["Canary", target_kind] {
                let post = self.expect("POST", EVENTS).await;
                assert_eq!(post.body["reason"], *reason, "{}", post.body);
                assert_eq!(post.body["regarding"]["kind"], kind, "{}", post.body);
                let body = post.body.clone();
                seen.push(body.clone());
                post.respond(201, body);
            }
        }
        seen
    }
}

/// One reconcile of `c` at `at` while `play` answers as the API server (the
/// requests it expects, in order; then no more may come). Both sides run in
/// this task, so `play` may borrow from the test. Returns the reconcile's
/// result and what `play` returned.
pub async fn reconcile_against<T>(
    c: &Canary,
    db: &std::path::Path,
    script: &Script,
    at: i64,
    play: impl AsyncFnOnce(&mut ApiServer) -> T,
) -> (
    Result<canaryd_kube::controller::Outcome, canaryd_kube::controller::ControllerError>,
    T,
) {
    let (client, mut server) = super::mock_client();
    let ctx = context(client, db, script, at, true);
    let controller = async {
        let outcome = canaryd_kube::controller::reconcile_canary(c, &ctx).await;
        // The client goes with the context: the server sees it hang up.
        drop(ctx);
        outcome
    };
    let api = async {
        let t = play(&mut server).await;
        server.done().await;
        t
    };
    tokio::join!(controller, api)
}
