//! The Datadog client and `DatadogSource` against a local HTTP server that
//! answers like Datadog's `GET /api/v1/query`: what is sent (path, query
//! parameters, both key headers) and the `Window` / `BaselineStatus` built
//! from the answers.

use axum::body::Body;
use axum::http::{HeaderMap, Request, Response};
use canaryd_core::observation::BaselineStatus;
use canaryd_core::vocab::{RolloutKey, Route, Timestamp};
use canaryd_ports::{ErrorKind, MetricsSource};
use canaryd_secrets::SecretSource;
use canaryd_sources::datadog::{DatadogClient, DatadogClientConfig, DatadogConfig, DatadogSource};
use canaryd_sources::error::QueryError;
use canaryd_sources::prometheus::client::Backoff;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
struct Seen {
    path: String,
    params: BTreeMap<String, String>,
    headers: HeaderMap,
}

type Answerer = Arc<dyn Fn(&Seen) -> (u16, String) + Send + Sync>;

/// A Datadog stand-in: `answer` decides each reply from the request.
async fn serve(answer: Answerer) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |req: Request<Body>| {
        let log = log.clone();
        let answer = answer.clone();
        async move {
            let s = Seen {
                path: req.uri().path().to_string(),
                params: url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                    .into_owned()
                    .collect(),
                headers: req.headers().clone(),
            };
            log.lock().unwrap().push(s.clone());
            let (status, body) = answer(&s);
            Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

const T0: i64 = 1_700_000_000_000;
const MIN: i64 = 60_000;

/// A documented-shape answer with one series per `(route, points)`.
/// Points of one series: `(ms, value)`, `None` for a `null` point.
type Points = Vec<(i64, Option<f64>)>;

fn answer(query: &str, series: &[(&str, Points)]) -> String {
    let series: Vec<String> = series
        .iter()
        .map(|(route, pts)| {
            let pts: Vec<String> = pts
                .iter()
                .map(|(t, v)| match v {
                    Some(v) => format!("[{t}.0,{v:?}]"),
                    None => format!("[{t}.0,null]"),
                })
                .collect();
            format!(
                r#"{{"metric":"m","display_name":"m","unit":null,"aggr":"sum","interval":60,"length":{n},
                   "start":{T0},"end":{end},"scope":"env:prod,resource_name:{route},service:checkout",
                   "expression":"e","tag_set":["resource_name:{route}"],"query_index":0,"pointlist":[{p}]}}"#,
                n = pts.len(),
                end = T0 + 5 * MIN,
                p = pts.join(",")
            )
        })
        .collect();
    format!(
        r#"{{"status":"ok","res_type":"time_series","query":{q:?},"from_date":{T0},"to_date":{to},
           "message":"","error":null,"group_by":["resource_name"],"series":[{s}]}}"#,
        q = query,
        to = T0 + 5 * MIN,
        s = series.join(",")
    )
}

const YAML: &str = r#"
site: SITE
api_key: dd-api-key-0123456789
app_key: dd-app-key-abcdefghij
timeout: 5s
retries: 1
cohort_tag: version
canary: "{revision}"
baseline: "!{revision}"
scope: {service: checkout, env: prod}
route_tag: resource_name
baseline_lookback: 7d
queries:
  requests: "sum:trace.http.request.hits{{selector}} by {{route}}.as_count()"
  errors: "sum:trace.http.request.errors{{selector}} by {{route}}.as_count()"
  latency_p95: "p95:trace.http.request.duration{{selector}} by {{route}}"
"#;

fn source(url: &str) -> DatadogSource {
    let cfg: DatadogConfig = serde_saphyr::from_str(&YAML.replace("SITE", url)).unwrap();
    let fast = Backoff {
        initial: Duration::from_millis(5),
        max: Duration::from_millis(10),
        max_retry_after: Duration::from_millis(20),
    };
    DatadogSource::with_backoff(cfg, fast)
        .unwrap()
        .with_clock(|| Timestamp(T0 + 5 * MIN))
}

fn key() -> RolloutKey {
    RolloutKey::new("checkout", "v2")
}

/// Canary: /pay 100 + 50 requests (a null between, a point at `end` that
/// belongs to the next window), 3 errors, p95 0.2s then 0.4s.
/// Baseline: /pay 1000 requests, no error series, p95 0.1s.
fn healthy(s: &Seen) -> (u16, String) {
    let q = s.params["query"].as_str();
    let canary = q.contains(",version:v2}");
    let body = match (q.split(':').next().unwrap(), canary) {
        ("sum", true) if q.contains("hits") => answer(
            q,
            &[(
                "get_/pay",
                vec![
                    (T0, Some(100.0)),
                    (T0 + MIN, None),
                    (T0 + 2 * MIN, Some(50.0)),
                    (T0 + 5 * MIN, Some(999.0)),
                ],
            )],
        ),
        ("sum", true) => answer(q, &[("get_/pay", vec![(T0, Some(3.0))])]),
        ("p95", true) => answer(
            q,
            &[("get_/pay", vec![(T0, Some(0.2)), (T0 + MIN, Some(0.4))])],
        ),
        ("sum", false) if q.contains("hits") => answer(
            q,
            &[(
                "get_/pay",
                vec![(T0 + 30_000, None), (T0 + MIN, Some(1000.0))],
            )],
        ),
        ("sum", false) => answer(q, &[]),
        ("p95", false) => answer(q, &[("get_/pay", vec![(T0, Some(0.1))])]),
        _ => return (400, r#"{"errors":["unexpected query"]}"#.into()),
    };
    (200, body)
}

#[tokio::test]
async fn a_window_is_built_exactly_from_both_cohorts() {
    let (url, seen) = serve(Arc::new(healthy)).await;
    let mut src = source(&url);
    let w = src
        .window(&key(), 10, Timestamp(T0), Timestamp(T0 + 5 * MIN))
        .await
        .unwrap();
    assert!(w.gaps.is_empty(), "{:?}", w.gaps);
    let pay = &w.routes[&Route("get_/pay".into())];
    let canary = pay.canary.as_ref().unwrap();
    assert_eq!((canary.requests, canary.errors), (150, 3));
    let p95 = canary.latency_ms.p95.unwrap();
    assert!((p95 - 300.0).abs() < 1e-9, "{p95}");
    let baseline = pay.baseline.as_ref().unwrap();
    assert_eq!((baseline.requests, baseline.errors), (1000, 0));
    assert!((baseline.latency_ms.p95.unwrap() - 100.0).abs() < 1e-9);
    assert_eq!(baseline.latency_ms.p99, None);

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 6, "3 metrics x 2 cohorts");
    let first = &seen[0];
    assert_eq!(first.path, "/api/v1/query");
    assert_eq!(first.params["from"], "1700000000");
    assert_eq!(first.params["to"], "1700000300");
    assert_eq!(
        first.params["query"],
        "sum:trace.http.request.hits{env:prod,service:checkout,version:v2} by {resource_name}.as_count()"
    );
    assert_eq!(first.headers["dd-api-key"], "dd-api-key-0123456789");
    assert_eq!(first.headers["dd-application-key"], "dd-app-key-abcdefghij");
    assert!(seen[3].params["query"].contains("{env:prod,service:checkout,!version:v2}"));
}

#[tokio::test]
async fn a_cohort_without_series_is_a_named_gap_not_a_zero() {
    let (url, _) = serve(Arc::new(|s: &Seen| {
        let q = s.params["query"].clone();
        if q.contains(",version:v2}") {
            (200, answer(&q, &[("get_/pay", vec![(T0, None)])]))
        } else {
            healthy(s)
        }
    }))
    .await;
    let w = source(&url)
        .window(&key(), 10, Timestamp(T0), Timestamp(T0 + 5 * MIN))
        .await
        .unwrap();
    let pay = &w.routes[&Route("get_/pay".into())];
    assert!(pay.canary.is_none());
    assert!(pay.baseline.is_some());
    assert_eq!(w.gaps.len(), 1);
    assert!(
        w.gaps[0].contains("canary scope `version:v2` matched no series"),
        "{}",
        w.gaps[0]
    );
}

#[tokio::test]
async fn nan_latency_is_kept_as_nan() {
    let (url, _) = serve(Arc::new(|s: &Seen| {
        let q = s.params["query"].clone();
        if q.starts_with("p95") && q.contains(",version:v2}") {
            // Not something Datadog's JSON can carry as a number; the parser
            // accepts the string spelling so a NaN is never lost.
            let body =
                answer(&q, &[("get_/pay", vec![(T0, Some(0.2))])]).replace("0.2]", "\"NaN\"]");
            (200, body)
        } else {
            healthy(s)
        }
    }))
    .await;
    let w = source(&url)
        .window(&key(), 10, Timestamp(T0), Timestamp(T0 + 5 * MIN))
        .await
        .unwrap();
    let canary = w.routes[&Route("get_/pay".into())].canary.clone().unwrap();
    assert!(canary.latency_ms.p95.unwrap().is_nan());
}

#[tokio::test]
async fn bad_keys_become_a_source_error_naming_the_fix_without_the_keys() {
    let (url, seen) = serve(Arc::new(|_: &Seen| {
        (403, r#"{"errors":["Forbidden"]}"#.to_string())
    }))
    .await;
    let err = source(&url)
        .window(&key(), 10, Timestamp(T0), Timestamp(T0 + 5 * MIN))
        .await
        .unwrap_err();
    assert_eq!(seen.lock().unwrap().len(), 1, "403 is not retried");
    assert!(
        err.message().contains("DD-APPLICATION-KEY"),
        "{}",
        err.message()
    );
    assert!(err.message().contains(&url));
    assert!(!err.message().contains("dd-api-key-0123456789"));
    assert_eq!(
        err.kind(),
        ErrorKind::Permanent,
        "refused keys need a human"
    );
}

#[tokio::test]
async fn unreachable_datadog_is_a_source_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = source(&url)
        .window(&key(), 10, Timestamp(T0), Timestamp(T0 + 5 * MIN))
        .await
        .unwrap_err();
    assert!(err.message().contains("cannot reach"), "{}", err.message());
    assert_eq!(
        err.kind(),
        ErrorKind::Transient,
        "a server that is down may come back"
    );
}

#[tokio::test]
async fn rate_limited_queries_are_retried_once_then_fail() {
    let (url, seen) = serve(Arc::new(|_: &Seen| {
        (
            429,
            r#"{"errors":["Rate limit of 100 requests in 3600 seconds reached."]}"#.to_string(),
        )
    }))
    .await;
    let err = source(&url)
        .window(&key(), 10, Timestamp(T0), Timestamp(T0 + 5 * MIN))
        .await
        .unwrap_err();
    assert_eq!(seen.lock().unwrap().len(), 2, "1 attempt + `retries: 1`");
    assert!(err.message().contains("rate limiting"), "{}", err.message());
    assert_eq!(err.kind(), ErrorKind::Transient);
}

#[tokio::test]
async fn baseline_history_starts_at_the_first_non_null_point() {
    let (url, seen) = serve(Arc::new(healthy)).await;
    let status = source(&url).baseline(&key()).await.unwrap();
    let BaselineStatus::Available(b) = status else {
        panic!("{status:?}")
    };
    // Clock at T0+5m; first non-null stable point at T0+1m: 4 minutes.
    assert!(
        (b.history_hours - 4.0 / 60.0).abs() < 1e-9,
        "{}",
        b.history_hours
    );
    assert_eq!(b.routes[&Route("get_/pay".into())].requests, 1000);
    let seen = seen.lock().unwrap();
    let from: i64 = seen[0].params["from"].parse().unwrap();
    assert_eq!(from, (T0 + 5 * MIN) / 1000 - 7 * 24 * 3600);
    assert!(seen[0].params["query"].contains("!version:v2"));
}

#[tokio::test]
async fn no_stable_history_is_a_missing_baseline_with_the_reason() {
    let (url, _) = serve(Arc::new(|s: &Seen| (200, answer(&s.params["query"], &[])))).await;
    let status = source(&url).baseline(&key()).await.unwrap();
    let BaselineStatus::Missing(why) = status else {
        panic!("{status:?}")
    };
    assert!(why.contains("`!version:v2` matched no series"), "{why}");
    assert!(why.contains("7days"), "{why}");
}

#[tokio::test]
async fn the_client_widens_to_whole_seconds_and_counts_queries() {
    let (url, seen) = serve(Arc::new(|s: &Seen| (200, answer(&s.params["query"], &[])))).await;
    let c = DatadogClient::new(DatadogClientConfig {
        site: url.clone(),
        api_key: SecretSource::Inline("k1".into()),
        app_key: SecretSource::Inline("k2".into()),
        timeout: Duration::from_secs(5),
        retries: 0,
    })
    .unwrap();
    let a = c
        .query("avg:system.cpu.user{*}", Timestamp(1_500), Timestamp(2_001))
        .await
        .unwrap();
    assert!(a.series.is_empty());
    let seen = seen.lock().unwrap();
    assert_eq!(
        (
            seen[0].params["from"].as_str(),
            seen[0].params["to"].as_str()
        ),
        ("1", "3")
    );
    assert_eq!(c.queries_issued(), 1);
    assert_eq!(c.secrets().len(), 2);
}

#[test]
fn a_bare_site_name_means_its_api_host() {
    let c = DatadogClient::new(DatadogClientConfig {
        site: "datadoghq.eu".into(),
        api_key: SecretSource::Inline("k1".into()),
        app_key: SecretSource::Inline("k2".into()),
        timeout: Duration::from_secs(5),
        retries: 0,
    })
    .unwrap();
    assert_eq!(c.url(), "https://api.datadoghq.eu");
}

#[test]
fn configs_that_cannot_tell_cohorts_apart_are_refused() {
    let same = YAML.replace("SITE", "https://api.datadoghq.com").replace(
        "{{selector}} by {{route}}.as_count()\"\n  errors",
        "{*}.as_count()\"\n  errors",
    );
    let cfg: DatadogConfig = serde_saphyr::from_str(&same).unwrap();
    let Err(err) = DatadogSource::new(cfg) else {
        panic!("accepted a template without {{selector}}")
    };
    assert!(
        matches!(&err, QueryError::BadConfig(m) if m.contains("`requests`")),
        "{err:?}"
    );
    let unknown = format!("{}\nextra_field: 1\n", YAML.replace("SITE", "https://x"));
    assert!(serde_saphyr::from_str::<DatadogConfig>(&unknown).is_err());
}

#[tokio::test]
async fn a_proxy_page_echoing_a_key_is_retried_and_redacted() {
    let (url, seen) = serve(Arc::new(|_: &Seen| {
        (
            502,
            "<html><body>bad gateway for key dd-api-key-0123456789</body></html>".to_string(),
        )
    }))
    .await;
    let err = source(&url)
        .window(&key(), 10, Timestamp(T0), Timestamp(T0 + 5 * MIN))
        .await
        .unwrap_err();
    assert_eq!(
        seen.lock().unwrap().len(),
        2,
        "502 is transient: retried once"
    );
    assert!(
        err.message().contains("bad gateway for key [REDACTED]"),
        "{}",
        err.message()
    );
    assert!(!err.message().contains("0123456789"), "{}", err.message());
}

#[test]
fn a_key_with_a_line_break_is_refused() {
    let Err(err) = DatadogClient::new(DatadogClientConfig {
        site: "datadoghq.com".into(),
        api_key: SecretSource::Inline("abc\ndef".into()),
        app_key: SecretSource::Inline("k2".into()),
        timeout: Duration::from_secs(5),
        retries: 0,
    }) else {
        panic!("accepted a key with a line break")
    };
    assert!(
        matches!(&err, QueryError::BadConfig(m) if m.contains("`api_key`")),
        "{err:?}"
    );
    assert!(!err.to_string().contains("abc"));
}
