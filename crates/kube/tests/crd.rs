//! The generated CRD is what the API server will enforce: check it is a
//! well-formed apiextensions/v1 object with the columns and subresource
//! users rely on, and that the shipped examples pass its schema.

use canaryd_kube::crd::{crd_yaml, Canary};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde_json::Value;
use std::path::PathBuf;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn crd_yaml_is_a_complete_apiextensions_v1_object() {
    let yaml = crd_yaml().unwrap();
    let as_json: Value = serde_saphyr::from_str(&yaml).unwrap();
    let crd: CustomResourceDefinition = serde_json::from_value(as_json.clone()).unwrap();
    // Nothing in the YAML is unknown to the apiextensions/v1 types (a typo'd
    // field would be dropped by the API server without a word).
    assert_eq!(serde_json::to_value(&crd).unwrap(), as_json);
    assert_eq!(as_json["apiVersion"], "apiextensions.k8s.io/v1");
    assert_eq!(as_json["kind"], "CustomResourceDefinition");
    assert_eq!(crd.metadata.name.as_deref(), Some("canaries.canaryd.io"));
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(crd.spec.names.kind, "Canary");
}

#[test]
fn crd_has_status_subresource_and_printer_columns() {
    let crd = Canary::crd();
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    assert!(version.served && version.storage);
    let subresources = version.subresources.as_ref().unwrap();
    assert!(subresources.status.is_some());
    let columns: Vec<(String, String)> = version
        .additional_printer_columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| (c.name.clone(), c.json_path.clone()))
        .collect();
    assert_eq!(
        columns,
        vec![
            ("Phase".into(), ".status.phase".into()),
            ("Weight".into(), ".status.weight".into()),
            ("Revision".into(), ".status.revision".into()),
            ("Age".into(), ".metadata.creationTimestamp".into()),
        ]
    );
}

/// A structural schema (required by apiextensions/v1) gives every node a type.
fn assert_structural(path: &str, schema: &Value) {
    let obj = schema.as_object().unwrap();
    let preserves = obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
        || obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    assert!(
        obj.contains_key("type") || preserves,
        "{path} has no type: {schema}"
    );
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(Value::Array(alts)) = obj.get(key) {
            for alt in alts {
                assert!(alt.get("type").is_none(), "{path}.{key} declares a type");
            }
        }
    }
    if let Some(Value::Object(props)) = obj.get("properties") {
        for (name, sub) in props {
            assert_structural(&format!("{path}.{name}"), sub);
        }
    }
    if let Some(items) = obj.get("items") {
        assert_structural(&format!("{path}[]"), items);
    }
}

fn canary_schema() -> Value {
    let crd = Canary::crd();
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .unwrap()
        .open_api_v3_schema
        .as_ref()
        .unwrap();
    serde_json::to_value(schema).unwrap()
}

#[test]
fn crd_schema_is_structural() {
    assert_structural("", &canary_schema());
}

#[test]
fn shipped_examples_pass_the_crd_schema() {
    let validator = jsonschema::validator_for(&canary_schema()).unwrap();
    let dir = workspace().join("examples/kubernetes");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        if !text.contains("kind: Canary") {
            continue;
        }
        let doc: Value = serde_saphyr::from_str(&text).unwrap();
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        let canary: Canary = serde_json::from_value(doc).unwrap();
        assert!(canary.spec.policy.inline.is_some() != canary.spec.policy.config_map.is_some());
        seen += 1;
    }
    assert!(seen >= 2, "expected Canary examples in {}", dir.display());
}

#[test]
fn schema_rejects_a_canary_without_target() {
    let validator = jsonschema::validator_for(&canary_schema()).unwrap();
    let doc = serde_json::json!({
        "apiVersion": "canaryd.io/v1alpha1", "kind": "Canary",
        "metadata": {"name": "x"},
        "spec": {"policy": {"inline": "preset: slo-ratio"}}
    });
    assert!(!validator.is_valid(&doc));
}
