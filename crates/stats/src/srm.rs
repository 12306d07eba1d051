//! Sample-ratio mismatch: did the canary get the traffic share we set?

use crate::binomial::binomial_test;
use crate::error::{Result, StatsError};
use crate::types::{Alternative, TestResult};

/// Tests whether the observed canary share of requests is consistent with
/// the traffic weight that was set (exact two-sided binomial test; the
/// statistic is the observed share).
///
/// **Why it matters**: a split that does not reach the canary (a sticky
/// session, a mesh rule not applied, a health check sending everyone to the
/// baseline) makes every comparison meaningless — the canary is judged on
/// traffic it did not get, or on a biased subset. A mismatch must pause the
/// rollout, never pass it.
///
/// **Threshold**: use a small alpha (0.001 is customary) since this check
/// runs every window and a false pause is cheap but not free. Pass the
/// counts of one window during which the weight was constant; when the
/// weight ramps inside a window, test each constant-weight span separately.
/// **Assumes** requests are assigned independently; session-sticky routing
/// assigns *users*, and then the right unit to count is users, not requests.
pub fn sample_ratio_mismatch(
    canary_requests: u64,
    baseline_requests: u64,
    canary_weight: f64,
) -> Result<TestResult> {
    let total = canary_requests
        .checked_add(baseline_requests)
        .ok_or(StatsError::Undefined("request counts overflow"))?;
    if !(0.0..=1.0).contains(&canary_weight) {
        return Err(StatsError::InvalidParameter {
            name: "canary_weight",
            value: canary_weight,
            why: "a traffic weight must be in [0, 1]",
        });
    }
    binomial_test(canary_requests, total, canary_weight, Alternative::TwoSided)
}
