//! The operator API over real HTTP, against a real live loop, driver and store.

use canaryd_core::observation::{BaselineStatus, Window};
use canaryd_core::vocab::{RolloutKey, Timestamp, Weight};
use canaryd_driver::{run_live, Driver, LiveLimits, Request};
use canaryd_driver::{CollectingNotifier, VirtualRouter};
use canaryd_policy::preset;
use canaryd_ports::{MetricsSource, SourceError};
use canaryd_secrets::Secret;
use canaryd_server::{router, Registry};
use canaryd_store::{AuditKind, SqliteStore};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// A source with no history (so the rollout waits for approval) and empty windows.
struct NoHistory;

#[canaryd_ports::async_trait]
impl MetricsSource for NoHistory {
    async fn baseline(&mut self, _k: &RolloutKey) -> Result<BaselineStatus, SourceError> {
        Ok(BaselineStatus::Missing("new service".into()))
    }
    async fn window(
        &mut self,
        _k: &RolloutKey,
        _w: Weight,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Window, SourceError> {
        Ok(Window {
            start,
            end,
            ..Default::default()
        })
    }
}

const TOKEN: &str = "op-token-5f2c9a";

struct Harness {
    base: String,
    http: reqwest::Client,
    db: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn start(token: Option<&str>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let key = RolloutKey::new("payments/ledger", "v1.0.0");
    let registry = Registry::default();
    let (tx, rx) = mpsc::channel::<Request>(8);
    registry.register(key.clone(), tx);
    let store = SqliteStore::open(&db).unwrap();
    let mut driver = Driver::new(
        store,
        Box::new(VirtualRouter::default()),
        Box::new(CollectingNotifier::default()),
        preset("slo-ratio").unwrap(),
    )
    .unwrap();
    tokio::spawn(async move {
        let limits = LiveLimits {
            idle_windows: None,
            max_windows: None,
        };
        let _ = run_live(&mut driver, &mut NoHistory, &key, rx, limits, |_| {}).await;
    });
    let app = router(registry, token.map(Secret::new));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { canaryd_server::serve(listener, app).await.unwrap() });
    Harness {
        base: format!("http://{addr}"),
        http: canaryd_http::client(std::time::Duration::from_secs(40)).unwrap(),
        db,
        _dir: dir,
    }
}

impl Harness {
    async fn command(&self, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}/api/v1/commands", self.base))
            .json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Operator entries in the audit log (read through a second connection).
    fn approvals(&self) -> Vec<Value> {
        let store = SqliteStore::open(&self.db).unwrap();
        store
            .audit_entries(None, None)
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == AuditKind::Approval)
            .map(|e| e.payload)
            .collect()
    }
}

fn approve(by: &str) -> Value {
    json!({"workload": "payments/ledger", "revision": "v1.0.0", "action": "approve", "by": by, "reason": "baseline reviewed"})
}

async fn wait_started(h: &Harness) {
    for _ in 0..200 {
        if SqliteStore::open(&h.db)
            .unwrap()
            .load_rollout("payments/ledger", "v1.0.0")
            .unwrap()
            .is_some()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the rollout never started");
}

#[tokio::test]
async fn without_the_right_token_nothing_changes() {
    let h = start(Some(TOKEN)).await;
    wait_started(&h).await;
    for token in [None, Some("wrong-token"), Some("op-token-5f2c9"), Some("")] {
        let (status, body) = h.command(token, approve("mallory")).await;
        assert_eq!(status, 401, "{token:?}: {body}");
    }
    assert!(
        h.approvals().is_empty(),
        "a refused caller leaves no trace in the rollout"
    );
    let row = SqliteStore::open(&h.db)
        .unwrap()
        .load_rollout("payments/ledger", "v1.0.0")
        .unwrap()
        .unwrap();
    assert_eq!(row.phase, "awaiting_approval");
    // Listing needs the token too.
    let r = h
        .http
        .get(format!("{}/api/v1/rollouts", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn approve_then_a_second_approve_is_a_409_with_the_reason() {
    let h = start(Some(TOKEN)).await;
    wait_started(&h).await;
    let (status, body) = h.command(Some(TOKEN), approve("alice")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], true);
    assert_eq!(body["phase"], "ramping");
    assert_eq!(body["weight"], 10);

    let (status, body) = h.command(Some(TOKEN), approve("bob")).await;
    assert_eq!(status, 409, "{body}");
    let msg = body["message"].as_str().unwrap();
    assert!(
        msg.contains("is ramping at 10%")
            && msg.contains("only a rollout awaiting approval can be approved"),
        "{msg}"
    );

    let approvals = h.approvals();
    assert_eq!(approvals.len(), 2, "both commands are audited");
    assert_eq!(approvals[0]["command"]["by"], "alice");
    assert_eq!(approvals[0]["command"]["reason"], "baseline reviewed");
    assert_eq!(approvals[1]["decision"]["decision"], "refuse");

    let list: Value = h
        .http
        .get(format!("{}/api/v1/rollouts", h.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["rollouts"][0]["workload"], "payments/ledger");
}

#[tokio::test]
async fn bad_requests_are_named() {
    let h = start(Some(TOKEN)).await;
    wait_started(&h).await;
    let (s, b) = h.command(Some(TOKEN), json!({"workload": "payments/ledger", "revision": "v1.0.0", "action": "reboot", "by": "a"})).await;
    assert_eq!(s, 400);
    assert!(b["message"]
        .as_str()
        .unwrap()
        .contains("unknown action `reboot`"));
    let (s, b) = h.command(Some(TOKEN), json!({"workload": "payments/ledger", "revision": "v1.0.0", "action": "abort", "by": " "})).await;
    assert_eq!(s, 400);
    assert!(b["message"].as_str().unwrap().contains("`by`"));
    let (s, b) = h
        .command(
            Some(TOKEN),
            json!({"workload": "x", "revision": "y", "action": "abort", "by": "a"}),
        )
        .await;
    assert_eq!(s, 404);
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("running: payments/ledger v1.0.0"),
        "{b}"
    );
    let (s, _) = h.command(Some(TOKEN), json!({"workload": "x"})).await;
    assert_eq!(s, 400);
    assert!(h.approvals().is_empty());
}

#[tokio::test]
async fn an_api_without_a_configured_token_is_closed() {
    let h = start(None).await;
    wait_started(&h).await;
    let (status, body) = h.command(Some("anything"), approve("alice")).await;
    assert_eq!(status, 401);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("no API token configured"));
    let ok = h
        .http
        .get(format!("{}/healthz", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
}

/// The token is checked before the body is read: a 10 MB upload without it
/// is 401, not 413 (before: the body was buffered first, and refused as too
/// large by the extractor).
#[tokio::test]
async fn a_big_unauthenticated_upload_is_401_not_413() {
    let h = start(Some(TOKEN)).await;
    let resp = h
        .http
        .post(format!("{}/api/v1/commands", h.base))
        .header("content-type", "application/json")
        .body(vec![b' '; 10 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    // With the token, an oversized body is refused as such.
    let resp = h
        .http
        .post(format!("{}/api/v1/commands", h.base))
        .bearer_auth(TOKEN)
        .body(vec![b' '; 1 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
}

/// RFC 7235: the auth scheme is case-insensitive; `bearer` is `Bearer`.
#[tokio::test]
async fn a_lowercase_bearer_scheme_is_accepted() {
    let h = start(Some(TOKEN)).await;
    wait_started(&h).await;
    let resp = h
        .http
        .post(format!("{}/api/v1/commands", h.base))
        .header("authorization", format!("bearer {TOKEN}"))
        .json(&approve("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(h.approvals().len(), 1);
}

/// A client that connects and sends half a request is closed once the
/// header timeout passes (before: the socket stayed open for good). The
/// 60 s bound only stops a hung test; the timeout under test is 1 s.
#[tokio::test]
async fn a_half_open_connection_is_closed_after_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = router(Registry::default(), Some(Secret::new(TOKEN)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = canaryd_server::ConnectionLimits {
        header_timeout: std::time::Duration::from_secs(1),
        idle_timeout: std::time::Duration::from_secs(1),
        max_connections: 8,
    };
    tokio::spawn(canaryd_server::serve_with(listener, app, limits));
    for sent in [&b""[..], b"POST /api/v1/commands HTTP/1.1\r\nHost: x\r\n"] {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(sent).await.unwrap();
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(std::time::Duration::from_secs(60), s.read(&mut buf))
            .await
            .expect("the server never closed the half-open connection")
            .unwrap_or(0);
        let head = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(n == 0 || head.starts_with("HTTP/1.1 408"), "{head}");
    }
}
