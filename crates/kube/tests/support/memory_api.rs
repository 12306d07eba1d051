//! A small in-memory Kubernetes API server (a `tower` service, no sockets)
//! for running the end-to-end scenario without a cluster: objects by
//! collection path, create / get / list / watch (streamed) / merge and JSON
//! patches (status subresource apart, `generation` bumped on spec changes,
//! the `resourceVersion` op of a JSON patch checked) / replace / delete.
//! It knows no schemas and no defaults; CRDs it is given are Established at
//! once. Enough to drive canaryd's loop, not a conformance fake.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::channel::mpsc;
use futures::stream::BoxStream;
use futures::StreamExt;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::StreamBody;
use serde_json::{json, Value};

type Body = StreamBody<BoxStream<'static, Result<Frame<Bytes>, Infallible>>>;

#[derive(Default)]
struct State {
    rv: u64,
    /// collection path → name → object.
    objects: BTreeMap<String, BTreeMap<String, Value>>,
    watches: Vec<(String, mpsc::UnboundedSender<Bytes>)>,
    instant_gateway: bool,
}

#[derive(Clone, Default)]
pub struct MemoryApi(Arc<Mutex<State>>);

fn respond(code: u16, value: &Value) -> Response<Body> {
    let bytes = Bytes::from(serde_json::to_vec(value).unwrap());
    let mut r = Response::new(StreamBody::new(
        futures::stream::once(async move { Ok(Frame::data(bytes)) }).boxed(),
    ));
    *r.status_mut() = StatusCode::from_u16(code).unwrap();
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn status(code: u16, reason: &str, message: &str) -> Response<Body> {
    respond(
        code,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "reason": reason, "message": message, "code": code}),
    )
}

/// `/apis/g/v/namespaces/ns/kind/name[/status]` → (collection, name, status?);
/// a path of a collection → (collection, None, false).
fn split(path: &str) -> (String, Option<String>, bool) {
    let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // Where the resource kind sits: api/v1/<kind>, apis/g/v/<kind>, then namespaces/ns/<kind>.
    let mut kind_at = if seg.first() == Some(&"api") { 2 } else { 3 };
    if seg.get(kind_at) == Some(&"namespaces") && seg.len() > kind_at + 2 {
        kind_at += 2;
    }
    let collection = format!("/{}", seg[..=kind_at.min(seg.len() - 1)].join("/"));
    let name = seg.get(kind_at + 1).map(|s| s.to_string());
    let sub = seg.get(kind_at + 2) == Some(&"status");
    (collection, name, sub)
}

impl State {
    fn changed(&mut self, collection: &str, kind: &str, object: &Value) {
        let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap();
        line.push(b'\n');
        let line = Bytes::from(line);
        self.watches
            .retain(|(c, tx)| c != collection || tx.unbounded_send(line.clone()).is_ok());
    }

    fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }
}

/// What a Gateway controller reports once it accepted `generation`.
fn accepted(generation: Value) -> Value {
    json!({"parents": [{
        "parentRef": {"name": "e2e-gateway"},
        "controllerName": "canaryd.io/memory-gateway",
        "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                        "message": "accepted in memory", "lastTransitionTime": "2026-01-01T00:00:00Z",
                        "observedGeneration": generation}]}]})
}

impl MemoryApi {
    /// Every HTTPRoute's generation is Accepted in the same write that made
    /// it: a Gateway with no delay, so a test is not paced by canaryd's
    /// retry of a weight the Gateway has not confirmed yet.
    pub fn with_instant_gateway(self) -> Self {
        self.0.lock().unwrap().instant_gateway = true;
        self
    }

    pub fn client(&self) -> kube::Client {
        let api = self.clone();
        let service = tower::service_fn(move |req: Request<kube::client::Body>| {
            let api = api.clone();
            async move { Ok::<_, Infallible>(api.serve(req).await) }
        });
        kube::Client::new(service, "default")
    }

    /// The object at `collection`/`name`, for assertions.
    pub fn get(&self, collection: &str, name: &str) -> Option<Value> {
        let s = self.0.lock().unwrap();
        s.objects.get(collection).and_then(|c| c.get(name)).cloned()
    }

    pub fn count(&self, collection: &str) -> usize {
        let s = self.0.lock().unwrap();
        s.objects.get(collection).map_or(0, |c| c.len())
    }

    async fn serve(&self, req: Request<kube::client::Body>) -> Response<Body> {
        let method = req.method().as_str().to_string();
        let path = req.uri().path().to_string();
        let watching = req.uri().query().unwrap_or("").contains("watch=true");
        let content_type = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = req.into_body().collect_bytes().await.unwrap_or_default();
        let sent: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let seg_count = path.trim_start_matches('/').split('/').count();
        // Discovery of an API group (Argo Rollouts): not installed here.
        if path.starts_with("/apis/") && seg_count <= 3 {
            return status(404, "NotFound", "no such API group");
        }
        let (collection, name, sub) = split(&path);
        let mut s = self.0.lock().unwrap();
        match (method.as_str(), name) {
            ("GET", None) if watching => {
                let (tx, rx) = mpsc::unbounded::<Bytes>();
                s.watches.push((collection, tx));
                let mut r = Response::new(StreamBody::new(
                    rx.map(|b| Ok::<_, Infallible>(Frame::data(b))).boxed(),
                ));
                r.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                r
            }
            ("GET", None) => {
                let items: Vec<Value> = s
                    .objects
                    .get(&collection)
                    .map(|c| c.values().cloned().collect())
                    .unwrap_or_default();
                let rv = s.rv.to_string();
                respond(
                    200,
                    &json!({"apiVersion": "v1", "kind": "List",
                            "metadata": {"resourceVersion": rv}, "items": items}),
                )
            }
            ("GET", Some(name)) => match s.objects.get(&collection).and_then(|c| c.get(&name)) {
                Some(o) => respond(200, o),
                None => status(404, "NotFound", &format!("{collection}/{name} not found")),
            },
            ("POST", None) => {
                let mut o = sent;
                let name = match o["metadata"]["name"].as_str() {
                    Some(n) => n.to_string(),
                    None => {
                        let prefix = o["metadata"]["generateName"].as_str().unwrap_or("x-");
                        format!("{prefix}{}", s.rv + 1)
                    }
                };
                if s.objects
                    .get(&collection)
                    .is_some_and(|c| c.contains_key(&name))
                {
                    return status(409, "AlreadyExists", &format!("{name} exists"));
                }
                let rv = s.next_rv();
                o["metadata"]["name"] = json!(name);
                o["metadata"]["resourceVersion"] = json!(rv);
                o["metadata"]["uid"] = json!(format!("uid-{rv}"));
                o["metadata"]["generation"] = json!(1);
                if let Some(ns) = collection.split("/namespaces/").nth(1) {
                    if let Some((ns, _)) = ns.split_once('/') {
                        o["metadata"]["namespace"] = json!(ns);
                    }
                }
                if s.instant_gateway && collection.ends_with("/httproutes") {
                    o["status"] = accepted(json!(1));
                }
                if collection.ends_with("/customresourcedefinitions") {
                    o["status"] = json!({"conditions": [
                        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                         "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
                }
                s.objects
                    .entry(collection.clone())
                    .or_default()
                    .insert(name, o.clone());
                s.changed(&collection, "ADDED", &o);
                respond(201, &o)
            }
            ("PATCH" | "PUT", Some(name)) => {
                let rv = s.next_rv();
                let Some(current) = s
                    .objects
                    .get(&collection)
                    .and_then(|c| c.get(&name))
                    .cloned()
                else {
                    return status(404, "NotFound", &format!("{collection}/{name} not found"));
                };
                let mut next = current.clone();
                if method == "PUT" {
                    next = sent;
                } else if content_type.starts_with("application/json-patch+json") {
                    let Ok(p) = serde_json::from_value::<json_patch::Patch>(sent) else {
                        return status(400, "BadRequest", "not a JSON patch");
                    };
                    if let Err(e) = json_patch::patch(&mut next, &p) {
                        return status(422, "Invalid", &e.to_string());
                    }
                    if next["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"]
                    {
                        return status(409, "Conflict", "the object has been modified");
                    }
                } else {
                    json_patch::merge(&mut next, &sent);
                }
                if sub {
                    // The status subresource changes the status only.
                    let st = next["status"].clone();
                    next = current.clone();
                    next["status"] = st;
                } else {
                    next["status"] = current["status"].clone();
                    if next["spec"] != current["spec"] {
                        let g = current["metadata"]["generation"].as_i64().unwrap_or(1);
                        next["metadata"]["generation"] = json!(g + 1);
                    }
                }
                next["metadata"]["resourceVersion"] = json!(rv);
                next["metadata"]["uid"] = current["metadata"]["uid"].clone();
                if s.instant_gateway && collection.ends_with("/httproutes") {
                    next["status"] = accepted(next["metadata"]["generation"].clone());
                }
                if let Some(c) = s.objects.get_mut(&collection) {
                    c.insert(name, next.clone());
                }
                s.changed(&collection, "MODIFIED", &next);
                respond(200, &next)
            }
            ("DELETE", Some(name)) => {
                let removed = s.objects.get_mut(&collection).and_then(|c| c.remove(&name));
                let Some(o) = removed else {
                    return status(404, "NotFound", &format!("{collection}/{name} not found"));
                };
                if collection == "/api/v1/namespaces" {
                    let inside = format!("/namespaces/{name}/");
                    s.objects.retain(|c, _| !c.contains(&inside));
                }
                s.changed(&collection, "DELETED", &o);
                respond(200, &o)
            }
            _ => status(405, "MethodNotAllowed", &format!("{method} {path}")),
        }
    }
}

#[test]
fn paths_split_into_collection_and_name() {
    assert_eq!(
        split("/apis/apps/v1/namespaces/shop/deployments/web"),
        (
            "/apis/apps/v1/namespaces/shop/deployments".into(),
            Some("web".into()),
            false
        )
    );
    assert_eq!(
        split("/apis/canaryd.io/v1alpha1/namespaces/shop/canaries/web/status"),
        (
            "/apis/canaryd.io/v1alpha1/namespaces/shop/canaries".into(),
            Some("web".into()),
            true
        )
    );
    assert_eq!(
        split("/api/v1/namespaces/shop"),
        ("/api/v1/namespaces".into(), Some("shop".into()), false)
    );
    assert_eq!(
        split("/api/v1/namespaces/shop/services"),
        ("/api/v1/namespaces/shop/services".into(), None, false)
    );
    assert_eq!(
        split("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/x.y"),
        (
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions".into(),
            Some("x.y".into()),
            false
        )
    );
}
