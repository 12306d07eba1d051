//! Argo Rollouts' `web` metric provider: one synchronous call per measurement.
//!
//! Argo calls `url` with `method` GET (the default) or POST, the template's
//! `headers`, and for POST a `body` string or a `jsonBody` object (then with
//! `Content-Type: application/json`); it substitutes `{{args.*}}` first. A
//! 2xx answer is parsed as JSON, narrowed by `jsonPath` (default `{$}`) and
//! tested with `successCondition` / `failureCondition`; anything else is a
//! measurement error. Argo waits `timeoutSeconds` (default 10 s), so the
//! answer comes from the watch's cached snapshot, never from a fresh query.
//!
//! The question: `workload` (e.g. `namespace/rollout`), `canary` and `stable`
//! pod-template hashes, as query parameters (GET) or JSON fields (POST).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use canaryd_core::vocab::RolloutKey;
use canaryd_ports::Notifier;
use serde::Deserialize;

use crate::analysis::answer::answer;
use crate::analysis::SourceFactory;
use crate::integrations::{authorize, error, service_error, Shared};

/// What Argo asks about.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// The Rollout, as `namespace/name` (any stable name works).
    pub workload: String,
    /// The canary's pod-template hash (`podTemplateHashValue: Latest`).
    pub canary: String,
    /// The stable pod-template hash (`podTemplateHashValue: Stable`).
    pub stable: String,
}

impl Question {
    /// The rollout key and the stable revision, or what is wrong with them.
    pub fn validate(self) -> Result<(RolloutKey, String), String> {
        check_name("workload", &self.workload, 253)?;
        check_hash("canary", &self.canary)?;
        check_hash("stable", &self.stable)?;
        if self.canary == self.stable {
            return Err(format!(
                "canary and stable are the same revision `{}`: there is nothing to compare (is the Rollout between updates?)",
                self.canary
            ));
        }
        Ok((RolloutKey::new(self.workload, self.canary), self.stable))
    }
}

pub(crate) fn check_name(field: &str, v: &str, max: usize) -> Result<(), String> {
    if v.trim().is_empty() {
        return Err(format!("`{field}` is empty"));
    }
    if v.len() > max {
        return Err(format!("`{field}` is longer than {max} characters"));
    }
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "`{field}` contains whitespace or control characters"
        ));
    }
    if v.contains("{{") {
        return Err(format!(
            "`{field}` is `{v}`: an Argo placeholder was not substituted (is the argument declared in the AnalysisTemplate and passed by the Rollout?)"
        ));
    }
    Ok(())
}

fn check_hash(field: &str, v: &str) -> Result<(), String> {
    check_name(field, v, 128)?;
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "`{field}` is `{v}`: a revision is letters, digits, `-`, `_` and `.` (a pod-template hash, an image tag)"
        ));
    }
    Ok(())
}

fn respond<F: SourceFactory, N: Notifier + 'static>(
    shared: &Shared<F, N>,
    question: Question,
) -> Response {
    let (key, stable) = match question.validate() {
        Ok(v) => v,
        Err(why) => return error(StatusCode::BAD_REQUEST, format!("invalid question: {why}")),
    };
    match shared.service.ask(&key, &stable, answer) {
        Ok(a) => Json(a).into_response(),
        Err(e) => service_error(e),
    }
}

pub(crate) async fn get_analysis<F: SourceFactory, N: Notifier + 'static>(
    State(shared): State<Shared<F, N>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Some(r) = authorize(&shared.token, &headers, None) {
        return r;
    }
    match axum::extract::Query::<Question>::try_from_uri(&uri) {
        Ok(q) => respond(&shared, q.0),
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            format!(
                "invalid question ({}): pass workload, canary and stable as query parameters",
                e.body_text()
            ),
        ),
    }
}

pub(crate) async fn post_analysis<F: SourceFactory, N: Notifier + 'static>(
    State(shared): State<Shared<F, N>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    if let Some(r) = authorize(&shared.token, &headers, None) {
        return r;
    }
    let body = match crate::api::read_body(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    // Argo sets Content-Type only for `jsonBody`; a `body` string arrives
    // without one, so the body is read as JSON whatever the header says.
    match serde_json::from_slice::<Question>(&body) {
        Ok(q) => respond(&shared, q),
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            format!(
                "invalid question ({e}): POST a JSON object {{\"workload\", \"canary\", \"stable\"}}"
            ),
        ),
    }
}
