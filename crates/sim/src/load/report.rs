//! What a load run reports: live counters while it runs, a summary at the end.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Live counters of a running load (all monotonic except `in_flight`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadCounters {
    /// Requests scheduled so far (sent + dropped).
    pub scheduled: u64,
    /// Requests actually sent.
    pub sent: u64,
    /// Answered with a status below 500.
    pub ok: u64,
    /// 5xx answers, connection failures and timeouts.
    pub errors: u64,
    /// Sent more than `late_after` behind schedule.
    pub late: u64,
    /// Not sent because `max_in_flight` requests were outstanding.
    pub dropped: u64,
    /// Requests sent and not yet answered.
    pub in_flight: u64,
    /// Answers per `x-canaryd-version` header (the sample app sets it).
    pub by_version: BTreeMap<String, u64>,
}

/// The summary of a finished (or stopped) run.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// Requests the schedule called for over the whole duration.
    pub planned: u64,
    /// The counters when the run ended.
    pub counters: LoadCounters,
    /// Wall-clock time from start to end (or stop).
    pub elapsed: Duration,
    /// Latency from the scheduled send time to the end of the response body, ms.
    pub p50_ms: Option<f64>,
    /// 99th-percentile latency, measured the same way, ms.
    pub p99_ms: Option<f64>,
    /// Slowest request, measured the same way, ms.
    pub max_ms: Option<f64>,
}

impl LoadReport {
    /// Completed requests per second over the run.
    pub fn achieved_rps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            (self.counters.ok + self.counters.errors) as f64 / secs
        } else {
            0.0
        }
    }
}

fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}ms")).unwrap_or_else(|| "-".into())
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counters;
        writeln!(
            f,
            "planned {} sent {} ok {} errors {} late {} dropped {} in {:.2}s ({:.0} req/s)",
            self.planned,
            c.sent,
            c.ok,
            c.errors,
            c.late,
            c.dropped,
            self.elapsed.as_secs_f64(),
            self.achieved_rps()
        )?;
        write!(
            f,
            "latency p50 {} p99 {} max {}",
            ms(self.p50_ms),
            ms(self.p99_ms),
            ms(self.max_ms)
        )?;
        if !c.by_version.is_empty() {
            let v: Vec<String> = c
                .by_version
                .iter()
                .map(|(k, n)| format!("{k}={n}"))
                .collect();
            write!(f, "\nby version: {}", v.join(" "))?;
        }
        Ok(())
    }
}
