use std::sync::Arc;

use canaryd_core::effect::Notice;
use canaryd_core::vocab::RolloutKey;
use canaryd_ports::{ActionError, ErrorKind, Notifier};
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

#[canaryd_ports::async_trait]
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

/// Events, then the `spec.notify` channels. Both are tried whatever the
/// other did; a failure of either is reported (the driver audits it and
/// moves on: a lost message never holds up a rollout).
pub struct Channels {
    events: EventNotifier,
    more: Option<Box<dyn Notifier>>,
}

impl Channels {
    /// `more`: the `spec.notify` channels, built by the [`super::EdgeFactory`].
    pub fn new(events: EventNotifier, more: Option<Box<dyn Notifier>>) -> Channels {
        Channels { events, more }
    }
}

#[canaryd_ports::async_trait]
impl Notifier for Channels {
    async fn notify(&mut self, key: &RolloutKey, notice: &Notice) -> Result<(), ActionError> {
        let events = self.events.notify(key, notice).await;
        let more = match &mut self.more {
            Some(m) => m.notify(key, notice).await,
            None => Ok(()),
        };
        match (events, more) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(e), Ok(())) | (Ok(()), Err(e)) => Err(e),
            (Err(a), Err(b)) => {
                let kind = match (a.kind(), b.kind()) {
                    (ErrorKind::Transient, ErrorKind::Transient) => ErrorKind::Transient,
                    _ => ErrorKind::Permanent,
                };
                Err(ActionError::new(kind, format!("{a}; {b}")))
            }
        }
    }
}
