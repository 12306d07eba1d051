//! The Prometheus client against a local HTTP server that replays answers of
//! every shape: what is sent (path, form, auth) and what each answer becomes.

use axum::body::{to_bytes, Body};
use axum::http::{HeaderMap, Request, Response, StatusCode};
use canaryd_core::vocab::Timestamp;
use canaryd_secrets::{SafeUrl, SecretSource};
use canaryd_sources::error::QueryError;
use canaryd_sources::prometheus::client::{Auth, Backoff, ClientConfig, PromClient};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone)]
struct Reply {
    status: u16,
    content_type: &'static str,
    body: String,
    delay: Duration,
    headers: Vec<(&'static str, &'static str)>,
}

fn json(status: u16, body: &str) -> Reply {
    Reply {
        status,
        content_type: "application/json",
        body: body.to_string(),
        delay: Duration::ZERO,
        headers: vec![],
    }
}

fn html(status: u16, body: &str) -> Reply {
    Reply {
        content_type: "text/html; charset=utf-8",
        ..json(status, body)
    }
}

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: HeaderMap,
    body: String,
}

#[derive(Clone)]
struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
    fn first(&self) -> Seen {
        self.seen.lock().unwrap()[0].clone()
    }
}

/// Serves `replies` in order (the last one again once they run out).
async fn serve(replies: Vec<Reply>) -> Server {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let queue = Arc::new(Mutex::new(replies));
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |req: Request<Body>| {
        let log = log.clone();
        let queue = queue.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = to_bytes(body, 1 << 20).await.unwrap();
            log.lock().unwrap().push(Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_string(),
                headers: parts.headers.clone(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            let reply = {
                let mut q = queue.lock().unwrap();
                if q.len() > 1 {
                    q.remove(0)
                } else {
                    q[0].clone()
                }
            };
            tokio::time::sleep(reply.delay).await;
            let mut resp = Response::builder()
                .status(StatusCode::from_u16(reply.status).unwrap())
                .header("content-type", reply.content_type);
            for (k, v) in reply.headers {
                resp = resp.header(k, v);
            }
            resp.body(Body::from(reply.body)).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        url: format!("http://{addr}"),
        seen,
    }
}

fn fast() -> Backoff {
    Backoff {
        initial: Duration::from_millis(5),
        max: Duration::from_millis(20),
        max_retry_after: Duration::from_millis(50),
    }
}

fn client(url: &str, auth: Option<Auth>, retries: u32) -> PromClient {
    let cfg = ClientConfig {
        url: SafeUrl::parse(url).unwrap(),
        auth,
        timeout: Duration::from_secs(5),
        retries,
    };
    PromClient::with_backoff(cfg, fast()).unwrap()
}

const VECTOR: &str = r#"{"status":"success","data":{"resultType":"vector","result":[
  {"metric":{"__name__":"up","job":"api"},"value":[1700000000.123,"1.5e3"]}]}}"#;

fn form(body: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

#[tokio::test]
async fn instant_query_posts_the_form_and_parses_the_vector() {
    let server = serve(vec![json(200, VECTOR)]).await;
    let c = client(&server.url, None, 0);
    let answer = c
        .instant("sum(rate(x[5m]))", Timestamp(1_700_000_000_123))
        .await
        .unwrap();
    assert_eq!(answer.series.len(), 1);
    assert_eq!(answer.series[0].points[0].value, 1500.0);
    assert_eq!(answer.series[0].points[0].at, Timestamp(1_700_000_000_123));
    let seen = server.first();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/api/v1/query");
    assert_eq!(
        seen.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        form(&seen.body),
        vec![
            ("query".to_string(), "sum(rate(x[5m]))".to_string()),
            ("time".to_string(), "1700000000.123".to_string())
        ]
    );
    assert!(seen.headers.get("authorization").is_none());
    assert_eq!(c.queries_issued(), 1);
}

#[tokio::test]
async fn range_query_sends_start_end_and_step() {
    let body = r#"{"status":"success","data":{"resultType":"matrix","result":[
      {"metric":{"route":"/pay"},"values":[[1700000000,"1"],[1700000015,"NaN"],[1700000030,"+Inf"]]}]}}"#;
    let server = serve(vec![json(200, body)]).await;
    let c = client(&server.url, None, 0);
    let answer = c
        .range(
            "up",
            Timestamp(1_700_000_000_000),
            Timestamp(1_700_000_030_000),
            Duration::from_millis(15_500),
        )
        .await
        .unwrap();
    let values: Vec<f64> = answer.series[0].points.iter().map(|p| p.value).collect();
    assert_eq!(values[0], 1.0);
    assert!(values[1].is_nan());
    assert_eq!(values[2], f64::INFINITY);
    let seen = server.first();
    assert_eq!(seen.path, "/api/v1/query_range");
    let f = form(&seen.body);
    assert!(f.contains(&("start".into(), "1700000000.000".into())));
    assert!(f.contains(&("end".into(), "1700000030.000".into())));
    assert!(f.contains(&("step".into(), "15.500".into())));
}

#[tokio::test]
async fn bearer_and_basic_credentials_are_sent_exactly() {
    let server = serve(vec![json(200, VECTOR)]).await;
    let bearer = Auth::Bearer {
        token: SecretSource::Inline("tok-123".into()),
    };
    client(&server.url, Some(bearer), 0)
        .instant("up", Timestamp(0))
        .await
        .unwrap();
    assert_eq!(server.first().headers["authorization"], "Bearer tok-123");

    let server = serve(vec![json(200, VECTOR)]).await;
    let basic = Auth::Basic {
        username: "canaryd".into(),
        password: SecretSource::Inline("pa55".into()),
    };
    let c = client(&server.url, Some(basic), 0);
    c.instant("up", Timestamp(0)).await.unwrap();
    // base64("canaryd:pa55")
    assert_eq!(
        server.first().headers["authorization"],
        "Basic Y2FuYXJ5ZDpwYTU1"
    );
    // The password, and the base64 of `user:password` the header carries.
    assert_eq!(c.secrets().len(), 2);
    assert_eq!(c.secrets()[0].expose(), "pa55");
    assert_eq!(c.secrets()[1].expose(), "Y2FuYXJ5ZDpwYTU1");
}

#[tokio::test]
async fn grafana_proxy_prefix_is_kept() {
    let server = serve(vec![json(200, VECTOR)]).await;
    let base = format!(
        "{}/api/datasources/proxy/uid/P1809F7CD0C75ACF3/",
        server.url
    );
    let c = client(&base, None, 0);
    c.instant("up", Timestamp(0)).await.unwrap();
    assert_eq!(
        server.first().path,
        "/api/datasources/proxy/uid/P1809F7CD0C75ACF3/api/v1/query"
    );
    assert!(!c.url().ends_with('/'));
}

#[tokio::test]
async fn unavailable_then_success_is_retried() {
    let server = serve(vec![
        html(503, "<html>upstream unavailable</html>"),
        json(200, VECTOR),
    ])
    .await;
    let c = client(&server.url, None, 2);
    let answer = c.instant("up", Timestamp(0)).await.unwrap();
    assert_eq!(answer.series.len(), 1);
    assert_eq!(server.count(), 2);
    assert_eq!(c.queries_issued(), 2);
}

#[tokio::test]
async fn retries_are_bounded() {
    let server = serve(vec![html(502, "<h1>502 Bad Gateway</h1>")]).await;
    let c = client(&server.url, None, 3);
    let err = c.instant("up", Timestamp(0)).await.unwrap_err();
    assert_eq!(server.count(), 4, "1 attempt + 3 retries");
    assert!(
        matches!(err, QueryError::NotJson { status: 502, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn rate_limiting_waits_and_retries() {
    let mut limited = json(
        429,
        r#"{"status":"error","errorType":"unavailable","error":"slow down"}"#,
    );
    limited.headers = vec![("retry-after", "1")];
    let server = serve(vec![limited, json(200, VECTOR)]).await;
    let c = client(&server.url, None, 1);
    assert!(c.instant("up", Timestamp(0)).await.is_ok());
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn bad_data_is_never_retried() {
    let server = serve(vec![json(
        400,
        r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected \"}\""}"#,
    )])
    .await;
    let c = client(&server.url, None, 3);
    let err = c.instant("up}", Timestamp(0)).await.unwrap_err();
    assert_eq!(server.count(), 1);
    match &err {
        QueryError::Api {
            url,
            status,
            error_type,
            message,
        } => {
            assert_eq!(*status, 400);
            assert_eq!(error_type, "bad_data");
            assert!(message.contains("parse error"));
            assert!(url.ends_with("/api/v1/query"));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains(&server.url));
}

#[tokio::test]
async fn execution_errors_are_reported_not_retried() {
    let server = serve(vec![json(
        422,
        r#"{"status":"error","errorType":"execution","error":"many-to-many matching not allowed"}"#,
    )])
    .await;
    let err = client(&server.url, None, 2)
        .instant("a / b", Timestamp(0))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, QueryError::Api { status: 422, error_type, .. } if error_type == "execution")
    );
    assert!(!err.is_transient());
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn a_slow_server_times_out_and_is_retried_a_bounded_number_of_times() {
    let mut slow = json(200, VECTOR);
    slow.delay = Duration::from_secs(3);
    let server = serve(vec![slow]).await;
    let cfg = ClientConfig {
        url: SafeUrl::parse(&server.url).unwrap(),
        auth: None,
        timeout: Duration::from_millis(100),
        retries: 1,
    };
    let c = PromClient::with_backoff(cfg, fast()).unwrap();
    let err = c.instant("up", Timestamp(0)).await.unwrap_err();
    assert!(matches!(err, QueryError::Timeout { .. }), "{err:?}");
    assert_eq!(c.queries_issued(), 2);
    assert!(err.to_string().contains("Raise `timeout`"));
}

#[tokio::test]
async fn nothing_listening_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let c = client(&url, None, 1);
    let err = c.instant("up", Timestamp(0)).await.unwrap_err();
    assert!(matches!(err, QueryError::Unreachable { .. }), "{err:?}");
    assert_eq!(c.queries_issued(), 2);
    assert!(err.to_string().contains(&url));
}

#[tokio::test]
async fn a_login_page_with_200_is_not_json() {
    let page = "<!DOCTYPE html><html><head><title>Grafana</title></head><body>Login</body></html>";
    let server = serve(vec![html(200, page)]).await;
    let err = client(&server.url, None, 2)
        .instant("up", Timestamp(0))
        .await
        .unwrap_err();
    assert!(
        matches!(err, QueryError::NotJson { status: 200, .. }),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert_eq!(server.count(), 1);
    let msg = err.to_string();
    assert!(msg.contains("Grafana"), "{msg}");
    assert!(msg.contains("/api/datasources/proxy/uid/"), "{msg}");
}

#[tokio::test]
async fn refused_credentials_are_unauthorized_and_the_token_never_echoed() {
    let server = serve(vec![json(
        401,
        r#"{"message":"invalid API key tok-secret-999"}"#,
    )])
    .await;
    let auth = Auth::Bearer {
        token: SecretSource::Inline("tok-secret-999".into()),
    };
    let err = client(&server.url, Some(auth), 3)
        .instant("up", Timestamp(0))
        .await
        .unwrap_err();
    assert!(
        matches!(err, QueryError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert_eq!(server.count(), 1);
    let msg = err.to_string();
    assert!(!msg.contains("tok-secret-999"), "{msg}");
    assert!(msg.contains("[REDACTED]"), "{msg}");
}

#[tokio::test]
async fn truncated_json_is_malformed() {
    let server = serve(vec![json(200, &VECTOR[..40])]).await;
    let err = client(&server.url, None, 2)
        .instant("up", Timestamp(0))
        .await
        .unwrap_err();
    assert!(matches!(err, QueryError::Malformed { .. }), "{err:?}");
    assert_eq!(server.count(), 1);
}

#[test]
fn bad_configs_are_refused_before_sending() {
    let cfg = |url: &str| ClientConfig {
        url: SafeUrl::parse(url).unwrap(),
        auth: None,
        timeout: Duration::from_secs(1),
        retries: 0,
    };
    // Not http(s) at all: refused when the URL is read.
    for bad in ["prom:9090", "ftp://prom"] {
        assert!(SafeUrl::parse(bad).is_err(), "{bad}");
    }
    // A URL, but not a base URL the client may use.
    for bad in ["http://u:p@prom:9090", "http://prom/?x=1"] {
        let err = PromClient::new(cfg(bad)).err().unwrap();
        assert!(matches!(err, QueryError::BadConfig(_)), "{bad}: {err:?}");
    }
    let err = PromClient::new(ClientConfig {
        auth: Some(Auth::Bearer {
            token: SecretSource::Env {
                env: "CANARYD_TEST_SURELY_UNSET".into(),
            },
        }),
        ..cfg("http://prom:9090")
    })
    .err()
    .unwrap();
    assert!(err.to_string().contains("CANARYD_TEST_SURELY_UNSET"));
    let err = PromClient::new(cfg("http://u:hunter2@prom:9090"))
        .err()
        .unwrap();
    assert!(!err.to_string().contains("hunter2"));
}

#[test]
fn auth_config_deserializes_from_yaml() {
    let auth: Auth =
        serde_json::from_str(r#"{"basic":{"username":"u","password":{"env":"X"}}}"#).unwrap();
    assert!(matches!(auth, Auth::Basic { username, .. } if username == "u"));
    assert!(serde_json::from_str::<Auth>(r#"{"bearer":{"token":"t","extra":1}}"#).is_err());
}

/// A real Prometheus (Debian's package, or `PROMETHEUS_BIN`) on a free
/// loopback port with empty storage, killed when dropped.
struct RealPrometheus {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for RealPrometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn real_prometheus() -> (RealPrometheus, PromClient) {
    let bin = std::env::var("PROMETHEUS_BIN").unwrap_or_else(|_| "prometheus".into());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        "global:\n  scrape_interval: 1h\nscrape_configs: []\n",
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(&bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start `{bin}` ({e}): run scripts/test (it installs Debian's prometheus) or set PROMETHEUS_BIN")
        });
    let prom = RealPrometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    let c = client(&prom.url, None, 0);
    // Wait until it answers queries (startup, not a timing assertion).
    for _ in 0..600 {
        if c.instant("vector(1)", Timestamp(0)).await.is_ok() {
            return (prom, c);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{bin} did not start answering on {}", prom.url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_answers_every_shape_as_parsed() {
    let (_prom, c) = real_prometheus().await;
    let at = Timestamp(1_700_000_000_123);

    let a = c.instant("vector(1.5e3)", at).await.unwrap();
    assert_eq!(a.series.len(), 1);
    assert!(a.series[0].labels.is_empty());
    assert_eq!(a.series[0].points[0].value, 1500.0);
    assert_eq!(a.series[0].points[0].at, at, "millisecond time survives");

    let a = c
        .instant(
            "label_replace(vector(1), \"route\", \"/pay\", \"\", \"\")",
            at,
        )
        .await
        .unwrap();
    assert_eq!(a.series[0].labels["route"], "/pay");

    let a = c.instant("2", at).await.unwrap();
    assert_eq!(a.series[0].points[0].value, 2.0, "scalar");
    assert!(c.instant("0/0", at).await.unwrap().series[0].points[0]
        .value
        .is_nan());
    let inf = c.instant("vector(1)/0", at).await.unwrap();
    assert_eq!(inf.series[0].points[0].value, f64::INFINITY);
    let ninf = c.instant("vector(-1)/0", at).await.unwrap();
    assert_eq!(ninf.series[0].points[0].value, f64::NEG_INFINITY);

    let empty = c.instant("no_such_metric{job=\"x\"}", at).await.unwrap();
    assert!(empty.series.is_empty());

    let m = c
        .range(
            "vector(7)",
            Timestamp(1_700_000_000_000),
            Timestamp(1_700_000_060_000),
            Duration::from_secs(15),
        )
        .await
        .unwrap();
    let times: Vec<i64> = m.series[0].points.iter().map(|p| p.at.0).collect();
    assert_eq!(
        times,
        (0..5)
            .map(|i| 1_700_000_000_000 + i * 15_000)
            .collect::<Vec<_>>()
    );

    let err = c.instant("\"hello\"", at).await.unwrap_err();
    assert!(matches!(err, QueryError::Malformed { .. }), "{err:?}");
    let err = c.instant("sum(", at).await.unwrap_err();
    assert!(
        matches!(&err, QueryError::Api { status: 400, error_type, .. } if error_type == "bad_data"),
        "{err:?}"
    );
    assert!(err.to_string().contains(&c.url().to_string()));
}
