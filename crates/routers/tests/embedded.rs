//! The embedded router client against a real `canaryd_proxy::Router` on
//! loopback: changes take effect and are read back; the token is enforced.

mod common;

use canaryd_core::vocab::RolloutKey;
use canaryd_ports::TrafficRouter;
use canaryd_proxy::{AdminAccess, AdminToken, Router, RouterConfig as ProxyConfig, RouterHandle};
use canaryd_routers::config::EmbeddedConfig;
use canaryd_routers::{Action, EmbeddedError, EmbeddedRouter, RouterConfig};
use canaryd_sim::{SampleApp, SampleAppConfig};

struct Rig {
    stable: SampleApp,
    canary: SampleApp,
    proxy: RouterHandle,
}

impl Rig {
    async fn start(access: AdminAccess) -> Rig {
        let stable = SampleApp::start(SampleAppConfig::new("v1")).await.unwrap();
        let canary = SampleApp::start(SampleAppConfig::new("v2")).await.unwrap();
        let mut cfg = ProxyConfig::from_urls(&stable.url(), &canary.url()).unwrap();
        cfg.admin_access = access;
        let proxy = Router::start(cfg).await.unwrap();
        Rig {
            stable,
            canary,
            proxy,
        }
    }

    fn admin_url(&self) -> String {
        format!("http://{}", self.proxy.admin_addr().unwrap())
    }

    async fn stop(self) {
        self.proxy.shutdown().await;
        self.stable.shutdown().await;
        self.canary.shutdown().await;
    }
}

fn client(yaml: &str) -> EmbeddedRouter {
    match RouterConfig::from_yaml("test", yaml).unwrap() {
        RouterConfig::Embedded(c) => EmbeddedRouter::new(&c).unwrap(),
        other => panic!("not embedded: {other:?}"),
    }
}

async fn version_served(rig: &Rig) -> String {
    let http = canaryd_http::client(std::time::Duration::from_secs(20)).unwrap();
    let resp = http.get(rig.proxy.url()).send().await.unwrap();
    resp.headers()["x-canaryd-version"]
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weight_changes_take_effect_and_are_read_back() {
    let rig = Rig::start(AdminAccess::Token(AdminToken::new("router-tok-1").unwrap())).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tok"), "router-tok-1\n").unwrap();
    let mut r = client(&format!(
        "embedded: {{admin_url: '{}/', token: {{file: {}}}}}",
        rig.admin_url(),
        dir.path().join("tok").display()
    ));
    assert!(r.warnings.is_empty());
    let key = RolloutKey::new("shop", "v2");

    r.set_weight(&key, 30).await.unwrap();
    assert_eq!(rig.proxy.weight(), 30);
    assert_eq!(r.weight().await.unwrap(), 30);
    r.set_weight(&key, 30).await.unwrap(); // idempotent
    assert_eq!(rig.proxy.weight(), 30);

    r.promote(&key).await.unwrap();
    assert_eq!(rig.proxy.weight(), 100);
    assert_eq!(version_served(&rig).await, "v2");

    r.roll_back(&key).await.unwrap();
    assert_eq!(rig.proxy.weight(), 0);
    assert_eq!(version_served(&rig).await, "v1");

    let e = r
        .set_weight(&key, 101)
        .await
        .unwrap_err()
        .message()
        .to_string();
    assert!(e.contains("400") && e.contains("out of range"), "{e}");
    assert_eq!(rig.proxy.weight(), 0);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_enforced() {
    let rig = Rig::start(AdminAccess::Token(AdminToken::new("right-token").unwrap())).await;
    let key = RolloutKey::new("shop", "v2");
    for yaml in [
        format!(
            "embedded: {{admin_url: '{}', token: wrong-token}}",
            rig.admin_url()
        ),
        format!("embedded: {{admin_url: '{}'}}", rig.admin_url()),
    ] {
        let mut r = client(&yaml);
        let e = r
            .set_weight(&key, 50)
            .await
            .unwrap_err()
            .message()
            .to_string();
        assert!(e.contains("401") && e.contains("bearer token"), "{e}");
        assert!(!e.contains("wrong-token"), "{e}");
    }
    assert_eq!(rig.proxy.weight(), 0);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_without_a_token_refuses_changes() {
    let rig = Rig::start(AdminAccess::default()).await;
    let r = client(&format!("embedded: {{admin_url: '{}'}}", rig.admin_url()));
    assert_eq!(r.weight().await.unwrap(), 0);
    let e = r.apply(Action::SetWeight(20)).await.unwrap_err();
    assert!(
        matches!(&e, EmbeddedError::Refused { status, .. } if status.as_u16() == 403),
        "{e:?}"
    );
    assert!(e.to_string().contains("admin token"), "{e}");
    rig.stop().await;
}

#[tokio::test]
async fn a_weight_that_does_not_stick_is_an_error() {
    // A receiver that accepts every PUT but keeps reporting weight 10, like a
    // router another controller keeps resetting.
    let rx = common::Receiver::start().await;
    rx.answer_with(&[(200, r#"{"weight": 50}"#), (200, r#"{"weight": 10}"#)]);
    let r = client(&format!("embedded: {{admin_url: '{}'}}", rx.base));
    let e = r.apply(Action::SetWeight(50)).await.unwrap_err();
    assert!(
        matches!(
            e,
            EmbeddedError::Mismatch {
                wanted: 50,
                got: 10,
                ..
            }
        ),
        "{e:?}"
    );
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("PUT", "/admin/weight")
    );
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&reqs[0].body).unwrap(),
        serde_json::json!({"weight": 50})
    );
    assert_eq!(reqs[1].method, "GET");

    rx.answer_with(&[(200, "ok")]);
    let e = r.weight().await.unwrap_err();
    assert!(matches!(e, EmbeddedError::BadAnswer { .. }), "{e:?}");
}

#[tokio::test]
async fn an_unreachable_router_is_named() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = EmbeddedConfig {
        admin_url: canaryd_secrets::SafeUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        token: None,
        timeout: std::time::Duration::from_secs(2),
    };
    let e = EmbeddedRouter::new(&cfg)
        .unwrap()
        .weight()
        .await
        .unwrap_err();
    assert!(matches!(e, EmbeddedError::Unreachable { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains(&format!("127.0.0.1:{port}/admin/weight")),
        "{e}"
    );
}
