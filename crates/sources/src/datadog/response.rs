//! Reading what came back from Datadog's `GET /api/v1/query`.
//!
//! The documented answer is `{"status": "ok", "res_type": "time_series",
//! "series": [...], "from_date", "to_date", "query", "message", "error",
//! "group_by"}`, each series carrying `metric`, `display_name`, `scope`,
//! `tag_set`, `expression`, `unit`, `interval`, `length`, `start`, `end`,
//! `aggr` and a `pointlist` of `[ms_timestamp, value | null]`. Failures come
//! as `{"errors": ["..."]}` with a 4xx (403 for bad keys, 429 when rate
//! limited), or as `status: "error"` with `error` set.
//!
//! A series' labels are its scope's `key:value` tags overlaid with its
//! `tag_set` (the group-by values). `null` points mean "no data in that
//! interval": they are dropped, and a series with nothing but nulls is dropped
//! too, with a warning, so that it reads as *empty* (no data, never zero).

use crate::error::{excerpt, QueryError};
use crate::prometheus::response::{classify, describe, Body};
use crate::series::{Answer, Point, Series};
use canaryd_core::vocab::Timestamp;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

const KEY_HINT: &str = "check `api_key` (sent as DD-API-KEY) and `app_key` (DD-APPLICATION-KEY): \
    both must belong to the organisation of this `site` (datadoghq.com, datadoghq.eu, ...), \
    and the application key needs the `timeseries_query` permission";

/// Parses one HTTP answer of the metrics query API. Errors carry no URL yet.
pub fn parse_datadog(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Answer, QueryError> {
    parse_redacted(status, content_type, body, &|s| s.to_string())
}

pub(crate) fn parse_redacted(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    redact: &dyn Fn(&str) -> String,
) -> Result<Answer, QueryError> {
    let doc = match classify(status, content_type, body, redact) {
        Ok(Body::Json(v)) => v,
        Ok(Body::Other(e)) => return Err(e),
        Err(QueryError::Unauthorized { url, status, .. }) => {
            return Err(QueryError::Unauthorized {
                url,
                status,
                hint: format!("{KEY_HINT}. Datadog said: {}", excerpt(body, redact)),
            })
        }
        Err(e) => return Err(e),
    };
    let Some(obj) = doc.as_object() else {
        return Err(shape_error(
            status,
            body,
            redact,
            "the body is not a JSON object",
        ));
    };
    if let Some(errors) = obj.get("errors") {
        return Err(QueryError::Api {
            url: String::new(),
            status,
            error_type: "errors".into(),
            message: redact(&join_errors(errors)),
        });
    }
    if !(200..300).contains(&status) {
        return Err(shape_error(status, body, redact, "an HTTP error"));
    }
    let error = obj.get("error").and_then(Value::as_str).unwrap_or("");
    if obj.get("status").and_then(Value::as_str) == Some("error") || !error.is_empty() {
        return Err(QueryError::Api {
            url: String::new(),
            status,
            error_type: "query".into(),
            message: redact(if error.is_empty() {
                "(status `error` without a message)"
            } else {
                error
            }),
        });
    }
    let series = match obj.get("series") {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None if obj.contains_key("status") => return Ok(Answer::default()),
        _ => {
            return Err(shape_error(
                status,
                body,
                redact,
                "no `series` array: this is not an answer of Datadog's /api/v1/query",
            ))
        }
    };
    let mut answer = Answer::default();
    let mut partial_nulls = 0usize;
    for (i, s) in series.iter().enumerate() {
        let s = s
            .as_object()
            .ok_or_else(|| malformed(format!("series {i} is not an object")))?;
        let labels = labels(s, i)?;
        let (points, nulls) = pointlist(s.get("pointlist"), i)?;
        if points.is_empty() {
            let expr = s.get("expression").and_then(Value::as_str).unwrap_or("");
            answer.warnings.push(format!(
                "series {} of `{expr}` has no non-null points ({nulls} null): read as no data",
                describe(&labels)
            ));
            continue;
        }
        partial_nulls += nulls;
        answer.series.push(Series { labels, points });
    }
    if partial_nulls > 0 {
        answer.warnings.push(format!(
            "{partial_nulls} null points (intervals without data) were dropped"
        ));
    }
    Ok(answer)
}

fn join_errors(errors: &Value) -> String {
    match errors {
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|e| match e {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        Value::String(s) => s.clone(),
        other => format!("(unreadable `errors`: {other})"),
    }
}

fn malformed(detail: impl Into<String>) -> QueryError {
    QueryError::Malformed {
        url: String::new(),
        detail: detail.into(),
    }
}

fn shape_error(status: u16, body: &[u8], redact: &dyn Fn(&str) -> String, why: &str) -> QueryError {
    if (200..300).contains(&status) {
        malformed(format!("{why}; body starts: {}", excerpt(body, redact)))
    } else {
        QueryError::Status {
            url: String::new(),
            status,
            excerpt: excerpt(body, redact),
        }
    }
}

/// Scope tags (`env:prod,version:v2`), then the `tag_set` over them.
fn labels(s: &Map<String, Value>, i: usize) -> Result<BTreeMap<String, String>, QueryError> {
    let mut labels = BTreeMap::new();
    match s.get("scope") {
        Some(Value::String(scope)) => {
            for tag in scope.split(',') {
                add_tag(&mut labels, tag);
            }
        }
        None | Some(Value::Null) => {}
        Some(_) => return Err(malformed(format!("series {i}: `scope` is not a string"))),
    }
    match s.get("tag_set") {
        Some(Value::Array(tags)) => {
            for tag in tags {
                let tag = tag.as_str().ok_or_else(|| {
                    malformed(format!("series {i}: a `tag_set` entry is not a string"))
                })?;
                add_tag(&mut labels, tag);
            }
        }
        None | Some(Value::Null) => {}
        Some(_) => return Err(malformed(format!("series {i}: `tag_set` is not an array"))),
    }
    Ok(labels)
}

fn add_tag(labels: &mut BTreeMap<String, String>, tag: &str) {
    let tag = tag.trim();
    if tag.is_empty() || tag == "*" {
        return;
    }
    match tag.split_once(':') {
        Some((k, v)) => labels.insert(k.to_string(), v.to_string()),
        None => labels.insert(tag.to_string(), String::new()),
    };
}

/// The non-null points, and how many were null.
fn pointlist(v: Option<&Value>, i: usize) -> Result<(Vec<Point>, usize), QueryError> {
    let items = match v {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => return Ok((Vec::new(), 0)),
        Some(_) => {
            return Err(malformed(format!(
                "series {i}: `pointlist` is not an array"
            )))
        }
    };
    let mut points = Vec::with_capacity(items.len());
    let mut nulls = 0;
    for (j, p) in items.iter().enumerate() {
        let what = || format!("series {i}, point {j}");
        let pair = p
            .as_array()
            .filter(|a| a.len() == 2)
            .ok_or_else(|| malformed(format!("{}: not a [timestamp, value] pair", what())))?;
        let ms = pair[0]
            .as_f64()
            .filter(|ms| ms.is_finite() && ms.abs() < 9.0e18)
            .ok_or_else(|| malformed(format!("{}: the timestamp is not a number", what())))?;
        match &pair[1] {
            Value::Null => nulls += 1,
            Value::Number(n) => points.push(Point {
                at: Timestamp(ms.round() as i64),
                value: n.as_f64().unwrap_or(f64::NAN),
            }),
            // Not documented, but NaN cannot be written in JSON: accept the
            // spellings other tools use rather than refusing the answer.
            Value::String(s) => match crate::prometheus::response::parse_value(s) {
                Some(value) => points.push(Point {
                    at: Timestamp(ms.round() as i64),
                    value,
                }),
                None => {
                    return Err(malformed(format!(
                        "{}: the value {s:?} is not a number",
                        what()
                    )))
                }
            },
            _ => return Err(malformed(format!("{}: the value is not a number", what()))),
        }
    }
    Ok((points, nulls))
}
