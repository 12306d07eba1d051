//! With random secrets configured (a Slack webhook URL, a PagerDuty routing
//! key, a webhook signing key, an API token, a metrics-source password), no
//! output of a whole rollout contains any of them: not the notifications,
//! not the audit log, not the delivery errors. A metrics outage whose error
//! message quotes the source URL with its password is part of the rollout.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::post;
use canaryd_core::observation::{
    Baseline, BaselineStatus, CollectorHealth, LatencySummary, Observation, RouteWindow, Window,
};
use canaryd_core::rollout::{Event, Phase};
use canaryd_core::vocab::{RolloutKey, Route, Timestamp};
use canaryd_driver::{Driver, VirtualRouter};
use canaryd_notify::{Notifiers, NotifyConfig};
use canaryd_policy::preset;
use canaryd_ports::Notifier;
use canaryd_secrets::Secret;
use canaryd_store::SqliteStore;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

type Got = Arc<Mutex<Vec<(String, Bytes)>>>;

async fn record(State(g): State<Got>, uri: Uri, body: Bytes) -> StatusCode {
    g.lock().unwrap().push((uri.path().to_string(), body));
    // PagerDuty answers 500 so that delivery errors are produced too.
    if uri.path().starts_with("/pd") {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

fn obs(requests: u64, errors: u64) -> Observation {
    Observation {
        requests,
        errors,
        latency_ms: LatencySummary {
            p50: Some(40.0),
            p95: Some(120.0),
            p99: Some(300.0),
        },
        ..Default::default()
    }
}

fn window(errors: u64, end: i64, collectors: CollectorHealth) -> Event {
    let mut routes = BTreeMap::new();
    routes.insert(
        Route::from("GET /pay"),
        RouteWindow {
            canary: Some(obs(2000, errors)),
            baseline: Some(obs(20000, 100)),
        },
    );
    Event::WindowClosed {
        window: Window {
            start: Timestamp(end - 300_000),
            end: Timestamp(end),
            collectors,
            routes,
            error_budget_remaining: None,
            gaps: Vec::new(),
        },
    }
}

/// The notifiers, shared with the driver so the test can read their log.
#[derive(Clone)]
struct Shared(Arc<tokio::sync::Mutex<Notifiers>>);

#[canaryd_ports::async_trait]
impl Notifier for Shared {
    async fn notify(
        &mut self,
        key: &RolloutKey,
        notice: &canaryd_core::effect::Notice,
    ) -> Result<(), canaryd_ports::ActionError> {
        self.0.lock().await.notify(key, notice).await
    }
}

async fn rollout(
    slack: String,
    pd_key: String,
    hook_key: String,
    api_token: String,
    prom_password: String,
) {
    let got: Got = Arc::default();
    let app = axum::Router::new()
        .route("/{*p}", post(record))
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let cfg = NotifyConfig::parse(
        "n.yaml",
        &format!(
            "retry: {{attempts: 2, backoff: 1ms}}\ntargets:\n  - {{name: s, slack: {{webhook_url: \"{base}/slack/{slack}\"}}}}\n  - {{name: p, pagerduty: {{routing_key: \"{pd_key}\", url: \"{base}/pd\"}}}}\n  - {{name: w, webhook: {{url: \"{base}/hook\", secret: \"{hook_key}\"}}}}\n"
        ),
    )
    .unwrap();
    let notifiers = Notifiers::from_config(cfg).unwrap();
    let mut redactor = notifiers.redactor().clone();
    redactor.add(&Secret::new(api_token.clone()));
    redactor.add(&Secret::new(prom_password.clone()));
    let scrub = Box::new(move |v: &mut serde_json::Value| redactor.redact_json(v));
    let notifiers = Shared(Arc::new(tokio::sync::Mutex::new(notifiers)));
    let mut d = Driver::new(
        SqliteStore::open_in_memory().unwrap(),
        Box::new(VirtualRouter::default()),
        Box::new(notifiers.clone()),
        preset("slo-ratio").unwrap(),
    )
    .unwrap()
    .with_scrubber(scrub);

    let key = RolloutKey::new("payments/api", "v3");
    let mut routes = BTreeMap::new();
    routes.insert(Route::from("GET /pay"), obs(500_000, 2_500));
    d.apply(
        &key,
        Event::Start {
            baseline: BaselineStatus::Available(Baseline {
                history_hours: 168.0,
                routes,
            }),
        },
        Timestamp(0),
    )
    .await
    .unwrap();
    let outage = CollectorHealth::Unhealthy(format!(
        "GET https://canaryd:{prom_password}@prometheus.internal:9090/api/v1/query?query=up&token={api_token} timed out"
    ));
    let mut errors = Vec::new();
    for (i, (e, c)) in [
        (10, outage),
        (10, CollectorHealth::Healthy),
        (100, CollectorHealth::Healthy),
        (100, CollectorHealth::Healthy),
    ]
    .into_iter()
    .enumerate()
    {
        let t = 300_000 * (i as i64 + 1);
        if let Err(err) = d.apply(&key, window(e, t, c), Timestamp(t)).await {
            errors.push(err.to_string());
        }
    }
    assert!(matches!(
        d.load(&key).unwrap().phase,
        Phase::RolledBack { .. }
    ));

    let mut audit = Vec::new();
    d.store().export_audit(&mut audit).unwrap();
    let mut outputs = vec![String::from_utf8(audit).unwrap()];
    outputs.extend(errors);
    let notifiers = notifiers.0.lock().await;
    outputs.extend(notifiers.log.iter().filter_map(|l| l.error.clone()));
    outputs.extend(notifiers.warnings.iter().cloned());
    let received = got.lock().unwrap().clone();
    assert!(
        received.len() >= 6,
        "notifications were sent: {}",
        received.len()
    );
    for (path, body) in &received {
        let mut v: serde_json::Value = serde_json::from_slice(body).unwrap();
        if path.starts_with("/pd") {
            // PagerDuty's own key must travel to PagerDuty, in that field and nowhere else.
            assert_eq!(v["routing_key"], pd_key.as_str());
            v["routing_key"] = serde_json::Value::Null;
        }
        outputs.push(v.to_string());
    }
    let all = outputs.join("\n");
    assert!(
        all.contains("prometheus.internal"),
        "the outage is still explained"
    );
    for secret in [&slack, &pd_key, &hook_key, &api_token, &prom_password] {
        assert!(!all.contains(secret.as_str()), "secret {secret} leaked");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn no_secret_appears_in_any_output_of_a_rollout(
        slack in "[A-Za-z0-9]{16,40}",
        pd_key in "[a-f0-9]{32}",
        hook_key in "[A-Za-z0-9_-]{12,40}",
        api_token in "[A-Za-z0-9]{20,40}",
        prom_password in "[A-Za-z0-9]{10,30}",
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(rollout(slack, pd_key, hook_key, api_token, prom_password));
    }
}
