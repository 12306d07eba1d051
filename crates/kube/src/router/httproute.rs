//! Gateway API `HTTPRoute` weights.
//!
//! The route usually belongs to someone else (a platform team, a GitOps
//! tool), so canaryd must change nothing but the two weights it owns. It
//! sends a JSON patch that replaces exactly `rules[i].backendRefs[j].weight`
//! for the stable and canary backends, guarded by the resourceVersion it
//! read: if the route changed in between (rules reordered, say), the API
//! server answers 409 and we re-read instead of writing to a stale index.
//! After writing, the route is read back: a window only counts once the
//! Gateway has `Accepted` the route at its current generation (waiting a
//! few seconds for it to catch up; a refusal fails at once).

use canaryd_core::vocab::{RolloutKey, Weight};
use canaryd_ports::{ActionError, TrafficRouter};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::Client;
use serde_json::{json, Value};

use super::pair::DeploymentPairRouter;
use crate::crd::HttpRouteRouterSpec;
use crate::error::KubeError;
use crate::kubeapi::{retry, Backoff, ObjectName};

pub struct HttpRouteRouter {
    api: Api<DynamicObject>,
    object: ObjectName,
    spec: HttpRouteRouterSpec,
    backoff: Backoff,
    accept_wait: AcceptWait,
    /// The Deployments behind the two Services, for promotion.
    pair: Option<DeploymentPairRouter>,
}

/// How long a weight change waits for the Gateway to report on it: read the
/// route back up to `attempts` times, `every` apart (5 s in all by default;
/// Gateways typically take well under a second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptWait {
    pub attempts: u32,
    pub every: std::time::Duration,
}

impl Default for AcceptWait {
    fn default() -> Self {
        AcceptWait {
            attempts: 20,
            every: std::time::Duration::from_millis(250),
        }
    }
}

/// Where the two backends sit in the route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendSlots {
    pub rule: usize,
    pub stable: usize,
    pub canary: usize,
}

impl HttpRouteRouter {
    pub fn new(client: Client, namespace: &str, spec: HttpRouteRouterSpec) -> HttpRouteRouter {
        let api = Api::namespaced_with(client, namespace, &super::httproute_resource());
        HttpRouteRouter {
            api,
            object: ObjectName::new("HTTPRoute", namespace, &spec.name),
            spec,
            backoff: Backoff::default(),
            accept_wait: AcceptWait::default(),
            pair: None,
        }
    }

    /// The stable and canary Deployments behind the Services: promotion
    /// makes the promoted build the stable one (see [`HttpRouteRouter::promote_build`]).
    pub fn with_pair(mut self, pair: DeploymentPairRouter) -> Self {
        self.pair = Some(pair);
        self
    }

    /// Promotion, in the only order that never sends users to a build that
    /// is not ready (the canary serves all traffic meanwhile): the canary's
    /// pod spec into the stable Deployment; wait until that rolls out (an
    /// error until then: the effect stays in the outbox and is retried);
    /// the route back to the stable Service; the canary to zero. Every
    /// step is idempotent, so a retry after any of them resumes.
    pub async fn promote_build(&self, key: &RolloutKey) -> Result<(), KubeError> {
        let Some(pair) = &self.pair else {
            // No Deployments known: all the route can do is send everything to the canary.
            return self.apply_weight(100).await;
        };
        if pair.copy_to_stable(key).await? {
            pair.log(
                key,
                "stable_template_copied",
                json!({"revision": key.revision.0}),
            );
        }
        let ready = pair.stable_rolled_out(key).await?;
        pair.log(key, "stable_rolled_out", ready);
        self.apply_weight(0).await?;
        pair.log(
            key,
            "traffic_to_stable",
            json!({"httpRoute": self.object.name, "stable": 100, "canary": 0}),
        );
        pair.scale_canary_down().await?;
        pair.log(key, "canary_scaled_down", json!({}));
        Ok(())
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn with_accept_wait(mut self, wait: AcceptWait) -> Self {
        self.accept_wait = wait;
        self
    }

    async fn read(&self) -> Result<Value, KubeError> {
        let route = self
            .api
            .get(&self.object.name)
            .await
            .map_err(|e| self.object.api(e))?;
        serde_json::to_value(route).map_err(|e| self.object.encode(e))
    }

    /// Sets the canary's weight (the stable side gets the rest) and waits for
    /// nothing: it returns an error while the Gateway has not accepted the
    /// route, which keeps the effect in the driver's outbox.
    pub async fn apply_weight(&self, weight: Weight) -> Result<(), KubeError> {
        let weight = weight.min(100);
        retry(self.backoff, &self.object, || async {
            let route = self.read().await?;
            let Some(ops) = weight_patch(&route, &self.spec, weight)
                .map_err(|problem| self.object.invalid(problem))?
            else {
                return Ok(());
            };
            let patch: json_patch::Patch =
                serde_json::from_value(ops).map_err(|e| self.object.encode(e))?;
            self.api
                .patch(
                    &self.object.name,
                    &PatchParams::default(),
                    &Patch::Json::<()>(patch),
                )
                .await
                .map_err(|e| self.object.api(e))?;
            Ok(())
        })
        .await?;
        // The Gateway reconciles the change in its own time: read back until
        // it has reported on this generation, within a bound, so a routine
        // weight change is not an error that waits out the controller's
        // back-off. A refusal is final at once.
        let mut attempt = 0;
        loop {
            let route = retry(self.backoff, &self.object, || self.read()).await?;
            attempt += 1;
            match route_acceptance(&route) {
                Acceptance::Accepted => return Ok(()),
                Acceptance::Pending(_) if attempt < self.accept_wait.attempts => {
                    tokio::time::sleep(self.accept_wait.every).await;
                }
                Acceptance::Pending(problem) | Acceptance::Rejected(problem) => {
                    return Err(self.object.invalid(problem))
                }
            }
        }
    }
}

#[canaryd_ports::async_trait]
impl TrafficRouter for HttpRouteRouter {
    /// A route sends its share to the canary Service whether or not a pod
    /// behind it is ready, so no weight goes to a canary Deployment that is
    /// not available (see [`DeploymentPairRouter::canary_ready`]).
    async fn set_weight(&mut self, _key: &RolloutKey, weight: Weight) -> Result<(), ActionError> {
        if let (Some(pair), true) = (&self.pair, weight > 0) {
            pair.canary_ready().await?;
        }
        Ok(self.apply_weight(weight).await?)
    }

    async fn roll_back(&mut self, _key: &RolloutKey) -> Result<(), ActionError> {
        Ok(self.apply_weight(0).await?)
    }

    async fn promote(&mut self, key: &RolloutKey) -> Result<(), ActionError> {
        Ok(self.promote_build(key).await?)
    }
}

fn backend_name(backend: &Value) -> Option<&str> {
    let kind = backend
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("Service");
    let group = backend.get("group").and_then(Value::as_str).unwrap_or("");
    if kind != "Service" || !group.is_empty() {
        return None;
    }
    backend.get("name").and_then(Value::as_str)
}

/// Finds the rule and the two backendRefs canaryd steers.
pub fn find_slots(route: &Value, spec: &HttpRouteRouterSpec) -> Result<BackendSlots, String> {
    let rules = route
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .ok_or("it has no spec.rules")?;
    let mut found = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        if let Some(wanted) = &spec.rule {
            if rule.get("name").and_then(Value::as_str) != Some(wanted.as_str()) {
                continue;
            }
        }
        let refs = rule
            .get("backendRefs")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let position = |svc: &str| refs.iter().position(|b| backend_name(b) == Some(svc));
        match (position(&spec.stable_service), position(&spec.canary_service)) {
            (Some(stable), Some(canary)) => found.push(BackendSlots {
                rule: i,
                stable,
                canary,
            }),
            _ if spec.rule.is_some() => {
                return Err(format!(
                    "rule {:?} does not send traffic to both Services {} and {} (backendRefs of kind Service)",
                    spec.rule.as_deref().unwrap_or_default(),
                    spec.stable_service,
                    spec.canary_service
                ))
            }
            _ => {}
        }
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(match &spec.rule {
            Some(r) => format!("it has no rule named {r:?}"),
            None => format!(
                "no rule sends traffic to both Services {} and {}; add both as backendRefs",
                spec.stable_service, spec.canary_service
            ),
        }),
        _ => Err(format!(
            "{} rules send traffic to both Services; name the one canaryd steers in spec.router.httpRoute.rule",
            found.len()
        )),
    }
}

/// The JSON patch that sets the weights, or `None` when they already are.
/// It touches only the two weights, plus the resourceVersion it read, which
/// turns a concurrent change into a 409 instead of a write at a stale index.
pub fn weight_patch(
    route: &Value,
    spec: &HttpRouteRouterSpec,
    weight: Weight,
) -> Result<Option<Value>, String> {
    let slots = find_slots(route, spec)?;
    let rv = route
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .ok_or("it has no metadata.resourceVersion")?;
    let base = format!("/spec/rules/{}/backendRefs", slots.rule);
    let current = |j: usize| {
        route
            .pointer(&format!("{base}/{j}/weight"))
            .and_then(Value::as_i64)
            // An absent weight defaults to 1 in Gateway API.
            .unwrap_or(1)
    };
    let (canary, stable) = (i64::from(weight), 100 - i64::from(weight));
    if current(slots.canary) == canary && current(slots.stable) == stable {
        return Ok(None);
    }
    Ok(Some(json!([
        {"op": "replace", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "add", "path": format!("{base}/{}/weight", slots.stable), "value": stable},
        {"op": "add", "path": format!("{base}/{}/weight", slots.canary), "value": canary},
    ])))
}

/// What the Gateways say of the route's current generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acceptance {
    Accepted,
    /// Not reported on yet (a Gateway reconciles a change in its own time).
    Pending(String),
    /// A Gateway refused this generation: waiting will not change that.
    Rejected(String),
}

/// The route counts only when every parent Gateway has accepted its current
/// generation; a rejected or not-yet-reconciled route steers nothing.
pub fn route_accepted(route: &Value) -> Result<(), String> {
    match route_acceptance(route) {
        Acceptance::Accepted => Ok(()),
        Acceptance::Pending(why) | Acceptance::Rejected(why) => Err(why),
    }
}

/// [`route_accepted`], telling a Gateway that has not caught up yet from one
/// that said no.
pub fn route_acceptance(route: &Value) -> Acceptance {
    let generation = route
        .pointer("/metadata/generation")
        .and_then(Value::as_i64);
    let Some(parents) = route
        .pointer("/status/parents")
        .and_then(Value::as_array)
        .filter(|p| !p.is_empty())
    else {
        return Acceptance::Pending(
            "no Gateway has reported on the route yet (status.parents is empty)".into(),
        );
    };
    for parent in parents {
        let gateway = parent
            .pointer("/parentRef/name")
            .and_then(Value::as_str)
            .unwrap_or("?");
        let Some(accepted) = parent
            .get("conditions")
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.get("type").and_then(Value::as_str) == Some("Accepted"))
            })
        else {
            return Acceptance::Pending(format!("Gateway {gateway} has not reported Accepted"));
        };
        let seen = accepted.get("observedGeneration").and_then(Value::as_i64);
        if let (Some(g), Some(s)) = (generation, seen) {
            if s < g {
                return Acceptance::Pending(format!(
                    "Gateway {gateway} has not yet seen generation {g} of the route (it reported on {s})"
                ));
            }
        }
        if accepted.get("status").and_then(Value::as_str) != Some("True") {
            return Acceptance::Rejected(format!(
                "Gateway {gateway} does not accept the route: {} {}",
                accepted.get("reason").and_then(Value::as_str).unwrap_or(""),
                accepted
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            ));
        }
    }
    Acceptance::Accepted
}
