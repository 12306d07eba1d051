//! The controller's listener: `/healthz` (the process runs), `/readyz` (the
//! Canaries were listed: a new replica is not ready while it cannot see the
//! API server) and `/metrics` (Prometheus text). Probes and scrapes only:
//! nothing here changes anything.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use canaryd_kube::controller::ControllerMetrics;
use tokio::net::TcpListener;
use tokio::sync::watch;

#[derive(Clone)]
struct Probes {
    ready: watch::Receiver<bool>,
    metrics: Arc<ControllerMetrics>,
}

pub fn router(ready: watch::Receiver<bool>, metrics: Arc<ControllerMetrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(Probes { ready, metrics })
}

async fn readyz(axum::extract::State(p): axum::extract::State<Probes>) -> impl IntoResponse {
    if *p.ready.borrow() {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the Canaries have not been listed yet\n",
        )
    }
}

async fn metrics_text(axum::extract::State(p): axum::extract::State<Probes>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        p.metrics.render(),
    )
}

/// Serves until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
}

pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use canaryd_kube::controller::ReconcileResult;
    use std::time::Duration;

    #[tokio::test]
    async fn probes_and_metrics() {
        canaryd_http::install_crypto_provider();
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (ready_tx, ready_rx) = watch::channel(false);
        let (stop_tx, stop_rx) = watch::channel(false);
        let metrics = Arc::new(ControllerMetrics::default());
        metrics.observe(ReconcileResult::Ok, Duration::from_millis(2));
        metrics.set_leader(true);
        let server = tokio::spawn(serve(listener, router(ready_rx, metrics), stop_rx));
        let get = |path: &str| {
            let url = format!("http://{addr}{path}");
            async move {
                let r = reqwest::get(url).await.unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            }
        };
        assert_eq!(get("/healthz").await.0, 200);
        let (code, text) = get("/readyz").await;
        assert_eq!(code, 503, "{text}");
        ready_tx.send(true).unwrap();
        assert_eq!(get("/readyz").await.0, 200);
        let (code, text) = get("/metrics").await;
        assert_eq!(code, 200);
        assert!(
            text.contains("canaryd_controller_reconciles_total{result=\"ok\"} 1"),
            "{text}"
        );
        assert!(text.contains("canaryd_controller_is_leader 1"), "{text}");
        assert!(text.contains("canaryd_controller_canaries 0"), "{text}");
        assert!(
            text.contains("canaryd_controller_reconcile_duration_seconds_bucket"),
            "{text}"
        );
        assert_eq!(get("/nope").await.0, 404);
        stop_tx.send(true).unwrap();
        server.await.unwrap().unwrap();
    }
}
