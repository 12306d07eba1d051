//! Draft → [`Policy`], checking every rule of a coherent policy and reporting
//! every violation with the field, the place it was written and what is
//! allowed. A `Policy` that comes out of here is one the engine can run
//! without re-checking anything.

use std::time::Duration;

use super::draft::{Draft, DraftRamp, F};
use super::error::Errors;
use super::presets::PRESET_NAMES;
use super::resolve_ramp::{check_budget, resolve_adaptive, resolve_ladder};
use super::resolve_rules::resolve_rules;
use super::resolve_sections::{resolve_baseline, resolve_error_budget, resolve_traffic};
use canaryd_core::policy::{CollectorPolicy, Policy};

/// `5m`, `70m`, `24h`, `7d`: durations the way policy files write them, as
/// one whole number of the largest unit that divides them exactly (so that
/// humantime reads them back exactly), but `60m` rather than `1h` and `24h`
/// rather than `1d`.
pub(crate) fn fmt_d(d: Duration) -> String {
    const UNITS: [(u128, &str); 7] = [
        (86_400_000_000_000, "d"),
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    let mut i = UNITS
        .iter()
        .position(|(size, _)| nanos.is_multiple_of(*size))
        .unwrap_or(UNITS.len() - 1);
    // One day, hour or minute reads better in the next unit down.
    if i < 3 && nanos == UNITS[i].0 {
        i += 1;
    }
    let (size, unit) = UNITS[i];
    format!("{}{unit}", nanos / size)
}

/// `window × n`, or `None` if it does not fit in a `Duration`.
pub(crate) fn times(window: Duration, n: u64) -> Option<Duration> {
    let nanos = window.as_nanos().checked_mul(u128::from(n))?;
    let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
    Some(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

fn missing(errs: &mut Errors, field: &str, what: &str) {
    errs.push(
        None,
        field,
        format!(
            "missing: {what}. It is required when no `preset:` is given \
             (or start from one of: {})",
            PRESET_NAMES.join(", ")
        ),
    );
}

/// Resolves a merged draft. Returns a policy when every part could be built;
/// some problems (e.g. a ladder not ending at 100) are reported without
/// stopping that, so callers decide by `errs` ([`Errors::into_result`]).
pub(crate) fn resolve(d: &Draft, errs: &mut Errors) -> Option<Policy> {
    let name = match &d.name {
        F::Set(n) if n.v.trim().is_empty() => {
            errs.push(
                n.loc,
                "name",
                "the name is empty; give the policy a name or leave `name:` out",
            );
            None
        }
        F::Set(n) => Some(n.v.clone()),
        F::Bad => None,
        F::Unset => Some(d.preset.clone().unwrap_or_else(|| "custom".into())),
    };

    let window = match &d.window {
        F::Set(w) if w.v < Duration::from_secs(1) => {
            errs.push(
                w.loc,
                "window",
                format!(
                    "{} is too short; a window must be at least 1s (e.g. \"5m\", \"90s\")",
                    fmt_d(w.v)
                ),
            );
            None
        }
        F::Set(w) => Some(w.v),
        F::Bad => None,
        F::Unset => {
            missing(
                errs,
                "window",
                "the length of one analysis window, e.g. `window: 5m`",
            );
            None
        }
    };

    let ramp = match &d.ramp {
        F::Set(r) => match &r.v {
            DraftRamp::Ladder(_) => resolve_ladder(&r.v, r.loc, window, errs),
            DraftRamp::Adaptive(a) => resolve_adaptive(a, r.loc, window, errs),
        },
        F::Bad => None,
        F::Unset => {
            missing(
                errs,
                "ladder",
                "a ramp: `ladder:` (e.g. [{weight: 10, hold: 10m}, {weight: 100, hold: 10m}]) or `adaptive:`",
            );
            None
        }
    };

    let ramp_budget = match &d.ramp_budget {
        F::Set(b) => Some(b.v),
        F::Bad => None,
        F::Unset => {
            missing(
                errs,
                "ramp_budget",
                "the longest time the ramp may take before a human is asked, e.g. `ramp_budget: 60m`",
            );
            None
        }
    };
    if let (Some(ramp), Some(window), Some(budget)) = (&ramp, window, ramp_budget) {
        let loc = d.ramp_budget.loc().or(d.ramp.loc()).or(d.window.loc());
        check_budget(ramp, window, budget, loc, errs);
    }

    let traffic = resolve_traffic(d, errs);
    let baseline = resolve_baseline(d, errs);
    let error_budget = resolve_error_budget(d, errs);
    let collectors = match &d.auto_resume {
        F::Set(a) => Some(CollectorPolicy { auto_resume: a.v }),
        _ => None,
    };

    let rules = resolve_rules(
        d,
        d.baseline.loc(),
        window,
        traffic.as_ref().map(|t| t.min_requests_per_route),
        baseline.as_ref(),
        errs,
    );

    Some(Policy {
        name: name?,
        preset: d.preset.clone(),
        window: window?,
        ramp: ramp?,
        ramp_budget: ramp_budget?,
        rules: rules?,
        traffic: traffic?,
        baseline: baseline?,
        error_budget: error_budget?,
        collectors: collectors?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_in_one_exact_unit_and_read_back() {
        let cases = [
            (Duration::from_secs(300), "5m"),
            (Duration::from_secs(60), "60s"),
            (Duration::from_secs(3600), "60m"),
            (Duration::from_secs(4200), "70m"),
            (Duration::from_secs(7200), "2h"),
            (Duration::from_secs(86_400), "24h"),
            (Duration::from_secs(7 * 86_400), "7d"),
            (Duration::from_secs(90), "90s"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_nanos(1_000_000_007), "1000000007ns"),
            (Duration::ZERO, "0s"),
        ];
        for (d, text) in cases {
            assert_eq!(fmt_d(d), text);
            assert_eq!(humantime::parse_duration(text).ok(), Some(d), "{text}");
        }
    }

    #[test]
    fn window_multiples_saturate_to_none() {
        assert_eq!(
            times(Duration::from_secs(60), 3),
            Some(Duration::from_secs(180))
        );
        assert_eq!(times(Duration::MAX, 2), None);
    }
}
