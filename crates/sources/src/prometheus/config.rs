//! The `source: {prometheus: ...}` section of a policy file, and its checked,
//! ready-to-render form ([`Plan`]).
//!
//! ```yaml
//! source:
//!   prometheus:
//!     url: http://prometheus.monitoring:9090
//!     auth: {bearer: {token: {env: PROM_TOKEN}}}
//!     timeout: 5s                  # per query round trip (default 5s)
//!     retries: 2                   # transient failures only (default 2)
//!     convention: client-libraries # | spring | istio | nginx-ingress | envoy
//!     cohort_label: version        # default: the convention's
//!     canary: "{revision}"         # the canary's cohort value (default)
//!     baseline: v1                 # the stable cohort value; see below
//!     workload_label: app          # optional; lets one query serve many rollouts
//!     selector: 'namespace="{namespace}"'   # extra matchers
//!     route_label: handler         # overrides; default: the convention's
//!     method_label: method
//!     status_label: code
//!     queries:                     # overrides of the convention's queries
//!       errors: 'sum by ({by}) (increase(http_requests_total{{selector},code=~"5..|429"}[{window}]))'
//!       cpu: 'avg by ({cohort}) (rate(process_cpu_seconds_total{{selector}}[{window}]))'
//!       custom:
//!         queue_depth: 'max by ({by}) (max_over_time(queue_depth{{selector}}[{window}]))'
//!     up:                          # the canary's scrape targets
//!       targets: 'job="pay",version="{canary}"'
//!       scrape_interval: 15s
//!       max_staleness: 30s         # default 2x scrape_interval
//!     probe:                       # direct probes of the canary
//!       urls: ['http://{workload}-canary.{namespace}:8080/healthz']
//! ```
//!
//! Choices, and why:
//! - `baseline` may be left out: the stable cohort is then every series whose
//!   cohort label is set and differs from the canary's (`version!=""`),
//!   summed. That is right for the common "one stable, one canary" setup and
//!   needs no update at each release; name it when older revisions linger.
//! - `workload_label` is optional because many setups already pin the
//!   workload in `selector`; naming it lets a [`super::source::PrometheusHub`]
//!   fold many rollouts into one query per metric (`=~"a|b|c"`, grouped by it).
//! - Every template is parsed at load, so an unknown placeholder fails the
//!   `policy check`, not the first window.

use super::conventions::{Convention, Names};
use super::template::{
    Template, TemplateError, Var, COHORT_VARS, QUERY_VARS, SELECTOR_VARS, TARGET_VARS,
};
use crate::probe::{de_duration, ProbeConfig};
use canaryd_secrets::SafeUrl;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The Prometheus source as a policy file writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Masked wherever shown; credentials in it are refused by `validate`.
    pub url: SafeUrl,
    /// Credentials, if the Prometheus (or the proxy in front) needs them.
    #[serde(default)]
    pub auth: Option<super::client::Auth>,
    /// Per query round trip (default 5s).
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// Extra attempts on transient failures (default 2).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Which exporter's metric names the default queries use.
    #[serde(default)]
    pub convention: Convention,
    /// The label telling canary from stable; default: the convention's.
    #[serde(default)]
    pub cohort_label: Option<String>,
    /// The canary's value of the cohort label; `{revision}` is the rollout's revision (default).
    #[serde(default = "default_canary")]
    pub canary: String,
    /// The stable cohort's value; when absent, every other non-empty value (see the module docs).
    #[serde(default)]
    pub baseline: Option<String>,
    /// The label naming the workload, so that one query can serve several rollouts.
    #[serde(default)]
    pub workload_label: Option<String>,
    /// Extra matchers every query gets (e.g. `namespace="{namespace}"`).
    #[serde(default)]
    pub selector: Option<String>,
    /// Overrides the convention's route label.
    #[serde(default)]
    pub route_label: Option<String>,
    /// Overrides the convention's method label.
    #[serde(default)]
    pub method_label: Option<String>,
    /// Overrides the convention's status label (errors are its 5xx values).
    #[serde(default)]
    pub status_label: Option<String>,
    /// Per-metric queries that replace the convention's.
    #[serde(default)]
    pub queries: QueryOverrides,
    /// Check of the canary's scrape targets each window, if set.
    #[serde(default)]
    pub up: Option<UpConfig>,
    /// Direct probes of the canary each window, if set.
    #[serde(default)]
    pub probe: Option<ProbeConfig>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_retries() -> u32 {
    2
}
fn default_canary() -> String {
    "{revision}".into()
}

/// Per-metric query overrides; unset ones use the convention's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryOverrides {
    /// Request counts by route (and cohort).
    pub requests: Option<String>,
    /// 5xx counts by route.
    pub errors: Option<String>,
    /// Latency histogram buckets by route and `le`.
    pub latency_buckets: Option<String>,
    /// CPU use per cohort.
    pub cpu: Option<String>,
    /// Memory use per cohort.
    pub memory: Option<String>,
    /// Requests in flight per cohort.
    pub inflight: Option<String>,
    /// Further metrics by the name policies refer to them with.
    #[serde(default)]
    pub custom: BTreeMap<String, String>,
}

/// The canary's scrape targets, checked every window.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpConfig {
    /// Matchers on `up` picking the canary's targets.
    pub targets: String,
    /// How often Prometheus scrapes the targets (default 15s).
    #[serde(default = "default_scrape", deserialize_with = "de_duration")]
    pub scrape_interval: Duration,
    /// How old the last scrape may be before the window is unreliable (default twice `scrape_interval`).
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub max_staleness: Option<Duration>,
}

fn default_scrape() -> Duration {
    Duration::from_secs(15)
}

fn de_opt_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de_duration(d).map(Some)
}

/// Which number of an [`Observation`](canaryd_core::observation::Observation) a query fills.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum MetricKind {
    /// Request counts.
    Requests,
    /// 5xx counts.
    Errors,
    /// Latency histogram buckets.
    LatencyBuckets,
    /// CPU use.
    Cpu,
    /// Memory use.
    Memory,
    /// Requests in flight.
    Inflight,
    /// A policy's own metric, by its name.
    Custom(String),
}

/// One query of a window.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuery {
    /// Which number the answer fills.
    pub kind: MetricKind,
    /// What a gap message calls it: the metric name for defaults, the config
    /// field for overrides.
    pub name: String,
    /// The query with its placeholders, checked at load.
    pub template: Template,
}

/// The canary's scrape-target check, ready to render.
#[derive(Debug, Clone, PartialEq)]
pub struct UpPlan {
    /// Matchers on `up` picking the canary's targets.
    pub targets: Template,
    /// How old the last scrape may be before the window is unreliable.
    pub max_staleness: Duration,
}

/// A config, checked and resolved against its convention.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The label telling canary from stable.
    pub cohort_label: String,
    /// The route label, if any: without it a window has one route, `* *`.
    pub route_label: Option<String>,
    /// The method label, if any.
    pub method_label: Option<String>,
    /// The workload label, if any; enables one query for several rollouts.
    pub workload_label: Option<String>,
    /// The canary's cohort value.
    pub canary: Template,
    /// The stable cohort's value; `None` means every other non-empty value.
    pub baseline: Option<Template>,
    /// Extra matchers from the config.
    pub selector: Option<Template>,
    /// Matchers the convention always adds (Istio's `reporter="destination"`).
    pub fixed_matchers: Vec<String>,
    /// Every query of a window, requests first.
    pub queries: Vec<MetricQuery>,
    /// Multiplier from the histogram's unit to milliseconds.
    pub bucket_unit_ms: f64,
    /// The scrape-target check, if configured.
    pub up: Option<UpPlan>,
    /// URLs may use `{workload}`, `{namespace}`, `{canary}` (inserted as
    /// is), checked here and rendered per rollout.
    pub probe: Option<ProbeConfig>,
    /// The probe URLs, parsed so that an unknown placeholder fails at load.
    pub probe_urls: Vec<Template>,
    /// Per query round trip.
    pub timeout: Duration,
}

/// A config that cannot be used, with the field to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A query or selector template that does not parse.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A label name field whose value Prometheus would reject.
    #[error("{field}: `{value}` is not a Prometheus label name (letters, digits, `_`, not starting with a digit)")]
    BadLabel {
        /// The config field, e.g. `route_label`.
        field: &'static str,
        /// The value given.
        value: String,
    },
    /// A query override that does not restrict itself to the rollout's series.
    #[error("queries.{0} never uses {{selector}}: it would read every workload's series, not this rollout's")]
    NoSelector(String),
    /// Neither a status label nor an errors query: errors cannot be counted.
    #[error("no query tells errors apart: set `status_label` or `queries.errors`")]
    NoErrorsQuery,
    /// A duration set to zero, naming the field.
    #[error("`{0}` must be a duration greater than zero")]
    ZeroDuration(&'static str),
}

fn label(field: &'static str, value: String) -> Result<String, ConfigError> {
    let ok = value
        .chars()
        .enumerate()
        .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
    if ok && !value.is_empty() {
        Ok(value)
    } else {
        Err(ConfigError::BadLabel { field, value })
    }
}

impl PrometheusConfig {
    /// How the HTTP client reaches this Prometheus.
    pub fn client_config(&self) -> super::client::ClientConfig {
        super::client::ClientConfig {
            url: self.url.clone(),
            auth: self.auth.clone(),
            timeout: self.timeout,
            retries: self.retries,
        }
    }

    /// Checks every template and resolves the convention's defaults.
    pub fn plan(&self) -> Result<Plan, ConfigError> {
        let n: Names = self.convention.names();
        if self.timeout.is_zero() {
            return Err(ConfigError::ZeroDuration("timeout"));
        }
        let opt_label = |field, v: Option<&String>, d: Option<&'static str>| {
            v.cloned()
                .or(d.map(str::to_string))
                .map(|s| label(field, s))
                .transpose()
        };
        let cohort_label = label(
            "cohort_label",
            self.cohort_label.clone().unwrap_or(n.cohort_label.into()),
        )?;
        let route_label = opt_label("route_label", self.route_label.as_ref(), n.route_label)?;
        let method_label = opt_label("method_label", self.method_label.as_ref(), n.method_label)?;
        let workload_label = opt_label(
            "workload_label",
            self.workload_label.as_ref(),
            n.workload_label,
        )?;
        let status_label = opt_label("status_label", self.status_label.as_ref(), n.status_label)?;

        let q = &self.queries;
        let mut queries = Vec::new();
        let mut add = |kind, field: String, name: String, text: &str| -> Result<(), ConfigError> {
            let template = Template::parse(&field, text, QUERY_VARS)?;
            if !template.uses(Var::Selector) {
                return Err(ConfigError::NoSelector(
                    field.trim_start_matches("queries.").into(),
                ));
            }
            queries.push(MetricQuery {
                kind,
                name,
                template,
            });
            Ok(())
        };
        let field = |f: &str| format!("queries.{f}");
        match &q.requests {
            Some(t) => add(
                MetricKind::Requests,
                field("requests"),
                field("requests"),
                t,
            )?,
            None => add(
                MetricKind::Requests,
                field("requests"),
                n.requests_metric.into(),
                &n.requests_query(),
            )?,
        }
        match (&q.errors, n.errors_query(status_label.as_deref())) {
            (Some(t), _) => add(MetricKind::Errors, field("errors"), field("errors"), t)?,
            (None, Some((metric, t))) => add(MetricKind::Errors, field("errors"), metric, &t)?,
            (None, None) => return Err(ConfigError::NoErrorsQuery),
        }
        match &q.latency_buckets {
            Some(t) => add(
                MetricKind::LatencyBuckets,
                field("latency_buckets"),
                field("latency_buckets"),
                t,
            )?,
            None => add(
                MetricKind::LatencyBuckets,
                field("latency_buckets"),
                n.buckets_metric.into(),
                &n.buckets_query(),
            )?,
        }
        for (kind, f, t) in [
            (MetricKind::Cpu, "cpu", &q.cpu),
            (MetricKind::Memory, "memory", &q.memory),
            (MetricKind::Inflight, "inflight", &q.inflight),
        ] {
            if let Some(t) = t {
                add(kind, field(f), field(f), t)?;
            }
        }
        for (name, t) in &q.custom {
            let f = field(&format!("custom.{name}"));
            add(MetricKind::Custom(name.clone()), f.clone(), f, t)?;
        }

        let up = match &self.up {
            None => None,
            Some(u) => {
                if u.scrape_interval.is_zero() {
                    return Err(ConfigError::ZeroDuration("up.scrape_interval"));
                }
                Some(UpPlan {
                    targets: Template::parse("up.targets", &u.targets, TARGET_VARS)?,
                    max_staleness: u.max_staleness.unwrap_or(u.scrape_interval * 2),
                })
            }
        };
        Ok(Plan {
            cohort_label,
            route_label,
            method_label,
            workload_label,
            canary: Template::parse("canary", &self.canary, COHORT_VARS)?,
            baseline: self
                .baseline
                .as_deref()
                .map(|b| Template::parse("baseline", b, COHORT_VARS))
                .transpose()?,
            selector: self
                .selector
                .as_deref()
                .map(|s| Template::parse("selector", s, SELECTOR_VARS))
                .transpose()?,
            fixed_matchers: n.fixed_matchers.iter().map(|m| m.to_string()).collect(),
            queries,
            bucket_unit_ms: n.bucket_unit_ms,
            up,
            probe: self.probe.clone(),
            probe_urls: self
                .probe
                .iter()
                .flat_map(|p| p.urls.iter())
                .map(|u| Template::parse("probe.urls", u, TARGET_VARS))
                .collect::<Result<_, _>>()?,
            timeout: self.timeout,
        })
    }
}
