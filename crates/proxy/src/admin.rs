//! Weight control over the admin listener, for a controller in another
//! process (`canaryd gate` with `router: embedded`, or any script):
//! `GET /admin/weight` → `{"weight": N}`, `PUT /admin/weight` with
//! `{"weight": N}` (0–100) → `{"weight": N}` once every new request is split
//! with it.
//!
//! Who may do what is [`AdminAccess`]. Without a token the weight can be read
//! but not changed (403): whoever reaches the admin port could otherwise send
//! all traffic to an untested build. With a token, both methods need
//! `Authorization: Bearer <token>` (compared in constant time).
//! [`AdminAccess::Open`] lifts the guard for loopback-only setups.

use crate::forward::ProxyBody;
use crate::handle::Shared;
use bytes::Bytes;
use canaryd_core::vocab::Weight;
use http::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use std::fmt;
use subtle::ConstantTimeEq;

pub const WEIGHT_PATH: &str = "/admin/weight";

/// Request bodies larger than this are refused: `{"weight": 100}` is 15 bytes.
const MAX_BODY: usize = 1024;

/// A bearer token for the admin API. Its `Debug` never shows the value, so
/// printing a [`crate::RouterConfig`] cannot leak it.
#[derive(Clone)]
pub struct AdminToken(String);

impl AdminToken {
    /// `None` for an empty (or all-whitespace) token: an empty token would
    /// let anyone in.
    pub fn new(value: impl Into<String>) -> Option<AdminToken> {
        let v = value.into().trim().to_string();
        (!v.is_empty()).then_some(AdminToken(v))
    }

    /// Constant-time: response timing tells nothing about how much was right.
    pub fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        a.len() == b.len() && bool::from(a.ct_eq(b))
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(***)")
    }
}

/// Who may use `/admin/weight`.
#[derive(Clone, Debug, Default)]
pub enum AdminAccess {
    /// Anyone may read the weight; nobody may change it over HTTP.
    #[default]
    ReadOnly,
    /// Reading and changing need this bearer token.
    Token(AdminToken),
    /// Anyone who reaches the admin listener may change the weight.
    Open,
}

/// The credentials of an `Authorization: Bearer <token>` value. The scheme
/// is matched case-insensitively (RFC 7235 §2.1): `bearer x` is the same.
pub(crate) fn bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

pub(crate) async fn weight(
    sh: &Shared,
    access: &AdminAccess,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    if let AdminAccess::Token(token) = access {
        let presented = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer);
        if !presented.is_some_and(|p| token.matches(p.trim())) {
            let mut r = error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
            r.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
    }
    match *req.method() {
        Method::GET => current(sh),
        Method::PUT => {
            if matches!(access, AdminAccess::ReadOnly) {
                return error(
                    StatusCode::FORBIDDEN,
                    "weight changes over the admin API are off: start the router with an admin \
                     token (or, on loopback only, with the admin API open)",
                );
            }
            let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "cannot read the body (at most 1 KiB): send {\"weight\": N}",
                    )
                }
            };
            match parse_weight(&body) {
                Ok(w) => {
                    sh.split.set(w);
                    tracing::info!(weight = w, "canary weight set over the admin API");
                    current(sh)
                }
                Err(why) => error(StatusCode::BAD_REQUEST, &why),
            }
        }
        _ => {
            let mut r = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "use GET to read the weight, PUT {\"weight\": N} to set it",
            );
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, PUT"));
            r
        }
    }
}

/// `{"weight": N}` with N an integer 0–100 and nothing else.
fn parse_weight(body: &[u8]) -> Result<Weight, String> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("the body is not JSON ({e}): send {{\"weight\": N}}"))?;
    let Some(obj) = v.as_object() else {
        return Err("the body must be a JSON object: {\"weight\": N}".into());
    };
    if let Some(other) = obj.keys().find(|k| *k != "weight") {
        return Err(format!(
            "unknown field `{other}`: the only field is `weight`"
        ));
    }
    let Some(w) = obj.get("weight") else {
        return Err("missing field `weight`: send {\"weight\": N}".into());
    };
    match w.as_u64() {
        Some(n) if n <= 100 => Ok(n as Weight),
        Some(n) => Err(format!(
            "weight {n} is out of range: a canary weight is 0–100 percent"
        )),
        None => Err(format!("weight must be a whole number 0–100, not {w}")),
    }
}

fn current(sh: &Shared) -> Response<ProxyBody> {
    json(
        StatusCode::OK,
        serde_json::json!({ "weight": sh.split.weight() }),
    )
}

fn error(status: StatusCode, message: &str) -> Response<ProxyBody> {
    json(status, serde_json::json!({ "error": message }))
}

fn json(status: StatusCode, v: serde_json::Value) -> Response<ProxyBody> {
    let mut r = Response::new(
        Full::new(Bytes::from(v.to_string()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_bodies() {
        assert_eq!(parse_weight(br#"{"weight": 25}"#), Ok(25));
        assert_eq!(parse_weight(br#"{"weight": 0}"#), Ok(0));
        assert_eq!(parse_weight(br#"{"weight": 100}"#), Ok(100));
        let e = |b: &[u8]| parse_weight(b).unwrap_err();
        assert!(e(br#"{"weight": 101}"#).contains("out of range"));
        assert!(e(br#"{"weight": -1}"#).contains("whole number"));
        assert!(e(br#"{"weight": 2.5}"#).contains("whole number"));
        assert!(e(br#"{"weight": "25"}"#).contains("whole number"));
        assert!(e(br#"{}"#).contains("missing field"));
        assert!(e(br#"{"weight": 5, "x": 1}"#).contains("unknown field `x`"));
        assert!(e(b"25").contains("JSON object"));
        assert!(e(b"weight=25").contains("not JSON"));
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("BEARER  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearerabc"), None);
    }

    #[test]
    fn token_never_printed_and_compared_whole() {
        let t = AdminToken::new(" s3cret ").unwrap();
        assert_eq!(
            format!("{:?}", AdminAccess::Token(t.clone())),
            "Token(AdminToken(***))"
        );
        assert!(t.matches("s3cret"));
        assert!(!t.matches("s3cre"));
        assert!(!t.matches("s3cret2"));
        assert!(AdminToken::new("  ").is_none());
    }
}
