//! A policy file as a tree of YAML nodes, each with the place it was written.
//!
//! We do not deserialize policy files straight into structs: serde stops at the
//! first problem, and we want to report all of them. Instead the document is
//! read into this small tree (every node wrapped in [`Spanned`], so it knows its
//! line and column) and [`super::file`] walks it, collecting every error.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{MessageFormatter, Spanned, UserMessageFormatter};
use std::fmt;
use std::time::Duration;

use super::error::{quote, suggestion, Errors, Loc};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<SNode>),
    Map(Vec<(SNode, SNode)>),
}

pub(crate) type SNode = Spanned<Node>;

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
                Node::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Int(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
                Ok(Node::Int(v.into()))
            }
            fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
                Ok(Node::Int(v))
            }
            fn visit_u128<E>(self, v: u128) -> Result<Node, E> {
                Ok(i128::try_from(v).map_or(Node::Float(v as f64), Node::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Float(v))
            }
            fn visit_char<E>(self, v: char) -> Result<Node, E> {
                Ok(Node::Str(v.to_string()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Node, E> {
                Ok(Node::Str(v))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Node, E> {
                Ok(Node::Str(String::from_utf8_lossy(v).into_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = a.next_element()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = a.next_entry()? {
                    entries.push(entry);
                }
                Ok(Node::Map(entries))
            }
        }
        d.deserialize_any(V)
    }
}

/// Deepest nesting accepted in a policy file.
const MAX_DEPTH: usize = 24;

/// Parses the text into a node tree; YAML syntax errors (and resource limits:
/// nesting depth, alias bombs) are reported with serde-saphyr's location.
pub(crate) fn parse_document(text: &str, errs: &mut Errors) -> Option<SNode> {
    // A policy nests four levels deep at most; tight limits keep hostile input
    // (deep nesting, alias bombs) from exhausting the stack or memory.
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            flow_nesting_limit: MAX_DEPTH,
            max_nodes: 100_000,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 10_000,
        },
    };
    match serde_saphyr::from_str_with_options::<SNode>(text, options) {
        Ok(node) => Some(node),
        Err(e) => {
            let loc = e
                .location()
                .filter(|l| l.line() > 0)
                .map(|l| (l.line(), l.column()));
            let message = UserMessageFormatter.format_message(e.without_snippet());
            errs.push(loc, "", format!("invalid YAML: {message}"));
            None
        }
    }
}

pub(crate) fn loc_of(n: &SNode) -> Loc {
    let l = n.referenced;
    (l.line() > 0).then(|| (l.line(), l.column()))
}

/// How a node reads in a message: "the string \"ten\"", "a list", …
pub(crate) fn describe(n: &Node) -> String {
    match n {
        Node::Null => "an empty value".into(),
        Node::Bool(b) => format!("`{b}`"),
        Node::Int(i) => format!("the number {i}"),
        Node::Float(x) => format!("the number {x:?}"),
        Node::Str(s) => format!("the string {}", quote(s)),
        Node::Seq(_) => "a list".into(),
        Node::Map(_) => "a mapping".into(),
    }
}

/// `parent.child`, or `child` at the top level.
pub(crate) fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}.{child}")
    }
}

/// The known fields of one mapping in the file.
pub(crate) struct MapView<'n> {
    pub loc: Loc,
    entries: Vec<(&'n str, &'n SNode, Loc)>,
}

impl<'n> MapView<'n> {
    pub fn get(&self, key: &str) -> Option<&'n SNode> {
        self.entries.iter().find(|e| e.0 == key).map(|e| e.1)
    }

    pub fn key_loc(&self, key: &str) -> Loc {
        self.entries.iter().find(|e| e.0 == key).and_then(|e| e.2)
    }
}

/// Views `n` as a mapping whose keys must be among `allowed`: anything else is
/// reported (with the list of allowed fields) and left out of the view.
/// `what` names the mapping for messages ("a ladder step").
pub(crate) fn map_view<'n>(
    n: &'n SNode,
    field: &str,
    what: &str,
    allowed: &[&str],
    errs: &mut Errors,
) -> Option<MapView<'n>> {
    let Node::Map(entries) = &n.value else {
        errs.push(
            loc_of(n),
            field,
            format!(
                "expected {what} (a mapping with fields {}), got {}",
                allowed.join(", "),
                describe(&n.value)
            ),
        );
        return None;
    };
    let mut view = MapView {
        loc: loc_of(n),
        entries: Vec::new(),
    };
    for (key, value) in entries {
        let Node::Str(name) = &key.value else {
            errs.push(
                loc_of(key),
                field,
                format!(
                    "field names must be plain words, got {}; allowed fields: {}",
                    describe(&key.value),
                    allowed.join(", ")
                ),
            );
            continue;
        };
        if allowed.contains(&name.as_str()) {
            view.entries.push((name.as_str(), value, loc_of(key)));
        } else {
            let hint = suggestion(name, allowed)
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            let place = if field.is_empty() {
                String::new()
            } else {
                format!(" in {field}")
            };
            errs.push(
                loc_of(key),
                join(field, name),
                format!(
                    "unknown field `{name}`{place}{hint}; allowed fields: {}",
                    allowed.join(", ")
                ),
            );
        }
    }
    Some(view)
}

pub(crate) fn get_str(n: &SNode, field: &str, errs: &mut Errors) -> Option<String> {
    match &n.value {
        Node::Str(s) => Some(s.clone()),
        other => {
            errs.push(
                loc_of(n),
                field,
                format!(
                    "expected a string, got {} (quote it if it should be text)",
                    describe(other)
                ),
            );
            None
        }
    }
}

pub(crate) fn get_bool(n: &SNode, field: &str, errs: &mut Errors) -> Option<bool> {
    match &n.value {
        Node::Bool(b) => Some(*b),
        other => {
            errs.push(
                loc_of(n),
                field,
                format!("expected true or false, got {}", describe(other)),
            );
            None
        }
    }
}

/// A whole number; `expected` describes the allowed range for the message.
pub(crate) fn get_int(n: &SNode, field: &str, expected: &str, errs: &mut Errors) -> Option<i64> {
    match &n.value {
        Node::Int(i) => match i64::try_from(*i) {
            Ok(v) => Some(v),
            Err(_) => {
                errs.push(
                    loc_of(n),
                    field,
                    format!("{i} is too large; expected {expected}"),
                );
                None
            }
        },
        other => {
            errs.push(
                loc_of(n),
                field,
                format!("expected {expected}, got {}", describe(other)),
            );
            None
        }
    }
}

/// A plain number (integer or decimal).
pub(crate) fn as_number(n: &Node) -> Option<f64> {
    match n {
        Node::Int(i) => Some(*i as f64),
        Node::Float(x) => Some(*x),
        _ => None,
    }
}

/// A fraction written as a number (`0.2`) or a percent string (`"20%"`).
pub(crate) fn get_fraction(n: &SNode, field: &str, errs: &mut Errors) -> Option<f64> {
    if let Some(x) = as_number(&n.value) {
        return Some(x);
    }
    if let Node::Str(s) = &n.value {
        if let Some(p) = parse_percent(s) {
            return Some(p);
        }
    }
    errs.push(
        loc_of(n),
        field,
        format!(
            "expected a fraction like 0.2 or a percentage like \"20%\", got {}",
            describe(&n.value)
        ),
    );
    None
}

/// `"1.5%"` → 0.015.
pub(crate) fn parse_percent(s: &str) -> Option<f64> {
    let num = s.trim().strip_suffix('%')?.trim();
    num.parse::<f64>().ok().map(|x| x / 100.0)
}

pub(crate) const DURATION_EXAMPLES: &str = "e.g. \"5m\", \"90s\" or \"1h 30m\"";

/// A humantime duration string.
pub(crate) fn get_duration(n: &SNode, field: &str, errs: &mut Errors) -> Option<Duration> {
    match &n.value {
        Node::Str(s) => match humantime::parse_duration(s.trim()) {
            Ok(d) => Some(d),
            Err(e) => {
                errs.push(
                    loc_of(n),
                    field,
                    format!(
                        "{} is not a duration ({e}); write a number with a unit, {DURATION_EXAMPLES}",
                        quote(s)
                    ),
                );
                None
            }
        },
        Node::Int(_) | Node::Float(_) => {
            errs.push(
                loc_of(n),
                field,
                format!(
                    "{} has no unit; write a duration with a unit, {DURATION_EXAMPLES}",
                    describe(&n.value)
                ),
            );
            None
        }
        other => {
            errs.push(
                loc_of(n),
                field,
                format!(
                    "expected a duration ({DURATION_EXAMPLES}), got {}",
                    describe(other)
                ),
            );
            None
        }
    }
}

/// Items of a list (reported and `None` if `n` is not a list).
pub(crate) fn get_seq<'n>(
    n: &'n SNode,
    field: &str,
    what: &str,
    errs: &mut Errors,
) -> Option<&'n [SNode]> {
    match &n.value {
        Node::Seq(items) => Some(items),
        other => {
            errs.push(
                loc_of(n),
                field,
                format!("expected a list of {what}, got {}", describe(other)),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> SNode {
        let mut errs = Errors::new("t");
        match parse_document(text, &mut errs) {
            Some(n) => n,
            None => panic!("parse failed for {text:?}"),
        }
    }

    #[test]
    fn nodes_carry_lines_and_types() {
        let n = parse("a: 1\nb: 5m\nc:\n  - {w: 2.5}\n");
        let Node::Map(entries) = &n.value else {
            panic!("not a map")
        };
        assert_eq!(entries[0].1.value, Node::Int(1));
        assert_eq!(loc_of(&entries[1].1), Some((2, 4)));
        assert_eq!(entries[1].1.value, Node::Str("5m".into()));
        let Node::Seq(items) = &entries[2].1.value else {
            panic!("not a seq")
        };
        let Node::Map(inner) = &items[0].value else {
            panic!("not a map")
        };
        assert_eq!(inner[0].1.value, Node::Float(2.5));
        assert_eq!(loc_of(&inner[0].1), Some((4, 9)));
    }

    #[test]
    fn syntax_errors_have_a_location() {
        let mut errs = Errors::new("t");
        assert!(parse_document("a: [1", &mut errs).is_none());
        let e = errs.into_result::<()>(None).unwrap_err();
        assert_eq!(e.0[0].line, Some(1));
        assert!(e.0[0].message.contains("bracket"), "{e}");
    }

    #[test]
    fn percent_strings() {
        assert_eq!(parse_percent("20%"), Some(0.2));
        assert_eq!(parse_percent(" 1 % "), Some(0.01));
        assert_eq!(parse_percent("20"), None);
    }
}
