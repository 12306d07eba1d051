//! Quantiles from cumulative (Prometheus-style) histogram buckets.

use crate::error::{Result, StatsError};
use crate::quantile::{check_q, rank_bounds};
use crate::types::{check_level, Interval};

/// A validated cumulative histogram: `(upper bound, cumulative count)` pairs,
/// bounds strictly increasing, counts non-decreasing, the last bound `+Inf`
/// (its count is the total), as Prometheus `_bucket{le=...}` series.
#[derive(Debug, Clone, Copy)]
pub struct Histogram<'a> {
    buckets: &'a [(f64, f64)],
}

impl<'a> Histogram<'a> {
    /// Checks the buckets. Unlike Prometheus, which silently repairs
    /// non-monotonic counts, we refuse them: they mean a counter reset or a
    /// scrape mixing two series, and a judge should not guess.
    pub fn new(buckets: &'a [(f64, f64)]) -> Result<Histogram<'a>> {
        let bad = |why: &str| {
            Err(StatsError::InvalidHistogram {
                why: why.to_string(),
            })
        };
        if buckets.len() < 2 {
            return bad("needs at least two buckets (one finite, then +Inf)");
        }
        if buckets.last().map(|b| b.0) != Some(f64::INFINITY) {
            return bad("the last bucket's upper bound must be +Inf");
        }
        let mut prev: Option<(f64, f64)> = None;
        for (i, &(le, c)) in buckets.iter().enumerate() {
            if le.is_nan() || (le.is_infinite() && i + 1 != buckets.len()) {
                return Err(StatsError::InvalidHistogram {
                    why: format!(
                        "bucket {i}: upper bound {le} must be finite (only the last is +Inf)"
                    ),
                });
            }
            if !c.is_finite() || c < 0.0 {
                return Err(StatsError::InvalidHistogram {
                    why: format!("bucket {i}: count {c} must be finite and >= 0"),
                });
            }
            if let Some((ple, pc)) = prev {
                if le <= ple {
                    return Err(StatsError::InvalidHistogram {
                        why: format!("bucket {i}: upper bounds must increase ({ple} then {le})"),
                    });
                }
                if c < pc {
                    return Err(StatsError::InvalidHistogram {
                        why: format!(
                            "bucket {i}: cumulative counts must not decrease ({pc} then {c})"
                        ),
                    });
                }
            }
            prev = Some((le, c));
        }
        Ok(Histogram { buckets })
    }

    /// Total number of observations (the +Inf bucket's count).
    pub fn total(&self) -> f64 {
        self.buckets[self.buckets.len() - 1].1
    }

    /// Index of the first bucket whose cumulative count reaches `rank`,
    /// searching all but the +Inf bucket (Prometheus' `sort.Search`).
    fn bucket_of(&self, rank: f64) -> usize {
        let finite = &self.buckets[..self.buckets.len() - 1];
        finite.partition_point(|b| b.1 < rank)
    }

    /// Prometheus `histogram_quantile(q, ...)` on these buckets: the value at
    /// rank q * total, interpolated linearly inside its bucket (the first
    /// bucket starts at 0 unless its bound is <= 0); a rank in the +Inf
    /// bucket returns the largest finite bound.
    pub fn quantile(&self, q: f64) -> Result<f64> {
        check_q(q)?;
        let total = self.total();
        if total <= 0.0 {
            return Err(StatsError::Undefined("the histogram has no observations"));
        }
        Ok(self.value_at_rank(q * total))
    }

    fn value_at_rank(&self, rank: f64) -> f64 {
        let b = self.bucket_of(rank);
        let n = self.buckets.len();
        if b == n - 1 {
            return self.buckets[n - 2].0;
        }
        if b == 0 && self.buckets[0].0 <= 0.0 {
            return self.buckets[0].0;
        }
        let (mut start, end, mut count, mut rank) =
            (0.0, self.buckets[b].0, self.buckets[b].1, rank);
        if b > 0 {
            start = self.buckets[b - 1].0;
            count -= self.buckets[b - 1].1;
            rank -= self.buckets[b - 1].1;
        }
        if count <= 0.0 {
            return end;
        }
        start + (end - start) * (rank / count)
    }

    /// Lower and upper edge of the bucket holding the observation of 1-based
    /// rank `r` (the +Inf bucket's upper edge is +Inf).
    fn edges_of_rank(&self, r: f64) -> (f64, f64) {
        let b = self.buckets.partition_point(|b| b.1 < r);
        let b = b.min(self.buckets.len() - 1);
        let lower = if b == 0 {
            if self.buckets[0].0 <= 0.0 {
                f64::NEG_INFINITY
            } else {
                0.0
            }
        } else {
            self.buckets[b - 1].0
        };
        (lower, self.buckets[b].0)
    }
}

/// The q-quantile of a cumulative histogram (Prometheus `histogram_quantile`)
/// with a confidence interval.
///
/// **Use it for** p95/p99 judgements when only Prometheus histograms exist.
/// Pass raw counts over the window (`increase(..._bucket[w])`), not per-second
/// rates: the interval's width depends on how many observations there are.
///
/// **Interval**: the ranks (l, u) of the order statistics that bound the
/// quantile (Binomial(total, q) on the rank, as for raw samples), mapped to
/// the *edges* of the buckets holding them — the lower edge of l's bucket and
/// the upper edge of u's — so the interval does not depend on Prometheus'
/// assumption that observations are spread evenly inside a bucket. It is
/// therefore never narrower than one bucket: coarse buckets give honest,
/// wide intervals. A rank that lands in the +Inf bucket gives `high = +inf`.
/// The first bucket is assumed to start at 0 when its bound is positive
/// (Prometheus' convention; latencies are non-negative).
pub fn histogram_quantile(buckets: &[(f64, f64)], q: f64, level: f64) -> Result<Interval> {
    check_level(level)?;
    let h = Histogram::new(buckets)?;
    let estimate = h.quantile(q)?;
    let total = h.total().round();
    let (l, u) = rank_bounds(total as u64, q, level);
    let low = if l == 0 {
        // No lower bound at this level: the lowest value the histogram allows.
        h.edges_of_rank(0.0).0
    } else {
        h.edges_of_rank(l as f64).0
    };
    let high = if u as f64 > total {
        f64::INFINITY
    } else {
        h.edges_of_rank(u as f64).1
    };
    Ok(Interval {
        estimate,
        low: low.min(estimate),
        high: high.max(estimate),
        level,
    })
}
