//! What every channel needs to know about one notice, rendered once.

use canaryd_core::effect::{Notice, NoticeKind, Severity};
use canaryd_core::vocab::RolloutKey;
use canaryd_ports::words::{words, Surface};
use serde::Serialize;

/// A notice about one rollout, with the link the policy's dashboard template gives.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Message {
    pub workload: String,
    pub revision: String,
    pub kind: NoticeKind,
    pub severity: Severity,
    pub title: String,
    pub text: String,
    pub evidence: Vec<canaryd_core::Evidence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// RFC 3339, when the notice was sent.
    pub sent_at: String,
}

impl Message {
    /// The message for `notice`, worded for `surface` (the next steps it
    /// names depend on where canaryd runs).
    pub fn new(
        key: &RolloutKey,
        notice: &Notice,
        surface: Surface,
        dashboard_template: Option<&str>,
        sent_at: String,
    ) -> Message {
        let words = words(notice, surface);
        Message {
            workload: key.workload.0.clone(),
            revision: key.revision.0.clone(),
            kind: notice.kind,
            severity: notice.severity,
            title: words.title,
            text: words.text,
            evidence: notice.evidence.clone(),
            link: dashboard_template.map(|t| dashboard_link(t, key)),
            sent_at,
        }
    }

    /// The per-rollout key PagerDuty deduplicates on and receivers can group by.
    pub fn dedup_key(&self) -> String {
        format!("canaryd/{}/{}", self.workload, self.revision)
    }
}

/// Fills `{workload}` and `{revision}` (percent-encoded) into a dashboard URL template.
pub fn dashboard_link(template: &str, key: &RolloutKey) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    template
        .replace("{workload}", &enc(&key.workload.0))
        .replace("{revision}", &enc(&key.revision.0))
}

pub fn kind_name(kind: NoticeKind) -> &'static str {
    match kind {
        NoticeKind::Started => "started",
        NoticeKind::AwaitingApproval => "awaiting_approval",
        NoticeKind::Advanced => "advanced",
        NoticeKind::Extended => "extended",
        NoticeKind::Paused => "paused",
        NoticeKind::Resumed => "resumed",
        NoticeKind::RolledBack => "rolled_back",
        NoticeKind::Promoted => "promoted",
    }
}

/// Cuts `s` to at most `max` characters, marking the cut, on a char boundary.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
