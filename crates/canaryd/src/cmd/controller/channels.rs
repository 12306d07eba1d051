//! A Canary's `spec.notify`: Slack, PagerDuty and signed webhooks, sent
//! through the same notifiers as `canaryd proxy --notify` (the same Block
//! Kit message, the same PagerDuty dedup key per rollout, the same HMAC
//! signature), with credentials the controller read from Secrets.

use canaryd_kube::controller::NotifyTarget;
use canaryd_notify::config::RetryConfig;
use canaryd_notify::{Channel, Notifiers};
use canaryd_ports::Surface;
use canaryd_secrets::{SafeUrl, Secret};

/// Builds the channels; `pagerduty_url` is the Events API v2 endpoint
/// (`None`: PagerDuty's own, as outside tests).
pub fn build(
    targets: Vec<NotifyTarget>,
    pagerduty_url: Option<&SafeUrl>,
) -> Result<Notifiers, String> {
    // In a cluster there is no `canaryd approve`: the messages say so.
    let mut n = Notifiers::empty(RetryConfig::default())
        .map_err(|e| e.to_string())?
        .with_surface(Surface::Kubernetes);
    for (i, t) in targets.into_iter().enumerate() {
        let secret = |v: &canaryd_kube::controller::SecretValue| Secret::new(v.expose());
        let (name, channel) = match &t {
            NotifyTarget::Slack { webhook_url } => (
                format!("notify[{i}] slack"),
                Channel::Slack {
                    url: secret(webhook_url),
                },
            ),
            NotifyTarget::PagerDuty { routing_key } => (
                format!("notify[{i}] pagerduty"),
                Channel::PagerDuty {
                    url: pagerduty_url.cloned(),
                    key: secret(routing_key),
                },
            ),
            NotifyTarget::Webhook { url, signing_key } => (
                format!("notify[{i}] webhook"),
                Channel::Webhook {
                    url: secret(url),
                    secret: secret(signing_key),
                },
            ),
        };
        n.add_target(name, channel);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use canaryd_core::effect::{Notice, NoticeKind, Severity};
    use canaryd_core::vocab::RolloutKey;
    use canaryd_kube::controller::SecretValue;
    use canaryd_ports::Notifier;
    use std::sync::{Arc, Mutex};

    /// (path, signature header, body) of every request received.
    type Seen = Arc<Mutex<Vec<(String, String, serde_json::Value)>>>;

    /// A local HTTP server that records what it receives (Slack and the
    /// webhook cannot be reached from here; their payloads are what matters).
    async fn recorder() -> (String, Seen) {
        use axum::extract::State;
        use axum::http::HeaderMap;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .fallback(
                |State(seen): State<Seen>,
                 uri: axum::http::Uri,
                 headers: HeaderMap,
                 body: String| async move {
                    let sig = headers
                        .get("x-canaryd-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let json = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
                    if let Ok(mut s) = seen.lock() {
                        s.push((uri.path().to_string(), sig, json));
                    }
                    "ok"
                },
            )
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), seen)
    }

    fn rolled_back() -> Notice {
        Notice::worded(
            NoticeKind::RolledBack,
            Severity::Critical,
            "shop/web@7f9c rolled back",
            "error_rate on GET /pay: canary 2.1% vs threshold 0.8%",
        )
    }

    #[tokio::test]
    async fn slack_and_a_signed_webhook_receive_the_transition() {
        let (base, seen) = recorder().await;
        let targets = vec![
            NotifyTarget::Slack {
                webhook_url: SecretValue::new(format!("{base}/services/T0/B0/XXSECRET")),
            },
            NotifyTarget::Webhook {
                url: SecretValue::new(format!("{base}/hook")),
                signing_key: SecretValue::new("hmac-key"),
            },
        ];
        let mut channels = build(targets, None).unwrap();
        let key = RolloutKey::new("shop/web", "7f9c");
        channels.notify(&key, &rolled_back()).await.unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "{seen:?}");
        let slack = seen.iter().find(|s| s.0.starts_with("/services/")).unwrap();
        // Block Kit: a fallback text and blocks, with the story in them.
        assert!(
            slack.2["text"].as_str().unwrap().contains("rolled back"),
            "{}",
            slack.2
        );
        assert!(slack.2["blocks"].as_array().is_some_and(|b| !b.is_empty()));
        let hook = seen.iter().find(|s| s.0 == "/hook").unwrap();
        assert!(hook.1.starts_with("sha256="), "{hook:?}");
        // The secret URL never appears in what was sent.
        let all = serde_json::to_string(&seen.iter().map(|s| &s.2).collect::<Vec<_>>()).unwrap();
        assert!(!all.contains("XXSECRET"), "{all}");
    }

    #[tokio::test]
    async fn an_unreachable_channel_is_an_error_for_the_audit_log() {
        let targets = vec![NotifyTarget::Slack {
            webhook_url: SecretValue::new("http://127.0.0.1:1/services/T0/B0/XXSECRET"),
        }];
        let mut channels = build(targets, None).unwrap();
        let key = RolloutKey::new("shop/web", "7f9c");
        let err = channels.notify(&key, &rolled_back()).await.unwrap_err();
        assert!(err.message().contains("notify[0] slack"), "{err}");
        assert!(
            !err.message().contains("XXSECRET"),
            "the URL is masked: {err}"
        );
    }
}
