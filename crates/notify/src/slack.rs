//! Slack incoming webhooks, as Block Kit messages.
//!
//! Limits from Slack's Block Kit reference: a `header` holds at most 150
//! characters of plain text, a `section` text 3,000, a section at most 10
//! `fields` of 2,000 each, a message at most 50 blocks. `text` is the
//! notification fallback shown where blocks cannot be.

use canaryd_core::effect::Severity;
use serde_json::{json, Value};

use crate::message::{truncate, Message};

pub fn payload(m: &Message) -> Value {
    let icon = match m.severity {
        Severity::Critical => ":rotating_light:",
        Severity::Warning => ":warning:",
        Severity::Info => ":large_green_circle:",
    };
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&m.title, 150), "emoji": true}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&format!("{icon} {}", m.text), 3000)}}),
    ];
    if let Some(e) = m.evidence.first() {
        let mut fields = vec![
            field("Metric", &format!("`{}` on `{}`", e.metric.name(), e.route)),
            field(
                "Canary",
                &format!("{} (n={})", e.metric.fmt_value(e.canary), e.canary_requests),
            ),
            field(
                "Threshold",
                &format!("{} ({})", e.metric.fmt_value(e.threshold), e.comparison),
            ),
            field("Window", &format!("#{}", e.window)),
        ];
        if let Some(b) = e.baseline {
            fields.insert(2, field("Baseline", &e.metric.fmt_value(b)));
        }
        if m.evidence.len() > 1 {
            fields.push(field(
                "Also breached",
                &format!("{} more rule/route pairs", m.evidence.len() - 1),
            ));
        }
        fields.truncate(10);
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text":
        truncate(&format!("workload `{}` · revision `{}` · canaryd", m.workload, m.revision), 3000)}]}));
    if let Some(link) = &m.link {
        blocks.push(json!({"type": "actions", "elements": [{"type": "button",
            "text": {"type": "plain_text", "text": "Dashboard"}, "url": link}]}));
    }
    json!({"text": truncate(&m.title, 3000), "blocks": blocks})
}

fn field(name: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": truncate(&format!("*{name}*\n{value}"), 2000)})
}
