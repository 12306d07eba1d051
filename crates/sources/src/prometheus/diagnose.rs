//! Why a window found no series: which matcher to fix, told from the data.
//!
//! A gap only says "the canary selector matched no series"; the cause may be
//! a metric name that does not exist, a base `selector:` (a wrong `job=`)
//! that matches nothing, series that do not carry the cohort label or value,
//! or series that exist but had no samples in the window. Blaming the cohort
//! matcher for a wrong `job=` sends the operator to the wrong line, so
//! `canaryd doctor` asks Prometheus a few instant queries over the lookback
//! and names the matcher to fix, with the label values that do exist.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::time::Duration;

use canaryd_core::vocab::{RolloutKey, Timestamp};

use super::config::{MetricKind, Plan};
use super::source::PromApi;
use super::template::{eq_matcher, promql_duration, Var};
use super::window::Target;

/// One cause found, and what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What is wrong, in the user's terms.
    pub problem: String,
    /// What to change in the policy or the setup.
    pub fix: String,
}

const SENTINEL: &str = "__canaryd_selector__";

/// Metric names written right before `{{selector}}` in the plan's queries
/// (the ones whose series carry the cohorts).
pub fn metric_names(plan: &Plan) -> Vec<String> {
    let mut out = BTreeSet::new();
    for q in &plan.queries {
        if q.kind == MetricKind::Errors {
            continue;
        }
        let text = q.template.render_raw(|v| match v {
            Var::Selector => Cow::Borrowed(SENTINEL),
            _ => Cow::Borrowed("x"),
        });
        let mut rest = text.as_str();
        while let Some(at) = rest.find(&format!("{{{SENTINEL}")) {
            let before = &rest[..at];
            let start = before
                .char_indices()
                .rev()
                .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .last()
                .map_or(at, |(i, _)| i);
            if start < at {
                out.insert(before[start..].to_string());
            }
            rest = &rest[at + 1..];
        }
    }
    out.into_iter().collect()
}

/// The matchers every series of the rollout must carry besides the cohort.
fn base_matchers(plan: &Plan, target: &Target) -> Vec<String> {
    let mut m = split_matchers(&target.extra);
    m.extend(plan.fixed_matchers.iter().cloned());
    if let Some(wl) = &plan.workload_label {
        m.push(eq_matcher(wl, &target.workload));
    }
    m
}

/// Splits `a="x",b=~"y,z"` at the commas outside quotes.
fn split_matchers(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut escaped) = (Vec::new(), String::new(), false, false);
    for c in s.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                if !cur.trim().is_empty() {
                    out.push(cur.trim().to_string());
                }
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

fn label_of(matcher: &str) -> &str {
    let end = matcher.find(['=', '!', '~']).unwrap_or(matcher.len());
    matcher[..end].trim()
}

/// Asks Prometheus why `key`'s series are missing. Query errors end the
/// diagnosis early with what was found so far (doctor already reports an
/// unreachable source).
pub async fn diagnose<C: PromApi>(
    client: &C,
    plan: &Plan,
    key: &RolloutKey,
    at: Timestamp,
    lookback: Duration,
) -> Vec<Finding> {
    let target = Target::new(plan, key);
    let base = base_matchers(plan, &target);
    let l = promql_duration(lookback);
    let mut out = Vec::new();
    let values = |metric: &str, sel: &str, label: &str| {
        format!("count by ({label}) (last_over_time({metric}{{{sel}}}[{l}]))")
    };
    for metric in metric_names(plan) {
        let Ok(any) = client
            .instant(&format!("count(last_over_time({metric}[{l}]))"), at)
            .await
        else {
            return out;
        };
        if any.series.is_empty() {
            out.push(Finding {
                problem: format!(
                    "the metric `{metric}` does not exist in Prometheus (no series in the last {l})"
                ),
                fix: "check the metric name: the `convention:` or the `queries:` override in \
                      `source:`, and that the service exports it"
                    .into(),
            });
            continue;
        }
        let sel = base.join(",");
        let Ok(based) = client
            .instant(
                &format!("count(last_over_time({metric}{{{sel}}}[{l}]))"),
                at,
            )
            .await
        else {
            return out;
        };
        if based.series.is_empty() {
            for m in &base {
                let Ok(one) = client
                    .instant(&format!("count(last_over_time({metric}{{{m}}}[{l}]))"), at)
                    .await
                else {
                    return out;
                };
                if !one.series.is_empty() {
                    continue;
                }
                let label = label_of(m);
                let seen = match client.instant(&values(&metric, "", label), at).await {
                    Ok(a) => seen_values(&a, label),
                    Err(_) => Vec::new(),
                };
                out.push(Finding {
                    problem: format!(
                        "the base selector matcher `{m}` matches no series of `{metric}`; \
                         `{label}` values seen for `{metric}`: {}",
                        list(&seen)
                    ),
                    fix: format!(
                        "fix `{m}` in `source: selector:` (the cohort label is not the problem)"
                    ),
                });
            }
            if out.is_empty() {
                out.push(Finding {
                    problem: format!(
                        "the base selector `{sel}` matches no series of `{metric}` (each matcher \
                         alone matches some: together they match none)"
                    ),
                    fix: "fix `source: selector:` so that its matchers describe the same series"
                        .into(),
                });
            }
            continue;
        }
        let cl = &plan.cohort_label;
        let Ok(by_cohort) = client.instant(&values(&metric, &sel, cl), at).await else {
            return out;
        };
        let seen = seen_values(&by_cohort, cl);
        if seen.is_empty() {
            out.push(Finding {
                problem: format!(
                    "series of `{metric}{{{sel}}}` exist but none carries the cohort label `{cl}`"
                ),
                fix: "set `source: cohort_label:` to the label that tells the revisions apart \
                      (e.g. `version`, `pod_template_hash`)"
                    .into(),
            });
            continue;
        }
        let mut wanted = vec![("canary", target.canary.clone())];
        if let Some(b) = &target.baseline {
            wanted.push(("baseline", b.clone()));
        }
        let mut all_there = true;
        for (cohort, v) in wanted {
            if !seen.contains(&v) {
                all_there = false;
                out.push(Finding {
                    problem: format!(
                        "the {cohort} cohort matcher `{}` matches no series of \
                         `{metric}{{{sel}}}`; `{cl}` values seen: {}",
                        eq_matcher(cl, &v),
                        list(&seen)
                    ),
                    fix: format!(
                        "set `source: {cohort}:` to one of the values seen (or deploy the \
                         {cohort} revision with `{cl}` set)"
                    ),
                });
            }
        }
        if all_there {
            out.push(Finding {
                problem: format!(
                    "series of `{metric}{{{sel}}}` exist for both cohorts over the last {l} but \
                     had no samples in the window"
                ),
                fix: "check that traffic reaches both cohorts and that the window is longer \
                      than the scrape interval"
                    .into(),
            });
        }
    }
    out
}

fn seen_values(a: &crate::series::Answer, label: &str) -> Vec<String> {
    let set: BTreeSet<String> = a
        .series
        .iter()
        .filter_map(|s| s.labels.get(label).filter(|v| !v.is_empty()).cloned())
        .collect();
    set.into_iter().collect()
}

fn list(values: &[String]) -> String {
    if values.is_empty() {
        return "none".into();
    }
    values
        .iter()
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_split_outside_quotes_and_name_their_label() {
        let m = split_matchers(r#"job="a,b", route!~"/healthz|/metrics",x=~"q\",z""#);
        assert_eq!(
            m,
            vec![
                r#"job="a,b""#.to_string(),
                r#"route!~"/healthz|/metrics""#.to_string(),
                r#"x=~"q\",z""#.to_string()
            ]
        );
        assert_eq!(label_of(&m[0]), "job");
        assert_eq!(label_of(&m[1]), "route");
    }
}
