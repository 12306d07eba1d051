//! The Helm chart in `deploy/helm/canaryd`, rendered (see `helm_render`)
//! with its defaults and with representative overrides, and every object
//! checked: against the Kubernetes API types (nothing misspelt or unknown),
//! and for what matters in production: RBAC verbs exactly the ones the
//! controller uses, probes on the right paths and port, a hardened pod,
//! only flags `canaryd controller` accepts, selectors that select, and the
//! optional objects only when asked for.
//!
//! The `mutation_*` tests break a copy of the chart in one way each and
//! require the matching check to fail, so no check here passes vacuously.

mod helm_render;

use helm_render::{chart_dir, read_yaml, render, Release};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, PersistentVolumeClaim, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The verbs the controller needs in the namespaces it watches, and where
/// each is used. Any extra, missing or wildcard verb in the chart fails.
/// `list`+`watch` are the controller's watches (the `canaryd controller`
/// contract: Canary resources and new revisions of their targets).
const WATCHED_RULES: &[(&str, &str, &[&str])] = &[
    // Watched; status mirrored with a merge patch (status.rs: patch_status).
    ("canaryd.io", "canaries", &["get", "list", "watch"]),
    ("canaryd.io", "canaries/status", &["patch"]),
    // target.rs: get_opt; router/pair.rs: get, JSON patch of replicas and template.
    ("apps", "deployments", &["get", "list", "watch", "patch"]),
    // router/pair.rs: lists the canary's ReplicaSets for the undo.
    ("apps", "replicasets", &["list"]),
    // target.rs and router/argo.rs: get, merge patch; abort via patch_status.
    (
        "argoproj.io",
        "rollouts",
        &["get", "list", "watch", "patch"],
    ),
    ("argoproj.io", "rollouts/status", &["patch"]),
    // router/httproute.rs: get, JSON patch of the backend weights; never watched.
    ("gateway.networking.k8s.io", "httproutes", &["get", "patch"]),
    // target.rs: the policy ConfigMap; crd.rs: credentials by SecretKeyRef.
    ("", "configmaps", &["get"]),
    ("", "secrets", &["get"]),
    // events.rs: every transition is an events.k8s.io/v1 Event of its own
    // (created, never patched into an earlier one's series).
    ("events.k8s.io", "events", &["create"]),
];

/// lease.rs: get_opt, create, replace (= update), in the release namespace.
const LEASE_RULES: &[(&str, &str, &[&str])] = &[(
    "coordination.k8s.io",
    "leases",
    &["get", "create", "update"],
)];

/// `canaryd controller`'s flags that take a value, and those that do not.
const VALUE_FLAGS: &[&str] = &[
    "--namespace",
    "--db",
    "--listen",
    "--lease-name",
    "--lease-duration",
    "--lease-namespace",
    "--identity",
];
const BOOL_FLAGS: &[&str] = &["--no-leader-election"];

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// What a rendering should contain, given its values.
#[derive(Clone)]
struct Expect {
    release: &'static str,
    namespace: &'static str,
    watch_namespace: Option<&'static str>,
    leader_election: bool,
    /// The claim the database is on; None: an emptyDir.
    claim: Option<String>,
    /// Whether the chart creates that claim.
    creates_claim: bool,
    service_monitor: bool,
    service_account: Option<String>,
    creates_service_account: bool,
    /// Whether the chart creates roles and bindings (`rbac.create`).
    rbac: bool,
    /// How many controller pods.
    replicas: i32,
    /// The shared PostgreSQL URL (`--db`); None: a SQLite file on the volume.
    postgres: Option<&'static str>,
    /// The Secret and key the database password comes from, as PGPASSWORD.
    password_secret: Option<(&'static str, &'static str)>,
}

impl Expect {
    fn defaults() -> Expect {
        Expect {
            release: "canaryd",
            namespace: "canaryd-system",
            watch_namespace: None,
            leader_election: true,
            claim: Some("canaryd".into()),
            creates_claim: true,
            service_monitor: false,
            service_account: Some("canaryd".into()),
            creates_service_account: true,
            rbac: true,
            replicas: 1,
            postgres: None,
            password_secret: None,
        }
    }
}

fn render_objects(dir: &Path, e: &Expect, overrides: Value) -> Result<Vec<Value>, String> {
    let release = Release {
        name: e.release,
        namespace: e.namespace,
    };
    let mut objects = Vec::new();
    for file in render(dir, &release, overrides)? {
        if file.file == "NOTES.txt" {
            ensure!(
                file.text.contains(e.namespace),
                "NOTES.txt does not name the namespace:\n{}",
                file.text
            );
            continue;
        }
        let mut doc = String::new();
        let lines = file.text.lines().chain(std::iter::once("---"));
        for line in lines {
            if line.trim_end() != "---" {
                doc.push_str(line);
                doc.push('\n');
                continue;
            }
            let parsed: Value = serde_saphyr::from_str(&doc)
                .map_err(|err| format!("{}: not YAML: {err}\n{doc}", file.file))?;
            doc.clear();
            if parsed.is_null() {
                continue; // only comments and blank lines: helm skips it too
            }
            ensure!(
                parsed.is_object(),
                "{}: a document that is not an object: {parsed}",
                file.file
            );
            objects.push(parsed);
        }
    }
    Ok(objects)
}

/// `doc` as a `T`, and back, must be `doc`: serde drops fields a type does
/// not have, so any difference is a field the API server would not know.
fn typed<T: DeserializeOwned + Serialize>(doc: &Value) -> Result<T, String> {
    let t: T = serde_json::from_value(doc.clone())
        .map_err(|err| format!("{} {}: {err}", doc["kind"], doc["metadata"]["name"]))?;
    let back = serde_json::to_value(&t).map_err(|err| err.to_string())?;
    ensure!(
        back == *doc,
        "{} {} has fields its API type does not know (misspelt?):\nrendered: {doc}\nknown:    {back}",
        doc["kind"],
        doc["metadata"]["name"]
    );
    Ok(t)
}

/// The part of monitoring.coreos.com/v1 ServiceMonitor the chart writes,
/// from the Prometheus Operator's API reference; no k8s-openapi type exists.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServiceMonitor {
    api_version: String,
    kind: String,
    metadata: ObjectMeta,
    spec: ServiceMonitorSpec,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServiceMonitorSpec {
    selector: LabelSelector,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespace_selector: Option<NamespaceSelector>,
    endpoints: Vec<MonitorEndpoint>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NamespaceSelector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    any: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    match_names: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MonitorEndpoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    port: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scrape_timeout: Option<String>,
}

/// The rendered objects, each as its API type.
#[derive(Default)]
struct Typed {
    service_accounts: Vec<ServiceAccount>,
    cluster_roles: Vec<ClusterRole>,
    cluster_role_bindings: Vec<ClusterRoleBinding>,
    roles: Vec<Role>,
    role_bindings: Vec<RoleBinding>,
    deployments: Vec<Deployment>,
    services: Vec<Service>,
    claims: Vec<PersistentVolumeClaim>,
    service_monitors: Vec<ServiceMonitor>,
    budgets: Vec<PodDisruptionBudget>,
}

fn classify(objects: &[Value]) -> Result<Typed, String> {
    let mut t = Typed::default();
    for doc in objects {
        let api = (doc["apiVersion"].as_str(), doc["kind"].as_str());
        match api {
            (Some("v1"), Some("ServiceAccount")) => t.service_accounts.push(typed(doc)?),
            (Some("rbac.authorization.k8s.io/v1"), Some("ClusterRole")) => {
                t.cluster_roles.push(typed(doc)?)
            }
            (Some("rbac.authorization.k8s.io/v1"), Some("ClusterRoleBinding")) => {
                t.cluster_role_bindings.push(typed(doc)?)
            }
            (Some("rbac.authorization.k8s.io/v1"), Some("Role")) => t.roles.push(typed(doc)?),
            (Some("rbac.authorization.k8s.io/v1"), Some("RoleBinding")) => {
                t.role_bindings.push(typed(doc)?)
            }
            (Some("apps/v1"), Some("Deployment")) => t.deployments.push(typed(doc)?),
            (Some("v1"), Some("Service")) => t.services.push(typed(doc)?),
            (Some("v1"), Some("PersistentVolumeClaim")) => t.claims.push(typed(doc)?),
            (Some("policy/v1"), Some("PodDisruptionBudget")) => t.budgets.push(typed(doc)?),
            (Some("monitoring.coreos.com/v1"), Some("ServiceMonitor")) => {
                t.service_monitors.push(typed(doc)?)
            }
            other => return Err(format!("an object this test cannot validate: {other:?}")),
        }
    }
    Ok(t)
}

/// Every rendered object: named, labelled like the rest, in the right
/// namespace, with a name Kubernetes accepts.
fn check_metadata(objects: &[Value], e: &Expect) -> Result<(), String> {
    for doc in objects {
        let kind = doc["kind"].as_str().unwrap_or_default();
        let meta: ObjectMeta = serde_json::from_value(doc["metadata"].clone())
            .map_err(|err| format!("{kind}: metadata: {err}"))?;
        let name = meta.name.clone().unwrap_or_default();
        ensure!(!name.is_empty(), "{kind} without a name");
        ensure!(name.len() <= 63, "{kind} {name}: longer than 63 characters");
        let labels = meta.labels.clone().unwrap_or_default();
        for (key, value) in &labels {
            ensure!(
                value.len() <= 63,
                "{kind} {name}: label {key} longer than 63 characters"
            );
        }
        for (key, want) in [
            ("app.kubernetes.io/name", "canaryd"),
            ("app.kubernetes.io/instance", e.release),
            ("app.kubernetes.io/managed-by", "Helm"),
        ] {
            ensure!(
                labels.get(key).map(String::as_str) == Some(want),
                "{kind} {name}: label {key} is {:?}, not {want}",
                labels.get(key)
            );
        }
        let cluster_scoped = matches!(kind, "ClusterRole" | "ClusterRoleBinding");
        let in_watched = e.watch_namespace.is_some()
            && matches!(kind, "Role" | "RoleBinding")
            && !name.ends_with("-leader-election");
        let want_ns = if cluster_scoped {
            None
        } else if in_watched {
            e.watch_namespace
        } else {
            Some(e.namespace)
        };
        ensure!(
            meta.namespace.as_deref() == want_ns,
            "{kind} {name}: namespace {:?}, expected {want_ns:?}",
            meta.namespace
        );
    }
    Ok(())
}

type RuleSet = BTreeSet<(String, String, String)>;

fn expected(rules: &[(&str, &str, &[&str])]) -> RuleSet {
    let mut set = RuleSet::new();
    for (group, resource, verbs) in rules {
        for verb in *verbs {
            set.insert((group.to_string(), resource.to_string(), verb.to_string()));
        }
    }
    set
}

fn granted(
    name: &str,
    rules: &[k8s_openapi::api::rbac::v1::PolicyRule],
) -> Result<RuleSet, String> {
    let mut set = RuleSet::new();
    for rule in rules {
        ensure!(
            rule.non_resource_urls.is_none() && rule.resource_names.is_none(),
            "{name}: a rule with nonResourceURLs or resourceNames: {rule:?}"
        );
        let groups = rule.api_groups.clone().unwrap_or_default();
        let resources = rule.resources.clone().unwrap_or_default();
        ensure!(
            !groups.is_empty() && !resources.is_empty() && !rule.verbs.is_empty(),
            "{name}: a rule missing groups, resources or verbs: {rule:?}"
        );
        for g in &groups {
            for r in &resources {
                for v in &rule.verbs {
                    ensure!(
                        !g.contains('*') && !r.contains('*') && !v.contains('*'),
                        "{name}: wildcard in {g:?}/{r:?}/{v:?}"
                    );
                    set.insert((g.clone(), r.clone(), v.clone()));
                }
            }
        }
    }
    Ok(set)
}

fn diff(what: &str, got: &RuleSet, want: &RuleSet) -> Result<(), String> {
    let extra: Vec<_> = got.difference(want).collect();
    let missing: Vec<_> = want.difference(got).collect();
    ensure!(
        extra.is_empty() && missing.is_empty(),
        "{what}: RBAC verbs differ from the ones the controller uses: extra {extra:?}, missing {missing:?}"
    );
    Ok(())
}

/// RBAC: exactly the listed verbs, in a ClusterRole or (watchNamespace) a
/// Role there; the Lease's verbs in a Role of the release namespace; every
/// binding points at its role and at the pod's ServiceAccount.
fn check_rbac(t: &Typed, e: &Expect, sa: &str) -> Result<(), String> {
    let subject_ok = |subjects: &Option<Vec<k8s_openapi::api::rbac::v1::Subject>>| {
        matches!(subjects.as_deref(), Some([s]) if s.kind == "ServiceAccount"
            && s.name == sa && s.namespace.as_deref() == Some(e.namespace))
    };
    if !e.rbac {
        let objects = t.roles.len()
            + t.role_bindings.len()
            + t.cluster_roles.len()
            + t.cluster_role_bindings.len();
        ensure!(objects == 0, "rbac.create=false but {objects} RBAC objects");
        return Ok(());
    }
    let watched = expected(WATCHED_RULES);
    let (watched_role, lease_role): (Vec<&Role>, Vec<&Role>) = t.roles.iter().partition(|r| {
        !r.metadata
            .name
            .as_deref()
            .unwrap_or_default()
            .ends_with("-leader-election")
    });
    match e.watch_namespace {
        None => {
            ensure!(
                t.cluster_roles.len() == 1
                    && t.cluster_role_bindings.len() == 1
                    && watched_role.is_empty(),
                "watching every namespace takes one ClusterRole and its binding, no Role: {} {} {}",
                t.cluster_roles.len(),
                t.cluster_role_bindings.len(),
                watched_role.len()
            );
            let role = &t.cluster_roles[0];
            let name = role.metadata.name.clone().unwrap_or_default();
            diff(
                &name,
                &granted(&name, role.rules.as_deref().unwrap_or_default())?,
                &watched,
            )?;
            let binding = &t.cluster_role_bindings[0];
            ensure!(
                binding.role_ref.kind == "ClusterRole" && binding.role_ref.name == name,
                "ClusterRoleBinding points at {:?}",
                binding.role_ref
            );
            ensure!(
                subject_ok(&binding.subjects),
                "ClusterRoleBinding subjects {:?}",
                binding.subjects
            );
        }
        Some(ns) => {
            ensure!(
                t.cluster_roles.is_empty() && t.cluster_role_bindings.is_empty(),
                "watchNamespace={ns} must not create cluster-wide RBAC"
            );
            ensure!(watched_role.len() == 1, "expected one Role in {ns}");
            let role = watched_role[0];
            let name = role.metadata.name.clone().unwrap_or_default();
            diff(
                &name,
                &granted(&name, role.rules.as_deref().unwrap_or_default())?,
                &watched,
            )?;
            let bindings: Vec<_> = t
                .role_bindings
                .iter()
                .filter(|b| b.role_ref.name == name && b.metadata.namespace.as_deref() == Some(ns))
                .collect();
            ensure!(
                bindings.len() == 1 && bindings[0].role_ref.kind == "Role",
                "the Role {name} needs one RoleBinding in {ns}"
            );
            ensure!(
                subject_ok(&bindings[0].subjects),
                "RoleBinding subjects {:?}",
                bindings[0].subjects
            );
        }
    }
    if e.leader_election {
        ensure!(
            lease_role.len() == 1,
            "leader election needs one Role for the Lease"
        );
        let role = lease_role[0];
        let name = role.metadata.name.clone().unwrap_or_default();
        ensure!(
            role.metadata.namespace.as_deref() == Some(e.namespace),
            "the Lease Role must be in the release namespace"
        );
        diff(
            &name,
            &granted(&name, role.rules.as_deref().unwrap_or_default())?,
            &expected(LEASE_RULES),
        )?;
        let bindings: Vec<_> = t
            .role_bindings
            .iter()
            .filter(|b| b.role_ref.name == name)
            .collect();
        ensure!(
            bindings.len() == 1
                && bindings[0].role_ref.kind == "Role"
                && subject_ok(&bindings[0].subjects),
            "the Lease Role needs one RoleBinding to the ServiceAccount"
        );
    } else {
        ensure!(
            lease_role.is_empty(),
            "no Lease Role without leader election"
        );
    }
    let roles = t.roles.len() + t.cluster_roles.len();
    let bindings = t.role_bindings.len() + t.cluster_role_bindings.len();
    ensure!(roles == bindings, "{roles} roles but {bindings} bindings");
    Ok(())
}

/// `canaryd controller`'s arguments as flag → value; fails on anything the
/// contract does not define, a missing value, or a flag given twice.
fn parse_args(args: &[String]) -> Result<BTreeMap<String, Option<String>>, String> {
    ensure!(
        args.first().map(String::as_str) == Some("controller"),
        "the first argument must be the subcommand `controller`: {args:?}"
    );
    let mut flags = BTreeMap::new();
    let mut rest = args[1..].iter();
    while let Some(arg) = rest.next() {
        let (flag, value) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let value = if VALUE_FLAGS.contains(&flag.as_str()) {
            let v = match value {
                Some(v) => v,
                None => rest
                    .next()
                    .cloned()
                    .ok_or(format!("{flag} without a value"))?,
            };
            ensure!(!v.is_empty(), "{flag} with an empty value");
            Some(v)
        } else if BOOL_FLAGS.contains(&flag.as_str()) {
            ensure!(value.is_none(), "{flag} takes no value");
            None
        } else {
            return Err(format!("`canaryd controller` has no argument {arg:?}"));
        };
        ensure!(
            flags.insert(flag.clone(), value).is_none(),
            "{flag} given twice"
        );
    }
    Ok(flags)
}

fn container_port(c: &Container, port: &IntOrString) -> Option<i32> {
    let ports = c.ports.as_deref().unwrap_or_default();
    match port {
        IntOrString::Int(n) => ports
            .iter()
            .find(|p| p.container_port == *n)
            .map(|p| p.container_port),
        IntOrString::String(name) => ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.container_port),
    }
}

fn check_deployment(t: &Typed, e: &Expect, sa: &str) -> Result<(), String> {
    ensure!(
        t.deployments.len() == 1,
        "expected one Deployment, got {}",
        t.deployments.len()
    );
    let d = &t.deployments[0];
    let spec = d.spec.as_ref().ok_or("Deployment without spec")?;
    ensure!(
        spec.replicas == Some(e.replicas),
        "replicas {:?}, expected {}",
        spec.replicas,
        e.replicas
    );
    check_strategy(spec, e)?;
    let selector = spec.selector.match_labels.clone().unwrap_or_default();
    ensure!(!selector.is_empty(), "an empty selector selects everything");
    let pod_meta = spec.template.metadata.clone().unwrap_or_default();
    let pod_labels = pod_meta.labels.unwrap_or_default();
    for (k, v) in &selector {
        ensure!(
            pod_labels.get(k) == Some(v),
            "the selector's {k}={v} is not on the pod template ({pod_labels:?})"
        );
    }
    let pod = spec
        .template
        .spec
        .as_ref()
        .ok_or("pod template without spec")?;
    ensure!(
        pod.service_account_name.as_deref() == Some(sa),
        "the pod runs as {:?}, not {sa}",
        pod.service_account_name
    );
    ensure!(pod.containers.len() == 1, "one container expected");
    let c = &pod.containers[0];

    // Arguments: only the contract's flags, consistent with the values.
    let flags = parse_args(c.args.as_deref().unwrap_or_default())?;
    ensure!(
        c.command.is_none(),
        "the image's ENTRYPOINT is canaryd; no command override"
    );
    let listen = flags
        .get("--listen")
        .cloned()
        .flatten()
        .ok_or("no --listen")?;
    let listen_port: i32 = listen
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .ok_or(format!("--listen {listen} has no port"))?;
    let http = container_port(c, &IntOrString::String("http".into()))
        .ok_or("no container port named http")?;
    ensure!(
        http == listen_port,
        "--listen port {listen_port} is not the container port {http}"
    );
    ensure!(
        flags.get("--namespace").cloned().flatten().as_deref() == e.watch_namespace,
        "--namespace {:?}, watchNamespace {:?}",
        flags.get("--namespace"),
        e.watch_namespace
    );
    ensure!(
        flags.contains_key("--no-leader-election") != e.leader_election
            && flags.contains_key("--lease-name") == e.leader_election
            && flags.contains_key("--lease-duration") == e.leader_election,
        "leader election {} but flags {flags:?}",
        e.leader_election
    );
    let db = flags.get("--db").cloned().flatten().ok_or("no --db")?;
    let mounts = c.volume_mounts.as_deref().unwrap_or_default();
    let env = c.env.as_deref().unwrap_or_default();
    check_password(env, e)?;
    if let Some(url) = e.postgres {
        ensure!(db == url, "--db {db}, expected the PostgreSQL URL {url}");
        ensure!(
            !pod.volumes
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|v| v.persistent_volume_claim.is_some())
                && !mounts.iter().any(|m| m.mount_path == "/var/lib/canaryd"),
            "with PostgreSQL no database volume is mounted"
        );
    } else {
        // The database is on the data volume: a claim, or an emptyDir.
        let mount = mounts
            .iter()
            .find(|m| Path::new(&db).parent() == Some(Path::new(&m.mount_path)))
            .ok_or(format!("--db {db} is not on a mounted volume"))?;
        ensure!(
            mount.read_only != Some(true),
            "the database volume is mounted read-only"
        );
        let volumes = pod.volumes.as_deref().unwrap_or_default();
        let volume = volumes
            .iter()
            .find(|v| v.name == mount.name)
            .ok_or(format!("no volume {}", mount.name))?;
        match &e.claim {
            Some(claim) => {
                let pvc = volume.persistent_volume_claim.as_ref().ok_or(format!(
                    "persistence is on but the database volume is {volume:?}"
                ))?;
                ensure!(
                    &pvc.claim_name == claim,
                    "claim {} instead of {claim}",
                    pvc.claim_name
                );
            }
            None => ensure!(
                volume.empty_dir.is_some(),
                "persistence is off but the database volume is {volume:?}"
            ),
        }
    }
    ensure!(
        mounts.iter().any(|m| m.mount_path == "/tmp"),
        "a read-only root filesystem needs a writable /tmp"
    );

    // The downward API gives --identity and --lease-namespace their defaults.
    for (name, field) in [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
    ] {
        let from = env
            .iter()
            .find(|v| v.name == name)
            .and_then(|v| v.value_from.as_ref())
            .and_then(|f| f.field_ref.as_ref())
            .map(|f| f.field_path.as_str());
        ensure!(
            from == Some(field),
            "{name} must come from {field}, not {from:?}"
        );
    }

    // Probes on the contract's paths, on the port the controller listens on.
    for (what, probe, path) in [
        ("liveness", &c.liveness_probe, "/healthz"),
        ("readiness", &c.readiness_probe, "/readyz"),
    ] {
        let get = probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .ok_or(format!("no {what} httpGet probe"))?;
        ensure!(
            get.path.as_deref() == Some(path),
            "{what} probe on {:?}, not {path}",
            get.path
        );
        ensure!(
            container_port(c, &get.port) == Some(listen_port),
            "{what} probe on port {:?}, not the listener {listen_port}",
            get.port
        );
    }

    // Hardened: non-root, read-only root, no privilege, no capabilities,
    // the runtime's seccomp profile.
    let psc = pod.security_context.clone().unwrap_or_default();
    let csc = c.security_context.clone().unwrap_or_default();
    ensure!(
        csc.run_as_non_root.or(psc.run_as_non_root) == Some(true),
        "runAsNonRoot is not set"
    );
    ensure!(
        csc.run_as_user.or(psc.run_as_user).is_some_and(|u| u != 0),
        "no non-zero runAsUser"
    );
    ensure!(
        csc.read_only_root_filesystem == Some(true),
        "the root filesystem is writable"
    );
    ensure!(
        csc.allow_privilege_escalation == Some(false),
        "privilege escalation is allowed"
    );
    ensure!(csc.privileged != Some(true), "the container is privileged");
    let caps = csc.capabilities.clone().unwrap_or_default();
    ensure!(
        caps.drop.as_deref() == Some(&["ALL".to_string()][..]),
        "capabilities.drop is {:?}, not [ALL]",
        caps.drop
    );
    ensure!(
        caps.add.unwrap_or_default().is_empty(),
        "capabilities are added"
    );
    let seccomp = csc.seccomp_profile.or(psc.seccomp_profile).map(|s| s.type_);
    ensure!(
        seccomp.as_deref() == Some("RuntimeDefault"),
        "seccomp profile {seccomp:?}, not RuntimeDefault"
    );

    let res = c.resources.clone().unwrap_or_default();
    for (what, m) in [("requests", res.requests), ("limits", res.limits)] {
        let m = m.unwrap_or_default();
        ensure!(
            m.contains_key("cpu") && m.contains_key("memory"),
            "resources.{what} must set cpu and memory: {m:?}"
        );
    }
    Ok(())
}

/// The Service selects the controller's pod and exposes its listener; the
/// ServiceMonitor (only when enabled) scrapes that Service's /metrics.
fn check_service(t: &Typed, e: &Expect) -> Result<(), String> {
    ensure!(t.services.len() == 1, "expected one Service");
    let svc = &t.services[0];
    let spec = svc.spec.as_ref().ok_or("Service without spec")?;
    let d = &t.deployments[0];
    let dspec = d.spec.as_ref().ok_or("Deployment without spec")?;
    ensure!(
        spec.selector == dspec.selector.match_labels,
        "the Service selects {:?}, the Deployment's pods are {:?}",
        spec.selector,
        dspec.selector.match_labels
    );
    let c = &dspec
        .template
        .spec
        .as_ref()
        .ok_or("no pod spec")?
        .containers[0];
    let ports = spec.ports.as_deref().unwrap_or_default();
    ensure!(ports.len() == 1, "one Service port expected");
    let port = &ports[0];
    let target = port
        .target_port
        .clone()
        .unwrap_or(IntOrString::Int(port.port));
    let http = container_port(c, &IntOrString::String("http".into()));
    ensure!(
        container_port(c, &target).is_some() && container_port(c, &target) == http,
        "the Service's targetPort {target:?} is not the controller's listener"
    );

    ensure!(
        t.service_monitors.len() == usize::from(e.service_monitor),
        "serviceMonitor.enabled={} but {} ServiceMonitor(s)",
        e.service_monitor,
        t.service_monitors.len()
    );
    if let Some(sm) = t.service_monitors.first() {
        ensure!(
            sm.kind == "ServiceMonitor" && sm.api_version == "monitoring.coreos.com/v1",
            "ServiceMonitor type"
        );
        let svc_labels = svc.metadata.labels.clone().unwrap_or_default();
        let wanted = sm.spec.selector.match_labels.clone().unwrap_or_default();
        ensure!(
            !wanted.is_empty(),
            "the ServiceMonitor selects every Service"
        );
        for (k, v) in &wanted {
            ensure!(
                svc_labels.get(k) == Some(v),
                "the ServiceMonitor wants {k}={v}, the Service has {svc_labels:?}"
            );
        }
        let names = sm
            .spec
            .namespace_selector
            .as_ref()
            .and_then(|n| n.match_names.clone());
        ensure!(
            names.is_some_and(|n| n
                .iter()
                .any(|n| Some(n.as_str()) == svc.metadata.namespace.as_deref())),
            "the ServiceMonitor does not look in the Service's namespace"
        );
        ensure!(sm.spec.endpoints.len() == 1, "one endpoint expected");
        let ep = &sm.spec.endpoints[0];
        ensure!(
            ep.port.as_deref() == port.name.as_deref(),
            "scrapes port {:?}, the Service's is {:?}",
            ep.port,
            port.name
        );
        ensure!(
            ep.path.as_deref() == Some("/metrics"),
            "scrapes {:?}, not /metrics",
            ep.path
        );
    }
    Ok(())
}

fn check_optional(t: &Typed, e: &Expect, sa: &str) -> Result<(), String> {
    let claims: Vec<_> = t
        .claims
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    let want: Vec<String> = if e.creates_claim {
        e.claim.iter().cloned().collect()
    } else {
        vec![]
    };
    ensure!(
        claims == want,
        "PersistentVolumeClaims {claims:?}, expected {want:?}"
    );
    let sas: Vec<_> = t
        .service_accounts
        .iter()
        .filter_map(|s| s.metadata.name.clone())
        .collect();
    let want: Vec<String> = if e.creates_service_account {
        vec![sa.to_string()]
    } else {
        vec![]
    };
    ensure!(sas == want, "ServiceAccounts {sas:?}, expected {want:?}");
    Ok(())
}

/// Recreate for a SQLite file (two pods must never open it); with a shared
/// PostgreSQL a surge-only rolling update, so an upgrade never leaves no pod
/// to take the Lease.
fn check_strategy(
    spec: &k8s_openapi::api::apps::v1::DeploymentSpec,
    e: &Expect,
) -> Result<(), String> {
    let strategy = spec.strategy.clone().unwrap_or_default();
    if e.postgres.is_none() {
        ensure!(
            strategy.type_.as_deref() == Some("Recreate"),
            "the strategy must be Recreate: two pods must never open the SQLite file"
        );
        return Ok(());
    }
    let rolling = strategy.rolling_update.clone().unwrap_or_default();
    ensure!(
        strategy.type_.as_deref() == Some("RollingUpdate")
            && rolling.max_unavailable == Some(IntOrString::Int(0))
            && rolling.max_surge == Some(IntOrString::Int(1)),
        "with PostgreSQL the strategy must be a surge-only RollingUpdate: {strategy:?}"
    );
    Ok(())
}

/// The password comes from the Secret as PGPASSWORD, and only then.
fn check_password(env: &[k8s_openapi::api::core::v1::EnvVar], e: &Expect) -> Result<(), String> {
    let from = env.iter().find(|v| v.name == "PGPASSWORD");
    match (e.password_secret, from) {
        (None, None) => Ok(()),
        (None, Some(v)) => Err(format!("PGPASSWORD set without a password Secret: {v:?}")),
        (Some((name, key)), from) => {
            let secret = from
                .filter(|v| v.value.is_none())
                .and_then(|v| v.value_from.as_ref())
                .and_then(|f| f.secret_key_ref.as_ref())
                .ok_or(format!(
                    "PGPASSWORD must come from Secret {name} key {key}: {from:?}"
                ))?;
            ensure!(
                secret.name == name && secret.key == key,
                "PGPASSWORD from {}/{}, expected {name}/{key}",
                secret.name,
                secret.key
            );
            Ok(())
        }
    }
}

/// A PodDisruptionBudget keeping one pod exactly when there are several.
fn check_budget(t: &Typed, e: &Expect) -> Result<(), String> {
    if e.replicas <= 1 {
        ensure!(
            t.budgets.is_empty(),
            "a PodDisruptionBudget for one replica"
        );
        return Ok(());
    }
    ensure!(
        t.budgets.len() == 1,
        "expected one PodDisruptionBudget, got {}",
        t.budgets.len()
    );
    let spec = t.budgets[0].spec.clone().unwrap_or_default();
    ensure!(
        spec.min_available == Some(IntOrString::Int(1)) && spec.max_unavailable.is_none(),
        "the budget must keep one pod: {spec:?}"
    );
    let want = t.deployments[0]
        .spec
        .as_ref()
        .map(|s| s.selector.match_labels.clone())
        .unwrap_or_default();
    let got = spec.selector.and_then(|s| s.match_labels);
    ensure!(
        got.is_some() && got == want,
        "the budget selects {got:?}, the Deployment {want:?}"
    );
    Ok(())
}

/// Every check, on the chart in `dir` rendered with `overrides`.
fn check_chart(dir: &Path, e: &Expect, overrides: Value) -> Result<(), String> {
    let objects = render_objects(dir, e, overrides)?;
    let t = classify(&objects)?;
    check_metadata(&objects, e)?;
    let sa = e
        .service_account
        .clone()
        .ok_or("no ServiceAccount name expected")?;
    check_rbac(&t, e, &sa)?;
    check_deployment(&t, e, &sa)?;
    check_service(&t, e)?;
    check_optional(&t, e, &sa)?;
    check_budget(&t, e)?;
    Ok(())
}

fn check(e: &Expect, overrides: Value) {
    if let Err(err) = check_chart(&chart_dir(), e, overrides) {
        panic!("{err}");
    }
}

#[test]
fn defaults_render_a_valid_least_privilege_controller() {
    check(&Expect::defaults(), json!({}));
}

#[test]
fn a_release_name_without_the_chart_name_gets_it_appended() {
    let e = Expect {
        release: "prod",
        claim: Some("prod-canaryd".into()),
        service_account: Some("prod-canaryd".into()),
        ..Expect::defaults()
    };
    check(
        &e,
        json!({
            "persistence": {"storageClass": "fast-ssd", "size": "5Gi"},
            "serviceAccount": {"annotations": {"example.com/role": "canaryd"}},
            "resources": {"limits": {"memory": "512Mi"}},
        }),
    );
}

#[test]
fn one_watched_namespace_takes_a_role_there_and_no_cluster_rbac() {
    let e = Expect {
        release: "shop-canaryd",
        namespace: "ops",
        watch_namespace: Some("shop"),
        leader_election: false,
        claim: None,
        creates_claim: false,
        service_monitor: true,
        service_account: Some("shop-canaryd".into()),
        ..Expect::defaults()
    };
    check(
        &e,
        json!({
            "watchNamespace": "shop",
            "leaderElection": {"enabled": false},
            "persistence": {"enabled": false},
            "serviceMonitor": {"enabled": true, "labels": {"release": "prometheus"}},
            "podLabels": {"team": "payments"},
            "podAnnotations": {"example.com/owner": "payments"},
        }),
    );
}

#[test]
fn an_existing_claim_and_service_account_are_used_not_created() {
    let e = Expect {
        claim: Some("canaryd-data".into()),
        creates_claim: false,
        service_account: Some("platform-canaryd".into()),
        creates_service_account: false,
        rbac: false,
        ..Expect::defaults()
    };
    check(
        &e,
        json!({
            "persistence": {"existingClaim": "canaryd-data"},
            "serviceAccount": {"create": false, "name": "platform-canaryd"},
            "rbac": {"create": false},
            "imagePullSecrets": [{"name": "regcred"}],
            "image": {"repository": "registry.example/canaryd", "tag": "0.2.0"},
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
        }),
    );
}

#[test]
fn a_long_release_name_still_gives_valid_object_names() {
    // Helm's longest release name: 53 characters.
    let release = "a-release-name-as-long-as-helm-allows-for-a-release-x";
    assert_eq!(release.len(), 53);
    let full = format!("{release}-canaryd");
    let e = Expect {
        release,
        claim: Some(full.clone()),
        service_account: Some(full),
        ..Expect::defaults()
    };
    check(&e, json!({}));
}

fn refused(overrides: Value) -> String {
    let release = Release {
        name: "canaryd",
        namespace: "canaryd-system",
    };
    match render(&chart_dir(), &release, overrides.clone()) {
        Ok(_) => panic!("{overrides} rendered"),
        Err(err) => err,
    }
}

#[test]
fn more_than_one_replica_on_sqlite_is_refused() {
    let err = refused(json!({"replicaCount": 2}));
    assert!(
        err.contains("replicaCount above 1 needs database.postgresUrl"),
        "{err}"
    );
    let release = Release {
        name: "canaryd",
        namespace: "canaryd-system",
    };
    assert!(render(&chart_dir(), &release, json!({"replicaCount": 0})).is_ok());
}

const PG_URL: &str = "postgres://canaryd@db.example:5432/canaryd";

/// What a rendering on the shared PostgreSQL must contain: no claim.
fn on_postgres(replicas: i32, password_secret: Option<(&'static str, &'static str)>) -> Expect {
    Expect {
        replicas,
        postgres: Some(PG_URL),
        password_secret,
        claim: None,
        creates_claim: false,
        ..Expect::defaults()
    }
}

#[test]
fn postgres_runs_several_replicas_sharing_the_database() {
    let e = on_postgres(3, Some(("canaryd-db", "pg-password")));
    check(
        &e,
        json!({
            "replicaCount": 3,
            "database": {"postgresUrl": PG_URL, "passwordSecret": {"name": "canaryd-db", "key": "pg-password"}},
        }),
    );
}

#[test]
fn one_postgres_replica_without_a_password_secret_is_valid() {
    let e = on_postgres(1, None);
    check(&e, json!({"database": {"postgresUrl": PG_URL}}));
}

#[test]
fn replicas_without_leader_election_are_refused() {
    let err = refused(json!({
        "replicaCount": 2,
        "leaderElection": {"enabled": false},
        "database": {"postgresUrl": PG_URL},
    }));
    assert!(err.contains("needs leaderElection.enabled"), "{err}");
}

#[test]
fn a_database_url_that_is_not_postgres_is_refused() {
    let err = refused(json!({"database": {"postgresUrl": "mysql://db/canaryd"}}));
    assert!(err.contains("must start with postgres://"), "{err}");
}

#[test]
fn a_value_the_templates_read_but_values_yaml_lacks_fails_rendering() {
    let release = Release {
        name: "canaryd",
        namespace: "canaryd-system",
    };
    // null deletes the key, as `--set service=null` does in Helm.
    assert!(render(&chart_dir(), &release, json!({"service": null})).is_err());
}

#[test]
fn the_crd_shipped_in_the_chart_is_the_generated_one() {
    let path = chart_dir().join("crds/canaries.canaryd.io.yaml");
    let shipped = std::fs::read_to_string(&path).unwrap();
    let generated = canaryd_kube::crd::crd_yaml().unwrap();
    assert!(
        shipped == generated,
        "{} differs from the Canary CRD generated from crates/kube/src/crd.rs; regenerate it:\n  \
         cargo run -q -p canaryd -- crd > deploy/helm/canaryd/crds/canaries.canaryd.io.yaml",
        path.display()
    );
}

fn leaves(prefix: &str, v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                leaves(&format!("{prefix}.{k}"), v, out);
            }
        }
        _ => out.push(prefix.trim_start_matches('.').to_string()),
    }
}

/// Every value in values.yaml is read by a template and has a row in the
/// chart README's table (itself or a parent passed whole to toYaml).
#[test]
fn every_value_is_used_and_documented() {
    let dir = chart_dir();
    let values = read_yaml(&dir.join("values.yaml")).unwrap();
    let mut paths = Vec::new();
    leaves("", &values, &mut paths);
    let mut templates = String::new();
    for entry in std::fs::read_dir(dir.join("templates")).unwrap() {
        templates.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    for path in &paths {
        let parts: Vec<&str> = path.split('.').collect();
        let read = (1..=parts.len()).any(|n| {
            let reference = format!(".Values.{}", parts[..n].join("."));
            templates.match_indices(&reference).any(|(i, _)| {
                let next = templates[i + reference.len()..].chars().next();
                !matches!(next, Some(c) if c.is_alphanumeric())
            })
        });
        assert!(read, "values.yaml has {path}, which no template reads");
        let documented =
            (1..=parts.len()).any(|n| readme.contains(&format!("| `{}` |", parts[..n].join("."))));
        assert!(
            documented,
            "{path} (or a parent) is not in the values table of deploy/helm/canaryd/README.md"
        );
    }
}

// ---- Each check can fail: break a copy of the chart, expect that check's error.

fn mutated(file: &str, from: &str, to: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let src = chart_dir();
    std::fs::create_dir(tmp.path().join("templates")).unwrap();
    for name in ["Chart.yaml", "values.yaml"] {
        std::fs::copy(src.join(name), tmp.path().join(name)).unwrap();
    }
    for entry in std::fs::read_dir(src.join("templates")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            tmp.path().join("templates").join(entry.file_name()),
        )
        .unwrap();
    }
    let path = tmp.path().join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains(from),
        "{file} no longer contains {from:?}: update the mutation"
    );
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    tmp
}

fn expect_failure(file: &str, from: &str, to: &str, e: &Expect, overrides: Value, message: &str) {
    let tmp = mutated(file, from, to);
    match check_chart(tmp.path(), e, overrides) {
        Ok(()) => panic!("{file}: {from:?} -> {to:?} passed every check"),
        Err(err) => assert!(
            err.contains(message),
            "{file}: {from:?} -> {to:?} failed for another reason: {err}"
        ),
    }
}

#[test]
fn mutation_an_extra_verb_fails_the_rbac_check() {
    let e = Expect::defaults();
    expect_failure(
        "templates/rbac.yaml",
        r#"verbs: ["get", "list", "watch", "patch"]"#,
        r#"verbs: ["get", "list", "watch", "patch", "update"]"#,
        &e,
        json!({}),
        r#"extra [("apps", "deployments", "update")]"#,
    );
    expect_failure(
        "templates/rbac.yaml",
        r#"verbs: ["list"]"#,
        r#"verbs: ["*"]"#,
        &e,
        json!({}),
        "wildcard",
    );
    expect_failure(
        "templates/rbac.yaml",
        r#"verbs: ["create"]"#,
        r#"verbs: ["create", "patch"]"#,
        &e,
        json!({}),
        r#"extra [("events.k8s.io", "events", "patch")]"#,
    );
    expect_failure(
        "templates/rbac.yaml",
        r#"verbs: ["get", "create", "update"]"#,
        r#"verbs: ["get", "create", "update", "delete"]"#,
        &e,
        json!({}),
        "extra [(\"coordination.k8s.io\"",
    );
}

#[test]
fn mutation_wrong_probe_paths_and_ports_fail() {
    let e = Expect::defaults();
    expect_failure(
        "templates/deployment.yaml",
        "path: /readyz",
        "path: /ready",
        &e,
        json!({}),
        "readiness probe on",
    );
    expect_failure(
        "templates/deployment.yaml",
        "path: /healthz\n              port: http",
        "path: /healthz\n              port: 9090",
        &e,
        json!({}),
        "liveness probe on port",
    );
}

#[test]
fn mutation_a_softened_security_context_fails() {
    let e = Expect::defaults();
    expect_failure(
        "values.yaml",
        "readOnlyRootFilesystem: true",
        "readOnlyRootFilesystem: false",
        &e,
        json!({}),
        "root filesystem is writable",
    );
    expect_failure(
        "values.yaml",
        "      - ALL",
        "      - NET_RAW",
        &e,
        json!({}),
        "capabilities.drop",
    );
    expect_failure(
        "values.yaml",
        "type: RuntimeDefault",
        "type: Unconfined",
        &e,
        json!({}),
        "seccomp",
    );
    expect_failure(
        "values.yaml",
        "runAsUser: 65532",
        "runAsUser: 0",
        &e,
        json!({}),
        "runAsUser",
    );
}

#[test]
fn mutation_a_flag_outside_the_contract_fails() {
    let e = Expect::defaults();
    expect_failure(
        "templates/deployment.yaml",
        "--db=/var/lib",
        "--database=/var/lib",
        &e,
        json!({}),
        "no argument \"--database=",
    );
    let no_leader = Expect {
        leader_election: false,
        ..Expect::defaults()
    };
    expect_failure(
        "templates/deployment.yaml",
        "- --no-leader-election",
        "- --no-leader-election=true",
        &no_leader,
        json!({"leaderElection": {"enabled": false}}),
        "takes no value",
    );
}

#[test]
fn mutation_a_misspelt_field_fails_the_type_check() {
    let e = Expect::defaults();
    expect_failure(
        "templates/deployment.yaml",
        "containerPort: {{",
        "containerport: {{",
        &e,
        json!({}),
        "fields its API type does not know",
    );
    expect_failure(
        "templates/service.yaml",
        "targetPort: http",
        "targetPort: http\n      nodeport: 30000",
        &e,
        json!({}),
        "fields its API type does not know",
    );
}

#[test]
fn mutation_mismatched_selectors_fail() {
    let e = Expect::defaults();
    expect_failure(
        "templates/service.yaml",
        "{{- include \"canaryd.selectorLabels\" . | nindent 4 }}",
        "app: canaryd",
        &e,
        json!({}),
        "the Service selects",
    );
    let monitored = Expect {
        service_monitor: true,
        ..Expect::defaults()
    };
    expect_failure(
        "templates/servicemonitor.yaml",
        "- port: http",
        "- port: metrics",
        &monitored,
        json!({"serviceMonitor": {"enabled": true}}),
        "scrapes port",
    );
}

#[test]
fn mutation_an_unconditional_service_monitor_fails() {
    expect_failure(
        "templates/servicemonitor.yaml",
        "{{- if .Values.serviceMonitor.enabled }}",
        "{{- if true }}",
        &Expect::defaults(),
        json!({}),
        "serviceMonitor.enabled=false but 1 ServiceMonitor",
    );
}

#[test]
fn mutation_persistence_ignored_fails() {
    expect_failure(
        "templates/deployment.yaml",
        "{{- if .Values.persistence.enabled }}\n          persistentVolumeClaim",
        "{{- if true }}\n          persistentVolumeClaim",
        &Expect {
            claim: None,
            creates_claim: false,
            ..Expect::defaults()
        },
        json!({"persistence": {"enabled": false}}),
        "persistence is off",
    );
}

#[test]
fn renderer_rejects_functions_outside_the_subset() {
    let tmp = mutated(
        "templates/service.yaml",
        "type: {{ .Values.service.type }}",
        "type: {{ .Values.service.type | upper }}",
    );
    let release = Release {
        name: "canaryd",
        namespace: "canaryd-system",
    };
    let err = match render(tmp.path(), &release, json!({})) {
        Ok(_) => panic!("a Sprig function outside the subset rendered"),
        Err(err) => err,
    };
    assert!(err.contains("service.yaml"), "{err}");
}

/// The image and the chart agree: the chart's non-root user is the image's
/// USER, the image runs canaryd, and it is built from the lockfile.
#[test]
fn the_containerfile_matches_the_chart() {
    let root = chart_dir().join("../../..");
    let file = std::fs::read_to_string(root.join("deploy/Containerfile")).unwrap();
    let lines: Vec<&str> = file
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("FROM ")).count(),
        2,
        "a build stage and a runtime stage"
    );
    assert!(file.contains("cargo build --release --locked -p canaryd"));
    assert!(lines.contains(&r#"ENTRYPOINT ["/usr/local/bin/canaryd"]"#));
    let values = read_yaml(&chart_dir().join("values.yaml")).unwrap();
    let psc = &values["podSecurityContext"];
    let user = format!("USER {}:{}", psc["runAsUser"], psc["runAsGroup"]);
    assert!(
        lines.contains(&user.as_str()),
        "the image's USER is not the chart's {user}"
    );
    let version = |v: &str| -> Vec<u32> { v.split('.').filter_map(|p| p.parse().ok()).collect() };
    let image = lines
        .iter()
        .find_map(|l| l.strip_prefix("FROM rust:"))
        .and_then(|l| l.split('-').next())
        .expect("the build stage is a rust image");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let msrv = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"'))
        .unwrap();
    assert!(
        version(image) >= version(msrv),
        "rust:{image} is older than the workspace's rust-version {msrv}"
    );
}

/// The renderer prints what Helm prints for the constructs the chart uses
/// (expected outputs as Helm 3 gives them), so a pass here means something
/// for `helm install`.
#[test]
fn renderer_agrees_with_helm_on_the_subset() {
    let values = json!({
        "empty": {}, "name": "canaryd", "n": 2, "list": ["a", "b"],
        "obj": {"b": 1, "a": ["x"], "c": {"d": "50m"}},
    });
    let helpers = r#"{{- define "t" -}}<{{ .Values.name }}>{{- end -}}"#;
    for (text, want) in [
        (r#"{{ "abcdef" | trunc 3 }}"#, "abc"),
        (r#"{{ "name-" | trimSuffix "-" }}"#, "name"),
        (
            r#"{{ default "d" "" }}|{{ default "d" .Values.empty }}|{{ .Values.name | default "d" }}"#,
            "d|d|canaryd",
        ),
        (
            r#"{{ quote "a\"b" }}|{{ .Values.n | quote }}"#,
            r#""a\"b"|"2""#,
        ),
        ("a:{{ \"x\\ny\" | nindent 2 }}", "a:\n  x\n  y"),
        ("{{ \"x\\ny\" | indent 2 }}", "  x\n  y"),
        (
            r#"{{ contains "nary" .Values.name }}|{{ contains "x" .Values.name }}"#,
            "true|false",
        ),
        (r#"{{ replace "+" "_" "1.0+b" }}"#, "1.0_b"),
        (
            r#"{{ .Values.n }}|{{ int .Values.n }}|{{ gt (int .Values.n) 1 }}"#,
            "2|2|true",
        ),
        (r#"{{ printf "%s-%s" .Values.name "x" }}"#, "canaryd-x"),
        (
            r#"{{ range $i, $v := .Values.list }}{{ $i }}={{ $v }};{{ end }}"#,
            "0=a;1=b;",
        ),
        (r#"{{ include "t" . | quote }}"#, r#""<canaryd>""#),
        ("a\n{{- /* gone */}}\nb {{- \" c\" -}} \n", "a\nb c"),
        (
            r#"{{ with .Values.empty }}x{{ else }}y{{ end }}{{ if and .Values.n (not .Values.empty) }}z{{ end }}"#,
            "yz",
        ),
    ] {
        assert_eq!(
            helm_render::render_text(helpers, text, values.clone()).unwrap(),
            want,
            "{text}"
        );
    }
    // toYaml: the document Helm writes (keys sorted; the indentation of
    // sequences may differ from Go's, the content may not).
    let yaml = helm_render::render_text("", "{{ toYaml .Values.obj }}", values.clone()).unwrap();
    assert!(!yaml.ends_with('\n'), "toYaml trims the final newline");
    assert!(
        yaml.starts_with("a:"),
        "keys sorted, as Go writes them:\n{yaml}"
    );
    let back: Value = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(back, values["obj"]);
    let err = helm_render::render_text("", r#"{{ fail "stop" }}"#, json!({})).unwrap_err();
    assert!(err.contains("stop"), "{err}");
}

/// The chart README's RBAC table says what the chart grants: the same verbs
/// as this test's lists, so the documentation cannot drift either.
#[test]
fn the_readme_lists_the_same_verbs() {
    let readme = std::fs::read_to_string(chart_dir().join("README.md")).unwrap();
    let mut documented = RuleSet::new();
    for line in readme
        .lines()
        .filter(|l| l.starts_with("| `") || l.starts_with("| core |"))
    {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | group | resources | verbs | used by |
        if cells.len() != 6 || cells[3].contains('`') {
            continue; // another table
        }
        let group = if cells[1] == "core" {
            ""
        } else {
            cells[1].trim_matches('`')
        };
        for resource in cells[2].split(',') {
            for verb in cells[3].split(',') {
                documented.insert((
                    group.to_string(),
                    resource.trim().trim_matches('`').to_string(),
                    verb.trim().to_string(),
                ));
            }
        }
    }
    let mut granted = expected(WATCHED_RULES);
    granted.extend(expected(LEASE_RULES));
    assert_eq!(
        documented, granted,
        "deploy/helm/canaryd/README.md's RBAC table"
    );
}

#[test]
fn mutation_a_multi_replica_chart_that_could_lose_its_leader_fails() {
    let e = on_postgres(2, Some(("canaryd-db", "password")));
    let values = json!({
        "replicaCount": 2,
        "database": {"postgresUrl": PG_URL, "passwordSecret": {"name": "canaryd-db"}},
    });
    expect_failure(
        "templates/deployment.yaml",
        "maxUnavailable: 0",
        "maxUnavailable: 1",
        &e,
        values.clone(),
        "surge-only RollingUpdate",
    );
    expect_failure(
        "templates/pdb.yaml",
        "minAvailable: 1",
        "minAvailable: 0",
        &e,
        values.clone(),
        "the budget must keep one pod",
    );
    expect_failure(
        "templates/deployment.yaml",
        "- name: PGPASSWORD",
        "- name: DB_PASSWORD",
        &e,
        values,
        "PGPASSWORD must come from Secret",
    );
}
