use std::sync::Arc;

use canaryd_core::effect::Notice;
use canaryd_core::vocab::RolloutKey;
use canaryd_driver::{ActionError, Notifier};
use k8s_openapi::api::core::v1::ObjectReference;

use crate::events::Announcer;

/// The driver's notifier in the controller: every notice the core emits
/// becomes a Kubernetes Event on the Canary and on its target. Going
/// through the driver's outbox means an Event is published after the
/// transition is committed, and again after a crash in between (the
/// Recorder then counts it as a series, it is not duplicated in kubectl).
pub struct EventNotifier {
    announcer: Arc<Announcer>,
    on: Vec<ObjectReference>,
}

impl EventNotifier {
    pub fn new(announcer: Arc<Announcer>, on: Vec<ObjectReference>) -> EventNotifier {
        EventNotifier { announcer, on }
    }
}

impl Notifier for EventNotifier {
    async fn notify(&mut self, _key: &RolloutKey, notice: &Notice) -> Result<(), ActionError> {
        // The driver audits a failed notification and moves on: an Event
        // lost never holds up a rollout.
        self.announcer
            .announce(notice, &self.on)
            .await
            .map_err(ActionError::from)
    }
}
