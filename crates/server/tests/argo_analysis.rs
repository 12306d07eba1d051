//! The Argo Rollouts analysis endpoint over real HTTP, with requests shaped as
//! Argo's `web` metric provider sends them, against the real driver, core and
//! store, in virtual time.

mod argo_flagger_common;

use argo_flagger_common::*;
use canaryd_core::vocab::RolloutKey;
use canaryd_store::AuditKind;
use serde_json::json;
use std::time::Duration;

fn q(workload: &str) -> String {
    format!("workload={workload}&canary=c4n4ry&stable=st4bl3")
}

fn key(workload: &str) -> RolloutKey {
    RolloutKey::new(workload, "c4n4ry")
}

#[tokio::test(start_paused = true)]
async fn before_the_first_window_closes_the_answer_is_inconclusive_and_says_when() {
    let h = start(Some(TOKEN)).await;
    let (status, a) = h.argo_get(Some(TOKEN), &q("shop/healthy")).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["verdict"], "inconclusive");
    assert_eq!(a["healthy"], false);
    assert_eq!(a["score"], json!(null));
    assert_eq!(a["windows"], 0);
    assert!(
        a["reason"]
            .as_str()
            .unwrap()
            .contains("the first window closes at"),
        "{a}"
    );
    assert_eq!(argo_phase(&a), "Inconclusive");
    assert_eq!(h.service.watched(), vec![key("shop/healthy")]);
}

#[tokio::test(start_paused = true)]
async fn a_healthy_canary_is_healthy_with_score_and_safe_weight() {
    let h = start(Some(TOKEN)).await;
    h.argo_get(Some(TOKEN), &q("shop/healthy")).await;
    h.wait_windows(&key("shop/healthy"), 1).await;
    let (status, a) = h.argo_get(Some(TOKEN), &q("shop/healthy")).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["verdict"], "healthy", "{a}");
    assert_eq!(a["healthy"], true);
    assert_eq!(a["score"], 100);
    assert_eq!(a["weight"], 10, "slo-ratio's first step");
    assert_eq!(a["window_verdict"], "healthy");
    assert_eq!(a["stable"], "st4bl3");
    assert!(a["as_of"].as_str().unwrap().ends_with('Z'), "{a}");
    assert_eq!(argo_phase(&a), "Successful");

    // Two healthy windows complete the first step: the safe weight follows the ladder.
    h.wait_windows(&key("shop/healthy"), 2).await;
    let (_, a) = h.argo_get(Some(TOKEN), &q("shop/healthy")).await;
    assert_eq!(a["weight"], 25, "{a}");
}

#[tokio::test(start_paused = true)]
async fn one_bad_window_is_not_a_failure_two_in_a_row_are() {
    let h = start(Some(TOKEN)).await;
    h.argo_get(Some(TOKEN), &q("shop/breach")).await;
    h.wait_windows(&key("shop/breach"), 1).await;
    let (status, a) = h.argo_get(Some(TOKEN), &q("shop/breach")).await;
    assert_eq!(status, 200);
    assert_eq!(a["verdict"], "inconclusive", "{a}");
    assert_eq!(a["window_verdict"], "breach");
    assert!(
        a["reason"].as_str().unwrap().contains("not yet sustained"),
        "{a}"
    );
    assert_eq!(a["evidence"][0]["rule"], "error_rate-ratio", "{a}");
    assert_eq!(argo_phase(&a), "Inconclusive");

    h.wait_windows(&key("shop/breach"), 2).await;
    let (_, a) = h.argo_get(Some(TOKEN), &q("shop/breach")).await;
    assert_eq!(a["verdict"], "breach", "{a}");
    assert_eq!(a["healthy"], false);
    assert_eq!(a["phase"], "rolled_back");
    assert_eq!(a["weight"], 0);
    assert_eq!(a["score"], 50, "one of the two rules breached");
    assert!(a["reason"].as_str().unwrap().contains("#1, #2"), "{a}");
    assert_eq!(a["evidence"][0]["metric"], "error_rate", "{a}");
    assert_eq!(argo_phase(&a), "Failed");
}

#[tokio::test(start_paused = true)]
async fn no_data_is_never_a_success() {
    let h = start(Some(TOKEN)).await;
    h.argo_get(Some(TOKEN), &q("shop/nodata")).await;
    // Past the policy's 3 extensions: the rollout pauses for lack of data.
    for n in 1..=5 {
        h.wait_windows(&key("shop/nodata"), n).await;
        let (status, a) = h.argo_get(Some(TOKEN), &q("shop/nodata")).await;
        assert_eq!(status, 200);
        assert_eq!(a["verdict"], "inconclusive", "window {n}: {a}");
        assert_eq!(a["healthy"], false);
        assert_eq!(
            a["score"],
            json!(null),
            "no data is no score, not a low one"
        );
        assert_eq!(argo_phase(&a), "Inconclusive");
    }
    let (_, a) = h.argo_get(Some(TOKEN), &q("shop/nodata")).await;
    assert_eq!(a["phase"], "paused", "{a}");
    assert!(
        a["reason"].as_str().unwrap().contains("matched no series"),
        "{a}"
    );
}

#[tokio::test(start_paused = true)]
async fn collector_trouble_is_unreliable_never_breach() {
    let h = start(Some(TOKEN)).await;
    h.argo_get(Some(TOKEN), &q("shop/trouble")).await;
    for n in 1..=4 {
        h.wait_windows(&key("shop/trouble"), n).await;
        let (status, a) = h.argo_get(Some(TOKEN), &q("shop/trouble")).await;
        assert_eq!(status, 200);
        assert_eq!(a["verdict"], "unreliable", "window {n}: {a}");
        assert_eq!(argo_phase(&a), "Inconclusive");
        assert!(
            a["reason"].as_str().unwrap().contains("connection refused"),
            "{a}"
        );
    }
    // Every window was audited as unreliable; none as a breach.
    let windows = h.audit(AuditKind::WindowVerdict);
    assert!(windows.len() >= 4);
    for w in &windows {
        assert_eq!(w.workload, "shop/trouble");
        assert_eq!(
            w.payload["judgement"]["verdict"], "unreliable",
            "{}",
            w.payload
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_source_that_cannot_be_built_is_unreliable_and_retried() {
    let h = start(Some(TOKEN)).await;
    let k = RolloutKey::new("shop/unknown", "c4n4ry");
    h.argo_get(Some(TOKEN), &q("shop/unknown")).await;
    for _ in 0..100 {
        if h.service.peek(&k, |s| s.trouble.is_some()).unwrap() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, a) = h.argo_get(Some(TOKEN), &q("shop/unknown")).await;
    assert_eq!(status, 200);
    assert_eq!(a["verdict"], "unreliable", "{a}");
    assert!(a["reason"]
        .as_str()
        .unwrap()
        .contains("no Prometheus query configured"));
}

#[tokio::test(start_paused = true)]
async fn post_with_json_body_or_string_body_gives_the_same_answer() {
    let h = start(Some(TOKEN)).await;
    let body = r#"{"workload":"shop/healthy","canary":"c4n4ry","stable":"st4bl3"}"#;
    h.argo_post(Some(TOKEN), body, true).await;
    h.wait_windows(&key("shop/healthy"), 1).await;
    let (s1, a1) = h.argo_post(Some(TOKEN), body, true).await;
    let (s2, a2) = h.argo_post(Some(TOKEN), body, false).await;
    let (s3, a3) = h.argo_get(Some(TOKEN), &q("shop/healthy")).await;
    assert_eq!((s1, s2, s3), (200, 200, 200));
    assert_eq!(a1["verdict"], "healthy");
    assert_eq!(a1, a2);
    assert_eq!(a1, a3);
}

#[tokio::test(start_paused = true)]
async fn without_the_right_token_nothing_is_watched() {
    let h = start(Some(TOKEN)).await;
    for token in [None, Some("wrong"), Some("integration-token-7c1")] {
        let (status, body) = h.argo_get(token, &q("shop/healthy")).await;
        assert_eq!(status, 401, "{token:?}: {body}");
        assert!(body["error"].as_str().unwrap().contains("token"));
    }
    assert!(h.service.watched().is_empty());

    let closed = start(None).await;
    let (status, body) = closed.argo_get(Some(TOKEN), &q("shop/healthy")).await;
    assert_eq!(status, 401);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("no integration token"));
}

#[tokio::test(start_paused = true)]
async fn bad_questions_are_named() {
    let h = start(Some(TOKEN)).await;
    let cases = [
        ("workload=shop/healthy&canary=c4n4ry", "stable"),
        (
            "workload=shop/healthy&canary=c4n4ry&stable=st4bl3&weight=5",
            "weight",
        ),
        (
            "workload=shop/healthy&canary={{args.canary-hash}}&stable=st4bl3",
            "placeholder",
        ),
        (
            "workload=shop/healthy&canary=c4n4ry&stable=c4n4ry",
            "same revision",
        ),
        (
            "workload=&canary=c4n4ry&stable=st4bl3",
            "`workload` is empty",
        ),
    ];
    for (query, expect) in cases {
        let (status, body) = h.argo_get(Some(TOKEN), query).await;
        assert_eq!(status, 400, "{query}: {body}");
        let msg = body["error"].as_str().unwrap();
        assert!(msg.contains(expect), "{query}: {msg}");
    }
    let (status, body) = h.argo_post(Some(TOKEN), "not json", true).await;
    assert_eq!(status, 400);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("POST a JSON object"));
    assert!(
        h.service.watched().is_empty(),
        "a bad question starts nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn idle_pairs_expire_and_resume_from_the_store() {
    let h = start(Some(TOKEN)).await;
    let k = key("shop/healthy");
    h.argo_get(Some(TOKEN), &q("shop/healthy")).await;
    h.wait_windows(&k, 1).await;
    assert!(h.registry.get(&k).is_some(), "the operator API reaches it");
    assert!(h.service.expire_idle().is_empty(), "asked recently");

    tokio::time::sleep(h.service.config().idle_expiry).await;
    assert_eq!(h.service.expire_idle(), vec![k.clone()]);
    assert!(h.service.watched().is_empty());
    assert!(h.registry.get(&k).is_none());

    // Asked again: the rollout continues where the store left it.
    let (_, a) = h.argo_get(Some(TOKEN), &q("shop/healthy")).await;
    assert_eq!(a["verdict"], "inconclusive", "{a}");
    h.wait_started(&k).await;
    let resumed = h.service.peek(&k, |s| s.state.clone()).unwrap().unwrap();
    assert!(resumed.windows >= 1, "kept its windows: {resumed:?}");
}

#[tokio::test(start_paused = true)]
async fn past_the_watch_limit_new_pairs_are_refused_with_503() {
    let h = start_with(Some(TOKEN), |c| c.max_watches = 1).await;
    let (status, _) = h.argo_get(Some(TOKEN), &q("shop/healthy")).await;
    assert_eq!(status, 200);
    let (status, body) = h.argo_get(Some(TOKEN), &q("shop/breach")).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("max_watches"),
        "{body}"
    );
    // Argo counts a 503 as a measurement error, never as a success.
    let (status, _) = h.argo_get(Some(TOKEN), &q("shop/healthy")).await;
    assert_eq!(status, 200, "the watched pair is still answered");
}
