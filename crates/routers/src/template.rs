//! Placeholders in commands, URLs, headers and bodies.
//!
//! A placeholder is `{name}` where `name` is lowercase letters, digits and
//! `_` starting with a letter. Anything else in braces is literal, so JSON
//! bodies (`{"weight": {weight}}`), kubectl JSON patches and shell `${VAR}`
//! need no escaping. A lowercase name that is not a known placeholder is a
//! config error at load time: a typo like `{wieght}` must not reach a load
//! balancer as literal text.

use canaryd_core::vocab::{RolloutKey, Weight};
use std::fmt;

/// The values a router action can substitute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    /// The canary's share of traffic, 0–100.
    Weight,
    /// `100 - weight`, for load balancers that want both sides.
    StableWeight,
    Workload,
    Revision,
}

pub const PLACEHOLDERS: &[(&str, Placeholder)] = &[
    ("weight", Placeholder::Weight),
    ("stable_weight", Placeholder::StableWeight),
    ("workload", Placeholder::Workload),
    ("revision", Placeholder::Revision),
];

/// How a substituted value is written where it lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// As is: argv entries (never seen by a shell) and header values.
    Raw,
    /// Inside a JSON document: quotes, backslashes and control characters
    /// escaped, so a revision cannot break out of a JSON string.
    Json,
    /// Percent-encoded, so a revision cannot add path segments or a query.
    Url,
}

/// What one action is about, filled into every placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Values {
    pub weight: Weight,
    pub workload: String,
    pub revision: String,
}

impl Values {
    pub fn new(key: &RolloutKey, weight: Weight) -> Values {
        Values {
            weight,
            workload: key.workload.0.clone(),
            revision: key.revision.0.clone(),
        }
    }

    pub fn get(&self, p: Placeholder) -> String {
        match p {
            Placeholder::Weight => self.weight.to_string(),
            Placeholder::StableWeight => 100u8.saturating_sub(self.weight).to_string(),
            Placeholder::Workload => self.workload.clone(),
            Placeholder::Revision => self.revision.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Hole(Placeholder),
}

/// A string with placeholders, checked once at load. A URL template may carry
/// a load balancer's credentials, so `Debug` shows the text masked.
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text: String = self
            .parts
            .iter()
            .map(|p| match p {
                Part::Literal(s) => s.clone(),
                Part::Hole(h) => PLACEHOLDERS
                    .iter()
                    .find(|(_, p)| p == h)
                    .map_or_else(String::new, |(name, _)| format!("{{{name}}}")),
            })
            .collect();
        write!(
            f,
            "Template({})",
            canaryd_secrets::redact::mask_url_credentials(&text)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown placeholder `{{{name}}}` in `{text}`; known: {{weight}}, {{stable_weight}}, {{workload}}, {{revision}}")]
pub struct UnknownPlaceholder {
    pub name: String,
    pub text: String,
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, UnknownPlaceholder> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let name = after.find('}').map(|close| &after[..close]);
            match name {
                Some(name) if is_name(name) => {
                    let Some(&(_, p)) = PLACEHOLDERS.iter().find(|(n, _)| *n == name) else {
                        return Err(UnknownPlaceholder {
                            name: name.to_string(),
                            text: text.to_string(),
                        });
                    };
                    literal.push_str(&rest[..open]);
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Hole(p));
                    rest = &after[name.len() + 1..];
                }
                _ => {
                    literal.push_str(&rest[..=open]);
                    rest = after;
                }
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template { parts })
    }

    pub fn has_placeholders(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Hole(_)))
    }

    pub fn render(&self, values: &Values, escape: Escape) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Hole(p) => {
                    let v = values.get(*p);
                    match escape {
                        Escape::Raw => out.push_str(&v),
                        Escape::Json => out.push_str(&json_escape(&v)),
                        Escape::Url => out.push_str(&url_escape(&v)),
                    }
                }
            }
        }
        out
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                Part::Literal(s) => f.write_str(s)?,
                Part::Hole(p) => {
                    let name = PLACEHOLDERS
                        .iter()
                        .find(|(_, q)| q == p)
                        .map_or("?", |(n, _)| *n);
                    write!(f, "{{{name}}}")?;
                }
            }
        }
        Ok(())
    }
}

/// The inside of a JSON string literal (without the quotes).
fn json_escape(v: &str) -> String {
    let quoted = serde_json::Value::String(v.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

/// RFC 3986 unreserved characters stay; every other byte is `%XX`.
fn url_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values {
        Values {
            weight: 25,
            workload: "shop/checkout".into(),
            revision: "v2\"; rm -rf /".into(),
        }
    }

    #[test]
    fn substitutes_known_placeholders_and_leaves_other_braces() {
        let t = Template::parse(
            r#"{"weight": {weight}, "stable": {stable_weight}, "x": "${HOME}", "p": {.spec}}"#,
        )
        .unwrap();
        assert_eq!(
            t.render(&values(), Escape::Raw),
            r#"{"weight": 25, "stable": 75, "x": "${HOME}", "p": {.spec}}"#
        );
    }

    #[test]
    fn escapes_per_destination() {
        let t = Template::parse("{workload}|{revision}").unwrap();
        assert_eq!(
            t.render(&values(), Escape::Raw),
            "shop/checkout|v2\"; rm -rf /"
        );
        assert_eq!(
            t.render(&values(), Escape::Json),
            r#"shop/checkout|v2\"; rm -rf /"#
        );
        assert_eq!(
            t.render(&values(), Escape::Url),
            "shop%2Fcheckout|v2%22%3B%20rm%20-rf%20%2F"
        );
    }

    #[test]
    fn unknown_placeholder_is_named() {
        let e = Template::parse("weight={wieght}").unwrap_err();
        assert_eq!(e.name, "wieght");
        assert!(e.to_string().contains("{weight}"), "{e}");
        assert_eq!(Template::parse("{weight").unwrap().to_string(), "{weight");
        assert_eq!(
            Template::parse("a{weight}b").unwrap().to_string(),
            "a{weight}b"
        );
    }
}
