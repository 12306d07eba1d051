//! Notifiers against local HTTP receivers that record what they get, checked
//! against the providers' documented payloads: Slack Block Kit, PagerDuty
//! Events v2, and our signed webhook.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use canaryd_core::effect::{Notice, NoticeKind, Severity};
use canaryd_core::notice::NoticeFacts;
use canaryd_core::policy::Metric;
use canaryd_core::vocab::{RolloutKey, Route};
use canaryd_core::Evidence;
use canaryd_notify::{Notifiers, NotifyConfig};
use canaryd_secrets::Secret;
use serde_json::Value;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Recorder {
    got: Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>,
    /// Status codes to answer with, in order (then 200).
    answers: Arc<Mutex<Vec<u16>>>,
}

async fn record(
    State(r): State<Recorder>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    r.got
        .lock()
        .unwrap()
        .push((uri.path().to_string(), headers, body));
    let mut a = r.answers.lock().unwrap();
    let code = if a.is_empty() { 202 } else { a.remove(0) };
    StatusCode::from_u16(code).unwrap()
}

async fn receiver() -> (String, Recorder) {
    let r = Recorder::default();
    let app = Router::new()
        .route("/{*path}", post(record))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), r)
}

fn evidence() -> Evidence {
    Evidence {
        rule: "error_rate-ratio".into(),
        metric: Metric::ErrorRate,
        route: Route::from("GET /pay"),
        canary: 0.0273,
        baseline: Some(0.0039),
        threshold: 0.0079,
        comparison: "> 2× baseline".into(),
        canary_requests: 1500,
        baseline_requests: Some(28000),
        window: 3,
        test: None,
    }
}

fn notice(kind: NoticeKind, severity: Severity) -> Notice {
    Notice {
        evidence: if kind == NoticeKind::RolledBack {
            vec![evidence()]
        } else {
            vec![]
        },
        ..Notice::worded(
            kind,
            severity,
            "payments/payment-api v2.4.2 rolled back",
            "Rolled back at 10% after 2 breaching windows in a row (#2, #3), 15m after start",
        )
    }
}

fn key() -> RolloutKey {
    RolloutKey::new("payments/payment-api", "v2.4.2")
}

fn config(base: &str) -> NotifyConfig {
    NotifyConfig::parse(
        "test.yaml",
        &format!(
            r#"
dashboard_url: "https://grafana.example.com/d/canary?var-workload={{workload}}&var-revision={{revision}}"
retry: {{attempts: 3, backoff: 10ms, timeout: 2s}}
targets:
  - name: channel
    slack: {{webhook_url: "{base}/slack/T000/B000/XXXXSECRET"}}
  - name: oncall
    pagerduty: {{routing_key: "R0UTINGKEY0123456789abcdef012345", url: "{base}/pd/v2/enqueue"}}
    min_severity: warning
  - name: bot
    webhook: {{url: "{base}/hook", secret: "hmac-shared-secret"}}
    kinds: [rolled_back, promoted]
"#
        ),
    )
    .unwrap()
}

fn by_path(r: &Recorder, prefix: &str) -> Vec<(HeaderMap, Value, Bytes)> {
    r.got
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _, _)| p.starts_with(prefix))
        .map(|(_, h, b)| (h.clone(), serde_json::from_slice(b).unwrap(), b.clone()))
        .collect()
}

#[tokio::test]
async fn a_rollback_reaches_every_channel_in_its_documented_shape() {
    let (base, rec) = receiver().await;
    let mut n = Notifiers::from_config(config(&base)).unwrap();
    assert_eq!(
        n.warnings.len(),
        4,
        "every inline secret is warned about: {:?}",
        n.warnings
    );
    let d = n
        .send(&key(), &notice(NoticeKind::RolledBack, Severity::Critical))
        .await;
    assert!(d.iter().all(|d| d.ok), "{d:?}");
    assert_eq!(d.len(), 3);

    // Slack Block Kit: fallback text, a header ≤150 chars, sections, fields ≤10, a link button.
    let slack = by_path(&rec, "/slack/");
    assert_eq!(slack.len(), 1);
    let s = &slack[0].1;
    assert!(s["text"].as_str().unwrap().contains("rolled back"));
    let blocks = s["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50);
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= 150);
    let fields = blocks.iter().find(|b| b.get("fields").is_some()).unwrap()["fields"]
        .as_array()
        .unwrap()
        .clone();
    assert!(fields.len() <= 10);
    let all: String = fields
        .iter()
        .map(|f| f["text"].as_str().unwrap().to_string())
        .collect();
    assert!(
        all.contains("error_rate")
            && all.contains("2.730%")
            && all.contains("0.390%")
            && all.contains("0.790%"),
        "{all}"
    );
    let button = blocks.iter().find(|b| b["type"] == "actions").unwrap();
    assert_eq!(
        button["elements"][0]["url"],
        "https://grafana.example.com/d/canary?var-workload=payments%2Fpayment-api&var-revision=v2.4.2"
    );

    // PagerDuty Events v2: trigger with routing_key, dedup_key, payload.{summary, source, severity}.
    let pd = by_path(&rec, "/pd/");
    assert_eq!(pd.len(), 1);
    let p = &pd[0].1;
    assert_eq!(p["event_action"], "trigger");
    assert_eq!(p["routing_key"], "R0UTINGKEY0123456789abcdef012345");
    assert_eq!(p["dedup_key"], "canaryd/payments/payment-api/v2.4.2");
    assert_eq!(p["payload"]["severity"], "critical");
    assert!(["critical", "error", "warning", "info"]
        .contains(&p["payload"]["severity"].as_str().unwrap()));
    assert!(p["payload"]["summary"].as_str().unwrap().chars().count() <= 1024);
    assert!(!p["payload"]["source"].as_str().unwrap().is_empty());
    assert_eq!(
        p["payload"]["custom_details"]["evidence"][0]["metric"],
        "error_rate"
    );
    assert!(p["links"][0]["href"]
        .as_str()
        .unwrap()
        .starts_with("https://grafana"));

    // Webhook: schema'd body, and the signature verifies with the shared secret.
    let hook = by_path(&rec, "/hook");
    assert_eq!(hook.len(), 1);
    let (headers, body, raw) = &hook[0];
    assert_eq!(body["schema"], "canaryd.notification/v1");
    assert_eq!(body["kind"], "rolled_back");
    assert_eq!(body["workload"], "payments/payment-api");
    let sig = headers
        .get(canaryd_secrets::sign::SIGNATURE_HEADER)
        .unwrap()
        .to_str()
        .unwrap();
    assert!(canaryd_secrets::sign::verify(
        &Secret::new("hmac-shared-secret"),
        raw,
        sig
    ));
    assert!(!canaryd_secrets::sign::verify(
        &Secret::new("wrong"),
        raw,
        sig
    ));
    let mut tampered = raw.to_vec();
    tampered[10] ^= 1;
    assert!(!canaryd_secrets::sign::verify(
        &Secret::new("hmac-shared-secret"),
        &tampered,
        sig
    ));
}

#[tokio::test]
async fn pagerduty_resolves_the_incident_it_opened_with_the_same_dedup_key() {
    let (base, rec) = receiver().await;
    let mut n = Notifiers::from_config(config(&base)).unwrap();
    // Routine progress is not sent to PagerDuty (and is below oncall's min severity).
    n.send(&key(), &notice(NoticeKind::Advanced, Severity::Info))
        .await;
    assert!(by_path(&rec, "/pd/").is_empty());
    // A promotion with no open incident resolves nothing.
    n.send(&key(), &notice(NoticeKind::Promoted, Severity::Warning))
        .await;
    assert!(by_path(&rec, "/pd/").is_empty());
    // A pause opens one; the promotion that follows resolves it.
    n.send(&key(), &notice(NoticeKind::Paused, Severity::Warning))
        .await;
    n.send(&key(), &notice(NoticeKind::Promoted, Severity::Warning))
        .await;
    let pd = by_path(&rec, "/pd/");
    let actions: Vec<_> = pd
        .iter()
        .map(|(_, b, _)| b["event_action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(actions, ["trigger", "resolve"]);
    assert_eq!(pd[0].1["dedup_key"], pd[1].1["dedup_key"]);
    assert_eq!(pd[1].1["routing_key"], "R0UTINGKEY0123456789abcdef012345");
}

#[tokio::test]
async fn retries_on_5xx_and_429_then_gives_up_without_leaking_the_url() {
    let (base, rec) = receiver().await;
    *rec.answers.lock().unwrap() = vec![500, 429, 200];
    let mut n = Notifiers::from_config(
        NotifyConfig::parse(
            "t.yaml",
            &format!("retry: {{attempts: 3, backoff: 5ms}}\ntargets:\n  - name: s\n    slack: {{webhook_url: \"{base}/slack/SECRETPATH\"}}\n"),
        )
        .unwrap(),
    )
    .unwrap();
    let d = n
        .send(&key(), &notice(NoticeKind::Started, Severity::Info))
        .await;
    assert_eq!((d[0].ok, d[0].attempts), (true, 3));

    // A receiver that is gone: connection refused on every attempt.
    let mut n = Notifiers::from_config(
        NotifyConfig::parse(
            "t.yaml",
            "retry: {attempts: 2, backoff: 5ms, timeout: 1s}\ntargets:\n  - name: s\n    slack: {webhook_url: \"http://127.0.0.1:9/services/SECRETPATH\"}\n",
        )
        .unwrap(),
    )
    .unwrap();
    let d = n
        .send(&key(), &notice(NoticeKind::RolledBack, Severity::Critical))
        .await;
    assert!(!d[0].ok);
    assert_eq!(d[0].attempts, 2);
    let err = d[0].error.clone().unwrap();
    assert!(!err.contains("SECRETPATH"), "{err}");

    // A 4xx is not retried.
    let (base, rec) = receiver().await;
    *rec.answers.lock().unwrap() = vec![400, 400, 400];
    let mut n = Notifiers::from_config(
        NotifyConfig::parse("t.yaml", &format!("retry: {{attempts: 3, backoff: 5ms}}\ntargets:\n  - name: s\n    slack: {{webhook_url: \"{base}/s\"}}\n")).unwrap(),
    )
    .unwrap();
    let d = n
        .send(&key(), &notice(NoticeKind::Started, Severity::Info))
        .await;
    assert_eq!((d[0].ok, d[0].attempts, d[0].status), (false, 1, Some(400)));
    assert_eq!(rec.got.lock().unwrap().len(), 1);
}

#[test]
fn config_errors_are_specific() {
    let e = NotifyConfig::parse("n.yaml", "targets:\n  - name: x\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("exactly one of `slack`, `pagerduty`, `webhook`"),
        "{e}"
    );
    let e = NotifyConfig::parse(
        "n.yaml",
        "targets:\n  - name: x\n    slak: {webhook_url: a}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("slak"), "{e}");
    let e = NotifyConfig::parse(
        "n.yaml",
        "targets:\n  - {name: a, slack: {webhook_url: hook-one}}\n  - {name: a, slack: {webhook_url: hook-two}}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("unique"), "{e}");
    let err = Notifiers::from_config(
        NotifyConfig::parse(
            "n.yaml",
            "targets:\n  - {name: a, slack: {webhook_url: {env: CANARYD_TEST_NOT_SET_123}}}\n",
        )
        .unwrap(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("CANARYD_TEST_NOT_SET_123") && err.contains("target a"),
        "{err}"
    );
}

#[tokio::test]
async fn outgoing_messages_are_redacted_by_the_notifier_itself() {
    let (base, rec) = receiver().await;
    let mut n = Notifiers::from_config(
        NotifyConfig::parse(
            "t.yaml",
            &format!("targets:\n  - name: s\n    slack: {{webhook_url: \"{base}/slack/T0/B0/zzSECRETzz\"}}\n  - name: w\n    webhook: {{url: \"{base}/hook\", secret: \"sign-key-77\"}}\n"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut leaky = notice(NoticeKind::Paused, Severity::Warning);
    leaky.facts = NoticeFacts::Worded {
        title: "payments/payment-api v2.4.2 rolled back".into(),
        text: "probe to https://ops:pa55word@10.0.0.7/healthz failed; hook was zzSECRETzz, key sign-key-77".into(),
    };
    let d = n.send(&key(), &leaky).await;
    assert!(d.iter().all(|d| d.ok), "{d:?}");
    let bodies: Vec<String> = rec
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert_eq!(bodies.len(), 2);
    for b in &bodies {
        assert!(
            !b.contains("pa55word") && !b.contains("zzSECRETzz") && !b.contains("sign-key-77"),
            "{b}"
        );
        assert!(b.contains("https://[REDACTED]@10.0.0.7/healthz"), "{b}");
    }
}
