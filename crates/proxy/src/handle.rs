//! Starting a router and controlling it while it runs.

use crate::admin::AdminAccess;
use crate::config::{RouterConfig, Upstream};
use crate::error::ProxyError;
use crate::forward::{text, Proxy, ProxyBody, UpstreamClient};
use crate::metrics::{render, Recorder};
use crate::probe::{ProbeResult, ProbeState};
use crate::source::EmbeddedSource;
use crate::split::Splitter;
use crate::upstreams::{Pair, Upstreams};
use canaryd_core::vocab::{Cohort, Weight};
use canaryd_http::serve_with;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Idle keep-alive connections kept per upstream (see `Router::start`).
const IDLE_PER_UPSTREAM: usize = 512;

/// The embedded router. See [`Router::start`].
pub struct Router;

pub(crate) struct Shared {
    pub split: Arc<Splitter>,
    pub rec: Arc<Recorder>,
    pub probes: Arc<ProbeState>,
    pub upstreams: Arc<Upstreams>,
    pub probe_interval: Duration,
    pub probe_timeout: Duration,
}

struct Inner {
    local_addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// Controls a running router. Cheap to clone; all clones control the same router.
#[derive(Clone)]
pub struct RouterHandle {
    inner: Arc<Inner>,
}

async fn bind(
    what: &'static str,
    addr: SocketAddr,
) -> Result<(TcpListener, SocketAddr), ProxyError> {
    let l = TcpListener::bind(addr)
        .await
        .map_err(|source| ProxyError::Bind { what, addr, source })?;
    let local = l
        .local_addr()
        .map_err(|source| ProxyError::Bind { what, addr, source })?;
    Ok((l, local))
}

impl Router {
    /// Binds the listeners and starts proxying, probing and measuring on the
    /// current tokio runtime. The first probe round starts at once.
    pub async fn start(config: RouterConfig) -> Result<RouterHandle, ProxyError> {
        config.validate()?;
        let (listener, local_addr) = bind("proxy listener", config.listen).await?;
        let admin = match config.admin_listen {
            Some(a) => Some(bind("admin listener", a).await?),
            None => None,
        };
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(config.connect_timeout));
        // Idle upstream connections are dropped before a server with the
        // common 60 s keep-alive (canaryd's own listeners included) closes
        // them: reusing one it is closing at that moment would fail a
        // user's request as a reset.
        //
        // At most IDLE_PER_UPSTREAM idle connections are kept per upstream:
        // after a burst that held thousands of requests in flight, the
        // surplus closes as it is returned instead of holding ~16 KB of
        // buffers each for the whole idle timeout (nginx's `keepalive N`).
        let client: UpstreamClient = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(50))
            .pool_max_idle_per_host(IDLE_PER_UPSTREAM)
            .build(connector);
        let shared = Arc::new(Shared {
            split: Arc::new(Splitter::new(config.initial_weight)),
            rec: Arc::new(Recorder::new(config.routes.max_routes())),
            probes: Arc::new(ProbeState::default()),
            upstreams: Arc::new(Upstreams::new(config.stable.clone(), config.canary.clone())),
            probe_interval: config.probe.interval,
            probe_timeout: config.probe.timeout,
        });
        let proxy = Arc::new(Proxy {
            client,
            upstreams: shared.upstreams.clone(),
            split: shared.split.clone(),
            rec: shared.rec.clone(),
            routes: config.routes.clone(),
            stickiness: config.stickiness.clone(),
            upstream_timeout: config.upstream_timeout,
            max_body: config.max_body_bytes,
        });
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(serve_with(
            listener,
            move |peer| {
                let proxy = proxy.clone();
                hyper::service::service_fn(move |req: Request<Incoming>| {
                    let proxy = proxy.clone();
                    async move { Ok::<_, Infallible>(proxy.handle(req, peer).await) }
                })
            },
            stop_rx.clone(),
            config.drain_timeout,
            config.limits,
            "proxy listener",
        )));
        let admin_addr = admin.as_ref().map(|(_, a)| *a);
        if let Some((l, _)) = admin {
            let sh = shared.clone();
            let access = Arc::new(config.admin_access.clone());
            tasks.push(tokio::spawn(serve_with(
                l,
                move |_peer| {
                    let (sh, access) = (sh.clone(), access.clone());
                    hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (sh, access) = (sh.clone(), access.clone());
                        async move { Ok::<_, Infallible>(admin_answer(&sh, &access, req).await) }
                    })
                },
                stop_rx.clone(),
                Duration::from_secs(1),
                config.admin_limits,
                "admin listener",
            )));
        }
        if config.return_memory_after_bursts {
            tasks.push(tokio::spawn(crate::trim::run(
                shared.clone(),
                stop_rx.clone(),
            )));
        }
        tasks.push(tokio::spawn(crate::probe::run(
            shared.upstreams.clone(),
            config.probe.clone(),
            shared.probes.clone(),
            stop_rx,
        )));
        tracing::info!(%local_addr, ?admin_addr, stable = %config.stable, canary = %config.canary, "router listening");
        Ok(RouterHandle {
            inner: Arc::new(Inner {
                local_addr,
                admin_addr,
                shared,
                stop,
                tasks: Mutex::new(tasks),
            }),
        })
    }
}

async fn admin_answer(
    sh: &Shared,
    access: &AdminAccess,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    if req.uri().path() == crate::admin::WEIGHT_PATH {
        return crate::admin::weight(sh, access, req).await;
    }
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => {
            let mut r = Response::new(
                Full::new(render(&sh.rec, &sh.split, &sh.probes).into())
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            );
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            r
        }
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found (admin: GET /metrics, GET /healthz, GET|PUT /admin/weight)\n",
        ),
    }
}

impl RouterHandle {
    /// Where proxied traffic is accepted.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// `http://ADDR` of the proxy listener.
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.local_addr)
    }

    /// Where `/metrics` and `/healthz` of the router are served, if configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.inner.admin_addr
    }

    /// Sets the canary weight (0–100). When it returns, every new request is
    /// split with it. Idempotent.
    pub fn set_weight(&self, weight: Weight) -> Result<(), ProxyError> {
        if weight > 100 {
            return Err(ProxyError::BadWeight(weight));
        }
        self.inner.shared.split.set(weight);
        tracing::info!(weight, "canary weight set");
        Ok(())
    }

    /// The canary weight in force now, in percent.
    pub fn weight(&self) -> Weight {
        self.inner.shared.split.weight()
    }

    /// Weight 0 at once: when this returns, no new request goes to the canary
    /// (requests already sent there finish). Idempotent.
    pub fn roll_back(&self) {
        self.inner.shared.split.set(0);
        tracing::info!("rolled back: all new requests go to stable");
    }

    /// Weight 100: every new request goes to the canary. Idempotent.
    pub fn promote(&self) {
        self.inner.shared.split.set(100);
        tracing::info!("promoted: all new requests go to the canary");
    }

    /// The upstreams that serve the stable and the canary cohort now.
    pub fn upstreams(&self) -> (Upstream, Upstream) {
        let p = self.inner.shared.upstreams.get();
        (p.stable.clone(), p.canary.clone())
    }

    /// Takes a new canary (and the stable beside it) without a restart: no
    /// connection is dropped, requests already sent finish where they went.
    /// When it returns the weight is 0 and every new request goes to
    /// `stable`; the new canary gets traffic only once the weight is raised.
    ///
    /// The order matters when a promoted canary becomes the new stable
    /// (weight 100, old canary = new stable): the stable is switched first,
    /// so every request keeps going to that upstream while the weight drops
    /// to 0, and only then does the canary change, so a request that reads
    /// the new canary also reads weight 0 (see `upstreams`).
    pub fn switch_upstreams(&self, stable: Upstream, canary: Upstream) {
        let sh = &self.inner.shared;
        let old = sh.upstreams.get();
        sh.upstreams.set(Pair {
            stable: stable.clone(),
            canary: old.canary.clone(),
        });
        sh.split.set(0);
        sh.upstreams.set(Pair {
            stable: stable.clone(),
            canary: canary.clone(),
        });
        tracing::info!(%stable, %canary, old_stable = %old.stable, old_canary = %old.canary, "upstreams switched; the new canary takes no traffic (0%) until its rollout raises the weight");
    }

    /// Requests sent (split decisions made) to `cohort` since start.
    pub fn dispatched(&self, cohort: Cohort) -> u64 {
        self.inner.shared.split.dispatched(cohort)
    }

    /// Requests sent to the canary since start. Read it right after
    /// [`RouterHandle::roll_back`] returns: it never grows afterwards until the
    /// weight is raised again.
    pub fn canary_requests(&self) -> u64 {
        self.dispatched(Cohort::Canary)
    }

    /// When the weight last changed (`None`: never since start).
    pub fn weight_changed_at(&self) -> Option<Instant> {
        self.inner.shared.split.weight_changed_at()
    }

    /// When the last request was sent to the canary (`None`: never).
    pub fn last_canary_request_at(&self) -> Option<Instant> {
        self.inner.shared.split.last_canary_at()
    }

    /// Requests whose measurement is complete (response ended or failed).
    pub fn completed_requests(&self) -> u64 {
        self.inner.shared.rec.completed()
    }

    /// Requests refused with 413 (body over the limit); not counted against a cohort.
    pub fn rejected_too_large(&self) -> u64 {
        self.inner.shared.rec.rejected_body_too_large()
    }

    /// The latest health probe of one upstream.
    pub fn probe(&self, cohort: Cohort) -> Option<ProbeResult> {
        self.inner.shared.probes.latest(cohort)
    }

    /// Whether the upstream's probes currently count as failing: a refusal
    /// or bad answer, or timeouts two rounds in a row while the other
    /// upstream answered in time (see the probe module).
    pub fn probe_failing(&self, cohort: Cohort) -> bool {
        self.inner.shared.probes.is_failing(cohort)
    }

    /// Probe rounds set aside because this process was behind.
    pub fn starved_probe_rounds(&self) -> u64 {
        self.inner
            .shared
            .probes
            .starved_rounds
            .load(Ordering::SeqCst)
    }

    /// Completed probe rounds (both upstreams) since start.
    pub fn probe_rounds(&self) -> u64 {
        self.inner.shared.probes.rounds.load(Ordering::SeqCst)
    }

    /// A `MetricsSource` whose first window starts now (see [`EmbeddedSource`]).
    pub fn metrics_source(&self) -> EmbeddedSource {
        EmbeddedSource::new(self.inner.shared.clone())
    }

    /// The `/metrics` text, as the admin listener serves it.
    pub fn metrics_text(&self) -> String {
        let sh = &self.inner.shared;
        render(&sh.rec, &sh.split, &sh.probes)
    }

    /// Stops accepting, drains in-flight requests (up to the configured
    /// deadline), stops probing. Returns when all is done. Idempotent.
    pub async fn shutdown(&self) {
        let _ = self.inner.stop.send(true);
        let tasks: Vec<JoinHandle<()>> = match self.inner.tasks.lock() {
            Ok(mut g) => g.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for t in tasks {
            let _ = t.await;
        }
        tracing::info!(addr = %self.inner.local_addr, "router stopped");
    }
}
