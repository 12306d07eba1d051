//! The naming conventions of the exporters canaryd knows, so most policies
//! need only `convention: istio` instead of five hand-written queries.
//!
//! | convention | requests | latency histogram | route / method | cohort label |
//! |---|---|---|---|---|
//! | `client-libraries` | `http_requests_total` | `http_request_duration_seconds_bucket` | `route` / `method` | `version` |
//! | `spring` (Micrometer) | `http_server_requests_seconds_count` | `http_server_requests_seconds_bucket` | `uri` / `method` | `version` |
//! | `istio` | `istio_requests_total` | `istio_request_duration_milliseconds_bucket` | — / — | `destination_version` |
//! | `nginx-ingress` | `nginx_ingress_controller_requests` | `nginx_ingress_controller_request_duration_seconds_bucket` | `path` / `method` | `service` |
//! | `envoy` | `envoy_cluster_upstream_rq_total` | `envoy_cluster_upstream_rq_time_bucket` | — / — | `envoy_cluster_name` |
//!
//! Errors are the 5xx answers: the status label matched with `=~"5.."`
//! (`status`, `response_code`, ...), or for Envoy its own
//! `envoy_cluster_upstream_rq_xx{envoy_response_code_class="5"}`. Istio and
//! Envoy export no route or method by default: their windows have one route,
//! `* *` (a whole-service comparison), unless `route_label` names one.
//!
//! Latency is always pulled as histogram buckets (`sum by (..., le)` of
//! `increase`), not as a pre-computed quantile: the statistical tests compare
//! whole distributions, and quantiles of quantiles are meaningless. Istio and
//! Envoy buckets are already in milliseconds; the others are converted from
//! seconds.

use serde::Deserialize;

/// Which exporter's names the default queries use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Convention {
    /// The Prometheus client libraries' conventional HTTP metrics (and
    /// canaryd's sample app).
    #[default]
    ClientLibraries,
    /// Spring Boot's Micrometer metrics (`http_server_requests_seconds_*`).
    Spring,
    /// Istio's standard metrics (`istio_requests_total`), server side.
    Istio,
    /// The NGINX ingress controller's metrics.
    NginxIngress,
    /// Envoy's upstream cluster statistics.
    Envoy,
}

/// What a convention calls things.
#[derive(Debug, Clone, PartialEq)]
pub struct Names {
    /// The label telling the canary's series from stable's.
    pub cohort_label: &'static str,
    /// The label holding the route, if the exporter has one.
    pub route_label: Option<&'static str>,
    /// The label holding the HTTP method, if the exporter has one.
    pub method_label: Option<&'static str>,
    /// The label holding the HTTP status (matched with `=~"5.."` for errors).
    pub status_label: Option<&'static str>,
    /// The label naming the workload, used to batch several rollouts into
    /// one query.
    pub workload_label: Option<&'static str>,
    /// Matchers every query of this convention needs (Istio reports each
    /// request twice, once per side: keep the server's view).
    pub fixed_matchers: &'static [&'static str],
    /// The request counter.
    pub requests_metric: &'static str,
    /// The error counter and its 5xx matcher when it is not the requests
    /// counter filtered by status.
    pub errors_metric: Option<(&'static str, &'static str)>,
    /// The latency histogram's bucket series.
    pub buckets_metric: &'static str,
    /// Multiplier from the histogram's unit to milliseconds.
    pub bucket_unit_ms: f64,
}

impl Convention {
    /// The metric and label names this convention's default queries use.
    pub fn names(self) -> Names {
        match self {
            Convention::ClientLibraries => Names {
                cohort_label: "version",
                route_label: Some("route"),
                method_label: Some("method"),
                status_label: Some("status"),
                workload_label: None,
                fixed_matchers: &[],
                requests_metric: "http_requests_total",
                errors_metric: None,
                buckets_metric: "http_request_duration_seconds_bucket",
                bucket_unit_ms: 1000.0,
            },
            Convention::Spring => Names {
                cohort_label: "version",
                route_label: Some("uri"),
                method_label: Some("method"),
                status_label: Some("status"),
                workload_label: None,
                fixed_matchers: &[],
                requests_metric: "http_server_requests_seconds_count",
                errors_metric: None,
                buckets_metric: "http_server_requests_seconds_bucket",
                bucket_unit_ms: 1000.0,
            },
            Convention::Istio => Names {
                cohort_label: "destination_version",
                route_label: None,
                method_label: None,
                status_label: Some("response_code"),
                workload_label: Some("destination_workload"),
                fixed_matchers: &["reporter=\"destination\""],
                requests_metric: "istio_requests_total",
                errors_metric: None,
                buckets_metric: "istio_request_duration_milliseconds_bucket",
                bucket_unit_ms: 1.0,
            },
            Convention::NginxIngress => Names {
                cohort_label: "service",
                route_label: Some("path"),
                method_label: Some("method"),
                status_label: Some("status"),
                workload_label: Some("ingress"),
                fixed_matchers: &[],
                requests_metric: "nginx_ingress_controller_requests",
                errors_metric: None,
                buckets_metric: "nginx_ingress_controller_request_duration_seconds_bucket",
                bucket_unit_ms: 1000.0,
            },
            Convention::Envoy => Names {
                cohort_label: "envoy_cluster_name",
                route_label: None,
                method_label: None,
                status_label: None,
                workload_label: None,
                fixed_matchers: &[],
                requests_metric: "envoy_cluster_upstream_rq_total",
                errors_metric: Some((
                    "envoy_cluster_upstream_rq_xx",
                    "envoy_response_code_class=\"5\"",
                )),
                buckets_metric: "envoy_cluster_upstream_rq_time_bucket",
                bucket_unit_ms: 1.0,
            },
        }
    }
}

impl Names {
    /// The default requests query.
    pub fn requests_query(&self) -> String {
        format!(
            "sum by ({{by}}) (increase({}{{{{selector}}}}[{{window}}]))",
            self.requests_metric
        )
    }

    /// The default errors query, given the status label in force (the
    /// config may rename it). `None` when nothing tells an error apart.
    pub fn errors_query(&self, status_label: Option<&str>) -> Option<(String, String)> {
        let (metric, matcher) = match (self.errors_metric, status_label) {
            (Some((m, matcher)), _) => (m, matcher.to_string()),
            (None, Some(status)) => (self.requests_metric, format!("{status}=~\"5..\"")),
            (None, None) => return None,
        };
        Some((
            metric.to_string(),
            format!("sum by ({{by}}) (increase({metric}{{{{selector}},{matcher}}}[{{window}}]))"),
        ))
    }

    /// The default latency-buckets query.
    pub fn buckets_query(&self) -> String {
        format!(
            "sum by ({{by}}, le) (increase({}{{{{selector}}}}[{{window}}]))",
            self.buckets_metric
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::template::{Template, Var, QUERY_VARS};
    use std::borrow::Cow;

    fn render(q: &str) -> String {
        Template::parse("q", q, QUERY_VARS)
            .unwrap()
            .render(|v| match v {
                Var::Selector => Cow::Borrowed("version=~\"v1|v2\""),
                Var::By => Cow::Borrowed("route, method, version"),
                Var::Window => Cow::Borrowed("60s"),
                _ => Cow::Borrowed("?"),
            })
    }

    #[test]
    fn every_convention_renders_valid_looking_queries() {
        for c in [
            Convention::ClientLibraries,
            Convention::Spring,
            Convention::Istio,
            Convention::NginxIngress,
            Convention::Envoy,
        ] {
            let n = c.names();
            let r = render(&n.requests_query());
            assert!(
                r.contains(&format!("{}{{version=~", n.requests_metric)),
                "{r}"
            );
            assert!(r.ends_with("[60s]))"), "{r}");
            let (_, e) = n.errors_query(n.status_label).unwrap();
            assert!(render(&e).contains("5"), "{e}");
            assert!(render(&n.buckets_query()).contains(", le)"));
        }
    }

    #[test]
    fn client_library_errors_filter_on_status() {
        let n = Convention::ClientLibraries.names();
        let (m, q) = n.errors_query(Some("code")).unwrap();
        assert_eq!(m, "http_requests_total");
        assert_eq!(
            render(&q),
            "sum by (route, method, version) (increase(http_requests_total{version=~\"v1|v2\",code=~\"5..\"}[60s]))"
        );
        assert!(n.errors_query(None).is_none());
        let envoy = Convention::Envoy.names();
        assert!(envoy.errors_query(None).unwrap().1.contains("rq_xx"));
    }

    #[test]
    fn convention_names_parse_in_kebab_case() {
        let c: Convention = serde_json::from_str("\"nginx-ingress\"").unwrap();
        assert_eq!(c, Convention::NginxIngress);
        assert!(serde_json::from_str::<Convention>("\"linkerd\"").is_err());
    }
}
