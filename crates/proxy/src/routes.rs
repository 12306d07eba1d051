//! Route names for measurements: `METHOD /path/template`, the same names the
//! policies and the core use (`GET /items/{id}`).
//!
//! A request path is matched against the configured templates first (in
//! order; `{name}` matches one segment). Unmatched paths are normalized by
//! default rules: segments that look like identifiers (all digits, UUIDs,
//! long hex strings, long tokens mixing letters and digits) become `{id}`, the
//! query is dropped, paths deeper than 8 segments are cut. Methods outside the
//! standard set become `OTHER`. The recorder caps the number of distinct
//! routes ([`RouteTable::max_routes`]): past it, new routes are counted as
//! `METHOD /other`, so a client cannot blow up memory or `/metrics` cardinality.

use crate::error::ProxyError;
use http::Method;
use std::str::FromStr;

/// Deepest path kept by default normalization.
const MAX_SEGMENTS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(String),
    Param,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Template {
    /// `None` = any method (template written as `* /path` or `/path`).
    method: Option<Method>,
    segs: Vec<Seg>,
    /// The path part as written (`/items/{id}`).
    path: String,
}

impl Template {
    fn matches(&self, method: &Method, segs: &[&str]) -> bool {
        self.method.as_ref().is_none_or(|m| m == method)
            && self.segs.len() == segs.len()
            && self.segs.iter().zip(segs).all(|(t, s)| match t {
                Seg::Param => !s.is_empty(),
                Seg::Lit(l) => l == s,
            })
    }
}

impl FromStr for Template {
    type Err = ProxyError;

    fn from_str(input: &str) -> Result<Self, ProxyError> {
        let bad = |why: &str| ProxyError::BadRoute {
            input: input.to_string(),
            why: why.to_string(),
        };
        let t = input.trim();
        let (method, path) = match t.split_once(' ') {
            Some((m, p)) => {
                let m = m.trim();
                let method = if m == "*" {
                    None
                } else {
                    Some(
                        Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                            .map_err(|_| bad("not an HTTP method"))?,
                    )
                };
                (method, p.trim())
            }
            None => (None, t),
        };
        if !path.starts_with('/') || path.contains(char::is_whitespace) || path.contains('?') {
            return Err(bad("the path must start with `/`, without spaces or query"));
        }
        let mut segs = Vec::new();
        for s in split_path(path) {
            if s.starts_with('{') && s.ends_with('}') && s.len() > 2 {
                segs.push(Seg::Param);
            } else if s.contains(['{', '}']) {
                return Err(bad("a parameter must be a whole segment, like `{id}`"));
            } else {
                segs.push(Seg::Lit(s.to_string()));
            }
        }
        Ok(Template {
            method,
            segs,
            path: normalize_slashes(path),
        })
    }
}

fn split_path(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

fn normalize_slashes(path: &str) -> String {
    let segs: Vec<&str> = split_path(path).collect();
    format!("/{}", segs.join("/"))
}

/// How request paths become route names, and how many distinct routes are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    templates: Vec<Template>,
    max_routes: usize,
}

impl Default for RouteTable {
    /// No templates (default normalization only), at most 100 routes.
    fn default() -> Self {
        RouteTable {
            templates: Vec::new(),
            max_routes: 100,
        }
    }
}

impl RouteTable {
    /// Templates such as `GET /items/{id}`, `* /health`, `/static/{file}`.
    pub fn from_templates<S: AsRef<str>>(templates: &[S]) -> Result<Self, ProxyError> {
        let mut t = RouteTable::default();
        for s in templates {
            t.templates.push(s.as_ref().parse()?);
        }
        Ok(t)
    }

    /// Sets the cap on distinct route names (at least 1).
    pub fn with_max_routes(mut self, max: usize) -> Self {
        self.max_routes = max.max(1);
        self
    }

    /// The cap on distinct route names; past it, new routes are counted as
    /// `METHOD /other`.
    pub fn max_routes(&self) -> usize {
        self.max_routes
    }

    /// The route name of a request (before the cardinality cap).
    pub fn name(&self, method: &Method, path: &str) -> String {
        let m = method_label(method);
        let segs: Vec<&str> = split_path(path).collect();
        for t in &self.templates {
            if t.matches(method, &segs) {
                return format!("{m} {}", t.path);
            }
        }
        let mut out = String::with_capacity(path.len() + m.len() + 1);
        out.push_str(m);
        out.push(' ');
        if segs.is_empty() {
            out.push('/');
        }
        for s in segs.iter().take(MAX_SEGMENTS) {
            out.push('/');
            out.push_str(if looks_like_id(s) { "{id}" } else { s });
        }
        if segs.len() > MAX_SEGMENTS {
            out.push_str("/{rest}");
        }
        out
    }
}

/// The method as a bounded label.
pub fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

fn looks_like_id(s: &str) -> bool {
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    if digits == s.len() {
        return true;
    }
    let hexish = s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    // UUID (36 chars, hyphenated) or a long hex digest.
    if hexish && s.len() >= 16 && digits > 0 {
        return true;
    }
    // Opaque tokens: long, alphanumeric, with digits in them (ULIDs, base62 ids).
    s.len() >= 20
        && digits > 0
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_normalization_collapses_ids() {
        let t = RouteTable::default();
        assert_eq!(t.name(&Method::GET, "/items/42"), "GET /items/{id}");
        assert_eq!(
            t.name(
                &Method::GET,
                "/u/550e8400-e29b-41d4-a716-446655440000/orders"
            ),
            "GET /u/{id}/orders"
        );
        assert_eq!(t.name(&Method::POST, "/pay/"), "POST /pay");
        assert_eq!(t.name(&Method::GET, ""), "GET /");
        assert_eq!(
            t.name(&Method::GET, "/a/b/c/d/e/f/g/h/i/j"),
            "GET /a/b/c/d/e/f/g/h/{rest}"
        );
        let odd = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(t.name(&odd, "/x"), "OTHER /x");
        assert_eq!(t.name(&Method::GET, "/deadbeefdeadbeef1"), "GET /{id}");
        assert_eq!(t.name(&Method::GET, "/healthz"), "GET /healthz");
    }

    #[test]
    fn templates_win_over_defaults() {
        let t = RouteTable::from_templates(&["GET /users/{name}", "* /static/{file}"]).unwrap();
        assert_eq!(t.name(&Method::GET, "/users/alice"), "GET /users/{name}");
        assert_eq!(t.name(&Method::POST, "/users/alice"), "POST /users/alice");
        assert_eq!(t.name(&Method::PUT, "/static/app.js"), "PUT /static/{file}");
        assert!(RouteTable::from_templates(&["GET items"]).is_err());
        assert!(RouteTable::from_templates(&["GET /a{b}"]).is_err());
        assert!(RouteTable::from_templates(&["G@T /a"]).is_err());
    }
}
