//! canaryd's HTTP API.
//!
//! Operators steer running rollouts through it (`canaryd approve|resume|abort|promote`).
//! Every mutating call needs `Authorization: Bearer <token>`, compared in
//! constant time with the configured secret; without it the answer is 401 and
//! nothing changes. A command reaches the rollout's live loop, which applies it
//! through the core (so it is audited with who and why, refusals included)
//! and answers: 200 when applied, 409 with the reason when the rollout is not
//! in a state that accepts it.
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/healthz` | `ok` (no token) |
//! | GET | `/api/v1/rollouts` | the running rollouts |
//! | POST | `/api/v1/commands` | `{workload, revision, action, by, reason?}` → [`canaryd_driver::Reply`] |
//!
//! A command may serve more routes beside these with the same guard
//! ([`authorized_body`]): `canaryd proxy` adds `POST /api/v1/releases`.
//!
//! It also lets Argo Rollouts and Flagger ask canaryd for a verdict on a
//! canary they steer ([`analysis`], [`integrations_router`]): the Argo `web`
//! metric endpoint and Flagger's webhooks, answered from cached windows.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

mod analysis;
mod api;
mod argo;
mod flagger;
mod integrations;
mod registry;

pub use analysis::answer::Answer;
pub use analysis::{AnalysisConfig, AnalysisError, AnalysisService, SourceFactory};
pub use api::{authorized_body, router, CommandBody};
pub use argo::Question as ArgoQuestion;
pub use flagger::Payload as FlaggerPayload;
pub use integrations::{integrations_router, serve_analysis};
pub use registry::Registry;

/// The API as a service, for callers that should not depend on axum themselves.
pub type AxumRouter = axum::Router;

pub use canaryd_http::ConnectionLimits;

/// Serves `app` on `listener` until the task is dropped, with the API's
/// [`ConnectionLimits`]: 10 s to send headers, 60 s idle, 256 connections
/// (operators and controllers, not the public).
pub async fn serve(listener: tokio::net::TcpListener, app: AxumRouter) -> std::io::Result<()> {
    serve_with(
        listener,
        app,
        ConnectionLimits {
            max_connections: 256,
            ..ConnectionLimits::default()
        },
    )
    .await
}

/// [`serve`] with other limits.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: AxumRouter,
    limits: ConnectionLimits,
) -> std::io::Result<()> {
    // Never sent: the API runs until its task is dropped.
    let (_keep, stop) = tokio::sync::watch::channel(false);
    canaryd_http::serve_with(
        listener,
        move |_peer| hyper_util::service::TowerToHyperService::new(app.clone()),
        stop,
        std::time::Duration::from_secs(1),
        limits,
        "operator API",
    )
    .await;
    Ok(())
}
