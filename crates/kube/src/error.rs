//! Errors of the Kubernetes side, worded for the operator who must fix them.

use canaryd_ports::{ActionError, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("{kind} {namespace}/{name} not found; create it or fix the Canary's spec")]
    NotFound {
        kind: &'static str,
        namespace: String,
        name: String,
    },
    #[error("{kind} {namespace}/{name} kept changing under us ({attempts} conflicting writes in a row); another controller is writing it")]
    Conflict {
        kind: &'static str,
        namespace: String,
        name: String,
        attempts: u32,
    },
    #[error("the Kubernetes API failed on {kind} {namespace}/{name}: {source}")]
    Api {
        kind: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("{kind} {namespace}/{name} cannot be used: {problem}")]
    Invalid {
        kind: &'static str,
        namespace: String,
        name: String,
        problem: String,
    },
    #[error("cannot encode a patch for {kind} {namespace}/{name}: {source}")]
    Encode {
        kind: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: serde_json::Error,
    },
}

impl KubeError {
    /// Whether waiting and trying again can help (a 5xx, a timeout, a
    /// conflict); a missing object or an invalid spec needs a human.
    pub fn is_transient(&self) -> bool {
        match self {
            KubeError::Api { source, .. } => crate::kubeapi::is_transient(source),
            KubeError::Conflict { .. } => true,
            _ => false,
        }
    }
}

impl From<KubeError> for ActionError {
    fn from(e: KubeError) -> ActionError {
        ActionError::new(ErrorKind::from_transient(e.is_transient()), e.to_string())
    }
}
