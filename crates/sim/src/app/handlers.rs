//! Request routing and the behaviour of each route of the sample app.

use super::{AppState, FaultsPatch};
use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) type Body = UnsyncBoxBody<Bytes, hyper::Error>;

/// Bodies the app reads whole (`POST /pay`, `POST /admin/faults`) are capped.
const MAX_READ_BODY: usize = 1 << 20;
/// How long a `down` app holds a request before giving up with 503.
const DOWN_HOLD: Duration = Duration::from_secs(60);

type Fut = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

pub(crate) fn service(
    state: Arc<AppState>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Body>,
    Error = Infallible,
    Future = Fut,
> + Send
       + Clone {
    hyper::service::service_fn(move |req| -> Fut {
        let state = state.clone();
        Box::pin(async move { Ok(handle(state, req).await) })
    })
}

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(
        Full::new(body.into())
            .map_err(|never: Infallible| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

fn json(status: StatusCode, v: &serde_json::Value) -> Response<Body> {
    full(status, "application/json", v.to_string())
}

/// The route template of a request, as the app labels its metrics.
fn route_of(method: &Method, path: &str) -> &'static str {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segs.as_slice()) {
        (&Method::GET, ["pay"]) => "/pay",
        (&Method::POST, ["pay"]) => "/pay",
        (&Method::GET, ["items", id]) if !id.is_empty() => "/items/{id}",
        (&Method::POST, ["echo"]) => "/echo",
        (&Method::GET, ["debug", "headers"]) => "/debug/headers",
        (&Method::GET, ["healthz"]) => "/healthz",
        (&Method::GET, ["metrics"]) => "/metrics",
        (_, ["admin", "faults"]) => "/admin/faults",
        _ => "other",
    }
}

/// Holds the request while the app is `down`; false if it stayed down too long.
async fn wait_until_up(state: &AppState) -> bool {
    let mut rx = state.faults.subscribe();
    tokio::time::timeout(DOWN_HOLD, rx.wait_for(|f| !f.down))
        .await
        .map(|r| r.is_ok())
        .unwrap_or(false)
}

async fn handle(state: Arc<AppState>, req: Request<Incoming>) -> Response<Body> {
    let started = Instant::now();
    let method = req.method().clone();
    let route = route_of(&method, req.uri().path());
    let mut resp = answer(&state, route, req).await;
    if let Ok(v) = header::HeaderValue::from_str(&state.version) {
        resp.headers_mut().insert("x-canaryd-version", v);
    }
    state.metrics.record(
        route,
        method.as_str(),
        resp.status().as_u16(),
        started.elapsed(),
    );
    resp
}

async fn answer(
    state: &Arc<AppState>,
    route: &'static str,
    req: Request<Incoming>,
) -> Response<Body> {
    match route {
        "/admin/faults" => return admin(state, req).await,
        "/healthz" => state.health.fetch_add(1, Ordering::SeqCst),
        "/pay" | "/items/{id}" | "/echo" => state.business.fetch_add(1, Ordering::SeqCst),
        _ => 0,
    };
    let down = state.faults.borrow().down;
    if down && route != "other" && !wait_until_up(state).await {
        return full(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "down\n");
    }
    match route {
        "/healthz" if state.faults.borrow().unhealthy => {
            full(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "unhealthy\n")
        }
        "/healthz" => full(StatusCode::OK, "text/plain", "ok\n"),
        "/metrics" => full(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            state.metrics.render(),
        ),
        "/debug/headers" => {
            let headers: serde_json::Map<String, serde_json::Value> = req
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned().into(),
                    )
                })
                .collect();
            json(StatusCode::OK, &serde_json::Value::Object(headers))
        }
        "/pay" | "/items/{id}" | "/echo" => business(state, route, req).await,
        _ => full(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    }
}

/// Applies latency, CPU burn and errors, then does the route's work.
async fn business(
    state: &Arc<AppState>,
    route: &'static str,
    req: Request<Incoming>,
) -> Response<Body> {
    let faults = state.faults.borrow().clone();
    let delay = faults.latency_ms.sample();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if state.cpu_burn_ms > 0 {
        let burn = Duration::from_millis(state.cpu_burn_ms);
        let _ = tokio::task::spawn_blocking(move || {
            let until = Instant::now() + burn;
            let mut x: u64 = 1;
            while Instant::now() < until {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        })
        .await;
    }
    if faults.error_rate > 0.0 && fastrand::f64() < faults.error_rate {
        return json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &serde_json::json!({"error": "injected fault", "version": state.version}),
        );
    }
    let method = req.method().clone();
    match route {
        "/echo" => {
            let mut r = Response::new(req.into_body().boxed_unsync());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/octet-stream"),
            );
            r
        }
        "/pay" if method == Method::POST => {
            match Limited::new(req.into_body(), MAX_READ_BODY).collect().await {
                Ok(b) => json(
                    StatusCode::OK,
                    &serde_json::json!({"version": state.version, "route": "POST /pay", "paid": true, "bytes": b.to_bytes().len()}),
                ),
                Err(_) => full(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "text/plain",
                    "body too large\n",
                ),
            }
        }
        _ => json(
            StatusCode::OK,
            &serde_json::json!({"version": state.version, "route": format!("{method} {route}")}),
        ),
    }
}

async fn admin(state: &Arc<AppState>, req: Request<Incoming>) -> Response<Body> {
    if req.method() == Method::GET {
        let f = state.faults.borrow().clone();
        return match serde_json::to_value(&f) {
            Ok(v) => json(StatusCode::OK, &v),
            Err(e) => full(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                e.to_string(),
            ),
        };
    }
    if req.method() != Method::POST {
        return full(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET or POST\n",
        );
    }
    let body = match Limited::new(req.into_body(), MAX_READ_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return full(
                StatusCode::PAYLOAD_TOO_LARGE,
                "text/plain",
                "body too large\n",
            )
        }
    };
    let patch: FaultsPatch = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            return json(
                StatusCode::BAD_REQUEST,
                &serde_json::json!({"error": format!("bad faults: {e}")}),
            )
        }
    };
    let next = patch.apply(&state.faults.borrow());
    if let Err(e) = next.validate() {
        return json(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({"error": e.to_string()}),
        );
    }
    tracing::info!(version = %state.version, faults = ?next, "faults changed");
    state.faults.send_replace(next.clone());
    match serde_json::to_value(&next) {
        Ok(v) => json(StatusCode::OK, &v),
        Err(e) => full(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            e.to_string(),
        ),
    }
}
