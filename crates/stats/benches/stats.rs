//! `cargo bench -p canaryd-stats --bench stats`
//!
//! Aims (issue 3): Mann-Whitney and KS on 100,000 vs 100,000 samples under
//! 20 ms each; bucket-based tests on 100-bucket histograms in microseconds;
//! one sequential update well under a microsecond.

use canaryd_stats::*;
use criterion::{criterion_group, criterion_main, Criterion};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, LogNormal};
use std::hint::black_box;

fn latencies(seed: u64, n: usize, mu: f64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let d = LogNormal::new(mu, 0.5).unwrap();
    (0..n).map(|_| d.sample(&mut rng)).collect()
}

fn two_sample(c: &mut Criterion) {
    let canary = latencies(1, 100_000, 3.01);
    let baseline = latencies(2, 100_000, 3.0);
    let mut g = c.benchmark_group("100k_vs_100k");
    g.sample_size(20);
    g.bench_function("mann_whitney", |b| {
        b.iter(|| {
            mann_whitney(
                black_box(&canary),
                black_box(&baseline),
                Alternative::TwoSided,
                MethodChoice::Auto,
            )
        })
    });
    g.bench_function("ks_two_sample", |b| {
        b.iter(|| {
            ks_two_sample(
                black_box(&canary),
                black_box(&baseline),
                Alternative::TwoSided,
                MethodChoice::Auto,
            )
        })
    });
    g.bench_function("hodges_lehmann", |b| {
        b.iter(|| {
            hodges_lehmann(
                black_box(&canary),
                black_box(&baseline),
                0.95,
                MethodChoice::Auto,
            )
        })
    });
    g.bench_function("quantile_interval_p99", |b| {
        b.iter(|| quantile_interval(black_box(&canary), 0.99, 0.95))
    });
    g.finish();
}

fn histogram(c: &mut Criterion) {
    // 100 buckets, exponential bounds from 1 ms, ~1.2 million observations.
    let mut acc = 0.0;
    let buckets: Vec<(f64, f64)> = (0..100)
        .map(|i| {
            let le = if i == 99 {
                f64::INFINITY
            } else {
                1.0 * 1.08f64.powi(i)
            };
            acc += 12_000.0 * (-(f64::from(i) - 45.0).powi(2) / 300.0).exp() + 1.0;
            (le, acc.round())
        })
        .collect();
    c.bench_function("histogram_quantile_p99_100_buckets", |b| {
        b.iter(|| histogram_quantile(black_box(&buckets), 0.99, 0.95))
    });
    c.bench_function("histogram_quantile_p50_100_buckets", |b| {
        b.iter(|| histogram_quantile(black_box(&buckets), 0.5, 0.95))
    });
}

fn counts(c: &mut Criterion) {
    let (canary, baseline) = (
        Counts::new(130, 50_000).unwrap(),
        Counts::new(980, 450_000).unwrap(),
    );
    c.bench_function("fisher_exact_50k_vs_450k", |b| {
        b.iter(|| fisher_exact(black_box(canary), black_box(baseline), Alternative::Greater))
    });
    c.bench_function("sample_ratio_mismatch_1m", |b| {
        b.iter(|| sample_ratio_mismatch(black_box(50_400), black_box(949_600), 0.05))
    });
}

fn sequential(c: &mut Criterion) {
    c.bench_function("error_count_test_update", |b| {
        let mut t = ErrorCountTest::new(0.05, Alternative::Greater).unwrap();
        b.iter(|| t.update(black_box(1), black_box(9), black_box(0.1)))
    });
    c.bench_function("sprt_update", |b| {
        let mut t = Sprt::new(0.01, 0.02, 0.05, 0.1).unwrap();
        b.iter(|| t.update(black_box(1), black_box(100)))
    });
}

criterion_group!(benches, two_sample, histogram, counts, sequential);
criterion_main!(benches);
