//! The stable revision's history over a lookback (default 7 days), for the
//! baseline gate of DESIGN.md §1.
//!
//! Figures per route and method: the window queries of the config (requests,
//! errors, latency buckets, and the saturation and custom queries when
//! configured), evaluated once at `now` with `{window}` = the lookback and the
//! selector narrowed to the stable cohort. The core applies the gate (minimum
//! history, minimum requests per route) to the [`BaselineStatus`] returned
//! here; the store caches it by workload + route + method. This function is
//! the uncached computation they wrap.
//!
//! **History hours.** How much of the lookback the stable cohort was actually
//! there, counted rather than spanned:
//! `max(count_over_time((<requests query>)[lookback:step]))` × step, with the
//! inner `{window}` set to 5 minutes (Prometheus' own staleness horizon). A
//! span (`now - min_over_time(timestamp(...))`) would count a two-day outage
//! in the middle of the week as clean history; counting the steps at which
//! the cohort had traffic data does not. The step is lookback / 2016 (5 min
//! for 7 days), at least 1 s: one cheap subquery whatever the lookback. The
//! inner 5-minute window may credit up to 5 minutes after the series ended —
//! negligible against a 24-hour minimum.

use super::config::{MetricKind, Plan};
use super::source::PromApi;
use super::window::{assemble, Batch, Target};
use canaryd_core::observation::{Baseline, BaselineStatus};
use canaryd_core::vocab::{RolloutKey, Timestamp};
use canaryd_ports::SourceError;
use std::time::Duration;

/// Inner window of the presence subquery.
const PRESENCE_WINDOW: Duration = Duration::from_secs(300);

/// The step of the presence subquery for a lookback.
pub fn presence_step(lookback: Duration) -> Duration {
    Duration::from_secs((lookback.as_secs() / 2016).max(1))
}

/// The stable cohort's history for `key`, over `lookback` before `now`.
pub async fn baseline<C: PromApi>(
    client: &C,
    plan: &Plan,
    key: &RolloutKey,
    lookback: Duration,
    now: Timestamp,
) -> Result<BaselineStatus, SourceError> {
    if lookback.is_zero() {
        return Err(SourceError::permanent(
            "baseline lookback must be longer than zero",
        ));
    }
    let batch = Batch::stable(plan, Target::new(plan, key));
    let mut answers = Vec::with_capacity(plan.queries.len());
    for q in &plan.queries {
        let text = batch.render(plan, &q.template, lookback);
        let a = client.instant(&text, now).await.map_err(|e| {
            SourceError::from(e).context(format!(
                "baseline query for `{}` over {} failed",
                q.name,
                humantime::format_duration(lookback)
            ))
        })?;
        answers.push(a);
    }
    let start = Timestamp(now.0.saturating_sub(lookback.as_millis() as i64));
    let window = assemble(plan, &batch, &answers, start, now)
        .remove(key)
        .unwrap_or_default();
    let routes: std::collections::BTreeMap<_, _> = window
        .routes
        .into_iter()
        .filter_map(|(r, rw)| rw.baseline.map(|o| (r, o)))
        .collect();
    if routes.is_empty() {
        let why = if window.gaps.is_empty() {
            "the stable cohort has no request data in the lookback".to_string()
        } else {
            window.gaps.join("; ")
        };
        return Ok(BaselineStatus::Missing(format!(
            "{why} (over the last {})",
            humantime::format_duration(lookback)
        )));
    }

    let step = presence_step(lookback);
    let Some(requests) = plan.queries.iter().find(|q| q.kind == MetricKind::Requests) else {
        return Err(SourceError::permanent(
            "the plan has no requests query (internal)",
        ));
    };
    let inner = batch.render(plan, &requests.template, PRESENCE_WINDOW);
    let presence = format!(
        "max(count_over_time(({inner})[{}:{}]))",
        super::template::promql_duration(lookback),
        super::template::promql_duration(step)
    );
    let a = client
        .instant(&presence, now)
        .await
        .map_err(|e| SourceError::from(e).context("baseline history query failed"))?;
    let steps = a
        .series
        .iter()
        .filter_map(|s| s.points.last().map(|p| p.value))
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let history_hours = (steps * step.as_secs_f64() / 3600.0).min(lookback.as_secs_f64() / 3600.0);
    Ok(BaselineStatus::Available(Baseline {
        history_hours,
        routes,
    }))
}
