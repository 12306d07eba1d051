//! YAML errors that point at the user's file without quoting their secrets.
//!
//! serde-saphyr's errors print the offending line with its neighbours. In a
//! config that holds credentials inline (`auth: {bearer: "..."}`), the line
//! next to a typo is often a secret. [`describe_error`] prints the location,
//! the message and a snippet in which every value under a credential-named
//! key (`token`, `bearer`, `password`, `routing_key`, `webhook_url`...) is
//! masked, URL credentials are masked, and long lines are cut.

use crate::redact::{is_secret_name, mask_url_credentials, Redactor, MASK};
use crate::secret::Secret;
use crate::url::shorten;
use serde_saphyr::{MessageFormatter, UserMessageFormatter};

/// Lines of context shown before and after the offending one.
const CONTEXT: usize = 1;

/// `source:LINE:COL: message`, then a masked snippet around the line.
pub fn describe_error(source: &str, text: &str, e: &serde_saphyr::Error) -> String {
    let redactor = secret_values(text);
    let message = UserMessageFormatter.format_message(e.without_snippet());
    let message = shorten(&redactor.redact(&message));
    let Some(loc) = e.location().filter(|l| l.line() > 0) else {
        return format!("{source}: {message}");
    };
    let line = usize::try_from(loc.line()).unwrap_or(usize::MAX);
    let mut out = format!("{source}:{line}:{}: {message}", loc.column());
    let first = line.saturating_sub(CONTEXT).max(1);
    for (n, l) in text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .skip(first - 1)
        .take(line + CONTEXT + 1 - first)
    {
        let marker = if n == line { ">" } else { " " };
        out.push_str(&format!("\n {marker}{n:>5} | {}", mask_line(l, &redactor)));
    }
    out
}

/// A line as it may be shown: values under credential-named keys masked,
/// URL credentials masked, every known secret value masked, at most a few
/// hundred bytes.
pub fn mask_line(line: &str, redactor: &Redactor) -> String {
    let mut out = String::new();
    let mut rest = line;
    // Walk `key: value` pairs, block (`key: v`) and flow (`{a: v, b: w}`) alike.
    while let Some((key_end, value_start)) = next_key(rest) {
        let key = key_name(&rest[..key_end]);
        out.push_str(&rest[..value_start]);
        rest = &rest[value_start..];
        if is_secret_name(key) {
            let value = rest.trim_start();
            if value.starts_with(['{', '[']) {
                // Whatever is nested under a credential's key is credential.
                out.push(' ');
                out.push_str(MASK);
                rest = "";
            } else if !value.is_empty() {
                let end = value_end(rest);
                out.push(' ');
                out.push_str(MASK);
                rest = &rest[end..];
            }
        }
    }
    out.push_str(rest);
    shorten(&redactor.redact(&mask_url_credentials(&out)))
}

/// Every value under a credential-named key in the document, so the error
/// message (which may quote a value: `invalid type: string "..."`) can be
/// scrubbed of them too.
pub fn secret_values(text: &str) -> Redactor {
    let mut r = Redactor::new();
    for line in text.lines() {
        let mut rest = line;
        while let Some((key_end, value_start)) = next_key(rest) {
            let key = key_name(&rest[..key_end]);
            rest = &rest[value_start..];
            if is_secret_name(key) {
                let value = rest.trim_start();
                let pieces: Vec<&str> = if value.starts_with(['{', '[']) {
                    // Every scalar nested in a flow collection under the key.
                    value
                        .split(['{', '}', '[', ']', ','])
                        .map(|p| p.rsplit_once(": ").map_or(p, |(_, v)| v))
                        .collect()
                } else {
                    vec![&rest[..value_end(rest)]]
                };
                for v in pieces {
                    let v = v.trim().trim_matches(['"', '\'']);
                    if v.len() >= 4 {
                        r.add(&Secret::new(v));
                    }
                }
            }
        }
    }
    r
}

/// The next `key:` in `s`: (end of the key, start of its value).
fn next_key(s: &str) -> Option<(usize, usize)> {
    let b = s.as_bytes();
    let mut quote: Option<u8> = None;
    for i in 0..b.len() {
        match (quote, b[i]) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b[i]),
            (None, b'#') if i == 0 || b[i - 1] == b' ' => return None,
            (None, b':') if b.get(i + 1).is_none_or(|c| *c == b' ') => {
                return Some((i, i + 1));
            }
            _ => {}
        }
    }
    None
}

/// `  - name` / `{a: 1, token` → `name` / `token`.
fn key_name(s: &str) -> &str {
    let s = s.rsplit([',', '{', '[']).next().unwrap_or(s);
    s.trim()
        .trim_start_matches("- ")
        .trim()
        .trim_matches(['"', '\''])
}

/// Where a value ends: the end of the line, or the `,` / `}` closing it in a
/// flow mapping (outside quotes).
fn value_end(s: &str) -> usize {
    let b = s.as_bytes();
    let mut quote: Option<u8> = None;
    for (i, &c) in b.iter().enumerate() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(c),
            (None, b',' | b'}' | b']') => return i,
            (None, b'#') if i > 0 && b[i - 1] == b' ' => return i,
            _ => {}
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_lines_are_masked_nested_and_flow_alike() {
        let r = Redactor::new();
        let l = mask_line(r#"    auth: {bearer: "tok-abc123", other: 1}"#, &r);
        assert!(!l.contains("tok-abc123"), "{l}");
        assert!(l.starts_with("    auth:"), "{l}");
        let l = mask_line(
            r#"  slack: {webhook_url: "https://hooks/T0/B0/XyZ123", x: 1}"#,
            &r,
        );
        assert!(!l.contains("XyZ123"), "{l}");
        assert!(l.contains("x: 1"), "{l}");
        let l = mask_line("  routing_key: R0UT1NGKEY", &r);
        assert!(!l.contains("R0UT1NGKEY"), "{l}");
        let l = mask_line("  - name: ops", &r);
        assert_eq!(l, "  - name: ops");
        let l = mask_line("  url: http://u:pw-xyz@h/", &r);
        assert!(!l.contains("pw-xyz"), "{l}");
    }

    #[test]
    fn an_error_next_to_an_inline_secret_does_not_show_it() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Doc {
            auth: std::collections::BTreeMap<String, String>,
            timeout: u32,
        }
        let text = "auth: {bearer: \"s3cr3t-bearer-77\"}\ntimeout: ten\n";
        let e = serde_saphyr::from_str::<Doc>(text).unwrap_err();
        let shown = describe_error("policy.yaml", text, &e);
        assert!(shown.starts_with("policy.yaml:2:"), "{shown}");
        assert!(!shown.contains("s3cr3t-bearer-77"), "{shown}");
        assert!(shown.contains("timeout: ten"), "{shown}");
    }

    #[test]
    fn a_value_quoted_in_the_message_is_masked() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Doc {
            password: u32,
        }
        let text = "password: hunter2-long\n";
        let e = serde_saphyr::from_str::<Doc>(text).unwrap_err();
        let shown = describe_error("x.yaml", text, &e);
        assert!(!shown.contains("hunter2-long"), "{shown}");
    }
}
