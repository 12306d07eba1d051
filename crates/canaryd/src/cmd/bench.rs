//! `canaryd bench detect`: every policy against every scenario in virtual
//! time, side by side (see `canaryd_sim::detect`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use canaryd_sim::detect::{
    chart, contender_names, json, markdown, run_bench, run_seeds, spread_markdown, BenchConfig,
    Scenario,
};
use clap::{Args, Subcommand, ValueEnum};

use crate::{policy_file, Fail};

#[derive(Subcommand)]
pub enum BenchCmd {
    /// How fast each policy catches a bad canary, how many requests it
    /// serves first, and how often it rolls back a good one.
    Detect(DetectArgs),
}

#[derive(Args)]
pub struct DetectArgs {
    /// Rollouts per policy and scenario.
    #[arg(long, default_value_t = 1000)]
    runs: u64,
    /// Seed of the whole benchmark: the same seed gives the same figures,
    /// whatever the thread count.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run the whole benchmark once per seed and report each figure's
    /// spread across them (min / median / max): a range `1-10` or a list
    /// `1,4,9`. Replaces `--seed`; no chart.
    #[arg(long, value_parser = parse_seeds, conflicts_with_all = ["seed", "chart"])]
    seeds: Option<Seeds>,
    /// Scenarios to run (repeat or comma-separate); all by default.
    #[arg(long, value_delimiter = ',')]
    scenario: Vec<String>,
    /// Policies to compare (repeat or comma-separate): a preset or peer
    /// model by name, or a policy file (tune your own before trusting it);
    /// all named ones by default.
    #[arg(long, value_delimiter = ',')]
    policy: Vec<String>,
    /// Total requests per second, replacing every scenario's own rate.
    #[arg(long)]
    rps: Option<f64>,
    #[arg(long, value_enum, default_value_t = Output::Markdown)]
    output: Output,
    /// Write the SVG chart (time to detect, bad requests per policy) here;
    /// `--chart` alone writes `canaryd-detect.svg`.
    #[arg(long, num_args = 0..=1, default_missing_value = "canaryd-detect.svg")]
    chart: Option<PathBuf>,
    /// Worker threads (default: the machine's cores).
    #[arg(long)]
    threads: Option<usize>,
}

/// The seeds of `--seeds`.
#[derive(Clone, Debug)]
pub struct Seeds(Vec<u64>);

fn parse_seeds(s: &str) -> Result<Seeds, String> {
    let bad = |part: &str| {
        format!("`{part}` is not a seed: give a range `1-10` or a list `1,4,9` of whole numbers")
    };
    let mut seeds = Vec::new();
    for part in s.split(',').map(str::trim) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u64, u64) = (
                    a.trim().parse().map_err(|_| bad(part))?,
                    b.trim().parse().map_err(|_| bad(part))?,
                );
                if b < a || b - a >= 1000 {
                    return Err(format!(
                        "seed range `{part}` must go upwards and hold at most 1,000 seeds"
                    ));
                }
                seeds.extend(a..=b);
            }
            None => seeds.push(part.parse().map_err(|_| bad(part))?),
        }
    }
    if seeds.is_empty() {
        return Err("--seeds needs at least one seed".into());
    }
    Ok(Seeds(seeds))
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Output {
    Markdown,
    Json,
}

pub fn run(cmd: BenchCmd) -> Result<u8, Fail> {
    match cmd {
        BenchCmd::Detect(a) => detect(a),
    }
}

fn detect(args: DetectArgs) -> Result<u8, Fail> {
    if args.runs == 0 {
        return Err(Fail::invalid("--runs must be at least 1"));
    }
    let known = Scenario::defaults();
    let mut scenarios = if args.scenario.is_empty() {
        known.clone()
    } else {
        let mut v = Vec::new();
        for name in &args.scenario {
            let s = known.iter().find(|s| &s.name == name).ok_or_else(|| {
                Fail::invalid(format!(
                    "unknown scenario `{name}` (known: {})",
                    known
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            v.push(s.clone());
        }
        v
    };
    if let Some(rps) = args.rps {
        if !(rps.is_finite() && rps > 0.0) {
            return Err(Fail::invalid(format!(
                "--rps must be a positive number, got {rps}"
            )));
        }
        for s in &mut scenarios {
            s.rate_rps = rps;
        }
    }
    let names = contender_names();
    let mut files = BTreeMap::new();
    let policies: Vec<String> = if args.policy.is_empty() {
        names.iter().map(|s| s.to_string()).collect()
    } else {
        for p in &args.policy {
            if names.contains(&p.as_str()) {
                continue;
            }
            let path = Path::new(p);
            if !path.is_file() {
                return Err(Fail::invalid(format!(
                    "unknown policy `{p}`: neither a policy file nor a known name ({})",
                    names.join(", ")
                )));
            }
            files.insert(p.clone(), policy_file::load(path)?.policy);
        }
        args.policy.clone()
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let config = BenchConfig {
        policies,
        files,
        scenarios,
        runs: args.runs,
        seed: args.seed,
        threads,
    };
    let started = Instant::now();
    if let Some(Seeds(seeds)) = &args.seeds {
        let rows = run_seeds(&config, seeds).map_err(|e| Fail::invalid(e.to_string()))?;
        let took = started.elapsed();
        match args.output {
            Output::Markdown => {
                print!("{}", spread_markdown(&rows));
                println!(
                    "\n{} rollouts ({} seeds × {} runs × {} policies × {} scenarios) in {:.1}s on {} threads",
                    seeds.len() as u64
                        * args.runs
                        * (config.policies.len() * config.scenarios.len()) as u64,
                    seeds.len(),
                    args.runs,
                    config.policies.len(),
                    config.scenarios.len(),
                    took.as_secs_f64(),
                    threads
                );
            }
            Output::Json => println!(
                "{}",
                serde_json::to_string_pretty(&rows)
                    .map_err(|e| Fail::Operational(anyhow::anyhow!("cannot encode: {e}")))?
            ),
        }
        return Ok(0);
    }
    let rows = run_bench(&config).map_err(|e| Fail::invalid(e.to_string()))?;
    let took = started.elapsed();
    match args.output {
        Output::Markdown => {
            print!("{}", markdown(&rows));
            println!(
                "\n{} rollouts ({} runs × {} policies × {} scenarios, seed {}) in {:.1}s on {} threads",
                args.runs * (config.policies.len() * config.scenarios.len()) as u64,
                args.runs,
                config.policies.len(),
                config.scenarios.len(),
                args.seed,
                took.as_secs_f64(),
                threads
            );
        }
        Output::Json => println!("{}", json(&rows)),
    }
    if let Some(path) = args.chart {
        std::fs::write(&path, chart::svg(&rows)).map_err(|e| {
            Fail::Operational(anyhow::anyhow!(
                "cannot write the chart to {}: {e}",
                path.display()
            ))
        })?;
        eprintln!("chart written to {}", path.display());
    }
    Ok(0)
}
