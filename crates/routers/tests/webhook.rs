//! The webhook router against a local receiver: what is sent (method, path,
//! headers, body, signature), and which failures are retried.

mod common;

use canaryd_core::vocab::RolloutKey;
use canaryd_ports::TrafficRouter;
use canaryd_routers::config::WebhookConfig;
use canaryd_routers::{Action, RouterConfig, WebhookError, WebhookRouter};
use canaryd_secrets::Secret;
use common::Receiver;

fn webhook(yaml: &str) -> WebhookRouter {
    match RouterConfig::from_yaml("test", yaml).unwrap() {
        RouterConfig::Webhook(c) => WebhookRouter::new(&c).unwrap(),
        other => panic!("not a webhook: {other:?}"),
    }
}

fn config(yaml: &str) -> WebhookConfig {
    match RouterConfig::from_yaml("test", yaml).unwrap() {
        RouterConfig::Webhook(c) => c,
        other => panic!("not a webhook: {other:?}"),
    }
}

#[tokio::test]
async fn requests_carry_the_substituted_values_signed() {
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("hook-secret");
    std::fs::write(&secret_file, "hmac-key-0123456789\n").unwrap();
    let mut r = webhook(&format!(
        r#"webhook:
  set_weight:
    url: "{base}/flags/{{workload}}/rev/{{revision}}"
    method: PUT
    headers: {{X-Team: payments, X-Stable: "{{stable_weight}}"}}
    body: '{{"canary_percent": {{weight}}, "revision": "{{revision}}", "workload": "{{workload}}"}}'
  promote: {{url: "{base}/flags/{{workload}}/promote"}}
  secret: {{file: {file}}}
  token: tok-inline-abcdef
"#,
        base = rx.base,
        file = secret_file.display()
    ));
    assert_eq!(
        r.warnings.len(),
        1,
        "inline token not warned about: {:?}",
        r.warnings
    );
    assert!(r.warnings[0].contains("webhook.token"));
    let revision = r#"v2"}, "canary_percent": 100, "x": {"#;
    let key = RolloutKey::new("shop/checkout", revision);
    r.set_weight(&key, 25).await.unwrap();
    r.roll_back(&key).await.unwrap();
    r.promote(&key).await.unwrap();

    let reqs = rx.requests();
    assert_eq!(reqs.len(), 3);
    let secret = Secret::new("hmac-key-0123456789");
    for (req, (action, weight)) in reqs.iter().zip([("set_weight", 25), ("rollback", 0)]) {
        assert_eq!(req.method, "PUT");
        assert_eq!(
            req.path,
            "/flags/shop%2Fcheckout/rev/v2%22%7D%2C%20%22canary_percent%22%3A%20100%2C%20%22x%22%3A%20%7B"
        );
        assert_eq!(req.query, None);
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"canary_percent": weight, "revision": revision, "workload": "shop/checkout"})
        );
        let h = |n: &str| req.headers[n].to_str().unwrap().to_string();
        assert_eq!(h("content-type"), "application/json");
        assert_eq!(h("x-canaryd-action"), action);
        assert_eq!(h("x-team"), "payments");
        assert_eq!(h("x-stable"), (100 - weight).to_string());
        assert_eq!(h("authorization"), "Bearer tok-inline-abcdef");
        assert!(canaryd_secrets::sign::verify(
            &secret,
            &req.body,
            &h("x-canaryd-signature")
        ));
        assert!(!canaryd_secrets::sign::verify(
            &Secret::new("other"),
            &req.body,
            &h("x-canaryd-signature")
        ));
    }
    let promote = &reqs[2];
    assert_eq!(
        (promote.method.as_str(), promote.path.as_str()),
        ("POST", "/flags/shop%2Fcheckout/promote")
    );
    assert!(promote.body.is_empty());
    assert_eq!(promote.headers["x-canaryd-action"], "promote");
    assert!(promote.headers.get("content-type").is_none());
    assert_eq!(r.secrets().len(), 2);
}

#[tokio::test]
async fn server_errors_are_retried_a_bounded_number_of_times() {
    let rx = Receiver::start().await;
    let yaml = format!(
        "webhook: {{set_weight: {{url: '{}/w', body: '{{\"w\": {{weight}}}}'}}, retries: 2, backoff: 10ms}}",
        rx.base
    );
    let r = WebhookRouter::new(&config(&yaml)).unwrap();
    let key = RolloutKey::new("w", "r");

    rx.answer_with(&[(503, "busy"), (429, "slow down"), (200, "{}")]);
    let done = r.call(&key, Action::SetWeight(10)).await.unwrap();
    assert_eq!((done.attempts, done.status.as_u16()), (3, 200));
    assert_eq!(rx.requests().len(), 3);

    rx.answer_with(&[(503, "a"), (502, "b"), (500, "still broken"), (200, "{}")]);
    let e = r.call(&key, Action::SetWeight(20)).await.unwrap_err();
    match &e {
        WebhookError::Exhausted { attempts, last, .. } => {
            assert_eq!(*attempts, 3);
            assert!(
                last.contains("500") && last.contains("still broken"),
                "{last}"
            );
        }
        other => panic!("expected Exhausted, got {other:?}"),
    }
    assert_eq!(rx.requests().len(), 6, "retried past the bound");
}

#[tokio::test]
async fn client_errors_are_not_retried_and_urls_lose_credentials() {
    let rx = Receiver::start().await;
    let authority = rx.base.trim_start_matches("http://");
    let yaml = format!(
        "webhook: {{set_weight: {{url: 'http://ops:pa55word@{authority}/w?api_key=k3y-value&x=1'}}, retries: 3, backoff: 10ms}}"
    );
    let mut r = WebhookRouter::new(&config(&yaml)).unwrap();
    rx.answer_with(&[(400, r#"{"error": "unknown flag"}"#)]);
    let key = RolloutKey::new("w", "r");
    let e = r.call(&key, Action::SetWeight(10)).await.unwrap_err();
    assert!(
        matches!(&e, WebhookError::Rejected { status, .. } if status.as_u16() == 400),
        "{e:?}"
    );
    assert_eq!(rx.requests().len(), 1);
    assert_eq!(
        rx.requests()[0].query.as_deref(),
        Some("api_key=k3y-value&x=1")
    );
    rx.answer_with(&[(404, r#"{"error": "unknown flag"}"#)]);
    let msg = r
        .set_weight(&key, 10)
        .await
        .unwrap_err()
        .message()
        .to_string();
    assert_eq!(rx.requests().len(), 2);
    assert!(msg.contains("404") && msg.contains("unknown flag"), "{msg}");
    assert!(msg.contains(&format!("http://{authority}/w?…")), "{msg}");
    assert!(
        !msg.contains("pa55word") && !msg.contains("k3y-value"),
        "{msg}"
    );
}

#[tokio::test]
async fn an_unreachable_receiver_fails_after_the_retries() {
    // Bind and drop: the port is closed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let yaml = format!(
        "webhook: {{set_weight: {{url: 'http://127.0.0.1:{port}/w'}}, retries: 1, backoff: 10ms, timeout: 2s}}"
    );
    let r = WebhookRouter::new(&config(&yaml)).unwrap();
    let e = r
        .call(&RolloutKey::new("w", "r"), Action::RollBack)
        .await
        .unwrap_err();
    match &e {
        WebhookError::Exhausted { attempts, last, .. } => {
            assert_eq!(*attempts, 2);
            assert!(last.contains("request failed"), "{last}");
        }
        other => panic!("expected Exhausted, got {other:?}"),
    }
}

#[tokio::test]
async fn a_value_that_cannot_be_a_header_is_refused_before_sending() {
    let rx = Receiver::start().await;
    let yaml = format!(
        "webhook: {{set_weight: {{url: '{}/w', headers: {{X-Revision: '{{revision}}'}}}}}}",
        rx.base
    );
    let r = WebhookRouter::new(&config(&yaml)).unwrap();
    let e = r
        .call(
            &RolloutKey::new("w", "v2\r\nX-Admin: yes"),
            Action::SetWeight(1),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, WebhookError::Request { .. }), "{e:?}");
    assert!(e.to_string().contains("x-revision"), "{e}");
    assert!(rx.requests().is_empty());
}

#[tokio::test]
async fn a_receiver_echoing_the_token_does_not_leak_it() {
    let rx = Receiver::start().await;
    let yaml = format!(
        "webhook: {{set_weight: {{url: '{}/w'}}, token: tok-echo-secret-123, retries: 0}}",
        rx.base
    );
    let r = WebhookRouter::new(&config(&yaml)).unwrap();
    rx.answer_with(&[(403, "token tok-echo-secret-123 may not change flag w")]);
    let e = r
        .call(&RolloutKey::new("w", "r"), Action::SetWeight(1))
        .await
        .unwrap_err()
        .to_string();
    assert!(!e.contains("tok-echo-secret-123"), "{e}");
    assert!(e.contains("token [REDACTED] may not change flag w"), "{e}");
}
