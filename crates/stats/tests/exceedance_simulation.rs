//! `ExceedanceTest` in simulation with fixed seeds: under no regression
//! (the weight ramping, a load drift shared by both cohorts) it rejects at
//! most alpha of runs however often it is checked; one canary-only burst no
//! longer than its tolerance, however slow, does not make it reject more; a
//! tail-only regression (p99 × 1.5, median unchanged) at a 3% canary share
//! is caught.

use canaryd_stats::{AnytimeTest, ExceedanceTest};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, LogNormal, Uniform};

const ALPHA: f64 = 0.05;
const RUNS: usize = 600;
const LOOKS: usize = 30;
const LOOK_MS: i64 = 30_000;
/// The embedded router's bounds around the tail (ms).
const BOUNDS: [f64; 9] = [5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0];
/// Exceedance-rate ratios the preset mixes.
const RATIOS: [f64; 5] = [1.5, 2.12, 3.0, 4.24, 6.0];
/// z of the normal 99th percentile.
const Z99: f64 = 2.326_347_874;

fn tolerance(runs: usize) -> f64 {
    ALPHA + 3.0 * (ALPHA * (1.0 - ALPHA) / runs as f64).sqrt()
}

/// Per-bucket counts of `n` latencies from a log-normal with this median
/// and p99 (ms).
fn cells(rng: &mut StdRng, n: u64, p50: f64, p99: f64) -> Vec<u64> {
    let sigma = (p99 / p50).ln() / Z99;
    let d = LogNormal::new(p50.ln(), sigma).unwrap();
    let mut out = vec![0u64; BOUNDS.len() + 1];
    for _ in 0..n {
        let x: f64 = d.sample(rng);
        let i = BOUNDS.iter().position(|&b| x <= b).unwrap_or(BOUNDS.len());
        out[i] += 1;
    }
    out
}

/// Canary share by look: 3% for 20 looks, then 25%.
fn share(look: usize) -> f64 {
    if look < 20 {
        0.03
    } else {
        0.25
    }
}

/// One run; `canary(look, drift)` gives the canary's (p50, p99).
fn run(
    rng: &mut StdRng,
    total: u64,
    tolerant: bool,
    canary: impl Fn(usize, f64) -> (f64, f64),
) -> (bool, Option<usize>) {
    let mut t = ExceedanceTest::new(ALPHA, 0.99, &RATIOS).unwrap();
    if tolerant {
        t = t.tolerating_transients(60_000).unwrap();
    }
    let mut last_p = 1.0;
    let mut first = None;
    for look in 0..LOOKS {
        // Load drift both cohorts share: every latency ×0.8–1.2.
        let drift = Uniform::new(0.8, 1.2).unwrap().sample(rng);
        let nc = (total as f64 * share(look)).round() as u64;
        let (c50, c99) = canary(look, drift);
        let c = cells(rng, nc, c50, c99);
        let b = cells(rng, total - nc, 50.0 * drift, 300.0 * drift);
        let start = look as i64 * LOOK_MS;
        t.update_over(&BOUNDS, &c, &b, Some((start, start + LOOK_MS)))
            .unwrap();
        assert!(t.p_value() <= last_p, "the p-value never increases");
        last_p = t.p_value();
        if t.rejected() && first.is_none() {
            first = Some(look);
        }
    }
    (t.rejected(), first)
}

#[test]
fn keeps_alpha_under_no_regression_with_ramp_and_drift() {
    let mut rng = StdRng::seed_from_u64(11);
    let alarms = (0..RUNS)
        .filter(|_| run(&mut rng, 1_500, true, |_, d| (50.0 * d, 300.0 * d)).0)
        .count();
    let rate = alarms as f64 / RUNS as f64;
    println!("ExceedanceTest A/A: {alarms}/{RUNS} = {rate:.4} (alpha {ALPHA})");
    assert!(rate <= tolerance(RUNS), "false-alarm rate {rate}");
}

#[test]
fn one_burst_within_the_tolerance_does_not_raise_false_alarms() {
    // Looks 5 and 6 (60 s) of the canary at 3× latency: a cold cache.
    let burst = |look: usize, d: f64| {
        let f = if (5..7).contains(&look) { 3.0 } else { 1.0 };
        (50.0 * d * f, 300.0 * d * f)
    };
    let mut rng = StdRng::seed_from_u64(12);
    let tolerant = (0..RUNS)
        .filter(|_| run(&mut rng, 1_500, true, burst).0)
        .count();
    let mut rng = StdRng::seed_from_u64(12);
    let plain = (0..RUNS)
        .filter(|_| run(&mut rng, 1_500, false, burst).0)
        .count();
    println!("60 s burst at 3×: tolerant {tolerant}/{RUNS}, plain {plain}/{RUNS}");
    assert!(
        tolerant as f64 / RUNS as f64 <= tolerance(RUNS),
        "tolerant false alarms {tolerant}"
    );
    assert!(
        plain as f64 / RUNS as f64 > 0.5,
        "the burst is real evidence to a plain test: {plain}"
    );
}

#[test]
fn catches_a_tail_only_regression_at_a_3_percent_share() {
    let mut rng = StdRng::seed_from_u64(13);
    let mut looks = Vec::new();
    // 6,000 requests a look: 180 on the canary, as at 200 req/s, 30 s windows.
    for _ in 0..100 {
        let (rejected, first) = run(&mut rng, 6_000, true, |_, d| (50.0 * d, 450.0 * d));
        if rejected {
            looks.extend(first);
        }
    }
    looks.sort_unstable();
    println!(
        "p99 ×1.5 at 3%: caught in {}/100 runs, median look {:?}",
        looks.len(),
        looks.get(looks.len() / 2)
    );
    assert!(looks.len() >= 95, "caught in {} of 100", looks.len());
    // Before the weight moves, at 3%.
    assert!(
        looks[looks.len() / 2] < 20,
        "median look {}",
        looks[looks.len() / 2]
    );
}
