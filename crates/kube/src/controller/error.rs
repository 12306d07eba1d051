use canaryd_driver::DriverError;
use canaryd_store::StoreError;

use crate::error::KubeError;

/// Why a reconcile did not finish (boxed parts: it travels in every
/// `Result` of the reconcile path). Every variant is retried with
/// back-off by the loop; the message is logged and names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error(transparent)]
    Kube(Box<KubeError>),
    #[error("Canary {canary}: {source}")]
    Driver {
        canary: String,
        #[source]
        source: Box<DriverError>,
    },
    #[error("Canary {canary}: the store is unusable: {source}")]
    Store {
        canary: String,
        #[source]
        source: Box<StoreError>,
    },
    #[error("a Canary without a namespace ({name}); the resource is namespaced, so the API server sent something unexpected")]
    NoNamespace { name: String },
}

impl ControllerError {
    /// Whether waiting can help; for the rest a human must change something
    /// (the loop still retries them, slowly, since that change is often the
    /// fix arriving: a Deployment created, a ConfigMap fixed).
    pub fn is_transient(&self) -> bool {
        match self {
            ControllerError::Kube(e) => e.is_transient(),
            // A router call failed: its effect waits in the outbox.
            ControllerError::Driver { .. } | ControllerError::Store { .. } => true,
            ControllerError::NoNamespace { .. } => false,
        }
    }
}

impl From<KubeError> for ControllerError {
    fn from(e: KubeError) -> Self {
        ControllerError::Kube(Box::new(e))
    }
}
