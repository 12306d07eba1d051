//! The Secrets `spec.metrics` and `spec.notify` name, read when a source
//! or a notifier is built. The values never leave the process: they are
//! handed to the source factory in a type that does not print them.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::Client;

use crate::crd::{MetricsSpec, NotifySpec, SecretKeyRef};
use crate::error::KubeError;
use crate::kubeapi::ObjectName;

/// A credential value; `Debug` shows only that it is there.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> SecretValue {
        SecretValue(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

/// Credential values by the spec field that names them
/// (`prometheus.bearerToken`, `datadog.apiKey`, `datadog.applicationKey`).
/// `also` holds values with no field of their own (the `spec.notify`
/// channels'), so the scrubber masks them too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    by_field: BTreeMap<&'static str, SecretValue>,
    also: Vec<SecretValue>,
}

impl Credentials {
    pub fn get(&self, field: &str) -> Option<&SecretValue> {
        self.by_field.get(field)
    }

    pub fn insert(&mut self, field: &'static str, value: SecretValue) {
        self.by_field.insert(field, value);
    }

    /// A value to mask that no source field reads.
    pub fn also_mask(&mut self, value: SecretValue) {
        self.also.push(value);
    }

    pub fn values(&self) -> impl Iterator<Item = &SecretValue> {
        self.by_field.values().chain(&self.also)
    }
}

/// The references in `metrics`, by field name.
fn references(metrics: &MetricsSpec) -> Vec<(&'static str, &SecretKeyRef)> {
    let mut refs = Vec::new();
    if let Some(p) = &metrics.prometheus {
        if let Some(r) = &p.bearer_token {
            refs.push(("prometheus.bearerToken", r));
        }
    }
    if let Some(d) = &metrics.datadog {
        refs.push(("datadog.apiKey", &d.api_key));
        refs.push(("datadog.applicationKey", &d.application_key));
    }
    refs
}

/// Reads every Secret key `metrics` names, in the Canary's namespace. A
/// missing Secret is [`KubeError::NotFound`], a missing key
/// [`KubeError::Invalid`]; both name the Secret and the spec field.
pub async fn read_credentials(
    client: &Client,
    namespace: &str,
    metrics: Option<&MetricsSpec>,
) -> Result<Credentials, KubeError> {
    let mut out = Credentials::default();
    let Some(metrics) = metrics else {
        return Ok(out);
    };
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for (field, r) in references(metrics) {
        let text = read_key(&api, namespace, r, &format!("spec.metrics.{field}")).await?;
        out.insert(field, SecretValue::new(text));
    }
    Ok(out)
}

/// One `spec.notify` entry, its Secret values read.
#[derive(Debug)]
pub enum NotifyTarget {
    /// A Slack incoming-webhook URL (the URL is the credential).
    Slack { webhook_url: SecretValue },
    /// A PagerDuty Events API v2 routing key.
    PagerDuty { routing_key: SecretValue },
    /// A generic webhook, every body signed with the key (HMAC-SHA256).
    Webhook {
        url: SecretValue,
        signing_key: SecretValue,
    },
}

impl NotifyTarget {
    /// Every secret value the target holds, for the scrubber.
    pub fn values(&self) -> Vec<&SecretValue> {
        match self {
            NotifyTarget::Slack { webhook_url } => vec![webhook_url],
            NotifyTarget::PagerDuty { routing_key } => vec![routing_key],
            NotifyTarget::Webhook { url, signing_key } => vec![url, signing_key],
        }
    }
}

/// Reads the Secrets every `spec.notify` entry names. An entry that gives
/// no channel, or more than one, is [`KubeError::Invalid`] naming its index.
pub async fn read_notify_targets(
    client: &Client,
    namespace: &str,
    canary: &str,
    notify: &[NotifySpec],
) -> Result<Vec<NotifyTarget>, KubeError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut out = Vec::with_capacity(notify.len());
    for (i, n) in notify.iter().enumerate() {
        let field = |f: &str| format!("spec.notify[{i}].{f}");
        let invalid = |problem: String| KubeError::Invalid {
            kind: "Canary",
            namespace: namespace.to_string(),
            name: canary.to_string(),
            problem,
        };
        let read = |r: &SecretKeyRef, f: &str| {
            let api = api.clone();
            let (r, f) = (r.clone(), field(f));
            async move {
                read_key(&api, namespace, &r, &f)
                    .await
                    .map(SecretValue::new)
            }
        };
        let target = match (
            &n.slack_webhook_url,
            &n.pagerduty_routing_key,
            &n.webhook_url,
            &n.webhook_signing_key,
        ) {
            (Some(s), None, None, None) => NotifyTarget::Slack {
                webhook_url: read(s, "slackWebhookUrl").await?,
            },
            (None, Some(p), None, None) => NotifyTarget::PagerDuty {
                routing_key: read(p, "pagerdutyRoutingKey").await?,
            },
            (None, None, Some(u), Some(k)) => NotifyTarget::Webhook {
                url: read(u, "webhookUrl").await?,
                signing_key: read(k, "webhookSigningKey").await?,
            },
            (None, None, Some(_), None) => {
                return Err(invalid(format!(
                    "{} is missing: canaryd signs every webhook body (HMAC-SHA256), \
                     so a webhook needs a signing key",
                    field("webhookSigningKey")
                )))
            }
            (None, None, None, None) => {
                return Err(invalid(format!(
                    "spec.notify[{i}] is empty: give slackWebhookUrl, pagerdutyRoutingKey, \
                     or webhookUrl with webhookSigningKey"
                )))
            }
            _ => {
                return Err(invalid(format!(
                    "spec.notify[{i}] gives more than one channel: one entry per channel"
                )))
            }
        };
        out.push(target);
    }
    Ok(out)
}

/// One key of one Secret, as trimmed UTF-8 text. `field` names the spec
/// field that refers to it, for the message.
async fn read_key(
    api: &Api<Secret>,
    namespace: &str,
    r: &SecretKeyRef,
    field: &str,
) -> Result<String, KubeError> {
    let object = ObjectName::new("Secret", namespace, &r.name);
    let secret = api.get(&r.name).await.map_err(|e| object.api(e))?;
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&r.key))
        .map(|b| b.0.clone())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(&r.key))
                .map(|s| s.clone().into_bytes())
        })
        .ok_or_else(|| object.invalid(format!("it has no key {:?} (named by {field})", r.key)))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| object.invalid(format!("its key {:?} is not UTF-8 text ({field})", r.key)))?;
    Ok(text.trim().to_string())
}
