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

mod api;
mod registry;

pub use api::{router, CommandBody};
pub use registry::Registry;

/// The API as a service, for callers that should not depend on axum themselves.
pub type AxumRouter = axum::Router;

/// Serves `app` on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, app: AxumRouter) -> std::io::Result<()> {
    axum::serve(listener, app).await
}
