//! Forwarding one request: size check, split decision, header rewriting,
//! the upstream call with its deadline, and the measurement.

use crate::body::{
    drain, BodyWatch, BoxError, Completion, LimitBody, MeteredBody, BODY_CLIENT_FAILED,
    BODY_TOO_LARGE,
};
use crate::config::Stickiness;
use crate::metrics::{Recorder, Rejection};
use crate::routes::RouteTable;
use crate::split::{idx, Splitter};
use crate::upstreams::Upstreams;
use bytes::Bytes;
use canaryd_core::vocab::Cohort;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;
pub(crate) type UpstreamClient = Client<HttpConnector, LimitBody>;

/// A refused upload is read and discarded up to this much, or this long,
/// before the 413 goes out (like nginx's lingering close).
const DRAIN_CAP: u64 = 64 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Headers that describe one hop, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

pub(crate) struct Proxy {
    pub client: UpstreamClient,
    pub upstreams: Arc<Upstreams>,
    pub split: Arc<Splitter>,
    pub rec: Arc<Recorder>,
    pub routes: RouteTable,
    pub stickiness: Option<Stickiness>,
    pub upstream_timeout: Duration,
    pub max_body: u64,
}

/// 413, closing the connection (the rest of the body is not read further).
fn too_large() -> Response<ProxyBody> {
    let mut r = text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

pub(crate) fn text(status: StatusCode, msg: &'static str) -> Response<ProxyBody> {
    let mut r = Response::new(
        Full::new(Bytes::from_static(msg.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub(crate) fn strip_hop_by_hop(h: &mut HeaderMap) {
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        h.remove(n);
    }
    for n in HOP_BY_HOP {
        h.remove(n);
    }
}

fn sticky_key(st: &Stickiness, h: &HeaderMap) -> Option<Vec<u8>> {
    match st {
        Stickiness::Header(name) => h.get(name).map(|v| v.as_bytes().to_vec()),
        Stickiness::Cookie(name) => h
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| k.trim() == name)
            .map(|(_, v)| v.trim().as_bytes().to_vec()),
    }
}

/// Adds `X-Forwarded-For` (appending the peer), `-Proto` and `-Host` (kept if
/// an earlier proxy set them).
fn add_forwarded(h: &mut HeaderMap, peer: SocketAddr, host: Option<HeaderValue>) {
    let ip = peer.ip().to_string();
    let xff = match h.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) if !prev.trim().is_empty() => format!("{prev}, {ip}"),
        _ => ip,
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        h.insert("x-forwarded-for", v);
    }
    if !h.contains_key("x-forwarded-proto") {
        h.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    }
    if let Some(host) = host {
        if !h.contains_key("x-forwarded-host") {
            h.insert("x-forwarded-host", host);
        }
    }
}

fn declared_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl Proxy {
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<ProxyBody> {
        let start = Instant::now();
        if declared_length(req.headers()).is_some_and(|n| n > self.max_body) {
            self.rec.reject(Rejection::BodyTooLarge);
            drain(req.into_body(), DRAIN_CAP, DRAIN_TIME).await;
            return too_large();
        }
        let route = self.routes.name(req.method(), req.uri().path());
        let slot = self.rec.slot(route, req.method());
        let key = self
            .stickiness
            .as_ref()
            .and_then(|s| sticky_key(s, req.headers()));
        // Read before the decision: see `upstreams` for why the order matters.
        let pair = self.upstreams.get();
        let cohort = self.split.decide(key.as_deref());
        let upstream = match cohort {
            Cohort::Canary => &pair.canary,
            Cohort::Baseline => &pair.stable,
        };

        let (mut parts, body) = req.into_parts();
        let pq = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let uri = match upstream.uri_for(pq) {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(%upstream, error = %e, "cannot build the upstream URL");
                self.rec.record(&slot, cohort, true, start.elapsed());
                return text(StatusCode::BAD_GATEWAY, "bad gateway\n");
            }
        };
        let host = parts.headers.remove(header::HOST).or_else(|| {
            parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
        strip_hop_by_hop(&mut parts.headers);
        add_forwarded(&mut parts.headers, peer, host);
        parts.uri = uri;
        parts.version = Version::HTTP_11;
        let watch = Arc::new(BodyWatch::default());
        let up_req = Request::from_parts(parts, LimitBody::new(body, self.max_body, watch.clone()));

        match tokio::time::timeout(self.upstream_timeout, self.client.request(up_req)).await {
            Ok(Ok(resp)) => {
                let (mut parts, body) = resp.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                let done = Completion {
                    rec: self.rec.clone(),
                    slot,
                    cohort,
                    start,
                    error: parts.status.is_server_error(),
                };
                let body = MeteredBody::new(body, done)
                    .map_err(|e| -> BoxError { Box::new(e) })
                    .boxed_unsync();
                Response::from_parts(parts, body)
            }
            Ok(Err(e)) => match watch.state.load(Ordering::SeqCst) {
                BODY_TOO_LARGE => {
                    self.rec.reject(Rejection::BodyTooLarge);
                    if let Some(rest) = watch.take_leftover() {
                        drain(rest, DRAIN_CAP, DRAIN_TIME).await;
                    }
                    too_large()
                }
                BODY_CLIENT_FAILED => {
                    self.rec.reject(Rejection::ClientBodyFailed);
                    text(StatusCode::BAD_REQUEST, "request body failed\n")
                }
                _ => {
                    let kind = if e.is_connect() {
                        &self.rec.failures.connect
                    } else {
                        &self.rec.failures.reset
                    };
                    kind[idx(cohort)].fetch_add(1, Ordering::SeqCst);
                    let why = std::error::Error::source(&e)
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| e.to_string());
                    tracing::warn!(%cohort, %upstream, connect = e.is_connect(), error = %why, "upstream request failed");
                    self.rec.record(&slot, cohort, true, start.elapsed());
                    text(StatusCode::BAD_GATEWAY, "bad gateway\n")
                }
            },
            Err(_) => {
                self.rec.failures.timeout[idx(cohort)].fetch_add(1, Ordering::SeqCst);
                tracing::warn!(%cohort, %upstream, timeout = ?self.upstream_timeout, "upstream timed out");
                self.rec.record(&slot, cohort, true, start.elapsed());
                text(StatusCode::GATEWAY_TIMEOUT, "gateway timeout\n")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_listed_headers_are_stripped() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("close, x-secret-hop"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("x-app", HeaderValue::from_static("kept"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h["x-app"], "kept");
    }

    #[test]
    fn forwarded_headers_append_and_keep() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let peer: SocketAddr = "127.0.0.1:5555".parse().unwrap();
        add_forwarded(&mut h, peer, Some(HeaderValue::from_static("shop.example")));
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "shop.example");
    }

    #[test]
    fn sticky_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert("cookie", HeaderValue::from_static("a=1; session=abc ; b=2"));
        let k = sticky_key(&Stickiness::Cookie("session".into()), &h);
        assert_eq!(k.as_deref(), Some(&b"abc"[..]));
        assert_eq!(sticky_key(&Stickiness::Cookie("nope".into()), &h), None);
    }
}
