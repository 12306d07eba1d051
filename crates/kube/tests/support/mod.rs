//! A scripted API server for the mocked-API tests (kube-rs's "API server
//! verifier" pattern): every request the code under test sends is checked in
//! order, and answered with what the test says.
#![allow(dead_code)]

use http::{Request, Response, StatusCode};
use kube::client::Body;
use kube::Client;
use serde_json::{json, Value};
use std::path::PathBuf;
use tower_test::mock::{self, Handle, SendResponse};

pub struct ApiServer {
    handle: Handle<Request<Body>, Response<Body>>,
}

/// One request as the server saw it.
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: Value,
    reply: SendResponse<Response<Body>>,
}

pub fn mock_client() -> (Client, ApiServer) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, "default"), ApiServer { handle })
}

impl ApiServer {
    /// The next request; it must have this method and path.
    pub async fn expect(&mut self, method: &str, path: &str) -> Seen {
        let (request, reply) = self
            .handle
            .next_request()
            .await
            .unwrap_or_else(|| panic!("expected {method} {path}, but the client hung up"));
        let content_type = request
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let method_seen = request.method().to_string();
        let path_seen = request.uri().path().to_string();
        let query = request.uri().query().unwrap_or("").to_string();
        let bytes = request.into_body().collect_bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        assert_eq!(
            (method_seen.as_str(), path_seen.as_str()),
            (method, path),
            "unexpected request (body {body})"
        );
        Seen {
            method: method_seen,
            path: path_seen,
            query,
            content_type,
            body,
            reply,
        }
    }

    /// The raw handle, for tests that answer requests in any order.
    pub fn into_handle(self) -> Handle<Request<Body>, Response<Body>> {
        self.handle
    }

    /// Asserts the client sends nothing more.
    pub async fn done(mut self) {
        tokio::task::yield_now().await;
        if let Some((req, _)) = self.handle.next_request().await {
            panic!("unexpected extra request {} {}", req.method(), req.uri());
        }
    }
}

/// A JSON response with this status code.
pub fn json_response(code: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap())
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

impl Seen {
    pub fn ok(self, body: Value) {
        self.respond(200, body);
    }

    pub fn respond(self, code: u16, body: Value) {
        let response = Response::builder()
            .status(StatusCode::from_u16(code).unwrap())
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap();
        self.reply.send_response(response);
    }

    /// Answers with a Kubernetes `Status` failure.
    pub fn fail(self, code: u16, reason: &str) {
        self.respond(
            code,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                   "reason": reason, "message": format!("{reason} (scripted)"), "code": code}),
        );
    }
}

pub fn shared_crds() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/k8s-crds")
}

/// The openAPIV3Schema of `version` in one of the upstream CRD files.
pub fn upstream_schema(file: &str, version: &str) -> Value {
    let path = shared_crds().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the upstream CRDs live in shared/k8s-crds)",
            path.display()
        )
    });
    let crd: Value = serde_saphyr::from_str(&text).unwrap();
    let v = crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == version)
        .unwrap_or_else(|| panic!("{file} has no version {version}"));
    v["schema"]["openAPIV3Schema"].clone()
}

/// Validates `doc` against an upstream schema, returning the errors.
pub fn schema_errors(schema: &Value, doc: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).unwrap();
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}
pub mod canary;
pub mod cluster;
