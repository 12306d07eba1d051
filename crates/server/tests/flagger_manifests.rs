//! The Flagger example in `examples/flagger/` points every webhook at the
//! endpoint canaryd serves for its type, and authenticates the way canaryd
//! accepts (no Flagger CRD is vendored here, so this checks our side).

use serde_json::Value;
use std::path::Path;

#[test]
fn every_webhook_reaches_the_endpoint_of_its_type_with_a_token() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/flagger/canary.yaml");
    let doc: Value = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc["apiVersion"], "flagger.app/v1beta1");
    assert_eq!(doc["kind"], "Canary");
    let hooks = doc["spec"]["analysis"]["webhooks"].as_array().unwrap();
    let mut types: Vec<&str> = Vec::new();
    for h in hooks {
        let ty = h["type"].as_str().unwrap();
        let url = h["url"].as_str().unwrap();
        assert!(
            url.ends_with(&format!("/api/v1/flagger/{ty}")),
            "{ty} -> {url}"
        );
        assert!(h["metadata"]["token"].is_string(), "{ty} carries no token");
        let timeout = h["timeout"].as_str().unwrap();
        assert!(timeout.ends_with('s'), "{ty}: timeout {timeout}");
        types.push(ty);
    }
    types.sort();
    assert_eq!(
        types,
        [
            "confirm-promotion",
            "confirm-rollout",
            "confirm-traffic-increase",
            "event",
            "rollback"
        ]
    );
}
