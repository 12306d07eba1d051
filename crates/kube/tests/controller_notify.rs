//! `spec.notify`: the controller reads the Secrets each channel names and
//! sends every transition there as well as to Kubernetes Events; a missing
//! Secret is a `NotifyReady=False` condition, never a reason to hold the
//! rollout (Events still tell the story).

mod support;

use serde_json::{json, Value};
use support::canary::*;

const SECRET: &str = "/api/v1/namespaces/shop/secrets/chat";

fn notify_spec() -> Value {
    let mut spec = pair_spec();
    spec["notify"] = json!([{"slackWebhookUrl": {"name": "chat", "key": "url"}}]);
    spec
}

fn secret() -> Value {
    // "https://hooks.slack.example/T0/B0/XYZ", base64.
    json!({"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": "chat", "namespace": "shop"},
           "data": {"url": "aHR0cHM6Ly9ob29rcy5zbGFjay5leGFtcGxlL1QwL0IwL1hZWg=="}})
}

fn condition<'a>(status: &'a Value, kind: &str) -> &'a Value {
    status["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == kind))
        .unwrap_or_else(|| panic!("no {kind} condition in {status}"))
}

/// Reconcile 1: observe the pair, read the Secret, start at 10%.
async fn start(server: &mut support::ApiServer, secret_answer: Option<Value>) -> Value {
    server.serve_pair("web:2", 0).await;
    let get = server.expect("GET", SECRET).await;
    match secret_answer {
        Some(s) => get.ok(s),
        None => get.fail(404, "NotFound"),
    }
    server.serve_pair("web:2", 0).await;
    let scale = server
        .expect("PATCH", &format!("{DEPLOYS}/web-canary"))
        .await;
    assert_eq!(scale.body[1]["value"], 1, "the rollout starts either way");
    scale.ok(deployment("web-canary", "canary", "web:2", 1, "8", 2));
    server.events(&["RolloutStarted"], "Deployment").await;
    let patch = server.expect("PATCH", CANARY_STATUS).await;
    let body = patch.body.clone();
    patch.ok(canary_json(notify_spec(), &body));
    body
}

#[tokio::test(start_paused = true)]
async fn transitions_go_to_the_channels_spec_notify_names() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let script = Script::new(&[]);
    let c = canary(notify_spec(), None);
    let (outcome, status) = reconcile_against(&c, &db, &script, T0, async |s| {
        start(s, Some(secret())).await
    })
    .await;
    outcome.unwrap();
    assert_eq!(condition(&status, "NotifyReady")["status"], "True");
    let s = script.0.lock().unwrap();
    assert_eq!(
        s.channel_targets,
        vec!["slack https://hooks.slack.example/T0/B0/XYZ".to_string()]
    );
    assert_eq!(s.channel_notices.len(), 1, "{:?}", s.channel_notices);
    assert!(
        s.channel_notices[0].starts_with("Started"),
        "{:?}",
        s.channel_notices
    );
    // The webhook URL is a credential: it is in no status the API server saw.
    assert!(!status.to_string().contains("hooks.slack.example"));
}

#[tokio::test(start_paused = true)]
async fn a_missing_notify_secret_is_a_condition_and_the_rollout_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let script = Script::new(&[]);
    let c = canary(notify_spec(), None);
    let (outcome, status) = reconcile_against(&c, &db, &script, T0, async |server| {
        let status = start(server, None).await;
        // ... and a Warning Event on the Canary says what is wrong.
        let warn = server.expect("POST", EVENTS).await;
        assert_eq!(warn.body["type"], "Warning", "{}", warn.body);
        assert!(
            warn.body["note"]
                .as_str()
                .unwrap_or_default()
                .contains("chat"),
            "{}",
            warn.body
        );
        let body = warn.body.clone();
        warn.respond(201, body);
        status
    })
    .await;
    outcome.unwrap();
    let c = condition(&status, "NotifyReady");
    assert_eq!(c["status"], "False");
    assert_eq!(c["reason"], "SecretNotFound");
    assert!(c["message"].as_str().unwrap().contains("chat"), "{c}");
    assert_eq!(status["status"]["phase"], "ramping");
    assert!(script.0.lock().unwrap().channel_notices.is_empty());
}
