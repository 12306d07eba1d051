//! `--dry-run` and `build`'s dispatch: a shadow router records what it
//! would do and never acts; the real one acts for each kind.

mod common;

use canaryd_core::vocab::RolloutKey;
use canaryd_ports::TrafficRouter;
use canaryd_routers::{Action, Planned, RouterConfig, ShadowRouter};
use common::Receiver;

#[tokio::test]
async fn shadow_records_every_action_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("acted");
    let cfg = RouterConfig::from_yaml(
        "p",
        &format!(
            "exec: {{set_weight: [sh, -c, 'touch {}', sh, '{{weight}}', '{{revision}}'], rollback: [lbctl, undo, '{{workload}}']}}",
            marker.display()
        ),
    )
    .unwrap();
    let mut shadow = ShadowRouter::new(&cfg).unwrap();
    let key = RolloutKey::new("shop", "v2 beta");
    shadow.set_weight(&key, 10).await.unwrap();
    shadow.set_weight(&key, 25).await.unwrap();
    assert_eq!(shadow.weight(), 25);
    shadow.roll_back(&key).await.unwrap();
    assert_eq!(shadow.weight(), 0);
    assert!(!marker.exists(), "the shadow router ran a command");
    let touch = format!("'touch {}'", marker.display());
    assert_eq!(
        shadow.planned(),
        vec![
            Planned {
                key: key.clone(),
                action: Action::SetWeight(10),
                would: format!("run sh -c {touch} sh 10 'v2 beta'"),
            },
            Planned {
                key: key.clone(),
                action: Action::SetWeight(25),
                would: format!("run sh -c {touch} sh 25 'v2 beta'"),
            },
            Planned {
                key: key.clone(),
                action: Action::RollBack,
                would: "run lbctl undo shop".into(),
            },
        ]
    );
}

#[tokio::test]
async fn shadow_webhooks_send_nothing_and_show_no_credentials() {
    let rx = Receiver::start().await;
    let authority = rx.base.trim_start_matches("http://");
    let cfg = RouterConfig::from_yaml(
        "p",
        &format!(
            "webhook: {{set_weight: {{url: 'http://u:pw-secret@{authority}/w/{{workload}}?token=t0k', method: PATCH, body: '{{\"w\": {{weight}}}}'}}, token: {{env: CANARYD_ROUTERS_TEST_UNSET_TOKEN}}}}"
        ),
    )
    .unwrap();
    let mut shadow = ShadowRouter::new(&cfg).unwrap();
    let key = RolloutKey::new("shop", "v2");
    shadow.set_weight(&key, 40).await.unwrap();
    shadow.promote(&key).await.unwrap();
    assert!(rx.requests().is_empty(), "the shadow router sent a request");
    let planned = shadow.planned();
    let would: Vec<&str> = planned.iter().map(|p| p.would.as_str()).collect();
    assert_eq!(
        would,
        vec![
            format!("PATCH http://{authority}/w/shop?… {{\"w\": 40}}"),
            format!("PATCH http://{authority}/w/shop?… {{\"w\": 100}}"),
        ]
    );

    let embedded =
        RouterConfig::from_yaml("p", "embedded: {admin_url: 'http://127.0.0.1:9'}").unwrap();
    let mut shadow = ShadowRouter::new(&embedded).unwrap();
    shadow.roll_back(&key).await.unwrap();
    assert_eq!(
        shadow.planned()[0].would,
        "PUT http://127.0.0.1:9/admin/weight {\"weight\": 0}"
    );
}

#[tokio::test]
async fn any_router_dispatches_to_the_configured_kind() {
    let rx = Receiver::start().await;
    let cfg = RouterConfig::from_yaml(
        "p",
        &format!(
            "webhook: {{set_weight: {{url: '{}/w', body: '{{\"w\": {{weight}}}}'}}, secret: inline-signing-key}}",
            rx.base
        ),
    )
    .unwrap();
    let mut r = canaryd_routers::build(&cfg).unwrap();
    assert_eq!(
        r.secrets
            .iter()
            .map(|s| s.expose().to_string())
            .collect::<Vec<_>>(),
        ["inline-signing-key"]
    );
    assert!(r.warnings[0].contains("inline"));
    let key = RolloutKey::new("shop", "v2");
    r.router.set_weight(&key, 5).await.unwrap();
    r.router.roll_back(&key).await.unwrap();
    let bodies: Vec<_> = rx.requests().iter().map(|q| q.body.clone()).collect();
    assert_eq!(bodies, [&b"{\"w\": 5}"[..], &b"{\"w\": 0}"[..]]);

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cfg = RouterConfig::from_yaml(
        "p",
        &format!(
            "exec: {{set_weight: [sh, -c, 'echo $0 > {}', '{{weight}}']}}",
            out.display()
        ),
    )
    .unwrap();
    let mut r = canaryd_routers::build(&cfg).unwrap();
    assert!(r.secrets.is_empty());
    r.router.promote(&key).await.unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "100\n");

    let mut none =
        canaryd_routers::build(&RouterConfig::from_yaml("p", "none: {}").unwrap()).unwrap();
    none.router.set_weight(&key, 50).await.unwrap();
    none.router.roll_back(&key).await.unwrap();
    assert!(none.secrets.is_empty() && none.warnings.is_empty());
}
