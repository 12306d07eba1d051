//! A Canary's policy may not name credentials. Outside a cluster a policy's
//! `source:` section reads `{file: ...}`, `{env: ...}` or an inline token;
//! in the controller that would let anyone who can create a Canary make
//! the controller read its own files and environment (its service-account
//! token) and send them to a URL the same policy names. In controller mode
//! credentials come only from Secrets in the Canary's namespace, named by
//! `spec.metrics`; this check runs before any source is built, so nothing
//! the policy names is ever read.

use serde_json::Value;

/// Keys whose value is a credential, in any source's section.
const CREDENTIAL_KEYS: &[&str] = &["auth", "api_key", "app_key", "token", "password"];

/// Every place in the policy's `source:` section that names a credential,
/// as one message for the Canary's condition; `Ok` when there is none.
/// `origin` names where the policy came from.
pub fn refuse_policy_credentials(origin: &str, text: &str) -> Result<(), String> {
    let document: Value = match serde_saphyr::from_str(text) {
        Ok(v) => v,
        // The policy parser already accepted it; what it cannot read as a
        // plain document holds no `source:` section to worry about.
        Err(_) => return Ok(()),
    };
    let Some(source) = document.get("source") else {
        return Ok(());
    };
    let mut found = Vec::new();
    walk(source, "source", &mut found);
    if found.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{origin}: {} names a credential; in the cluster canaryd reads credentials only from \
         Secrets in the Canary's namespace (spec.metrics.prometheus.bearerToken, \
         spec.metrics.datadog.apiKey / applicationKey), never from the controller's files, \
         environment or the policy text: remove it and name a Secret instead",
        found.join(", ")
    ))
}

fn walk(value: &Value, path: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if map.len() == 1 && (map.contains_key("file") || map.contains_key("env")) {
                found.push(path.to_string());
                return;
            }
            for (key, v) in map {
                let here = format!("{path}.{key}");
                if CREDENTIAL_KEYS.contains(&key.as_str()) {
                    found.push(here);
                } else {
                    walk(v, &here, found);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_env_and_inline_credentials_are_refused_and_named() {
        let policy = "name: x\nsource:\n  prometheus:\n    url: http://evil.example\n    auth: {bearer: {token: {file: /var/run/secrets/kubernetes.io/serviceaccount/token}}}\n";
        let e = refuse_policy_credentials("spec.policy.inline", policy).unwrap_err();
        assert!(
            e.starts_with("spec.policy.inline: source.prometheus.auth names a credential"),
            "{e}"
        );
        let policy = "source:\n  datadog:\n    site: x\n    api_key: {env: DD_API_KEY}\n    app_key: inline-value\n";
        let e = refuse_policy_credentials("ConfigMap shop/p:policy.yaml", policy).unwrap_err();
        assert!(
            e.contains("source.datadog.api_key, source.datadog.app_key"),
            "{e}"
        );
        let policy =
            "source:\n  prometheus:\n    url: http://p\n    headers: [{file: /etc/shadow}]\n";
        let e = refuse_policy_credentials("p", policy).unwrap_err();
        assert!(e.contains("source.prometheus.headers[0]"), "{e}");
    }

    #[test]
    fn a_policy_without_credentials_passes() {
        assert_eq!(
            refuse_policy_credentials("p", "name: x\nwindow: 60s\n"),
            Ok(())
        );
        let policy =
            "source:\n  prometheus:\n    url: http://prometheus:9090\n    cohort_label: version\n";
        assert_eq!(refuse_policy_credentials("p", policy), Ok(()));
    }
}
