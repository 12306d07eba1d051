//! The real cluster for the real-cluster tests: a client when asked for
//! (`KUBECONFIG` and `CANARYD_E2E=1`), a namespace of the test's own deleted
//! on drop, and CRDs created when missing and left in place (other tests of
//! the suite use them too). `canaryd`'s `controller_cluster.rs` includes this
//! file too (`#[path]`), so it names nothing else of the kube tests' support.
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, PostParams};
use kube::Client;
use serde_json::json;

/// Generous: a real API server on a loaded machine. Waits end as soon as
/// their condition holds.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// A client for the cluster, or `None` (said on stdout) when not asked to run.
pub async fn cluster() -> Option<Client> {
    if std::env::var("KUBECONFIG").unwrap_or_default().is_empty() {
        println!("skipped: KUBECONFIG not set");
        return None;
    }
    if std::env::var("CANARYD_E2E").as_deref() != Ok("1") {
        println!(
            "skipped: CANARYD_E2E is not 1 (set it to run against the cluster KUBECONFIG names)"
        );
        return None;
    }
    Some(
        Client::try_default()
            .await
            .expect("a Kubernetes client for the cluster KUBECONFIG names"),
    )
}

/// A namespace of this test's own, deleted on drop (also on a failed
/// assertion). Needs the multi-threaded runtime (`block_in_place`).
pub struct TestNamespace {
    client: Client,
    pub name: String,
}

impl TestNamespace {
    pub async fn new(client: &Client, test: &str) -> TestNamespace {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let name = format!("canaryd-{test}-{}-{millis}", std::process::id());
        let ns: Namespace =
            serde_json::from_value(json!({"metadata": {"name": name}})).expect("a Namespace");
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create the test namespace");
        TestNamespace {
            client: client.clone(),
            name,
        }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let name = self.name.clone();
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async move {
                if let Err(e) = api.delete(&name, &DeleteParams::background()).await {
                    eprintln!("could not delete namespace {name}: {e} (delete it by hand)");
                }
            })
        });
    }
}

/// Polls `check` until it returns `Some`, or panics after [`DEADLINE`].
pub async fn wait_for<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    wait_within(DEADLINE, what, check).await
}

/// [`wait_for`] with a deadline of the caller's, for waits that span Lease
/// expiries or whole rollouts.
pub async fn wait_within<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            started.elapsed() < deadline,
            "waited {deadline:?} for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates `crd` unless it exists, and waits until it is served.
pub async fn ensure_crd(client: &Client, crd: CustomResourceDefinition) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = crd.metadata.name.clone().expect("a CRD has a name");
    if api.get_opt(&name).await.expect("read CRDs").is_none() {
        match api.create(&PostParams::default(), &crd).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => panic!("create CRD {name}: {e}"),
        }
    }
    wait_for(&format!("CRD {name} Established"), || async {
        api.get(&name)
            .await
            .ok()
            .and_then(|c| c.status)
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
            .then_some(())
    })
    .await;
}

/// An upstream CRD from `shared/k8s-crds` (read there, never copied).
pub fn upstream_crd(file: &str) -> CustomResourceDefinition {
    // Both crates that include this file sit at crates/NAME.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/k8s-crds")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the upstream CRDs live in shared/k8s-crds)",
            path.display()
        )
    });
    serde_saphyr::from_str(&text).expect("the upstream CRD parses")
}

/// Now, in milliseconds: the base of a test's clock (Events carry it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
