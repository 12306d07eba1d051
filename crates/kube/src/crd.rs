//! The `Canary` custom resource: what a team writes to have canaryd watch a
//! workload, and where canaryd reports how the rollout is going.
//!
//! The CRD manifest is generated from these types (`canaryd crd`), so the
//! schema the API server enforces and the struct the controller reads can
//! never drift apart.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How many window verdicts `status.windows` keeps: enough to see a trend in
/// `kubectl get -o yaml`, bounded so the object stays small (etcd limits it).
pub const MAX_STATUS_WINDOWS: usize = 10;

/// A canary release to watch: which workload, how traffic is split, which
/// policy judges it, where the numbers come from and who is told.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "canaryd.io",
    version = "v1alpha1",
    kind = "Canary",
    plural = "canaries",
    shortname = "canary",
    namespaced,
    status = "CanaryStatus",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Weight","type":"integer","jsonPath":".status.weight"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.revision"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct CanarySpec {
    pub target: TargetSpec,
    #[serde(default)]
    pub router: RouterSpec,
    pub policy: PolicySpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<NotifySpec>,
}

/// The workload whose new revisions are rolled out. Give exactly one of
/// `deployment`, `stable` + `canary`, or `rollout`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetSpec {
    /// A single Deployment: Kubernetes rolls it, canaryd judges the new
    /// ReplicaSet against the old one and pauses and undoes it on a breach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// The stable Deployment of a pair (the one serving most traffic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable: Option<String>,
    /// The canary Deployment of a pair: a new pod template here starts a rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<String>,
    /// An Argo Rollouts `Rollout`: Argo moves the traffic, canaryd judges each step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<String>,
}

/// How traffic is split. Empty means the target's own way: replica counts for
/// a Deployment pair, Argo's steps for a Rollout, the rolling update for a
/// single Deployment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouterSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_route: Option<HttpRouteRouterSpec>,
}

/// A Gateway API `HTTPRoute` whose rule sends traffic to the stable and the
/// canary Services; canaryd changes only those two weights.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteRouterSpec {
    /// The HTTPRoute, in the Canary's namespace.
    pub name: String,
    /// The rule's `name`; when empty, the one rule whose backendRefs name both Services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The Service in front of the stable pods (a backendRef name).
    pub stable_service: String,
    /// The Service in front of the canary pods (a backendRef name).
    pub canary_service: String,
}

/// The policy that judges the rollout: the same YAML as `canaryd gate --policy`.
/// Give exactly one of `inline` or `configMap`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapKeyRef>,
}

/// A key of a ConfigMap in the Canary's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ConfigMapKeyRef {
    pub name: String,
    /// Defaults to `policy.yaml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// A key of a Secret in the Canary's namespace. Credentials are only ever
/// referenced, so they never appear in the Canary object or its status.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct SecretKeyRef {
    pub name: String,
    pub key: String,
}

/// Where window metrics come from. Give exactly one source.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datadog: Option<DatadogSpec>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusSpec {
    /// Base URL of the Prometheus HTTP API (or a Grafana data-source proxy).
    pub address: String,
    /// A bearer token, when the API needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<SecretKeyRef>,
    /// Label matchers selecting the canary's series, e.g. `{rollouts_pod_template_hash="$revision"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_selector: Option<String>,
    /// Label matchers selecting the stable side's series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_selector: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatadogSpec {
    /// The Datadog site, e.g. `datadoghq.eu`; defaults to `datadoghq.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    pub api_key: SecretKeyRef,
    pub application_key: SecretKeyRef,
    /// Tag selecting the canary's series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_tags: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_tags: Option<String>,
}

/// One notification channel. Give exactly one of the fields.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotifySpec {
    /// A Slack incoming-webhook URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_webhook_url: Option<SecretKeyRef>,
    /// A PagerDuty Events API v2 routing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagerduty_routing_key: Option<SecretKeyRef>,
    /// A generic webhook URL, with an optional HMAC signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<SecretKeyRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_signing_key: Option<SecretKeyRef>,
}

/// What canaryd last did and saw, mirrored from its store so `kubectl get
/// canaries` tells the story without access to the database.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStatus {
    /// `idle`, `pending`, `awaiting_approval`, `ramping`, `paused`, `rolled_back`, `promoted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The revision (pod-template hash) being rolled out, or last rolled out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The canary's share of traffic, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u8>,
    /// Index of the current step of the ladder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
    /// The latest window verdicts, newest last, at most [`MAX_STATUS_WINDOWS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<WindowStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<CanaryCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// One window's verdict as shown in status.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WindowStatus {
    pub index: u32,
    /// `healthy`, `breach`, `inconclusive` or `unreliable`.
    pub verdict: String,
    pub weight: u8,
    /// RFC 3339 time the window ended.
    pub end: String,
}

/// A Kubernetes-style condition (`Ready`, `TargetFound`, `PolicyValid`, ...).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryCondition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// A CamelCase word a program can match on.
    pub reason: String,
    /// What a human needs to know or do.
    pub message: String,
    /// RFC 3339.
    pub last_transition_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The CRD manifest as YAML, for `canaryd crd` and the Helm chart.
pub fn crd_yaml() -> Result<String, serde_saphyr::SerializeError> {
    use kube::CustomResourceExt;
    serde_saphyr::to_string(&Canary::crd())
}
