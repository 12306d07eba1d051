//! A local HTTP receiver that records every request and answers with
//! scripted statuses, standing in for a load balancer or feature-flag API.
#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    /// Status and body of the next answers; 200 `{}` once empty.
    script: VecDeque<(u16, String)>,
}

#[derive(Clone, Default)]
pub struct Receiver {
    inner: Arc<Mutex<Inner>>,
    pub base: String,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let mut r = Receiver::default();
        let app = axum::Router::new()
            .fallback(record)
            .with_state(r.inner.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        r.base = format!("http://{}", l.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        r
    }

    /// The next answers, in order.
    pub fn answer_with(&self, answers: &[(u16, &str)]) {
        let mut g = self.inner.lock().unwrap();
        g.script
            .extend(answers.iter().map(|(s, b)| (*s, b.to_string())));
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().requests.clone()
    }
}

async fn record(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let mut g = inner.lock().unwrap();
    g.requests.push(Recorded {
        method,
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        headers,
        body,
    });
    let (status, body) = g.script.pop_front().unwrap_or((200, "{}".into()));
    (StatusCode::from_u16(status).unwrap(), body)
}
