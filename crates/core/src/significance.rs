//! Is a regression past a rule's threshold real, or noise?
//!
//! A threshold on raw numbers breaches on tiny counts (1 error in 1,000 vs 3
//! in 1,000 is not "3×"). A rule with a `test` only breaches when the data is
//! strong enough: its comparison says the regression would matter, the test
//! says it is unlikely under "no difference", and the standardized effect is
//! large enough. The tests themselves live in `canaryd-stats`.

use canaryd_stats::sequential::{AnytimeTest, ErrorCountTest};
use canaryd_stats::{
    chi_square_2x2, cohens_h, fisher_exact, mann_whitney_binned, Alternative, Counts,
};
use serde::{Deserialize, Serialize};

use crate::observation::{Histogram, Observation};
use crate::policy::{TestKind, TestSpec};
use crate::verdict::TestEvidence;

/// One window's contribution to a sequential error-count test: errors on
/// each side, and the canary's observed share of the requests.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Look {
    pub canary_errors: u64,
    pub baseline_errors: u64,
    pub canary_share: f64,
}

impl Look {
    /// The look a window gives, if both cohorts served requests in it.
    pub fn of(canary: &Observation, baseline: &Observation) -> Option<Look> {
        let total = canary.requests.checked_add(baseline.requests)?;
        if canary.requests == 0
            || baseline.requests == 0
            || canary.errors > canary.requests
            || baseline.errors > baseline.requests
        {
            return None;
        }
        Some(Look {
            canary_errors: canary.errors,
            baseline_errors: baseline.errors,
            canary_share: canary.requests as f64 / total as f64,
        })
    }
}

/// What the test says about a regression that already passed the rule's threshold.
#[derive(Debug, Clone, PartialEq)]
pub enum Significance {
    /// p < alpha and the effect is large enough.
    Confirmed(TestEvidence),
    /// alpha ≤ p < warn_alpha (effect large enough): warn, do not breach.
    Warning(TestEvidence),
    /// Not significant: within what noise explains.
    Noise,
    /// The test cannot run on this data (e.g. no histograms): no data is never a pass.
    Unavailable(String),
}

/// Runs `spec` on canary vs baseline. `prior` are the earlier looks of a
/// sequential test; `concurrent` says whether `baseline` was measured in the
/// same window (a share of requests is only meaningful then).
pub fn evaluate(
    spec: &TestSpec,
    canary: &Observation,
    baseline: &Observation,
    prior: &[Look],
    concurrent: bool,
) -> Significance {
    let outcome = match spec.kind {
        TestKind::ChiSquare | TestKind::Fisher => counts_test(spec.kind, canary, baseline),
        TestKind::MannWhitney => latency_test(canary, baseline),
        TestKind::SequentialErrors => sequential_test(spec, canary, baseline, prior, concurrent),
    };
    let mut ev = match outcome {
        Ok(ev) => ev,
        Err(why) => return Significance::Unavailable(why),
    };
    ev.alpha = spec.alpha;
    let big_enough = spec.min_effect.is_none_or(|m| ev.effect >= m);
    if !ev.p_value.is_finite() || !big_enough {
        return Significance::Noise;
    }
    if ev.p_value < spec.alpha {
        Significance::Confirmed(ev)
    } else if spec.warn_alpha.is_some_and(|w| ev.p_value < w) {
        Significance::Warning(ev)
    } else {
        Significance::Noise
    }
}

fn counts(o: &Observation, who: &str) -> Result<Counts, String> {
    Counts::new(o.errors, o.requests).map_err(|e| format!("{who} error counts unusable: {e}"))
}

fn counts_test(
    kind: TestKind,
    canary: &Observation,
    baseline: &Observation,
) -> Result<TestEvidence, String> {
    let (c, b) = (counts(canary, "canary")?, counts(baseline, "baseline")?);
    let r = match kind {
        // Two-sided: conservative for a one-sided question, and what people
        // reproduce with `chi2_contingency` by hand.
        TestKind::ChiSquare => chi_square_2x2(c, b, true),
        _ => fisher_exact(c, b, Alternative::Greater),
    }
    .map_err(|e| format!("{} failed: {e}", kind.name()))?;
    let effect = cohens_h(c.rate(), b.rate()).map_err(|e| format!("effect size: {e}"))?;
    Ok(TestEvidence {
        test: kind.name().into(),
        statistic: r.statistic,
        p_value: r.p_value,
        alpha: 0.0,
        effect,
        effect_name: "cohens_h".into(),
        canary_n: canary.requests,
        baseline_n: baseline.requests,
        looks: None,
    })
}

fn latency_test(canary: &Observation, baseline: &Observation) -> Result<TestEvidence, String> {
    let (Some(ch), Some(bh)) = (&canary.latency_buckets_ms, &baseline.latency_buckets_ms) else {
        return Err(
            "mann_whitney needs latency histograms (latency_buckets_ms) for both cohorts".into(),
        );
    };
    let (c, b) = per_bucket(ch, bh)?;
    let (r, delta) = mann_whitney_binned(&c, &b, Alternative::Greater)
        .map_err(|e| format!("mann_whitney failed: {e}"))?;
    Ok(TestEvidence {
        test: TestKind::MannWhitney.name().into(),
        statistic: r.statistic,
        p_value: r.p_value,
        alpha: 0.0,
        effect: delta,
        effect_name: "cliffs_delta".into(),
        canary_n: c.iter().sum(),
        baseline_n: b.iter().sum(),
        looks: None,
    })
}

/// Per-bucket counts of two cumulative histograms with the same bounds.
fn per_bucket(c: &Histogram, b: &Histogram) -> Result<(Vec<u64>, Vec<u64>), String> {
    let cs = c.sorted().map_err(|e| format!("canary {e}"))?;
    let bs = b.sorted().map_err(|e| format!("baseline {e}"))?;
    if cs.len() != bs.len() || cs.iter().zip(&bs).any(|(x, y)| x.0 != y.0) {
        return Err("canary and baseline latency histograms have different buckets".into());
    }
    let diff = |v: &[(f64, f64)]| -> Result<Vec<u64>, String> {
        let mut prev = 0.0;
        let mut out = Vec::with_capacity(v.len());
        for &(_, cum) in v {
            if cum < prev {
                return Err("a latency histogram is not cumulative".into());
            }
            out.push((cum - prev).round() as u64);
            prev = cum;
        }
        Ok(out)
    };
    Ok((diff(&cs)?, diff(&bs)?))
}

fn sequential_test(
    spec: &TestSpec,
    canary: &Observation,
    baseline: &Observation,
    prior: &[Look],
    concurrent: bool,
) -> Result<TestEvidence, String> {
    let mut t = ErrorCountTest::new(spec.alpha, Alternative::Greater)
        .map_err(|e| format!("sequential_errors: {e}"))?;
    let current = if concurrent {
        Look::of(canary, baseline)
    } else {
        None
    };
    let mut looks = 0u32;
    for l in prior.iter().chain(current.iter()) {
        t.update(l.canary_errors, l.baseline_errors, l.canary_share)
            .map_err(|e| format!("sequential_errors: {e}"))?;
        looks += 1;
    }
    if looks == 0 {
        return Err("sequential_errors has no window with both cohorts serving yet".into());
    }
    let (ce, be) = t.errors();
    let effect = cohens_h(
        canary.errors as f64 / canary.requests.max(1) as f64,
        baseline.errors as f64 / baseline.requests.max(1) as f64,
    )
    .map_err(|e| format!("effect size: {e}"))?;
    Ok(TestEvidence {
        test: TestKind::SequentialErrors.name().into(),
        statistic: t.log_evidence(),
        p_value: t.p_value(),
        alpha: 0.0,
        effect,
        effect_name: "cohens_h".into(),
        canary_n: ce,
        baseline_n: be,
        looks: Some(looks),
    })
}
