//! The `datadog:` section of a source configuration, and how its query
//! templates are filled in for one cohort.

use crate::datadog::client::DatadogClientConfig;
use canaryd_core::vocab::Cohort;
use canaryd_secrets::SecretSource;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::time::Duration;

/// See the [module documentation](crate::datadog) for an example.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatadogConfig {
    /// API host (`https://api.datadoghq.eu`) or site name (`datadoghq.eu`).
    pub site: String,
    /// Where to read the Datadog API key from (a secret reference, not the key).
    pub api_key: SecretSource,
    /// Where to read the Datadog application key from, which the query API also needs.
    pub app_key: SecretSource,
    /// Per attempt (default 10s).
    #[serde(default = "default_timeout", deserialize_with = "human_duration")]
    pub timeout: Duration,
    /// Extra attempts on transient failures (default 2).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// The tag that tells the canary from the stable revision (`version`).
    pub cohort_tag: String,
    /// The canary's value of `cohort_tag`; `{revision}` is the rollout's
    /// revision. A leading `!` negates (`!{revision}`: everything else).
    #[serde(default = "default_canary")]
    pub canary: String,
    /// The stable cohort's value of `cohort_tag` (`stable`, `!{revision}`).
    pub baseline: String,
    /// Tags every query is restricted to (`{service: checkout, env: prod}`).
    #[serde(default)]
    pub scope: BTreeMap<String, String>,
    /// The tag whose values are routes (`resource_name`); series without it
    /// count under the route `*`.
    #[serde(default = "default_route_tag")]
    pub route_tag: String,
    /// How far back the stable history is read for the baseline gate (default 7d).
    #[serde(default = "default_lookback", deserialize_with = "human_duration")]
    pub baseline_lookback: Duration,
    /// Unit of the latency queries' values (default `seconds`, as APM reports them).
    #[serde(default)]
    pub latency_unit: LatencyUnit,
    /// The metric queries, as templates filled in per cohort.
    pub queries: DatadogQueries,
}

/// One query template per metric. Placeholders: `{selector}` (scope and
/// cohort tags, comma-separated: what goes between a metric's braces),
/// `{scope}`, `{cohort}`, `{route}` (the route tag, for `by {{route}}`),
/// `{revision}`, and `{window}` (the window's length in seconds, for
/// `.rollup(sum, {window})`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatadogQueries {
    /// Request counts: summed over the window, so use `.as_count()`.
    pub requests: String,
    /// Error counts, likewise. A route with requests and no error series had
    /// no errors (Datadog stores no zeros for sparse counts).
    pub errors: String,
    /// Median latency query, per route; optional, like the other latency queries.
    #[serde(default)]
    pub latency_p50: Option<String>,
    /// 95th-percentile latency query, per route; optional.
    #[serde(default)]
    pub latency_p95: Option<String>,
    /// 99th-percentile latency query, per route; optional.
    #[serde(default)]
    pub latency_p99: Option<String>,
}

/// Unit the latency queries answer in, so every source reports milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyUnit {
    /// Values are seconds (APM's default).
    #[default]
    Seconds,
    /// Values are already milliseconds.
    Milliseconds,
}

impl LatencyUnit {
    /// Converts one latency value to milliseconds.
    pub fn to_ms(self, v: f64) -> f64 {
        match self {
            LatencyUnit::Seconds => v * 1000.0,
            LatencyUnit::Milliseconds => v,
        }
    }
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_retries() -> u32 {
    2
}
fn default_canary() -> String {
    "{revision}".into()
}
fn default_route_tag() -> String {
    "resource_name".into()
}
fn default_lookback() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}

fn human_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|e| {
        serde::de::Error::custom(format!("`{s}` is not a duration like `10s` or `7d`: {e}"))
    })
}

impl DatadogConfig {
    /// The HTTP client settings this section implies (site, keys, timeout, retries).
    pub fn client_config(&self) -> DatadogClientConfig {
        DatadogClientConfig {
            site: self.site.clone(),
            api_key: self.api_key.clone(),
            app_key: self.app_key.clone(),
            timeout: self.timeout,
            retries: self.retries,
        }
    }

    /// Refuses templates that cannot tell the cohorts apart: the canary
    /// would be compared with itself and always look healthy.
    pub fn validate(&self) -> Result<(), String> {
        let q = &self.queries;
        let named = [
            ("requests", Some(&q.requests)),
            ("errors", Some(&q.errors)),
            ("latency_p50", q.latency_p50.as_ref()),
            ("latency_p95", q.latency_p95.as_ref()),
            ("latency_p99", q.latency_p99.as_ref()),
        ];
        for (name, tpl) in named {
            if let Some(t) = tpl {
                if !t.contains("{selector}") && !t.contains("{cohort}") {
                    return Err(format!(
                        "datadog query `{name}` has neither `{{selector}}` nor `{{cohort}}`, \
                         so canary and baseline would read the same series: write e.g. \
                         `sum:trace.http.request.hits{{{{selector}}}} by {{{{route}}}}.as_count()`"
                    ));
                }
            }
        }
        if self.cohort_tag.trim().is_empty() {
            return Err(
                "datadog `cohort_tag` is empty: name the tag that carries the \
                        revision (e.g. `version`)"
                    .into(),
            );
        }
        if self.canary == self.baseline {
            return Err(format!(
                "datadog `canary` and `baseline` are both `{}`: they must select different series",
                self.canary
            ));
        }
        Ok(())
    }

    /// The tag filter of one cohort, e.g. `version:v2` or `!version:v2`.
    pub fn cohort_filter(&self, cohort: Cohort, revision: &str) -> String {
        let value = match cohort {
            Cohort::Canary => &self.canary,
            Cohort::Baseline => &self.baseline,
        }
        .replace("{revision}", revision);
        match value.strip_prefix('!') {
            Some(v) => format!("!{}:{v}", self.cohort_tag),
            None => format!("{}:{value}", self.cohort_tag),
        }
    }

    /// The scope tags, comma-separated (`env:prod,service:checkout`).
    pub fn scope_filter(&self) -> String {
        self.scope
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A template filled in for one cohort.
    pub fn render(
        &self,
        template: &str,
        cohort: Cohort,
        revision: &str,
        window: Duration,
    ) -> String {
        let cohort_filter = self.cohort_filter(cohort, revision);
        let scope = self.scope_filter();
        let selector = if scope.is_empty() {
            cohort_filter.clone()
        } else {
            format!("{scope},{cohort_filter}")
        };
        template
            .replace("{selector}", &selector)
            .replace("{scope}", &scope)
            .replace("{cohort}", &cohort_filter)
            .replace("{route}", &self.route_tag)
            .replace("{revision}", revision)
            .replace("{window}", &window.as_secs().max(1).to_string())
    }
}
