//! Route mixes: which requests a load generator sends, in which proportions.
//!
//! Syntax: comma-separated `METHOD PATH=WEIGHT` entries, e.g.
//! `GET /pay=60,POST /pay=30,GET /items/{id}=10`. `{id}` in a path is replaced
//! by a random number (1–10000) per request. Weights are relative integers.

use crate::error::SimError;
use http::Method;
use std::fmt;
use std::str::FromStr;

/// One kind of request in a mix and its relative share.
#[derive(Debug, Clone, PartialEq)]
pub struct MixEntry {
    /// HTTP method sent.
    pub method: Method,
    /// Path template, possibly with `{id}`.
    pub path: String,
    /// Relative weight against the other entries (not a percentage).
    pub weight: u32,
}

impl MixEntry {
    /// A concrete path for one request.
    pub fn concrete_path(&self) -> String {
        if self.path.contains("{id}") {
            self.path
                .replace("{id}", &fastrand::u32(1..=10_000).to_string())
        } else {
            self.path.clone()
        }
    }
}

/// A weighted set of requests.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteMix {
    entries: Vec<MixEntry>,
    total: u64,
}

impl RouteMix {
    /// Every entry, in the order written.
    pub fn entries(&self) -> &[MixEntry] {
        &self.entries
    }

    /// Picks an entry with probability proportional to its weight.
    pub fn pick(&self) -> &MixEntry {
        let mut r = fastrand::u64(0..self.total.max(1));
        for e in &self.entries {
            if r < u64::from(e.weight) {
                return e;
            }
            r -= u64::from(e.weight);
        }
        // Unreachable with total > 0; the last entry is a safe answer anyway.
        &self.entries[self.entries.len() - 1]
    }
}

impl Default for RouteMix {
    /// The demo's mix: `GET /pay=60,POST /pay=30,GET /items/{id}=10`.
    fn default() -> Self {
        // The literal is valid; fall back to a single route rather than panic.
        "GET /pay=60,POST /pay=30,GET /items/{id}=10"
            .parse()
            .unwrap_or_else(|_| RouteMix {
                entries: vec![MixEntry {
                    method: Method::GET,
                    path: "/pay".into(),
                    weight: 1,
                }],
                total: 1,
            })
    }
}

impl FromStr for RouteMix {
    type Err = SimError;

    fn from_str(s: &str) -> Result<Self, SimError> {
        let bad = |why: String| SimError::BadMix {
            input: s.to_string(),
            why,
        };
        let mut entries = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (req, weight) = match part.rsplit_once('=') {
                Some((r, w)) => (
                    r.trim(),
                    w.trim()
                        .parse::<u32>()
                        .map_err(|_| bad(format!("weight `{}` is not a whole number", w.trim())))?,
                ),
                None => (part, 1),
            };
            let (method, path) = req
                .split_once(' ')
                .ok_or_else(|| bad(format!("`{req}` is not `METHOD /path`")))?;
            let method = Method::from_bytes(method.trim().to_ascii_uppercase().as_bytes())
                .map_err(|_| bad(format!("`{method}` is not an HTTP method")))?;
            let path = path.trim();
            if !path.starts_with('/') || path.contains(char::is_whitespace) {
                return Err(bad(format!(
                    "path `{path}` must start with `/` and have no spaces"
                )));
            }
            entries.push(MixEntry {
                method,
                path: path.to_string(),
                weight,
            });
        }
        let total: u64 = entries.iter().map(|e| u64::from(e.weight)).sum();
        if entries.is_empty() || total == 0 {
            return Err(bad("no route with a positive weight".into()));
        }
        Ok(RouteMix { entries, total })
    }
}

impl fmt::Display for RouteMix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{} {}={}", e.method, e.path, e.weight)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mix_and_picks_in_proportion() {
        let m: RouteMix = "GET /pay=60, POST /pay=30,GET /items/{id}=10"
            .parse()
            .unwrap();
        assert_eq!(m.entries().len(), 3);
        assert_eq!(m.entries()[1].method, Method::POST);
        fastrand::seed(3);
        let n = 10_000;
        let gets = (0..n)
            .filter(|_| {
                let e = m.pick();
                e.method == Method::GET && e.path == "/pay"
            })
            .count();
        // P(GET /pay) = 0.6; 10k draws: sd ~ 0.005.
        let share = gets as f64 / n as f64;
        assert!((0.57..0.63).contains(&share), "share {share}");
        let p = m.entries()[2].concrete_path();
        assert!(
            p.starts_with("/items/") && p[7..].parse::<u32>().is_ok(),
            "{p}"
        );
    }

    #[test]
    fn rejects_bad_mixes() {
        for bad in [
            "",
            "GET /pay=0",
            "GET pay=1",
            "/pay=3",
            "GET /pay=x",
            "G@T /pay=1",
        ] {
            assert!(bad.parse::<RouteMix>().is_err(), "{bad} accepted");
        }
        assert_eq!(
            "get /a".parse::<RouteMix>().unwrap().to_string(),
            "GET /a=1"
        );
    }
}
