//! Invariants that must hold for any input (proptest).

use canaryd_stats::*;
use proptest::prelude::*;

fn sample(max: usize) -> impl Strategy<Value = Vec<f64>> {
    // Rounded values so that ties occur too.
    prop::collection::vec((-1000i32..1000).prop_map(|v| f64::from(v) / 10.0), 1..max)
}

fn alt() -> impl Strategy<Value = Alternative> {
    prop_oneof![
        Just(Alternative::TwoSided),
        Just(Alternative::Greater),
        Just(Alternative::Less)
    ]
}

fn method() -> impl Strategy<Value = MethodChoice> {
    prop_oneof![
        Just(MethodChoice::Auto),
        Just(MethodChoice::Exact),
        Just(MethodChoice::Asymptotic)
    ]
}

fn counts() -> impl Strategy<Value = Counts> {
    (1u64..5_000)
        .prop_flat_map(|total| (0..=total).prop_map(move |errors| Counts { errors, total }))
}

fn unit(p: f64) -> bool {
    (0.0..=1.0).contains(&p)
}

proptest! {
    #[test]
    fn mann_whitney_p_values_and_symmetry(x in sample(30), y in sample(30), m in method()) {
        let two = mann_whitney(&x, &y, Alternative::TwoSided, m).unwrap();
        let swapped = mann_whitney(&y, &x, Alternative::TwoSided, m).unwrap();
        prop_assert!(unit(two.p_value));
        prop_assert!((two.p_value - swapped.p_value).abs() < 1e-12);
        prop_assert_eq!(two.statistic + swapped.statistic, (x.len() * y.len()) as f64);
        let g = mann_whitney(&x, &y, Alternative::Greater, m).unwrap();
        let l = mann_whitney(&y, &x, Alternative::Less, m).unwrap();
        prop_assert!((g.p_value - l.p_value).abs() < 1e-12);
        // The two one-sided tails cover everything.
        let l2 = mann_whitney(&x, &y, Alternative::Less, m).unwrap();
        prop_assert!(g.p_value + l2.p_value >= 1.0 - 1e-12);
    }

    #[test]
    fn ks_p_values_and_symmetry(x in sample(40), y in sample(40), a in alt(), m in method()) {
        let r = ks_two_sample(&x, &y, a, m).unwrap();
        prop_assert!(unit(r.p_value) && unit(r.statistic));
        let two = ks_two_sample(&x, &y, Alternative::TwoSided, m).unwrap();
        let swapped = ks_two_sample(&y, &x, Alternative::TwoSided, m).unwrap();
        prop_assert_eq!(two.statistic, swapped.statistic);
        prop_assert!((two.p_value - swapped.p_value).abs() <= 1e-9 * two.p_value.max(1e-300));
        let g = ks_two_sample(&x, &y, Alternative::Greater, m).unwrap();
        let l = ks_two_sample(&y, &x, Alternative::Less, m).unwrap();
        prop_assert_eq!(g.statistic, l.statistic);
    }

    #[test]
    fn hodges_lehmann_interval_contains_estimate_and_is_antisymmetric(
        x in sample(25), y in sample(25), level in 0.5f64..0.999, m in method()
    ) {
        let r = hodges_lehmann(&x, &y, level, m).unwrap();
        prop_assert!(r.low <= r.estimate && r.estimate <= r.high, "{:?}", r);
        let s = hodges_lehmann(&y, &x, level, m).unwrap();
        prop_assert!((r.estimate + s.estimate).abs() < 1e-9);
        // A wider level never gives a narrower interval.
        let wide = hodges_lehmann(&x, &y, (level + 1.0) / 2.0, m).unwrap();
        prop_assert!(wide.low <= r.low && r.high <= wide.high);
    }

    #[test]
    fn quantile_intervals_contain_the_estimate_and_widen_with_level(
        x in sample(300), q in 0.0f64..=1.0, level in 0.5f64..0.99
    ) {
        let r = quantile_interval(&x, q, level).unwrap();
        prop_assert!(r.low <= r.estimate && r.estimate <= r.high, "{:?}", r);
        let wide = quantile_interval(&x, q, (level + 1.0) / 2.0).unwrap();
        prop_assert!(wide.low <= r.low && r.high <= wide.high);
    }

    #[test]
    fn histogram_quantiles_are_monotone_and_inside_their_interval(
        increments in prop::collection::vec(0u32..50, 2..100), q1 in 0.0f64..=1.0, q2 in 0.0f64..=1.0
    ) {
        let mut acc = 0.0;
        let mut buckets: Vec<(f64, f64)> = increments.iter().enumerate().map(|(i, &c)| {
            acc += f64::from(c);
            ((i + 1) as f64 * 0.01, acc)
        }).collect();
        buckets.push((f64::INFINITY, acc + 1.0));
        let h = Histogram::new(&buckets).unwrap();
        let (lo, hi) = if q1 <= q2 { (q1, q2) } else { (q2, q1) };
        prop_assert!(h.quantile(lo).unwrap() <= h.quantile(hi).unwrap());
        let r = histogram_quantile(&buckets, q1, 0.95).unwrap();
        prop_assert!(r.low <= r.estimate && r.estimate <= r.high, "{:?}", r);
    }

    #[test]
    fn count_tests_give_probabilities(c in counts(), b in counts(), a in alt()) {
        let f = fisher_exact(c, b, a).unwrap();
        prop_assert!(unit(f.p_value));
        let g = fisher_exact(c, b, Alternative::Greater).unwrap();
        let l = fisher_exact(c, b, Alternative::Less).unwrap();
        prop_assert!(g.p_value + l.p_value >= 1.0 - 1e-9);
        if let Ok(chi) = chi_square_2x2(c, b, true) {
            let plain = chi_square_2x2(c, b, false).unwrap();
            prop_assert!(unit(chi.p_value) && chi.p_value >= plain.p_value - 1e-15);
        }
        let rr = rate_ratio(c, b, 0.95, a).unwrap();
        prop_assert!(rr.interval.contains(rr.interval.estimate) && unit(rr.test.p_value));
        let rd = rate_difference(c, b, 0.95, a).unwrap();
        prop_assert!(rd.interval.contains(rd.interval.estimate) && unit(rd.test.p_value));
    }

    #[test]
    fn binomial_test_is_a_probability(n in 1u64..100_000, frac in 0.0f64..=1.0, p in 0.0f64..=1.0, a in alt()) {
        let k = (n as f64 * frac) as u64;
        prop_assert!(unit(binomial_test(k, n, p, a).unwrap().p_value));
    }

    #[test]
    fn error_count_p_value_never_increases(
        looks in prop::collection::vec((0u64..20, 0u64..20, 0.01f64..0.99), 1..50), a in alt()
    ) {
        let mut t = ErrorCountTest::new(0.05, a).unwrap();
        let mut last = 1.0;
        for (c, b, s) in looks {
            t.update(c, b, s).unwrap();
            prop_assert!(t.p_value() <= last && t.p_value() > 0.0);
            last = t.p_value();
        }
    }

    #[test]
    fn arbitrary_floats_never_panic(x in prop::collection::vec(any::<f64>(), 0..20), y in prop::collection::vec(any::<f64>(), 0..20)) {
        let _ = mann_whitney(&x, &y, Alternative::TwoSided, MethodChoice::Auto);
        let _ = ks_two_sample(&x, &y, Alternative::Less, MethodChoice::Auto);
        let _ = hodges_lehmann(&x, &y, 0.95, MethodChoice::Auto);
        let _ = quantile_interval(&x, 0.99, 0.95);
        let _ = dominance(&x, &y);
        let _ = mean_ratio(&x, &y);
        let _ = iqr_outliers(&x, 1.5);
        let pairs: Vec<(f64, f64)> = x.iter().zip(&y).map(|(a, b)| (*a, *b)).collect();
        let _ = histogram_quantile(&pairs, 0.5, 0.95);
    }
}
