//! The cluster-side `TrafficRouter`s.
//!
//! Each one is idempotent (the driver may repeat a call after a crash): it
//! reads the object, computes the smallest change that reaches the wanted
//! state, and writes nothing when it is already there.

pub mod any;
pub mod argo;
pub mod httproute;
pub mod observe;
pub mod pair;

use kube::api::{ApiResource, GroupVersionKind};

/// The Gateway API `HTTPRoute` (standard channel, v1).
pub fn httproute_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"),
        "httproutes",
    )
}
