//! Reading what came back from `/api/v1/query` and `/api/v1/query_range`.
//!
//! The body is trusted for nothing: it may be the documented envelope
//! (`{"status":"success","data":{"resultType":…,"result":…}}`), Prometheus'
//! error envelope, a proxy's HTML error page, a Grafana login page served
//! with 200, plain text from a load balancer, truncated JSON, or JSON of the
//! wrong shape. Each becomes either an [`Answer`] or a [`QueryError`] naming
//! what was seen; nothing panics (the property tests feed it arbitrary bytes).
//!
//! Sample values arrive as strings (`"1.5e3"`, `"NaN"`, `"+Inf"`, `"-Inf"`)
//! and are kept as `f64` exactly, NaN and ±Inf included: whether a NaN makes a
//! window inconclusive is the source's decision, not the parser's.
//!
//! Native histogram samples (`histogram` / `histograms`) are not read: canaryd
//! works from classic `_bucket` series. Such samples are skipped and a warning
//! says so, so a query that returns *only* native histograms reads as empty
//! (no data, never a pass) with the reason attached.

use crate::error::{excerpt, QueryError};
use crate::series::{Answer, Point, Series};
use canaryd_core::vocab::Timestamp;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Parses one HTTP answer. `status` and `content_type` are the response's;
/// errors carry no URL yet (the client adds it with [`QueryError::at`]).
pub fn parse_response(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Answer, QueryError> {
    parse_redacted(status, content_type, body, &|s| s.to_string())
}

/// [`parse_response`], masking secrets in any excerpt of the body it keeps.
pub(crate) fn parse_redacted(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    redact: &dyn Fn(&str) -> String,
) -> Result<Answer, QueryError> {
    let doc = match classify(status, content_type, body, redact)? {
        Body::Json(v) => v,
        Body::Other(e) => return Err(e),
    };
    let Some(obj) = doc.as_object() else {
        return Err(non_envelope(
            status,
            body,
            redact,
            "the body is not a JSON object",
        ));
    };
    match obj.get("status").and_then(Value::as_str) {
        Some("success") if (200..300).contains(&status) => parse_success(obj),
        Some("error") => {
            Err(QueryError::Api {
                url: String::new(),
                status,
                error_type: obj
                    .get("errorType")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_string(),
                message: redact(obj.get("error").and_then(Value::as_str).unwrap_or(
                    "(no message; the answer had `status: error` and no `error` field)",
                )),
            })
        }
        _ => Err(non_envelope(
            status,
            body,
            redact,
            "no `status` of `success` or `error`: this is not a Prometheus API answer",
        )),
    }
}

/// What the bytes are, before looking at the envelope.
pub(crate) enum Body {
    Json(Value),
    Other(QueryError),
}

/// Sorts out the answers that are not a JSON API document at all: refused
/// credentials, rate limiting, HTML pages, plain text, truncated JSON. Shared
/// with the Datadog parser, which faces the same proxies.
pub(crate) fn classify(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    redact: &dyn Fn(&str) -> String,
) -> Result<Body, QueryError> {
    if status == 401 || status == 403 {
        return Err(QueryError::Unauthorized {
            url: String::new(),
            status,
            hint: format!(
                "check `auth` (bearer token, or basic username and password) and that \
                 these credentials may query this data source. The server said: {}",
                excerpt(body, redact)
            ),
        });
    }
    if status == 429 {
        return Err(QueryError::RateLimited {
            url: String::new(),
            retry_after: None,
        });
    }
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let head = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .copied()
        .unwrap_or(b' ');
    let looks_json = matches!(head, b'{' | b'[');
    if ct.contains("html") || head == b'<' || (!looks_json && !ct.contains("json")) {
        return Ok(Body::Other(QueryError::NotJson {
            url: String::new(),
            status,
            content_type: if ct.is_empty() {
                "no content type".to_string()
            } else {
                format!("`{ct}`")
            },
            excerpt: excerpt(body, redact),
        }));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => Ok(Body::Json(v)),
        Err(e) if (200..300).contains(&status) => Ok(Body::Other(QueryError::Malformed {
            url: String::new(),
            detail: format!(
                "invalid or truncated JSON ({e}); body starts: {}",
                excerpt(body, redact)
            ),
        })),
        Err(_) => Ok(Body::Other(status_error(status, body, redact))),
    }
}

fn status_error(status: u16, body: &[u8], redact: &dyn Fn(&str) -> String) -> QueryError {
    QueryError::Status {
        url: String::new(),
        status,
        excerpt: excerpt(body, redact),
    }
}

/// JSON that is not the API's envelope: an HTTP error from something in front
/// keeps its status (so 502/503/504 stay retryable); a 2xx is malformed.
fn non_envelope(
    status: u16,
    body: &[u8],
    redact: &dyn Fn(&str) -> String,
    why: &str,
) -> QueryError {
    if (200..300).contains(&status) {
        QueryError::Malformed {
            url: String::new(),
            detail: format!("{why}; body starts: {}", excerpt(body, redact)),
        }
    } else {
        status_error(status, body, redact)
    }
}

fn malformed(detail: impl Into<String>) -> QueryError {
    QueryError::Malformed {
        url: String::new(),
        detail: detail.into(),
    }
}

fn parse_success(obj: &Map<String, Value>) -> Result<Answer, QueryError> {
    let mut warnings = strings(obj.get("warnings"), "");
    warnings.extend(strings(obj.get("infos"), "info: "));
    let data = obj
        .get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed("`data` is missing or not an object"))?;
    let result_type = data
        .get("resultType")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("`data.resultType` is missing or not a string"))?;
    let result = data
        .get("result")
        .ok_or_else(|| malformed("`data.result` is missing"))?;
    let series = match result_type {
        "vector" => vector(result, &mut warnings)?,
        "matrix" => matrix(result, &mut warnings)?,
        "scalar" => vec![Series {
            labels: BTreeMap::new(),
            points: vec![sample(result, "scalar result")?],
        }],
        "string" => {
            return Err(malformed(
                "the query returned a string, not a number: canaryd needs a query that \
                 returns an instant vector, a range vector or a scalar",
            ))
        }
        other => {
            return Err(malformed(format!(
                "unknown `resultType` `{}`",
                other.chars().take(40).collect::<String>()
            )))
        }
    };
    Ok(Answer { series, warnings })
}

fn strings(v: Option<&Value>, prefix: &str) -> Vec<String> {
    let Some(Value::Array(items)) = v else {
        return Vec::new();
    };
    items
        .iter()
        .map(|w| match w {
            Value::String(s) => format!("{prefix}{s}"),
            other => format!("{prefix}{other}"),
        })
        .collect()
}

fn elements<'a>(result: &'a Value, kind: &str) -> Result<Vec<&'a Map<String, Value>>, QueryError> {
    match result {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, e)| {
                e.as_object()
                    .ok_or_else(|| malformed(format!("{kind} element {i} is not an object")))
            })
            .collect(),
        Value::Null => Ok(Vec::new()),
        _ => Err(malformed(format!("a {kind} result is not an array"))),
    }
}

fn vector(result: &Value, warnings: &mut Vec<String>) -> Result<Vec<Series>, QueryError> {
    let mut out = Vec::new();
    for (i, e) in elements(result, "vector")?.iter().enumerate() {
        let labels = labels(e.get("metric"), i)?;
        match (e.get("value"), e.get("histogram")) {
            (Some(v), _) => out.push(Series {
                labels,
                points: vec![sample(v, &format!("vector element {i}"))?],
            }),
            (None, Some(_)) => warnings.push(native_histogram_warning(&labels)),
            (None, None) => {
                return Err(malformed(format!(
                    "vector element {i} has neither `value` nor `histogram`"
                )))
            }
        }
    }
    Ok(out)
}

fn matrix(result: &Value, warnings: &mut Vec<String>) -> Result<Vec<Series>, QueryError> {
    let mut out = Vec::new();
    for (i, e) in elements(result, "matrix")?.iter().enumerate() {
        let labels = labels(e.get("metric"), i)?;
        if e.get("histograms").is_some() {
            warnings.push(native_histogram_warning(&labels));
        }
        let points = match e.get("values") {
            Some(Value::Array(vs)) => vs
                .iter()
                .enumerate()
                .map(|(j, v)| sample(v, &format!("matrix element {i}, sample {j}")))
                .collect::<Result<Vec<_>, _>>()?,
            Some(Value::Null) | None => Vec::new(),
            Some(_) => {
                return Err(malformed(format!(
                    "matrix element {i}: `values` is not an array"
                )))
            }
        };
        if !points.is_empty() {
            out.push(Series { labels, points });
        }
    }
    Ok(out)
}

fn native_histogram_warning(labels: &BTreeMap<String, String>) -> String {
    format!(
        "native histogram samples of {} were skipped: canaryd reads classic histograms \
         (`_bucket` series) and plain samples",
        describe(labels)
    )
}

/// `{__name__="x", a="b"}`, the way PromQL writes a selector.
pub(crate) fn describe(labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn labels(metric: Option<&Value>, i: usize) -> Result<BTreeMap<String, String>, QueryError> {
    match metric {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(malformed(format!(
                    "element {i}: label `{k}` is not a string"
                ))),
            })
            .collect(),
        Some(_) => Err(malformed(format!("element {i}: `metric` is not an object"))),
    }
}

/// `[<unix seconds>, "<value>"]`.
fn sample(v: &Value, what: &str) -> Result<Point, QueryError> {
    let pair = v
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or_else(|| malformed(format!("{what}: a sample is not a [time, value] pair")))?;
    let secs = pair[0]
        .as_f64()
        .ok_or_else(|| malformed(format!("{what}: the sample time is not a number")))?;
    let at = seconds_to_timestamp(secs)
        .ok_or_else(|| malformed(format!("{what}: the sample time {secs} is out of range")))?;
    let value = match &pair[1] {
        Value::String(s) => parse_value(s)
            .ok_or_else(|| malformed(format!("{what}: the value {s:?} is not a number")))?,
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| malformed(format!("{what}: the value {n} is not a number")))?,
        _ => {
            return Err(malformed(format!(
                "{what}: the value is neither a string nor a number"
            )))
        }
    };
    Ok(Point { at, value })
}

/// Seconds (with fractional milliseconds) to a [`Timestamp`], if representable.
pub(crate) fn seconds_to_timestamp(secs: f64) -> Option<Timestamp> {
    let ms = (secs * 1000.0).round();
    // i64::MAX as f64 rounds up; stay well inside the range.
    (ms.is_finite() && ms.abs() < 9.0e18).then_some(Timestamp(ms as i64))
}

/// A Prometheus sample value: Go's float formatting plus `NaN` and `±Inf`.
pub fn parse_value(s: &str) -> Option<f64> {
    match s.trim() {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        t => t.parse::<f64>().ok(),
    }
}
