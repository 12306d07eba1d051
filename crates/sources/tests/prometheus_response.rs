//! The Prometheus response parser on every documented shape and on garbage:
//! exact values (NaN and ±Inf included), exact error kinds, and no panic on
//! any input (property tests).

use canaryd_core::vocab::Timestamp;
use canaryd_sources::error::QueryError;
use canaryd_sources::prometheus::response::parse_response;
use canaryd_sources::series::Answer;
use proptest::prelude::*;

const JSON: Option<&str> = Some("application/json");

fn ok(body: &str) -> Answer {
    parse_response(200, JSON, body.as_bytes()).unwrap()
}

#[test]
fn vector_with_labels_and_special_values() {
    let a = ok(
        r#"{"status":"success","data":{"resultType":"vector","result":[
        {"metric":{"route":"/a"},"value":[1700000000,"0.25"]},
        {"metric":{"route":"/b"},"value":[1700000000.5,"NaN"]},
        {"metric":{"route":"/c"},"value":[1700000000,"+Inf"]},
        {"metric":{"route":"/d"},"value":[1700000000,"-Inf"]},
        {"metric":{"route":"/e"},"value":[1700000000,"1.5e3"]}]}}"#,
    );
    assert_eq!(a.series.len(), 5);
    assert_eq!(a.series[0].labels["route"], "/a");
    assert_eq!(a.series[0].points[0].value, 0.25);
    assert_eq!(a.series[0].points[0].at, Timestamp(1_700_000_000_000));
    assert!(a.series[1].points[0].value.is_nan());
    assert_eq!(a.series[1].points[0].at, Timestamp(1_700_000_000_500));
    assert_eq!(a.series[2].points[0].value, f64::INFINITY);
    assert_eq!(a.series[3].points[0].value, f64::NEG_INFINITY);
    assert_eq!(a.series[4].points[0].value, 1500.0);
    assert!(a.warnings.is_empty());
}

#[test]
fn matrix_keeps_every_point_in_order() {
    let a = ok(
        r#"{"status":"success","data":{"resultType":"matrix","result":[
        {"metric":{"__name__":"x","job":"j"},"values":[[1,"1"],[2,"2"],[3,"3"]]}]}}"#,
    );
    let s = &a.series[0];
    assert_eq!(s.labels.len(), 2);
    let pts: Vec<(i64, f64)> = s.points.iter().map(|p| (p.at.0, p.value)).collect();
    assert_eq!(pts, vec![(1000, 1.0), (2000, 2.0), (3000, 3.0)]);
}

#[test]
fn scalar_is_one_unlabelled_point() {
    let a =
        ok(r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000.001,"42"]}}"#);
    assert_eq!(a.series.len(), 1);
    assert!(a.series[0].labels.is_empty());
    assert_eq!(a.series[0].points[0].value, 42.0);
    assert_eq!(a.series[0].points[0].at, Timestamp(1_700_000_000_001));
}

#[test]
fn string_results_are_refused_with_the_reason() {
    let err = parse_response(
        200,
        JSON,
        br#"{"status":"success","data":{"resultType":"string","result":[1,"hello"]}}"#,
    )
    .unwrap_err();
    assert!(matches!(&err, QueryError::Malformed { detail, .. } if detail.contains("string")));
}

#[test]
fn empty_results_are_empty_not_zero() {
    for body in [
        r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
        r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#,
        r#"{"status":"success","data":{"resultType":"matrix","result":null}}"#,
    ] {
        assert!(ok(body).series.is_empty(), "{body}");
    }
}

#[test]
fn warnings_and_infos_are_kept_with_partial_results() {
    let a = ok(
        r#"{"status":"success","warnings":["partial response: store eu-1 down"],
        "infos":["PromQL info: metric might not be a counter"],
        "data":{"resultType":"vector","result":[{"metric":{},"value":[1,"3"]}]}}"#,
    );
    assert_eq!(a.series.len(), 1);
    assert_eq!(
        a.warnings,
        vec![
            "partial response: store eu-1 down".to_string(),
            "info: PromQL info: metric might not be a counter".to_string()
        ]
    );
}

#[test]
fn native_histograms_are_skipped_with_a_warning() {
    let a = ok(
        r#"{"status":"success","data":{"resultType":"vector","result":[
        {"metric":{"__name__":"h"},"histogram":[1,{"count":"3","sum":"1.5","buckets":[[0,"0.1","0.2","3"]]}]},
        {"metric":{"__name__":"c"},"value":[1,"7"]}]}}"#,
    );
    assert_eq!(a.series.len(), 1);
    assert_eq!(a.series[0].points[0].value, 7.0);
    assert_eq!(a.warnings.len(), 1);
    assert!(
        a.warnings[0].contains("native histogram"),
        "{:?}",
        a.warnings
    );
    let a = ok(
        r#"{"status":"success","data":{"resultType":"matrix","result":[
        {"metric":{"__name__":"h"},"histograms":[[1,{"count":"3","sum":"1"}]]}]}}"#,
    );
    assert!(a.series.is_empty());
    assert_eq!(a.warnings.len(), 1);
}

#[test]
fn error_envelopes_become_api_errors() {
    let err = parse_response(
        400,
        JSON,
        br#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\""}"#,
    )
    .unwrap_err();
    assert!(
        matches!(&err, QueryError::Api { status: 400, error_type, .. } if error_type == "bad_data")
    );
    assert!(!err.is_transient());
    let err = parse_response(
        503,
        JSON,
        br#"{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}"#,
    )
    .unwrap_err();
    assert!(err.is_transient());
}

#[test]
fn proxy_pages_and_plain_text_are_not_json() {
    let nginx = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
    let err = parse_response(502, Some("text/html"), nginx).unwrap_err();
    match &err {
        QueryError::NotJson {
            status, excerpt, ..
        } => {
            assert_eq!(*status, 502);
            assert!(excerpt.contains("502 Bad Gateway"));
            assert!(!excerpt.contains('\n'));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_transient());
    let err = parse_response(503, Some("text/plain"), b"upstream connect error").unwrap_err();
    assert!(matches!(err, QueryError::NotJson { status: 503, .. }));
    // An HTML page without a content type is still recognised.
    let err = parse_response(200, None, b"  <!doctype html><p>hi").unwrap_err();
    assert!(matches!(err, QueryError::NotJson { status: 200, .. }));
}

#[test]
fn excerpts_are_bounded() {
    let body = format!("<html>{}</html>", "x".repeat(10_000));
    let err = parse_response(502, Some("text/html"), body.as_bytes()).unwrap_err();
    let QueryError::NotJson { excerpt, .. } = err else {
        panic!()
    };
    assert!(excerpt.chars().count() <= 201, "{}", excerpt.len());
}

#[test]
fn wrong_types_are_malformed() {
    for body in [
        r#"[]"#,
        r#"{"status":"success"}"#,
        r#"{"status":"success","data":{"resultType":"vector"}}"#,
        r#"{"status":"success","data":{"resultType":"vector","result":{}}}"#,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":1},"value":[1,"1"]}]}}"#,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":["1","1"]}]}}"#,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"one"]}]}}"#,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1]}]}}"#,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,{}]}]}}"#,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}}"#,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":"x"}]}}"#,
        r#"{"status":"success","data":{"resultType":"scalar","result":[1e300,"1"]}}"#,
        r#"{"status":"success","data":{"resultType":"histogram","result":[]}}"#,
        r#"{"data":{"resultType":"vector","result":[]}}"#,
        r#"{"status":"success","data":{"resultType":"vector","result":[]"#,
    ] {
        let err = parse_response(200, JSON, body.as_bytes()).unwrap_err();
        assert!(
            matches!(err, QueryError::Malformed { .. }),
            "{body}: {err:?}"
        );
    }
}

#[test]
fn json_from_something_else_keeps_its_http_status() {
    // Grafana's own error JSON, e.g. when the data source is down.
    let err = parse_response(502, JSON, br#"{"message":"Bad Gateway"}"#).unwrap_err();
    assert!(matches!(err, QueryError::Status { status: 502, .. }));
    assert!(err.is_transient());
    let err = parse_response(403, JSON, br#"{"message":"Permission denied"}"#).unwrap_err();
    assert!(matches!(err, QueryError::Unauthorized { status: 403, .. }));
    let err = parse_response(429, JSON, b"{}").unwrap_err();
    assert!(matches!(err, QueryError::RateLimited { .. }));
}

fn value_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v:?}")
    }
}

fn any_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_response(status, JSON, &body);
        let _ = parse_response(status, None, &body);
        let _ = parse_response(status, Some("text/html"), &body);
    }

    #[test]
    fn mutated_documents_never_panic(
        cut in 0usize..400,
        pos in 0usize..400,
        byte in any::<u8>(),
    ) {
        let doc = br#"{"status":"success","warnings":["w"],"data":{"resultType":"matrix","result":[{"metric":{"a":"b"},"values":[[1.5,"NaN"],[2,"+Inf"]],"histograms":[[1,{"count":"1"}]]}]}}"#;
        let mut bytes = doc.to_vec();
        if !bytes.is_empty() {
            let p = pos % bytes.len();
            bytes[p] = byte;
        }
        bytes.truncate(cut.min(bytes.len()).max(1));
        let _ = parse_response(200, JSON, &bytes);
    }

    #[test]
    fn valid_vectors_round_trip_their_values(
        samples in proptest::collection::vec((0i64..4_000_000_000_000, any_value(), "[a-z]{1,8}"), 0..20)
    ) {
        let result: Vec<String> = samples.iter().enumerate().map(|(i, (ms, v, label))| format!(
            r#"{{"metric":{{"i":"{i}","l":"{label}"}},"value":[{}.{:03},"{}"]}}"#,
            ms / 1000, ms % 1000, value_text(*v)
        )).collect();
        let body = format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
            result.join(",")
        );
        let answer = parse_response(200, JSON, body.as_bytes()).unwrap();
        prop_assert_eq!(answer.series.len(), samples.len());
        for (s, (ms, v, label)) in answer.series.iter().zip(&samples) {
            prop_assert_eq!(&s.labels["l"], label);
            prop_assert_eq!(s.points[0].at, Timestamp(*ms));
            let got = s.points[0].value;
            prop_assert!(got == *v || (got.is_nan() && v.is_nan()), "{} != {}", got, v);
        }
    }
}
