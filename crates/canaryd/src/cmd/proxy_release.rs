//! A new canary for a running `canaryd proxy`, without a restart:
//! `POST /api/v1/releases` on the operator API (`canaryd release`), and which
//! release the proxy serves when it starts.
//!
//! A release is refused (409, with the reason) while a rollout is in
//! progress (pending, ramping, paused, awaiting approval): replacing the
//! canary under a running rollout would judge one build on another's
//! traffic. Once the rollout is finished it is taken in this order:
//!
//! 1. committed: the `proxy_releases` row and its audit entry ("new canary
//!    ... by ... reason ..."), in one transaction fenced by the writer lease;
//! 2. the router switches (`RouterHandle::switch_upstreams`): weight 0, and
//!    after a promotion the promoted upstream becomes the stable one (it is
//!    what users run); requests in flight finish where they were sent;
//! 3. the new rollout starts like any other: on its own when the recorded
//!    stable history suffices, else awaiting approval.
//!
//! The same revision with the same URL again is not a second rollout (200,
//! nothing changes): a retried command is safe. A revision is released once.
//!
//! On start the newest release in the database wins over `--stable`,
//! `--canary` and `--revision`, unless `--revision` names a revision this
//! database has never seen: that is a release by restart, recorded like one.
//! So a service manager restarting the proxy with the flags it was first
//! given does not undo a `canaryd release`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Json;
use canaryd_core::rollout::{Phase, Rollout};
use canaryd_core::vocab::RolloutKey;
use canaryd_driver::live::wall_clock;
use canaryd_proxy::{RouterHandle, Upstream};
use canaryd_secrets::Secret;
use canaryd_store::{Release, SqliteStore};
use serde::Deserialize;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

use crate::Fail;

pub const PATH: &str = "/api/v1/releases";

/// The release the router serves: the rollout's key and its two upstreams.
#[derive(Debug, Clone)]
pub struct Current {
    pub key: RolloutKey,
    pub stable: Upstream,
    pub canary: Upstream,
}

/// The body of `POST /api/v1/releases`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    workload: String,
    revision: String,
    /// The new canary upstream's base URL (http, no credentials).
    canary: String,
    by: String,
    #[serde(default)]
    reason: Option<String>,
}

/// A validated release request, handed to the proxy's loop.
pub struct Asked {
    pub revision: String,
    pub canary: Upstream,
    pub by: String,
    pub reason: Option<String>,
    reply: oneshot::Sender<Answer>,
}

/// The HTTP status and the JSON answer (`accepted`, `message`, `phase`, `weight`).
pub struct Answer(StatusCode, serde_json::Value);

impl Answer {
    fn new(status: StatusCode, message: impl Into<String>, phase: &str, weight: u8) -> Answer {
        Answer(
            status,
            json!({
                "accepted": status == StatusCode::OK,
                "message": message.into(),
                "phase": phase,
                "weight": weight,
            }),
        )
    }
}

impl Asked {
    fn answer(self, a: Answer) {
        let _ = self.reply.send(a);
    }
}

/// What the running rollout is doing, for the refusal's message.
#[derive(Clone, Default)]
pub struct Status(Arc<Mutex<(String, u8)>>);

impl Status {
    pub fn set(&self, state: &Rollout) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) =
            (state.phase.name().to_string(), state.weight);
    }

    fn get(&self) -> (String, u8) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[derive(Clone)]
struct Api {
    token: Option<Arc<Secret>>,
    workload: String,
    loop_tx: mpsc::Sender<Asked>,
}

/// The route, to merge into the operator API (same token, same limits).
pub fn routes(
    token: Option<Secret>,
    workload: String,
    loop_tx: mpsc::Sender<Asked>,
) -> axum::Router {
    axum::Router::new()
        .route(PATH, post(release))
        .with_state(Api {
            token: token.map(Arc::new),
            workload,
            loop_tx,
        })
}

fn refused(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"accepted": false, "message": message.into()})),
    )
        .into_response()
}

async fn release(State(api): State<Api>, headers: HeaderMap, body: axum::body::Body) -> Response {
    // The token is checked before the body is read (401), then its size (413).
    let bytes = match canaryd_server::authorized_body(api.token.as_deref(), &headers, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let b: Body = match serde_json::from_slice(&bytes) {
        Ok(b) => b,
        Err(e) => {
            return refused(
                StatusCode::BAD_REQUEST,
                format!(
                    "invalid release ({e}): send {{\"workload\", \"revision\", \"canary\", \"by\", \"reason\"?}}"
                ),
            )
        }
    };
    let (revision, by) = (b.revision.trim().to_string(), b.by.trim().to_string());
    if revision.is_empty() {
        return refused(
            StatusCode::BAD_REQUEST,
            "`revision` must name the new canary's build (an image tag, a build id); it keys \
             the audit log and is never derived from the URL",
        );
    }
    if by.is_empty() {
        return refused(
            StatusCode::BAD_REQUEST,
            "`by` must name who is asking; it goes into the audit log",
        );
    }
    let canary = match parse_upstream(&b.canary) {
        Ok(u) => u,
        Err(why) => return refused(StatusCode::BAD_REQUEST, format!("`canary`: {why}")),
    };
    if b.workload != api.workload {
        return refused(
            StatusCode::NOT_FOUND,
            format!(
                "this proxy serves {}, not {}: send the release to the proxy in front of it",
                api.workload, b.workload
            ),
        );
    }
    let (reply, answer) = oneshot::channel();
    let asked = Asked {
        revision,
        canary,
        by,
        reason: b
            .reason
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty()),
        reply,
    };
    if api.loop_tx.send(asked).await.is_err() {
        return refused(StatusCode::SERVICE_UNAVAILABLE, "the proxy is stopping");
    }
    match tokio::time::timeout(Duration::from_secs(30), answer).await {
        Ok(Ok(Answer(status, v))) => (status, Json(v)).into_response(),
        Ok(Err(_)) => refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "the proxy stopped before answering; see its log",
        ),
        Err(_) => refused(
            StatusCode::GATEWAY_TIMEOUT,
            "the proxy did not answer within 30s; see its log before trying again",
        ),
    }
}

/// An upstream base URL: http, and no credentials (the router forwards the
/// clients' own and sends none of its own, and the URL is logged and audited).
pub fn parse_upstream(raw: &str) -> Result<Upstream, String> {
    canaryd_secrets::SafeUrl::parse_without_credentials(raw).map_err(|e| e.to_string())?;
    Upstream::parse("canary", raw).map_err(|e| e.to_string())
}

/// Answers a release asked for while `current`'s rollout runs: the same
/// release again is a no-op, anything else waits for the rollout to end.
pub fn while_in_progress(current: &Current, status: &Status, asked: Asked) {
    let (phase, weight) = status.get();
    let answer = if asked.revision == current.key.revision.0 && asked.canary == current.canary {
        Answer::new(
            StatusCode::OK,
            format!(
                "{} is already the canary at {}; nothing changed",
                current.key, current.canary
            ),
            &phase,
            weight,
        )
    } else {
        Answer::new(
            StatusCode::CONFLICT,
            format!(
                "rollout {} is in progress ({phase} at {weight}%): a new canary is taken once it \
                 is promoted, rolled back or aborted (`canaryd abort {} {}` to replace it now)",
                current.key, current.key.workload, current.key.revision
            ),
            &phase,
            weight,
        )
    };
    asked.answer(answer);
}

/// Takes a release once `current`'s rollout has finished in `finished`:
/// commits it, then switches the router. `Some` is the new release in
/// force; `None` when refused (answered with the reason) or already in force.
pub fn take(
    store: Option<&mut SqliteStore>,
    router: &RouterHandle,
    current: &Current,
    finished: &Rollout,
    asked: Asked,
) -> Option<Current> {
    let phase = finished.phase.name().to_string();
    let weight = router.weight();
    let conflict = |m: String| Answer::new(StatusCode::CONFLICT, m, &phase, weight);
    if asked.revision == current.key.revision.0 {
        let a = if asked.canary == current.canary {
            Answer::new(
                StatusCode::OK,
                format!(
                    "{} is already the canary at {} (its rollout finished: {phase}); nothing changed",
                    current.key, current.canary
                ),
                &phase,
                weight,
            )
        } else {
            conflict(format!(
                "{} was released at {}: a revision names one build, release {} under a new revision",
                current.key, current.canary, asked.canary
            ))
        };
        asked.answer(a);
        return None;
    }
    let Some(store) = store else {
        asked.answer(conflict(
            "this proxy keeps no database (--db :memory:), so a new canary could not survive a \
             restart: restart it with the new --canary and --revision"
                .into(),
        ));
        return None;
    };
    let key = RolloutKey::new(current.key.workload.0.clone(), asked.revision.clone());
    let seen = match released_before(store, &key) {
        Ok(s) => s,
        Err(e) => {
            asked.answer(Answer::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not taken: the database cannot be read ({e}); nothing changed"),
                &phase,
                weight,
            ));
            return None;
        }
    };
    if let Some(before) = seen {
        asked.answer(conflict(format!(
            "{key} was released here before ({before}): a revision is released once, name the \
             new build"
        )));
        return None;
    }
    // After a promotion the canary upstream is what users run: it becomes
    // the stable one. After a rollback the stable one stays.
    let stable = if matches!(finished.phase, Phase::Promoted { .. }) {
        current.canary.clone()
    } else {
        current.stable.clone()
    };
    if asked.canary == stable {
        let why = format!(
            "{} is the stable upstream: a canary must be another upstream",
            asked.canary
        );
        asked.answer(conflict(why));
        return None;
    }
    let release = Release {
        workload: key.workload.0.clone(),
        revision: asked.revision.clone(),
        stable_url: stable.to_string(),
        canary_url: asked.canary.to_string(),
        by: asked.by.clone(),
        reason: asked.reason.clone(),
        at_ms: wall_clock().0,
    };
    if let Err(e) = store.record_release(&release) {
        asked.answer(Answer::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not taken: the database cannot commit ({e}); nothing changed, the router serves as before"),
            &phase,
            weight,
        ));
        return None;
    }
    // Committed: only now does the router change.
    router.switch_upstreams(stable.clone(), asked.canary.clone());
    println!(
        "new canary {key} at {} (released by {}{}); stable {stable}; the canary takes 0% until its rollout starts",
        asked.canary,
        asked.by,
        asked.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default(),
    );
    let next = Current {
        key: key.clone(),
        stable,
        canary: asked.canary.clone(),
    };
    asked.answer(Answer::new(
        StatusCode::OK,
        format!(
            "released {key} at {}: it takes 0% until its rollout starts (on its own when the \
             recorded stable history suffices, else after an approval)",
            next.canary
        ),
        "pending",
        0,
    ));
    Some(next)
}

/// Whether `key`'s revision was released (or rolled out) here before, and how.
fn released_before(store: &SqliteStore, key: &RolloutKey) -> Result<Option<String>, Fail> {
    if let Some(r) = store.release_of(&key.workload.0, &key.revision.0)? {
        return Ok(Some(format!("at {} by {}", r.canary_url, r.by)));
    }
    Ok(canaryd_driver::driver::load_rollout(store, key)?
        .map(|s| format!("its rollout ended {}", s.phase)))
}

/// Which release the proxy serves on start (see the module doc), recording
/// the flags' release when they name a revision never seen here.
pub fn at_start(store: &mut SqliteStore, flags: Current) -> Result<Current, Fail> {
    let workload = flags.key.workload.0.clone();
    let latest = store.latest_release(&workload)?;
    let flag_release = store.release_of(&workload, &flags.key.revision.0)?;
    let flag_known = flag_release.is_some()
        || canaryd_driver::driver::load_rollout(store, &flags.key)?.is_some();
    let stored = |r: Release| -> Result<Current, Fail> {
        let bad = |e: canaryd_proxy::ProxyError| {
            Fail::invalid(format!(
                "the database's release of {workload}@{} holds an unusable upstream: {e}",
                r.revision
            ))
        };
        Ok(Current {
            key: RolloutKey::new(workload.clone(), r.revision.clone()),
            stable: Upstream::parse("stable", &r.stable_url).map_err(bad)?,
            canary: Upstream::parse("canary", &r.canary_url).map_err(bad)?,
        })
    };
    match latest {
        Some(r) if r.revision == flags.key.revision.0 || flag_known => {
            let current = stored(r.clone())?;
            if current.key != flags.key
                || current.canary != flags.canary
                || current.stable != flags.stable
            {
                println!(
                    "the newest release in the database wins: {} with canary {} and stable {} \
                     (released by {}); --revision {} --canary {} --stable {} are ignored, {} was \
                     released here before",
                    current.key,
                    current.canary,
                    current.stable,
                    r.by,
                    flags.key.revision,
                    flags.canary,
                    flags.stable,
                    flags.key.revision
                );
            }
            Ok(current)
        }
        _ => {
            if flag_release.is_none() {
                store.record_release(&Release {
                    workload: workload.clone(),
                    revision: flags.key.revision.0.clone(),
                    stable_url: flags.stable.to_string(),
                    canary_url: flags.canary.to_string(),
                    by: "canaryd proxy --canary --revision".into(),
                    reason: None,
                    at_ms: wall_clock().0,
                })?;
            }
            Ok(flags)
        }
    }
}
