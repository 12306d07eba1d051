//! PromQL query templates with named placeholders.
//!
//! A policy file writes queries the way users already write them in Grafana,
//! with placeholders where canaryd fills in the rollout:
//!
//! ```text
//! sum by ({route}, {method}, {cohort}) (increase(http_requests_total{{selector}}[{window}]))
//! ```
//!
//! A placeholder is `{name}` where `name` is lower-case letters and `_` only.
//! Anything else in braces stays literal, so PromQL's own label matchers
//! (`{job="api"}`) need no escaping: a matcher always holds `=`, `!` or `~`,
//! which a placeholder never does. `{{selector}}` reads as a literal `{`, the
//! placeholder, and a literal `}` — i.e. "the selector, inside a matcher".
//!
//! Placeholders are checked when the config is loaded, not when the first
//! window closes: an unknown name is an error naming the template and the names
//! allowed there, so a typo never turns into a query that silently matches
//! nothing at 3 a.m.
//!
//! What they expand to:
//! - `{selector}`: the matchers that pick this rollout's series (the extra
//!   selector of the config, the workload, both cohorts), comma-separated;
//! - `{by}`: every label canaryd splits an answer by — route, method, cohort,
//!   and the workload label when one query serves several rollouts (see
//!   `source`): write `sum by ({by}) (...)` and batching keeps working;
//! - `{cohort}`, `{route}`, `{method}`: the *label names* of the cohort, the
//!   route and the method, for queries that group differently;
//! - `{window}`: the window length as a PromQL duration (`300s`, `1500ms`);
//! - `{workload}`, `{namespace}`, `{revision}`, `{canary}`: *values*, escaped
//!   as the contents of a PromQL double-quoted string, to be written inside
//!   quotes (`app="{workload}"`). Escaping is done here, once, so a revision
//!   called `x"} or vector(1) #` stays a string and cannot inject PromQL.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// The names a template may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Var {
    /// `{selector}`: the matchers picking this rollout's series.
    Selector,
    /// `{cohort}`: the name of the cohort label.
    Cohort,
    /// `{route}`: the name of the route label.
    Route,
    /// `{method}`: the name of the method label.
    Method,
    /// `{window}`: the window length as a PromQL duration.
    Window,
    /// `{workload}`: the workload's name, escaped as a string value.
    Workload,
    /// `{namespace}`: the workload's namespace, escaped as a string value.
    Namespace,
    /// `{revision}`: the rollout's revision, escaped as a string value.
    Revision,
    /// `{canary}`: the canary's cohort value, escaped as a string value.
    Canary,
    /// `{by}`: every label an answer is split by, for `sum by ({by})`.
    By,
}

impl Var {
    /// Every placeholder, to recognise the names a template may use.
    pub const ALL: [Var; 10] = [
        Var::Selector,
        Var::Cohort,
        Var::Route,
        Var::Method,
        Var::Window,
        Var::Workload,
        Var::Namespace,
        Var::Revision,
        Var::Canary,
        Var::By,
    ];

    /// The placeholder's name as written between braces.
    pub fn name(self) -> &'static str {
        match self {
            Var::Selector => "selector",
            Var::Cohort => "cohort",
            Var::Route => "route",
            Var::Method => "method",
            Var::Window => "window",
            Var::Workload => "workload",
            Var::Namespace => "namespace",
            Var::Revision => "revision",
            Var::Canary => "canary",
            Var::By => "by",
        }
    }

    fn from_name(s: &str) -> Option<Var> {
        Var::ALL.into_iter().find(|v| v.name() == s)
    }

    /// Values are user data and get string-escaped; the others are PromQL
    /// fragments canaryd built itself.
    fn is_value(self) -> bool {
        matches!(
            self,
            Var::Workload | Var::Namespace | Var::Revision | Var::Canary
        )
    }
}

/// Placeholders allowed in metric queries (`queries:` and the defaults).
pub const QUERY_VARS: &[Var] = &[
    Var::Selector,
    Var::By,
    Var::Cohort,
    Var::Route,
    Var::Method,
    Var::Window,
    Var::Workload,
    Var::Namespace,
];
/// Placeholders allowed in `selector:` and `up.targets:`.
pub const SELECTOR_VARS: &[Var] = &[Var::Workload, Var::Namespace];
/// Placeholders allowed in `up.targets:` (the canary's scrape targets).
pub const TARGET_VARS: &[Var] = &[Var::Workload, Var::Namespace, Var::Canary];
/// Placeholders allowed in the `canary:` and `baseline:` cohort values.
pub const COHORT_VARS: &[Var] = &[Var::Workload, Var::Namespace, Var::Revision];

/// A template that failed to load.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{what}: unknown placeholder `{{{name}}}` in `{template}`; allowed here: {allowed}")]
pub struct TemplateError {
    /// Where the template sits in the config (`queries.errors`).
    pub what: String,
    /// The unknown placeholder's name.
    pub name: String,
    /// The template as written.
    pub template: String,
    /// The placeholders allowed there, comma-separated.
    pub allowed: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Lit(String),
    Var(Var),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    text: String,
    segments: Vec<Segment>,
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Template {
    /// Parses `text`, allowing only `allowed` placeholders. `what` names the
    /// config field in the error.
    pub fn parse(what: &str, text: &str, allowed: &[Var]) -> Result<Template, TemplateError> {
        let mut segments = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            lit.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let ident_len = after
                .bytes()
                .take_while(|b| b.is_ascii_lowercase() || *b == b'_')
                .count();
            if ident_len > 0 && after.as_bytes().get(ident_len) == Some(&b'}') {
                let name = &after[..ident_len];
                match Var::from_name(name).filter(|v| allowed.contains(v)) {
                    Some(v) => {
                        if !lit.is_empty() {
                            segments.push(Segment::Lit(std::mem::take(&mut lit)));
                        }
                        segments.push(Segment::Var(v));
                    }
                    None => {
                        return Err(TemplateError {
                            what: what.to_string(),
                            name: name.to_string(),
                            template: text.to_string(),
                            allowed: allowed
                                .iter()
                                .map(|v| format!("{{{}}}", v.name()))
                                .collect::<Vec<_>>()
                                .join(" "),
                        })
                    }
                }
                rest = &after[ident_len + 1..];
            } else {
                lit.push('{');
                rest = after;
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            segments.push(Segment::Lit(lit));
        }
        Ok(Template {
            text: text.to_string(),
            segments,
        })
    }

    /// Whether the template refers to `v` (a query that never says
    /// `{selector}` cannot be told which rollout it is for).
    pub fn uses(&self, v: Var) -> bool {
        self.segments.contains(&Segment::Var(v))
    }

    /// Fills the placeholders. `value` gives the raw text of each one; values
    /// (`{workload}`, `{revision}`, ...) are string-escaped here.
    pub fn render<'a>(&self, value: impl Fn(Var) -> Cow<'a, str>) -> String {
        self.fill(value, true)
    }

    /// Fills the placeholders without escaping: for templates whose result is
    /// itself a value (the `canary:` cohort value), escaped where it is used.
    pub fn render_raw<'a>(&self, value: impl Fn(Var) -> Cow<'a, str>) -> String {
        self.fill(value, false)
    }

    fn fill<'a>(&self, value: impl Fn(Var) -> Cow<'a, str>, escape: bool) -> String {
        let mut out = String::with_capacity(self.text.len() + 64);
        for s in &self.segments {
            match s {
                Segment::Lit(l) => out.push_str(l),
                Segment::Var(v) if escape && v.is_value() => {
                    out.push_str(&escape_string(&value(*v)))
                }
                Segment::Var(v) => out.push_str(&value(*v)),
            }
        }
        out
    }
}

/// The contents of a PromQL double-quoted string (Go escaping rules).
pub fn escape_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// A label matcher `label="value"`, escaped.
pub fn eq_matcher(label: &str, value: &str) -> String {
    format!("{label}=\"{}\"", escape_string(value))
}

/// A matcher `label=~"a|b|c"` that matches exactly these values: each is
/// regex-escaped (RE2 syntax, which Prometheus anchors) and then string-escaped.
pub fn any_of_matcher<'a>(label: &str, values: impl IntoIterator<Item = &'a str>) -> String {
    let mut vals: Vec<String> = values.into_iter().map(regex_escape).collect();
    vals.sort();
    vals.dedup();
    format!("{label}=~\"{}\"", escape_string(&vals.join("|")))
}

/// Escapes RE2 metacharacters so a value matches only itself.
pub fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A window length as a PromQL duration: whole seconds when it is one, else
/// milliseconds (Prometheus durations take integers only).
pub fn promql_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(v: Var) -> Cow<'static, str> {
        Cow::Borrowed(match v {
            Var::Selector => "app=\"pay\",version=~\"v1|v2\"",
            Var::Cohort => "version",
            Var::Route => "route",
            Var::Method => "method",
            Var::Window => "300s",
            Var::Workload => "pay\"}or vector(1)#",
            Var::Namespace => "shop",
            Var::Revision => "v2",
            Var::Canary => "v2",
            Var::By => "route, method, version",
        })
    }

    #[test]
    fn renders_placeholders_inside_matchers() {
        let t = Template::parse(
            "queries.requests",
            "sum by ({route}, {method}, {cohort}) (increase(http_requests_total{{selector},code=~\"5..\"}[{window}]))",
            QUERY_VARS,
        )
        .unwrap();
        assert_eq!(
            t.render(vals),
            "sum by (route, method, version) (increase(http_requests_total{app=\"pay\",version=~\"v1|v2\",code=~\"5..\"}[300s]))"
        );
        assert!(t.uses(Var::Selector));
        assert!(!t.uses(Var::Workload));
    }

    #[test]
    fn unknown_or_disallowed_placeholders_are_named() {
        let e = Template::parse("queries.errors", "x{{selectr}}", QUERY_VARS).unwrap_err();
        assert_eq!(e.name, "selectr");
        assert!(e.to_string().contains("queries.errors"), "{e}");
        assert!(e.to_string().contains("{selector}"), "{e}");
        let e = Template::parse("selector", "app=\"{window}\"", SELECTOR_VARS).unwrap_err();
        assert_eq!(e.name, "window");
    }

    #[test]
    fn promql_braces_are_literal() {
        let t =
            Template::parse("q", "up{job=\"a\"} + x{} + {__name__=~\"y\"}", QUERY_VARS).unwrap();
        assert_eq!(t.render(vals), "up{job=\"a\"} + x{} + {__name__=~\"y\"}");
    }

    #[test]
    fn values_cannot_inject_promql() {
        let t = Template::parse("selector", "app=\"{workload}\"", SELECTOR_VARS).unwrap();
        assert_eq!(t.render(vals), "app=\"pay\\\"}or vector(1)#\"");
        assert_eq!(escape_string("a\\b\nc\u{1}"), "a\\\\b\\nc\\u0001");
    }

    #[test]
    fn regex_matchers_match_only_the_values() {
        assert_eq!(
            any_of_matcher("version", ["v2", "1.0+b", "v2"]),
            "version=~\"1\\\\.0\\\\+b|v2\""
        );
        assert_eq!(eq_matcher("v", "a\"b"), "v=\"a\\\"b\"");
    }

    #[test]
    fn durations_are_integers() {
        assert_eq!(promql_duration(Duration::from_secs(300)), "300s");
        assert_eq!(promql_duration(Duration::from_millis(1500)), "1500ms");
    }
}
