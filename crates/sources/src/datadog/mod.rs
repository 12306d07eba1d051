//! Datadog: the metrics query API client ([`client`]), its parser
//! ([`response`]), and the [`MetricsSource`](canaryd_ports::MetricsSource)
//! built on them ([`source`]), configured by [`config::DatadogConfig`]:
//!
//! ```yaml
//! datadog:
//!   site: https://api.datadoghq.eu        # or just `datadoghq.eu`
//!   api_key: {env: DD_API_KEY}
//!   app_key: {file: /run/secrets/dd-app-key}
//!   timeout: 10s                          # per attempt
//!   retries: 2                            # transient failures only
//!   cohort_tag: version
//!   canary: "{revision}"                  # version:<the rollout's revision>
//!   baseline: "!{revision}"               # every other version (or e.g. `stable`)
//!   scope: {service: checkout, env: prod}
//!   route_tag: resource_name
//!   baseline_lookback: 7d
//!   latency_unit: seconds                 # APM durations are in seconds
//!   queries:
//!     requests: "sum:trace.http.request.hits{{selector}} by {{route}}.as_count()"
//!     errors: "sum:trace.http.request.errors{{selector}} by {{route}}.as_count()"
//!     latency_p95: "p95:trace.http.request.duration{{selector}} by {{route}}"
//! ```
//!
//! `{selector}` becomes `env:prod,service:checkout,version:v2` for the canary
//! (`…,!version:v2` for the baseline above) and `{route}` the route tag, so
//! the first query reads
//! `sum:trace.http.request.hits{env:prod,service:checkout,version:v2} by {resource_name}.as_count()`.
//! Semantics match the Prometheus source: no series is a named gap, never a
//! zero; an unreachable Datadog is a `SourceError` (the window is unreliable
//! and the rollout pauses).

pub mod client;
pub mod config;
pub mod response;
pub mod source;

pub use client::{DatadogClient, DatadogClientConfig};
pub use config::{DatadogConfig, DatadogQueries, LatencyUnit};
pub use response::parse_datadog;
pub use source::DatadogSource;
