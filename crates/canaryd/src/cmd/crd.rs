//! `canaryd crd`: prints the `Canary` CustomResourceDefinition, generated
//! from the Rust types the controller reads (pipe it to `kubectl apply -f -`;
//! the Helm chart ships the same output).

use crate::Fail;

pub fn run() -> Result<u8, Fail> {
    let yaml = canaryd_kube::crd::crd_yaml()
        .map_err(|e| Fail::Operational(anyhow::anyhow!("cannot render the Canary CRD: {e}")))?;
    print!("{yaml}");
    Ok(0)
}
