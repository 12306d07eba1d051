//! Talking to the API server the way every router here must: classify the
//! failure, re-read and retry on conflicts, back off on transient trouble,
//! and turn a missing object into an error that names it.

use std::future::Future;
use std::time::Duration;

use crate::error::KubeError;

/// Which object a call was about, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectName {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
}

impl ObjectName {
    pub fn new(kind: &'static str, namespace: &str, name: &str) -> ObjectName {
        ObjectName {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    pub fn invalid(&self, problem: impl Into<String>) -> KubeError {
        KubeError::Invalid {
            kind: self.kind,
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            problem: problem.into(),
        }
    }

    pub fn encode(&self, source: serde_json::Error) -> KubeError {
        KubeError::Encode {
            kind: self.kind,
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            source,
        }
    }

    /// Names the object in a kube error, mapping 404 to [`KubeError::NotFound`].
    pub fn api(&self, source: kube::Error) -> KubeError {
        if status_code(&source) == Some(404) {
            return KubeError::NotFound {
                kind: self.kind,
                namespace: self.namespace.clone(),
                name: self.name.clone(),
            };
        }
        KubeError::Api {
            kind: self.kind,
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            source,
        }
    }
}

/// The HTTP status of an API error, if the server answered.
pub fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// Server trouble, throttling and connection failures pass; a 4xx other
/// than 409/429 is our request's fault and will fail the same way again.
pub fn is_transient(e: &kube::Error) -> bool {
    match status_code(e) {
        Some(code) => code == 409 || code == 429 || code >= 500,
        None => !matches!(
            e,
            kube::Error::SerdeError(_) | kube::Error::BuildRequest(_) | kube::Error::FromUtf8(_)
        ),
    }
}

/// How hard to try before giving the error back to the caller (the driver
/// then keeps the effect in its outbox and the controller requeues).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub attempts: u32,
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            attempts: 5,
            first: Duration::from_millis(200),
            max: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The wait before retry number `attempt` (from 0): doubling, capped.
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX);
        self.first.saturating_mul(factor).min(self.max)
    }
}

/// Runs `op` (a read-modify-write) until it succeeds, retrying conflicts and
/// transient failures with exponential back-off. `op` must re-read what it
/// writes on every call: a 409 means our copy was stale.
pub async fn retry<T, F, Fut>(
    backoff: Backoff,
    object: &ObjectName,
    mut op: F,
) -> Result<T, KubeError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, KubeError>>,
{
    let mut conflicts = 0;
    let mut attempt = 0;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt + 1 < backoff.attempts && e.is_transient() => {
                if is_conflict(&e) {
                    conflicts += 1;
                }
                tracing::debug!(object = %object.name, attempt, error = %e, "retrying");
                tokio::time::sleep(backoff.delay(attempt)).await;
                attempt += 1;
            }
            Err(e) if is_conflict(&e) => {
                return Err(KubeError::Conflict {
                    kind: object.kind,
                    namespace: object.namespace.clone(),
                    name: object.name.clone(),
                    attempts: conflicts + 1,
                })
            }
            Err(e) => return Err(e),
        }
    }
}

fn is_conflict(e: &KubeError) -> bool {
    matches!(e, KubeError::Api { source, .. } if status_code(source) == Some(409))
        || matches!(e, KubeError::Conflict { .. })
}
