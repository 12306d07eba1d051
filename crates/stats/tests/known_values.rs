//! Published or hand-derived values for the estimators, intervals and
//! planning formulas that SciPy has no direct equivalent for.

use canaryd_stats::power::{
    latency_shift_sample_size, prob_superiority_for_shift, rate_ratio_power, rate_ratio_sample_size,
};
use canaryd_stats::sequential::wald_expected_sample_size;
use canaryd_stats::*;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1e-300)
}

#[test]
fn median_interval_is_the_classical_order_statistics() {
    // n = 100, median, 95%: [x_(40), x_(61)] (Bin(100, 1/2): F(39) = 0.018, F(40) = 0.028,
    // F(59) = 0.972, F(60) = 0.982).
    let x: Vec<f64> = (1..=100).rev().map(f64::from).collect();
    let r = quantile_interval(&x, 0.5, 0.95).unwrap();
    assert_eq!((r.estimate, r.low, r.high), (50.5, 40.0, 61.0));
}

#[test]
fn p99_from_too_few_samples_has_no_upper_bound() {
    let x: Vec<f64> = (1..=200).map(f64::from).collect();
    let r = quantile_interval(&x, 0.99, 0.95).unwrap();
    assert!(r.high.is_infinite() && r.low.is_finite(), "{r:?}");
    let x: Vec<f64> = (1..=1000).map(f64::from).collect();
    let r = quantile_interval(&x, 0.99, 0.95).unwrap();
    assert!(
        r.low <= r.estimate && r.estimate <= r.high && r.high < 1000.0,
        "{r:?}"
    );
}

#[test]
fn histogram_quantile_follows_prometheus() {
    let b = [
        (0.1, 50.0),
        (0.2, 80.0),
        (0.5, 95.0),
        (1.0, 99.0),
        (f64::INFINITY, 100.0),
    ];
    let h = Histogram::new(&b).unwrap();
    assert!(close(h.quantile(0.9).unwrap(), 0.4, 1e-15)); // 0.2 + 0.3 * 10/15
    assert!(close(h.quantile(0.25).unwrap(), 0.05, 1e-15)); // first bucket starts at 0
    assert_eq!(h.quantile(0.995).unwrap(), 1.0); // +Inf bucket: largest finite bound
    let r = histogram_quantile(&b, 0.9, 0.95).unwrap();
    assert_eq!(r.estimate, h.quantile(0.9).unwrap());
    assert!(r.low <= r.estimate && r.estimate <= r.high, "{r:?}");
    // 100 observations cannot bound a p99 from above.
    assert!(histogram_quantile(&b, 0.99, 0.95)
        .unwrap()
        .high
        .is_infinite());
}

#[test]
fn histogram_refuses_broken_input() {
    let inf = f64::INFINITY;
    for bad in [
        vec![(0.1, 5.0)],
        vec![(0.1, 5.0), (0.2, 10.0)],
        vec![(0.2, 5.0), (0.1, 6.0), (inf, 7.0)],
        vec![(0.1, 5.0), (0.2, 4.0), (inf, 7.0)],
        vec![(0.1, f64::NAN), (inf, 7.0)],
    ] {
        assert!(
            matches!(
                Histogram::new(&bad),
                Err(StatsError::InvalidHistogram { .. })
            ),
            "{bad:?}"
        );
    }
    let empty = [(0.1, 0.0), (inf, 0.0)];
    assert!(histogram_quantile(&empty, 0.5, 0.95).is_err());
}

#[test]
fn rate_ratio_katz_interval() {
    // 30/10,000 vs 15/10,000: RR 2, Katz 95% CI [1.0768, 3.7148], p = 0.0282
    // (reference computed with NumPy/SciPy from the formula).
    let r = rate_ratio(
        Counts::new(30, 10_000).unwrap(),
        Counts::new(15, 10_000).unwrap(),
        0.95,
        Alternative::TwoSided,
    )
    .unwrap();
    assert!(close(r.interval.estimate, 2.0, 1e-12));
    assert!(close(r.interval.low, 1.0767769282858306, 1e-9));
    assert!(close(r.interval.high, 3.7147898463684386, 1e-9));
    assert!(close(r.test.p_value, 0.02822685126320409, 1e-9));
}

#[test]
fn rate_difference_newcombe_example() {
    // Newcombe (1998), Table II example: 56/70 vs 48/80, method 10: 0.0524 to 0.3339.
    let r = rate_difference(
        Counts::new(56, 70).unwrap(),
        Counts::new(48, 80).unwrap(),
        0.95,
        Alternative::TwoSided,
    )
    .unwrap();
    assert!(close(r.interval.estimate, 0.2, 1e-12));
    assert!((r.interval.low - 0.0524).abs() < 5e-5, "{r:?}");
    assert!((r.interval.high - 0.3339).abs() < 5e-5, "{r:?}");
}

#[test]
fn zero_errors_do_not_break_ratio_intervals() {
    let r = rate_ratio(
        Counts::new(0, 1000).unwrap(),
        Counts::new(0, 1000).unwrap(),
        0.95,
        Alternative::Greater,
    )
    .unwrap();
    assert!(r.interval.contains(r.interval.estimate) && r.interval.contains(1.0));
    assert!(rate_ratio(
        Counts {
            errors: 0,
            total: 0
        },
        Counts::new(1, 10).unwrap(),
        0.95,
        Alternative::TwoSided
    )
    .is_err());
    assert!(Counts::new(11, 10).is_err());
}

#[test]
fn effect_sizes() {
    let d = dominance(&[3.0, 4.0, 5.0], &[1.0, 2.0, 4.0]).unwrap();
    // Pairs: 3>1,3>2,3<4; 4>1,4>2,4=4; 5>1,5>2,5>4 -> 7 wins, 1 tie, 1 loss.
    assert!(close(d.common_language, 7.5 / 9.0, 1e-15));
    assert!(close(d.cliffs_delta, 6.0 / 9.0, 1e-15));
    assert!(close(
        cohens_h(0.5, 0.25).unwrap(),
        std::f64::consts::FRAC_PI_2 - std::f64::consts::FRAC_PI_3,
        1e-14
    ));
    assert!(close(
        mean_ratio(&[3.0, 3.0], &[1.0, 2.0]).unwrap(),
        2.0,
        1e-15
    ));
    assert!(mean_ratio(&[1.0], &[0.0]).is_err());
}

#[test]
fn tukey_fences() {
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 100.0];
    let o = iqr_outliers(&x, 1.5).unwrap();
    assert_eq!((o.q1, o.q3), (3.0, 7.0));
    assert_eq!((o.low_fence, o.high_fence), (-3.0, 13.0));
    assert_eq!(o.indices, vec![8]);
}

#[test]
fn planning_formulas() {
    // Fleiss without continuity correction, 1% -> 2%, equal allocation,
    // two-sided 5%, 80% power: 2318.2 per group (reference: NumPy/SciPy).
    let s = rate_ratio_sample_size(0.01, 2.0, 0.5, 0.05, 0.8, Alternative::TwoSided).unwrap();
    assert!(close(s.canary, 2318.164675512036, 1e-9) && close(s.baseline, s.canary, 1e-12));
    let power =
        rate_ratio_power(0.01, 2.0, s.canary, s.baseline, 0.05, Alternative::TwoSided).unwrap();
    assert!((power - 0.8).abs() < 1e-3, "{power}");
    // Noether: P(canary > baseline) = 0.6, equal split, 5% two-sided, 80%: N = 261.6.
    let s = latency_shift_sample_size(0.6, 0.5, 0.05, 0.8, Alternative::TwoSided).unwrap();
    assert!(close(s.total(), 261.6293244783029, 1e-9));
    assert!(close(prob_superiority_for_shift(0.0), 0.5, 1e-15));
    // A 10% slower canary on 5% of traffic needs far more requests.
    let small = latency_shift_sample_size(
        prob_superiority_for_shift(0.19),
        0.05,
        0.05,
        0.8,
        Alternative::Greater,
    )
    .unwrap();
    assert!(small.canary > 100.0 && small.baseline > 19.0 * small.canary * 0.99);
}

#[test]
fn sample_ratio_mismatch_flags_a_split_that_misses_its_weight() {
    // 10% weight, 100,000 requests: 10,000 expected.
    assert!(sample_ratio_mismatch(10_050, 89_950, 0.1).unwrap().p_value > 0.5);
    let r = sample_ratio_mismatch(9_000, 91_000, 0.1).unwrap();
    assert!(r.p_value < 1e-20, "{r:?}");
    assert!(close(r.statistic, 0.09, 1e-15));
    assert!(sample_ratio_mismatch(0, 0, 0.1).is_err());
    assert!(sample_ratio_mismatch(1, 1, 1.5).is_err());
}

#[test]
fn sprt_decides_and_wald_bound_matches_the_formula() {
    // d(0.9 || 0.05) / KL(0.02 || 0.01)
    let d = 0.9 * (0.9f64 / 0.05).ln() + 0.1 * (0.1f64 / 0.95).ln();
    let kl = 0.02 * 2f64.ln() + 0.98 * (0.98f64 / 0.99).ln();
    assert!(close(
        wald_expected_sample_size(0.01, 0.02, 0.05, 0.1).unwrap(),
        d / kl,
        1e-12
    ));
    let mut t = Sprt::new(0.01, 0.02, 0.05, 0.1).unwrap();
    assert_eq!(t.update(0, 2_000).unwrap(), SprtDecision::AcceptNull);
    let mut t = Sprt::new(0.01, 0.02, 0.05, 0.1).unwrap();
    assert_eq!(t.update(60, 2_000).unwrap(), SprtDecision::RejectNull);
    assert!(t.p_value() < 0.05 && t.rejected());
    assert!(t.update(3, 2).is_err());
}

#[test]
fn error_count_test_validates_its_input() {
    let mut t = ErrorCountTest::new(0.05, Alternative::Greater).unwrap();
    assert!(
        t.update(1, 0, 0.0).is_err(),
        "canary errors with no canary traffic"
    );
    assert!(
        t.update(0, 1, 1.0).is_err(),
        "baseline errors with no baseline traffic"
    );
    assert!(t.update(0, 1, f64::NAN).is_err());
    t.update(0, 0, 0.3).unwrap();
    assert_eq!(t.p_value(), 1.0);
    // All 12 errors on a canary holding 10% of traffic: overwhelming evidence.
    t.update(12, 0, 0.1).unwrap();
    assert!(t.rejected() && t.p_value() < 1e-6, "{}", t.p_value());
    assert!(ErrorCountTest::with_ratios(0.05, &[]).is_err());
    assert!(ErrorCountTest::new(1.5, Alternative::Greater).is_err());
}

#[test]
fn invalid_samples_are_errors_not_panics() {
    let nan = [1.0, f64::NAN];
    assert!(matches!(
        mann_whitney(&nan, &[1.0], Alternative::TwoSided, MethodChoice::Auto),
        Err(StatsError::NotFinite {
            which: "canary",
            index: 1,
            ..
        })
    ));
    assert!(matches!(
        ks_two_sample(&[1.0], &[], Alternative::TwoSided, MethodChoice::Auto),
        Err(StatsError::EmptySample { which: "baseline" })
    ));
    assert!(hodges_lehmann(&[1.0], &[2.0], 1.0, MethodChoice::Auto).is_err());
    assert!(quantile_interval(&[1.0], 1.5, 0.95).is_err());
    assert!(binomial_test(3, 2, 0.5, Alternative::TwoSided).is_err());
}
