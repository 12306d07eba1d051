//! Latency distributions for fault injection, written the way flags and the
//! admin endpoint take them.
//!
//! Syntax (milliseconds):
//! - `none` or `0` — no added latency;
//! - `fixed:20` — every request waits 20 ms;
//! - `uniform:10,50` — uniformly between 10 and 50 ms;
//! - `lognormal:40,300` — log-normal with median (p50) 40 ms and p99 300 ms,
//!   the long right tail real services have.

use crate::error::SimError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// z-score of the 99th percentile of the standard normal distribution.
const Z99: f64 = 2.326_347_874_040_841;

/// Latency added to each request before it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum LatencyDist {
    /// No added latency (`none` or `0`).
    #[default]
    None,
    /// Every request waits this many ms (`fixed:MS`).
    Fixed(f64),
    /// Uniformly between the two bounds, in ms (`uniform:LO,HI`).
    Uniform(f64, f64),
    /// Median and 99th percentile, in ms.
    LogNormal {
        /// Median latency, in ms.
        p50: f64,
        /// 99th-percentile latency, in ms.
        p99: f64,
    },
}

impl LatencyDist {
    /// One sample, in ms (never negative, never NaN).
    pub fn sample_ms(&self) -> f64 {
        let v = match *self {
            LatencyDist::None => 0.0,
            LatencyDist::Fixed(ms) => ms,
            LatencyDist::Uniform(lo, hi) => lo + (hi - lo) * fastrand::f64(),
            LatencyDist::LogNormal { p50, p99 } => {
                let mu = p50.ln();
                let sigma = (p99.ln() - mu) / Z99;
                (mu + sigma * standard_normal()).exp()
            }
        };
        if v.is_finite() && v > 0.0 {
            v
        } else {
            0.0
        }
    }

    /// One sample as a duration, capped at 60 s so a typo cannot hang a test.
    pub fn sample(&self) -> Duration {
        Duration::from_secs_f64((self.sample_ms() / 1000.0).min(60.0))
    }
}

/// Box–Muller: one standard normal draw from two uniform ones.
fn standard_normal() -> f64 {
    let u1 = fastrand::f64().max(f64::MIN_POSITIVE);
    let u2 = fastrand::f64();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn number(s: &str, whole: &str) -> Result<f64, SimError> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| SimError::BadDist {
            input: whole.to_string(),
            why: format!("`{}` is not a non-negative number of ms", s.trim()),
        })
}

fn pair(args: &str, whole: &str) -> Result<(f64, f64), SimError> {
    let (a, b) = args.split_once(',').ok_or_else(|| SimError::BadDist {
        input: whole.to_string(),
        why: "expected two numbers separated by a comma".into(),
    })?;
    Ok((number(a, whole)?, number(b, whole)?))
}

impl FromStr for LatencyDist {
    type Err = SimError;

    fn from_str(s: &str) -> Result<Self, SimError> {
        let t = s.trim();
        if t.is_empty() || t == "none" || t == "0" {
            return Ok(LatencyDist::None);
        }
        let (kind, args) = t.split_once(':').ok_or_else(|| SimError::BadDist {
            input: s.to_string(),
            why: "expected `none`, `fixed:MS`, `uniform:LO,HI` or `lognormal:P50,P99`".into(),
        })?;
        match kind.trim() {
            "fixed" => Ok(LatencyDist::Fixed(number(args, s)?)),
            "uniform" => {
                let (lo, hi) = pair(args, s)?;
                if hi < lo {
                    return Err(SimError::BadDist {
                        input: s.to_string(),
                        why: "uniform needs LO <= HI".into(),
                    });
                }
                Ok(LatencyDist::Uniform(lo, hi))
            }
            "lognormal" => {
                let (p50, p99) = pair(args, s)?;
                if p50 <= 0.0 || p99 < p50 {
                    return Err(SimError::BadDist {
                        input: s.to_string(),
                        why: "lognormal needs 0 < P50 <= P99".into(),
                    });
                }
                Ok(LatencyDist::LogNormal { p50, p99 })
            }
            other => Err(SimError::BadDist {
                input: s.to_string(),
                why: format!("unknown distribution `{other}`"),
            }),
        }
    }
}

impl fmt::Display for LatencyDist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LatencyDist::None => f.write_str("none"),
            LatencyDist::Fixed(ms) => write!(f, "fixed:{ms}"),
            LatencyDist::Uniform(lo, hi) => write!(f, "uniform:{lo},{hi}"),
            LatencyDist::LogNormal { p50, p99 } => write!(f, "lognormal:{p50},{p99}"),
        }
    }
}

/// JSON form: either the flag string (`"lognormal:40,300"`) or an object
/// `{"p50": 40, "p99": 300}` (log-normal) / `{"fixed": 20}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum DistJson {
    Text(String),
    Quantiles { p50: f64, p99: f64 },
    Fixed { fixed: f64 },
}

impl<'de> Deserialize<'de> for LatencyDist {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match DistJson::deserialize(d)? {
            DistJson::Text(s) => s.parse().map_err(D::Error::custom),
            DistJson::Quantiles { p50, p99 } => format!("lognormal:{p50},{p99}")
                .parse()
                .map_err(D::Error::custom),
            DistJson::Fixed { fixed } => format!("fixed:{fixed}").parse().map_err(D::Error::custom),
        }
    }
}

impl Serialize for LatencyDist {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form_and_rejects_garbage() {
        assert_eq!("none".parse::<LatencyDist>().unwrap(), LatencyDist::None);
        assert_eq!(
            "fixed:20".parse::<LatencyDist>().unwrap(),
            LatencyDist::Fixed(20.0)
        );
        assert_eq!(
            "lognormal:40,300".parse::<LatencyDist>().unwrap(),
            LatencyDist::LogNormal {
                p50: 40.0,
                p99: 300.0
            }
        );
        assert!("lognormal:300,40".parse::<LatencyDist>().is_err());
        assert!("fixed:-1".parse::<LatencyDist>().is_err());
        assert!("gauss:1".parse::<LatencyDist>().is_err());
        assert!("fixed:NaN".parse::<LatencyDist>().is_err());
    }

    #[test]
    fn lognormal_quantiles_match_parameters() {
        fastrand::seed(7);
        let d = LatencyDist::LogNormal {
            p50: 40.0,
            p99: 300.0,
        };
        let mut v: Vec<f64> = (0..20_000).map(|_| d.sample_ms()).collect();
        v.sort_by(f64::total_cmp);
        let p50 = v[10_000];
        let p99 = v[19_800];
        assert!((35.0..45.0).contains(&p50), "p50 {p50}");
        assert!((240.0..370.0).contains(&p99), "p99 {p99}");
    }

    #[test]
    fn json_accepts_string_and_object() {
        let a: LatencyDist = serde_json::from_str("\"fixed:5\"").unwrap();
        assert_eq!(a, LatencyDist::Fixed(5.0));
        let b: LatencyDist = serde_json::from_str(r#"{"p50": 10, "p99": 90}"#).unwrap();
        assert_eq!(
            b,
            LatencyDist::LogNormal {
                p50: 10.0,
                p99: 90.0
            }
        );
        assert!(serde_json::from_str::<LatencyDist>(r#"{"p50": 10}"#).is_err());
    }
}
