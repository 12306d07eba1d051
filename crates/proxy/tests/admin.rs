//! The admin API's weight control: `GET|PUT /admin/weight`, with the access
//! rules of `AdminAccess`, against a real router in front of two sample apps.

mod common;

use canaryd_proxy::{AdminAccess, AdminToken};
use common::{call, empty, full, Answer, Rig};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

fn admin_url(rig: &Rig) -> String {
    format!("http://{}/admin/weight", rig.router.admin_addr().unwrap())
}

async fn admin(rig: &Rig, method: Method, body: &str, token: Option<&str>) -> Answer {
    let mut h = HeaderMap::new();
    if let Some(t) = token {
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
        );
    }
    let b = if body.is_empty() {
        empty()
    } else {
        full(body.to_string())
    };
    call(&rig.client, method, &admin_url(rig), b, h).await
}

fn json(a: &Answer) -> serde_json::Value {
    serde_json::from_slice(&a.body).unwrap_or_else(|e| panic!("{e}: {}", a.text()))
}

/// The version of the app each of `n` proxied requests reached.
async fn versions(rig: &Rig, n: usize) -> Vec<String> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(rig.get("/").await.version().to_string());
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_the_weight_is_readable_but_not_settable() {
    let rig = Rig::start().await;
    let a = admin(&rig, Method::GET, "", None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(json(&a), serde_json::json!({"weight": 0}));

    let a = admin(&rig, Method::PUT, r#"{"weight": 50}"#, None).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(json(&a)["error"].as_str().unwrap().contains("admin token"));
    assert_eq!(rig.router.weight(), 0);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_guards_both_methods_and_changes_take_effect() {
    let rig = Rig::start_with(|c| {
        c.admin_access = AdminAccess::Token(AdminToken::new("tok-123").unwrap());
    })
    .await;
    for (method, body) in [(Method::GET, ""), (Method::PUT, r#"{"weight": 100}"#)] {
        for token in [None, Some("tok-124"), Some("tok-12")] {
            let a = admin(&rig, method.clone(), body, token).await;
            assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{method} {token:?}");
            assert_eq!(a.headers["www-authenticate"], "Bearer");
        }
    }
    assert_eq!(rig.router.weight(), 0);

    let a = admin(&rig, Method::PUT, r#"{"weight": 100}"#, Some("tok-123")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(json(&a), serde_json::json!({"weight": 100}));
    assert_eq!(rig.router.weight(), 100);
    assert!(versions(&rig, 10).await.iter().all(|v| v == "v2"));

    let a = admin(&rig, Method::PUT, r#"{"weight": 0}"#, Some("tok-123")).await;
    assert_eq!(json(&a), serde_json::json!({"weight": 0}));
    assert!(versions(&rig, 10).await.iter().all(|v| v == "v1"));

    let a = admin(&rig, Method::GET, "", Some("tok-123")).await;
    assert_eq!(json(&a), serde_json::json!({"weight": 0}));
    // The rest of the admin listener stays open for scrapers.
    let m = call(
        &rig.client,
        Method::GET,
        &format!("http://{}/metrics", rig.router.admin_addr().unwrap()),
        empty(),
        HeaderMap::new(),
    )
    .await;
    assert_eq!(m.status, StatusCode::OK);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_specific_answers_and_change_nothing() {
    let rig = Rig::start_with(|c| {
        c.admin_access = AdminAccess::Open;
        c.initial_weight = 10;
    })
    .await;
    for (body, expected) in [
        (r#"{"weight": 101}"#, "out of range"),
        (r#"{"weight": -5}"#, "whole number"),
        (r#"{"weight": "50"}"#, "whole number"),
        (r#"{"canary": 50}"#, "unknown field `canary`"),
        ("{}", "missing field `weight`"),
        ("weight=50", "not JSON"),
    ] {
        let a = admin(&rig, Method::PUT, body, None).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}");
        let msg = json(&a)["error"].as_str().unwrap().to_string();
        assert!(msg.contains(expected), "{body}: {msg}");
    }
    let big = format!(r#"{{"weight": 5, "pad": "{}"}}"#, "x".repeat(4096));
    assert_eq!(
        admin(&rig, Method::PUT, &big, None).await.status,
        StatusCode::BAD_REQUEST
    );
    let a = admin(&rig, Method::DELETE, "", None).await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(a.headers["allow"], "GET, PUT");
    assert_eq!(rig.router.weight(), 10);

    // Open access: no token needed.
    let a = admin(&rig, Method::PUT, r#"{"weight": 35}"#, None).await;
    assert_eq!(json(&a), serde_json::json!({"weight": 35}));
    assert_eq!(rig.router.weight(), 35);
    rig.stop().await;
}
