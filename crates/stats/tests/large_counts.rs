//! Every test in the crate at counts far past any window: constant memory,
//! bounded time, and a clear error where a count cannot be represented —
//! never an allocation abort.
//!
//! On the code before this file, `fisher_exact` kept one `f64` per possible
//! table: 4e9 errors allocated 32 GB and 9e9 errors 72 GB, and the process
//! aborted (`memory allocation of 144000000008 bytes failed`).

use canaryd_stats::{
    binomial_test, chi_square_2x2, fisher_exact, Alternative, Counts, Method, StatsError, MAX_COUNT,
};
use proptest::prelude::*;

fn counts(errors: u64, total: u64) -> Counts {
    Counts::new(errors, total).expect("valid counts")
}

const ALTS: [Alternative; 3] = [
    Alternative::TwoSided,
    Alternative::Greater,
    Alternative::Less,
];

/// The textbook definition, for small tables: every table's probability by
/// the ratio recurrence from the mode, normalised, then the sums.
fn reference(a: u64, n1: u64, c: u64, n2: u64, alt: Alternative) -> f64 {
    let k = a + c;
    let (lo, hi) = (k.saturating_sub(n2), k.min(n1));
    let (n1f, n2f, kf) = (n1 as f64, n2 as f64, k as f64);
    let mut w = vec![0.0f64; (hi - lo + 1) as usize];
    let mode = (((kf + 1.0) * (n1f + 1.0) / (n1f + n2f + 2.0)).floor() as u64).clamp(lo, hi);
    w[(mode - lo) as usize] = 1.0;
    for x in mode..hi {
        let xf = x as f64;
        w[(x + 1 - lo) as usize] =
            w[(x - lo) as usize] * ((n1f - xf) * (kf - xf)) / ((xf + 1.0) * (n2f - kf + xf + 1.0));
    }
    for x in (lo + 1..=mode).rev() {
        let xf = x as f64;
        w[(x - 1 - lo) as usize] =
            w[(x - lo) as usize] * (xf * (n2f - kf + xf)) / ((n1f - xf + 1.0) * (kf - xf + 1.0));
    }
    let total: f64 = w.iter().sum();
    let pmf = |x: u64| w[(x - lo) as usize] / total;
    let mut terms: Vec<f64> = match alt {
        Alternative::Less => (lo..=a).map(pmf).collect(),
        Alternative::Greater => (a..=hi).map(pmf).collect(),
        Alternative::TwoSided => {
            let pa = pmf(a) * (1.0 + 1e-7);
            (lo..=hi).map(pmf).filter(|&q| q <= pa).collect()
        }
    };
    terms.sort_unstable_by(f64::total_cmp);
    terms.iter().sum::<f64>().min(1.0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// The tail sums with early termination give the full sums' p-values.
    #[test]
    fn fisher_matches_the_full_sum(
        n1 in 1u64..3_000, n2 in 1u64..3_000, fa in 0.0f64..1.0, fc in 0.0f64..1.0,
        small in prop::bool::ANY,
    ) {
        // Mostly the small error counts that canaries see, sometimes any.
        let scale = if small { 0.02 } else { 1.0 };
        let a = (n1 as f64 * fa * scale) as u64;
        let c = (n2 as f64 * fc * scale) as u64;
        prop_assume!(a + c > 0 && a + c < n1 + n2);
        for alt in ALTS {
            let r = fisher_exact(counts(a, n1), counts(c, n2), alt).unwrap();
            let want = reference(a, n1, c, n2, alt);
            prop_assert_eq!(r.method, Method::Exact);
            let tol = 1e-9 * want.max(1e-300);
            prop_assert!(
                (r.p_value - want).abs() <= tol.max(1e-15),
                "{a}/{n1} vs {c}/{n2} {alt:?}: {} vs {want}", r.p_value
            );
        }
    }
}

/// The replay from the issue: `test: {kind: fisher}` with 4e9 errors in 5e9
/// requests per cohort. One probability per possible table was 32 GB.
#[test]
fn fisher_at_billions_of_requests_is_exact_and_small() {
    let same = fisher_exact(
        counts(4_000_000_000, 5_000_000_000),
        counts(4_000_000_000, 5_000_000_000),
        Alternative::TwoSided,
    )
    .unwrap();
    assert_eq!(same.method, Method::Exact);
    assert!((same.p_value - 1.0).abs() < 1e-9, "{}", same.p_value);

    // 2e8 requests with a 2x error rate: overwhelming evidence, computed exactly.
    let worse = fisher_exact(
        counts(200_000, 200_000_000),
        counts(100_000, 200_000_000),
        Alternative::Greater,
    )
    .unwrap();
    assert_eq!(worse.method, Method::Exact);
    assert!(worse.p_value < 1e-300, "{}", worse.p_value);

    // A 1.3% shift in 10^6 errors: the exact tail agrees with the normal
    // approximation to a few percent (its error is O(1/sd)).
    let (c, b) = (
        counts(1_006_500, 10_000_000_000),
        counts(1_000_000, 10_000_000_000),
    );
    let exact = fisher_exact(c, b, Alternative::Greater).unwrap();
    let chi = chi_square_2x2(c, b, true).unwrap();
    assert_eq!(exact.method, Method::Exact);
    let ratio = exact.p_value / (chi.p_value / 2.0);
    assert!(
        (0.9..1.1).contains(&ratio),
        "{} vs {}",
        exact.p_value,
        chi.p_value / 2.0
    );
}

/// Past a standard deviation of 10^5 errors the sums would be tens of
/// millions of terms: the test says it used the normal approximation.
#[test]
fn fisher_switches_to_the_normal_approximation_past_its_size() {
    let r = fisher_exact(
        counts(MAX_COUNT / 2 + 1_000_000_000, MAX_COUNT),
        counts(MAX_COUNT / 2, MAX_COUNT),
        Alternative::TwoSided,
    )
    .unwrap();
    assert_eq!(r.method, Method::Asymptotic);
    assert!(r.p_value.is_finite() && (0.0..=1.0).contains(&r.p_value));
    assert!(
        r.p_value < 1e-6,
        "a 2e-7 shift over 4.5e15 errors is significant"
    );
}

/// `canaryd stats fisher --canary 9000000000/18446744073709551615 ...`
/// aborted the process; now it is an error naming the cohort and the limit.
#[test]
fn fisher_refuses_counts_it_cannot_represent() {
    for (c, b, which) in [
        (counts(9_000_000_000, u64::MAX), counts(10, 1_000), "canary"),
        (counts(10, 1_000), counts(0, MAX_COUNT + 1), "baseline"),
    ] {
        let e = fisher_exact(c, b, Alternative::TwoSided).unwrap_err();
        match &e {
            StatsError::CountTooLarge { which: w, max, .. } => {
                assert_eq!(*w, which);
                assert_eq!(*max, MAX_COUNT);
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains(which), "{e}");
    }
}

/// The binomial test switches to the incomplete beta function past its size:
/// at any trial count it returns a p-value in microseconds, never sums 10^19 terms.
#[test]
fn binomial_test_at_any_count() {
    let r = binomial_test(
        u64::MAX / 2 + 1_000_000_000_000,
        u64::MAX,
        0.5,
        Alternative::Greater,
    )
    .unwrap();
    assert!(r.p_value.is_finite() && (0.0..=1.0).contains(&r.p_value));
    let r = binomial_test(9_000_000_000, 18_000_000_000, 0.5, Alternative::TwoSided).unwrap();
    assert!(r.p_value > 0.5, "{}", r.p_value);
}

/// An explicit exact KS on unequal samples costs O(m * n) lattice steps
/// (2 * 10^10 here, minutes): past 10^8 it falls back to the asymptotic
/// p-value and says so, as `Auto` does past 10,000 observations.
#[test]
fn ks_exact_past_its_size_says_asymptotic() {
    use canaryd_stats::{ks_two_sample, MethodChoice};
    let canary: Vec<f64> = (0..200_000).map(|i| f64::from(i) * 1.5).collect();
    let baseline: Vec<f64> = (0..100_000).map(f64::from).collect();
    let r = ks_two_sample(
        &canary,
        &baseline,
        Alternative::TwoSided,
        MethodChoice::Exact,
    )
    .unwrap();
    assert_eq!(r.method, Method::Asymptotic);
    assert!(r.p_value < 1e-6, "{}", r.p_value);
    // Small samples still get the exact distribution they asked for.
    let r = ks_two_sample(
        &canary[..300],
        &baseline[..200],
        Alternative::TwoSided,
        MethodChoice::Exact,
    )
    .unwrap();
    assert_eq!(r.method, Method::Exact);
}

/// Mann-Whitney's exact table is only built up to m * n = 10^6 (16 MiB);
/// an explicit `Exact` past that uses the normal approximation and says so.
#[test]
fn mann_whitney_exact_past_its_size_says_asymptotic() {
    use canaryd_stats::{mann_whitney, MethodChoice};
    let canary: Vec<f64> = (0..2_000).map(|i| f64::from(i) + 0.5).collect();
    let baseline: Vec<f64> = (0..1_000).map(f64::from).collect();
    let r = mann_whitney(
        &canary,
        &baseline,
        Alternative::TwoSided,
        MethodChoice::Exact,
    )
    .unwrap();
    assert_eq!(r.method, Method::Asymptotic);
}
