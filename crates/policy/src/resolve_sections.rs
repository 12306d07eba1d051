//! Resolving traffic, baseline and error-budget settings (see [`super::resolve`]).

use super::draft::{Draft, F};
use super::error::Errors;
use super::resolve::fmt_d;
use canaryd_core::policy::{BaselinePolicy, ErrorBudgetGate, TrafficPolicy};

pub(crate) fn resolve_traffic(d: &Draft, errs: &mut Errors) -> Option<TrafficPolicy> {
    let min_requests_per_route = match &d.min_requests_per_route {
        F::Set(n) if n.v >= 1 => u64::try_from(n.v).ok(),
        F::Set(n) => {
            errs.push(
                n.loc,
                "traffic.min_requests_per_route",
                format!(
                    "{} is too low; at least 1 canary request per route per window is needed \
                     (thresholds on tiny counts are noise; 100–1000 is typical)",
                    n.v
                ),
            );
            None
        }
        _ => None,
    };
    let max_extensions = match &d.max_extensions {
        F::Set(n) => match u32::try_from(n.v) {
            Ok(v) => Some(v),
            Err(_) => {
                errs.push(
                    n.loc,
                    "traffic.max_extensions",
                    format!("{} is out of range; 0..={} windows", n.v, u32::MAX),
                );
                None
            }
        },
        _ => None,
    };
    Some(TrafficPolicy {
        min_requests_per_route: min_requests_per_route?,
        max_extensions: max_extensions?,
    })
}

pub(crate) fn resolve_baseline(d: &Draft, errs: &mut Errors) -> Option<BaselinePolicy> {
    let b = match &d.baseline {
        F::Set(b) => match &b.v {
            None => return Some(BaselinePolicy::None),
            Some(b) => b,
        },
        _ => return None,
    };
    let min_history = match &b.min_history {
        F::Set(h) if h.v.is_zero() => {
            errs.push(
                h.loc,
                "baseline.min_history",
                "must be longer than 0s: how much clean stable history the baseline needs \
                 before the canary may advance on its own (e.g. 24h)",
            );
            None
        }
        F::Set(h) => Some(h.v),
        _ => None,
    };
    let lookback = b.lookback.value().copied();
    if let (Some(l), Some(h)) = (lookback, min_history) {
        if l < h {
            errs.push(
                b.lookback.loc(),
                "baseline.lookback",
                format!(
                    "{} is shorter than min_history ({}); the lookback must cover at least \
                     the history it requires",
                    fmt_d(l),
                    fmt_d(h)
                ),
            );
        }
    }
    let min_requests_per_route = match &b.min_requests_per_route {
        F::Set(n) if n.v >= 1 => u64::try_from(n.v).ok(),
        F::Set(n) => {
            errs.push(
                n.loc,
                "baseline.min_requests_per_route",
                format!("{} is too low; at least 1 (e.g. 10000)", n.v),
            );
            None
        }
        _ => None,
    };
    let (lookback, min_history) = (lookback?, min_history?);
    if lookback < min_history {
        return None;
    }
    Some(BaselinePolicy::Required {
        lookback,
        min_history,
        min_requests_per_route: min_requests_per_route?,
        approval: b.approval.value().copied().unwrap_or_default(),
    })
}

pub(crate) fn resolve_error_budget(
    d: &Draft,
    errs: &mut Errors,
) -> Option<Option<ErrorBudgetGate>> {
    let g = match &d.error_budget {
        F::Set(g) => match &g.v {
            None => return Some(None),
            Some(g) => g,
        },
        _ => return None,
    };
    let defer_below = match &g.defer_below {
        F::Set(v) if v.v.is_finite() && v.v > 0.0 && v.v <= 1.0 => Some(v.v),
        F::Set(v) => {
            errs.push(
                v.loc,
                "error_budget.defer_below",
                format!(
                    "{} is out of range; the fraction of the error budget left below which \
                     advancing is deferred, in (0, 1] (e.g. 0.2 or \"20%\")",
                    v.v
                ),
            );
            None
        }
        _ => None,
    };
    let freeze_at = match &g.freeze_at {
        F::Set(v) if v.v.is_finite() && v.v >= 0.0 && v.v < 1.0 => Some(v.v),
        F::Set(v) => {
            errs.push(
                v.loc,
                "error_budget.freeze_at",
                format!(
                    "{} is out of range; the fraction of the error budget left at which the \
                     rollout freezes, in [0, 1) (e.g. 0 or \"0%\")",
                    v.v
                ),
            );
            None
        }
        _ => None,
    };
    let (defer_below, freeze_at) = (defer_below?, freeze_at?);
    if freeze_at >= defer_below {
        errs.push(
            g.freeze_at.loc().or(g.defer_below.loc()),
            "error_budget.freeze_at",
            format!(
                "{freeze_at} must be below defer_below ({defer_below}): need \
                 0 ≤ freeze_at < defer_below ≤ 1 (the rollout first defers, then freezes)"
            ),
        );
        return None;
    }
    Some(Some(ErrorBudgetGate {
        defer_below,
        freeze_at,
    }))
}
