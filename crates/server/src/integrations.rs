//! The HTTP face of the analysis service: Argo Rollouts' `web` metric
//! provider and Flagger's webhooks, behind a bearer token.
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET, POST | `/api/v1/argo/analysis` | [`crate::Answer`] (always 200 on a valid question) |
//! | POST | `/api/v1/flagger/confirm-rollout` | 200 when the baseline gate passed or an operator approved, else 403 |
//! | POST | `/api/v1/flagger/confirm-traffic-increase` | 200 on a healthy latest window, else 403 |
//! | POST | `/api/v1/flagger/confirm-promotion` | 200 on a healthy latest window, else 403 |
//! | POST | `/api/v1/flagger/rollback` | 200 only on a sustained breach, else 403 |
//! | POST | `/api/v1/flagger/event` | 200, once audited |

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use canaryd_ports::Notifier;
use canaryd_secrets::Secret;
use serde_json::json;
use std::sync::Arc;

use crate::analysis::{AnalysisError, AnalysisService, SourceFactory};
use crate::{argo, flagger};

/// What every integration handler needs.
pub(crate) struct Shared<F, N> {
    pub service: AnalysisService<F, N>,
    pub token: Option<Arc<Secret>>,
}

impl<F, N> Shared<F, N> {
    /// A payload from Argo or Flagger, fit for the audit log: the integration
    /// token is masked wherever it appears (a Flagger `eventMessage` may quote
    /// the webhook's metadata, token included), as are URL credentials and
    /// the values of credential-named keys. The audit chain is append-only:
    /// what is written there can never be removed.
    pub(crate) fn scrubbed(&self, mut v: serde_json::Value) -> serde_json::Value {
        let mut r = canaryd_secrets::Redactor::new();
        if let Some(t) = &self.token {
            r.add(t);
        }
        mask_secret_keys(&mut v);
        r.redact_json(&mut v);
        v
    }
}

/// Masks the values of object keys that name a credential (`token`, `password`...).
fn mask_secret_keys(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                if canaryd_secrets::redact::is_secret_name(k) && val.is_string() {
                    *val = serde_json::Value::String(canaryd_secrets::redact::MASK.into());
                } else {
                    mask_secret_keys(val);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(mask_secret_keys),
        _ => {}
    }
}

impl<F, N> Clone for Shared<F, N> {
    fn clone(&self) -> Self {
        Shared {
            service: self.service.clone(),
            token: self.token.clone(),
        }
    }
}

/// The integration routes. `token` is the bearer token Argo and Flagger must
/// present; with `None` every route answers 401 (closed, not open). It may
/// differ from the operator API's token: it sits in cluster manifests, and
/// it only lets its holder ask questions, not approve or abort.
pub fn integrations_router<F, N>(service: AnalysisService<F, N>, token: Option<Secret>) -> Router
where
    F: SourceFactory,
    N: Notifier + 'static,
{
    let shared = Shared {
        service,
        token: token.map(Arc::new),
    };
    Router::new()
        .route(
            "/api/v1/argo/analysis",
            get(argo::get_analysis::<F, N>).post(argo::post_analysis::<F, N>),
        )
        .route(
            "/api/v1/flagger/confirm-rollout",
            post(flagger::confirm_rollout::<F, N>),
        )
        .route(
            "/api/v1/flagger/confirm-traffic-increase",
            post(flagger::confirm_traffic_increase::<F, N>),
        )
        .route(
            "/api/v1/flagger/confirm-promotion",
            post(flagger::confirm_promotion::<F, N>),
        )
        .route("/api/v1/flagger/rollback", post(flagger::rollback::<F, N>))
        .route("/api/v1/flagger/event", post(flagger::event::<F, N>))
        .with_state(shared)
}

/// A JSON error: Argo records non-2xx answers as measurement errors and
/// Flagger treats them as "no", so the body is for the humans reading logs.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// Checks the bearer token (header), or for Flagger, which cannot send
/// headers, the `token` key of the webhook's metadata. Constant-time compare.
/// Returns the refusal to send, if the caller is refused.
pub(crate) fn authorize(
    token: &Option<Arc<Secret>>,
    headers: &HeaderMap,
    metadata_token: Option<&str>,
) -> Option<Response> {
    let bearer = crate::api::bearer(headers);
    let presented = bearer.or(metadata_token.map(str::trim));
    let why = match (token, presented) {
        (Some(t), Some(p)) if t.matches(p) => return None,
        (None, _) => {
            "this canaryd has no integration token configured; start it with one to answer Argo Rollouts and Flagger"
        }
        (Some(_), None) => "missing bearer token (Authorization header, or `token` in the webhook metadata)",
        (Some(_), Some(_)) => "wrong bearer token",
    };
    let mut r = error(StatusCode::UNAUTHORIZED, why);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    Some(r)
}

pub(crate) fn service_error(e: AnalysisError) -> Response {
    error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

/// The operator API and the integrations on one listener, with idle pairs
/// expiring, until the task is dropped. This is what `canaryd serve` runs;
/// the binary builds `service` with its metrics source factory and policy.
pub async fn serve_analysis<F, N>(
    listener: tokio::net::TcpListener,
    operator_token: Option<Secret>,
    integration_token: Option<Secret>,
    service: AnalysisService<F, N>,
) -> std::io::Result<()>
where
    F: SourceFactory,
    N: Notifier + 'static,
{
    let sweeper = service.spawn_sweeper();
    let app = crate::api::router(service.registry().clone(), operator_token)
        .merge(integrations_router(service, integration_token));
    let served = crate::serve(listener, app).await;
    sweeper.abort();
    served
}
