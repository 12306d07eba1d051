//! The analysis service: canaryd judging rollouts that another tool steers.
//!
//! Argo Rollouts and Flagger move the traffic; canaryd only judges. The first
//! time either asks about a canary, the service starts an ordinary live loop
//! for it ([`canaryd_driver::run_live`]) with a router that steers nothing
//! (the other tool owns the split): windows are read from the
//! [`MetricsSource`] the [`SourceFactory`] gives, judged by the core, audited
//! in the store like any rollout (so `canaryd audit verify`, `report` and
//! replay work unchanged), and the operator API reaches the loop through the
//! shared [`Registry`]. Each loop keeps a [`Snapshot`] that every HTTP answer
//! is read from, so an answer never waits on a metrics query. Pairs nobody
//! asked about for `idle_expiry` are stopped; asked again, they resume from
//! the store where they left off.

pub mod answer;
pub mod snapshot;

use canaryd_core::vocab::{RolloutKey, Timestamp};
use canaryd_core::Policy;
use canaryd_driver::live::wall_clock;
use canaryd_driver::VirtualRouter;
use canaryd_driver::{run_live, Driver, LiveLimits, Stopped};
use canaryd_ports::{MetricsSource, Notifier, SourceError};
use canaryd_store::{AuditKind, NewAuditEntry, SqliteStore, StoreError};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::registry::Registry;
pub use snapshot::Snapshot;

/// Builds the metrics source for one watched canary. The binary plugs in the
/// Prometheus source here; tests plug in a scripted one.
pub trait SourceFactory: Send + Sync + 'static {
    /// A source reading `key`'s canary and the `stable` revision it is compared with.
    fn source_for(
        &self,
        key: &RolloutKey,
        stable: &str,
    ) -> Result<Box<dyn MetricsSource>, SourceError>;
}

/// Why the service could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// A new rollout to watch, with every watch slot taken.
    #[error("canaryd already watches {limit} rollouts for Argo Rollouts and Flagger; {key} is refused until idle ones expire (raise `max_watches` if this many is normal)")]
    TooManyWatches {
        /// The rollout refused (workload and revision).
        key: String,
        /// The configured `max_watches`.
        limit: usize,
    },
    /// The decision could not be recorded, so it was not made: an answer the
    /// audit log does not hold would be unaccountable.
    #[error("cannot write the audit entry for {key} to {db}: {source}; the decision was not made")]
    Audit {
        /// The rollout the decision was about (workload and revision).
        key: String,
        /// The database file, as shown in messages.
        db: String,
        /// What the store said.
        source: Box<StoreError>,
    },
}

/// How the service runs its loops.
#[derive(Debug, Clone)]
pub struct AnalysisConfig {
    /// The store every loop and every integration decision is written to.
    pub store_path: PathBuf,
    /// The policy each watched rollout is judged by.
    pub policy: Policy,
    /// A pair nobody asked about for this long is stopped.
    pub idle_expiry: Duration,
    /// At most this many pairs are watched at once.
    pub max_watches: usize,
    /// Where the watch loops run. Their store commits are synchronous, fsync'd
    /// SQLite writes; on a runtime of their own (`Some`) they never hold up
    /// the workers answering HTTP. `None`: the caller's runtime (tests in
    /// virtual time need that).
    pub watch_runtime: Option<tokio::runtime::Handle>,
    /// Every configured secret (source, notify, tokens): each audit payload
    /// and each watch loop's entries pass it before they are stored.
    pub redactor: canaryd_secrets::Redactor,
}

impl AnalysisConfig {
    /// Defaults: pairs expire after four windows (at least 15 minutes) without
    /// a question, so an analysis with a long interval is not stopped between
    /// two measurements; at most 1,000 pairs.
    pub fn new(store_path: PathBuf, policy: Policy) -> AnalysisConfig {
        let idle_expiry = (policy.window * 4).max(Duration::from_secs(15 * 60));
        AnalysisConfig {
            store_path,
            policy,
            idle_expiry,
            max_watches: 1000,
            watch_runtime: None,
            redactor: canaryd_secrets::Redactor::new(),
        }
    }
}

struct Watch {
    snapshot: RwLock<Snapshot>,
    last_asked: Mutex<Instant>,
}

type MakeNotifier<N> = dyn Fn(&RolloutKey) -> N + Send + Sync;

struct Inner<F, N> {
    factory: F,
    notifier: Box<MakeNotifier<N>>,
    config: AnalysisConfig,
    registry: Registry,
    watches: Mutex<HashMap<RolloutKey, Arc<Watch>>>,
    /// One connection for the integrations' own audit entries (Flagger's questions).
    audit: Mutex<Option<SqliteStore>>,
}

/// The service. Cheap to clone: clones share the watched pairs.
pub struct AnalysisService<F, N> {
    inner: Arc<Inner<F, N>>,
}

impl<F, N> Clone for AnalysisService<F, N> {
    fn clone(&self) -> Self {
        AnalysisService {
            inner: self.inner.clone(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain data behind: keep serving.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<F: SourceFactory, N: Notifier + 'static> AnalysisService<F, N> {
    /// `notifier` builds the notifier of each watched rollout (who is told of
    /// its rollback, pause or approval request); `registry` is the operator
    /// API's, so `canaryd approve|abort` reach watched rollouts too.
    pub fn new(
        factory: F,
        notifier: impl Fn(&RolloutKey) -> N + Send + Sync + 'static,
        registry: Registry,
        config: AnalysisConfig,
    ) -> Self {
        AnalysisService {
            inner: Arc::new(Inner {
                factory,
                notifier: Box::new(notifier),
                config,
                registry,
                watches: Mutex::new(HashMap::new()),
                audit: Mutex::new(None),
            }),
        }
    }

    /// The settings the service runs with.
    pub fn config(&self) -> &AnalysisConfig {
        &self.inner.config
    }

    /// The registry the watched rollouts are reachable through (the operator API's).
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Reads the snapshot of `key` through `read`, starting to watch the pair
    /// if nobody had asked about it yet (or its watch failed a window ago).
    pub fn ask<T>(
        &self,
        key: &RolloutKey,
        stable: &str,
        read: impl FnOnce(&Snapshot) -> T,
    ) -> Result<T, AnalysisError> {
        let watch = self.watch(key, stable)?;
        *lock(&watch.last_asked) = Instant::now();
        let snap = watch.snapshot.read().unwrap_or_else(|e| e.into_inner());
        Ok(read(&snap))
    }

    /// Reads the snapshot of `key` if it is watched, without starting anything.
    pub fn peek<T>(&self, key: &RolloutKey, read: impl FnOnce(&Snapshot) -> T) -> Option<T> {
        let watch = lock(&self.inner.watches).get(key).cloned()?;
        let snap = watch.snapshot.read().unwrap_or_else(|e| e.into_inner());
        Some(read(&snap))
    }

    /// The pairs being watched.
    pub fn watched(&self) -> Vec<RolloutKey> {
        let mut keys: Vec<_> = lock(&self.inner.watches).keys().cloned().collect();
        keys.sort();
        keys
    }

    fn watch(&self, key: &RolloutKey, stable: &str) -> Result<Arc<Watch>, AnalysisError> {
        let mut watches = lock(&self.inner.watches);
        if let Some(w) = watches.get(key) {
            let retry = {
                let snap = w.snapshot.read().unwrap_or_else(|e| e.into_inner());
                snap.trouble_at
                    .is_some_and(|at| at.elapsed() >= self.inner.config.policy.window)
            };
            if !retry {
                return Ok(w.clone());
            }
        } else if watches.len() >= self.inner.config.max_watches {
            return Err(AnalysisError::TooManyWatches {
                key: key.to_string(),
                limit: self.inner.config.max_watches,
            });
        }
        let first_close = wall_clock().plus(self.inner.config.policy.window);
        let watch = Arc::new(Watch {
            snapshot: RwLock::new(Snapshot::new(key.clone(), stable.to_string(), first_close)),
            last_asked: Mutex::new(Instant::now()),
        });
        watches.insert(key.clone(), watch.clone());
        drop(watches);
        self.spawn(key.clone(), stable.to_string(), watch.clone());
        Ok(watch)
    }

    fn spawn(&self, key: RolloutKey, stable: String, watch: Arc<Watch>) {
        let this = self.clone();
        let task = async move {
            let outcome = this.run(&key, &stable, &watch).await;
            let mut snap = watch.snapshot.write().unwrap_or_else(|e| e.into_inner());
            match outcome {
                Ok(Stopped::Finished) => {}
                Ok(_) => snap.fail("the watch was stopped".into()),
                Err(why) => {
                    tracing::warn!(rollout = %key, "analysis watch failed: {why}");
                    snap.fail(why);
                }
            }
            drop(snap);
            // Only this watch's registration: a newer watch may have replaced it.
            let current = lock(&this.inner.watches)
                .get(&key)
                .is_some_and(|w| Arc::ptr_eq(w, &watch));
            if current {
                this.inner.registry.unregister(&key);
            }
        };
        match &self.inner.config.watch_runtime {
            Some(rt) => drop(rt.spawn(task)),
            None => drop(tokio::spawn(task)),
        }
    }

    async fn run(
        &self,
        key: &RolloutKey,
        stable: &str,
        watch: &Arc<Watch>,
    ) -> Result<Stopped, String> {
        let cfg = &self.inner.config;
        let mut source = self
            .inner
            .factory
            .source_for(key, stable)
            .map_err(|e| format!("no metrics source for it: {e}"))?;
        let store = SqliteStore::open(&cfg.store_path).map_err(|e| e.to_string())?;
        let notifier = (self.inner.notifier)(key);
        let driver = Driver::new(
            store,
            Box::new(VirtualRouter::default()),
            Box::new(notifier),
            cfg.policy.clone(),
        )
        .map_err(|e| e.to_string())?;
        let redactor = cfg.redactor.clone();
        let mut driver = driver.with_scrubber(Box::new(move |v: &mut serde_json::Value| {
            redactor.redact_json(v)
        }));
        let (tx, rx) = mpsc::channel(8);
        self.inner.registry.register(key.clone(), tx);
        // No limits: a rollout that needs a human waits for one, as Argo and Flagger do.
        let limits = LiveLimits {
            idle_windows: None,
            max_windows: None,
        };
        let (_, stopped) = run_live(&mut driver, source.as_mut(), key, rx, limits, |p| {
            watch
                .snapshot
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .record(p)
        })
        .await
        .map_err(|e| e.to_string())?;
        Ok(stopped)
    }

    /// Stops the pairs nobody asked about for `idle_expiry`; returns them.
    /// Their loops end at their next turn (their command channel closes); the
    /// store keeps their state, so a later question resumes them.
    pub fn expire_idle(&self) -> Vec<RolloutKey> {
        let expiry = self.inner.config.idle_expiry;
        let mut watches = lock(&self.inner.watches);
        let idle: Vec<RolloutKey> = watches
            .iter()
            .filter(|(_, w)| lock(&w.last_asked).elapsed() >= expiry)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &idle {
            watches.remove(k);
            self.inner.registry.unregister(k);
        }
        idle
    }

    /// Runs [`Self::expire_idle`] for as long as the service lives.
    pub fn spawn_sweeper(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        let every = (self.inner.config.idle_expiry / 4).max(Duration::from_secs(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                for key in this.expire_idle() {
                    tracing::info!(rollout = %key, "stopped watching: nobody asked for a while");
                }
            }
        })
    }

    /// Appends one entry for an integration's question and canaryd's answer.
    /// Callers answer "no" when this fails: an unaudited decision is not made.
    pub fn audit(
        &self,
        key: &RolloutKey,
        kind: AuditKind,
        payload: serde_json::Value,
    ) -> Result<(), AnalysisError> {
        let path = &self.inner.config.store_path;
        let err = |source| AnalysisError::Audit {
            key: key.to_string(),
            db: path.display().to_string(),
            source: Box::new(source),
        };
        let mut slot = lock(&self.inner.audit);
        if slot.is_none() {
            *slot = Some(SqliteStore::open(path).map_err(err)?);
        }
        let Some(store) = slot.as_mut() else {
            return Ok(());
        };
        let mut payload = payload;
        self.inner.config.redactor.redact_json(&mut payload);
        store
            .append_audit(NewAuditEntry {
                workload: key.workload.0.clone(),
                revision: key.revision.0.clone(),
                at_ms: now().0,
                kind,
                payload,
            })
            .map(|_| ())
            .map_err(err)
    }
}

fn now() -> Timestamp {
    wall_clock()
}
