//! Prometheus text exposition (format 0.0.4) of the router's figures.
//!
//! Series (`route` is the core's route name, e.g. `GET /items/{id}`;
//! `cohort` is `baseline` for the stable upstream, `canary` for the canary):
//! - `canaryd_proxy_requests_total{route,cohort}` (counter)
//! - `canaryd_proxy_errors_total{route,cohort}` (counter: 5xx, upstream failures, timeouts)
//! - `canaryd_proxy_request_duration_seconds_bucket|sum|count{route,cohort[,le]}` (histogram)
//! - `canaryd_proxy_upstream_failures_total{cohort,kind="connect"|"reset"|"timeout"}` (counter)
//! - `canaryd_proxy_rejected_total{reason="body_too_large"|"client_body_failed"}` (counter)
//! - `canaryd_proxy_dispatched_total{cohort}` (counter: split decisions)
//! - `canaryd_proxy_canary_weight` (gauge, percent)
//! - `canaryd_proxy_probe_up{cohort}` (gauge: 1 last probe ok, 0 failed or none yet)

use super::snapshot::{fmt_bound, BUCKETS_MS};
use super::Recorder;
use crate::probe::ProbeState;
use crate::split::{idx, Splitter};
use canaryd_core::vocab::Cohort;
use std::fmt::Write;
use std::sync::atomic::Ordering;

const COHORTS: [Cohort; 2] = [Cohort::Baseline, Cohort::Canary];

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub(crate) fn render(rec: &Recorder, split: &Splitter, probes: &ProbeState) -> String {
    let snap = rec.snapshot();
    let mut o = String::with_capacity(4096);
    o.push_str(
        "# HELP canaryd_proxy_requests_total Proxied requests completed, by route and cohort.\n",
    );
    o.push_str("# TYPE canaryd_proxy_requests_total counter\n");
    for (route, cs) in &snap.routes {
        for c in COHORTS {
            let _ = writeln!(
                o,
                "canaryd_proxy_requests_total{{route=\"{}\",cohort=\"{c}\"}} {}",
                escape(route),
                cs[idx(c)].requests
            );
        }
    }
    o.push_str("# HELP canaryd_proxy_errors_total Requests that failed: upstream 5xx, upstream unreachable, timeouts.\n");
    o.push_str("# TYPE canaryd_proxy_errors_total counter\n");
    for (route, cs) in &snap.routes {
        for c in COHORTS {
            let _ = writeln!(
                o,
                "canaryd_proxy_errors_total{{route=\"{}\",cohort=\"{c}\"}} {}",
                escape(route),
                cs[idx(c)].errors
            );
        }
    }
    o.push_str("# HELP canaryd_proxy_request_duration_seconds Time from request received to response body end.\n");
    o.push_str("# TYPE canaryd_proxy_request_duration_seconds histogram\n");
    for (route, cs) in &snap.routes {
        for c in COHORTS {
            let s = &cs[idx(c)];
            let labels = format!("route=\"{}\",cohort=\"{c}\"", escape(route));
            for b in BUCKETS_MS {
                let _ = writeln!(
                    o,
                    "canaryd_proxy_request_duration_seconds_bucket{{{labels},le=\"{}\"}} {}",
                    fmt_bound(b / 1000.0),
                    s.count_le_ms(b).min(s.requests)
                );
            }
            let _ = writeln!(
                o,
                "canaryd_proxy_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.requests
            );
            let _ = writeln!(
                o,
                "canaryd_proxy_request_duration_seconds_sum{{{labels}}} {}",
                s.latency_us_sum as f64 / 1e6
            );
            let _ = writeln!(
                o,
                "canaryd_proxy_request_duration_seconds_count{{{labels}}} {}",
                s.requests
            );
        }
    }
    o.push_str("# HELP canaryd_proxy_upstream_failures_total Connection failures and timeouts per upstream.\n");
    o.push_str("# TYPE canaryd_proxy_upstream_failures_total counter\n");
    for c in COHORTS {
        let i = idx(c);
        let _ = writeln!(
            o,
            "canaryd_proxy_upstream_failures_total{{cohort=\"{c}\",kind=\"connect\"}} {}",
            rec.failures.connect[i].load(Ordering::SeqCst)
        );
        let _ = writeln!(
            o,
            "canaryd_proxy_upstream_failures_total{{cohort=\"{c}\",kind=\"reset\"}} {}",
            rec.failures.reset[i].load(Ordering::SeqCst)
        );
        let _ = writeln!(
            o,
            "canaryd_proxy_upstream_failures_total{{cohort=\"{c}\",kind=\"timeout\"}} {}",
            rec.failures.timeout[i].load(Ordering::SeqCst)
        );
    }
    o.push_str("# HELP canaryd_proxy_rejected_total Requests refused by the router itself.\n");
    o.push_str("# TYPE canaryd_proxy_rejected_total counter\n");
    let _ = writeln!(
        o,
        "canaryd_proxy_rejected_total{{reason=\"body_too_large\"}} {}",
        rec.rejected_body_too_large()
    );
    let _ = writeln!(
        o,
        "canaryd_proxy_rejected_total{{reason=\"client_body_failed\"}} {}",
        rec.rejected_client_body()
    );
    o.push_str("# HELP canaryd_proxy_dispatched_total Split decisions, by cohort.\n");
    o.push_str("# TYPE canaryd_proxy_dispatched_total counter\n");
    for c in COHORTS {
        let _ = writeln!(
            o,
            "canaryd_proxy_dispatched_total{{cohort=\"{c}\"}} {}",
            split.dispatched(c)
        );
    }
    o.push_str(
        "# HELP canaryd_proxy_canary_weight Share of new requests sent to the canary, percent.\n",
    );
    o.push_str("# TYPE canaryd_proxy_canary_weight gauge\n");
    let _ = writeln!(o, "canaryd_proxy_canary_weight {}", split.weight());
    o.push_str(
        "# HELP canaryd_proxy_probe_up Whether the last health probe of the upstream succeeded.\n",
    );
    o.push_str("# TYPE canaryd_proxy_probe_up gauge\n");
    for c in COHORTS {
        let up = probes.latest(c).is_some_and(|p| p.ok);
        let _ = writeln!(
            o,
            "canaryd_proxy_probe_up{{cohort=\"{c}\"}} {}",
            u8::from(up)
        );
    }
    o
}
