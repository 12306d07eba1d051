//! Flagger's webhooks over real HTTP, with payloads and headers as Flagger
//! sends them, against the real driver, core and store, in virtual time.
//! Flagger treats a status ≤ 202 as "yes"; everything else makes it wait
//! (or, for `rollback`, not roll back).

mod argo_flagger_common;

use argo_flagger_common::*;
use canaryd_core::vocab::RolloutKey;
use canaryd_store::AuditKind;
use serde_json::json;

const SUM: &str = "7d9f5c6b8";

fn key(name: &str) -> RolloutKey {
    RolloutKey::new(format!("shop/{name}"), SUM)
}

fn yes(status: u16) -> bool {
    status <= 202
}

#[tokio::test(start_paused = true)]
async fn confirm_rollout_opens_once_the_baseline_gate_passes() {
    let h = start(Some(TOKEN)).await;
    let body = flagger_payload("healthy", "Progressing", SUM, Some(TOKEN));
    let (status, first) = h.flagger("confirm-rollout", &body).await;
    assert_eq!(status, 403, "first call only starts watching: {first}");
    assert!(first["reason"]
        .as_str()
        .unwrap()
        .contains("checking the stable baseline"));
    h.wait_started(&key("healthy")).await;
    let (status, b) = h.flagger("confirm-rollout", &body).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["allowed"], true);
    assert!(b["reason"].as_str().unwrap().contains("baseline passed"));

    let audited = h.audit(AuditKind::Decision);
    let flagger: Vec<_> = audited
        .iter()
        .filter(|e| e.payload["by"] == "flagger")
        .collect();
    assert_eq!(flagger.len(), 2, "both answers audited");
    assert_eq!(flagger[1].payload["webhook"], "confirm-rollout");
    assert_eq!(flagger[1].payload["allowed"], true);
    assert_eq!(flagger[1].workload, "shop/healthy");
    assert_eq!(flagger[1].revision, SUM);
    for e in &flagger {
        assert!(
            !e.payload.to_string().contains(TOKEN),
            "the metadata token never reaches the audit log"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn without_a_baseline_flagger_waits_until_an_operator_approves() {
    let h = start(Some(TOKEN)).await;
    let body = flagger_payload("new", "Progressing", SUM, Some(TOKEN));
    h.flagger("confirm-rollout", &body).await;
    h.wait_started(&key("new")).await;
    let (status, b) = h.flagger("confirm-rollout", &body).await;
    assert_eq!(status, 403, "{b}");
    let reason = b["reason"].as_str().unwrap();
    assert!(
        reason.contains("no baseline") && reason.contains("canaryd approve"),
        "{reason}"
    );

    // The operator API reaches the watched rollout.
    let approve = json!({"workload": "shop/new", "revision": SUM, "action": "approve",
                         "by": "alice", "reason": "new service, reviewed"});
    let r = h
        .http
        .post(format!("{}/api/v1/commands", h.base))
        .bearer_auth("operator-token")
        .json(&approve)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    let (status, b) = h.flagger("confirm-rollout", &body).await;
    assert_eq!(status, 200, "{b}");
    assert!(b["reason"].as_str().unwrap().contains("approved by alice"));
    let approvals = h.audit(AuditKind::Approval);
    assert_eq!(approvals[0].payload["command"]["by"], "alice");
}

#[tokio::test(start_paused = true)]
async fn rollback_is_answered_yes_only_on_a_sustained_breach() {
    let h = start(Some(TOKEN)).await;
    let body = flagger_payload("breach", "Progressing", SUM, Some(TOKEN));
    let (status, _) = h.flagger("rollback", &body).await;
    assert!(!yes(status));
    h.wait_windows(&key("breach"), 1).await;
    let (status, b) = h.flagger("rollback", &body).await;
    assert_eq!(status, 403, "one bad window is not a rollback: {b}");
    let (status, _) = h.flagger("confirm-traffic-increase", &body).await;
    assert_eq!(status, 403, "nor a reason to add traffic");

    h.wait_windows(&key("breach"), 2).await;
    let (status, b) = h.flagger("rollback", &body).await;
    assert_eq!(status, 200, "{b}");
    assert!(b["reason"].as_str().unwrap().contains("sustained breach"));
    assert_eq!(b["analysis"]["evidence"][0]["metric"], "error_rate");
    let (status, _) = h.flagger("confirm-promotion", &body).await;
    assert_eq!(status, 403);
}

#[tokio::test(start_paused = true)]
async fn collector_trouble_never_triggers_a_rollback_or_a_promotion() {
    let h = start(Some(TOKEN)).await;
    let body = flagger_payload("trouble", "Progressing", SUM, Some(TOKEN));
    h.flagger("rollback", &body).await;
    for n in 1..=5 {
        h.wait_windows(&key("trouble"), n).await;
        for hook in ["rollback", "confirm-promotion", "confirm-traffic-increase"] {
            let (status, b) = h.flagger(hook, &body).await;
            assert_eq!(status, 403, "window {n}, {hook}: {b}");
            assert_eq!(b["analysis"]["verdict"], "unreliable");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn no_data_never_confirms_anything() {
    let h = start(Some(TOKEN)).await;
    let body = flagger_payload("nodata", "Progressing", SUM, Some(TOKEN));
    h.flagger("confirm-rollout", &body).await;
    for n in 1..=5 {
        h.wait_windows(&key("nodata"), n).await;
        for hook in ["confirm-traffic-increase", "confirm-promotion", "rollback"] {
            let (status, b) = h.flagger(hook, &body).await;
            assert_eq!(status, 403, "window {n}, {hook}: {b}");
            assert_eq!(b["analysis"]["verdict"], "inconclusive");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_healthy_canary_is_confirmed_and_not_rolled_back() {
    let h = start(Some(TOKEN)).await;
    let body = flagger_payload("healthy", "Progressing", SUM, Some(TOKEN));
    h.flagger("confirm-traffic-increase", &body).await;
    h.wait_windows(&key("healthy"), 1).await;
    let (status, b) = h.flagger("confirm-traffic-increase", &body).await;
    assert_eq!(status, 200, "{b}");
    let promo = flagger_payload("healthy", "WaitingPromotion", SUM, Some(TOKEN));
    let (status, _) = h.flagger("confirm-promotion", &promo).await;
    assert_eq!(status, 200);
    let (status, _) = h.flagger("rollback", &body).await;
    assert_eq!(status, 403);
}

#[tokio::test(start_paused = true)]
async fn garbled_payloads_are_400_and_never_a_rollback() {
    let h = start(Some(TOKEN)).await;
    let cases = [
        // An unreadable body carries no metadata token: 401 without a header.
        ("{\"name\":", "not a Flagger webhook payload", 401),
        (
            r#"{"namespace":"shop","phase":"Progressing","checksum":"x"}"#,
            "missing field `name`",
            401,
        ),
        (
            &flagger_payload("breach", "Exploding", SUM, Some(TOKEN)) as &str,
            "unknown phase `Exploding`",
            400,
        ),
        (
            &flagger_payload("breach", "Progressing", "", Some(TOKEN)),
            "no `checksum`",
            400,
        ),
        (
            &flagger_payload("", "Progressing", SUM, Some(TOKEN)),
            "`name` is empty",
            400,
        ),
    ];
    for (body, expect, without_header) in cases {
        for hook in ["rollback", "confirm-rollout"] {
            let (status, b) = h.flagger_bearer(hook, body).await;
            assert_eq!(status, 400, "{hook} {body}: {b}");
            let msg = b["error"].as_str().unwrap();
            assert!(msg.contains(expect), "{hook} {body}: {msg}");
        }
        let (status, b) = h.flagger("rollback", body).await;
        assert_eq!(status, without_header, "{body}: {b}");
        assert!(!yes(status));
    }
    assert!(h.service.watched().is_empty(), "nothing started");
}

#[tokio::test(start_paused = true)]
async fn the_token_is_needed_in_metadata_or_header() {
    let h = start(Some(TOKEN)).await;
    for token in [None, Some("wrong")] {
        let (status, b) = h
            .flagger(
                "confirm-rollout",
                &flagger_payload("healthy", "Progressing", SUM, token),
            )
            .await;
        assert_eq!(status, 401, "{b}");
    }
    assert!(h.service.watched().is_empty());
    let (status, b) = h
        .flagger_bearer(
            "confirm-rollout",
            &flagger_payload("healthy", "Progressing", SUM, None),
        )
        .await;
    assert_eq!(
        status, 403,
        "authenticated by header; gate still closed: {b}"
    );
    assert_eq!(h.service.watched(), vec![key("healthy")]);
}

#[tokio::test(start_paused = true)]
async fn events_are_audited_without_the_token() {
    let h = start(Some(TOKEN)).await;
    let body = format!(
        r#"{{"name":"healthy","namespace":"shop","phase":"Progressing","checksum":"{SUM}","metadata":{{"eventMessage":"Advance healthy.shop canary weight 10","eventType":"Normal","timestamp":"1700000000000","token":"{TOKEN}"}}}}"#
    );
    let (status, b) = h.flagger("event", &body).await;
    assert_eq!(status, 200, "{b}");
    let events = h.audit(AuditKind::Notification);
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(
        (e.workload.as_str(), e.revision.as_str()),
        ("shop/healthy", SUM)
    );
    assert_eq!(e.payload["from"], "flagger");
    assert_eq!(
        e.payload["message"],
        "Advance healthy.shop canary weight 10"
    );
    assert_eq!(e.payload["event_type"], "Normal");
    assert!(!e.payload.to_string().contains(TOKEN));
    assert!(h.service.watched().is_empty(), "an event starts no watch");
}

/// Flagger's `eventMessage` is free text a user's templates fill in; when it
/// quotes the webhook's metadata, the integration token rode inside it and
/// `serve` stored it verbatim in the append-only audit chain (issue 16).
/// Before the fix, the raw database file held the token.
#[tokio::test(start_paused = true)]
async fn a_token_quoted_inside_an_event_message_never_reaches_the_database() {
    let h = start(Some(TOKEN)).await;
    let body = format!(
        r#"{{"name":"healthy","namespace":"shop","phase":"Progressing","checksum":"{SUM}","metadata":{{"eventMessage":"webhook called with token={TOKEN} and Bearer {TOKEN}","eventType":"Normal","api_password":"pw-0f9e8d7c6b5a","token":"{TOKEN}"}}}}"#
    );
    let (status, b) = h.flagger("event", &body).await;
    assert_eq!(status, 200, "{b}");
    let events = h.audit(AuditKind::Notification);
    assert_eq!(events.len(), 1);
    let message = events[0].payload["message"].as_str().unwrap().to_string();
    assert!(
        message.starts_with("webhook called with token="),
        "{message}"
    );
    assert!(message.contains("[REDACTED]"), "{message}");
    let raw = std::fs::read(&h.db).unwrap();
    let raw = String::from_utf8_lossy(&raw);
    assert!(!raw.contains(TOKEN), "the token is in the database file");
    assert!(
        !raw.contains("pw-0f9e8d7c6b5a"),
        "a credential-named key's value is in the database file"
    );
}
