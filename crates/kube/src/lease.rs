//! Leader election on a `coordination.k8s.io/v1` Lease, so several replicas
//! can run with exactly one acting (the others wait to take over).
//!
//! The rule is the one client-go uses: a holder keeps the Lease by renewing
//! it before `leaseDurationSeconds` runs out; anyone may take an expired or
//! released Lease. Every write carries the resourceVersion that was read, so
//! when two replicas race, the API server lets one win and answers the other
//! 409 (which is "someone else leads", not an error). Time is an argument:
//! the decision is a pure function ([`decide`]).

use canaryd_core::vocab::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::Client;
use std::time::Duration;

use crate::error::KubeError;
use crate::kubeapi::{status_code, ObjectName};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leadership {
    /// We hold the Lease until at least the given time.
    Leader,
    /// Someone else holds a live Lease.
    Follower { holder: String },
}

/// What to do with the Lease as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseDecision {
    Create,
    /// Ours: renew it.
    Renew,
    /// Expired or released: take it over (counts a transition).
    TakeOver,
    Follow {
        holder: String,
    },
}

fn millis(t: &MicroTime) -> i64 {
    t.0.as_millisecond()
}

/// Pure: decides from the Lease as read, who we are, and the time.
pub fn decide(lease: Option<&Lease>, identity: &str, now: Timestamp) -> LeaseDecision {
    let Some(lease) = lease else {
        return LeaseDecision::Create;
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.unwrap_or_default();
    if holder == identity {
        return LeaseDecision::Renew;
    }
    if holder.is_empty() {
        return LeaseDecision::TakeOver;
    }
    let duration_ms = i64::from(spec.lease_duration_seconds.unwrap_or(15).max(1)) * 1000;
    let renewed = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(millis)
        .unwrap_or(i64::MIN / 2);
    if renewed.saturating_add(duration_ms) < now.0 {
        LeaseDecision::TakeOver
    } else {
        LeaseDecision::Follow { holder }
    }
}

pub struct LeaseLock {
    api: Api<Lease>,
    object: ObjectName,
    identity: String,
    duration: Duration,
}

fn micro(now: Timestamp) -> Option<MicroTime> {
    jiff::Timestamp::from_millisecond(now.0).ok().map(MicroTime)
}

impl LeaseLock {
    /// `identity` must be unique per replica (the pod name is the usual one).
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
    ) -> Self {
        LeaseLock {
            api: Api::namespaced(client, namespace),
            object: ObjectName::new("Lease", namespace, name),
            identity: identity.to_string(),
            duration,
        }
    }

    /// How often to call [`LeaseLock::try_lead`]: well inside the duration.
    pub fn renew_every(&self) -> Duration {
        self.duration / 3
    }

    fn spec(&self, now: Timestamp, acquired: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: i32::try_from(self.duration.as_secs().max(1)).ok(),
            acquire_time: acquired.or_else(|| micro(now)),
            renew_time: micro(now),
            lease_transitions: Some(transitions),
            ..Default::default()
        }
    }

    /// One round of the election: read, then create, renew or take over as
    /// [`decide`] says. A lost race (409) makes us a follower.
    pub async fn try_lead(&self, now: Timestamp) -> Result<Leadership, KubeError> {
        let current = self
            .api
            .get_opt(&self.object.name)
            .await
            .map_err(|e| self.object.api(e))?;
        let pp = PostParams::default();
        let result = match decide(current.as_ref(), &self.identity, now) {
            LeaseDecision::Follow { holder } => return Ok(Leadership::Follower { holder }),
            LeaseDecision::Create => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.object.name.clone()),
                        namespace: Some(self.object.namespace.clone()),
                        ..Default::default()
                    },
                    spec: Some(self.spec(now, None, 0)),
                };
                self.api.create(&pp, &lease).await
            }
            decision => {
                let mut lease = current.unwrap_or_default();
                let old = lease.spec.clone().unwrap_or_default();
                let transitions = old.lease_transitions.unwrap_or(0);
                lease.spec = Some(if decision == LeaseDecision::Renew {
                    self.spec(now, old.acquire_time, transitions)
                } else {
                    self.spec(now, None, transitions.saturating_add(1))
                });
                self.api.replace(&self.object.name, &pp, &lease).await
            }
        };
        match result {
            Ok(_) => Ok(Leadership::Leader),
            // Someone else wrote first (409) or created it first (409 AlreadyExists).
            Err(e) if status_code(&e) == Some(409) => Ok(Leadership::Follower {
                holder: "another replica".to_string(),
            }),
            Err(e) => Err(self.object.api(e)),
        }
    }

    /// Gives the Lease up on graceful shutdown, so a standby takes over at
    /// once instead of after the lease duration. Only our own Lease is touched.
    pub async fn release(&self) -> Result<(), KubeError> {
        let Some(mut lease) = self
            .api
            .get_opt(&self.object.name)
            .await
            .map_err(|e| self.object.api(e))?
        else {
            return Ok(());
        };
        let mut spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        spec.acquire_time = None;
        lease.spec = Some(spec);
        match self
            .api
            .replace(&self.object.name, &PostParams::default(), &lease)
            .await
        {
            // Taken over meanwhile: nothing of ours left to release.
            Err(e) if status_code(&e) == Some(409) => Ok(()),
            other => other.map(|_| ()).map_err(|e| self.object.api(e)),
        }
    }
}
