//! Kolmogorov-Smirnov two-sample test, SciPy `ks_2samp` conventions.

use crate::error::Result;
use crate::kolmogorov::kolmogorov_sf;
use crate::ks_exact::{prob_below_line, prob_outside_band, prob_outside_square};
use crate::sample::{sorted, tie_groups};
use crate::types::{Alternative, Method, MethodChoice, TestResult};

/// Largest sample for which `Auto` computes the exact distribution (SciPy's `MAX_AUTO_N`).
const MAX_AUTO_N: usize = 10_000;

/// Largest `m * n` for which an asked-for `Exact` counts lattice paths: the
/// unequal-size recursions cost O(m * band width), up to O(m * n) steps, so
/// past the work `Auto` allows at its own limit (10^4 x 10^4) an explicit
/// `Exact` falls back to the asymptotic p-value and says so, rather than
/// running for minutes.
const MAX_EXACT_WORK: f64 = 1e8;

/// Two-sample Kolmogorov-Smirnov test: do the two samples come from the same
/// distribution?
///
/// **Use it for** detecting *any* change in a distribution's shape — a new
/// bimodal mode, a heavier tail — that a location test like Mann-Whitney can
/// miss. It is less powerful than Mann-Whitney against a pure shift.
///
/// **Assumes** independent observations from continuous distributions. With
/// ties (e.g. latencies rounded to milliseconds) the p-value is conservative.
///
/// **Conventions (SciPy `ks_2samp`)**: with F the canary's and G the
/// baseline's empirical CDF, the statistic is `max(F - G)` for `Greater`,
/// `max(G - F)` for `Less` and the larger of the two for `TwoSided`. Careful:
/// SciPy's `greater` is about the CDFs, so `Greater` means the canary's CDF
/// lies *above* the baseline's, i.e. the canary's values tend to be
/// *smaller*; to test "canary slower" use `Less`.
/// `Auto` is exact when both samples have at most 10,000 observations and
/// asymptotic otherwise. The exact p-value counts lattice paths (Hodges 1958;
/// the two-sided unequal-size case with Viehmann's 2021 recursion for 1 - p);
/// when it is not computable (lcm too large, overflow) or an explicit `Exact`
/// would take more than ~10^8 steps (unequal sizes with m * n > 10^8) it
/// falls back to the asymptotic one, as SciPy does. Asymptotic: two-sided uses the exact
/// one-sample Kolmogorov distribution with n = round(m*n / (m + n))
/// (SciPy's `kstwo.sf`, Simard & L'Ecuyer 2011); one-sided uses Hodges'
/// approximation (his eq. 5.3).
pub fn ks_two_sample(
    canary: &[f64],
    baseline: &[f64],
    alternative: Alternative,
    method: MethodChoice,
) -> Result<TestResult> {
    let x = sorted("canary", canary)?;
    let y = sorted("baseline", baseline)?;
    let (n1, n2) = (x.len() as u64, y.len() as u64);
    let g = gcd(n1, n2);
    let (n1g, n2g) = (n1 / g, n2 / g);
    // cdf1 - cdf2 at each pooled value, in units of 1/lcm: i * n2g - j * n1g.
    let (mut i, mut j) = (0u64, 0u64);
    let (mut max_plus, mut max_minus) = (0i128, 0i128);
    tie_groups(&x, &y, |_, cx, cy| {
        i += cx as u64;
        j += cy as u64;
        let diff = i as i128 * n2g as i128 - j as i128 * n1g as i128;
        max_plus = max_plus.max(diff);
        max_minus = max_minus.max(-diff);
    });
    let h = match alternative {
        Alternative::Greater => max_plus,
        Alternative::Less => max_minus,
        Alternative::TwoSided => max_plus.max(max_minus),
    };
    let lcm = n1g as f64 * n2 as f64;
    let d = h as f64 / lcm;
    let exact_wanted = match method {
        MethodChoice::Auto => n1.max(n2) as usize <= MAX_AUTO_N,
        MethodChoice::Exact => {
            (n1g as f64) < i32::MAX as f64 / n2g as f64
                && (n1 == n2 || n1 as f64 * n2 as f64 <= MAX_EXACT_WORK)
        }
        MethodChoice::Asymptotic => false,
    };
    if exact_wanted {
        if let Some(p) = exact_p(n1, n2, g, h as u64, alternative) {
            return Ok(TestResult {
                statistic: d,
                p_value: p,
                method: Method::Exact,
            });
        }
    }
    Ok(TestResult {
        statistic: d,
        p_value: asymptotic_p(n1, n2, d, alternative).clamp(0.0, 1.0),
        method: Method::Asymptotic,
    })
}

fn exact_p(n1: u64, n2: u64, g: u64, h: u64, alternative: Alternative) -> Option<f64> {
    if h == 0 {
        return Some(1.0);
    }
    let p = match alternative {
        Alternative::TwoSided if n1 == n2 => prob_outside_square(n1, h),
        Alternative::TwoSided => prob_outside_band(n1, n2, g, h),
        _ if n1 == n2 => (0..h).fold(1.0, |p, j| p * ((n1 - j) as f64 / (n1 + j + 1) as f64)),
        _ => prob_below_line(n1, n2, g, h)?,
    };
    (p.is_finite() && (0.0..=1.0).contains(&p)).then_some(p)
}

fn asymptotic_p(n1: u64, n2: u64, d: f64, alternative: Alternative) -> f64 {
    // No difference at all is no evidence: p = 1.
    if d <= 0.0 {
        return 1.0;
    }
    let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
    let en = m * n / (m + n);
    match alternative {
        // One point against one gives en = 0.5, which rounds to 0: the
        // distribution of D over zero points is undefined (NaN). One is the
        // smallest sample the statistic exists for.
        Alternative::TwoSided => kolmogorov_sf((en.round_ties_even() as u64).max(1), d),
        _ => {
            let z = en.sqrt() * d;
            (-2.0 * z * z - 2.0 * z * (m + 2.0 * n) / (m * n * (m + n)).sqrt() / 3.0).exp()
        }
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}
