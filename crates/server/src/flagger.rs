//! Flagger's webhooks: canaryd as the gate Flagger asks before each move.
//!
//! Flagger POSTs `{"name", "namespace", "phase", "checksum", "metadata"}` with
//! `Content-Type: application/json` and treats an HTTP status ≤ 202 as "yes".
//! Every "no" here is a 403 (or 400 for a payload canaryd cannot read, 401
//! for a bad token), so when in doubt Flagger waits: for `rollback` a "no"
//! means no rollback, which is the safe side of a payload canaryd cannot
//! read or a canary it cannot see. The rollout key is `namespace/name` plus
//! Flagger's `checksum` of the canary's spec: one canaryd rollout per revision.
//! Every answer is audited (by: flagger, what, why) before it is given.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use canaryd_core::vocab::RolloutKey;
use canaryd_ports::Notifier;
use canaryd_store::AuditKind;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

use crate::analysis::answer::{self, Gate};
use crate::analysis::snapshot::Snapshot;
use crate::analysis::SourceFactory;
use crate::argo::check_name;
use crate::integrations::{authorize, error, service_error, Shared};

/// The phases a Flagger canary goes through (its `CanaryPhase`).
pub const PHASES: [&str; 11] = [
    "Initializing",
    "Initialized",
    "Waiting",
    "Progressing",
    "WaitingPromotion",
    "Promoting",
    "Finalising",
    "Succeeded",
    "Failed",
    "Terminating",
    "Terminated",
];

/// Metadata key holding the token, for Flagger versions that cannot send headers.
pub const TOKEN_KEY: &str = "token";
/// Metadata key naming the stable revision (default: Flagger's `<name>-primary`).
pub const STABLE_KEY: &str = "stable";

/// The body of every Flagger webhook call.
#[derive(Debug, Deserialize)]
pub struct Payload {
    /// The Flagger Canary's name; with the namespace, it names the workload.
    pub name: String,
    /// The Flagger Canary's namespace.
    pub namespace: String,
    /// Flagger's phase for the canary (`Progressing`, `Promoting`, ...).
    pub phase: String,
    /// Hash of the canary's tracked configuration: identifies the revision.
    #[serde(default)]
    pub checksum: Option<String>,
    /// The webhook's `metadata`: [`TOKEN_KEY`] and [`STABLE_KEY`] are read,
    /// the rest (minus the token) is kept in the audit log.
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
}

impl Payload {
    fn validate(&self) -> Result<(RolloutKey, String), String> {
        check_name("name", &self.name, 253)?;
        check_name("namespace", &self.namespace, 63)?;
        if !PHASES.contains(&self.phase.as_str()) {
            return Err(format!(
                "unknown phase `{}` (Flagger's phases: {})",
                self.phase,
                PHASES.join(", ")
            ));
        }
        let checksum = self.checksum.as_deref().unwrap_or_default();
        if checksum.is_empty() {
            return Err(
                "no `checksum`: canaryd keys each canary revision by it (Flagger 1.x sends it in every webhook payload)"
                    .into(),
            );
        }
        check_name("checksum", checksum, 128)?;
        let stable = match self.metadata.as_ref().and_then(|m| m.get(STABLE_KEY)) {
            Some(s) => s.clone(),
            None => format!("{}-primary", self.name),
        };
        Ok((
            RolloutKey::new(format!("{}/{}", self.namespace, self.name), checksum),
            stable,
        ))
    }

    /// The metadata minus the token, for the audit log.
    fn public_metadata(&self) -> BTreeMap<String, String> {
        let mut m = self.metadata.clone().unwrap_or_default();
        m.remove(TOKEN_KEY);
        m
    }
}

/// Reads and authenticates a call; the error is the response to give.
fn admit<F, N>(
    shared: &Shared<F, N>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Payload, RolloutKey, String), Box<Response>> {
    let payload: Payload = match serde_json::from_slice(body) {
        Ok(p) => p,
        Err(e) => {
            // Authenticate before saying anything about the body.
            if let Some(denied) = authorize(&shared.token, headers, None) {
                return Err(Box::new(denied));
            }
            return Err(Box::new(error(
                StatusCode::BAD_REQUEST,
                format!("not a Flagger webhook payload ({e}); expected {{\"name\", \"namespace\", \"phase\", \"checksum\", \"metadata\"}}"),
            )));
        }
    };
    let token = payload
        .metadata
        .as_ref()
        .and_then(|m| m.get(TOKEN_KEY))
        .map(String::as_str);
    if let Some(denied) = authorize(&shared.token, headers, token) {
        return Err(Box::new(denied));
    }
    match payload.validate() {
        Ok((key, stable)) => Ok((payload, key, stable)),
        Err(why) => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("invalid Flagger payload: {why}"),
        ))),
    }
}

async fn gate<F: SourceFactory, N: Notifier + 'static>(
    shared: Shared<F, N>,
    headers: HeaderMap,
    body: axum::body::Bytes,
    hook: &'static str,
    decide: impl FnOnce(&Snapshot) -> Gate,
) -> Response {
    let (payload, key, stable) = match admit(&shared, &headers, &body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let (gate, verdict) = match shared
        .service
        .ask(&key, &stable, |s| (decide(s), answer::answer(s)))
    {
        Ok(v) => v,
        Err(e) => return service_error(e),
    };
    let status = if gate.open {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    let record = json!({
        "by": "flagger",
        "webhook": hook,
        "flagger_phase": payload.phase,
        "allowed": gate.open,
        "status": status.as_u16(),
        "why": gate.reason,
        "canaryd_phase": verdict.phase,
        "verdict": verdict.verdict,
        "metadata": payload.public_metadata(),
    });
    let record = shared.scrubbed(record);
    if let Err(e) = shared.service.audit(&key, AuditKind::Decision, record) {
        return service_error(e);
    }
    (
        status,
        Json(json!({
            "allowed": gate.open,
            "reason": gate.reason,
            "analysis": verdict,
        })),
    )
        .into_response()
}

pub(crate) async fn confirm_rollout<F: SourceFactory, N: Notifier + 'static>(
    State(shared): State<Shared<F, N>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    gate(
        shared,
        headers,
        body,
        "confirm-rollout",
        answer::confirm_rollout,
    )
    .await
}

pub(crate) async fn confirm_traffic_increase<F: SourceFactory, N: Notifier + 'static>(
    State(shared): State<Shared<F, N>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    gate(shared, headers, body, "confirm-traffic-increase", |s| {
        answer::confirm_progress(s, "traffic increase")
    })
    .await
}

pub(crate) async fn confirm_promotion<F: SourceFactory, N: Notifier + 'static>(
    State(shared): State<Shared<F, N>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    gate(shared, headers, body, "confirm-promotion", |s| {
        answer::confirm_progress(s, "promotion")
    })
    .await
}

pub(crate) async fn rollback<F: SourceFactory, N: Notifier + 'static>(
    State(shared): State<Shared<F, N>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    gate(shared, headers, body, "rollback", answer::rollback).await
}

/// Flagger's events (`metadata`: `eventMessage`, `eventType`, `timestamp`):
/// recorded in the audit log of the rollout they concern.
pub(crate) async fn event<F: SourceFactory, N: Notifier + 'static>(
    State(shared): State<Shared<F, N>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (payload, key, _) = match admit(&shared, &headers, &body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let meta = payload.public_metadata();
    let record = json!({
        "from": "flagger",
        "webhook": "event",
        "flagger_phase": payload.phase,
        "event_type": meta.get("eventType"),
        "message": meta.get("eventMessage"),
        "metadata": meta,
    });
    let record = shared.scrubbed(record);
    match shared.service.audit(&key, AuditKind::Notification, record) {
        Ok(()) => Json(json!({"recorded": true})).into_response(),
        Err(e) => service_error(e),
    }
}
