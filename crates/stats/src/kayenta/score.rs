//! Kayenta's weighted-sum scorer and threshold classifier.

use super::{Classification, MetricResult};
use crate::error::{Result, StatsError};

/// Kayenta's `scoreThresholds`: the summary score needed to pass, and the
/// score below which the canary fails outright.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Score >= pass: the canary passes (Kayenta UI default 95).
    pub pass: f64,
    /// pass > score >= marginal: marginal (Kayenta UI default 75).
    pub marginal: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            pass: 95.0,
            marginal: 75.0,
        }
    }
}

/// The verdict on the summary score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreClassification {
    /// Score at or above [`Thresholds::pass`]: promote.
    Pass,
    /// Between the thresholds: neither clearly good nor clearly bad; Kayenta
    /// leaves the call to whoever runs the canary.
    Marginal,
    /// Below [`Thresholds::marginal`], or failed by a critical metric or too
    /// much missing data.
    Fail,
}

/// One group's share of the score.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupScore {
    /// The group's name, as the metrics' `groups` spell it.
    pub name: String,
    /// 100 × Pass / (Pass + High + Low + NodataFailMetric); 0 when none.
    pub score: f64,
    /// No countable metric: the group counts as 100 in the summary.
    pub no_data: bool,
    /// The weight (percent) applied to this group.
    pub weight: f64,
    /// Metrics in the group classified Pass.
    pub pass: usize,
    /// Metrics classified High (significantly above control).
    pub high: usize,
    /// Metrics classified Low (significantly below control).
    pub low: usize,
    /// Metrics without data, left out of the group's score.
    pub nodata: usize,
    /// Metrics without data that must have it, counted as failures.
    pub nodata_fail_metric: usize,
}

/// The canary's score and verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// 0-100 (with weights summing to 100), rounded to two decimals.
    pub score: f64,
    /// The verdict: the score against the [`Thresholds`], or Fail outright.
    pub classification: ScoreClassification,
    /// Groups in order of first appearance in the results.
    pub groups: Vec<GroupScore>,
    /// Why the canary failed regardless of the weighted sum, if it did.
    pub reason: Option<String>,
    /// Names of critical metrics that did not pass.
    pub critical_failures: Vec<String>,
}

/// Nodata on this percentage of metrics or more fails the canary.
const NODATA_THRESHOLD: f64 = 50.0;

/// Combines metric results into Kayenta's 0-100 score and its verdict.
///
/// `group_weights` are percentages per group name (Kayenta's
/// `classifier.groupWeights`); groups present in `results` without a weight
/// share `100 - sum(weights)` equally; weights of absent groups are unused.
/// A metric in several groups counts in each. The score is 0 (and the
/// verdict Fail, whatever the thresholds) when a critical metric did not
/// pass, or when Nodata is >= 50% of the metrics: both mean the comparison
/// itself is not trustworthy, and a weighted average must not hide that.
///
/// Errors: a negative or non-finite weight, a repeated group name, or
/// thresholds that are not finite or have marginal > pass.
pub fn score<S: AsRef<str>>(
    group_weights: &[(S, f64)],
    results: &[MetricResult],
    thresholds: Thresholds,
) -> Result<Score> {
    for (i, (name, w)) in group_weights.iter().enumerate() {
        if !(w.is_finite() && *w >= 0.0) {
            return Err(StatsError::InvalidParameter {
                name: "group_weight",
                value: *w,
                why: "a group weight must be a finite percentage >= 0",
            });
        }
        if group_weights[..i]
            .iter()
            .any(|(other, _)| other.as_ref() == name.as_ref())
        {
            return Err(StatsError::InvalidParameter {
                name: "group_weight",
                value: *w,
                why: "a group is given a weight twice",
            });
        }
    }
    for (name, value) in [("pass", thresholds.pass), ("marginal", thresholds.marginal)] {
        if !value.is_finite() {
            return Err(StatsError::InvalidParameter {
                name,
                value,
                why: "a score threshold must be finite",
            });
        }
    }
    if thresholds.marginal > thresholds.pass {
        return Err(StatsError::InvalidParameter {
            name: "marginal",
            value: thresholds.marginal,
            why: "the marginal threshold must not exceed the pass threshold",
        });
    }

    let mut groups: Vec<GroupScore> = Vec::new();
    for r in results {
        for g in &r.groups {
            let idx = match groups.iter().position(|x| &x.name == g) {
                Some(i) => i,
                None => {
                    groups.push(GroupScore {
                        name: g.clone(),
                        score: 0.0,
                        no_data: true,
                        weight: 0.0,
                        pass: 0,
                        high: 0,
                        low: 0,
                        nodata: 0,
                        nodata_fail_metric: 0,
                    });
                    groups.len() - 1
                }
            };
            let gs = &mut groups[idx];
            match r.classification {
                Classification::Pass => gs.pass += 1,
                Classification::High => gs.high += 1,
                Classification::Low => gs.low += 1,
                Classification::Nodata => gs.nodata += 1,
                Classification::NodataFailMetric => gs.nodata_fail_metric += 1,
            }
        }
    }
    let weight_of = |name: &str| {
        group_weights
            .iter()
            .find(|(g, _)| g.as_ref() == name)
            .map(|(_, w)| *w)
    };
    let weight_sum: f64 = group_weights.iter().map(|(_, w)| w).sum();
    let unweighted = groups
        .iter()
        .filter(|g| weight_of(&g.name).is_none())
        .count();
    let shared = if unweighted > 0 {
        (100.0 - weight_sum) / unweighted as f64
    } else {
        0.0
    };
    let mut summary = 0.0;
    for g in &mut groups {
        let total = g.pass + g.high + g.low + g.nodata_fail_metric;
        g.no_data = total == 0;
        g.score = if g.no_data {
            0.0
        } else {
            g.pass as f64 / total as f64 * 100.0
        };
        g.weight = weight_of(&g.name).unwrap_or(shared);
        let effective = if g.no_data { 100.0 } else { g.score };
        summary += effective * (g.weight / 100.0);
    }

    let critical_failures: Vec<String> = results
        .iter()
        .filter(|r| r.critical && r.classification != Classification::Pass)
        .map(|r| r.name.clone())
        .collect();
    let nodata = results
        .iter()
        .filter(|r| r.classification == Classification::Nodata)
        .count();
    let reason = if let Some(first) = results
        .iter()
        .find(|r| r.critical && r.classification != Classification::Pass)
    {
        Some(format!(
            "canary failed: critical metric {} was {}{}",
            first.name,
            first.classification.as_str(),
            first
                .reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ))
    } else if !results.is_empty()
        && nodata as f64 / results.len() as f64 * 100.0 >= NODATA_THRESHOLD
    {
        Some(format!(
            "canary failed: {NODATA_THRESHOLD}% or more of the metrics returned no data"
        ))
    } else {
        None
    };

    let score = if reason.is_some() {
        0.0
    } else {
        round_half_up_2(summary)
    };
    let classification = if reason.is_some() {
        ScoreClassification::Fail
    } else if score >= thresholds.pass {
        ScoreClassification::Pass
    } else if score >= thresholds.marginal {
        ScoreClassification::Marginal
    } else {
        ScoreClassification::Fail
    };
    Ok(Score {
        score,
        classification,
        groups,
        reason,
        critical_failures,
    })
}

/// Rounds half up to two decimals on the shortest decimal representation of
/// `x`, as Kayenta's `MathUtils.round(x, 2)` (BigDecimal of the printed
/// double): 33.335 becomes 33.34 although its binary value is 33.33499...
fn round_half_up_2(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let text = format!("{}", x.abs());
    let (int_part, frac_part) = text.split_once('.').unwrap_or((text.as_str(), ""));
    if frac_part.len() <= 2 {
        return x;
    }
    let digits = frac_part.as_bytes();
    let Ok(int_value) = int_part.parse::<u128>() else {
        // Beyond 2^128: already far past two-decimal resolution.
        return x;
    };
    let cents = int_value * 100 + u128::from(digits[0] - b'0') * 10 + u128::from(digits[1] - b'0');
    let cents = if digits[2] >= b'5' { cents + 1 } else { cents };
    let rounded: f64 = format!("{}.{:02}", cents / 100, cents % 100)
        .parse()
        .unwrap_or(x.abs());
    if x < 0.0 {
        -rounded
    } else {
        rounded
    }
}

#[cfg(test)]
mod tests {
    use super::round_half_up_2;

    #[test]
    fn rounds_like_bigdecimal_half_up() {
        assert_eq!(round_half_up_2(33.333333333333336), 33.33);
        assert_eq!(round_half_up_2(33.335), 33.34);
        assert_eq!(round_half_up_2(66.66666666666667), 66.67);
        assert_eq!(round_half_up_2(75.0), 75.0);
        assert_eq!(round_half_up_2(99.995), 100.0);
        assert_eq!(round_half_up_2(-12.345), -12.35);
    }
}
