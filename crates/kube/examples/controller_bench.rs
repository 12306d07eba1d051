//! The real controller loop with 1,000 `Canary` objects: memory and
//! reconcile time (issue 8).
//!
//! `canaryd_kube::controller::run` — the entry point of `canaryd controller`,
//! with its `Context`, leader flag, Lease election and metrics — runs against
//! an in-memory API server (a `tower` service inside this process, no
//! sockets) holding 1,000 Deployment-pair Canaries in 20 namespaces, their
//! 2,000 Deployments, a policy ConfigMap and a metrics Secret per namespace.
//! The server keeps what the controller writes (status merge patches,
//! Deployment JSON patches with their resourceVersion check, Events, the
//! Lease) and streams every change to the open watches, so the loop sees
//! what it would see in a cluster: its own status write comes back as a
//! watch event and triggers a reconcile that has nothing to do. Metrics
//! windows are answered from memory (always healthy) by a `EdgeFactory`.
//!
//! The policy's window is compressed to a few seconds so that every Canary
//! starts its rollout and closes `WINDOWS` windows within well under a
//! minute of wall time; the store is a real SQLite file (WAL) in the
//! system's temp directory.
//!
//! Printed: VmRSS before the controller starts (fake API and objects
//! loaded) and once every Canary has closed its windows, the difference
//! (the controller's share, plus what the fake API itself grew by, also
//! printed), reconcile counts, and the reconcile durations (p50/p99/max)
//! split by what the reconcile did. A reconcile's duration is the lifetime
//! of kube-runtime's `reconciling object` span, measured by a tiny
//! `tracing` subscriber below; the fake API and the metrics source say
//! which reconcile wrote or closed a window (a Canary is never reconciled
//! twice at once, so counters per Canary attribute each request).
//!
//! Run: `cargo run --release -p canaryd-kube --example controller_bench`
//! (`CANARYD_BENCH_WINDOW_SECS` changes the window, default 5).

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use canaryd_core::observation::{
    Baseline, BaselineStatus, LatencySummary, Observation, RouteWindow, Window,
};
use canaryd_core::vocab::{RolloutKey, Route, Timestamp, Weight};
use canaryd_kube::controller::{
    run, Context, ControllerMetrics, EdgeFactory, LeaderFlag, LeaseConfig, ReconcileResult,
    RunConfig, Scope, SourceRequest,
};
use canaryd_ports::{MetricsSource, SourceError};
use futures::channel::mpsc;
use futures::stream::BoxStream;
use futures::StreamExt;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::StreamBody;
use serde_json::{json, Value};
use tokio::sync::watch;

const CANARIES: usize = 1_000;
const NAMESPACES: usize = 20;
/// Windows every Canary must have closed before the second measurement.
const WINDOWS: u64 = 2;
/// The bench gives up (and says so) after this long.
const DEADLINE: Duration = Duration::from_secs(50);

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// What each Canary's reconciles did, shared by the fake API, the metrics
// source and the timing subscriber.

#[derive(Default, Clone, Copy)]
struct Did {
    /// Requests other than GET (patches, Events).
    writes: u64,
    /// Metrics windows read (one per window closed).
    windows: u64,
}

#[derive(Default)]
struct Tally(Mutex<HashMap<String, Did>>);

impl Tally {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Did>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, canary: &str) -> Did {
        self.lock().get(canary).copied().unwrap_or_default()
    }

    fn wrote(&self, canary: String) {
        self.lock().entry(canary).or_default().writes += 1;
    }

    fn read_window(&self, canary: String) {
        self.lock().entry(canary).or_default().windows += 1;
    }

    fn fewest_windows(&self) -> u64 {
        let t = self.lock();
        if t.len() < CANARIES {
            return 0;
        }
        t.values().map(|d| d.windows).min().unwrap_or(0)
    }
}

/// `team-3/svc-42-canary` and `team-3/svc-42` are both Canary `team-3/svc-42`.
fn canary_of(namespace: &str, name: &str) -> String {
    format!(
        "{namespace}/{}",
        name.strip_suffix("-canary").unwrap_or(name)
    )
}

// ---------------------------------------------------------------------------
// The in-memory API server.

type Body = StreamBody<BoxStream<'static, Result<Frame<Bytes>, Infallible>>>;

fn body(bytes: Vec<u8>) -> Body {
    StreamBody::new(
        futures::stream::once(async move { Ok(Frame::data(Bytes::from(bytes))) }).boxed(),
    )
}

fn respond(code: u16, value: &Value) -> Response<Body> {
    let mut r = Response::new(body(serde_json::to_vec(value).unwrap_or_default()));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn status(code: u16, reason: &str) -> Response<Body> {
    respond(
        code,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "reason": reason, "message": reason, "code": code}),
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Canary,
    Deployment,
}

#[derive(Default)]
struct World {
    rv: u64,
    canaries: BTreeMap<(String, String), Value>,
    deployments: BTreeMap<(String, String), Value>,
    lease: Option<Value>,
    watches: Vec<(Kind, mpsc::UnboundedSender<Bytes>)>,
    unknown: BTreeMap<String, u64>,
}

impl World {
    fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    fn changed(&mut self, kind: Kind, object: &Value) {
        let line = serde_json::to_vec(&json!({"type": "MODIFIED", "object": object}));
        let Ok(mut line) = line else { return };
        line.push(b'\n');
        let line = Bytes::from(line);
        self.watches
            .retain(|(k, tx)| *k != kind || tx.unbounded_send(line.clone()).is_ok());
    }

    /// What the fake holds, in bytes of JSON: its own share of the RSS.
    fn held_bytes(&self) -> usize {
        self.canaries
            .values()
            .chain(self.deployments.values())
            .map(|v| serde_json::to_vec(v).map(|b| b.len()).unwrap_or(0))
            .sum()
    }
}

struct FakeApi {
    world: Mutex<World>,
    tally: Arc<Tally>,
    requests: AtomicU64,
    events: AtomicU64,
    policy: String,
}

fn list(kind: &str, rv: u64, items: Vec<Value>) -> Value {
    json!({"apiVersion": if kind == "CanaryList" { "canaryd.io/v1alpha1" } else { "apps/v1" },
           "kind": kind, "metadata": {"resourceVersion": rv.to_string()}, "items": items})
}

impl FakeApi {
    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn serve(&self, req: Request<kube::client::Body>) -> Response<Body> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let method = req.method().as_str().to_string();
        let path = req.uri().path().to_string();
        let watching = req.uri().query().unwrap_or("").contains("watch=true");
        let bytes = match req.into_body().collect_bytes().await {
            Ok(b) => b,
            Err(_) => return status(400, "BadRequest"),
        };
        let sent: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut w = self.world();
        match (method.as_str(), seg.as_slice()) {
            ("GET", ["apis", "canaryd.io", "v1alpha1", "canaries"]) => {
                if watching {
                    return watch_response(&mut w, Kind::Canary);
                }
                let items = w.canaries.values().cloned().collect();
                respond(200, &list("CanaryList", w.rv, items))
            }
            ("GET", ["apis", "apps", "v1", "deployments"]) => {
                if watching {
                    return watch_response(&mut w, Kind::Deployment);
                }
                let items = w.deployments.values().cloned().collect();
                respond(200, &list("DeploymentList", w.rv, items))
            }
            ("GET", ["apis", "canaryd.io", "v1alpha1", "namespaces", ns, "canaries", name]) => {
                match w.canaries.get(&(ns.to_string(), name.to_string())) {
                    Some(c) => respond(200, c),
                    None => status(404, "NotFound"),
                }
            }
            (
                "PATCH",
                ["apis", "canaryd.io", "v1alpha1", "namespaces", ns, "canaries", name, "status"],
            ) => {
                self.tally.wrote(canary_of(ns, name));
                let rv = w.next_rv();
                let Some(c) = w.canaries.get_mut(&(ns.to_string(), name.to_string())) else {
                    return status(404, "NotFound");
                };
                json_patch::merge(c, &sent);
                c["metadata"]["resourceVersion"] = json!(rv);
                let c = c.clone();
                w.changed(Kind::Canary, &c);
                respond(200, &c)
            }
            ("GET", ["apis", "apps", "v1", "namespaces", ns, "deployments", name]) => {
                match w.deployments.get(&(ns.to_string(), name.to_string())) {
                    Some(d) => respond(200, d),
                    None => status(404, "NotFound"),
                }
            }
            ("PATCH", ["apis", "apps", "v1", "namespaces", ns, "deployments", name]) => {
                self.tally.wrote(canary_of(ns, name));
                let rv = w.next_rv();
                let Some(d) = w.deployments.get_mut(&(ns.to_string(), name.to_string())) else {
                    return status(404, "NotFound");
                };
                let Ok(patch) = serde_json::from_value::<json_patch::Patch>(sent) else {
                    return status(400, "BadRequest");
                };
                let mut next = d.clone();
                if json_patch::patch(&mut next, &patch).is_err() {
                    return status(422, "Invalid");
                }
                // The resourceVersion op is the optimistic lock.
                if next["metadata"]["resourceVersion"] != d["metadata"]["resourceVersion"] {
                    return status(409, "Conflict");
                }
                next["metadata"]["resourceVersion"] = json!(rv);
                *d = next.clone();
                w.changed(Kind::Deployment, &next);
                respond(200, &next)
            }
            ("GET", ["apis", "apps", "v1", "namespaces", _, "replicasets"]) => respond(
                200,
                &json!({"apiVersion": "apps/v1", "kind": "ReplicaSetList",
                        "metadata": {"resourceVersion": w.rv.to_string()}, "items": []}),
            ),
            ("GET", ["api", "v1", "namespaces", ns, "configmaps", "canary-policy"]) => respond(
                200,
                &json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "canary-policy", "namespace": ns, "resourceVersion": "1"},
                        "data": {"policy.yaml": self.policy}}),
            ),
            ("GET", ["api", "v1", "namespaces", ns, "secrets", "prometheus"]) => respond(
                200,
                &json!({"apiVersion": "v1", "kind": "Secret",
                        "metadata": {"name": "prometheus", "namespace": ns, "resourceVersion": "1"},
                        // "bench-token"
                        "data": {"token": "YmVuY2gtdG9rZW4="}}),
            ),
            ("POST", ["apis", "events.k8s.io", "v1", "namespaces", _, "events"]) => {
                self.events.fetch_add(1, Ordering::Relaxed);
                let regarding = &sent["regarding"];
                self.tally.wrote(canary_of(
                    regarding["namespace"].as_str().unwrap_or(""),
                    regarding["name"].as_str().unwrap_or(""),
                ));
                respond(201, &sent)
            }
            ("PATCH", ["apis", "events.k8s.io", "v1", "namespaces", _, "events", _]) => {
                self.events.fetch_add(1, Ordering::Relaxed);
                respond(200, &sent)
            }
            ("GET", ["apis", "coordination.k8s.io", "v1", "namespaces", _, "leases", _]) => {
                match &w.lease {
                    Some(l) => respond(200, l),
                    None => status(404, "NotFound"),
                }
            }
            (
                "POST" | "PUT",
                ["apis", "coordination.k8s.io", "v1", "namespaces", _, "leases", ..],
            ) => {
                let mut lease = sent;
                lease["metadata"]["resourceVersion"] = json!(w.next_rv());
                w.lease = Some(lease.clone());
                respond(if method == "POST" { 201 } else { 200 }, &lease)
            }
            _ => {
                // Argo Rollouts' API group lands here: it is not installed.
                *w.unknown.entry(format!("{method} {path}")).or_default() += 1;
                status(404, "NotFound")
            }
        }
    }
}

/// A watch: an open chunked body, one JSON line per change from now on.
fn watch_response(w: &mut World, kind: Kind) -> Response<Body> {
    let (tx, rx) = mpsc::unbounded::<Bytes>();
    w.watches.push((kind, tx));
    let mut r = Response::new(StreamBody::new(
        rx.map(|b| Ok::<_, Infallible>(Frame::data(b))).boxed(),
    ));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

// ---------------------------------------------------------------------------
// The objects: realistic Deployment pairs.

fn template(i: usize, image: &str, track: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": format!("svc-{i}"), "track": track},
                     "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"}},
        "spec": {
            "containers": [{
                "name": "app", "image": image,
                "ports": [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9090}],
                "env": [{"name": "RUST_LOG", "value": "info"}, {"name": "SERVICE", "value": format!("svc-{i}")}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5}
            }],
            "terminationGracePeriodSeconds": 30
        }
    })
}

fn deployment(i: usize, name: &str, track: &str, image: &str, replicas: i32) -> Value {
    let ns = format!("team-{}", i % NAMESPACES);
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"),
                     "resourceVersion": "1", "generation": 1,
                     "labels": {"app": format!("svc-{i}"), "track": track},
                     "annotations": {"deployment.kubernetes.io/revision": if track == "stable" { "1" } else { "2" }}},
        "spec": {"replicas": replicas,
                 "selector": {"matchLabels": {"app": format!("svc-{i}"), "track": track}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
                 "template": template(i, image, track)},
        "status": {"observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas,
                   "updatedReplicas": replicas, "availableReplicas": replicas}
    })
}

fn canary(i: usize) -> Value {
    let ns = format!("team-{}", i % NAMESPACES);
    json!({
        "apiVersion": "canaryd.io/v1alpha1", "kind": "Canary",
        "metadata": {"name": format!("svc-{i}"), "namespace": ns, "uid": format!("uid-canary-{i}"),
                     "generation": 1, "resourceVersion": "1",
                     "labels": {"app": format!("svc-{i}"), "team": format!("team-{}", i % NAMESPACES)}},
        "spec": {
            "target": {"stable": format!("svc-{i}"), "canary": format!("svc-{i}-canary")},
            "policy": {"configMap": {"name": "canary-policy"}},
            "metrics": {"prometheus": {
                "address": "http://prometheus.monitoring:9090",
                "bearerToken": {"name": "prometheus", "key": "token"},
                "canarySelector": format!("deployment=\"svc-{i}-canary\""),
                "baselineSelector": format!("deployment=\"svc-{i}\"")}}
        }
    })
}

fn policy(window_secs: u64) -> String {
    format!(
        "name: bench
window: {window_secs}s
ladder:
  - {{weight: 5, hold_windows: 2}}
  - {{weight: 25, hold_windows: 2}}
  - {{weight: 50, hold_windows: 2}}
  - {{weight: 100, hold_windows: 2}}
ramp_budget: 1h
traffic: {{min_requests_per_route: 20, max_extensions: 3}}
baseline: {{lookback: 7d, min_history: 1h, min_requests_per_route: 50}}
rules:
  - {{name: errors, metric: error_rate, absolute: 5%, consecutive: 2}}
  - {{name: latency, metric: latency_p95, absolute: 800ms, consecutive: 2}}
"
    )
}

// ---------------------------------------------------------------------------
// Metrics from memory.

struct MemorySources(Arc<Tally>);

struct MemorySource {
    canary: String,
    tally: Arc<Tally>,
}

impl EdgeFactory for MemorySources {
    fn source(&self, request: &SourceRequest<'_>) -> Result<Box<dyn MetricsSource>, String> {
        Ok(Box::new(MemorySource {
            canary: format!("{}/{}", request.namespace, request.canary),
            tally: self.0.clone(),
        }))
    }
}

fn obs(requests: u64, errors: u64, p95_ms: f64) -> Observation {
    Observation {
        requests,
        errors,
        latency_ms: LatencySummary {
            p95: Some(p95_ms),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[canaryd_ports::async_trait]
impl MetricsSource for MemorySource {
    async fn baseline(&mut self, _key: &RolloutKey) -> Result<BaselineStatus, SourceError> {
        let mut routes = BTreeMap::new();
        routes.insert(Route::from("GET /"), obs(100_000, 20, 120.0));
        routes.insert(Route::from("POST /orders"), obs(20_000, 10, 300.0));
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
        self.tally.read_window(self.canary.clone());
        let mut routes = BTreeMap::new();
        routes.insert(
            Route::from("GET /"),
            RouteWindow {
                canary: Some(obs(1_000, 1, 125.0)),
                baseline: Some(obs(9_000, 4, 120.0)),
            },
        );
        routes.insert(
            Route::from("POST /orders"),
            RouteWindow {
                canary: Some(obs(200, 0, 310.0)),
                baseline: Some(obs(1_800, 1, 300.0)),
            },
        );
        Ok(Window {
            start,
            end,
            routes,
            ..Default::default()
        })
    }
}

// ---------------------------------------------------------------------------
// Timing: kube-runtime wraps every reconcile in a `reconciling object` span
// whose `object.ref` names the Canary; its lifetime is the reconcile's.

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Class {
    /// Nothing but reads (the echo of its own status write, a Deployment change).
    ReadsOnly,
    /// Closed at least one window (reads, SQLite, maybe a patch, Events, status).
    ClosedWindow,
    /// Wrote without closing a window (the start of a rollout).
    OtherWrites,
}

struct Open {
    refs: usize,
    started: Instant,
    canary: String,
    before: Did,
}

#[derive(Default)]
struct Spans {
    next: u64,
    open: HashMap<u64, Open>,
    done: Vec<(Class, Duration)>,
    reconciled: std::collections::HashSet<String>,
}

struct Timer {
    spans: Mutex<Spans>,
    tally: Arc<Tally>,
}

impl Timer {
    fn spans(&self) -> MutexGuard<'_, Spans> {
        self.spans.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct ObjectRefField(Option<String>);

impl tracing::field::Visit for ObjectRefField {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "object.ref" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

/// `Canary.v1alpha1.canaryd.io/svc-1.team-1` → `team-1/svc-1`.
fn canary_of_ref(r: &str) -> String {
    let tail = r.rsplit_once('/').map(|(_, t)| t).unwrap_or(r);
    match tail.rsplit_once('.') {
        Some((name, ns)) => format!("{ns}/{name}"),
        None => tail.to_string(),
    }
}

impl tracing::Subscriber for Timer {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.is_span() && metadata.name() == "reconciling object"
    }

    fn new_span(&self, attrs: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut field = ObjectRefField(None);
        attrs.record(&mut field);
        let canary = canary_of_ref(field.0.as_deref().unwrap_or(""));
        let before = self.tally.get(&canary);
        let mut s = self.spans();
        s.next += 1;
        let id = s.next;
        s.open.insert(
            id,
            Open {
                refs: 1,
                started: Instant::now(),
                canary,
                before,
            },
        );
        tracing::span::Id::from_u64(id)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}

    fn clone_span(&self, id: &tracing::span::Id) -> tracing::span::Id {
        if let Some(o) = self.spans().open.get_mut(&id.into_u64()) {
            o.refs += 1;
        }
        id.clone()
    }

    fn try_close(&self, id: tracing::span::Id) -> bool {
        let mut s = self.spans();
        let key = id.into_u64();
        let Some(o) = s.open.get_mut(&key) else {
            return false;
        };
        o.refs -= 1;
        if o.refs > 0 {
            return false;
        }
        let Some(o) = s.open.remove(&key) else {
            return false;
        };
        let took = o.started.elapsed();
        let after = self.tally.get(&o.canary);
        let class = if after.windows > o.before.windows {
            Class::ClosedWindow
        } else if after.writes > o.before.writes {
            Class::OtherWrites
        } else {
            Class::ReadsOnly
        };
        s.done.push((class, took));
        s.reconciled.insert(o.canary);
        true
    }
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

// ---------------------------------------------------------------------------

fn main() {
    let window_secs: u64 = std::env::var("CANARYD_BENCH_WINDOW_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let tally = Arc::new(Tally::default());
    let timer = Arc::new(Timer {
        spans: Mutex::new(Spans::default()),
        tally: tally.clone(),
    });
    tracing::subscriber::set_global_default(TimerHandle(timer.clone()))
        .expect("no other subscriber in this process");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(bench(window_secs, tally, timer));
}

/// `set_global_default` takes the subscriber by value; this keeps a handle.
struct TimerHandle(Arc<Timer>);

impl tracing::Subscriber for TimerHandle {
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        self.0.enabled(m)
    }
    fn new_span(&self, a: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        self.0.new_span(a)
    }
    fn record(&self, i: &tracing::span::Id, r: &tracing::span::Record<'_>) {
        self.0.record(i, r)
    }
    fn record_follows_from(&self, a: &tracing::span::Id, b: &tracing::span::Id) {
        self.0.record_follows_from(a, b)
    }
    fn event(&self, e: &tracing::Event<'_>) {
        self.0.event(e)
    }
    fn enter(&self, i: &tracing::span::Id) {
        self.0.enter(i)
    }
    fn exit(&self, i: &tracing::span::Id) {
        self.0.exit(i)
    }
    fn clone_span(&self, i: &tracing::span::Id) -> tracing::span::Id {
        self.0.clone_span(i)
    }
    fn try_close(&self, i: tracing::span::Id) -> bool {
        self.0.try_close(i)
    }
}

async fn bench(window_secs: u64, tally: Arc<Tally>, timer: Arc<Timer>) {
    let rss_start = rss_kib("VmRSS:");
    let mut world = World {
        rv: 1,
        ..Default::default()
    };
    for i in 0..CANARIES {
        let ns = format!("team-{}", i % NAMESPACES);
        let stable = format!("svc-{i}");
        let canary_name = format!("svc-{i}-canary");
        // The canary runs a new image at zero replicas: every Canary starts a rollout.
        world.deployments.insert(
            (ns.clone(), stable.clone()),
            deployment(
                i,
                &stable,
                "stable",
                &format!("registry.example/svc-{i}:1.4.0"),
                9,
            ),
        );
        world.deployments.insert(
            (ns.clone(), canary_name.clone()),
            deployment(
                i,
                &canary_name,
                "canary",
                &format!("registry.example/svc-{i}:1.5.0"),
                0,
            ),
        );
        world.canaries.insert((ns, stable), canary(i));
    }
    let api = Arc::new(FakeApi {
        world: Mutex::new(world),
        tally: tally.clone(),
        requests: AtomicU64::new(0),
        events: AtomicU64::new(0),
        policy: policy(window_secs),
    });
    let held_before = api.world().held_bytes();
    let service_api = api.clone();
    let service = tower::service_fn(move |req: Request<kube::client::Body>| {
        let api = service_api.clone();
        async move { Ok::<_, Infallible>(api.serve(req).await) }
    });
    let client = kube::Client::new(service, "default");

    let dir = tempfile::tempdir().expect("a temp dir for the store");
    let metrics = Arc::new(ControllerMetrics::default());
    let ctx = Arc::new(
        Context::new(
            client,
            dir.path().join("canaryd.db"),
            MemorySources(tally.clone()),
            LeaderFlag::new(false),
        )
        .with_instance(Some("bench-0".into()))
        .with_metrics(metrics.clone()),
    );
    let config = RunConfig {
        scope: Scope::All,
        lease: Some(LeaseConfig {
            namespace: "canaryd".into(),
            name: "canaryd-leader".into(),
            identity: "bench-0".into(),
            duration: Duration::from_secs(15),
        }),
        // What `canaryd controller` runs with.
        concurrency: 4,
    };
    let rss_before = rss_kib("VmRSS:");

    let (ready_tx, _ready_rx) = watch::channel(false);
    let (stop_tx, stop_rx) = watch::channel(false);
    let started = Instant::now();
    let running = tokio::spawn(run(ctx.clone(), config, ready_tx, stop_rx));

    let mut first_all = None;
    // (seconds, VmRSS KiB, reconciles so far, fewest windows): does it grow or level off?
    let mut timeline = Vec::new();
    let mut tick = 0u32;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        tick += 1;
        if first_all.is_none() && timer.spans().reconciled.len() >= CANARIES {
            first_all = Some(started.elapsed());
        }
        let fewest = tally.fewest_windows();
        if tick.is_multiple_of(8) {
            timeline.push((
                started.elapsed().as_secs(),
                rss_kib("VmRSS:"),
                metrics.reconciles(ReconcileResult::Ok),
                fewest,
            ));
        }
        if fewest >= WINDOWS || started.elapsed() > DEADLINE {
            break;
        }
    }
    let elapsed = started.elapsed();
    let rss_after = rss_kib("VmRSS:");
    let hwm = rss_kib("VmHWM:");
    let held_after = api.world().held_bytes();
    let fewest = tally.fewest_windows();

    let _ = stop_tx.send(true);
    match tokio::time::timeout(Duration::from_secs(20), running).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => eprintln!("the loop failed: {e}"),
        Ok(Err(e)) => eprintln!("the loop panicked: {e}"),
        Err(_) => eprintln!("the loop did not stop within 20 s"),
    }

    let spans = timer.spans();
    let mut by_class: BTreeMap<Class, Vec<Duration>> = BTreeMap::new();
    for (class, took) in &spans.done {
        by_class.entry(*class).or_default().push(*took);
    }
    println!(
        "canaries: {CANARIES} in {NAMESPACES} namespaces, window {window_secs}s, concurrency 4, {} worker threads",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!(
        "ran {:.1} s; every Canary reconciled once after {}; fewest windows closed by a Canary: {fewest}{}",
        elapsed.as_secs_f64(),
        first_all.map(|d| format!("{:.1} s", d.as_secs_f64())).unwrap_or_else(|| "never".into()),
        if fewest < WINDOWS { " (DEADLINE HIT)" } else { "" }
    );
    println!("rss at start (runtime only): {rss_start} KiB");
    println!("rss before the controller (fake API + objects): {rss_before} KiB");
    println!("rss after: {rss_after} KiB (peak {hwm} KiB)");
    println!(
        "controller's share: {} KiB (of which the fake API's objects grew by {} KiB of JSON)",
        rss_after.saturating_sub(rss_before),
        held_after.saturating_sub(held_before) / 1024
    );
    println!(
        "timeline (s: RSS MiB, reconciles, fewest windows): {}",
        timeline
            .iter()
            .map(|(t, r, n, w)| format!("{t}: {} {n} {w}", r / 1024))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!(
        "reconciles: {} ok, {} error, {} skipped (controller metrics); {} timed",
        metrics.reconciles(ReconcileResult::Ok),
        metrics.reconciles(ReconcileResult::Error),
        metrics.reconciles(ReconcileResult::Skipped),
        spans.done.len()
    );
    println!(
        "API requests: {}, Events: {}",
        api.requests.load(Ordering::Relaxed),
        api.events.load(Ordering::Relaxed)
    );
    for (class, mut v) in by_class {
        v.sort();
        let name = match class {
            Class::ReadsOnly => "reads only",
            Class::ClosedWindow => "closed a window",
            Class::OtherWrites => "wrote, no window (start)",
        };
        println!(
            "  {name:<26} n={:<6} p50 {:>9}  p99 {:>9}  max {:>9}",
            v.len(),
            ms(quantile(&v, 0.5)),
            ms(quantile(&v, 0.99)),
            ms(v.last().copied().unwrap_or_default())
        );
    }
    let unknown = &api.world().unknown;
    if !unknown.is_empty() {
        println!("answered 404 (not in this cluster): {unknown:?}");
    }
}
