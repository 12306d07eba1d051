//! Mirroring the store into `Canary.status`, and the words of Kubernetes
//! Events. The store is the source of truth; status is its view for
//! `kubectl`, rewritten from it on every reconcile (so a lost status write
//! heals itself on the next one).

use canaryd_core::effect::{Notice, NoticeKind, RollbackCause, Severity};
use canaryd_core::rollout::Rollout;
use canaryd_core::verdict::VerdictKind;

use crate::crd::{CanaryCondition, CanaryStatus, WindowStatus, MAX_STATUS_WINDOWS};

/// Sets a condition, keeping `lastTransitionTime` when its status did not
/// change (Kubernetes convention: the time says when it *became* so).
pub fn set_condition(
    conditions: &mut Vec<CanaryCondition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    now: &str,
    generation: Option<i64>,
) {
    let status = if status { "True" } else { "False" };
    let fresh = CanaryCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message: message.to_string(),
        last_transition_time: now.to_string(),
        observed_generation: generation,
    };
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) if c.status == status => {
            c.reason = fresh.reason;
            c.message = fresh.message;
            c.observed_generation = generation;
        }
        Some(c) => *c = fresh,
        None => conditions.push(fresh),
    }
}

/// Appends a window verdict, keeping only the newest [`MAX_STATUS_WINDOWS`]
/// and never the same index twice (a repeated status write is harmless).
pub fn push_window(windows: &mut Vec<WindowStatus>, w: WindowStatus) {
    windows.retain(|x| x.index != w.index);
    windows.push(w);
    windows.sort_by_key(|x| x.index);
    let excess = windows.len().saturating_sub(MAX_STATUS_WINDOWS);
    windows.drain(..excess);
}

pub fn verdict_name(v: VerdictKind) -> &'static str {
    match v {
        VerdictKind::Healthy => "healthy",
        VerdictKind::Breach => "breach",
        VerdictKind::Inconclusive => "inconclusive",
        VerdictKind::Unreliable => "unreliable",
    }
}

/// The status for `rollout` as the store has it.
pub fn mirror(
    previous: &CanaryStatus,
    rollout: &Rollout,
    generation: Option<i64>,
    now: &str,
) -> CanaryStatus {
    let mut s = previous.clone();
    if s.revision.as_deref() != Some(rollout.key.revision.0.as_str()) {
        // A new revision's story starts afresh.
        s.windows.clear();
    }
    s.phase = Some(rollout.phase.name().to_string());
    s.revision = Some(rollout.key.revision.0.clone());
    s.weight = Some(rollout.weight);
    s.step = u32::try_from(rollout.step).ok();
    s.observed_generation = generation;
    set_condition(
        &mut s.conditions,
        "TargetFound",
        true,
        "Found",
        "the target exists",
        now,
        generation,
    );
    let (ready, reason, message) = match &rollout.phase {
        canaryd_core::Phase::Promoted { .. } => {
            (true, "Promoted", "the canary was promoted".to_string())
        }
        canaryd_core::Phase::RolledBack { cause, .. } => {
            (false, "RolledBack", rollback_words(cause))
        }
        canaryd_core::Phase::Paused { reason } => (false, "Paused", format!("paused: {reason}")),
        canaryd_core::Phase::AwaitingApproval { reason } => {
            (false, "AwaitingApproval", reason.clone())
        }
        other => (
            false,
            "Progressing",
            format!("{other} at {}%", rollout.weight),
        ),
    };
    set_condition(
        &mut s.conditions,
        "Ready",
        ready,
        reason,
        &message,
        now,
        generation,
    );
    s
}

/// Why a rollout was rolled back, as an operator reads it in `kubectl get`
/// (never the Rust names of the fields).
pub fn rollback_words(cause: &RollbackCause) -> String {
    match cause {
        RollbackCause::Breach { evidence, windows } => {
            let what = evidence
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            let windows = windows
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            match (what.is_empty(), windows.is_empty()) {
                (true, _) => "rolled back: a rule breached".to_string(),
                (false, true) => format!("rolled back: {what}"),
                (false, false) => format!("rolled back: {what} (windows {windows})"),
            }
        }
        RollbackCause::Operator { by, reason } => match reason {
            Some(r) => format!("rolled back: aborted by {by}: {r}"),
            None => format!("rolled back: aborted by {by}"),
        },
    }
}

/// A Kubernetes Event's type, reason and note for a notice: the same title
/// the Slack message and the PagerDuty incident carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventWords {
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    pub reason: &'static str,
    pub note: String,
}

pub fn event_words(notice: &Notice) -> EventWords {
    let reason = match notice.kind {
        NoticeKind::Started => "RolloutStarted",
        NoticeKind::AwaitingApproval => "AwaitingApproval",
        NoticeKind::Advanced => "Advanced",
        NoticeKind::Extended => "WindowExtended",
        NoticeKind::Paused => "Paused",
        NoticeKind::Resumed => "Resumed",
        NoticeKind::RolledBack => "RolledBack",
        NoticeKind::Promoted => "Promoted",
    };
    let type_ = match notice.severity {
        Severity::Info => "Normal",
        Severity::Warning | Severity::Critical => "Warning",
    };
    EventWords {
        type_,
        reason,
        note: cap_note(canaryd_ports::words::title(notice)),
    }
}

/// The words of a Warning about the Canary itself (an invalid policy, a
/// missing target): not a rollout transition, but what `kubectl describe`
/// must show.
pub fn warning_words(reason: &'static str, message: &str) -> EventWords {
    EventWords {
        type_: "Warning",
        reason,
        note: cap_note(message.to_string()),
    }
}

/// The API server caps an Event's note at 1 kB.
fn cap_note(mut note: String) -> String {
    if note.len() > 1024 {
        let mut cut = 1021;
        while !note.is_char_boundary(cut) {
            cut -= 1;
        }
        note.truncate(cut);
        note.push_str("...");
    }
    note
}

/// The merge patch that makes the server's status exactly `status`. canaryd
/// owns the whole status, so replacing it (lists included) is right; but a
/// merge patch leaves alone every key it does not mention, and the status
/// type omits empty lists and absent values when serialized. Each such key
/// is therefore written out: `[]` for a list (a new revision's empty
/// `windows` must clear the previous revision's), `null` (delete) otherwise.
pub fn status_patch(status: &CanaryStatus) -> serde_json::Value {
    let mut body = serde_json::to_value(status).unwrap_or_else(|_| serde_json::json!({}));
    if let Some(fields) = body.as_object_mut() {
        for list in ["windows", "conditions"] {
            fields
                .entry(list)
                .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        }
        for value in ["phase", "revision", "weight", "step", "observedGeneration"] {
            fields.entry(value).or_insert(serde_json::Value::Null);
        }
    }
    serde_json::json!({ "status": body })
}

/// Writes `status` to the Canary's status subresource (see [`status_patch`]).
pub async fn write_status(
    api: &kube::Api<crate::crd::Canary>,
    name: &str,
    status: &CanaryStatus,
) -> Result<(), crate::error::KubeError> {
    let object =
        crate::kubeapi::ObjectName::new("Canary", api.namespace().unwrap_or_default(), name);
    let patch = kube::api::Patch::Merge(status_patch(status));
    api.patch_status(name, &kube::api::PatchParams::default(), &patch)
        .await
        .map(|_| ())
        .map_err(|e| object.api(e))
}
