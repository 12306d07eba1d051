//! One reconcile of one `Canary`.
//!
//! In order: the spec's target and router must fit; the policy must parse
//! (else `PolicyValid=False` with the parser's located message, and nothing
//! else happens); the target is read; [`plan`] decides from the store what
//! is due; the metrics source is built only when a window or a start is
//! due; [`execute`] carries the plan out through the driver (router calls
//! and Events go through its outbox); an Argo Rollout is held while the
//! core holds; and the status is rewritten from the store.

use std::path::Path;
use std::time::{Duration, Instant};

use canaryd_core::Policy;
use canaryd_driver::driver::load_rollout;
use canaryd_driver::driver::Scrubber;
use canaryd_driver::{Driver, DriverError};
use canaryd_policy::parse_policy;
use canaryd_ports::{MetricsSource, Notifier};
use canaryd_store::SqliteStore;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::Api;
use kube::{Resource, ResourceExt};

use super::argo_hold::hold_argo;
use super::credentials::{read_credentials, read_notify_targets, Credentials};
use super::notifier::{Channels, EventNotifier};
use super::parts::{settle_undo, target_ref, Cond, NoSource};
use super::policy_secrets::refuse_policy_credentials;
use super::status_write::write_status_retrying;
use super::{Context, ControllerError, EdgeFactory, ReconcileResult, SourceRequest};
use crate::crd::{Canary, CanaryStatus};
use crate::error::KubeError;
use crate::execute::{execute, rfc3339};
use crate::reconcile::{plan, rollout_key, Action, ObservedTarget};
use crate::router::select::{choose, for_spec};
use crate::status::{mirror, push_window, set_condition, warning_words};
use crate::target::{observe, policy_text};

/// How soon to look again at a Canary whose problem no watch will report
/// (a ConfigMap or Secret fixed, a missing target created elsewhere).
const RECHECK: Duration = Duration::from_secs(60);

/// How soon to try again to read a baseline that could not be read.
const BASELINE_RETRY: Duration = Duration::from_secs(15);

/// What a reconcile decided, for the loop and for tests.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `None`: only a change of the Canary or its target brings it back.
    pub requeue_after: Option<Duration>,
    /// The status written, when it changed.
    pub status: Option<CanaryStatus>,
}

/// Reconciles `canary`. A follower (not holding the Lease) returns at once
/// without sending a single request.
pub async fn reconcile_canary<F: EdgeFactory>(
    canary: &Canary,
    ctx: &Context<F>,
) -> Result<Outcome, ControllerError> {
    let started = Instant::now();
    if !ctx.leader.is_leader() {
        ctx.metrics
            .observe(ReconcileResult::Skipped, started.elapsed());
        return Ok(Outcome {
            requeue_after: None,
            status: None,
        });
    }
    let result = reconcile_inner(canary, ctx).await;
    let label = match &result {
        Ok(_) => ReconcileResult::Ok,
        Err(_) => ReconcileResult::Error,
    };
    ctx.metrics.observe(label, started.elapsed());
    result
}

/// What a check of a reconcile found: go on with `T`, or stop here with
/// this outcome (its conditions already written).
enum Checked<T> {
    Go(T),
    Stop(Outcome),
}

/// Fixed facts of this reconcile.
struct Here<'a, F> {
    ctx: &'a Context<F>,
    canary: &'a Canary,
    name: String,
    namespace: String,
    generation: Option<i64>,
    stamp: String,
    previous: CanaryStatus,
    api: Api<Canary>,
}

async fn reconcile_inner<F: EdgeFactory>(
    canary: &Canary,
    ctx: &Context<F>,
) -> Result<Outcome, ControllerError> {
    let name = canary.name_any();
    let namespace = canary
        .namespace()
        .ok_or_else(|| ControllerError::NoNamespace { name: name.clone() })?;
    let now = (ctx.clock)();
    let here = Here {
        ctx,
        canary,
        api: Api::namespaced(ctx.client.clone(), &namespace),
        name,
        namespace,
        generation: canary.metadata.generation,
        stamp: rfc3339(now),
        previous: canary.status.clone().unwrap_or_default(),
    };
    let ns = here.namespace.as_str();

    let (kind, _) = match choose(&canary.spec) {
        Ok(k) => k,
        Err(problem) => {
            let cond = Cond::bad("Ready", "InvalidSpec", problem);
            return here.stop(vec![cond], None).await;
        }
    };

    let (origin, text, policy) = match here.read_policy().await? {
        Checked::Go(p) => p,
        Checked::Stop(outcome) => return Ok(outcome),
    };
    let mut conds = vec![Cond::ok("PolicyValid", "Valid", format!("{origin} parsed"))];

    let observed = observe(&ctx.client, ns, &kind).await?;
    let store = here.open_store()?;
    let observed = settle_undo(&store, ns, &here.name, &kind, observed)
        .map_err(|source| here.driver_error(source))?;
    let found = match &observed {
        ObservedTarget::Found { canary: c, stable } => Some((c.clone(), stable.clone())),
        ObservedTarget::Missing { .. } => None,
    };
    let stored = match &found {
        Some((rev, _)) => load_rollout(&store, &rollout_key(ns, &here.name, rev))
            .map_err(|source| here.driver_error(source))?,
        None => None,
    };
    let plan = plan(
        ns,
        &here.name,
        Some(&here.previous),
        &observed,
        stored.as_ref(),
        policy.window,
        now,
    );

    let needs_source = plan
        .actions
        .iter()
        .any(|a| matches!(a, Action::Start { .. } | Action::CloseWindow { .. }));
    let mut source: Box<dyn MetricsSource> = Box::new(NoSource);
    let mut scrubber = None;
    if let (true, Some((rev, stable))) = (needs_source, &found) {
        let metrics = canary.spec.metrics.as_ref();
        let credentials = match read_credentials(&ctx.client, ns, metrics).await {
            Ok(c) => c,
            Err(e @ (KubeError::NotFound { .. } | KubeError::Invalid { .. })) => {
                conds.push(Cond::bad("MetricsReady", "SecretNotFound", e.to_string()));
                return here.stop(conds, Some(RECHECK)).await;
            }
            Err(e) => return Err(e.into()),
        };
        let key = rollout_key(ns, &here.name, rev);
        let request = SourceRequest {
            namespace: ns,
            canary: &here.name,
            key: &key,
            stable,
            target: &kind,
            metrics,
            policy_text: &text,
            policy_origin: &origin,
            policy: &policy,
            credentials: &credentials,
        };
        scrubber = ctx.sources.scrubber(&credentials);
        match ctx.sources.source(&request) {
            Ok(s) => source = s,
            Err(problem) => {
                conds.push(Cond::bad("MetricsReady", "InvalidMetrics", problem));
                return here.stop(conds, Some(RECHECK)).await;
            }
        }
    }

    let selected = for_spec(
        ctx.client.clone(),
        ns,
        &canary.spec,
        Some(promotion_steps(&ctx.db, ctx.clock.clone())),
    )
    .map_err(|problem| {
        ControllerError::from(KubeError::Invalid {
            kind: "Canary",
            namespace: here.namespace.clone(),
            name: here.name.clone(),
            problem,
        })
    })?;
    let on = vec![here.canary_ref(), target_ref(ns, &kind)];
    let acts = plan.actions.iter().any(|a| {
        !matches!(
            a,
            Action::Idle | Action::ReportTargetMissing { .. } | Action::ReportStateMissing { .. }
        )
    });
    let (channels, scrub_notify) = if acts && !canary.spec.notify.is_empty() {
        here.notify_channels(&mut conds).await?
    } else {
        (None, None)
    };
    let notifier = Channels::new(EventNotifier::new(ctx.announcer.clone(), on), channels);
    let mut driver = Driver::new(store, selected.router, Box::new(notifier), policy)
        .map_err(|source| here.driver_error(source))?;
    let scrubber: Option<Scrubber> = match (scrubber, scrub_notify) {
        (Some(a), Some(b)) => Some(Box::new(move |v: &mut serde_json::Value| {
            a(v);
            b(v)
        })),
        (a, b) => a.or(b),
    };
    if let Some(scrub) = scrubber {
        driver = driver.with_scrubber(scrub);
    }
    let executed = match execute(&plan, &mut driver, source.as_mut(), now).await {
        Ok(e) => e,
        Err(DriverError::Action {
            key,
            effect,
            message,
            kind,
        }) => {
            // The decision is committed and its effect waits in the outbox;
            // say on the Canary why it is not carried out yet, then back off.
            let stored = found
                .as_ref()
                .map(|(rev, _)| driver.load(&rollout_key(ns, &here.name, rev)))
                .transpose()
                .map_err(|source| here.driver_error(source))?;
            let problem = format!("{effect} failed: {message}; canaryd retries it with back-off");
            conds.push(Cond::bad("Ready", "ActionFailed", problem));
            write_status_retrying(&here.api, &here.name, ctx.backoff, &here.previous, |base| {
                let mut s = match &stored {
                    Some(state) => mirror(base, state, here.generation, &here.stamp),
                    None => base.clone(),
                };
                here.apply(&mut s, &conds);
                s
            })
            .await?;
            here.warn_on_new_problems(&conds).await;
            return Err(here.driver_error(DriverError::Action {
                key,
                effect,
                message,
                kind,
            }));
        }
        Err(e) => return Err(here.driver_error(e)),
    };

    // The condition says how the last read went, not that a URL was given.
    match &executed.metrics_read {
        Some(Ok(())) => conds.push(Cond::ok(
            "MetricsReady",
            "Ready",
            "the last read of the metrics source succeeded",
        )),
        Some(Err(problem)) => conds.push(Cond::bad("MetricsReady", "MetricsUnreachable", problem)),
        None => {}
    }
    if let Some(problem) = &executed.baseline_unreadable {
        conds.push(Cond::bad("Ready", "BaselineUnreadable", problem.clone()).quiet());
        return here.stop(conds, Some(BASELINE_RETRY)).await;
    }
    if let (Some(argo), Some(state)) = (&selected.argo, &executed.state) {
        hold_argo(argo, here.previous.phase.as_deref(), state).await?;
    }
    if let Some(message) = &executed.superseded {
        let words = crate::status::EventWords {
            type_: "Normal",
            reason: "Superseded",
            note: message.clone(),
        };
        here.announce(&words).await;
    }
    if let Some(message) = &executed.target_missing {
        conds.push(Cond::bad("TargetFound", "TargetNotFound", message.clone()));
        conds.push(Cond::bad("Ready", "TargetNotFound", message.clone()).quiet());
    }
    if let Some(message) = &executed.state_missing {
        conds.push(Cond::bad("Ready", "StateMissing", message.clone()));
    }
    let idle = plan.actions.iter().any(|a| matches!(a, Action::Idle));
    let revision = found.as_ref().map(|(c, _)| c.clone());
    let build = |base: &CanaryStatus| {
        let mut s = match &executed.state {
            Some(state) => mirror(base, state, here.generation, &here.stamp),
            None => base.clone(),
        };
        for w in &executed.windows {
            push_window(&mut s.windows, w.clone());
        }
        if idle && s.phase.is_none() {
            s.phase = Some("idle".to_string());
            s.revision.clone_from(&revision);
        }
        here.apply(&mut s, &conds);
        s
    };
    let status =
        write_status_retrying(&here.api, &here.name, ctx.backoff, &here.previous, build).await?;
    here.warn_on_new_problems(&conds).await;
    // The plan's requeue was the next window's end; a rollout that finished
    // in this reconcile has none.
    let finished = executed
        .state
        .as_ref()
        .is_some_and(|s| s.phase.is_terminal());
    Ok(Outcome {
        requeue_after: if finished { None } else { plan.requeue_after },
        status,
    })
}

/// Each step of a promotion as an `action` entry of the audit log (the
/// driver audits the promotion as a whole; this says what happened inside
/// it, and when). A step that cannot be recorded is logged, never fatal.
fn promotion_steps(db: &Path, clock: super::Clock) -> crate::router::StepLog {
    let db = db.to_path_buf();
    std::sync::Arc::new(move |key, step, detail| {
        let entry = canaryd_store::NewAuditEntry {
            workload: key.workload.0.clone(),
            revision: key.revision.0.clone(),
            at_ms: clock().0,
            kind: canaryd_store::AuditKind::Action,
            payload: serde_json::json!({"effect": "promote", "step": step, "detail": detail}),
        };
        if let Err(e) = SqliteStore::open(&db).and_then(|mut s| s.append_audit(entry).map(|_| ())) {
            tracing::warn!(%key, step, error = %e, "could not audit a promotion step");
        }
    })
}

impl<F: EdgeFactory> Here<'_, F> {
    /// The Canary's policy: where it came from, its text, and the policy
    /// compiled; a policy that cannot be read, compiled or that names
    /// credentials stops the reconcile with `PolicyValid=False`.
    async fn read_policy(&self) -> Result<Checked<(String, String, Policy)>, ControllerError> {
        let spec = &self.canary.spec;
        // The spec (or the ConfigMap) must change before a bad policy can
        // pass; an inline policy is part of the spec, so its fix is a watch event.
        let recheck = spec.policy.config_map.as_ref().map(|_| RECHECK);
        let (origin, text) = match policy_text(&self.ctx.client, &self.namespace, spec).await {
            Ok(t) => t,
            Err(e @ (KubeError::NotFound { .. } | KubeError::Invalid { .. })) => {
                let cond = Cond::bad("PolicyValid", "PolicyNotFound", e.to_string());
                return self
                    .stop(vec![cond], Some(RECHECK))
                    .await
                    .map(Checked::Stop);
            }
            Err(e) => return Err(e.into()),
        };
        let policy = match parse_policy(&origin, &text) {
            Ok(p) => p,
            Err(e) => {
                let cond = Cond::bad("PolicyValid", "InvalidPolicy", e.to_string());
                return self.stop(vec![cond], recheck).await.map(Checked::Stop);
            }
        };
        if let Err(problem) = refuse_policy_credentials(&origin, &text) {
            let cond = Cond::bad("PolicyValid", "CredentialsInPolicy", problem);
            return self.stop(vec![cond], recheck).await.map(Checked::Stop);
        }
        Ok(Checked::Go((origin, text, policy)))
    }

    /// The `spec.notify` channels and the scrubber for their credentials,
    /// with the `NotifyReady` condition. A missing Slack Secret must not
    /// hold up a rollback: Events still tell the story, and the condition
    /// says what is wrong.
    async fn notify_channels(
        &self,
        conds: &mut Vec<Cond>,
    ) -> Result<(Option<Box<dyn Notifier>>, Option<Scrubber>), ControllerError> {
        let spec = &self.canary.spec;
        let targets =
            match read_notify_targets(&self.ctx.client, &self.namespace, &self.name, &spec.notify)
                .await
            {
                Ok(targets) => targets,
                Err(e @ (KubeError::NotFound { .. } | KubeError::Invalid { .. })) => {
                    conds.push(Cond::bad("NotifyReady", "SecretNotFound", e.to_string()));
                    return Ok((None, None));
                }
                Err(e) => return Err(e.into()),
            };
        let mut mask = Credentials::default();
        for v in targets.iter().flat_map(|t| t.values()) {
            mask.also_mask(v.clone());
        }
        let scrub = self.ctx.sources.scrubber(&mask);
        let channels = match self.ctx.sources.channels(targets) {
            Ok(c) => {
                conds.push(Cond::ok(
                    "NotifyReady",
                    "Ready",
                    "every spec.notify channel is configured",
                ));
                c
            }
            Err(problem) => {
                conds.push(Cond::bad("NotifyReady", "InvalidNotify", problem));
                None
            }
        };
        Ok((channels, scrub))
    }
}

impl<F> Here<'_, F> {
    /// The store, its commits fenced with the writer lease's token while
    /// this replica holds it.
    fn open_store(&self) -> Result<SqliteStore, ControllerError> {
        let mut store = SqliteStore::open(Path::new(&self.ctx.db)).map_err(|source| {
            ControllerError::Store {
                canary: format!("{}/{}", self.namespace, self.name),
                source: Box::new(source),
            }
        })?;
        self.ctx.fence.apply(&mut store);
        Ok(store)
    }

    fn driver_error(&self, source: canaryd_driver::DriverError) -> ControllerError {
        ControllerError::Driver {
            canary: format!("{}/{}", self.namespace, self.name),
            source: Box::new(source),
        }
    }

    fn canary_ref(&self) -> ObjectReference {
        self.canary.object_ref(&())
    }

    fn apply(&self, s: &mut CanaryStatus, conds: &[Cond]) {
        for c in conds {
            set_condition(
                &mut s.conditions,
                c.type_,
                c.ok,
                c.reason,
                &c.message,
                &self.stamp,
                self.generation,
            );
        }
        s.observed_generation = self.generation;
    }

    /// Ends a reconcile that cannot go on: the conditions say why, a
    /// Warning Event says it once, and nothing else is touched.
    async fn stop(
        &self,
        conds: Vec<Cond>,
        requeue_after: Option<Duration>,
    ) -> Result<Outcome, ControllerError> {
        let status = write_status_retrying(
            &self.api,
            &self.name,
            self.ctx.backoff,
            &self.previous,
            |base| {
                let mut s = base.clone();
                self.apply(&mut s, &conds);
                s
            },
        )
        .await?;
        self.warn_on_new_problems(&conds).await;
        Ok(Outcome {
            requeue_after,
            status,
        })
    }

    /// A Warning Event for each condition that is False now and was not
    /// before with the same reason: said once, not on every reconcile.
    async fn warn_on_new_problems(&self, conds: &[Cond]) {
        for c in conds.iter().filter(|c| !c.ok && c.warn) {
            let before = self.previous.conditions.iter().find(|p| p.type_ == c.type_);
            let known = before.is_some_and(|p| p.status == "False" && p.reason == c.reason);
            if !known {
                self.announce(&warning_words(c.reason, &c.message)).await;
            }
        }
    }

    async fn announce(&self, words: &crate::status::EventWords) {
        if let Err(e) = self
            .ctx
            .announcer
            .publish(words, &[self.canary_ref()])
            .await
        {
            tracing::warn!(canary = %self.name, error = %e, "could not publish an Event");
        }
    }
}
