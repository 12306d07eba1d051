//! Errors in policy files: each one names the file, the line and column of the
//! offending YAML node, the field (`ladder[2].weight`), what is wrong and what
//! is allowed. Validation collects every problem it finds, so an SRE fixes a
//! file in one pass instead of one error per `canaryd policy check` run.

use std::fmt;

/// One problem in a policy file.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyError {
    /// The file name (or any label the caller gave) the policy came from.
    pub source: String,
    /// 1-based line of the offending node, when known (values inherited from a
    /// preset have no line).
    pub line: Option<u64>,
    /// 1-based column of the offending node, when known.
    pub column: Option<u64>,
    /// Path of the field, e.g. `ladder[2].weight`, `rules[0].consecutive`;
    /// empty for problems with the document as a whole.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for PolicyError {
    /// `{source}:{line}:{column}: {field}: {message}`, leaving out unknown parts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut prefix = self.source.clone();
        if let Some(line) = self.line {
            prefix = if prefix.is_empty() {
                line.to_string()
            } else {
                format!("{prefix}:{line}")
            };
            if let Some(column) = self.column {
                prefix = format!("{prefix}:{column}");
            }
        }
        if !prefix.is_empty() {
            write!(f, "{prefix}: ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for PolicyError {}

/// Every problem found in one policy file, in document order (then in the
/// order the checks ran). Never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", display_lines(.0))]
pub struct PolicyErrors(pub Vec<PolicyError>);

fn display_lines(errors: &[PolicyError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl PolicyErrors {
    /// How many problems were found, to say "3 problems" before listing them.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True only for a value built by hand: a returned error always has one.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems in the order they are reported.
    pub fn iter(&self) -> std::slice::Iter<'_, PolicyError> {
        self.0.iter()
    }

    /// The errors about one field (exact path), handy for callers and tests.
    pub fn for_field<'a>(&'a self, field: &'a str) -> impl Iterator<Item = &'a PolicyError> + 'a {
        self.0.iter().filter(move |e| e.field == field)
    }
}

impl<'a> IntoIterator for &'a PolicyErrors {
    type Item = &'a PolicyError;
    type IntoIter = std::slice::Iter<'a, PolicyError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Where a value came from in the file: (line, column), 1-based.
/// `None` for values that came from a preset or from code.
pub(crate) type Loc = Option<(u64, u64)>;

/// Collects errors for one source.
pub(crate) struct Errors<'s> {
    source: &'s str,
    list: Vec<PolicyError>,
}

impl<'s> Errors<'s> {
    pub(crate) fn new(source: &'s str) -> Self {
        Errors {
            source,
            list: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, loc: Loc, field: impl Into<String>, message: impl Into<String>) {
        self.list.push(PolicyError {
            source: self.source.to_string(),
            line: loc.map(|l| l.0),
            column: loc.map(|l| l.1),
            field: field.into(),
            message: sanitize(&message.into()),
        });
    }

    /// Errors sorted by position: located ones in document order first,
    /// then the ones without a line, in the order they were found.
    pub(crate) fn into_result<T>(self, value: Option<T>) -> Result<T, PolicyErrors> {
        let mut list = self.list;
        match value {
            Some(v) if list.is_empty() => Ok(v),
            _ => {
                if list.is_empty() {
                    // Unreachable by construction (no value is only produced
                    // alongside an error), but never return an empty error list.
                    list.push(PolicyError {
                        source: self.source.to_string(),
                        line: None,
                        column: None,
                        field: String::new(),
                        message: "the policy could not be resolved".into(),
                    });
                }
                list.sort_by_key(|e| (e.line.is_none(), e.line, e.column));
                Err(PolicyErrors(list))
            }
        }
    }
}

/// Keeps messages on one line and free of terminal control characters: they
/// quote user input, which may contain anything.
fn sanitize(message: &str) -> String {
    message
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_debug().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Quotes a user-provided string for a message, shortened if long.
pub(crate) fn quote(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() > MAX {
        let short: String = s.chars().take(MAX).collect();
        format!("{:?}…", short)
    } else {
        format!("{s:?}")
    }
}

/// "did you mean `x`?" for a misspelt name, if one allowed name is close.
pub(crate) fn suggestion(given: &str, allowed: &[&str]) -> Option<String> {
    let given = given.to_ascii_lowercase();
    allowed
        .iter()
        .map(|a| (edit_distance(&given, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4) && *d < a.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| format!("did you mean `{a}`?"))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: Option<u64>, column: Option<u64>, field: &str) -> PolicyError {
        PolicyError {
            source: "p.yaml".into(),
            line,
            column,
            field: field.into(),
            message: "bad".into(),
        }
    }

    #[test]
    fn display_omits_unknown_parts() {
        assert_eq!(
            err(Some(3), Some(7), "window").to_string(),
            "p.yaml:3:7: window: bad"
        );
        assert_eq!(
            err(Some(3), None, "window").to_string(),
            "p.yaml:3: window: bad"
        );
        assert_eq!(err(None, None, "window").to_string(), "p.yaml: window: bad");
        assert_eq!(err(None, None, "").to_string(), "p.yaml: bad");
        let mut e = err(None, None, "x");
        e.source.clear();
        assert_eq!(e.to_string(), "x: bad");
    }

    #[test]
    fn errors_display_one_per_line() {
        let all = PolicyErrors(vec![err(Some(1), Some(1), "a"), err(Some(2), Some(1), "b")]);
        assert_eq!(all.to_string(), "p.yaml:1:1: a: bad\np.yaml:2:1: b: bad");
    }

    #[test]
    fn messages_are_single_line() {
        let mut errors = Errors::new("f");
        errors.push(None, "x", "a\nb\u{1b}[31m");
        let e = errors.into_result::<()>(None).unwrap_err();
        assert!(!e.to_string().contains('\n'));
        assert!(!e.to_string().contains('\u{1b}'));
    }

    #[test]
    fn suggests_close_names() {
        assert_eq!(
            suggestion("windw", &["window", "ladder"]).as_deref(),
            Some("did you mean `window`?")
        );
        assert_eq!(suggestion("zzzzzz", &["window", "ladder"]), None);
    }
}
