//! The sample app's own Prometheus metrics, with the conventional names a
//! real service would export: `http_requests_total` and
//! `http_request_duration_seconds` (a histogram), labelled by route, method,
//! status and `version`, so Prometheus-based rules can tell stable from canary.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
pub const BUCKETS_S: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default)]
struct Hist {
    /// Non-cumulative counts per bucket; the last slot is +Inf.
    counts: [u64; BUCKETS_S.len() + 1],
    sum_s: f64,
    count: u64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<(String, String), Hist>,
}

/// Counters and histograms of one sample-app instance.
pub struct AppMetrics {
    version: String,
    inner: Mutex<Inner>,
}

impl AppMetrics {
    /// Empty counters for an instance reporting `version`.
    pub fn new(version: &str) -> Self {
        AppMetrics {
            version: version.to_string(),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Counts one answered request and its duration under its route, method and status.
    pub fn record(&self, route: &str, method: &str, status: u16, took: Duration) {
        let Ok(mut g) = self.inner.lock() else {
            return;
        };
        *g.requests
            .entry((route.to_string(), method.to_string(), status))
            .or_default() += 1;
        let h = g
            .latency
            .entry((route.to_string(), method.to_string()))
            .or_default();
        let s = took.as_secs_f64();
        let slot = BUCKETS_S
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(BUCKETS_S.len());
        h.counts[slot] += 1;
        h.sum_s += s;
        h.count += 1;
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let Ok(g) = self.inner.lock() else {
            return out;
        };
        let v = escape(&self.version);
        out.push_str(
            "# HELP http_requests_total Requests answered, by route, method and status.\n",
        );
        out.push_str("# TYPE http_requests_total counter\n");
        for ((route, method, status), n) in &g.requests {
            let _ = writeln!(
                out,
                "http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\",version=\"{v}\"}} {n}",
                escape(route),
                escape(method)
            );
        }
        out.push_str("# HELP http_request_duration_seconds Time to answer a request.\n");
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        for ((route, method), h) in &g.latency {
            let labels = format!(
                "route=\"{}\",method=\"{}\",version=\"{v}\"",
                escape(route),
                escape(method)
            );
            let mut cum = 0;
            for (i, b) in BUCKETS_S.iter().enumerate() {
                cum += h.counts[i];
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {cum}"
                );
            }
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum_s
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out
    }
}

/// Label value escaping per the exposition format.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
