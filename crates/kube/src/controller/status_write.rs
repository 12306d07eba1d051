use kube::api::Api;

use crate::crd::{Canary, CanaryStatus};
use crate::error::KubeError;
use crate::kubeapi::{status_code, Backoff, ObjectName};
use crate::status::write_status;

/// Writes the status `build` makes from the Canary's status as last read,
/// skipping the write when nothing changed (so a reconcile with nothing to
/// do writes nothing, and triggers no watch event).
///
/// A 409 means someone wrote the Canary between our read and our write: the
/// Canary is read again and `build` applied to what it holds now, so a
/// condition another writer set is not overwritten by our stale copy.
/// Other transient failures are retried with back-off; after `backoff.attempts`
/// the error goes back to the loop, which requeues (the store is the truth,
/// the next reconcile writes the same status again).
pub async fn write_status_retrying(
    api: &Api<Canary>,
    name: &str,
    backoff: Backoff,
    previous: &CanaryStatus,
    build: impl Fn(&CanaryStatus) -> CanaryStatus,
) -> Result<Option<CanaryStatus>, KubeError> {
    let object = ObjectName::new("Canary", api.namespace().unwrap_or_default(), name);
    let mut base = previous.clone();
    let mut attempt = 0u32;
    let mut conflicts = 0u32;
    loop {
        let status = build(&base);
        if status == base {
            return Ok(None);
        }
        let err = match write_status(api, name, &status).await {
            Ok(()) => return Ok(Some(status)),
            Err(e) => e,
        };
        attempt += 1;
        if attempt >= backoff.attempts.max(1) || !err.is_transient() {
            return Err(match err {
                KubeError::Api { ref source, .. } if status_code(source) == Some(409) => {
                    KubeError::Conflict {
                        kind: "Canary",
                        namespace: object.namespace.clone(),
                        name: object.name.clone(),
                        attempts: conflicts + 1,
                    }
                }
                other => other,
            });
        }
        let conflict =
            matches!(&err, KubeError::Api { source, .. } if status_code(source) == Some(409));
        tracing::debug!(canary = %name, attempt, error = %err, "status write failed; retrying");
        if conflict {
            conflicts += 1;
            let fresh = api.get(name).await.map_err(|e| object.api(e))?;
            base = fresh.status.unwrap_or_default();
        } else {
            tokio::time::sleep(backoff.delay(attempt - 1)).await;
        }
    }
}
