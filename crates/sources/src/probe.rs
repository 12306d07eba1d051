//! Direct HTTP probes of the canary, part of collector health.
//!
//! Metrics say what the canary *did*; they cannot say that the collector can
//! still *see* it. A canary behind a partition stops being scraped, its series
//! go stale, and a window over them could look like "no errors". A probe goes
//! to the canary itself: if it does not answer in time with the expected
//! status, the window is unreliable and the rollout pauses at its split
//! instead of judging numbers that no longer describe the canary.
//!
//! ```yaml
//! probe:
//!   urls: [http://pay-canary.shop.svc:8080/healthz]
//!   timeout: 2s          # default 2s
//!   expect_status: 200   # default 200
//! ```

use serde::Deserialize;
use std::time::Duration;

/// Which canary endpoints to probe each window.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// Canary endpoints to request each window; any failure makes the window unreliable.
    pub urls: Vec<String>,
    /// How long each probe may take before it counts as failed (default 2s).
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// The status a healthy canary answers with (default 200).
    #[serde(default = "default_status")]
    pub expect_status: u16,
}

fn default_timeout() -> Duration {
    Duration::from_secs(2)
}

fn default_status() -> u16 {
    200
}

/// A duration as policy files write it (`2s`, `1m 30s`).
pub(crate) fn de_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|e| {
        serde::de::Error::custom(format!("`{s}` is not a duration ({e}); write e.g. 5s, 2m"))
    })
}

/// Probes every URL concurrently; `Err` names each one that failed and why
/// (timeout, refused, wrong status), so the alert says what to look at.
pub async fn probe_all(cfg: &ProbeConfig) -> Result<(), String> {
    let client = canaryd_http::client(cfg.timeout)
        .map_err(|e| format!("cannot build the probe HTTP client: {e}"))?;
    let probes = cfg.urls.iter().map(|url| {
        let client = client.clone();
        async move { probe_one(&client, url, cfg.expect_status, cfg.timeout).await }
    });
    let failures: Vec<String> = futures_util::future::join_all(probes)
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("canary probe failed: {}", failures.join("; ")))
    }
}

async fn probe_one(
    client: &reqwest::Client,
    url: &str,
    expect: u16,
    timeout: Duration,
) -> Result<(), String> {
    match client.get(url).send().await {
        Ok(resp) if resp.status().as_u16() == expect => Ok(()),
        Ok(resp) => Err(format!(
            "{url} answered {}, expected {expect}",
            resp.status().as_u16()
        )),
        Err(e) if e.is_timeout() => Err(format!(
            "{url} did not answer within {}",
            humantime::format_duration(timeout)
        )),
        Err(e) if e.is_connect() => Err(format!("{url}: cannot connect ({e})")),
        Err(e) => Err(format!("{url}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use axum::routing::get;

    async fn server() -> String {
        let app = axum::Router::new()
            .route("/ok", get(|| async { "ok" }))
            .route("/sick", get(|| async { StatusCode::SERVICE_UNAVAILABLE }));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        format!("http://{addr}")
    }

    fn cfg(urls: Vec<String>) -> ProbeConfig {
        ProbeConfig {
            urls,
            timeout: Duration::from_millis(300),
            expect_status: 200,
        }
    }

    #[tokio::test]
    async fn healthy_endpoints_pass() {
        let base = server().await;
        assert_eq!(probe_all(&cfg(vec![format!("{base}/ok")])).await, Ok(()));
    }

    #[tokio::test]
    async fn every_failure_is_named() {
        let base = server().await;
        // A listener that accepts and never answers: the probe must time out.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let silent_url = format!("http://{}/healthz", silent.local_addr().unwrap());
        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/healthz", l.local_addr().unwrap())
        };
        let e = probe_all(&cfg(vec![
            format!("{base}/ok"),
            format!("{base}/sick"),
            silent_url.clone(),
            refused.clone(),
        ]))
        .await
        .unwrap_err();
        assert!(e.contains("/sick answered 503, expected 200"), "{e}");
        assert!(
            e.contains(&format!("{silent_url} did not answer within 300ms")),
            "{e}"
        );
        assert!(e.contains(&format!("{refused}: cannot connect")), "{e}");
        assert!(!e.contains("/ok"), "{e}");
    }

    #[test]
    fn config_defaults_and_bad_durations() {
        let c: ProbeConfig = serde_saphyr::from_str("urls: [http://x/healthz]").unwrap();
        assert_eq!((c.timeout, c.expect_status), (Duration::from_secs(2), 200));
        let e = serde_saphyr::from_str::<ProbeConfig>("urls: []\ntimeout: soon").unwrap_err();
        assert!(e.to_string().contains("`soon` is not a duration"), "{e}");
    }
}
