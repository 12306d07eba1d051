//! The Datadog response parser on the documented payload of
//! `GET /api/v1/query`, its error shapes, and arbitrary input (property tests).

use canaryd_core::vocab::Timestamp;
use canaryd_sources::datadog::parse_datadog;
use canaryd_sources::error::QueryError;
use proptest::prelude::*;

const JSON: Option<&str> = Some("application/json");

/// Shaped as Datadog documents the v1 query answer (values made up).
const DOCUMENTED: &str = r#"{
  "status": "ok",
  "res_type": "time_series",
  "resp_version": 1,
  "query": "sum:trace.http.request.hits{env:prod,service:checkout,version:v2} by {resource_name}.as_count()",
  "from_date": 1700000000000,
  "to_date": 1700000300000,
  "group_by": ["resource_name"],
  "message": "",
  "error": null,
  "series": [
    {
      "metric": "trace.http.request.hits",
      "display_name": "trace.http.request.hits",
      "unit": [{"family": "general", "scale_factor": 1.0, "name": "hit", "short_name": null, "plural": "hits", "id": 41}, null],
      "pointlist": [[1700000000000.0, 120.0], [1700000060000.0, null], [1700000120000.0, 130.5]],
      "start": 1700000000000,
      "end": 1700000179000,
      "interval": 60,
      "length": 3,
      "aggr": "sum",
      "scope": "env:prod,resource_name:get_/pay,service:checkout,version:v2",
      "expression": "sum:trace.http.request.hits{env:prod,resource_name:get_/pay,service:checkout,version:v2}.as_count()",
      "tag_set": ["resource_name:get_/pay"],
      "query_index": 0,
      "attributes": {}
    },
    {
      "metric": "trace.http.request.hits",
      "display_name": "trace.http.request.hits",
      "unit": null,
      "pointlist": [[1700000000000.0, null], [1700000060000.0, null]],
      "start": 1700000000000,
      "end": 1700000119000,
      "interval": 60,
      "length": 2,
      "aggr": "sum",
      "scope": "env:prod,resource_name:get_/cart,service:checkout,version:v2",
      "expression": "sum:trace.http.request.hits{env:prod,resource_name:get_/cart,service:checkout,version:v2}.as_count()",
      "tag_set": ["resource_name:get_/cart"],
      "query_index": 0
    }
  ]
}"#;

#[test]
fn the_documented_payload_parses_with_labels_points_and_nulls() {
    let a = parse_datadog(200, JSON, DOCUMENTED.as_bytes()).unwrap();
    assert_eq!(a.series.len(), 1, "the all-null series reads as empty");
    let s = &a.series[0];
    assert_eq!(s.labels["resource_name"], "get_/pay");
    assert_eq!(s.labels["version"], "v2");
    assert_eq!(s.labels["env"], "prod");
    let pts: Vec<(i64, f64)> = s.points.iter().map(|p| (p.at.0, p.value)).collect();
    assert_eq!(
        pts,
        vec![(1_700_000_000_000, 120.0), (1_700_000_120_000, 130.5)]
    );
    assert_eq!(a.warnings.len(), 2, "{:?}", a.warnings);
    assert!(a
        .warnings
        .iter()
        .any(|w| w.contains("get_/cart") && w.contains("2 null")));
    assert!(a.warnings.iter().any(|w| w.starts_with("1 null point")));
}

#[test]
fn empty_series_is_an_empty_answer() {
    let body = r#"{"status":"ok","res_type":"time_series","series":[],"from_date":1,"to_date":2,"query":"q","message":"","group_by":[]}"#;
    let a = parse_datadog(200, JSON, body.as_bytes()).unwrap();
    assert!(a.series.is_empty());
    assert!(a.warnings.is_empty());
}

#[test]
fn bad_keys_are_unauthorized_with_a_datadog_hint() {
    let err = parse_datadog(403, JSON, br#"{"errors": ["Forbidden"]}"#).unwrap_err();
    match &err {
        QueryError::Unauthorized { status, hint, .. } => {
            assert_eq!(*status, 403);
            assert!(hint.contains("DD-API-KEY") && hint.contains("DD-APPLICATION-KEY"));
            assert!(hint.contains("Forbidden"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_transient());
}

#[test]
fn query_errors_are_api_errors() {
    let err = parse_datadog(
        400,
        JSON,
        br#"{"errors": ["Error parsing query: unable to parse sum:x{: Rule 'scope_expr' didn't match"]}"#,
    )
    .unwrap_err();
    assert!(
        matches!(&err, QueryError::Api { status: 400, message, .. } if message.contains("Error parsing query"))
    );
    assert!(!err.is_transient());
    let err = parse_datadog(
        200,
        JSON,
        br#"{"status":"error","res_type":"time_series","series":[],"error":"Rule 'scope_expr' didn't match"}"#,
    )
    .unwrap_err();
    assert!(
        matches!(&err, QueryError::Api { status: 200, message, .. } if message.contains("scope_expr"))
    );
}

#[test]
fn rate_limits_and_proxy_pages() {
    let err = parse_datadog(429, JSON, br#"{"errors": ["Too many requests"]}"#).unwrap_err();
    assert!(matches!(err, QueryError::RateLimited { .. }));
    assert!(err.is_transient());
    let err = parse_datadog(504, Some("text/html"), b"<html>Gateway Timeout</html>").unwrap_err();
    assert!(matches!(err, QueryError::NotJson { status: 504, .. }));
    assert!(err.is_transient());
}

#[test]
fn wrong_shapes_are_malformed() {
    for body in [
        r#"[1,2]"#,
        r#"{"foo":1}"#,
        r#"{"status":"ok","series":{}}"#,
        r#"{"status":"ok","series":[1]}"#,
        r#"{"status":"ok","series":[{"pointlist":[[1]]}]}"#,
        r#"{"status":"ok","series":[{"pointlist":[["a",1]]}]}"#,
        r#"{"status":"ok","series":[{"pointlist":[[1,"x"]]}]}"#,
        r#"{"status":"ok","series":[{"pointlist":[[1,[1]]]}]}"#,
        r#"{"status":"ok","series":[{"pointlist":[[1,1]],"tag_set":[1]}]}"#,
        r#"{"status":"ok","series":[{"pointlist":[[1,1]],"scope":5}]}"#,
        r#"{"status":"ok","series":[{"pointlist":"#,
    ] {
        let err = parse_datadog(200, JSON, body.as_bytes()).unwrap_err();
        assert!(
            matches!(err, QueryError::Malformed { .. }),
            "{body}: {err:?}"
        );
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_datadog(status, JSON, &body);
        let _ = parse_datadog(status, None, &body);
    }

    #[test]
    fn mutated_documents_never_panic(cut in 0usize..2000, pos in 0usize..2000, byte in any::<u8>()) {
        let mut bytes = DOCUMENTED.as_bytes().to_vec();
        let p = pos % bytes.len();
        bytes[p] = byte;
        bytes.truncate(cut.min(bytes.len()).max(1));
        let _ = parse_datadog(200, JSON, &bytes);
    }

    #[test]
    fn valid_pointlists_round_trip(
        points in proptest::collection::vec((0i64..4_000_000_000_000, proptest::option::of(-1e300f64..1e300)), 1..30),
        tag in "[a-z_/]{1,12}",
    ) {
        let list: Vec<String> = points.iter().map(|(ms, v)| match v {
            Some(v) => format!("[{ms}.0,{v:?}]"),
            None => format!("[{ms},null]"),
        }).collect();
        let body = format!(
            r#"{{"status":"ok","res_type":"time_series","series":[{{"scope":"env:prod","tag_set":["resource_name:{tag}"],"pointlist":[{}]}}]}}"#,
            list.join(",")
        );
        let answer = parse_datadog(200, JSON, body.as_bytes()).unwrap();
        let expected: Vec<(Timestamp, f64)> = points.iter()
            .filter_map(|(ms, v)| v.map(|v| (Timestamp(*ms), v)))
            .collect();
        if expected.is_empty() {
            prop_assert!(answer.series.is_empty());
        } else {
            let s = &answer.series[0];
            prop_assert_eq!(&s.labels["resource_name"], &tag);
            let got: Vec<(Timestamp, f64)> = s.points.iter().map(|p| (p.at, p.value)).collect();
            prop_assert_eq!(got, expected);
        }
    }
}
