//! Resolving the ramp (ladder or adaptive), its holds, and the check that
//! the fastest possible ramp fits `ramp_budget` (see [`super::resolve`]).

use std::time::Duration;

use super::draft::{DraftAdaptive, DraftRamp, Hold, F};
use super::error::{Errors, Loc};
use super::resolve::{fmt_d, times};
use canaryd_core::policy::{AdaptiveRamp, LadderStep, Ramp};

/// Windows a hold lasts. `field` is the step's path (`ladder[1]`, `adaptive`).
pub(crate) fn hold_windows(
    hold: &F<Hold>,
    window: Option<Duration>,
    field: &str,
    owner_loc: Loc,
    errs: &mut Errors,
) -> Option<u32> {
    let h = match hold {
        F::Set(h) => h,
        F::Bad => return None,
        F::Unset => {
            errs.push(
                owner_loc,
                format!("{field}.hold"),
                "missing: how long to hold, as `hold: 10m` (a whole multiple of window) \
                 or `hold_windows: 2`",
            );
            return None;
        }
    };
    match h.v {
        Hold::Windows(n) => match u32::try_from(n) {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                errs.push(
                    h.loc,
                    format!("{field}.hold_windows"),
                    format!(
                        "{n} is not allowed; hold at least 1 window (1..={})",
                        u32::MAX
                    ),
                );
                None
            }
        },
        Hold::Every(d) => {
            let w = window?;
            let (wn, dn) = (w.as_nanos(), d.as_nanos());
            let n = dn / wn;
            if n == 0 {
                errs.push(
                    h.loc,
                    format!("{field}.hold"),
                    format!(
                        "{} is shorter than the window ({}); a hold is a whole number of \
                         windows, e.g. {} or {}",
                        fmt_d(d),
                        fmt_d(w),
                        fmt_d(w),
                        times(w, 2).map_or_else(String::new, fmt_d)
                    ),
                );
                return None;
            }
            if dn % wn != 0 {
                errs.push(
                    h.loc,
                    format!("{field}.hold"),
                    format!(
                        "{} is not a whole multiple of the window ({}); use e.g. {} or {}, \
                         or `hold_windows:`",
                        fmt_d(d),
                        fmt_d(w),
                        times(w, n as u64).map_or_else(String::new, fmt_d),
                        times(w, n as u64 + 1).map_or_else(String::new, fmt_d)
                    ),
                );
                return None;
            }
            match u32::try_from(n) {
                Ok(n) => Some(n),
                Err(_) => {
                    errs.push(
                        h.loc,
                        format!("{field}.hold"),
                        format!("{} is {n} windows, more than {}", fmt_d(d), u32::MAX),
                    );
                    None
                }
            }
        }
    }
}

pub(crate) fn resolve_ladder(
    ramp: &DraftRamp,
    loc: Loc,
    window: Option<Duration>,
    errs: &mut Errors,
) -> Option<Ramp> {
    let DraftRamp::Ladder(steps) = ramp else {
        return None;
    };
    if steps.is_empty() {
        errs.push(
            loc,
            "ladder",
            "the ladder has no steps; give at least one, ending at 100, \
             e.g. [{weight: 10, hold: 10m}, {weight: 100, hold: 10m}]",
        );
        return None;
    }
    let mut out = Some(Vec::with_capacity(steps.len()));
    let mut prev: Option<i64> = None;
    for (i, s) in steps.iter().enumerate() {
        let field = format!("ladder[{i}]");
        let weight = match &s.weight {
            F::Set(w) if !(1..=100).contains(&w.v) => {
                errs.push(
                    w.loc,
                    format!("{field}.weight"),
                    format!(
                        "{} is out of range; a weight is the canary's percentage of traffic, 1..=100",
                        w.v
                    ),
                );
                None
            }
            F::Set(w) => {
                if let Some(p) = prev.filter(|p| w.v <= *p) {
                    errs.push(
                        w.loc,
                        format!("{field}.weight"),
                        format!(
                            "{} does not rise above the previous step's {p}; \
                             ladder weights must strictly increase",
                            w.v
                        ),
                    );
                }
                prev = Some(w.v);
                u8::try_from(w.v).ok()
            }
            F::Bad => None,
            F::Unset => {
                errs.push(
                    s.loc,
                    format!("{field}.weight"),
                    "missing: the canary's percentage of traffic at this step, 1..=100",
                );
                None
            }
        };
        if i + 1 == steps.len() {
            if let Some(w) = s.weight.get().filter(|w| (1..100).contains(&w.v)) {
                errs.push(
                    w.loc,
                    format!("{field}.weight"),
                    format!(
                        "the ladder must end at 100 so the canary can be promoted; it ends at {}",
                        w.v
                    ),
                );
            }
        }
        let hold = hold_windows(&s.hold, window, &field, s.loc, errs);
        let min_requests = step_min_requests(&s.min_requests, &field, errs);
        match (weight, hold, min_requests, out.as_mut()) {
            (Some(weight), Some(hold_windows), Some(min_requests), Some(v)) => v.push(LadderStep {
                weight,
                hold_windows,
                min_requests,
            }),
            _ => out = None,
        }
    }
    out.map(Ramp::Ladder)
}

/// A step's own request minimum: `Some(None)` when not given (the rules'
/// own minimums apply), `None` when invalid (reported).
fn step_min_requests(f: &F<i64>, field: &str, errs: &mut Errors) -> Option<Option<u64>> {
    match f {
        F::Unset => Some(None),
        F::Bad => None,
        F::Set(n) if n.v >= 1 => u64::try_from(n.v).ok().map(Some),
        F::Set(n) => {
            errs.push(
                n.loc,
                format!("{field}.min_requests"),
                format!(
                    "{} is too low; the canary requests per route every rule needs in a \
                     window at this step (replacing the rules' own min_requests), at least 1 \
                     (e.g. 100, 500, 1000 as the canary's share grows)",
                    n.v
                ),
            );
            None
        }
    }
}

fn weight_in(
    f: &F<i64>,
    range: std::ops::RangeInclusive<i64>,
    field: &str,
    what: &str,
    owner_loc: Loc,
    errs: &mut Errors,
) -> Option<u8> {
    match f {
        F::Set(v) if range.contains(&v.v) => u8::try_from(v.v).ok(),
        F::Set(v) => {
            errs.push(
                v.loc,
                field,
                format!(
                    "{} is out of range; {what} must be {}..={}",
                    v.v,
                    range.start(),
                    range.end()
                ),
            );
            None
        }
        F::Bad => None,
        F::Unset => {
            errs.push(
                owner_loc,
                field,
                format!("missing: {what}, {}..={}", range.start(), range.end()),
            );
            None
        }
    }
}

fn penalty(f: &F<f64>, field: &str, owner_loc: Loc, errs: &mut Errors) -> Option<f64> {
    match f {
        F::Set(v) if v.v.is_finite() && v.v >= 0.0 => Some(v.v),
        F::Set(v) => {
            errs.push(
                v.loc,
                field,
                format!("{} is not allowed; a penalty is a finite number ≥ 0", v.v),
            );
            None
        }
        F::Bad => None,
        F::Unset => {
            errs.push(owner_loc, field, "missing: a finite number ≥ 0 (e.g. 3.0)");
            None
        }
    }
}

pub(crate) fn resolve_adaptive(
    a: &DraftAdaptive,
    loc: Loc,
    window: Option<Duration>,
    errs: &mut Errors,
) -> Option<Ramp> {
    let initial_weight = weight_in(
        &a.initial_weight,
        1..=99,
        "adaptive.initial_weight",
        "the first weight (below 100, or there is nothing to ramp)",
        loc,
        errs,
    );
    let min_increase = weight_in(
        &a.min_increase,
        1..=100,
        "adaptive.min_increase",
        "the smallest step up, in percentage points,",
        loc,
        errs,
    );
    let max_increase = weight_in(
        &a.max_increase,
        1..=100,
        "adaptive.max_increase",
        "the largest step up, in percentage points,",
        loc,
        errs,
    );
    if let (Some(min), Some(max)) = (min_increase, max_increase) {
        if max < min {
            errs.push(
                a.max_increase.loc(),
                "adaptive.max_increase",
                format!(
                    "{max} is below min_increase ({min}); need 1 ≤ min_increase ≤ max_increase ≤ 100"
                ),
            );
        }
    }
    let latency_penalty = penalty(&a.latency_penalty, "adaptive.latency_penalty", loc, errs);
    let error_penalty = penalty(&a.error_penalty, "adaptive.error_penalty", loc, errs);
    let hold_windows = hold_windows(&a.hold, window, "adaptive", loc, errs);
    let (min_increase, max_increase) = (min_increase?, max_increase?);
    if max_increase < min_increase {
        return None;
    }
    Some(Ramp::Adaptive(AdaptiveRamp {
        initial_weight: initial_weight?,
        min_increase,
        max_increase,
        latency_penalty: latency_penalty?,
        error_penalty: error_penalty?,
        hold_windows: hold_windows?,
    }))
}

/// The fastest the ramp can possibly go must fit the budget.
pub(crate) fn check_budget(
    ramp: &Ramp,
    window: Duration,
    budget: Duration,
    loc: Loc,
    errs: &mut Errors,
) {
    let (windows, explain) = match ramp {
        Ramp::Ladder(steps) => {
            let total: u64 = steps.iter().map(|s| u64::from(s.hold_windows)).sum();
            (
                total,
                format!(
                    "the ladder's holds need {{needed}} ({total} windows of {})",
                    fmt_d(window)
                ),
            )
        }
        Ramp::Adaptive(a) => {
            let steps = adaptive_min_steps(a);
            (
                steps * u64::from(a.hold_windows),
                format!(
                    "the adaptive ramp needs at least {{needed}} ({steps} steps from {}% to 100% \
                     growing by max_increase {}, each held {} windows of {})",
                    a.initial_weight,
                    a.max_increase,
                    a.hold_windows,
                    fmt_d(window)
                ),
            )
        }
    };
    let needed = times(window, windows);
    if needed.is_some_and(|n| n <= budget) {
        return;
    }
    let needed = needed.map_or_else(|| "longer than can be represented".to_string(), fmt_d);
    let fix = match ramp {
        Ramp::Ladder(_) => "raise ramp_budget or shorten holds",
        Ramp::Adaptive(_) => "raise ramp_budget, raise max_increase or shorten hold",
    };
    errs.push(
        loc,
        "ramp_budget",
        format!(
            "{} but ramp_budget is {}; {fix}",
            explain.replace("{needed}", &needed),
            fmt_d(budget)
        ),
    );
}

/// Steps of an adaptive ramp that always grows by `max_increase`, counting
/// the initial weight and the 100% hold.
pub(crate) fn adaptive_min_steps(a: &AdaptiveRamp) -> u64 {
    let to_go = 100u64.saturating_sub(u64::from(a.initial_weight));
    let max = u64::from(a.max_increase.max(1));
    1 + to_go.div_ceil(max)
}
