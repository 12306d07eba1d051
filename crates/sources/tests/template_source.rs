//! The Prometheus source's logic on hand-built answers: config loading,
//! query rendering, splitting answers into canary / baseline observations,
//! gaps, collector health, batching across rollouts, and the baseline.

use canaryd_core::observation::{BaselineStatus, CollectorHealth};
use canaryd_core::vocab::{RolloutKey, Route, Timestamp};
use canaryd_ports::MetricsSource;
use canaryd_sources::error::QueryError;
use canaryd_sources::prometheus::baseline::baseline;
use canaryd_sources::prometheus::config::{ConfigError, PrometheusConfig};
use canaryd_sources::prometheus::source::{PromApi, PrometheusHub, PrometheusSource};
use canaryd_sources::series::{Answer, Point, Series};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Responder = dyn Fn(&str) -> Result<Answer, QueryError> + Send + Sync;

/// A Prometheus that answers from a function and remembers the queries.
#[derive(Clone)]
struct Fake {
    answer: Arc<Responder>,
    queries: Arc<Mutex<Vec<String>>>,
    delay: Duration,
}

impl Fake {
    fn new(f: impl Fn(&str) -> Result<Answer, QueryError> + Send + Sync + 'static) -> Fake {
        Fake {
            answer: Arc::new(f),
            queries: Arc::default(),
            delay: Duration::ZERO,
        }
    }
    fn queries(&self) -> Vec<String> {
        self.queries.lock().unwrap().clone()
    }
}

impl PromApi for Fake {
    async fn instant(&self, query: &str, _at: Timestamp) -> Result<Answer, QueryError> {
        self.queries.lock().unwrap().push(query.to_string());
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        (self.answer)(query)
    }
}

fn s(labels: &[(&str, &str)], value: f64) -> Series {
    Series {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        points: vec![Point {
            at: Timestamp(60_000),
            value,
        }],
    }
}

fn ok(series: Vec<Series>) -> Result<Answer, QueryError> {
    Ok(Answer {
        series,
        warnings: vec![],
    })
}

const YAML: &str = r#"
url: http://127.0.0.1:9090
timeout: 5s
convention: client-libraries
baseline: v1
selector: 'job=~"{workload}-.*"'
queries:
  custom:
    queue: 'max by ({by}) (queue_depth{{selector}})'
up:
  targets: 'job="{workload}-canary"'
  scrape_interval: 1s
"#;

fn cfg(yaml: &str) -> PrometheusConfig {
    serde_saphyr::from_str(yaml).unwrap()
}

/// Answers of a healthy app pair on `GET /pay`.
fn app_pair(q: &str) -> Result<Answer, QueryError> {
    let l = |v| vec![("route", "/pay"), ("method", "GET"), ("version", v)];
    let with = |v, extra: (&'static str, &'static str)| {
        let mut x = l(v);
        x.push(extra);
        x
    };
    if q.starts_with("label_replace(up") {
        return ok(vec![
            s(&[("canaryd_check", "up_0"), ("instance", "c:1")], 1.0),
            s(&[("canaryd_check", "age_0"), ("instance", "c:1")], 0.4),
        ]);
    }
    if q.contains("status=~\"5..\"") {
        // Extrapolated: slightly more errors than requests for the canary.
        return ok(vec![s(&l("v2"), 100.6), s(&l("v1"), 9.6)]);
    }
    if q.contains("_bucket") {
        return ok(vec![
            s(&with("v1", ("le", "0.05")), 800.0),
            s(&with("v1", ("le", "0.1")), 990.0),
            s(&with("v1", ("le", "+Inf")), 1000.0),
            s(&with("v2", ("le", "0.05")), 50.0),
            s(&with("v2", ("le", "0.1")), 99.0),
            s(&with("v2", ("le", "+Inf")), 100.0),
        ]);
    }
    if q.contains("queue_depth") {
        return ok(vec![s(&l("v2"), f64::NAN), s(&l("v1"), 3.0)]);
    }
    ok(vec![s(&l("v2"), 99.6), s(&l("v1"), 1000.49)])
}

#[test]
fn the_documented_example_loads() {
    let yaml = include_str!("../src/prometheus/config.rs")
        .lines()
        .filter_map(|l| l.strip_prefix("//! "))
        .skip_while(|l| !l.starts_with("source:"))
        .skip(2)
        .take_while(|l| !l.starts_with("```"))
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let c = cfg(&yaml);
    let plan = c.plan().unwrap();
    assert_eq!(plan.route_label.as_deref(), Some("handler"));
    assert_eq!(
        plan.queries.len(),
        5,
        "requests, errors, buckets, cpu, custom"
    );
}

#[test]
fn bad_configs_name_the_field() {
    let e = cfg("url: http://prom:9090\nqueries: {errors: 'sum(x{{selectr}})'}")
        .plan()
        .unwrap_err();
    assert!(
        matches!(&e, ConfigError::Template(t) if t.name == "selectr"),
        "{e}"
    );
    assert!(e.to_string().contains("queries.errors"), "{e}");
    let e = cfg("url: http://prom:9090\nqueries: {cpu: 'sum(process_cpu_seconds_total)'}")
        .plan()
        .unwrap_err();
    assert_eq!(e, ConfigError::NoSelector("cpu".into()));
    let e = cfg("url: http://prom:9090\ncohort_label: 'a-b'")
        .plan()
        .unwrap_err();
    assert!(e.to_string().contains("cohort_label"), "{e}");
    let e = serde_saphyr::from_str::<PrometheusConfig>("url: http://prom:9090\nconvension: istio")
        .unwrap_err();
    assert!(e.to_string().contains("convension"), "{e}");
    let e =
        cfg("url: http://prom:9090\nconvention: envoy\nstatus_label: code\nqueries: {errors: 'x{{selector}}'}");
    assert!(e.plan().is_ok());
}

#[tokio::test]
async fn a_window_splits_routes_and_cohorts() {
    let fake = Fake::new(app_pair);
    let plan = cfg(YAML).plan().unwrap();
    let mut src = PrometheusSource::new(plan, fake.clone(), RolloutKey::new("shop/pay", "v2"));
    let key = src.key().clone();
    let w = src
        .window(&key, 10, Timestamp(0), Timestamp(60_000))
        .await
        .unwrap();
    assert_eq!(w.collectors, CollectorHealth::Healthy);
    assert!(w.gaps.is_empty(), "{:?}", w.gaps);
    let rw = &w.routes[&Route::from("GET /pay")];
    let c = rw.canary.as_ref().unwrap();
    let b = rw.baseline.as_ref().unwrap();
    assert_eq!(
        (c.requests, c.errors),
        (100, 100),
        "100.6 errors round to 101, clamped to the 100 requests"
    );
    assert_eq!((b.requests, b.errors), (1000, 10));
    let h = c.latency_buckets_ms.as_ref().unwrap();
    assert_eq!(
        h.0.keys().cloned().collect::<Vec<_>>(),
        vec!["+Inf", "100", "50"]
    );
    assert!((c.latency_ms.p50.unwrap() - 50.0).abs() < 1e-9);
    assert!(b.latency_ms.p99.unwrap() <= 100.0);
    assert!(c.custom["queue"].0.is_nan(), "NaN stays NaN");
    assert_eq!(b.custom["queue"].0, 3.0);

    let qs = fake.queries();
    assert_eq!(qs.len(), 5, "4 metrics + 1 up check: {qs:#?}");
    assert_eq!(
        qs[0],
        "sum by (route, method, version) (increase(http_requests_total{job=~\"pay-.*\",version=~\"v1|v2\"}[60s]))"
    );
    assert!(qs[4].contains("up{job=\"pay-canary\"}"), "{}", qs[4]);
}

#[tokio::test]
async fn a_cohort_that_matches_nothing_is_a_gap_not_a_pass() {
    let fake = Fake::new(|q| {
        let v1 = [("route", "/pay"), ("method", "GET"), ("version", "v1")];
        if q.contains("_bucket") {
            return ok(vec![]);
        }
        ok(vec![s(&v1, 10.0)])
    });
    let plan = cfg("url: http://prom:9090\nbaseline: v1").plan().unwrap();
    let mut src = PrometheusSource::new(plan, fake, RolloutKey::new("pay", "v9"));
    let key = src.key().clone();
    let w = src
        .window(&key, 10, Timestamp(0), Timestamp(60_000))
        .await
        .unwrap();
    let rw = &w.routes[&Route::from("GET /pay")];
    assert!(rw.canary.is_none());
    assert!(
        w.gaps.contains(
            &"canary selector `version=\"v9\"` matched no series for `http_requests_total`"
                .to_string()
        ),
        "{:?}",
        w.gaps
    );
    assert!(w
        .gaps
        .iter()
        .any(|g| g.contains("baseline selector `version=\"v1\"`")
            && g.contains("http_request_duration_seconds_bucket")));
    assert!(
        !w.gaps.iter().any(|g| g.contains("5..")),
        "an empty errors answer is zero errors"
    );
}

/// Right after Prometheus restarts, a range holds too few samples for any
/// series: neither cohort has a request count. That is the collectors being
/// blind (the rollout pauses and resumes on its own), not a lack of traffic
/// (which, repeated, pauses it for good).
#[tokio::test]
async fn no_request_series_for_either_cohort_is_a_blind_spot_not_a_gap() {
    let fake = Fake::new(|_| ok(vec![]));
    let plan = cfg("url: http://prom:9090\nbaseline: v1").plan().unwrap();
    let mut src = PrometheusSource::new(plan, fake, RolloutKey::new("pay", "v2"));
    let key = src.key().clone();
    let w = src
        .window(&key, 10, Timestamp(0), Timestamp(60_000))
        .await
        .unwrap();
    match &w.collectors {
        CollectorHealth::Unhealthy(why) => assert!(
            why.contains("no `http_requests_total` samples for either cohort"),
            "{why}"
        ),
        CollectorHealth::Healthy => panic!("an empty Prometheus is not healthy: {w:?}"),
    }

    // One cohort seen is still the other cohort's gap, judged as before.
    let fake = Fake::new(|_| {
        ok(vec![s(
            &[("route", "/pay"), ("method", "GET"), ("version", "v1")],
            10.0,
        )])
    });
    let plan = cfg("url: http://prom:9090\nbaseline: v1").plan().unwrap();
    let mut src = PrometheusSource::new(plan, fake, RolloutKey::new("pay", "v2"));
    let w = src
        .window(&key, 11, Timestamp(0), Timestamp(60_000))
        .await
        .unwrap();
    assert_eq!(w.collectors, CollectorHealth::Healthy);
    assert!(!w.gaps.is_empty());
}

#[tokio::test]
async fn nan_counts_and_partial_warnings_are_never_numbers() {
    let fake = Fake::new(|q| {
        let l = |v| [("route", "/pay"), ("method", "GET"), ("version", v)];
        let mut a = Answer {
            series: vec![s(&l("v2"), f64::NAN), s(&l("v1"), 5.0)],
            warnings: vec![],
        };
        if q.contains("_bucket") {
            a.warnings
                .push("partial response: remote read failed".into());
        }
        Ok(a)
    });
    let plan = cfg("url: http://prom:9090").plan().unwrap();
    let mut src = PrometheusSource::new(plan, fake, RolloutKey::new("pay", "v2"));
    let key = src.key().clone();
    let w = src
        .window(&key, 10, Timestamp(0), Timestamp(60_000))
        .await
        .unwrap();
    assert!(w.routes[&Route::from("GET /pay")].canary.is_none());
    assert!(w
        .gaps
        .iter()
        .any(|g| g.contains("canary request count on GET /pay is NaN")));
    assert!(
        matches!(&w.collectors, CollectorHealth::Unhealthy(r) if r.contains("remote read failed")),
        "{:?}",
        w.collectors
    );
}

#[tokio::test]
async fn revisions_cannot_inject_promql() {
    let fake = Fake::new(|_| ok(vec![]));
    let plan = cfg("url: http://prom:9090\nbaseline: v1").plan().unwrap();
    let evil = "v2\"} or vector(1) or x{a=\"";
    let mut src = PrometheusSource::new(plan, fake.clone(), RolloutKey::new("pay", evil));
    let key = src.key().clone();
    let w = src
        .window(&key, 1, Timestamp(0), Timestamp(1_000))
        .await
        .unwrap();
    assert!(!w.gaps.is_empty());
    let q = &fake.queries()[0];
    assert!(
        q.contains(r#"version=~"v1|v2\"\\} or vector\\(1\\) or x\\{a=\""}"#),
        "{q}"
    );
}

#[tokio::test]
async fn down_or_stale_canary_targets_make_the_window_unreliable() {
    let fake = Fake::new(|q| {
        if q.starts_with("label_replace(up") {
            return ok(vec![
                s(&[("canaryd_check", "up_0"), ("instance", "c:1")], 0.0),
                s(&[("canaryd_check", "age_0"), ("instance", "c:1")], 9.0),
            ]);
        }
        app_pair(q)
    });
    let plan = cfg(YAML).plan().unwrap();
    let mut src = PrometheusSource::new(plan, fake, RolloutKey::new("pay", "v2"));
    let key = src.key().clone();
    let w = src
        .window(&key, 1, Timestamp(0), Timestamp(60_000))
        .await
        .unwrap();
    let CollectorHealth::Unhealthy(r) = &w.collectors else {
        panic!("{:?}", w.collectors)
    };
    assert!(r.contains("c:1 is down") && r.contains("9.0s old"), "{r}");
    assert!(
        w.routes[&Route::from("GET /pay")].canary.is_some(),
        "numbers still audited"
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_prometheus_makes_the_window_unreliable() {
    let mut fake = Fake::new(app_pair);
    fake.delay = Duration::from_secs(6);
    let plan = cfg("url: http://prom:9090\ntimeout: 5s").plan().unwrap();
    let mut src = PrometheusSource::new(plan, fake, RolloutKey::new("pay", "v2"));
    let key = src.key().clone();
    let w = src
        .window(&key, 1, Timestamp(0), Timestamp(60_000))
        .await
        .unwrap();
    assert!(
        matches!(&w.collectors, CollectorHealth::Unhealthy(r) if r.contains("more than the 5s timeout")),
        "{:?}",
        w.collectors
    );
}

#[tokio::test]
async fn an_unreachable_prometheus_is_a_source_error() {
    let fake = Fake::new(|_| {
        Err(QueryError::Unreachable {
            url: "http://127.0.0.1:1".into(),
            detail: "connection refused".into(),
        })
    });
    let plan = cfg("url: http://prom:9090").plan().unwrap();
    let mut src = PrometheusSource::new(plan, fake, RolloutKey::new("pay", "v2"));
    let key = src.key().clone();
    let e = src
        .window(&key, 1, Timestamp(0), Timestamp(1_000))
        .await
        .unwrap_err();
    assert!(
        e.message().contains("connection refused") && e.message().contains("http_requests_total"),
        "{e}"
    );
}

/// Answers for any number of workloads `w{i}`, canary `v2`, stable `v1`, with
/// `i` requests on the canary.
fn many(q: &str) -> Result<Answer, QueryError> {
    let ws: Vec<String> = q
        .split("app=~\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map(|r| r.split('|').map(str::to_string).collect())
        .unwrap_or_default();
    let mut out = vec![];
    for w in &ws {
        let i: f64 = w.trim_start_matches('w').parse().unwrap();
        for (v, n) in [("v2", i), ("v1", 10.0 * i)] {
            let mut l = vec![
                ("route", "/pay"),
                ("method", "GET"),
                ("version", v),
                ("app", w.as_str()),
            ];
            if q.contains("_bucket") {
                l.push(("le", "+Inf"));
            }
            out.push(s(&l, n));
        }
    }
    ok(out)
}

#[tokio::test]
async fn a_hub_issues_one_query_per_metric_for_all_rollouts() {
    let fake = Fake::new(many);
    let plan = cfg("url: http://prom:9090\nbaseline: v1\nworkload_label: app")
        .plan()
        .unwrap();
    let hub = PrometheusHub::new(plan, fake.clone());
    let mut sources: Vec<_> = (1..=20)
        .map(|i| hub.source(RolloutKey::new(format!("w{i}"), "v2")))
        .collect();
    let mut got = BTreeMap::new();
    for src in sources.iter_mut() {
        let key = src.key().clone();
        let w = src
            .window(&key, 5, Timestamp(0), Timestamp(30_000))
            .await
            .unwrap();
        let c = w.routes[&Route::from("GET /pay")].canary.clone().unwrap();
        got.insert(key.workload.0.clone(), c.requests);
    }
    assert_eq!(fake.queries().len(), 3, "{:#?}", fake.queries());
    assert!(fake.queries()[0].contains("by (route, method, version, app)"));
    for i in 1..=20u64 {
        assert_eq!(got[&format!("w{i}")], i, "w{i} got its own slice");
    }
    // The next tick is one more query per metric, not twenty.
    for src in sources.iter_mut() {
        let key = src.key().clone();
        src.window(&key, 5, Timestamp(30_000), Timestamp(60_000))
            .await
            .unwrap();
    }
    assert_eq!(fake.queries().len(), 6);
    // A dropped source leaves the batch.
    sources.truncate(1);
    let key = sources[0].key().clone();
    sources[0]
        .window(&key, 5, Timestamp(60_000), Timestamp(90_000))
        .await
        .unwrap();
    assert!(
        fake.queries()[6].contains("app=~\"w1\""),
        "{}",
        fake.queries()[6]
    );
}

#[tokio::test]
async fn baseline_reads_the_stable_cohort_and_its_history() {
    let fake = Fake::new(|q| {
        let v1 = [("route", "/pay"), ("method", "GET"), ("version", "v1")];
        if q.starts_with("max(count_over_time(") {
            // 300 steps of 5 min = 25 h.
            return ok(vec![s(&[], 300.0)]);
        }
        ok(vec![s(&v1, 50_000.0)])
    });
    let plan = cfg("url: http://prom:9090").plan().unwrap();
    let key = RolloutKey::new("pay", "v2");
    let week = Duration::from_secs(7 * 86_400);
    let got = baseline(&fake, &plan, &key, week, Timestamp(1_000_000_000_000))
        .await
        .unwrap();
    let BaselineStatus::Available(b) = got else {
        panic!("{got:?}")
    };
    assert!((b.history_hours - 25.0).abs() < 1e-9, "{}", b.history_hours);
    assert_eq!(b.routes[&Route::from("GET /pay")].requests, 50_000);
    let qs = fake.queries();
    assert!(
        qs[0].contains("version!=\"\",version!=\"v2\"") && qs[0].contains("[604800s]"),
        "{}",
        qs[0]
    );
    assert!(
        qs.last().unwrap().ends_with("[604800s:300s]))"),
        "{}",
        qs.last().unwrap()
    );

    let empty = Fake::new(|_| ok(vec![]));
    let got = baseline(&empty, &plan, &key, week, Timestamp(1_000_000_000_000))
        .await
        .unwrap();
    assert!(
        matches!(&got, BaselineStatus::Missing(r) if r.contains("baseline selector") && r.contains("7days")),
        "{got:?}"
    );
}

#[tokio::test]
async fn probes_are_rendered_per_rollout() {
    use axum::http::StatusCode;
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/w1/healthz", get(|| async { "ok" }))
        .route("/w2/healthz", get(|| async { StatusCode::BAD_GATEWAY }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });

    let yaml = format!(
        "url: http://prom:9090\nbaseline: v1\nworkload_label: app\nprobe:\n  urls: ['http://{addr}/{{workload}}/healthz']\n"
    );
    let hub = PrometheusHub::new(cfg(&yaml).plan().unwrap(), Fake::new(many));
    let mut w1 = hub.source(RolloutKey::new("w1", "v2"));
    let mut w2 = hub.source(RolloutKey::new("w2", "v2"));
    let (k1, k2) = (w1.key().clone(), w2.key().clone());
    let a = w1
        .window(&k1, 5, Timestamp(0), Timestamp(1_000))
        .await
        .unwrap();
    let b = w2
        .window(&k2, 5, Timestamp(0), Timestamp(1_000))
        .await
        .unwrap();
    assert_eq!(a.collectors, CollectorHealth::Healthy);
    assert!(
        matches!(&b.collectors, CollectorHealth::Unhealthy(r) if r.contains("/w2/healthz answered 502")),
        "{:?}",
        b.collectors
    );
    let e = cfg("url: http://prom:9090\nprobe: {urls: ['http://{host}/healthz']}")
        .plan()
        .unwrap_err();
    assert!(e.to_string().contains("probe.urls"), "{e}");
}

#[tokio::test]
async fn istio_windows_compare_the_whole_service() {
    let fake = Fake::new(|q| {
        let l = |v| [("destination_version", v)];
        if q.contains("response_code=~\"5..\"") {
            // Far more errors than requests: bad data, kept as read.
            return ok(vec![s(&l("v2"), 40.0)]);
        }
        if q.contains("_bucket") {
            return ok(vec![
                s(&[("destination_version", "v2"), ("le", "250")], 20.0),
                s(&[("destination_version", "v2"), ("le", "+Inf")], 20.0),
                s(&[("destination_version", "v1"), ("le", "250")], 90.0),
                s(&[("destination_version", "v1"), ("le", "+Inf")], 100.0),
            ]);
        }
        ok(vec![s(&l("v2"), 20.0), s(&l("v1"), 100.0)])
    });
    let plan = cfg("url: http://prom:9090\nconvention: istio\nbaseline: v1")
        .plan()
        .unwrap();
    let mut src = PrometheusSource::new(plan, fake.clone(), RolloutKey::new("shop/pay", "v2"));
    let key = src.key().clone();
    let w = src
        .window(&key, 5, Timestamp(0), Timestamp(60_000))
        .await
        .unwrap();
    let rw = &w.routes[&Route::from("* *")];
    let c = rw.canary.as_ref().unwrap();
    assert_eq!(
        (c.requests, c.errors),
        (20, 40),
        "errors > requests + 1 stay raw"
    );
    let b = rw.baseline.as_ref().unwrap();
    assert!(
        b.latency_buckets_ms.as_ref().unwrap().0.contains_key("250"),
        "ms stay ms"
    );
    assert_eq!(
        fake.queries()[0],
        "sum by (destination_version) (increase(istio_requests_total{reporter=\"destination\",destination_workload=~\"pay\",destination_version=~\"v1|v2\"}[60s]))"
    );
}
