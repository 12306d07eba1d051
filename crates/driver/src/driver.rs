//! The per-rollout shell: load state, step the core, persist, then act.
//!
//! The order is what makes a crash harmless. For every event:
//! 1. carry out any effects a previous run left in the outbox;
//! 2. `step()` the core (pure);
//! 3. commit the new state, its audit entries and its effects in ONE
//!    transaction — effects carry idempotency keys derived from the state;
//! 4. carry out the effects, marking each done with its result (audited).
//!
//! A crash before 3 loses nothing (the event is simply applied again); a crash
//! after 3 leaves the effects in the outbox for step 1 of the next run. The
//! routers are idempotent, so an effect executed just before a crash and again
//! after it does no harm.

use canaryd_core::effect::{AuditRecord, Decision, Effect, Notice};
use canaryd_core::observation::{BaselineStatus, CollectorHealth, Window};
use canaryd_core::rollout::{step, Event, Phase, Rollout};
use canaryd_core::verdict::Judgement;
use canaryd_core::vocab::{RolloutKey, Timestamp};
use canaryd_core::Policy;
use canaryd_ports::{ActionError, MetricsSource, Notifier, SourceError, TrafficRouter};
use canaryd_store::{
    AuditKind, Commit, NewAuditEntry, NewEffect, RolloutRow, SqliteStore, StoreError,
};
use serde_json::json;
use std::sync::{Arc, Mutex, MutexGuard};

/// Why the driver could not apply an event or carry out an effect.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The store failed; see [`is_store_outage`] for whether it may pass.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The runtime shut down while a store write waited for its thread.
    #[error("the runtime is shutting down; the store was not written and nothing was acted on")]
    ShuttingDown,
    /// A stored rollout that does not decode.
    #[error("stored state of rollout {key} cannot be read ({source}); the database was written by an incompatible canaryd or edited")]
    CorruptState {
        /// The rollout (workload and revision).
        key: String,
        /// What the decoder said.
        source: serde_json::Error,
    },
    /// A value that could not be turned into JSON for the store.
    #[error("cannot encode {what} for the store: {source}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// What the encoder said.
        source: serde_json::Error,
    },
    /// An edge (router, notifier) failed to carry out an effect; it stays
    /// in the outbox.
    #[error(
        "rollout {key}: {effect} failed: {message}; it stays in the outbox and will be retried"
    )]
    Action {
        /// The rollout (workload and revision).
        key: String,
        /// The kind of effect that failed.
        effect: String,
        /// What the edge said, redacted.
        message: String,
        /// Whether the edge said a retry may help.
        kind: canaryd_ports::ErrorKind,
    },
}

/// What one applied event produced, for the caller to show.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The rollout's state after the event, as committed.
    pub state: Rollout,
    /// What the core decided, if the event led to a decision.
    pub decision: Option<Decision>,
    /// The judgement of the window, for a window event.
    pub judgement: Option<Judgement>,
    /// Set when the core refused the event (e.g. approving a ramping rollout).
    pub refused: Option<String>,
    /// The effects the step committed to the outbox.
    pub effects: Vec<Effect>,
}

/// Scrubs secrets out of a JSON payload before it is stored (see `canaryd-notify`'s `Redactor`).
pub type Scrubber = Box<dyn Fn(&mut serde_json::Value) + Send + Sync>;

/// Fault injection for crash tests: called after every commit, before its
/// effects run, with the committed state and its effects. Returning `true`
/// parks the event there for good, so a test can kill the process at exactly
/// the point the outbox exists for (state committed, router not yet called).
pub type AfterCommit = Box<dyn Fn(&Rollout, &[Effect]) -> bool + Send + Sync>;

/// A window closed through [`Driver::close_window`]: what was read, why
/// reading failed if it did, and what applying it did.
#[derive(Debug)]
pub struct ClosedWindow {
    /// The window as judged (an unreliable one when the read failed or the
    /// store could not commit before).
    pub window: Window,
    /// Why the metrics source could not be read, when it could not.
    pub read_error: Option<SourceError>,
    /// The result of applying the window; a store outage shows up here.
    pub applied: Result<Applied, DriverError>,
}

/// The shell for rollouts sharing one policy, one router and one notifier:
/// every mode (proxy, gate, controller, demo, replay) drives rollouts
/// through it, so they all flush, step, commit and act in the same order.
pub struct Driver {
    /// Shared with the blocking threads the writes run on (see [`Driver::write`]).
    store: Arc<Mutex<SqliteStore>>,
    router: Box<dyn TrafficRouter>,
    notifier: Box<dyn Notifier>,
    policy: Policy,
    policy_json: String,
    scrub: Option<Scrubber>,
    after_commit: Option<AfterCommit>,
    /// Why the store last failed to commit, until a commit succeeds again.
    store_failing: Option<String>,
}

impl Driver {
    /// A driver acting through `router` and `notifier`, deciding with `policy`.
    pub fn new(
        store: SqliteStore,
        router: Box<dyn TrafficRouter>,
        notifier: Box<dyn Notifier>,
        policy: Policy,
    ) -> Result<Self, DriverError> {
        let policy_json = serde_json::to_string(&policy).map_err(|source| DriverError::Encode {
            what: "the policy",
            source,
        })?;
        Ok(Driver {
            store: Arc::new(Mutex::new(store)),
            router,
            notifier,
            policy,
            policy_json,
            scrub: None,
            after_commit: None,
            store_failing: None,
        })
    }

    /// Passes every audit and outbox payload through `scrub` before it is
    /// written, so a credential that slipped into a collector's error message
    /// (a URL with a password, say) never reaches the database.
    pub fn with_scrubber(mut self, scrub: Scrubber) -> Self {
        self.scrub = Some(scrub);
        self
    }

    /// Installs a fault-injection hook (see [`AfterCommit`]).
    pub fn with_after_commit(mut self, hook: AfterCommit) -> Self {
        self.after_commit = Some(hook);
        self
    }

    fn scrubbed(&self, mut v: serde_json::Value) -> serde_json::Value {
        if let Some(f) = &self.scrub {
            f(&mut v);
        }
        v
    }

    /// The store, to read from. Hold it briefly: the driver's own writes
    /// wait for it.
    pub fn store(&self) -> MutexGuard<'_, SqliteStore> {
        lock(&self.store)
    }

    /// Runs `f` on the store on a blocking thread: a commit waits for the
    /// disk (`synchronous=FULL`), and an async worker thread held up by an
    /// fsync holds up every task scheduled on it (the proxy's requests, the
    /// controller's other reconciles). Reads of one row stay inline.
    ///
    /// The future does not borrow the driver (the driver's edges need not be
    /// `Sync` for a task holding it to move between threads).
    fn write<T, F>(&self, f: F) -> impl std::future::Future<Output = Result<T, DriverError>> + Send
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteStore) -> Result<T, StoreError> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        async move {
            match tokio::task::spawn_blocking(move || f(&mut lock(&store))).await {
                Ok(result) => result.map_err(DriverError::from),
                // The store panicked: carry the panic on, as if it had run here.
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => Err(DriverError::ShuttingDown),
            }
        }
    }

    /// The policy the driver judges with.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Why the store cannot commit, while it cannot (a full disk, an I/O
    /// error): the live loop then holds the split and decides nothing.
    pub fn store_failing(&self) -> Option<&str> {
        self.store_failing.as_deref()
    }

    /// Records that the store cannot commit (until the next commit that
    /// succeeds); `true` when it could before, i.e. the outage is news.
    pub fn note_store_outage(&mut self, why: String) -> bool {
        self.store_failing.replace(why).is_none()
    }

    /// Sends `notice` at once, outside the outbox: for the one alert that
    /// cannot wait for a commit, that the store cannot commit.
    pub async fn alert(&mut self, key: &RolloutKey, notice: &Notice) -> Result<(), ActionError> {
        self.notifier.notify(key, notice).await
    }

    /// The rollout's current state, or a fresh one if the store has none.
    pub fn load(&self, key: &RolloutKey) -> Result<Rollout, DriverError> {
        load_rollout(&self.store(), key).map(|r| r.unwrap_or_else(|| Rollout::new(key.clone())))
    }

    /// Starts `key` on the stable revision's history. The caller reads the
    /// baseline first (see [`MetricsSource::baseline`]): a history that
    /// cannot be *read* is not one that does not *exist*, and only the
    /// caller knows how it waits for one it cannot read.
    pub async fn start(
        &mut self,
        key: &RolloutKey,
        baseline: BaselineStatus,
        now: Timestamp,
    ) -> Result<Applied, DriverError> {
        self.apply(key, Event::Start { baseline }, now).await
    }

    /// Closes the window `start..end` of `key`, during which the canary had
    /// `weight` (the committed state's): reads it from `source` and applies
    /// it. A source that cannot be read makes
    /// the window *unreliable* (the rollout holds), never a verdict on the
    /// canary; so does a store that could not commit since the last window,
    /// since nothing was decided meanwhile.
    pub async fn close_window(
        &mut self,
        source: &mut dyn MetricsSource,
        key: &RolloutKey,
        weight: canaryd_core::vocab::Weight,
        start: Timestamp,
        end: Timestamp,
    ) -> ClosedWindow {
        let (mut window, read_error) = match source.window(key, weight, start, end).await {
            Ok(w) => (w, None),
            Err(e) => {
                let unreliable = Window {
                    start,
                    end,
                    collectors: CollectorHealth::Unhealthy(format!("metrics source failed: {e}")),
                    ..Default::default()
                };
                (unreliable, Some(e))
            }
        };
        if let Some(why) = self.store_failing() {
            window.collectors = CollectorHealth::Unhealthy(format!(
                "canaryd could not commit its decisions (the database failed: {why}); \
                 the split was held and nothing was decided meanwhile"
            ));
        }
        let applied = self
            .apply(
                key,
                Event::WindowClosed {
                    window: window.clone(),
                },
                end,
            )
            .await;
        ClosedWindow {
            window,
            read_error,
            applied,
        }
    }

    /// Asks `source` for the history again, past any cache, and applies
    /// what it says: a rollout awaiting approval for want of a baseline
    /// starts on its own once the history has grown (the core decides). A
    /// history that cannot be read counts as missing.
    pub async fn recheck_baseline(
        &mut self,
        source: &mut dyn MetricsSource,
        key: &RolloutKey,
        now: Timestamp,
    ) -> Result<Applied, DriverError> {
        let baseline = match source.fresh_baseline(key).await {
            Ok(b) => b,
            Err(e) => BaselineStatus::Missing(format!("baseline lookup failed: {e}")),
        };
        self.apply(key, Event::BaselineChecked { baseline }, now)
            .await
    }

    /// Applies one event to one rollout: flush, step, commit, act.
    pub async fn apply(
        &mut self,
        key: &RolloutKey,
        event: Event,
        now: Timestamp,
    ) -> Result<Applied, DriverError> {
        self.flush(key, now).await?;
        let before = self.load(key)?;
        let applied = self.commit_step(key, &before, event, now, true).await?;
        if self
            .after_commit
            .as_ref()
            .is_some_and(|h| h(&applied.state, &applied.effects))
        {
            std::future::pending::<()>().await;
        }
        self.flush(key, now).await?;
        Ok(applied)
    }

    /// Steps and commits one event of a rollout whose actions must no longer
    /// run, and carries nothing out: a rollout a newer revision superseded
    /// (its outbox stays as it was; the new rollout owns the traffic now).
    /// A rollout the store never held is given no state row when the event
    /// leaves it pending (only its audit entries are written), so a revision
    /// known only from a Kubernetes status does not show up in the history
    /// as a rollout of its own.
    pub async fn record(
        &mut self,
        key: &RolloutKey,
        event: Event,
        now: Timestamp,
    ) -> Result<Applied, DriverError> {
        let stored = load_rollout(&self.store(), key)?;
        let before = stored.clone().unwrap_or_else(|| Rollout::new(key.clone()));
        let keep_row = stored.is_some();
        self.commit_step(key, &before, event, now, keep_row).await
    }

    /// Steps the core and commits the new state, its audit entries and its
    /// effects in one transaction. With `store_row` false and a state still
    /// pending, only the audit entries are written (see [`Driver::record`]).
    async fn commit_step(
        &mut self,
        key: &RolloutKey,
        before: &Rollout,
        event: Event,
        now: Timestamp,
        store_row: bool,
    ) -> Result<Applied, DriverError> {
        let (state, effects) = step(before, event, &self.policy, now);

        let mut audit = Vec::new();
        let mut outbox = Vec::new();
        let mut decision = None;
        let mut judgement = None;
        let mut refused = None;
        for (i, effect) in effects.iter().enumerate() {
            match effect {
                Effect::Audit(record) => {
                    match record {
                        AuditRecord::Window {
                            judgement: j,
                            decision: d,
                            ..
                        } => {
                            judgement = Some(j.clone());
                            decision = Some(d.clone());
                        }
                        AuditRecord::Started { decision: d, .. }
                        | AuditRecord::Operator { decision: d, .. }
                        | AuditRecord::BaselineRechecked { decision: d, .. } => {
                            decision = Some(d.clone())
                        }
                        AuditRecord::Decision { .. } | AuditRecord::Superseded(_) => {}
                    }
                    let mut entry = audit_entry(key, now, record)?;
                    entry.payload = self.scrubbed(entry.payload);
                    audit.push(entry);
                }
                Effect::Refuse { reason } => refused = Some(reason.clone()),
                other => outbox.push(NewEffect {
                    // Derived from the state, so re-applying the same event after a
                    // crash yields the same keys and the outbox drops the duplicates.
                    idempotency_key: format!(
                        "{}@{}#{}.{}",
                        key.workload, key.revision, state.events, i
                    ),
                    kind: effect_kind(other).to_string(),
                    payload: self.scrubbed(serde_json::to_value(other).map_err(|source| {
                        DriverError::Encode {
                            what: "an effect",
                            source,
                        }
                    })?),
                }),
            }
        }

        if !store_row && matches!(state.phase, Phase::Pending) && outbox.is_empty() {
            self.write(move |store| {
                for entry in audit {
                    store.append_audit(entry)?;
                }
                Ok(())
            })
            .await?;
        } else {
            let row = rollout_row(&state, &self.policy_json, now, load_started(before, &state))?;
            self.write(move |store| {
                store
                    .commit(Commit {
                        rollout: row,
                        audit,
                        effects: outbox,
                    })
                    .map(drop)
            })
            .await?;
        }
        self.store_failing = None;
        Ok(Applied {
            state,
            decision,
            judgement,
            refused,
            effects,
        })
    }

    /// Carries out the effects left in the outbox for `key`, oldest first.
    /// Stops at the first failure: effects must happen in order (a promote
    /// must not overtake the weight change before it).
    pub async fn flush(&mut self, key: &RolloutKey, now: Timestamp) -> Result<usize, DriverError> {
        let (workload, revision) = (key.workload.0.clone(), key.revision.0.clone());
        let pending = self
            .write(move |store| store.pending_effects(Some(&workload), Some(&revision)))
            .await?;
        let mut done = 0;
        for row in pending {
            let effect: Effect = match serde_json::from_value(row.payload.clone()) {
                Ok(e) => e,
                Err(e) => {
                    // An effect this build cannot read is recorded as failed, not retried forever.
                    let result = json!({"ok": false, "error": format!("unreadable effect: {e}")});
                    let id = row.id;
                    self.write(move |s| s.complete_effect(id, result, None, now.0))
                        .await?;
                    continue;
                }
            };
            let (outcome, kind) = match &effect {
                Effect::SetWeight { weight } => (
                    self.router.set_weight(key, *weight).await,
                    AuditKind::Action,
                ),
                Effect::RollBack => (self.router.roll_back(key).await, AuditKind::Action),
                Effect::Promote => (self.router.promote(key).await, AuditKind::Action),
                Effect::Notify(notice) => (
                    self.notifier.notify(key, notice).await,
                    AuditKind::Notification,
                ),
                Effect::Audit(_) | Effect::Refuse { .. } => (Ok(()), AuditKind::Action),
            };
            let result = match &outcome {
                Ok(()) => json!({"ok": true}),
                Err(e) => json!({"ok": false, "error": e.message()}),
            };
            let mut payload = json!({
                "effect": row.kind,
                "idempotency_key": row.idempotency_key,
                "result": result,
            });
            if let Effect::SetWeight { weight } = &effect {
                payload["weight"] = json!(weight);
            }
            if let Effect::Notify(n) = &effect {
                payload["notice"] = json!({"kind": n.kind, "severity": n.severity, "title": canaryd_ports::words::title(n)});
            }
            let entry = NewAuditEntry {
                workload: key.workload.0.clone(),
                revision: key.revision.0.clone(),
                at_ms: now.0,
                kind,
                payload: self.scrubbed(payload),
            };
            let result = self.scrubbed(result);
            match outcome {
                Ok(()) => {
                    let id = row.id;
                    self.write(move |s| s.complete_effect(id, result, Some(entry), now.0))
                        .await?;
                    done += 1;
                }
                // A notifier that is down must never hold up the rollout: the
                // attempt is audited and the message dropped here (the notify
                // crate owns retries with backoff).
                Err(_) if kind == AuditKind::Notification => {
                    let id = row.id;
                    self.write(move |s| s.complete_effect(id, result, Some(entry), now.0))
                        .await?;
                }
                Err(e) => {
                    self.write(move |s| s.append_audit(entry).map(drop)).await?;
                    let message = match self.scrubbed(serde_json::Value::String(e.message().into()))
                    {
                        serde_json::Value::String(m) => m,
                        _ => String::new(),
                    };
                    return Err(DriverError::Action {
                        key: key.to_string(),
                        effect: row.kind,
                        message,
                        kind: e.kind(),
                    });
                }
            }
        }
        Ok(done)
    }
}

/// A failure of the database itself (full disk, I/O error, locked), as
/// opposed to what canaryd wrote being refused or another process holding
/// the writer lease: the one kind a live rollout waits out.
pub fn is_store_outage(e: &StoreError) -> bool {
    matches!(e, StoreError::Sqlite { .. })
}

fn effect_kind(e: &Effect) -> &'static str {
    match e {
        Effect::SetWeight { .. } => "set_weight",
        Effect::RollBack => "roll_back",
        Effect::Promote => "promote",
        Effect::Notify(_) => "notify",
        Effect::Audit(_) => "audit",
        Effect::Refuse { .. } => "refuse",
    }
}

fn audit_entry(
    key: &RolloutKey,
    now: Timestamp,
    record: &AuditRecord,
) -> Result<NewAuditEntry, DriverError> {
    let kind = match record.kind() {
        "window_verdict" => AuditKind::WindowVerdict,
        "approval" => AuditKind::Approval,
        _ => AuditKind::Decision,
    };
    Ok(NewAuditEntry {
        workload: key.workload.0.clone(),
        revision: key.revision.0.clone(),
        at_ms: now.0,
        kind,
        payload: serde_json::to_value(record).map_err(|source| DriverError::Encode {
            what: "an audit record",
            source,
        })?,
    })
}

fn load_started(before: &Rollout, after: &Rollout) -> Timestamp {
    before.started_at.or(after.started_at).unwrap_or_default()
}

fn rollout_row(
    state: &Rollout,
    policy_json: &str,
    now: Timestamp,
    started: Timestamp,
) -> Result<RolloutRow, DriverError> {
    Ok(RolloutRow {
        workload: state.key.workload.0.clone(),
        revision: state.key.revision.0.clone(),
        phase: state.phase.name().to_string(),
        step: i64::try_from(state.step).unwrap_or(i64::MAX),
        weight: i64::from(state.weight),
        started_at_ms: started.0,
        updated_at_ms: now.0,
        finished_at_ms: state.finished_at.map(|t| t.0),
        state_json: serde_json::to_string(state).map_err(|source| DriverError::Encode {
            what: "the rollout state",
            source,
        })?,
        policy_json: policy_json.to_string(),
    })
}

/// Reads a rollout's state from the store.
pub fn load_rollout(store: &SqliteStore, key: &RolloutKey) -> Result<Option<Rollout>, DriverError> {
    let Some(row) = store.load_rollout(&key.workload.0, &key.revision.0)? else {
        return Ok(None);
    };
    decode_state(&row).map(Some)
}

/// Decodes the state column of a stored rollout.
pub fn decode_state(row: &RolloutRow) -> Result<Rollout, DriverError> {
    serde_json::from_str(&row.state_json).map_err(|source| DriverError::CorruptState {
        key: format!("{} {}", row.workload, row.revision),
        source,
    })
}

/// Locks the store, carrying on past a panic in another holder: a panic
/// mid-write rolls its SQLite transaction back, so what the lock guards is
/// never left half-written.
fn lock(store: &Mutex<SqliteStore>) -> MutexGuard<'_, SqliteStore> {
    store
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
