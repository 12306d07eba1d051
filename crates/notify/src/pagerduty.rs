//! PagerDuty Events API v2.
//!
//! A rollback (and a pause or an approval wait, which need a human) opens an
//! incident with `event_action: trigger`; the same rollout promoting or being
//! resumed closes it with `resolve`. Both carry the same `dedup_key` (one per
//! workload + revision), so PagerDuty folds repeats into one incident.
//! Documented limits: `summary` ≤ 1,024 characters; `severity` one of
//! critical, error, warning, info; a 2xx (202 Accepted) means queued.

use canaryd_core::effect::{NoticeKind, Severity};
use serde_json::{json, Value};

use crate::message::{kind_name, truncate, Message};
use canaryd_secrets::secret::Secret;

/// PagerDuty's Events API v2 endpoint, used when a target names none.
pub const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Trigger,
    Resolve,
}

/// What PagerDuty should do with a notice of this kind (nothing for routine progress).
pub(crate) fn action_for(kind: NoticeKind) -> Option<Action> {
    match kind {
        NoticeKind::RolledBack | NoticeKind::Paused | NoticeKind::AwaitingApproval => {
            Some(Action::Trigger)
        }
        NoticeKind::Promoted | NoticeKind::Resumed => Some(Action::Resolve),
        NoticeKind::Started | NoticeKind::Advanced | NoticeKind::Extended => None,
    }
}

pub(crate) fn payload(m: &Message, routing_key: &Secret, action: Action) -> Value {
    let dedup_key = m.dedup_key();
    match action {
        Action::Resolve => json!({
            "routing_key": routing_key.expose(),
            "event_action": "resolve",
            "dedup_key": dedup_key,
        }),
        Action::Trigger => {
            let severity = match m.severity {
                Severity::Critical => "critical",
                Severity::Warning => "warning",
                Severity::Info => "info",
            };
            let mut body = json!({
                "routing_key": routing_key.expose(),
                "event_action": "trigger",
                "dedup_key": dedup_key,
                "client": "canaryd",
                "payload": {
                    "summary": truncate(&format!("{}: {}", m.title, m.text), 1024),
                    "source": format!("canaryd/{}", m.workload),
                    "severity": severity,
                    "timestamp": m.sent_at,
                    "component": m.workload,
                    "group": "canary-release",
                    "class": kind_name(m.kind),
                    "custom_details": {
                        "workload": m.workload,
                        "revision": m.revision,
                        "what_happened": m.text,
                        "evidence": m.evidence,
                    },
                },
            });
            if let Some(link) = &m.link {
                body["links"] = json!([{"href": link, "text": "Dashboard"}]);
            }
            body
        }
    }
}
