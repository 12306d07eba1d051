//! The Argo Rollouts examples in `examples/argo-rollouts/` use only fields
//! the upstream CRDs define (walked through their openAPIV3Schema, read from
//! shared/k8s-crds beside the repository), with the right types, and they ask canaryd the
//! question its endpoint answers.

use serde_json::Value;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The schema of `version` in a CRD file.
fn schema(crd_file: &str, version: &str) -> Value {
    let crd = yaml(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/k8s-crds")
            .join(crd_file),
    );
    crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == version)
        .unwrap_or_else(|| panic!("{crd_file} has no version {version}"))["schema"]
        ["openAPIV3Schema"]
        .clone()
}

/// Every problem with `doc` against `schema`, as `path: what`.
fn check(doc: &Value, schema: &Value, path: &str, problems: &mut Vec<String>) {
    if schema["x-kubernetes-preserve-unknown-fields"] == true && schema.get("properties").is_none()
    {
        return;
    }
    let int_or_string = schema["x-kubernetes-int-or-string"] == true;
    let ty = schema["type"].as_str();
    let ok = match (doc, ty) {
        (_, None) => true,
        (Value::String(_) | Value::Number(_), _) if int_or_string => true,
        (Value::Object(_), Some("object")) => true,
        (Value::Array(_), Some("array")) => true,
        (Value::String(_), Some("string")) => true,
        (Value::Bool(_), Some("boolean")) => true,
        (Value::Number(n), Some("integer")) => n.is_i64() || n.is_u64(),
        (Value::Number(_), Some("number")) => true,
        _ => false,
    };
    if !ok {
        problems.push(format!("{path}: {doc} is not of type {ty:?}"));
        return;
    }
    match doc {
        Value::Object(map) => {
            for req in schema["required"].as_array().into_iter().flatten() {
                let req = req.as_str().unwrap();
                if !map.contains_key(req) {
                    problems.push(format!("{path}: required field `{req}` is missing"));
                }
            }
            let props = schema["properties"].as_object();
            let extra = schema.get("additionalProperties");
            for (k, v) in map {
                let p = format!("{path}.{k}");
                match (props.and_then(|ps| ps.get(k)), extra) {
                    (Some(s), _) => check(v, s, &p, problems),
                    (None, Some(Value::Object(s))) => {
                        check(v, &Value::Object(s.clone()), &p, problems)
                    }
                    (None, Some(Value::Bool(true))) => {}
                    // `metadata` is `type: object` without properties in every CRD.
                    (None, _) if props.is_none() => {}
                    (None, _) => problems.push(format!("{p}: no such field in the CRD")),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check(item, &schema["items"], &format!("{path}[{i}]"), problems);
            }
        }
        _ => {}
    }
}

fn validate(example: &str, crd_file: &str) -> Value {
    let doc = yaml(&root().join("examples/argo-rollouts").join(example));
    let version = doc["apiVersion"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let mut problems = Vec::new();
    check(&doc, &schema(crd_file, &version), "", &mut problems);
    assert!(problems.is_empty(), "{example}:\n{}", problems.join("\n"));
    doc
}

#[test]
fn the_walker_catches_unknown_fields_and_wrong_types() {
    let schema = schema("argoproj.io_analysistemplates.yaml", "v1alpha1");
    let bad: Value = serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "spec": {"metrics": [{"name": "m", "succesCondition": "x",
                  "provider": {"web": {"url": "u", "timeoutSeconds": "ten"}}}]}
    });
    let mut problems = Vec::new();
    check(&bad, &schema, "", &mut problems);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("succesCondition: no such field")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("timeoutSeconds")),
        "{problems:?}"
    );
}

#[test]
fn the_analysis_template_fits_the_crd_and_maps_inconclusive_to_inconclusive() {
    let doc = validate(
        "analysis-template.yaml",
        "argoproj.io_analysistemplates.yaml",
    );
    assert_eq!(doc["kind"], "AnalysisTemplate");
    let verdict = &doc["spec"]["metrics"][0];
    assert_eq!(
        verdict["successCondition"],
        r#"result.verdict == "healthy""#
    );
    assert_eq!(verdict["failureCondition"], r#"result.verdict == "breach""#);
    assert_eq!(verdict["failureLimit"], 0);
    assert!(verdict["inconclusiveLimit"].as_i64().unwrap() >= 1);
    let web = &verdict["provider"]["web"];
    let url = web["url"].as_str().unwrap();
    assert!(url.contains("/api/v1/argo/analysis?workload={{args.workload}}&canary={{args.canary-hash}}&stable={{args.stable-hash}}"), "{url}");
    assert_eq!(web["headers"][0]["key"], "Authorization");
    assert!(web["timeoutSeconds"].as_i64().unwrap() <= 10);
    // Every argument the template uses is declared.
    let declared: Vec<&str> = doc["spec"]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    let text = serde_json::to_string(&doc["spec"]["metrics"]).unwrap();
    for used in text.split("{{args.").skip(1) {
        let name = used.split("}}").next().unwrap();
        assert!(declared.contains(&name), "`{name}` used but not declared");
    }
    // The safe-weight metric is a dry run: it can never fail the Rollout.
    assert_eq!(
        doc["spec"]["dryRun"][0]["metricName"],
        doc["spec"]["metrics"][1]["name"]
    );
    assert_eq!(
        doc["spec"]["metrics"][1]["provider"]["web"]["jsonPath"],
        "{$.weight}"
    );
}

#[test]
fn the_rollout_fits_the_crd_and_passes_the_template_its_arguments() {
    let doc = validate("rollout.yaml", "argoproj.io_rollouts.yaml");
    let analysis = &doc["spec"]["strategy"]["canary"]["analysis"];
    assert_eq!(analysis["templates"][0]["templateName"], "canaryd");
    let template = yaml(&root().join("examples/argo-rollouts/analysis-template.yaml"));
    let passed: Vec<&str> = analysis["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    for arg in template["spec"]["args"].as_array().unwrap() {
        let name = arg["name"].as_str().unwrap();
        let has_default = arg.get("value").is_some() || arg.get("valueFrom").is_some();
        assert!(
            has_default || passed.contains(&name),
            "template arg `{name}` is never passed"
        );
    }
    let hashes: Vec<&Value> = analysis["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["valueFrom"].get("podTemplateHashValue"))
        .collect();
    assert_eq!(hashes, [&Value::from("Latest"), &Value::from("Stable")]);
}
