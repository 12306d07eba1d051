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
use crate::policy::{Metric, TestKind, TestSpec};
use crate::tail::{self, LatencyCells};
use crate::verdict::TestEvidence;
use crate::vocab::Timestamp;

/// One window's contribution to a sequential error-count test: errors on
/// each side, and the canary's observed share of the requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Look {
    /// Canary errors in the window.
    pub canary_errors: u64,
    /// Baseline errors in the window.
    pub baseline_errors: u64,
    /// The canary's share of the window's requests: the share of the errors
    /// it would have if it were no worse than the baseline.
    pub canary_share: f64,
    /// Requests on each side, for the rates pooled over the rollout (0 in
    /// looks recorded before they were kept).
    #[serde(default)]
    pub canary_requests: u64,
    /// The baseline's side of `canary_requests`.
    #[serde(default)]
    pub baseline_requests: u64,
    /// The window's `[start, end)` in milliseconds: a test that tolerates
    /// transients needs to know which looks one burst can touch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_ms: Option<(i64, i64)>,
    /// Both cohorts' latency histograms, for a `sequential_latency` test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyCells>,
}

impl Look {
    /// The look a window over `span` gives, if both cohorts served requests in it.
    pub fn over(
        canary: &Observation,
        baseline: &Observation,
        span: (Timestamp, Timestamp),
    ) -> Option<Look> {
        Look::of(canary, baseline).map(|l| Look {
            span_ms: Some((span.0 .0, span.1 .0)),
            ..l
        })
    }

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
            canary_requests: canary.requests,
            baseline_requests: baseline.requests,
            span_ms: None,
            latency: None,
        })
    }

    /// [`Look::over`] with both cohorts' latency histograms, for a
    /// `sequential_latency` test.
    pub fn with_latency(
        canary: &Observation,
        baseline: &Observation,
        span: (Timestamp, Timestamp),
    ) -> Option<Look> {
        Look::over(canary, baseline, span).map(|l| Look {
            latency: LatencyCells::of(canary, baseline),
            ..l
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
/// sequential test; `current` is this window's look, when `baseline` was
/// measured in the same window (a share of requests is only meaningful then);
/// `grid_floor`, a ratio rule's ratio, is where a sequential test's
/// alternatives start.
pub fn evaluate(
    spec: &TestSpec,
    metric: &Metric,
    canary: &Observation,
    baseline: &Observation,
    prior: &[Look],
    current: Option<Look>,
    grid_floor: Option<f64>,
) -> Significance {
    let outcome = match spec.kind {
        TestKind::ChiSquare | TestKind::Fisher => counts_test(spec.kind, canary, baseline),
        TestKind::MannWhitney => latency_test(canary, baseline),
        TestKind::SequentialErrors => {
            sequential_test(spec, canary, baseline, prior, current, grid_floor)
        }
        TestKind::SequentialLatency => {
            tail::run(spec, metric, &latency_looks(prior, current.as_ref())).map(|r| r.evidence())
        }
    };
    match outcome {
        Ok(ev) => judged(spec, ev),
        Err(why) => Significance::Unavailable(why),
    }
}

/// A test's evidence against the spec's levels and minimum effect.
fn judged(spec: &TestSpec, mut ev: TestEvidence) -> Significance {
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
pub(crate) fn per_bucket(c: &Histogram, b: &Histogram) -> Result<(Vec<u64>, Vec<u64>), String> {
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
    current: Option<Look>,
    grid_floor: Option<f64>,
) -> Result<TestEvidence, String> {
    let run = run_sequential(spec, prior, current, grid_floor)?;
    let effect = cohens_h(
        canary.errors as f64 / canary.requests.max(1) as f64,
        baseline.errors as f64 / baseline.requests.max(1) as f64,
    )
    .map_err(|e| format!("effect size: {e}"))?;
    Ok(run.evidence(effect))
}

/// A sequential error-count test replayed over a rollout's looks.
struct SequentialRun {
    test: ErrorCountTest,
    looks: u32,
}

impl SequentialRun {
    fn evidence(&self, effect: f64) -> TestEvidence {
        let (ce, be) = self.test.errors();
        TestEvidence {
            test: TestKind::SequentialErrors.name().into(),
            statistic: self.test.log_evidence(),
            p_value: self.test.p_value(),
            alpha: 0.0,
            effect,
            effect_name: "cohens_h".into(),
            canary_n: ce,
            baseline_n: be,
            looks: Some(self.looks),
        }
    }
}

/// The alternatives of a sequential error-count test: by default ratios
/// 1.41× to 16×; under a ratio rule, from the rule's ratio (the smallest
/// regression that matters) up to 4× it, by √2 — no evidence is spent on
/// regressions the rule would let pass. They are weighted by how many
/// errors each needs to be told from 1 ([`ErrorCountTest::hardness`]): a
/// ratio near the rule's is slow to prove and gets most of the weight; a
/// large one is proved in a few errors even at a small weight.
fn alternatives(grid_floor: Option<f64>) -> Option<Vec<f64>> {
    let floor = grid_floor.filter(|f| f.is_finite() && *f > 1.0)?;
    Some(
        (0..5)
            .map(|k| floor * std::f64::consts::SQRT_2.powi(k))
            .collect(),
    )
}

fn run_sequential(
    spec: &TestSpec,
    prior: &[Look],
    current: Option<Look>,
    grid_floor: Option<f64>,
) -> Result<SequentialRun, String> {
    let made = match alternatives(grid_floor) {
        Some(ratios) => {
            let weights: Vec<f64> = ratios
                .iter()
                .map(|&r| ErrorCountTest::hardness(r))
                .collect();
            ErrorCountTest::with_weighted_ratios(spec.alpha, &ratios, &weights)
        }
        None => ErrorCountTest::new(spec.alpha, Alternative::Greater),
    };
    let mut t = made.map_err(|e| format!("sequential_errors: {e}"))?;
    if let Some(d) = spec.transient {
        t = t
            .tolerating_transients(crate::vocab::duration_ms(d))
            .map_err(|e| format!("sequential_errors: {e}"))?;
    }
    let mut looks = 0u32;
    for l in prior.iter().chain(current.iter()) {
        t.update_over(
            l.canary_errors,
            l.baseline_errors,
            l.canary_share,
            l.span_ms,
        )
        .map_err(|e| match (spec.transient, l.span_ms) {
            (Some(_), None) => "sequential_errors: a look recorded without its time span \
                                    cannot be judged by a test with `transient:`"
                .to_string(),
            _ => format!("sequential_errors: {e}"),
        })?;
        looks += 1;
    }
    if looks == 0 {
        return Err("sequential_errors has no window with both cohorts serving yet".into());
    }
    Ok(SequentialRun { test: t, looks })
}

/// A sequential test that sets transients aside speaks for the whole
/// rollout: it returns its verdict and the rates it rests on, pooled over
/// every look except those it set aside (so a rule compares its threshold
/// with the regression the test saw, not with the burst it ignored).
pub fn evaluate_tolerant(
    spec: &TestSpec,
    metric: &Metric,
    prior: &[Look],
    current: Option<Look>,
    grid_floor: Option<f64>,
) -> (Significance, Option<Rested>) {
    match spec.kind {
        TestKind::SequentialErrors => {
            let (s, p) = errors_tolerant(spec, prior, current, grid_floor);
            let rested = p.map(|p| Rested {
                canary: p.canary_rate(),
                baseline: p.baseline_rate(),
                canary_requests: p.canary_requests,
                baseline_requests: p.baseline_requests,
            });
            (s, rested)
        }
        TestKind::SequentialLatency => latency_tolerant(spec, metric, prior, current),
        k => (
            Significance::Unavailable(format!(
                "{} cannot set a transient aside (only sequential_errors and \
                 sequential_latency can)",
                k.name()
            )),
            None,
        ),
    }
}

/// The looks that carry latency histograms, with their spans.
fn latency_looks<'a>(
    prior: &'a [Look],
    current: Option<&'a Look>,
) -> Vec<(&'a LatencyCells, Option<(i64, i64)>)> {
    prior
        .iter()
        .chain(current)
        .filter_map(|l| l.latency.as_ref().map(|c| (c, l.span_ms)))
        .collect()
}

/// `sequential_latency` with a transient: the verdict, and the rule's
/// quantile of each cohort pooled over the looks it did not set aside.
fn latency_tolerant(
    spec: &TestSpec,
    metric: &Metric,
    prior: &[Look],
    current: Option<Look>,
) -> (Significance, Option<Rested>) {
    let looks = latency_looks(prior, current.as_ref());
    let run = match tail::run(spec, metric, &looks) {
        Ok(r) => r,
        Err(why) => return (Significance::Unavailable(why), None),
    };
    let skip = run.test.set_aside_looks();
    let kept: Vec<&LatencyCells> = looks
        .iter()
        .enumerate()
        .filter(|(i, _)| skip.is_none_or(|(a, b)| *i < a || *i > b))
        .map(|(_, (c, _))| *c)
        .collect();
    let q = tail::quantile_of(metric).unwrap_or(0.99);
    let rested = tail::pooled(&kept).and_then(|(ch, bh, nc, nb)| {
        Some(Rested {
            canary: ch.quantile(q).ok()?,
            baseline: bh.quantile(q).ok()?,
            canary_requests: nc,
            baseline_requests: nb,
        })
    });
    (judged(spec, run.evidence()), rested)
}

/// The values a rule whose test tolerates transients compares with its
/// threshold: the metric pooled over the rollout's looks, the set-aside
/// burst left out, and the requests behind each.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rested {
    /// The canary's value, pooled over the looks kept.
    pub canary: f64,
    /// The baseline's value, pooled over the same looks.
    pub baseline: f64,
    /// Canary requests behind `canary`.
    pub canary_requests: u64,
    /// Baseline requests behind `baseline`.
    pub baseline_requests: u64,
}

fn errors_tolerant(
    spec: &TestSpec,
    prior: &[Look],
    current: Option<Look>,
    grid_floor: Option<f64>,
) -> (Significance, Option<Pooled>) {
    let run = match run_sequential(spec, prior, current.clone(), grid_floor) {
        Ok(r) => r,
        Err(why) => return (Significance::Unavailable(why), None),
    };
    let skip = run.test.set_aside_looks();
    let kept = prior
        .iter()
        .chain(current.iter())
        .enumerate()
        .filter(|(i, _)| skip.is_none_or(|(a, b)| *i < a || *i > b))
        .map(|(_, l)| l);
    let pooled = Pooled::of(kept);
    let effect = match cohens_h(pooled.canary_rate(), pooled.baseline_rate()) {
        Ok(e) => e,
        Err(e) => return (Significance::Unavailable(format!("effect size: {e}")), None),
    };
    (judged(spec, run.evidence(effect)), Some(pooled))
}

/// Error and request counts summed over a sequential test's looks: what a
/// rule whose test tolerates transients compares with its threshold, since
/// one short window says little and the test speaks for the whole rollout.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pooled {
    /// Canary errors over the looks.
    pub canary_errors: u64,
    /// Canary requests over the looks.
    pub canary_requests: u64,
    /// Baseline errors over the looks.
    pub baseline_errors: u64,
    /// Baseline requests over the looks.
    pub baseline_requests: u64,
}

impl Pooled {
    /// The sums over `looks` (saturating: a long rollout must not overflow).
    pub fn of<'a>(looks: impl IntoIterator<Item = &'a Look>) -> Pooled {
        looks.into_iter().fold(Pooled::default(), |p, l| Pooled {
            canary_errors: p.canary_errors.saturating_add(l.canary_errors),
            canary_requests: p.canary_requests.saturating_add(l.canary_requests),
            baseline_errors: p.baseline_errors.saturating_add(l.baseline_errors),
            baseline_requests: p.baseline_requests.saturating_add(l.baseline_requests),
        })
    }

    /// The canary's pooled error rate (0 when it served nothing).
    pub fn canary_rate(&self) -> f64 {
        self.canary_errors as f64 / self.canary_requests.max(1) as f64
    }

    /// The baseline's pooled error rate (0 when it served nothing).
    pub fn baseline_rate(&self) -> f64 {
        self.baseline_errors as f64 / self.baseline_requests.max(1) as f64
    }
}
