//! Every shipped Canary example passes the controller's own checks, in the
//! order a reconcile makes them (not only the CRD schema, which
//! `crates/kube/tests/crd.rs` covers): target and router fit, the policy
//! (inline or from the shipped ConfigMap) parses and names no credential,
//! and the metrics source builds from `spec.metrics` with its Secrets read.
//! The Helm chart's NOTES and README send users to these files.

use std::path::{Path, PathBuf};

use canaryd_kube::controller::{
    refuse_policy_credentials, Credentials, EdgeFactory, SecretValue, SourceRequest,
};
use canaryd_kube::crd::Canary;
use canaryd_kube::reconcile::rollout_key;
use canaryd_kube::router::select::choose;
use canaryd_policy::parse_policy;
use serde_json::Value;

use super::sources::PolicySources;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn examples() -> PathBuf {
    repo().join("examples/kubernetes")
}

/// The text of `key` in the shipped ConfigMap `name`.
fn shipped_config_map(name: &str, key: &str) -> Result<String, String> {
    for entry in std::fs::read_dir(examples()).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        let Ok(doc) = serde_saphyr::from_str::<Value>(&text) else {
            continue;
        };
        if doc["kind"] == "ConfigMap" && doc["metadata"]["name"] == name {
            return doc["data"][key]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("{}: no data key {key:?}", path.display()));
        }
    }
    Err(format!(
        "no shipped ConfigMap {name} (the example names it: ship it beside)"
    ))
}

/// The controller's checks on one Canary; `Err` is what its condition would say.
fn validate(canary: &Canary) -> Result<(), String> {
    canaryd_http::install_crypto_provider();
    let (kind, _) = choose(&canary.spec)?;
    let namespace = canary.metadata.namespace.clone().unwrap_or_default();
    let name = canary.metadata.name.clone().unwrap_or_default();
    let (origin, text) = match (&canary.spec.policy.inline, &canary.spec.policy.config_map) {
        (Some(text), None) => ("spec.policy.inline".to_string(), text.clone()),
        (None, Some(cm)) => {
            let key = cm.key.clone().unwrap_or_else(|| "policy.yaml".into());
            let origin = format!("ConfigMap {namespace}/{}:{key}", cm.name);
            (origin, shipped_config_map(&cm.name, &key)?)
        }
        _ => return Err("spec.policy: give exactly one of inline or configMap".into()),
    };
    let policy = parse_policy(&origin, &text).map_err(|e| e.to_string())?;
    refuse_policy_credentials(&origin, &text)?;
    // What the controller reads from the Secrets spec.metrics names.
    let mut credentials = Credentials::default();
    if let Some(m) = &canary.spec.metrics {
        if m.prometheus
            .as_ref()
            .is_some_and(|p| p.bearer_token.is_some())
        {
            credentials.insert("prometheus.bearerToken", SecretValue::new("example-token"));
        }
        if m.datadog.is_some() {
            credentials.insert("datadog.apiKey", SecretValue::new("example-api-key"));
            credentials.insert(
                "datadog.applicationKey",
                SecretValue::new("example-app-key"),
            );
        }
    }
    let key = rollout_key(&namespace, &name, "6c9f7d");
    let request = SourceRequest {
        namespace: &namespace,
        canary: &name,
        key: &key,
        stable: "58d9c4",
        target: &kind,
        metrics: canary.spec.metrics.as_ref(),
        policy_text: &text,
        policy_origin: &origin,
        policy: &policy,
        credentials: &credentials,
    };
    PolicySources.source(&request).map(|_| ())
}

fn shipped_canaries() -> Vec<(PathBuf, Canary)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(examples()).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: Value = serde_saphyr::from_str(&text).unwrap();
        if doc["kind"] == "Canary" {
            let canary: Canary =
                serde_json::from_value(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.push((path, canary));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn every_shipped_canary_passes_the_controllers_own_checks() {
    let canaries = shipped_canaries();
    assert!(canaries.len() >= 2, "the Canary examples are found");
    let failures: Vec<String> = canaries
        .iter()
        .filter_map(|(path, c)| {
            validate(c)
                .err()
                .map(|e| format!("{}: {e}", path.display()))
        })
        .collect();
    assert_eq!(failures, Vec::<String>::new());
}

#[test]
fn the_chart_sends_users_only_to_shipped_examples() {
    let chart = repo().join("deploy/helm/canaryd");
    let mut named = Vec::new();
    for file in ["README.md", "templates/NOTES.txt"] {
        let text = std::fs::read_to_string(chart.join(file)).unwrap();
        assert!(
            text.contains("examples/kubernetes"),
            "{file} points at the examples"
        );
        for word in text.split_whitespace() {
            if let Some(rest) = word.split("examples/kubernetes/").nth(1) {
                let name = rest.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
                if !name.is_empty() {
                    named.push(format!("{name}.yaml").replace(".yaml.yaml", ".yaml"));
                }
            }
        }
    }
    assert!(!named.is_empty(), "the README names an example to apply");
    let shipped: Vec<String> = shipped_canaries()
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for name in &named {
        let path = examples().join(name);
        assert!(
            Path::new(&path).is_file(),
            "the chart names {name}, which is not shipped"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            shipped.contains(name) || text.contains("kind: ConfigMap"),
            "{name} is neither a checked Canary nor a ConfigMap one names"
        );
    }
}

#[test]
fn a_canary_naming_an_unshipped_policy_or_a_credential_fails_the_check() {
    let (_, mut c) = shipped_canaries()
        .into_iter()
        .find(|(_, c)| c.spec.policy.config_map.is_some())
        .expect("an example with a ConfigMap policy");
    c.spec.policy.config_map.as_mut().unwrap().name = "nowhere".into();
    assert!(validate(&c)
        .unwrap_err()
        .contains("no shipped ConfigMap nowhere"));
    c.spec.policy.config_map = None;
    c.spec.policy.inline = Some(
        "preset: slo-ratio\nsource:\n  prometheus:\n    url: http://x\n    auth: {bearer: {token: {env: T}}}\n"
            .into(),
    );
    assert!(validate(&c).unwrap_err().contains("names a credential"));
}
