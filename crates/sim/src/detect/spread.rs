//! The same benchmark at several seeds: how much each figure moves with the
//! randomness alone. A goal met at one seed and missed at the next is not
//! met; the spread (min / median / max over seeds) says which it is.

use serde::Serialize;

use super::report::{quantile, run_bench, BenchConfig, Row};
use super::runner::RunError;

/// One figure of one row across seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// Lowest value over seeds.
    pub min: f64,
    /// Median over seeds.
    pub median: f64,
    /// Highest value over seeds.
    pub max: f64,
}

impl Spread {
    /// `None` when no seed had the figure (a detection rate on an A/A row).
    pub fn of(values: &[f64]) -> Option<Spread> {
        let min = values.iter().copied().reduce(f64::min)?;
        let max = values.iter().copied().reduce(f64::max)?;
        Some(Spread {
            min,
            median: quantile(values, 0.5)?,
            max,
        })
    }
}

/// One policy on one scenario, across seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpreadRow {
    /// Policy label, as in [`Row::policy`].
    pub policy: String,
    /// Scenario name, as in [`Row::scenario`].
    pub scenario: String,
    /// Seeds run, in order.
    pub seeds: Vec<u64>,
    /// Runs at each seed.
    pub runs_per_seed: u64,
    /// See [`Row::detection_rate`].
    pub detection_rate: Option<Spread>,
    /// See [`Row::false_alarm_rate`].
    pub false_alarm_rate: Option<Spread>,
    /// See [`Row::ttd_median_s`].
    pub ttd_median_s: Option<Spread>,
    /// See [`Row::requests_to_detect_median`].
    pub requests_to_detect_median: Option<Spread>,
    /// See [`Row::wald_ratio`].
    pub wald_ratio: Option<Spread>,
    /// Every seed's own row, in the order of `seeds`.
    pub per_seed: Vec<Row>,
}

/// Runs `config` once per seed (its own `seed` is ignored) and gathers each
/// row's figures across seeds.
pub fn run_seeds(config: &BenchConfig, seeds: &[u64]) -> Result<Vec<SpreadRow>, RunError> {
    let mut by_seed = Vec::with_capacity(seeds.len());
    for &seed in seeds {
        by_seed.push(run_bench(&BenchConfig {
            seed,
            ..config.clone()
        })?);
    }
    Ok(gather(seeds, config.runs, &by_seed))
}

/// Per row (same index in every seed's table), the spread of its figures.
pub fn gather(seeds: &[u64], runs: u64, by_seed: &[Vec<Row>]) -> Vec<SpreadRow> {
    let Some(first) = by_seed.first() else {
        return Vec::new();
    };
    (0..first.len())
        .map(|i| {
            let rows: Vec<Row> = by_seed.iter().filter_map(|t| t.get(i).cloned()).collect();
            let figure = |f: fn(&Row) -> Option<f64>| {
                Spread::of(&rows.iter().filter_map(f).collect::<Vec<_>>())
            };
            SpreadRow {
                policy: first[i].policy.clone(),
                scenario: first[i].scenario.clone(),
                seeds: seeds.to_vec(),
                runs_per_seed: runs,
                detection_rate: figure(|r| r.detection_rate),
                false_alarm_rate: figure(|r| r.false_alarm_rate),
                ttd_median_s: figure(|r| r.ttd_median_s),
                requests_to_detect_median: figure(|r| r.requests_to_detect_median),
                wald_ratio: figure(|r| r.wald_ratio),
                per_seed: rows,
            }
        })
        .collect()
}

fn cell(s: Option<Spread>, show: fn(f64) -> String) -> String {
    s.map_or("–".into(), |s| {
        format!("{} / {} / {}", show(s.min), show(s.median), show(s.max))
    })
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn whole(x: f64) -> String {
    format!("{x:.0}")
}

fn ratio(x: f64) -> String {
    format!("{x:.2}")
}

/// The spread as a Markdown table: each cell is min / median / max over seeds.
pub fn spread_markdown(rows: &[SpreadRow]) -> String {
    let mut s = String::from(
        "| policy | scenario | seeds × runs | detected | false alarms | TTD p50 (s) | requests to detect p50 | × Wald |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} × {} | {} | {} | {} | {} | {} |\n",
            r.policy,
            r.scenario,
            r.seeds.len(),
            r.runs_per_seed,
            cell(r.detection_rate, pct),
            cell(r.false_alarm_rate, pct),
            cell(r.ttd_median_s, whole),
            cell(r.requests_to_detect_median, whole),
            cell(r.wald_ratio, ratio),
        ));
    }
    s.push_str("\nEach cell: min / median / max over the seeds.\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seed_figure: f64, detected: Option<f64>) -> Row {
        Row {
            policy: "p".into(),
            scenario: "s".into(),
            runs: 10,
            detection_rate: detected,
            false_alarm_rate: None,
            needs_human_rate: 0.0,
            ttd_median_s: Some(seed_figure),
            ttd_p90_s: None,
            bad_requests_median: None,
            promote_median_s: None,
            wald_bound_requests: None,
            requests_to_detect_median: None,
            wald_ratio: Some(seed_figure / 100.0),
        }
    }

    #[test]
    fn spread_is_min_median_max_over_seeds() {
        let tables = vec![
            vec![row(300.0, Some(1.0))],
            vec![row(100.0, Some(0.9))],
            vec![row(200.0, None)],
        ];
        let g = gather(&[1, 2, 3], 10, &tables);
        assert_eq!(g.len(), 1);
        let ttd = g[0].ttd_median_s.unwrap();
        assert_eq!((ttd.min, ttd.median, ttd.max), (100.0, 200.0, 300.0));
        let det = g[0].detection_rate.unwrap();
        assert_eq!((det.min, det.median, det.max), (0.9, 0.95, 1.0));
        assert_eq!(g[0].false_alarm_rate, None);
        assert_eq!(g[0].per_seed.len(), 3);
        let md = spread_markdown(&g);
        assert!(md.contains("| p | s | 3 × 10 | 90.0% / 95.0% / 100.0% | – | 100 / 200 / 300 | – | 1.00 / 2.00 / 3.00 |"), "{md}");
    }
}
