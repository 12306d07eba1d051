//! `canaryd stats TEST ...`: run any of the judge's statistical tests by hand,
//! so users (and we) can check a number the judge produced.
//!
//! Samples are files with one number per line (`#` starts a comment, blank
//! lines are ignored); counts are `ERRORS/TOTAL`. Bad input — an unreadable
//! or empty file, a non-number, NaN or infinity, malformed counts — exits 3
//! naming the file and line. The exit code does not depend on the p-value:
//! this is a calculator, not a gate.

use canaryd_stats::{
    chi_square_2x2, dominance, fisher_exact, hodges_lehmann, ks_two_sample, mann_whitney,
    quantile_interval, quantile_ratio_interval, rate_ratio, Alternative, Counts, Interval, Method,
    MethodChoice, StatsError, TestResult,
};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

use crate::Fail;

#[derive(Subcommand)]
pub enum StatsCmd {
    /// Mann-Whitney U: is the canary stochastically larger (slower)? SciPy `mannwhitneyu` conventions.
    MannWhitney(SampleArgs),
    /// Two-sample Kolmogorov-Smirnov: any change of distribution. SciPy `ks_2samp` conventions
    /// (`greater`: the canary's CDF lies above the baseline's, i.e. the canary is smaller).
    Ks(SampleArgs),
    /// Hodges-Lehmann shift canary - baseline with its confidence interval (plus the Mann-Whitney test).
    HodgesLehmann(SampleArgs),
    /// The q-quantile of each sample with distribution-free intervals, their ratio, and a test of
    /// equal q-quantiles (Fisher's exact test on counts above the pooled q-quantile).
    Quantile(QuantileArgs),
    /// Fisher's exact test on error counts (statistic: odds ratio).
    Fisher(CountArgs),
    /// Chi-square test on the 2x2 table of error counts (Yates-corrected unless --no-yates).
    Chi2(CountArgs),
    /// Error-rate ratio canary/baseline with its confidence interval (Katz log method).
    RateRatio(CountArgs),
}

#[derive(Clone, Copy, ValueEnum)]
pub enum AltArg {
    TwoSided,
    Greater,
    Less,
}

impl From<AltArg> for Alternative {
    fn from(a: AltArg) -> Self {
        match a {
            AltArg::TwoSided => Alternative::TwoSided,
            AltArg::Greater => Alternative::Greater,
            AltArg::Less => Alternative::Less,
        }
    }
}

#[derive(Args)]
pub struct SampleArgs {
    /// Canary sample: one number per line.
    #[arg(long)]
    canary: PathBuf,
    /// Baseline sample: one number per line.
    #[arg(long)]
    baseline: PathBuf,
    #[arg(long, value_enum, default_value = "two-sided")]
    alternative: AltArg,
    /// Confidence level of intervals.
    #[arg(long, default_value_t = 0.95)]
    level: f64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct QuantileArgs {
    #[command(flatten)]
    samples: SampleArgs,
    /// The quantile, e.g. 0.99 for p99.
    #[arg(long, default_value_t = 0.99)]
    q: f64,
}

#[derive(Args)]
pub struct CountArgs {
    /// Canary errors and requests, as ERRORS/TOTAL.
    #[arg(long)]
    canary: String,
    /// Baseline errors and requests, as ERRORS/TOTAL.
    #[arg(long)]
    baseline: String,
    #[arg(long, value_enum, default_value = "two-sided")]
    alternative: AltArg,
    /// Confidence level of intervals.
    #[arg(long, default_value_t = 0.95)]
    level: f64,
    /// chi2 only: no Yates continuity correction.
    #[arg(long)]
    no_yates: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: StatsCmd) -> Result<u8, Fail> {
    let (json, doc) = match cmd {
        StatsCmd::MannWhitney(a) => (a.json, mann_whitney_cmd(&a)?),
        StatsCmd::Ks(a) => (a.json, ks_cmd(&a)?),
        StatsCmd::HodgesLehmann(a) => (a.json, hodges_lehmann_cmd(&a)?),
        StatsCmd::Quantile(a) => (a.samples.json, quantile_cmd(&a)?),
        StatsCmd::Fisher(a) => (a.json, counts_cmd("fisher", &a)?),
        StatsCmd::Chi2(a) => (a.json, counts_cmd("chi2", &a)?),
        StatsCmd::RateRatio(a) => (a.json, counts_cmd("rate-ratio", &a)?),
    };
    if json {
        println!("{doc}");
    } else {
        print_text(&doc);
    }
    Ok(0)
}

fn invalid(e: StatsError) -> Fail {
    Fail::invalid(e.to_string())
}

/// Reads one number per line; `#` starts a comment.
fn read_sample(path: &Path) -> Result<Vec<f64>, Fail> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Fail::invalid(format!("cannot read {}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let content = line.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let v: f64 = content.parse().map_err(|_| {
            Fail::invalid(format!(
                "{}:{}: not a number: {:?}",
                path.display(),
                i + 1,
                // A bad line may be megabytes long: quote its start only.
                canaryd_secrets::shorten(content)
            ))
        })?;
        if !v.is_finite() {
            return Err(Fail::invalid(format!(
                "{}:{}: not a finite number: {:?}",
                path.display(),
                i + 1,
                canaryd_secrets::shorten(content)
            )));
        }
        out.push(v);
    }
    if out.is_empty() {
        return Err(Fail::invalid(format!(
            "{}: no numbers in the file",
            path.display()
        )));
    }
    Ok(out)
}

fn read_pair(a: &SampleArgs) -> Result<(Vec<f64>, Vec<f64>), Fail> {
    Ok((read_sample(&a.canary)?, read_sample(&a.baseline)?))
}

/// Parses `ERRORS/TOTAL`.
fn parse_counts(which: &str, s: &str) -> Result<Counts, Fail> {
    let bad = |why: &str| {
        Fail::invalid(format!(
            "--{which} {:?}: {why} (expected ERRORS/TOTAL, e.g. 12/5000)",
            canaryd_secrets::shorten(s)
        ))
    };
    let (e, t) = s.split_once('/').ok_or_else(|| bad("no '/'"))?;
    let errors: u64 = e
        .trim()
        .parse()
        .map_err(|_| bad("errors is not a whole number"))?;
    let total: u64 = t
        .trim()
        .parse()
        .map_err(|_| bad("total is not a whole number"))?;
    if total == 0 {
        return Err(bad("total is zero"));
    }
    Counts::new(errors, total).map_err(|_| bad("more errors than total"))
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Exact => "exact",
        Method::Asymptotic => "asymptotic",
    }
}

fn test_json(test: &str, alt: Alternative, r: &TestResult) -> Value {
    json!({
        "test": test,
        "alternative": alt.as_str(),
        "statistic": r.statistic,
        "p_value": r.p_value,
        "method": method_name(r.method),
    })
}

fn interval_json(i: &Interval) -> Value {
    json!({ "estimate": i.estimate, "low": i.low, "high": i.high, "level": i.level })
}

/// Adds `estimate`, `low`, `high`, `level` at the top level of `doc`.
fn with_interval(mut doc: Value, i: &Interval) -> Value {
    if let (Value::Object(d), Value::Object(extra)) = (&mut doc, interval_json(i)) {
        d.extend(extra);
    }
    doc
}

fn mann_whitney_cmd(a: &SampleArgs) -> Result<Value, Fail> {
    let (c, b) = read_pair(a)?;
    let alt = a.alternative.into();
    let r = mann_whitney(&c, &b, alt, MethodChoice::Auto).map_err(invalid)?;
    let d = dominance(&c, &b).map_err(invalid)?;
    let mut doc = test_json("mann-whitney", alt, &r);
    doc["n_canary"] = json!(c.len());
    doc["n_baseline"] = json!(b.len());
    doc["common_language_effect"] = json!(d.common_language);
    doc["cliffs_delta"] = json!(d.cliffs_delta);
    Ok(doc)
}

fn ks_cmd(a: &SampleArgs) -> Result<Value, Fail> {
    let (c, b) = read_pair(a)?;
    let alt = a.alternative.into();
    let r = ks_two_sample(&c, &b, alt, MethodChoice::Auto).map_err(invalid)?;
    let mut doc = test_json("ks", alt, &r);
    doc["n_canary"] = json!(c.len());
    doc["n_baseline"] = json!(b.len());
    Ok(doc)
}

fn hodges_lehmann_cmd(a: &SampleArgs) -> Result<Value, Fail> {
    let (c, b) = read_pair(a)?;
    let alt = a.alternative.into();
    let i = hodges_lehmann(&c, &b, a.level, MethodChoice::Auto).map_err(invalid)?;
    let r = mann_whitney(&c, &b, alt, MethodChoice::Auto).map_err(invalid)?;
    Ok(with_interval(test_json("hodges-lehmann", alt, &r), &i))
}

fn quantile_cmd(a: &QuantileArgs) -> Result<Value, Fail> {
    let s = &a.samples;
    let (c, b) = read_pair(s)?;
    let alt: Alternative = s.alternative.into();
    let ci = quantile_interval(&c, a.q, s.level).map_err(invalid)?;
    let bi = quantile_interval(&b, a.q, s.level).map_err(invalid)?;
    let ratio = quantile_ratio_interval(&c, &b, a.q, s.level).map_err(invalid)?;
    // Test of equal q-quantiles: counts above the pooled q-quantile.
    let mut pooled: Vec<f64> = c.iter().chain(&b).copied().collect();
    pooled.sort_unstable_by(f64::total_cmp);
    let threshold = quantile_interval(&pooled, a.q, s.level)
        .map_err(invalid)?
        .estimate;
    let above = |xs: &[f64]| xs.iter().filter(|&&v| v > threshold).count() as u64;
    let test = fisher_exact(
        Counts::new(above(&c), c.len() as u64).map_err(invalid)?,
        Counts::new(above(&b), b.len() as u64).map_err(invalid)?,
        alt,
    )
    .map_err(invalid)?;
    let mut doc = with_interval(
        json!({
            "test": "quantile",
            "q": a.q,
            "alternative": alt.as_str(),
            "statistic": ratio.estimate,
            "p_value": test.p_value,
            "method": "exact",
        }),
        &ratio,
    );
    doc["canary"] = interval_json(&ci);
    doc["baseline"] = interval_json(&bi);
    doc["threshold"] = json!(threshold);
    Ok(doc)
}

fn counts_cmd(test: &str, a: &CountArgs) -> Result<Value, Fail> {
    let c = parse_counts("canary", &a.canary)?;
    let b = parse_counts("baseline", &a.baseline)?;
    let alt: Alternative = a.alternative.into();
    let mut doc = match test {
        "fisher" => test_json(test, alt, &fisher_exact(c, b, alt).map_err(invalid)?),
        "chi2" => {
            let r = chi_square_2x2(c, b, !a.no_yates).map_err(invalid)?;
            let mut d = test_json(test, Alternative::TwoSided, &r);
            d["yates"] = json!(!a.no_yates);
            d
        }
        _ => {
            let r = rate_ratio(c, b, a.level, alt).map_err(invalid)?;
            with_interval(test_json(test, alt, &r.test), &r.interval)
        }
    };
    doc["canary_rate"] = json!(c.rate());
    doc["baseline_rate"] = json!(b.rate());
    Ok(doc)
}

/// `key: value` lines, nested objects indented, in a stable order.
fn print_text(doc: &Value) {
    fn show(v: &Value) -> String {
        match v {
            Value::Null => "unbounded".to_string(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
    if let Value::Object(map) = doc {
        for (k, v) in map {
            match v {
                Value::Object(inner) => {
                    println!("{k}:");
                    for (ik, iv) in inner {
                        println!("  {ik}: {}", show(iv));
                    }
                }
                _ => println!("{k}: {}", show(v)),
            }
        }
    }
}
