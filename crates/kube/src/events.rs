//! Kubernetes Events for every rollout transition, on the `Canary` and on
//! its target, worded like the notifications (see [`crate::status::event_words`])
//! so `kubectl describe` and Slack tell the same story.

use canaryd_core::effect::Notice;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::Client;

use crate::error::KubeError;
use crate::kubeapi::ObjectName;
use crate::status::{event_words, EventWords};

pub struct Announcer {
    recorder: Recorder,
}

impl Announcer {
    /// `instance`: this replica's name (the pod name), so Events from
    /// several replicas can be told apart.
    pub fn new(client: Client, instance: Option<String>) -> Announcer {
        let reporter = Reporter {
            controller: "canaryd".to_string(),
            instance,
        };
        Announcer {
            recorder: Recorder::new(client, reporter),
        }
    }

    /// Publishes `notice` on each object in `on` (the Canary first, then
    /// its target). Stops at the first failure: the caller logs it; an
    /// Event lost is never a reason to hold up a rollout.
    pub async fn announce(&self, notice: &Notice, on: &[ObjectReference]) -> Result<(), KubeError> {
        self.publish(&event_words(notice), on).await
    }

    /// Publishes an Event with these words on each object in `on`, for the
    /// controller's own findings (an invalid policy, a missing target) that
    /// are not rollout transitions.
    pub async fn publish(
        &self,
        words: &EventWords,
        on: &[ObjectReference],
    ) -> Result<(), KubeError> {
        let event = Event {
            type_: if words.type_ == "Warning" {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: words.reason.to_string(),
            note: Some(words.note.clone()),
            action: words.reason.to_string(),
            secondary: None,
        };
        for reference in on {
            let object = ObjectName::new(
                "Event",
                reference.namespace.as_deref().unwrap_or_default(),
                reference.name.as_deref().unwrap_or_default(),
            );
            self.recorder
                .publish(&event, reference)
                .await
                .map_err(|e| object.api(e))?;
        }
        Ok(())
    }
}
