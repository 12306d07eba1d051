//! What the controller refuses to do: act on an invalid policy, write as a
//! follower, give up on a conflicting status write, or start without the
//! Secret its metrics source needs.

mod support;

use canaryd_kube::controller::{reconcile_canary, ReconcileResult};
use serde_json::json;
use std::time::Duration;
use support::canary::*;
use support::mock_client;

fn bad_policy_spec() -> serde_json::Value {
    json!({"target": {"stable": "web", "canary": "web-canary"},
           "policy": {"inline": POLICY.replace("{weight: 10,", "{weight: 150,")}})
}

#[tokio::test(start_paused = true)]
async fn an_invalid_policy_sets_policy_valid_false_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        // No read of the Deployments, no router call: only the status and one Warning.
        let patch = server.expect("PATCH", CANARY_STATUS).await;
        let conditions = patch.body["status"]["conditions"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(conditions.len(), 1, "{conditions:?}");
        let c = &conditions[0];
        assert_eq!(c["type"], "PolicyValid");
        assert_eq!(c["status"], "False");
        assert_eq!(c["reason"], "InvalidPolicy");
        let message = c["message"].as_str().unwrap();
        // The parser's located message: the source, the line, the field.
        assert_eq!(
            message,
            "spec.policy.inline:4:14: ladder[0].weight: 150 is out of range; \
             a weight is the canary's percentage of traffic, 1..=100"
        );
        assert_eq!(patch.body["status"]["observedGeneration"], 2);
        let body = patch.body.clone();
        patch.ok(canary_json(bad_policy_spec(), &body));
        let event = server.expect("POST", EVENTS).await;
        assert_eq!(event.body["type"], "Warning");
        assert_eq!(event.body["reason"], "InvalidPolicy");
        assert_eq!(event.body["regarding"]["kind"], "Canary");
        let b = event.body.clone();
        event.respond(201, b);
        server.done().await;
        body
    });
    let script = Script::new(&[]);
    let ctx = context(client, &dir.path().join("c.db"), &script, T0, true);
    let outcome = reconcile_canary(&canary(bad_policy_spec(), None), &ctx)
        .await
        .unwrap();
    drop(ctx);
    let status = api.await.unwrap();
    assert_eq!(
        outcome.requeue_after, None,
        "an inline fix is a spec change"
    );
    assert_eq!(script.built(), 0, "no metrics source for an invalid policy");

    // The same problem seen again: no second status write, no second Event.
    let (client, server) = mock_client();
    let api = tokio::spawn(server.done());
    let ctx = context(client, &dir.path().join("c.db"), &script, T0 + 1_000, true);
    let again = reconcile_canary(
        &canary(bad_policy_spec(), Some(status["status"].clone())),
        &ctx,
    )
    .await
    .unwrap();
    drop(ctx);
    api.await.unwrap();
    assert_eq!(again.status, None);
}

#[tokio::test(start_paused = true)]
async fn a_follower_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (client, server) = mock_client();
    let api = tokio::spawn(server.done());
    let script = Script::new(&[]);
    let ctx = context(client, &dir.path().join("c.db"), &script, T0, false);
    let outcome = reconcile_canary(&canary(pair_spec(), None), &ctx)
        .await
        .unwrap();
    assert_eq!(outcome.status, None);
    assert_eq!(
        outcome.requeue_after, None,
        "taking the Lease reconciles everything"
    );
    assert_eq!(ctx.metrics.reconciles(ReconcileResult::Skipped), 1);
    assert_eq!(ctx.metrics.reconciles(ReconcileResult::Ok), 0);
    drop(ctx);
    api.await.unwrap();
    assert!(
        !dir.path().join("c.db").exists(),
        "a follower does not even open the store"
    );
}

#[tokio::test(start_paused = true)]
async fn a_conflicting_status_write_is_read_again_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server
            .expect("PATCH", CANARY_STATUS)
            .await
            .fail(409, "Conflict");
        // Someone else set a condition meanwhile: it must survive our write.
        let other = json!({"conditions": [{"type": "Reviewed", "status": "True", "reason": "ByHand",
            "message": "looked at it", "lastTransitionTime": "2025-12-31T00:00:00Z"}]});
        server
            .expect(
                "GET",
                "/apis/canaryd.io/v1alpha1/namespaces/shop/canaries/web",
            )
            .await
            .ok(canary_json(bad_policy_spec(), &json!({"status": other})));
        let patch = server.expect("PATCH", CANARY_STATUS).await;
        let types: Vec<_> = patch.body["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(types, ["Reviewed", "PolicyValid"]);
        let body = patch.body.clone();
        patch.ok(canary_json(bad_policy_spec(), &body));
        let event = server.expect("POST", EVENTS).await;
        let b = event.body.clone();
        event.respond(201, b);
        server.done().await;
    });
    let script = Script::new(&[]);
    let ctx = context(client, &dir.path().join("c.db"), &script, T0, true);
    let outcome = reconcile_canary(&canary(bad_policy_spec(), None), &ctx)
        .await
        .unwrap();
    drop(ctx);
    api.await.unwrap();
    assert!(outcome.status.is_some());
}

#[tokio::test(start_paused = true)]
async fn a_missing_secret_holds_the_start_with_a_condition() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = pair_spec();
    spec["metrics"] = json!({"prometheus": {"address": "http://prometheus:9090",
        "bearerToken": {"name": "prom", "key": "token"}}});
    let s = spec.clone();
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server.serve_pair("web:2", 0).await;
        server
            .expect("GET", "/api/v1/namespaces/shop/secrets/prom")
            .await
            .fail(404, "NotFound");
        let patch = server.expect("PATCH", CANARY_STATUS).await;
        let c = patch.body["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "MetricsReady")
            .unwrap()
            .clone();
        assert_eq!(
            (c["status"].as_str(), c["reason"].as_str()),
            (Some("False"), Some("SecretNotFound"))
        );
        assert!(
            c["message"]
                .as_str()
                .unwrap()
                .contains("Secret shop/prom not found"),
            "{c}"
        );
        assert!(patch.body["status"]["phase"].is_null(), "nothing started");
        let body = patch.body.clone();
        patch.ok(canary_json(s, &body));
        let event = server.expect("POST", EVENTS).await;
        assert_eq!(event.body["reason"], "SecretNotFound");
        let b = event.body.clone();
        event.respond(201, b);
        server.done().await;
    });
    let script = Script::new(&[]);
    let ctx = context(client, &dir.path().join("c.db"), &script, T0, true);
    let outcome = reconcile_canary(&canary(spec, None), &ctx).await.unwrap();
    drop(ctx);
    api.await.unwrap();
    assert_eq!(outcome.requeue_after, Some(Duration::from_secs(60)));
    assert_eq!(script.built(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_missing_target_is_a_condition_and_a_retry() {
    let dir = tempfile::tempdir().unwrap();
    let (client, mut server) = mock_client();
    let api = tokio::spawn(async move {
        server
            .expect("GET", &format!("{DEPLOYS}/web"))
            .await
            .fail(404, "NotFound");
        let patch = server.expect("PATCH", CANARY_STATUS).await;
        let found = patch.body["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "TargetFound")
            .unwrap()
            .clone();
        assert_eq!(found["status"], "False");
        assert!(found["message"]
            .as_str()
            .unwrap()
            .contains("Deployment shop/web not found"));
        let body = patch.body.clone();
        patch.ok(canary_json(pair_spec(), &body));
        let event = server.expect("POST", EVENTS).await;
        assert_eq!(event.body["reason"], "TargetNotFound");
        let b = event.body.clone();
        event.respond(201, b);
        server.done().await;
    });
    let script = Script::new(&[]);
    let ctx = context(client, &dir.path().join("c.db"), &script, T0, true);
    let outcome = reconcile_canary(&canary(pair_spec(), None), &ctx)
        .await
        .unwrap();
    drop(ctx);
    api.await.unwrap();
    assert_eq!(outcome.requeue_after, Some(Duration::from_secs(30)));
}
