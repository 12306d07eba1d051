//! The weighted split over real sockets: proportions, exact zero, rollback
//! finality under load, stickiness, and the driver's `TrafficRouter` view.

mod common;

use canaryd_core::vocab::{Cohort, RolloutKey};
use canaryd_ports::TrafficRouter;
use canaryd_proxy::Stickiness;
use canaryd_sim::load::{self, LoadConfig};
use common::{call, empty, wait_until, Rig};
use http::{HeaderMap, HeaderValue, Method};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weight_splits_within_binomial_tolerance() {
    let rig = Rig::start().await;
    rig.router.set_weight(30).unwrap();
    let n = 2000u64;
    let mut canary = 0u64;
    for _ in 0..n {
        let a = rig.get("/pay").await;
        assert_eq!(a.status, 200);
        if a.version() == "v2" {
            canary += 1;
        }
    }
    // Binomial(2000, 0.3): mean 600, sd 20.5; ±5 sd.
    assert!((497..=703).contains(&canary), "canary got {canary} of {n}");
    assert_eq!(rig.router.canary_requests(), canary);
    assert_eq!(rig.canary.requests_received(), canary);
    assert_eq!(rig.stable.requests_received(), n - canary);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weight_zero_sends_nothing_and_hundred_everything() {
    let rig = Rig::start().await;
    for _ in 0..300 {
        assert_eq!(rig.get("/items/7").await.version(), "v1");
    }
    assert_eq!(rig.canary.requests_received(), 0);
    assert_eq!(rig.router.canary_requests(), 0);
    rig.router.promote();
    assert_eq!(rig.router.weight(), 100);
    for _ in 0..300 {
        assert_eq!(rig.get("/items/7").await.version(), "v2");
    }
    assert_eq!(rig.stable.requests_received(), 300);
    assert!(rig.router.set_weight(101).is_err());
    assert_eq!(rig.router.weight(), 100);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_roll_back_returns_no_new_request_reaches_the_canary() {
    let rig = Rig::start().await;
    rig.router.set_weight(50).unwrap();
    let mut cfg = LoadConfig::new(rig.router.url(), 400.0, Duration::from_secs(30));
    cfg.max_in_flight = 200;
    let load = load::start(cfg).unwrap();
    let canary = rig.canary.clone();
    wait_until("canary serving", move || canary.requests_received() >= 100).await;

    let changed_before = rig.router.weight_changed_at();
    rig.router.roll_back();
    let at_rollback = rig.router.canary_requests();
    assert_eq!(rig.router.weight(), 0);
    assert!(rig.router.weight_changed_at() > changed_before);

    // Load continues: 600 more requests reach stable.
    let stable = rig.stable.clone();
    let target = stable.requests_received() + 600;
    wait_until("stable takes the load", move || {
        stable.requests_received() >= target
    })
    .await;
    let report = load.stop().await;
    assert!(report.counters.sent > 700, "{report}");
    let total = rig.router.dispatched(Cohort::Canary) + rig.router.dispatched(Cohort::Baseline);
    rig.settle(total).await;

    assert_eq!(
        rig.router.canary_requests(),
        at_rollback,
        "router sent to canary after roll_back"
    );
    assert_eq!(
        rig.canary.requests_received(),
        at_rollback,
        "canary received a request sent after roll_back"
    );
    assert!(rig.router.last_canary_request_at() <= rig.router.weight_changed_at());
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sticky_header_and_cookie_keep_a_client_on_one_side() {
    for sticky in [
        Stickiness::Header("x-user".parse().unwrap()),
        Stickiness::Cookie("session".into()),
    ] {
        let rig = Rig::start_with(|c| c.stickiness = Some(sticky.clone())).await;
        rig.router.set_weight(50).unwrap();
        let mut sides = std::collections::BTreeSet::new();
        for user in 0..40 {
            let mut h = HeaderMap::new();
            match &sticky {
                Stickiness::Header(n) => {
                    h.insert(
                        n.clone(),
                        HeaderValue::from_str(&format!("user-{user}")).unwrap(),
                    );
                }
                Stickiness::Cookie(n) => {
                    h.insert(
                        "cookie",
                        HeaderValue::from_str(&format!("a=b; {n}=user-{user}")).unwrap(),
                    );
                }
            }
            let first = call(
                &rig.client,
                Method::GET,
                &rig.url("/pay"),
                empty(),
                h.clone(),
            )
            .await;
            for _ in 0..5 {
                let again = call(
                    &rig.client,
                    Method::GET,
                    &rig.url("/pay"),
                    empty(),
                    h.clone(),
                )
                .await;
                assert_eq!(
                    again.version(),
                    first.version(),
                    "user-{user} switched sides ({sticky:?})"
                );
            }
            sides.insert(first.version().to_string());
        }
        // 40 users at 50%: both sides are used (P(all one side) = 2^-39).
        assert_eq!(sides.len(), 2, "{sticky:?}");
        rig.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handle_is_an_idempotent_traffic_router() {
    let rig = Rig::start().await;
    let key = RolloutKey::new("shop/pay", "v2");
    let mut h = rig.router.clone();
    TrafficRouter::set_weight(&mut h, &key, 40).await.unwrap();
    TrafficRouter::set_weight(&mut h, &key, 40).await.unwrap();
    assert_eq!(rig.router.weight(), 40);
    assert!(TrafficRouter::set_weight(&mut h, &key, 101).await.is_err());
    TrafficRouter::promote(&mut h, &key).await.unwrap();
    TrafficRouter::promote(&mut h, &key).await.unwrap();
    assert_eq!(rig.router.weight(), 100);
    TrafficRouter::roll_back(&mut h, &key).await.unwrap();
    TrafficRouter::roll_back(&mut h, &key).await.unwrap();
    assert_eq!(rig.router.weight(), 0);
    assert_eq!(rig.get("/pay").await.version(), "v1");
    rig.stop().await;
}
