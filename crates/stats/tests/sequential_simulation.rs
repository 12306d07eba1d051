//! Simulations with fixed seeds: the anytime-valid tests keep their
//! false-alarm rate at alpha when checked after every one of 100 looks,
//! re-running a fixed-horizon Mann-Whitney every look does not, and the
//! two-sample error-count test's speed on a 2x regression is measured
//! against Wald's bound (run with `--nocapture` to see the figures; they are
//! recorded in BENCHMARKS.md).

use canaryd_stats::sequential::wald_expected_sample_size;
use canaryd_stats::{
    mann_whitney, Alternative, AnytimeTest, ErrorCountTest, LatencyTest, MethodChoice, Sprt,
};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Binomial, Distribution, LogNormal};

const ALPHA: f64 = 0.05;
const RUNS: usize = 2_000;
const LOOKS: usize = 100;

/// alpha plus three binomial standard errors for `runs` runs.
fn tolerance(runs: usize) -> f64 {
    ALPHA + 3.0 * (ALPHA * (1.0 - ALPHA) / runs as f64).sqrt()
}

/// Canary weight at a look: 5% for 30 looks, 25% for 40, then 50% (a ramp).
fn weight(look: usize) -> f64 {
    match look {
        0..30 => 0.05,
        30..70 => 0.25,
        _ => 0.5,
    }
}

fn binomial(rng: &mut StdRng, n: u64, p: f64) -> u64 {
    Binomial::new(n, p).expect("valid binomial").sample(rng)
}

#[test]
fn error_count_test_keeps_alpha_over_100_looks_while_the_weight_ramps() {
    let mut rng = StdRng::seed_from_u64(1);
    let (requests_per_look, rate) = (2_000u64, 0.01);
    let mut false_alarms = 0;
    for _ in 0..RUNS {
        let mut t = ErrorCountTest::new(ALPHA, Alternative::Greater).unwrap();
        let mut last_p = 1.0;
        for look in 0..LOOKS {
            let canary = binomial(&mut rng, requests_per_look, weight(look));
            let baseline = requests_per_look - canary;
            let (ec, eb) = (
                binomial(&mut rng, canary, rate),
                binomial(&mut rng, baseline, rate),
            );
            t.update(ec, eb, canary as f64 / requests_per_look as f64)
                .unwrap();
            assert!(
                t.p_value() <= last_p,
                "the always-valid p-value never increases"
            );
            last_p = t.p_value();
        }
        assert_eq!(t.rejected(), t.p_value() <= ALPHA);
        false_alarms += usize::from(t.rejected());
    }
    let rate = false_alarms as f64 / RUNS as f64;
    println!("ErrorCountTest: false alarms {false_alarms}/{RUNS} = {rate:.4} (alpha {ALPHA}), 100 looks each");
    assert!(
        rate <= tolerance(RUNS),
        "false-alarm rate {rate} exceeds alpha"
    );
}

#[test]
fn sprt_keeps_alpha_over_100_looks() {
    let mut rng = StdRng::seed_from_u64(2);
    let (p0, p1) = (0.01, 0.02);
    let mut false_alarms = 0;
    for _ in 0..RUNS {
        let mut t = Sprt::new(p0, p1, ALPHA, 0.1).unwrap();
        for _ in 0..LOOKS {
            t.update(binomial(&mut rng, 200, p0), 200).unwrap();
        }
        false_alarms += usize::from(t.rejected());
    }
    let rate = false_alarms as f64 / RUNS as f64;
    println!(
        "SPRT: false alarms {false_alarms}/{RUNS} = {rate:.4} (alpha {ALPHA}), 100 looks each"
    );
    assert!(
        rate <= tolerance(RUNS),
        "false-alarm rate {rate} exceeds alpha"
    );
}

#[test]
fn latency_test_keeps_alpha_over_100_looks() {
    let mut rng = StdRng::seed_from_u64(3);
    let latency = LogNormal::new(3.0, 0.6).unwrap();
    let (mut canary, mut baseline) = (Vec::new(), Vec::new());
    let mut false_alarms = 0;
    for _ in 0..RUNS {
        let mut t = LatencyTest::new(ALPHA, 0.9, Alternative::Greater).unwrap();
        for look in 0..LOOKS {
            // 100 requests a look split by the ramp; load drifts for both cohorts.
            let drift = 1.0 + 0.5 * (look as f64 / 15.0).sin();
            let nc = binomial(&mut rng, 100, weight(look)) as usize;
            canary.clear();
            baseline.clear();
            canary.extend((0..nc).map(|_| drift * latency.sample(&mut rng)));
            baseline.extend((0..100 - nc).map(|_| drift * latency.sample(&mut rng)));
            t.update(&canary, &baseline).unwrap();
        }
        false_alarms += usize::from(t.rejected());
    }
    let rate = false_alarms as f64 / RUNS as f64;
    println!("LatencyTest: false alarms {false_alarms}/{RUNS} = {rate:.4} (alpha {ALPHA}), 100 looks each");
    assert!(
        rate <= tolerance(RUNS),
        "false-alarm rate {rate} exceeds alpha"
    );
}

#[test]
fn peeking_at_a_fixed_horizon_mann_whitney_every_look_inflates_false_alarms() {
    let mut rng = StdRng::seed_from_u64(4);
    let latency = LogNormal::new(3.0, 0.6).unwrap();
    let runs = 1_000;
    let mut false_alarms = 0;
    for _ in 0..runs {
        let (mut canary, mut baseline) = (Vec::new(), Vec::new());
        for _ in 0..LOOKS {
            canary.extend((0..2).map(|_| latency.sample(&mut rng)));
            baseline.extend((0..2).map(|_| latency.sample(&mut rng)));
            let r = mann_whitney(
                &canary,
                &baseline,
                Alternative::TwoSided,
                MethodChoice::Auto,
            )
            .unwrap();
            if r.p_value <= ALPHA {
                false_alarms += 1;
                break;
            }
        }
    }
    let rate = false_alarms as f64 / runs as f64;
    println!("Mann-Whitney re-run every look: false alarms {false_alarms}/{runs} = {rate:.4} (alpha {ALPHA})");
    // Visibly above alpha: at least three times it, far outside binomial noise.
    assert!(
        rate >= 3.0 * ALPHA,
        "peeking should inflate false alarms, got {rate}"
    );
}

/// Canary requests until rejection (None when the horizon ends first).
fn requests_to_reject(
    rng: &mut StdRng,
    p0: f64,
    ratio: f64,
    share: f64,
    per_look: u64,
    horizon: usize,
    mut update: impl FnMut(u64, u64, u64, u64) -> bool,
) -> Option<u64> {
    let mut canary_requests = 0;
    for _ in 0..horizon {
        let nc = binomial(rng, per_look, share);
        let nb = per_look - nc;
        let (ec, eb) = (binomial(rng, nc, p0 * ratio), binomial(rng, nb, p0));
        canary_requests += nc;
        if update(ec, eb, nc, nb) {
            return Some(canary_requests);
        }
    }
    None
}

#[test]
fn detection_speed_on_a_2x_error_regression_against_walds_bound() {
    let mut rng = StdRng::seed_from_u64(5);
    let (p0, ratio, share, per_look, horizon) = (0.01, 2.0, 0.25, 400u64, 400usize);
    let mut summary = Vec::new();
    for name in [
        "ErrorCountTest (two-sample, no baseline rate)",
        "SPRT (p0 known, p1 = 2 p0)",
    ] {
        let (mut detected, mut total) = (0usize, 0u64);
        for _ in 0..RUNS {
            let n = if name.starts_with("SPRT") {
                let mut t = Sprt::new(p0, p0 * ratio, ALPHA, 0.01).unwrap();
                requests_to_reject(
                    &mut rng,
                    p0,
                    ratio,
                    share,
                    per_look,
                    horizon,
                    |ec, _, nc, _| {
                        t.update(ec, nc).unwrap();
                        t.rejected()
                    },
                )
            } else {
                let mut t = ErrorCountTest::new(ALPHA, Alternative::Greater).unwrap();
                requests_to_reject(
                    &mut rng,
                    p0,
                    ratio,
                    share,
                    per_look,
                    horizon,
                    |ec, eb, nc, nb| {
                        t.update(ec, eb, nc as f64 / (nc + nb) as f64).unwrap();
                        t.rejected()
                    },
                )
            };
            if let Some(n) = n {
                detected += 1;
                total += n;
            }
        }
        let power = detected as f64 / RUNS as f64;
        let mean = total as f64 / detected.max(1) as f64;
        let beta = 1.0 - power;
        let bound = wald_expected_sample_size(p0, p0 * ratio, ALPHA, beta).unwrap();
        println!(
            "{name}: detected {detected}/{RUNS} within {} canary requests; mean canary requests to reject {mean:.0}; \
             Wald's bound d(1-beta||alpha)/KL = {bound:.0} (alpha {ALPHA}, beta {beta:.4}); ratio {:.2}",
            (horizon as f64 * per_look as f64 * share) as u64,
            mean / bound
        );
        assert!(power >= 0.99, "{name}: power {power}");
        assert!(
            mean >= bound,
            "{name}: nothing beats Wald's bound ({mean} < {bound})"
        );
        summary.push(mean / bound);
    }
    assert!(
        summary[0] < 8.0,
        "the two-sample test stays within a small factor of the bound"
    );
}

/// One look of 30 s: (canary errors, baseline errors, share) at a 10%
/// weight with 2,000 requests, the canary failing at `canary_rate`.
fn look_30s(rng: &mut StdRng, canary_rate: f64) -> (u64, u64, f64) {
    let n = 2_000u64;
    let canary = binomial(rng, n, 0.10);
    let ec = binomial(rng, canary, canary_rate);
    let eb = binomial(rng, n - canary, 0.01);
    (ec, eb, canary as f64 / n as f64)
}

fn span(look: usize) -> Option<(i64, i64)> {
    let start = look as i64 * 30_000;
    Some((start, start + 30_000))
}

#[test]
fn a_transient_tolerant_test_keeps_alpha_on_a_canary_that_only_bursts_once() {
    // The canary fails at 20% (20x) for 60 s starting mid-look, which
    // touches three 30 s looks; otherwise it is healthy. Without the
    // tolerance every run rejects; with it, at most alpha of them.
    let mut rng = StdRng::seed_from_u64(11);
    let (mut plain, mut tolerant) = (0usize, 0usize);
    for _ in 0..RUNS {
        let mut p = ErrorCountTest::new(ALPHA, Alternative::Greater).unwrap();
        let mut t = ErrorCountTest::new(ALPHA, Alternative::Greater)
            .unwrap()
            .tolerating_transients(60_000)
            .unwrap();
        for look in 0..40 {
            let rate = match look {
                5 => 0.2,
                6 | 7 => 0.2,
                _ => 0.01,
            };
            let (ec, eb, share) = look_30s(&mut rng, rate);
            p.update(ec, eb, share).unwrap();
            t.update_over(ec, eb, share, span(look)).unwrap();
        }
        plain += usize::from(p.rejected());
        tolerant += usize::from(t.rejected());
    }
    let rate = tolerant as f64 / RUNS as f64;
    println!("burst of 60 s at 20x: plain test rejects {plain}/{RUNS}, tolerant {tolerant}/{RUNS}");
    assert_eq!(plain, RUNS, "the burst convinces a plain test every time");
    assert!(
        rate <= tolerance(RUNS),
        "tolerant test rejected {rate} > alpha"
    );
}

#[test]
fn a_transient_tolerant_test_still_catches_a_sustained_regression() {
    let mut rng = StdRng::seed_from_u64(12);
    let mut caught = 0;
    let mut looks_needed = Vec::new();
    for _ in 0..500 {
        let mut t = ErrorCountTest::new(ALPHA, Alternative::Greater)
            .unwrap()
            .tolerating_transients(60_000)
            .unwrap();
        for look in 0..40 {
            let (ec, eb, share) = look_30s(&mut rng, 0.02);
            t.update_over(ec, eb, share, span(look)).unwrap();
            if t.rejected() {
                caught += 1;
                looks_needed.push(look + 1);
                break;
            }
        }
    }
    looks_needed.sort_unstable();
    let median = looks_needed.get(looks_needed.len() / 2).copied();
    println!("2x regression: caught {caught}/500, median looks {median:?}");
    assert!(
        caught >= 490,
        "a 2x regression over 20 minutes is caught: {caught}/500"
    );
    // Three looks (90 s) are set aside: it cannot be faster than four.
    assert!(looks_needed.iter().all(|&l| l >= 4));
}
