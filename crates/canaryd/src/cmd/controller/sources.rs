//! Where a Canary's numbers come from: its `spec.metrics`, over the policy's
//! own `source:` section when it has one (the same section `canaryd gate`
//! reads, so one policy file works in a pipeline and in the cluster).
//!
//! `spec.metrics.prometheus` is enough on its own: the address, a bearer
//! token from a Secret, and the canary / baseline selectors as one
//! `label="value"` matcher each (`$revision` is the canary's revision,
//! `$stable` the stable one's). Datadog needs query templates, which only
//! the policy's `source: {datadog: ...}` can give; `spec.metrics.datadog`
//! then supplies the site and the keys.

use canaryd_driver::driver::Scrubber;
use canaryd_kube::controller::{
    Credentials, NotifyTarget, SendNotice, SourceFactory, SourceRequest,
};
use canaryd_kube::crd::{DatadogSpec, MetricsSpec, PrometheusSpec};
use canaryd_notify::redact::Redactor;
use canaryd_notify::{Secret, SecretSource};
use canaryd_sources::config::{Source, SourceConfig};
use canaryd_sources::prometheus::client::Auth;
use canaryd_sources::prometheus::config::PrometheusConfig;
use serde::Deserialize;

pub struct PolicySources;

/// The policy's `source:` section; the rest of the document is the core's.
#[derive(Deserialize)]
struct Sections {
    #[serde(default)]
    source: Option<SourceConfig>,
}

impl SourceFactory for PolicySources {
    type Source = Source;

    fn source(&self, req: &SourceRequest<'_>) -> Result<Source, String> {
        let from_policy = serde_saphyr::from_str::<Sections>(req.policy_text)
            .map_err(|e| format!("{}: source: {e}", req.policy_origin))?
            .source;
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
        let source = config.connect(req.key).map_err(|e| e.to_string())?;
        Ok(match &req.policy.baseline {
            canaryd_core::policy::BaselinePolicy::Required { lookback, .. } => {
                source.with_lookback(*lookback)
            }
            canaryd_core::policy::BaselinePolicy::None => source,
        })
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

    fn channels(&self, targets: Vec<NotifyTarget>) -> Result<Option<Box<dyn SendNotice>>, String> {
        if targets.is_empty() {
            return Ok(None);
        }
        let channels = super::channels::build(targets, super::channels::DEFAULT_URL)?;
        Ok(Some(Box::new(channels)))
    }
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
    c.url.clone_from(&spec.address);
    if let Some(token) = req.credentials.get("prometheus.bearerToken") {
        c.auth = Some(Auth::Bearer {
            token: SecretSource::Inline(token.expose().to_string()),
        });
    }
    if let Some(sel) = &spec.canary_selector {
        let (label, value) = matcher("canarySelector", sel, req.stable)?;
        c.cohort_label = Some(label);
        c.canary = value;
    }
    if let Some(sel) = &spec.baseline_selector {
        let (label, value) = matcher("baselineSelector", sel, req.stable)?;
        if c.cohort_label.as_deref().is_some_and(|l| l != label) {
            return Err(format!(
                "spec.metrics.prometheus: canarySelector and baselineSelector must use the same label (the cohort label), not {:?} and {label:?}",
                c.cohort_label.unwrap_or_default()
            ));
        }
        c.cohort_label = Some(label);
        c.baseline = Some(value);
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
    if let Some(tags) = &spec.canary_tags {
        let (tag, value) = tag_value("canaryTags", tags)?;
        c.cohort_tag = tag;
        c.canary = value;
    }
    if let Some(tags) = &spec.baseline_tags {
        let (tag, value) = tag_value("baselineTags", tags)?;
        if tag != c.cohort_tag {
            return Err(format!(
                "spec.metrics.datadog: baselineTags must use the cohort tag {:?}, not {tag:?}",
                c.cohort_tag
            ));
        }
        c.baseline = value;
    }
    Ok(SourceConfig::Datadog(c))
}

/// `{label="value"}` or `label="value"`: the one cohort matcher, with
/// `$revision` as the source's `{revision}` placeholder and `$stable` as
/// the stable revision now.
fn matcher(field: &str, text: &str, stable: &str) -> Result<(String, String), String> {
    let inner = text
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim();
    let bad = || {
        format!(
            "spec.metrics.prometheus.{field}: {text:?} must be one matcher `label=\"value\"` (the cohort label); put other matchers in the policy's source.prometheus.selector"
        )
    };
    let (label, value) = inner.split_once('=').ok_or_else(bad)?;
    let (label, value) = (label.trim(), value.trim());
    let valid_label = !label.is_empty()
        && label
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
    let quoted = value.len() >= 2 && value.starts_with('"') && value.ends_with('"');
    if !valid_label || !quoted || value[1..value.len() - 1].contains('"') {
        return Err(bad());
    }
    let value = value[1..value.len() - 1]
        .replace("$revision", "{revision}")
        .replace("$stable", stable);
    Ok((label.to_string(), value))
}

/// `tag:value`, with the same `$revision` / `$stable` words.
fn tag_value(field: &str, text: &str) -> Result<(String, String), String> {
    let (tag, value) = text.trim().split_once(':').ok_or_else(|| {
        format!("spec.metrics.datadog.{field}: {text:?} must be one `tag:value` (the cohort tag)")
    })?;
    Ok((
        tag.trim().to_string(),
        value.trim().replace("$revision", "{revision}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_become_the_cohort_label_and_values() {
        assert_eq!(
            matcher("c", r#"{rollouts_pod_template_hash="$revision"}"#, "58d9c4").unwrap(),
            ("rollouts_pod_template_hash".into(), "{revision}".into())
        );
        assert_eq!(
            matcher("b", r#"rollouts_pod_template_hash="$stable""#, "58d9c4").unwrap(),
            ("rollouts_pod_template_hash".into(), "58d9c4".into())
        );
        for bad in [r#"{a="1",b="2"}"#, "track", r#"track=canary"#, r#"{="x"}"#] {
            let e = matcher("canarySelector", bad, "s").unwrap_err();
            assert!(e.contains("spec.metrics.prometheus.canarySelector"), "{e}");
        }
    }

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
        credentials
    }

    fn build(metrics: Option<&MetricsSpec>, text: &str) -> Result<Source, String> {
        canaryd_notify::http::install_crypto_provider();
        let policy = canaryd_core::policy::parse_policy("t", text).unwrap();
        let key = canaryd_core::vocab::RolloutKey::new("shop/web", "6c9f7d");
        let credentials = creds();
        PolicySources.source(&SourceRequest {
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
            source
                .url()
                .starts_with("http://prometheus.monitoring:9090"),
            "{}",
            source.url()
        );
        assert_eq!(
            source.secrets().len(),
            1,
            "the token from the Secret is held"
        );

        let dd: MetricsSpec = serde_json::from_value(serde_json::json!({"datadog": {
            "apiKey": {"name": "dd", "key": "api"}, "applicationKey": {"name": "dd", "key": "app"}}}))
        .unwrap();
        let Err(e) = build(Some(&dd), POLICY) else {
            panic!("datadog without queries built")
        };
        assert!(e.contains("queries"), "{e}");

        let scrub = PolicySources.scrubber(&creds()).unwrap();
        let mut v = serde_json::json!({"error": "GET http://x/?token=s3cret: 401"});
        scrub(&mut v);
        assert!(!v.to_string().contains("s3cret"), "{v}");

        let Err(e) = build(None, POLICY) else {
            panic!("no source configured, yet built")
        };
        assert!(e.contains("no metrics source"), "{e}");
    }

    #[test]
    fn tags_split_at_the_colon() {
        assert_eq!(
            tag_value("canaryTags", "version:$revision").unwrap(),
            ("version".into(), "{revision}".into())
        );
        assert!(tag_value("canaryTags", "version").is_err());
    }
}
