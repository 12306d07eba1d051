//! The router a `Canary` asks for, chosen from its spec: an HTTPRoute when
//! `spec.router.httpRoute` is given, else the target's own way (replicas
//! for a Deployment pair, Argo's steps for a Rollout, the rolling update
//! for a single Deployment).

use canaryd_ports::TrafficRouter;
use kube::Client;

use super::argo::ArgoRouter;
use super::httproute::HttpRouteRouter;
use super::observe::DeploymentObserveRouter;
use super::pair::DeploymentPairRouter;
use crate::crd::CanarySpec;
use crate::target::TargetKind;

/// The router a spec selects, for the driver; and, for an Argo Rollout, a
/// handle on it the controller also needs (it holds the Rollout's own steps
/// while canaryd judges).
pub struct Selected {
    /// The router, for the driver.
    pub router: Box<dyn TrafficRouter>,
    /// Set when the target is an Argo Rollout.
    pub argo: Option<ArgoRouter>,
}

/// Which router a spec selects, as plain words (for status and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouterChoice {
    HttpRoute,
    Pair,
    Argo,
    Observe,
}

/// Checks the spec's target and router fit together.
pub fn choose(spec: &CanarySpec) -> Result<(TargetKind, RouterChoice), String> {
    let kind = spec.target.kind()?;
    let choice = match (&kind, &spec.router.http_route) {
        (TargetKind::ArgoRollout(_), Some(_)) => {
            return Err("an Argo Rollout moves its own traffic: remove spec.router.httpRoute (configure Argo's trafficRouting instead)".into())
        }
        (TargetKind::ArgoRollout(_), None) => RouterChoice::Argo,
        (TargetKind::Pair { .. }, Some(_)) => RouterChoice::HttpRoute,
        (TargetKind::Pair { .. }, None) => RouterChoice::Pair,
        (TargetKind::Deployment(_), Some(_)) => {
            return Err("a single Deployment is observed while Kubernetes rolls it; canaryd moves no traffic, so remove spec.router.httpRoute (or use a stable + canary pair)".into())
        }
        (TargetKind::Deployment(_), None) => RouterChoice::Observe,
    };
    Ok((kind, choice))
}

/// The router `spec` selects. `steps`: where the steps of a promotion are
/// recorded (the audit log).
pub fn for_spec(
    client: Client,
    namespace: &str,
    spec: &CanarySpec,
    steps: Option<super::StepLog>,
) -> Result<Selected, String> {
    let (kind, choice) = choose(spec)?;
    let pair = |stable: &str, canary: &str| {
        let p = DeploymentPairRouter::new(client.clone(), namespace, stable, canary);
        match &steps {
            Some(log) => p.with_step_log(log.clone()),
            None => p,
        }
    };
    let only = |router: Box<dyn TrafficRouter>| Selected { router, argo: None };
    Ok(match (kind, choice, &spec.router.http_route) {
        (TargetKind::Pair { stable, canary }, RouterChoice::HttpRoute, Some(route)) => {
            only(Box::new(
                HttpRouteRouter::new(client.clone(), namespace, route.clone())
                    .with_pair(pair(&stable, &canary)),
            ))
        }
        (_, RouterChoice::HttpRoute, Some(route)) => only(Box::new(HttpRouteRouter::new(
            client,
            namespace,
            route.clone(),
        ))),
        (TargetKind::Pair { stable, canary }, _, _) => only(Box::new(pair(&stable, &canary))),
        (TargetKind::ArgoRollout(name), _, _) => {
            let argo = ArgoRouter::new(client, namespace, &name);
            Selected {
                router: Box::new(argo.clone()),
                argo: Some(argo),
            }
        }
        (TargetKind::Deployment(name), _, _) => only(Box::new(DeploymentObserveRouter::new(
            client, namespace, &name,
        ))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{HttpRouteRouterSpec, PolicySpec, RouterSpec, TargetSpec};

    fn spec(target: TargetSpec, route: bool) -> CanarySpec {
        CanarySpec {
            target,
            router: RouterSpec {
                http_route: route.then(|| HttpRouteRouterSpec {
                    name: "web".into(),
                    rule: None,
                    stable_service: "s".into(),
                    canary_service: "c".into(),
                }),
            },
            policy: PolicySpec::default(),
            metrics: None,
            notify: vec![],
        }
    }

    #[test]
    fn spec_selects_the_router() {
        let pair = TargetSpec {
            stable: Some("a".into()),
            canary: Some("b".into()),
            ..Default::default()
        };
        let argo = TargetSpec {
            rollout: Some("r".into()),
            ..Default::default()
        };
        assert_eq!(
            choose(&spec(pair.clone(), true)).unwrap().1,
            RouterChoice::HttpRoute
        );
        assert_eq!(choose(&spec(pair, false)).unwrap().1, RouterChoice::Pair);
        assert_eq!(
            choose(&spec(argo.clone(), false)).unwrap().1,
            RouterChoice::Argo
        );
        assert!(choose(&spec(argo, true))
            .unwrap_err()
            .contains("trafficRouting"));
        let single = TargetSpec {
            deployment: Some("d".into()),
            ..Default::default()
        };
        assert_eq!(
            choose(&spec(single.clone(), false)).unwrap().1,
            RouterChoice::Observe
        );
        assert!(choose(&spec(single, true))
            .unwrap_err()
            .contains("moves no traffic"));
    }
}
