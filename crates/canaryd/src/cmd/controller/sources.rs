//! Where a Canary's numbers come from: its `spec.metrics`, over the policy's
//! own `source:` section when it has one (the same section `canaryd gate`
//! reads, so one policy file works in a pipeline and in the cluster).
//!
//! `spec.metrics.prometheus` is enough on its own: the address, a bearer
//! token from a Secret, and the canary / baseline selectors (matchers
//! `label="value"`; the one label they differ in is the cohort label, see
//! [`super::cohort`]; `$revision` is the canary's revision, `$stable` the
//! stable one's). Datadog needs query templates, which only
//! the policy's `source: {datadog: ...}` can give; `spec.metrics.datadog`
//! then supplies the site and the keys.

use canaryd_driver::driver::Scrubber;
use canaryd_kube::controller::{Credentials, EdgeFactory, NotifyTarget, SourceRequest};
use canaryd_kube::crd::{DatadogSpec, MetricsSpec, PrometheusSpec};
use canaryd_ports::{MetricsSource, Notifier};
use canaryd_secrets::redact::Redactor;
use canaryd_secrets::{SafeUrl, Secret, SecretSource};
use canaryd_sources::config::{Connected, SourceConfig};
use canaryd_sources::prometheus::client::Auth;
use canaryd_sources::prometheus::config::PrometheusConfig;
use serde::Deserialize;

use super::cohort;

pub struct PolicySources;

/// The policy's `source:` section; the rest of the document is the core's.
#[derive(Deserialize)]
struct Sections {
    #[serde(default)]
    source: Option<SourceConfig>,
}

impl PolicySources {
    /// The source `req` describes, with what the process must know about it.
    fn connect(&self, req: &SourceRequest<'_>) -> Result<Connected, String> {
        let from_policy = policy_source(req)?;
        let config = match req.metrics {
            Some(m) => from_spec(m, from_policy, req)?,
            None => from_policy.ok_or_else(|| {
                format!(
                    "no metrics source: set spec.metrics (prometheus or datadog) or a `source:` section in {}",
                    req.policy_origin
                )
            })?,
        };
        config.validate().map_err(|e| e.to_string())?;
        let lookback = match &req.policy.baseline {
            canaryd_core::policy::BaselinePolicy::Required { lookback, .. } => Some(*lookback),
            canaryd_core::policy::BaselinePolicy::None => None,
        };
        config.connect(req.key, lookback).map_err(|e| e.to_string())
    }
}

impl EdgeFactory for PolicySources {
    fn source(&self, req: &SourceRequest<'_>) -> Result<Box<dyn MetricsSource>, String> {
        self.connect(req).map(|c| c.source)
    }

    fn scrubber(&self, credentials: &Credentials) -> Option<Scrubber> {
        let mut redactor = Redactor::new();
        for value in credentials.values() {
            redactor.add(&Secret::new(value.expose()));
        }
        Some(Box::new(move |v: &mut serde_json::Value| {
            redactor.redact_json(v)
        }))
    }

    fn channels(&self, targets: Vec<NotifyTarget>) -> Result<Option<Box<dyn Notifier>>, String> {
        if targets.is_empty() {
            return Ok(None);
        }
        let channels = super::channels::build(targets, None)?;
        Ok(Some(Box::new(channels)))
    }
}

/// The policy's `source:` section. In the cluster a policy may not name
/// credentials (canaryd-kube refuses it before a source is built): a
/// `datadog:` section's keys come from `spec.metrics.datadog`'s Secrets, so
/// they are filled in empty here for the section to parse, and replaced.
fn policy_source(req: &SourceRequest<'_>) -> Result<Option<SourceConfig>, String> {
    let located = |e: String| format!("{}: source: {e}", req.policy_origin);
    let mut document: serde_json::Value =
        serde_saphyr::from_str(req.policy_text).map_err(|e| located(e.to_string()))?;
    let Some(datadog) = document
        .pointer_mut("/source/datadog")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return serde_saphyr::from_str::<Sections>(req.policy_text)
            .map(|s| s.source)
            .map_err(|e| located(e.to_string()));
    };
    if req.metrics.and_then(|m| m.datadog.as_ref()).is_none() {
        return Err(format!(
            "{}: a datadog source needs spec.metrics.datadog (apiKey and applicationKey \
             from Secrets in the Canary's namespace)",
            req.policy_origin
        ));
    }
    for key in ["api_key", "app_key"] {
        datadog.entry(key).or_insert(serde_json::json!(""));
    }
    serde_json::from_value::<Sections>(document)
        .map(|s| s.source)
        .map_err(|e| located(e.to_string()))
}

fn from_spec(
    metrics: &MetricsSpec,
    from_policy: Option<SourceConfig>,
    req: &SourceRequest<'_>,
) -> Result<SourceConfig, String> {
    match (&metrics.prometheus, &metrics.datadog) {
        (Some(p), None) => prometheus(p, from_policy, req).map(SourceConfig::Prometheus),
        (None, Some(d)) => datadog(d, from_policy, req.credentials),
        _ => Err("spec.metrics: give exactly one of prometheus or datadog".into()),
    }
}

fn prometheus(
    spec: &PrometheusSpec,
    from_policy: Option<SourceConfig>,
    req: &SourceRequest<'_>,
) -> Result<PrometheusConfig, String> {
    let mut c = match from_policy {
        Some(SourceConfig::Prometheus(c)) => c,
        _ => serde_json::from_value(serde_json::json!({"url": spec.address}))
            .map_err(|e| format!("spec.metrics.prometheus: {e}"))?,
    };
    c.url = SafeUrl::parse(&spec.address)
        .map_err(|e| format!("spec.metrics.prometheus.address: {e}"))?;
    if let Some(token) = req.credentials.get("prometheus.bearerToken") {
        c.auth = Some(Auth::Bearer {
            token: SecretSource::Inline(token.expose().to_string()),
        });
    }
    let revision = |v: String| {
        v.replace("$revision", "{revision}")
            .replace("$stable", req.stable)
    };
    let fields = (
        "spec.metrics.prometheus.canarySelector",
        "spec.metrics.prometheus.baselineSelector",
    );
    let canary = spec
        .canary_selector
        .as_deref()
        .map(|t| cohort::prometheus_matchers(fields.0, t))
        .transpose()?;
    let baseline = spec
        .baseline_selector
        .as_deref()
        .map(|t| cohort::prometheus_matchers(fields.1, t))
        .transpose()?;
    if let Some(split) = cohort::split(fields, canary, baseline)? {
        if let (Some(mine), true) = (&c.cohort_label, split.canary.is_none()) {
            if *mine != split.label {
                return Err(format!(
                    "{}: uses the label {:?}, but the policy's cohort label is {mine:?}",
                    fields.1, split.label
                ));
            }
        }
        c.cohort_label = Some(split.label);
        if let Some(v) = split.canary {
            c.canary = revision(v);
        }
        if let Some(v) = split.baseline {
            c.baseline = Some(revision(v));
        }
        if !split.common.is_empty() {
            let shared = split
                .common
                .iter()
                .map(|(l, v)| format!("{l}=\"{v}\""))
                .collect::<Vec<_>>()
                .join(",");
            c.selector = Some(match c.selector.take() {
                Some(s) if !s.trim().is_empty() => format!("{s},{shared}"),
                _ => shared,
            });
        }
    }
    Ok(c)
}

fn datadog(
    spec: &DatadogSpec,
    from_policy: Option<SourceConfig>,
    credentials: &Credentials,
) -> Result<SourceConfig, String> {
    let Some(SourceConfig::Datadog(mut c)) = from_policy else {
        return Err("spec.metrics.datadog gives the site and keys; the queries (cohort_tag, queries) come from a `source: {datadog: ...}` section in the policy, and it has none".into());
    };
    if let Some(site) = &spec.site {
        c.site.clone_from(site);
    }
    let key = |field: &str| {
        credentials
            .get(field)
            .map(|v| SecretSource::Inline(v.expose().to_string()))
            .ok_or_else(|| format!("spec.metrics.{field}: the Secret was not read"))
    };
    c.api_key = key("datadog.apiKey")?;
    c.app_key = key("datadog.applicationKey")?;
    let fields = (
        "spec.metrics.datadog.canaryTags",
        "spec.metrics.datadog.baselineTags",
    );
    let canary = spec
        .canary_tags
        .as_deref()
        .map(|t| cohort::datadog_tags(fields.0, t))
        .transpose()?;
    let baseline = spec
        .baseline_tags
        .as_deref()
        .map(|t| cohort::datadog_tags(fields.1, t))
        .transpose()?;
    if let Some(split) = cohort::split(fields, canary, baseline)? {
        if split.canary.is_none() && split.label != c.cohort_tag {
            return Err(format!(
                "{}: baselineTags must use the cohort tag {:?}, not {:?}",
                fields.1, c.cohort_tag, split.label
            ));
        }
        c.cohort_tag = split.label;
        if let Some(v) = split.canary {
            c.canary = v.replace("$revision", "{revision}");
        }
        if let Some(v) = split.baseline {
            c.baseline = v.replace("$revision", "{revision}");
        }
        c.scope.extend(split.common);
    }
    Ok(SourceConfig::Datadog(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = "name: t
window: 60s
ladder: [{weight: 10, hold_windows: 1}, {weight: 100, hold_windows: 1}]
ramp_budget: 1h
rules: [{name: errors, metric: error_rate, absolute: 5%}]
";

    fn creds() -> Credentials {
        let mut credentials = Credentials::default();
        credentials.insert(
            "prometheus.bearerToken",
            canaryd_kube::controller::SecretValue::new("s3cret"),
        );
        for field in ["datadog.apiKey", "datadog.applicationKey"] {
            credentials.insert(field, canaryd_kube::controller::SecretValue::new("dd-key"));
        }
        credentials
    }

    fn build(metrics: Option<&MetricsSpec>, text: &str) -> Result<Connected, String> {
        canaryd_http::install_crypto_provider();
        let policy = canaryd_policy::parse_policy("t", text).unwrap();
        let key = canaryd_core::vocab::RolloutKey::new("shop/web", "6c9f7d");
        let credentials = creds();
        PolicySources.connect(&SourceRequest {
            namespace: "shop",
            canary: "web",
            key: &key,
            stable: "58d9c4",
            target: &canaryd_kube::target::TargetKind::ArgoRollout("web".into()),
            metrics,
            policy_text: text,
            policy_origin: "spec.policy.inline",
            policy: &policy,
            credentials: &credentials,
        })
    }

    #[test]
    fn the_spec_alone_configures_prometheus_and_datadog_needs_the_policy() {
        let prom: MetricsSpec = serde_json::from_value(serde_json::json!({"prometheus": {
            "address": "http://prometheus.monitoring:9090",
            "bearerToken": {"name": "prom", "key": "token"},
            "canarySelector": "{rollouts_pod_template_hash=\"$revision\"}",
            "baselineSelector": "{rollouts_pod_template_hash=\"$stable\"}"}}))
        .unwrap();
        let source = build(Some(&prom), POLICY).unwrap();
        assert!(
            source.url.starts_with("http://prometheus.monitoring:9090"),
            "{}",
            source.url
        );
        assert_eq!(source.secrets.len(), 1, "the token from the Secret is held");

        let dd: MetricsSpec = serde_json::from_value(serde_json::json!({"datadog": {
            "apiKey": {"name": "dd", "key": "api"}, "applicationKey": {"name": "dd", "key": "app"}}}))
        .unwrap();
        let Err(e) = build(Some(&dd), POLICY) else {
            panic!("datadog without queries built")
        };
        assert!(e.contains("queries"), "{e}");
        // In the cluster the keys come from the Secrets, not the policy.
        let with_queries = POLICY.to_string()
            + "source:\n  datadog:\n    site: datadoghq.eu\n    cohort_tag: version\n    \
               baseline: stable\n    queries:\n      \
               requests: 'sum:trace.http.request.hits{{selector}} by {{route}}.as_count()'\n      \
               errors: 'sum:trace.http.request.errors{{selector}} by {{route}}.as_count()'\n";
        build(Some(&dd), &with_queries)
            .unwrap_or_else(|e| panic!("the keys come from the Secrets, not the policy: {e}"));
        let Err(e) = build(None, &with_queries) else {
            panic!("datadog without spec.metrics.datadog built")
        };
        assert!(e.contains("spec.metrics.datadog"), "{e}");

        let scrub = PolicySources.scrubber(&creds()).unwrap();
        let mut v = serde_json::json!({"error": "GET http://x/?token=s3cret: 401"});
        scrub(&mut v);
        assert!(!v.to_string().contains("s3cret"), "{v}");

        let Err(e) = build(None, POLICY) else {
            panic!("no source configured, yet built")
        };
        assert!(e.contains("no metrics source"), "{e}");
    }
}
