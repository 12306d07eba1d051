//! Running the benchmark (policies × scenarios × runs, in parallel) and
//! turning runs into the figures users compare: detection and false-alarm
//! rates, time to detect, harm, time to promote, and the distance to Wald's
//! bound.

use serde::Serialize;

use canaryd_stats::sequential::wald_expected_sample_size;

use super::contender::PresetContender;
use super::runner::{run_one, run_with, Outcome, RunError, RunResult};
use super::scenario::Scenario;
use canaryd_core::Policy;
use std::collections::BTreeMap;

/// False-alarm rate α of Wald's bound: the benchmark's goal for canaryd.
pub const WALD_ALPHA: f64 = 0.01;
/// Miss rate β of Wald's bound.
pub const WALD_BETA: f64 = 0.05;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Names, in order: a contender's (see `contender_names`) or a key of `files`.
    pub policies: Vec<String>,
    /// A team's own policies (from policy files), by the label they run under.
    pub files: BTreeMap<String, Policy>,
    /// The situations each policy is put through.
    pub scenarios: Vec<Scenario>,
    /// Runs per policy and scenario; more runs, tighter rates.
    pub runs: u64,
    /// Master seed: the same seed gives the same figures.
    pub seed: u64,
    /// Worker threads (results do not depend on it).
    pub threads: usize,
}

/// One policy on one scenario. Figures that do not apply are `None`
/// (a detection rate on an A/A scenario, a time to promote when none promoted).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Policy label, as given in [`BenchConfig::policies`].
    pub policy: String,
    /// Scenario name (see [`Scenario::name`]).
    pub scenario: String,
    /// Runs behind the figures.
    pub runs: u64,
    /// Share of runs rolled back, when the canary was bad.
    pub detection_rate: Option<f64>,
    /// Share of runs rolled back, when the canary was good.
    pub false_alarm_rate: Option<f64>,
    /// Share of runs left waiting for a human (paused) at the horizon.
    pub needs_human_rate: f64,
    /// Median seconds from the regression's onset to the rollback, over detected runs.
    pub ttd_median_s: Option<f64>,
    /// 90th percentile of the same; the slow detections a median hides.
    pub ttd_p90_s: Option<f64>,
    /// Median over all runs of canary requests served while regressed
    /// (a missed regression counts every request until the horizon).
    pub bad_requests_median: Option<f64>,
    /// Median time to promotion, over promoted runs of a good canary.
    pub promote_median_s: Option<f64>,
    /// Wald's lower bound on expected canary requests to detect (α 0.01, β 0.05).
    pub wald_bound_requests: Option<f64>,
    /// Median canary requests served from the regression's onset to the
    /// rollback, over detected runs.
    pub requests_to_detect_median: Option<f64>,
    /// `requests_to_detect_median / wald_bound_requests`.
    pub wald_ratio: Option<f64>,
}

/// Linear-interpolation quantile (R type 7) of unsorted values.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let h = (v.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    Some(v[lo] + (v[hi] - v[lo]) * (h - lo as f64))
}

/// Wald's bound for the scenario's error regression, if it is one.
pub fn wald_bound(scenario: &Scenario) -> Option<f64> {
    let stable = scenario.routes.first()?.stable.error_rate;
    let (p0, p1) = scenario.canary.error_rates(stable)?;
    wald_expected_sample_size(p0, p1, WALD_ALPHA, WALD_BETA).ok()
}

/// The row of one policy on one scenario.
pub fn summarize(policy: &str, scenario: &Scenario, runs: &[RunResult]) -> Row {
    let n = runs.len() as u64;
    let share = |pred: &dyn Fn(&RunResult) -> bool| {
        (n > 0).then(|| runs.iter().filter(|r| pred(r)).count() as f64 / n as f64)
    };
    let rolled_back = share(&|r| r.outcome == Outcome::RolledBack);
    let bad = scenario.is_bad();
    let ttd: Vec<f64> = runs.iter().filter_map(RunResult::time_to_detect).collect();
    let harm: Vec<f64> = runs.iter().map(|r| r.bad_requests as f64).collect();
    let to_detect: Vec<f64> = runs
        .iter()
        .filter(|r| r.time_to_detect().is_some())
        .map(|r| r.bad_requests as f64)
        .collect();
    let promoted: Vec<f64> = runs
        .iter()
        .filter(|r| r.outcome == Outcome::Promoted)
        .map(|r| r.end_s)
        .collect();
    let wald = if bad { wald_bound(scenario) } else { None };
    let rtd = quantile(&to_detect, 0.5);
    Row {
        policy: policy.into(),
        scenario: scenario.name.clone(),
        runs: n,
        detection_rate: if bad { rolled_back } else { None },
        false_alarm_rate: if bad { None } else { rolled_back },
        needs_human_rate: share(&|r| r.outcome == Outcome::NeedsHuman).unwrap_or(0.0),
        ttd_median_s: if bad { quantile(&ttd, 0.5) } else { None },
        ttd_p90_s: if bad { quantile(&ttd, 0.9) } else { None },
        bad_requests_median: if bad { quantile(&harm, 0.5) } else { None },
        promote_median_s: if bad { None } else { quantile(&promoted, 0.5) },
        wald_bound_requests: wald,
        requests_to_detect_median: if bad { rtd } else { None },
        wald_ratio: match (rtd, wald) {
            (Some(r), Some(w)) if w > 0.0 => Some(r / w),
            _ => None,
        },
    }
}

/// Runs every policy on every scenario `runs` times, on `threads` threads.
/// Rows come policy-major, in the order given; the figures depend only on
/// the configuration's policies, scenarios, runs and seed.
pub fn run_bench(config: &BenchConfig) -> Result<Vec<Row>, RunError> {
    let jobs: Vec<(&str, &Scenario)> = config
        .policies
        .iter()
        .flat_map(|p| config.scenarios.iter().map(move |s| (p.as_str(), s)))
        .collect();
    let one = |policy: &str, scenario: &Scenario, index: u64| match config.files.get(policy) {
        Some(p) => {
            let routes: Vec<String> = scenario.routes.iter().map(|r| r.route.clone()).collect();
            let c = Box::new(PresetContender::with_policy(p.clone(), &routes));
            Ok(run_with(c, policy, scenario, config.seed, index))
        }
        None => run_one(policy, scenario, config.seed, index),
    };
    // Fail fast on a name before spending minutes.
    for p in &config.policies {
        if let Some(s) = config.scenarios.first() {
            one(
                p,
                &Scenario {
                    horizon_s: 0.0,
                    ..s.clone()
                },
                0,
            )?;
        }
    }
    let runs = config.runs;
    let total = jobs.len() as u64 * runs;
    let next = std::sync::atomic::AtomicU64::new(0);
    let threads = config.threads.max(1);
    let mut results: Vec<Option<RunResult>> = vec![None; total as usize];
    let chunks: Vec<Result<Vec<(u64, RunResult)>, RunError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= total {
                            return Ok(out);
                        }
                        let (policy, scenario) = jobs[(i / runs) as usize];
                        out.push((i, one(policy, scenario, i % runs)?));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    for chunk in chunks {
        for (i, r) in chunk? {
            results[i as usize] = Some(r);
        }
    }
    let mut rows = Vec::with_capacity(jobs.len());
    for (j, (policy, scenario)) in jobs.iter().enumerate() {
        let start = j * runs as usize;
        let runs: Vec<RunResult> = results[start..start + config.runs as usize]
            .iter()
            .flatten()
            .cloned()
            .collect();
        rows.push(summarize(policy, scenario, &runs));
    }
    Ok(rows)
}

fn pct(v: Option<f64>) -> String {
    v.map_or("–".into(), |x| format!("{:.1}%", x * 100.0))
}

fn secs(v: Option<f64>) -> String {
    v.map_or("–".into(), |x| format!("{x:.0}"))
}

fn count(v: Option<f64>) -> String {
    v.map_or("–".into(), |x| format!("{x:.0}"))
}

/// The rows as a Markdown table, one line per policy × scenario.
pub fn markdown(rows: &[Row]) -> String {
    let mut s = String::from(
        "| policy | scenario | runs | detected | false alarms | needs human | TTD p50 (s) | TTD p90 (s) | bad requests p50 | promote p50 (s) | requests to detect p50 | Wald bound | × Wald |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.policy,
            r.scenario,
            r.runs,
            pct(r.detection_rate),
            pct(r.false_alarm_rate),
            pct(Some(r.needs_human_rate)),
            secs(r.ttd_median_s),
            secs(r.ttd_p90_s),
            count(r.bad_requests_median),
            secs(r.promote_median_s),
            count(r.requests_to_detect_median),
            count(r.wald_bound_requests),
            r.wald_ratio.map_or("–".into(), |x| format!("{x:.2}")),
        ));
    }
    s
}

/// The rows as a JSON array.
pub fn json(rows: &[Row]) -> String {
    serde_json::to_string_pretty(rows).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wald_bound_for_error_x2_matches_a_hand_computation() {
        // p0 = 0.005, p1 = 0.01, α = 0.01, β = 0.05:
        // KL(p1||p0) = 0.01 ln 2 + 0.99 ln(0.99/0.995) = 0.0019441
        // d(0.95||0.01) = 0.95 ln 95 + 0.05 ln(0.05/0.99) = 4.1769
        // bound = 4.1769 / 0.0019441 ≈ 2148.5
        let s = Scenario::named("error-x2").unwrap();
        let kl = 0.01 * 2f64.ln() + 0.99 * (0.99f64 / 0.995).ln();
        let d = 0.95 * 95f64.ln() + 0.05 * (0.05f64 / 0.99).ln();
        let hand = d / kl;
        let b = wald_bound(&s).unwrap();
        assert!((b - hand).abs() < 1e-6, "{b} vs {hand}");
        assert!((b - 2148.5).abs() < 0.1, "{b}");
        assert_eq!(wald_bound(&Scenario::named("aa").unwrap()), None);
        assert_eq!(
            wald_bound(&Scenario::named("latency-p99x1.5").unwrap()),
            None
        );
    }

    #[test]
    fn quantiles_interpolate() {
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), Some(2.0));
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
        assert!((quantile(&[0.0, 10.0], 0.9).unwrap() - 9.0).abs() < 1e-12);
    }

    #[test]
    fn summarize_splits_detections_from_false_alarms() {
        let run = |outcome, end_s, bad| RunResult {
            outcome,
            end_s,
            onset_s: Some(0.0),
            bad_requests: bad,
            canary_requests: bad,
            windows: 1,
        };
        let bad = Scenario::named("error-x5").unwrap();
        let runs = [
            run(Outcome::RolledBack, 120.0, 100),
            run(Outcome::RolledBack, 240.0, 300),
            run(Outcome::Promoted, 600.0, 10_000),
        ];
        let r = summarize("x", &bad, &runs);
        assert_eq!(r.detection_rate, Some(2.0 / 3.0));
        assert_eq!(r.false_alarm_rate, None);
        assert_eq!(r.ttd_median_s, Some(180.0));
        assert_eq!(r.bad_requests_median, Some(300.0));
        assert_eq!(r.requests_to_detect_median, Some(200.0));
        let good = Scenario::named("aa").unwrap();
        let r = summarize("x", &good, &runs);
        assert_eq!(r.false_alarm_rate, Some(2.0 / 3.0));
        assert_eq!(r.detection_rate, None);
        assert_eq!(r.promote_median_s, Some(600.0));
    }
}
