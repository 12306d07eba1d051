//! Generic traffic routers: how canaryd moves traffic when the policy's
//! `router:` section says so, so any load balancer, feature-flag service or
//! `kubectl` call can be driven without canaryd knowing it.
//!
//! Exactly one kind per policy:
//!
//! ```yaml
//! # A `canaryd proxy` elsewhere, through its admin API (PUT/GET /admin/weight).
//! router:
//!   embedded: {admin_url: "http://127.0.0.1:9091", token: {env: CANARYD_ROUTER_TOKEN}}
//! ---
//! # Commands: argv arrays, never a shell string. Placeholders {weight},
//! # {stable_weight}, {workload}, {revision} are filled in per argument and
//! # also passed as CANARYD_WEIGHT, CANARYD_STABLE_WEIGHT, CANARYD_WORKLOAD,
//! # CANARYD_REVISION (and CANARYD_ACTION). rollback/promote default to
//! # set_weight with weight 0/100.
//! router:
//!   exec:
//!     set_weight: [kubectl, patch, httproute, shop, --type=json,
//!                  "-p=[{\"op\":\"replace\",\"path\":\"/spec/rules/0/backendRefs/1/weight\",\"value\":{weight}}]"]
//!     rollback: [kubectl, rollout, undo, deployment/shop-canary]
//!     timeout: 30s
//!     env: {KUBECONFIG: /etc/canaryd/kubeconfig}
//! ---
//! # HTTP requests: placeholders are percent-encoded in URLs and JSON-escaped
//! # in bodies. 2xx = done; 408/429/5xx/network errors retried `retries` times;
//! # other answers fail at once. `secret` signs each body (X-Canaryd-Signature:
//! # sha256=<hmac>), `token` is sent as a bearer token.
//! router:
//!   webhook:
//!     set_weight: {url: "https://flags.example.com/api/flags/{workload}", method: PUT,
//!                  body: "{\"canary_percent\": {weight}, \"revision\": \"{revision}\"}"}
//!     promote: {url: "https://flags.example.com/api/flags/{workload}/promote"}
//!     timeout: 10s
//!     retries: 2
//!     secret: {env: ROUTER_HOOK_SECRET}
//! ---
//! # Nothing: another pipeline step, a mesh operator or a human moves traffic;
//! # canaryd judges and reports, and every action succeeds without acting.
//! router:
//!   none: {}
//! ```
//!
//! - [`RouterConfig`]: the section, checked at load (unknown fields and
//!   placeholders, empty commands, bad URLs) without reading any secret;
//! - [`build`]: loads secrets and gives the driver's `TrafficRouter`, boxed;
//! - [`ShadowRouter`]: `--dry-run`; records what it would have done, cannot act;
//! - [`ExecRouter`], [`WebhookRouter`], [`EmbeddedRouter`]: the kinds, with
//!   their own error types for callers that want more than the message.
//!
//! Every action must be idempotent: after a crash the driver may repeat it.
//! Setting an absolute weight is; configure commands and requests that way.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

mod action;
mod build;
pub mod config;
mod embedded;
mod exec;
mod shadow;
mod template;
mod webhook;

pub use action::Action;
pub use build::{build, BuiltRouter, ExternalRouter};
pub use config::{ConfigError, RouterConfig};
pub use embedded::{EmbeddedError, EmbeddedRouter};
pub use exec::{ExecError, ExecRouter};
pub use shadow::{Planned, ShadowRouter};
pub use webhook::{WebhookError, WebhookRouter};
