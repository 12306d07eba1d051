//! Bodies stream through the router (both ways), headers are rewritten the way
//! a front door must.

mod common;

use common::{call, empty, Chunks, Rig};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_megabytes_stream_through_intact() {
    let rig = Rig::start_with(|c| c.max_body_bytes = 64 << 20).await;
    let total: u64 = 20 << 20;
    let body = Chunks {
        sent: 0,
        total,
        chunk: 64 * 1024,
    }
    .boxed_unsync();
    let req = Request::post(rig.url("/echo")).body(body).unwrap();
    let resp = rig.client.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // Read frame by frame, checking every byte without keeping the body.
    let mut body = resp.into_body();
    let mut pos: u64 = 0;
    let mut frames = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.unwrap();
        if let Some(d) = frame.data_ref() {
            for (i, b) in d.iter().enumerate() {
                assert_eq!(
                    *b,
                    ((pos + i as u64) % 251) as u8,
                    "byte {} corrupted",
                    pos + i as u64
                );
            }
            pos += d.len() as u64;
            frames += 1;
        }
    }
    assert_eq!(pos, total);
    // Streamed: many frames, not one buffered blob.
    assert!(frames > 10, "{frames} frames");
    rig.settle(1).await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_added_and_hop_by_hop_removed() {
    let rig = Rig::start().await;
    let mut h = HeaderMap::new();
    h.insert("connection", HeaderValue::from_static("keep-alive, x-hop"));
    h.insert("x-hop", HeaderValue::from_static("secret"));
    h.insert(
        "proxy-authorization",
        HeaderValue::from_static("Basic Zm9vOmJhcg=="),
    );
    h.insert("x-app", HeaderValue::from_static("kept"));
    let a = call(
        &rig.client,
        Method::GET,
        &rig.url("/debug/headers"),
        empty(),
        h,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let seen: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen["x-forwarded-proto"], "http");
    assert_eq!(
        seen["x-forwarded-host"],
        rig.router.local_addr().to_string()
    );
    assert_eq!(seen["host"], rig.stable.addr().to_string());
    assert_eq!(seen["x-app"], "kept");
    for gone in ["x-hop", "proxy-authorization", "connection"] {
        assert!(seen.get(gone).is_none(), "{gone} was forwarded: {seen}");
    }
    // A proxied `/metrics` is the app's, not the router's: no collision.
    let m = rig.get("/metrics").await;
    assert!(m.text().contains("http_requests_total"), "{}", m.text());
    assert!(!m.text().contains("canaryd_proxy_"));
    rig.stop().await;
}
