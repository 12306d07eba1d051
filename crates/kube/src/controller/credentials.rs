//! The Secrets `spec.metrics` names, read when a source is built. The
//! values never leave the process: they are handed to the source factory
//! in a type that does not print them.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::Client;

use crate::crd::{MetricsSpec, SecretKeyRef};
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials(BTreeMap<&'static str, SecretValue>);

impl Credentials {
    pub fn get(&self, field: &str) -> Option<&SecretValue> {
        self.0.get(field)
    }

    pub fn insert(&mut self, field: &'static str, value: SecretValue) {
        self.0.insert(field, value);
    }

    pub fn values(&self) -> impl Iterator<Item = &SecretValue> {
        self.0.values()
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
            .ok_or_else(|| {
                object.invalid(format!(
                    "it has no key {:?} (named by spec.metrics.{field})",
                    r.key
                ))
            })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            object.invalid(format!(
                "its key {:?} is not UTF-8 text (spec.metrics.{field})",
                r.key
            ))
        })?;
        out.insert(field, SecretValue::new(text.trim()));
    }
    Ok(out)
}
