//! Kubernetes Events for every rollout transition, on the `Canary` and on
//! its target, worded like the notifications (see [`crate::status::event_words`])
//! so `kubectl describe` and Slack tell the same story.

use std::sync::atomic::{AtomicU64, Ordering};

use canaryd_core::effect::Notice;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::Client;

use crate::error::KubeError;
use crate::kubeapi::ObjectName;
use crate::status::{event_words, EventWords};

/// Publishes Events. Not kube-runtime's `Recorder`: that one folds an Event
/// into an earlier one with the same reason on the same object (bumping its
/// count, keeping its note), so a second revision's "Paused" or "RolledBack"
/// showed the first revision's words. Every transition here is an Event of
/// its own; repeats of the controller's own warnings are already kept down
/// by the caller (said once per change of a condition).
pub struct Announcer {
    client: Client,
    controller: String,
    instance: String,
    /// Makes names unique within this process even within one clock tick.
    sequence: AtomicU64,
}

impl Announcer {
    /// `instance`: this replica's name (the pod name), so Events from
    /// several replicas can be told apart.
    pub fn new(client: Client, instance: Option<String>) -> Announcer {
        let controller = "canaryd".to_string();
        Announcer {
            client,
            instance: instance.unwrap_or_else(|| controller.clone()),
            controller,
            sequence: AtomicU64::new(0),
        }
    }

    /// Publishes `notice` on each object in `on` (the Canary first, then
    /// its target). Stops at the first failure: the caller logs it; an
    /// Event lost is never a reason to hold up a rollout.
    pub async fn announce(&self, notice: &Notice, on: &[ObjectReference]) -> Result<(), KubeError> {
        self.publish(&event_words(notice), on).await
    }

    /// The Event for `words` on `regarding`, with a name no earlier Event has.
    pub fn event(&self, words: &EventWords, regarding: &ObjectReference) -> K8sEvent {
        let now = Timestamp::now();
        let seq = self.sequence.fetch_add(1, Ordering::Relaxed);
        let object = regarding.name.as_deref().unwrap_or(&self.controller);
        K8sEvent {
            action: Some(words.reason.to_string()),
            reason: Some(words.reason.to_string()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            note: Some(words.note.clone()),
            metadata: ObjectMeta {
                namespace: regarding.namespace.clone(),
                name: Some(format!("{object}.{:x}{seq:x}", now.as_nanosecond())),
                ..Default::default()
            },
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            type_: Some(words.type_.to_string()),
            ..Default::default()
        }
    }

    /// Publishes an Event with these words on each object in `on`, for the
    /// controller's own findings (an invalid policy, a missing target) that
    /// are not rollout transitions.
    pub async fn publish(
        &self,
        words: &EventWords,
        on: &[ObjectReference],
    ) -> Result<(), KubeError> {
        for reference in on {
            let namespace = reference.namespace.as_deref().unwrap_or("default");
            let object = ObjectName::new(
                "Event",
                namespace,
                reference.name.as_deref().unwrap_or_default(),
            );
            let events: Api<K8sEvent> = Api::namespaced(self.client.clone(), namespace);
            events
                .create(&PostParams::default(), &self.event(words, reference))
                .await
                .map_err(|e| object.api(e))?;
        }
        Ok(())
    }
}
