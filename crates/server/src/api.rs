//! The routes and their handlers.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use canaryd_core::effect::{OperatorAction, OperatorCommand};
use canaryd_core::vocab::RolloutKey;
use canaryd_driver::Request;
use canaryd_secrets::Secret;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

use crate::registry::Registry;

#[derive(Clone)]
struct AppState {
    registry: Registry,
    token: Option<Arc<Secret>>,
}

/// The body of `POST /api/v1/commands`.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CommandBody {
    /// The workload of the rollout the command is for.
    pub workload: String,
    /// The revision of the rollout the command is for.
    pub revision: String,
    /// approve | resume | abort | promote
    pub action: String,
    /// Who is asking: recorded in the audit log.
    pub by: String,
    /// Why, if they said: recorded in the audit log beside `by`.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The API. With `token: None` every authenticated route answers 401:
/// an API nobody configured a token for is closed, not open.
pub fn router(registry: Registry, token: Option<Secret>) -> Router {
    let state = AppState {
        registry,
        token: token.map(Arc::new),
    };
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/v1/rollouts", get(list))
        .route("/api/v1/commands", post(command))
        .with_state(state)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"accepted": false, "message": message.into()})),
    )
        .into_response()
}

/// Why the caller may not proceed, if so.
fn denial(state: &AppState, headers: &HeaderMap) -> Option<&'static str> {
    denial_for(state.token.as_deref(), headers)
}

fn denial_for(token: Option<&Secret>, headers: &HeaderMap) -> Option<&'static str> {
    let presented = bearer(headers);
    match (token, presented) {
        (Some(token), Some(p)) if token.matches(p) => None,
        (None, _) => {
            Some("this canaryd has no API token configured; start it with one to accept commands")
        }
        _ => Some("missing or wrong bearer token"),
    }
}

/// The credentials of `Authorization: Bearer <token>`, the scheme matched
/// case-insensitively (RFC 7235 §2.1: `bearer x` is the same).
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// A command or question is a few hundred bytes; more is refused (413).
pub(crate) const MAX_BODY: usize = 64 << 10;

/// Reads a body the caller was already authorized to send, up to [`MAX_BODY`].
pub(crate) async fn read_body(body: axum::body::Body) -> Result<axum::body::Bytes, Response> {
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over {} KiB, or broke off", MAX_BODY >> 10),
        )
    })
}

/// For a route a command serves beside the API's own (`canaryd proxy`'s
/// releases): the same bearer check, made before any of the body is read,
/// then the body up to the same cap. `Err` is the answer to send (401, 413).
pub async fn authorized_body(
    token: Option<&Secret>,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<axum::body::Bytes, Response> {
    if let Some(why) = denial_for(token, headers) {
        return Err(deny(why));
    }
    read_body(body).await
}

fn deny(message: &str) -> Response {
    let mut r = error(StatusCode::UNAUTHORIZED, message);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    r
}

async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(why) = denial(&state, &headers) {
        return deny(why);
    }
    let keys: Vec<_> = state
        .registry
        .keys()
        .into_iter()
        .map(|k| json!({"workload": k.workload.0, "revision": k.revision.0}))
        .collect();
    Json(json!({"rollouts": keys})).into_response()
}

async fn command(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    // Authenticate before reading anything the caller sent: an
    // unauthenticated upload is refused without being read.
    if let Some(why) = denial(&state, &headers) {
        return deny(why);
    }
    let body = match read_body(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let body: CommandBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid command: {e}")),
    };
    let action = match body.action.as_str() {
        "approve" => OperatorAction::Approve,
        "resume" => OperatorAction::Resume,
        "abort" => OperatorAction::Abort,
        "promote" => OperatorAction::PromoteNow,
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("unknown action `{other}`: use approve, resume, abort or promote"),
            )
        }
    };
    if body.by.trim().is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "`by` must name who is asking; it goes into the audit log",
        );
    }
    let key = RolloutKey::new(body.workload.clone(), body.revision.clone());
    let Some(sender) = state.registry.get(&key) else {
        let running: Vec<String> = state
            .registry
            .keys()
            .iter()
            .map(|k| k.to_string())
            .collect();
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "no running rollout {key} here (running: {})",
                if running.is_empty() {
                    "none".to_string()
                } else {
                    running.join(", ")
                }
            ),
        );
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    let request = Request {
        command: OperatorCommand {
            action,
            by: body.by,
            reason: body.reason,
        },
        reply: Some(reply),
    };
    if sender.send(request).await.is_err() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("rollout {key} has stopped"),
        );
    }
    match tokio::time::timeout(Duration::from_secs(30), answer).await {
        Ok(Ok(reply)) => {
            let status = if reply.accepted {
                StatusCode::OK
            } else {
                StatusCode::CONFLICT
            };
            (status, Json(reply)).into_response()
        }
        Ok(Err(_)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("rollout {key} stopped before answering; see its logs and `canaryd report`"),
        ),
        Err(_) => error(
            StatusCode::GATEWAY_TIMEOUT,
            format!("rollout {key} did not answer within 30s"),
        ),
    }
}
