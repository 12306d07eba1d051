//! The scheduler and the per-request tasks of the load generator.

use super::report::{LoadCounters, LoadReport};
use super::LoadConfig;
use crate::error::SimError;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

const POST_BODY: &[u8] = br#"{"amount":42,"currency":"EUR"}"#;

#[derive(Default)]
struct Shared {
    scheduled: AtomicU64,
    sent: AtomicU64,
    ok: AtomicU64,
    errors: AtomicU64,
    late: AtomicU64,
    dropped: AtomicU64,
    in_flight: AtomicU64,
    by_version: Mutex<BTreeMap<String, u64>>,
    /// Latency in µs from scheduled time to end of body.
    latency: Mutex<Option<Histogram<u64>>>,
    last_done: Mutex<Option<Instant>>,
}

impl Shared {
    fn counters(&self) -> LoadCounters {
        LoadCounters {
            scheduled: self.scheduled.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            ok: self.ok.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            late: self.late.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            by_version: self
                .by_version
                .lock()
                .map(|g| g.clone())
                .unwrap_or_default(),
        }
    }
}

/// A running load. Dropping it stops the schedule (in-flight requests finish).
pub struct LoadHandle {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    planned: u64,
    started: Instant,
}

impl LoadHandle {
    /// Live counters.
    pub fn counters(&self) -> LoadCounters {
        self.shared.counters()
    }

    /// Requests the schedule will send over the whole duration (rate × duration).
    pub fn planned(&self) -> u64 {
        self.planned
    }

    /// Whether the schedule has ended and every request has completed.
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Lets the schedule run to its end, waits for in-flight requests, reports.
    pub async fn wait(mut self) -> LoadReport {
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        self.report()
    }

    /// Stops sending now, waits for in-flight requests, reports.
    pub async fn stop(self) -> LoadReport {
        let _ = self.stop.send(true);
        self.wait().await
    }

    fn report(&self) -> LoadReport {
        let end = self
            .shared
            .last_done
            .lock()
            .ok()
            .and_then(|g| *g)
            .unwrap_or_else(Instant::now);
        let (p50, p99, max) = match self.shared.latency.lock() {
            Ok(g) => match g.as_ref().filter(|h| !h.is_empty()) {
                Some(h) => (
                    Some(h.value_at_quantile(0.5) as f64 / 1000.0),
                    Some(h.value_at_quantile(0.99) as f64 / 1000.0),
                    Some(h.max() as f64 / 1000.0),
                ),
                None => (None, None, None),
            },
            Err(_) => (None, None, None),
        };
        LoadReport {
            planned: self.planned,
            counters: self.shared.counters(),
            elapsed: end.saturating_duration_since(self.started),
            p50_ms: p50,
            p99_ms: p99,
            max_ms: max,
        }
    }
}

impl Drop for LoadHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn base_url(target: &str) -> Result<String, SimError> {
    let bad = |why: &str| SimError::BadTarget {
        input: target.to_string(),
        why: why.to_string(),
    };
    let uri: Uri = target.parse().map_err(|_| bad("not a URL"))?;
    if uri.scheme_str() != Some("http") {
        return Err(bad("only http:// targets are supported"));
    }
    let authority = uri.authority().ok_or_else(|| bad("no host:port"))?;
    Ok(format!(
        "http://{authority}{}",
        uri.path().trim_end_matches('/')
    ))
}

pub(super) fn start(config: LoadConfig) -> Result<LoadHandle, SimError> {
    let base = base_url(&config.target)?;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(config.request_timeout));
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector);
    let shared = Arc::new(Shared {
        latency: Mutex::new(Histogram::new_with_bounds(1, 120_000_000, 3).ok()),
        ..Default::default()
    });
    let (stop, stop_rx) = watch::channel(false);
    let planned = config.planned();
    let started = Instant::now();
    let task = tokio::spawn(schedule(
        config,
        base,
        client,
        shared.clone(),
        stop_rx,
        started,
    ));
    Ok(LoadHandle {
        shared,
        stop,
        task: Some(task),
        planned,
        started,
    })
}

async fn schedule(
    config: LoadConfig,
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    start: Instant,
) {
    let planned = config.planned();
    let interval = Duration::from_secs_f64(1.0 / config.rps);
    let permits = Arc::new(Semaphore::new(config.max_in_flight));
    let due_at = |i: u64| start + interval.mul_f64(i as f64);
    let mut i = 0u64;
    'outer: while i < planned {
        let due = due_at(i);
        if due > Instant::now() {
            tokio::select! {
                _ = tokio::time::sleep_until(due.into()) => {}
                _ = stop.changed() => break 'outer,
            }
        }
        if *stop.borrow() {
            break;
        }
        let now = Instant::now();
        // Send every request that is due by now (the timer is coarser than the schedule).
        while i < planned && due_at(i) <= now {
            let due = due_at(i);
            i += 1;
            shared.scheduled.fetch_add(1, Ordering::Relaxed);
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            if now.saturating_duration_since(due) > config.late_after {
                shared.late.fetch_add(1, Ordering::Relaxed);
            }
            let entry = config.mix.pick();
            let uri = format!("{base}{}", entry.concrete_path());
            let method = entry.method.clone();
            let (client, shared, timeout) =
                (client.clone(), shared.clone(), config.request_timeout);
            shared.sent.fetch_add(1, Ordering::Relaxed);
            shared.in_flight.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let ok = one_request(&client, &shared, method, &uri, timeout).await;
                let done = Instant::now();
                if ok {
                    shared.ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                }
                let us = done.saturating_duration_since(due).as_micros();
                if let Ok(mut h) = shared.latency.lock() {
                    if let Some(h) = h.as_mut() {
                        h.saturating_record(u64::try_from(us).unwrap_or(u64::MAX).max(1));
                    }
                }
                if let Ok(mut l) = shared.last_done.lock() {
                    *l = Some(done);
                }
                shared.in_flight.fetch_sub(1, Ordering::Relaxed);
                drop(permit);
            });
        }
    }
    // Wait for every outstanding request (each is bounded by its timeout).
    let max = u32::try_from(config.max_in_flight).unwrap_or(u32::MAX);
    let _ = permits.acquire_many(max).await;
}

/// One request, body read to the end. True when answered below 500.
async fn one_request(
    client: &Client<HttpConnector, Full<Bytes>>,
    shared: &Shared,
    method: Method,
    uri: &str,
    timeout: Duration,
) -> bool {
    let body = if method == Method::POST || method == Method::PUT {
        Full::new(Bytes::from_static(POST_BODY))
    } else {
        Full::new(Bytes::new())
    };
    let mut builder = Request::builder().method(method).uri(uri);
    if !POST_BODY.is_empty() {
        builder = builder.header("content-type", "application/json");
    }
    let Ok(req) = builder.body(body) else {
        return false;
    };
    let fut = async {
        let resp = client.request(req).await.ok()?;
        let status = resp.status();
        let version = resp
            .headers()
            .get("x-canaryd-version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        resp.into_body().collect().await.ok()?;
        Some((status, version))
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(Some((status, version))) => {
            if let Some(v) = version {
                if let Ok(mut m) = shared.by_version.lock() {
                    *m.entry(v).or_default() += 1;
                }
            }
            !status.is_server_error()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::base_url;

    #[test]
    fn base_url_keeps_prefix_and_rejects_other_schemes() {
        assert_eq!(
            base_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(base_url("http://h:1/api/").unwrap(), "http://h:1/api");
        assert!(base_url("https://h:1").is_err());
        assert!(base_url("not a url").is_err());
    }
}
