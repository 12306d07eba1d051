//! What a "revision" of a Deployment is to canaryd: a short hash of its pod
//! template's spec. Labels are left out on purpose: the stable and canary
//! Deployments of a pair differ in their labels (`track: canary`) yet run
//! the same build once promoted, and the hash must say so.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use sha2::{Digest, Sha256};

/// Ten hex digits of SHA-256 over the pod spec's JSON (serde_json writes
/// struct fields in a fixed order, so equal specs hash equally).
pub fn template_revision(template: &PodTemplateSpec) -> String {
    let spec = template
        .spec
        .as_ref()
        .and_then(|s| serde_json::to_vec(s).ok())
        .unwrap_or_default();
    let digest = Sha256::digest(&spec);
    hex::encode(&digest[..5])
}

/// The canary replica count that approximates `weight`% of traffic while the
/// stable side keeps all `stable` replicas (it is never scaled down during a
/// rollout: it must still carry the whole load if the canary is dropped).
/// Above 50% the split stays even; only promotion moves everything.
pub fn canary_replicas(stable: i32, weight: u8) -> i32 {
    let stable = stable.max(1);
    match weight {
        0 => 0,
        w if w >= 50 => stable,
        w => {
            let (w, n) = (i64::from(w), i64::from(stable));
            // ceil(n * w / (100 - w)), at least one pod.
            let k = (n * w + (100 - w) - 1) / (100 - w);
            i32::try_from(k.max(1)).unwrap_or(stable)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_follow_the_weight_without_touching_stable() {
        assert_eq!(canary_replicas(10, 0), 0);
        assert_eq!(canary_replicas(10, 1), 1);
        assert_eq!(canary_replicas(10, 10), 2); // 10/12 = 17%: the nearest above 10%
        assert_eq!(canary_replicas(9, 10), 1);
        assert_eq!(canary_replicas(10, 25), 4);
        assert_eq!(canary_replicas(10, 50), 10);
        assert_eq!(canary_replicas(10, 100), 10);
        assert_eq!(canary_replicas(0, 25), 1);
    }

    #[test]
    fn revision_ignores_labels_but_not_images() {
        let t = |image: &str, track: &str| -> PodTemplateSpec {
            serde_json::from_value(serde_json::json!({
                "metadata": {"labels": {"track": track}},
                "spec": {"containers": [{"name": "app", "image": image}]}
            }))
            .unwrap()
        };
        assert_eq!(
            template_revision(&t("a:1", "stable")),
            template_revision(&t("a:1", "canary"))
        );
        assert_ne!(
            template_revision(&t("a:1", "stable")),
            template_revision(&t("a:2", "stable"))
        );
        assert_eq!(template_revision(&t("a:1", "x")).len(), 10);
    }
}
