//! Collector health: can Prometheus still see the canary?
//!
//! A window's numbers are only evidence if the canary was being scraped while
//! it ran. Each window therefore also reads the canary's scrape targets
//! (`up.targets` in the config):
//! - no `up` series at all: the canary is not scraped (wrong selector, or
//!   service discovery lost it);
//! - `up == 0`: Prometheus tried and failed (the canary is down or
//!   partitioned from the collector);
//! - `time() - timestamp(up)` above `max_staleness` (default 2× the scrape
//!   interval): the last scrape is old, Prometheus stopped scraping it.
//!
//! Any of these makes the collectors unhealthy: the rollout pauses at its
//! split and alerts, and never rolls back on that data — the canary may be
//! perfectly fine and merely invisible.
//!
//! One query checks every rollout's targets: each rollout's `up{...}` and its
//! age are tagged with `label_replace` and joined with `or`, so the check costs
//! one query per tick however many rollouts there are.
//!
//! Prometheus warnings arrive with answers that are otherwise successful.
//! Those prefixed `PromQL info:` are hints about the query (e.g. "metric might
//! not be a counter") and are only logged; any other warning (remote-read or
//! federation partial responses, mixed histogram types) may mean the numbers
//! are incomplete, so it makes the window unreliable with the warning as the
//! reason, rather than letting an incomplete count pass for a low one.

use super::config::Plan;
use super::source::PromApi;
use super::template::Var;
use super::window::Target;
use crate::error::QueryError;
use canaryd_core::vocab::{RolloutKey, Timestamp};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

/// What the `up` check found for one rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Every canary target is up and freshly scraped.
    Healthy,
    /// A target is down, missing or stale; the message says which and how.
    Unhealthy(String),
}

/// Whether a Prometheus warning may mean the answer is incomplete.
pub fn warning_means_partial(warning: &str) -> bool {
    !warning
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("promql info")
}

const TAG: &str = "canaryd_check";

/// The canary's `up` selector for one rollout.
fn up_selector(plan: &Plan, t: &Target) -> Option<String> {
    let up = plan.up.as_ref()?;
    Some(up.targets.render(|v| match v {
        Var::Workload => Cow::Borrowed(t.workload.as_str()),
        Var::Namespace => Cow::Borrowed(t.namespace.as_str()),
        Var::Canary => Cow::Borrowed(t.canary.as_str()),
        _ => Cow::Borrowed(""),
    }))
}

/// The single query checking every distinct selector, tagged `up_i` / `age_i`.
pub fn up_query(selectors: &[String]) -> String {
    selectors
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "label_replace(up{{{s}}}, \"{TAG}\", \"up_{i}\", \"__name__\", \".*\") or \
                 label_replace(time() - timestamp(up{{{s}}}), \"{TAG}\", \"age_{i}\", \"__name__\", \".*\")"
            )
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Checks the canary scrape targets of every rollout. Rollouts are absent
/// from the map when the config has no `up` section.
pub async fn check_up<C: PromApi>(
    plan: &Plan,
    client: &C,
    targets: &[Target],
    at: Timestamp,
) -> Result<BTreeMap<RolloutKey, Health>, QueryError> {
    let Some(up) = &plan.up else {
        return Ok(BTreeMap::new());
    };
    let mut selectors: Vec<String> = Vec::new();
    let mut index: Vec<(RolloutKey, usize)> = Vec::new();
    for t in targets {
        let Some(s) = up_selector(plan, t) else {
            continue;
        };
        let i = match selectors.iter().position(|x| *x == s) {
            Some(i) => i,
            None => {
                selectors.push(s);
                selectors.len() - 1
            }
        };
        index.push((t.key.clone(), i));
    }
    if selectors.is_empty() {
        return Ok(BTreeMap::new());
    }
    let answer = client.instant(&up_query(&selectors), at).await?;
    let mut ups: Vec<Vec<(String, f64)>> = vec![Vec::new(); selectors.len()];
    let mut ages: Vec<Vec<(String, f64)>> = vec![Vec::new(); selectors.len()];
    for s in &answer.series {
        let Some(tag) = s.labels.get(TAG) else {
            continue;
        };
        let instance = s
            .labels
            .get("instance")
            .cloned()
            .unwrap_or_else(|| "?".into());
        let v = s.points.last().map(|p| p.value).unwrap_or(f64::NAN);
        let parsed = tag
            .split_once('_')
            .and_then(|(k, i)| Some((k, i.parse::<usize>().ok()?)));
        match parsed {
            Some(("up", i)) if i < ups.len() => ups[i].push((instance, v)),
            Some(("age", i)) if i < ages.len() => ages[i].push((instance, v)),
            _ => {}
        }
    }
    let verdicts: Vec<Health> = selectors
        .iter()
        .enumerate()
        .map(|(i, s)| judge(s, &ups[i], &ages[i], up.max_staleness))
        .collect();
    Ok(index
        .into_iter()
        .map(|(k, i)| (k, verdicts[i].clone()))
        .collect())
}

fn judge(
    selector: &str,
    ups: &[(String, f64)],
    ages: &[(String, f64)],
    max_staleness: Duration,
) -> Health {
    if ups.is_empty() {
        return Health::Unhealthy(format!(
            "no scrape target matches `up{{{selector}}}`: Prometheus is not scraping the canary"
        ));
    }
    let mut reasons = Vec::new();
    for (instance, v) in ups {
        if *v != 1.0 {
            reasons.push(format!(
                "canary scrape target {instance} is down (`up` = {v})"
            ));
        }
    }
    for (instance, age) in ages {
        if !age.is_finite() || *age > max_staleness.as_secs_f64() {
            reasons.push(format!(
                "last scrape of canary target {instance} is {age:.1}s old, more than {}",
                humantime::format_duration(max_staleness)
            ));
        }
    }
    if reasons.is_empty() {
        Health::Healthy
    } else {
        Health::Unhealthy(reasons.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_down_and_stale_targets_are_named() {
        let s = Duration::from_secs(2);
        assert!(
            matches!(judge("job=\"c\"", &[], &[], s), Health::Unhealthy(r) if r.contains("up{job=\"c\"}"))
        );
        let down = judge("x", &[("a:1".into(), 0.0)], &[("a:1".into(), 0.5)], s);
        assert!(matches!(down, Health::Unhealthy(r) if r.contains("a:1 is down")));
        let stale = judge("x", &[("a:1".into(), 1.0)], &[("a:1".into(), 7.0)], s);
        assert!(matches!(stale, Health::Unhealthy(r) if r.contains("7.0s old")));
        assert_eq!(
            judge("x", &[("a:1".into(), 1.0)], &[("a:1".into(), 1.0)], s),
            Health::Healthy
        );
    }

    #[test]
    fn info_annotations_are_not_partial_data() {
        assert!(!warning_means_partial(
            "PromQL info: metric might not be a counter, name does not end in _total"
        ));
        assert!(warning_means_partial("partial response: store unavailable"));
    }

    #[test]
    fn one_query_tags_every_selector() {
        let q = up_query(&["job=\"a\"".into(), "job=\"b\"".into()]);
        assert_eq!(q.matches(" or ").count(), 3);
        assert!(q.contains("\"age_1\""));
    }
}
