//! [`SafeUrl`]: the one type for every URL a user configures (the canaryd
//! server, the stable and canary upstreams, Prometheus, Datadog, webhook and
//! notification targets).
//!
//! Users paste URLs with credentials in them (`https://op:pass@host`,
//! `?token=...`). Such a URL is still needed to send requests, but it must
//! never be *shown*: `Display`, `Debug` and `Serialize` print the masked form,
//! and parse errors never quote the input. The full URL is reachable only
//! through [`SafeUrl::expose`], which greps well in review.

use crate::redact::{is_credential_param, mask_url_credentials, MASK};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An http(s) URL that shows itself only masked; see the module docs.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SafeUrl(url::Url);

/// Why a configured URL was refused. The text never contains the URL's
/// credentials: the URL is quoted masked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// The text does not parse as a URL at all.
    #[error("`{shown}` is not a valid URL: {reason}")]
    Invalid {
        /// The input, credentials masked and shortened.
        shown: String,
        /// What the URL parser objected to.
        reason: String,
    },
    /// A URL, but not one canaryd can send a request to.
    #[error("`{shown}`: only http and https URLs are supported")]
    Scheme {
        /// The URL, masked.
        shown: String,
    },
    /// Credentials in a place that takes them only from a secret.
    #[error(
        "`{shown}` carries credentials ({what}): put them in a secret ({{env: VAR}} or {{file: PATH}}) instead of the URL"
    )]
    Credentials {
        /// The URL, masked.
        shown: String,
        /// Which kind of credential, as [`SafeUrl::credentials`] says it.
        what: &'static str,
    },
}

impl SafeUrl {
    /// Parses an http(s) URL. Credentials are allowed (the caller decides with
    /// [`SafeUrl::credentials`]); errors quote the input masked.
    pub fn parse(raw: &str) -> Result<SafeUrl, UrlError> {
        let raw = raw.trim();
        let u = url::Url::parse(raw).map_err(|e| UrlError::Invalid {
            shown: shorten(&mask_url_credentials(raw)),
            reason: e.to_string(),
        })?;
        if !matches!(u.scheme(), "http" | "https") {
            return Err(UrlError::Scheme {
                shown: SafeUrl(u).to_string(),
            });
        }
        Ok(SafeUrl(u))
    }

    /// Parses an http(s) URL and refuses one that carries credentials, for
    /// every place where credentials belong in a secret instead.
    pub fn parse_without_credentials(raw: &str) -> Result<SafeUrl, UrlError> {
        let u = SafeUrl::parse(raw)?;
        u.refuse_credentials()?;
        Ok(u)
    }

    /// What kind of credential this URL carries, if any.
    pub fn credentials(&self) -> Option<&'static str> {
        if !self.0.username().is_empty() || self.0.password().is_some() {
            return Some("user:password@");
        }
        if self.0.query_pairs().any(|(k, _)| is_credential_param(&k)) {
            return Some("a token in the query string");
        }
        None
    }

    /// Fails with [`UrlError::Credentials`] if this URL carries any, for a
    /// URL parsed leniently whose caller then decides credentials do not
    /// belong in it.
    pub fn refuse_credentials(&self) -> Result<(), UrlError> {
        match self.credentials() {
            Some(what) => Err(UrlError::Credentials {
                shown: self.to_string(),
                what,
            }),
            None => Ok(()),
        }
    }

    /// The URL with its credentials, for the one place that sends a request.
    pub fn expose(&self) -> &url::Url {
        &self.0
    }

    /// The URL without its credentials, safe to show anywhere.
    pub fn masked(&self) -> String {
        let mut u = self.0.clone();
        if !u.username().is_empty() || u.password().is_some() {
            let _ = u.set_password(None);
            let _ = u.set_username(MASK);
        }
        if u.query().is_some() {
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| {
                    let v = if is_credential_param(&k) {
                        MASK.to_string()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            u.query_pairs_mut().clear().extend_pairs(pairs);
        }
        // The serializer percent-encodes the brackets of the mask; show it plain.
        u.to_string().replace("%5BREDACTED%5D", MASK)
    }

    /// The host, for messages and checks (a host is never a credential);
    /// `None` for a URL without one.
    pub fn host_str(&self) -> Option<&str> {
        self.0.host_str()
    }

    /// The port, or 80/443 from the scheme when the URL names none.
    pub fn port_or_known_default(&self) -> Option<u16> {
        self.0.port_or_known_default()
    }

    /// This URL with `path` appended to its path, credentials kept.
    pub fn join_path(&self, path: &str) -> SafeUrl {
        let mut u = self.0.clone();
        let base = u.path().trim_end_matches('/').to_string();
        u.set_path(&format!("{base}/{}", path.trim_start_matches('/')));
        SafeUrl(u)
    }
}

/// The text of a configured URL that is not a URL yet: a template such as
/// `https://lb.internal/api/{workload}?token=...`, whose placeholders are
/// filled per request. It is kept whole for the one place that renders and
/// sends it, and shown masked (userinfo and credential-looking query
/// parameters) by `Display`, `Debug` and serde, exactly like [`SafeUrl`].
#[derive(Clone, PartialEq, Eq)]
pub struct UrlText(String);

impl UrlText {
    /// Keeps a configured template as written; nothing is checked until it
    /// is rendered.
    pub fn new(text: impl Into<String>) -> UrlText {
        UrlText(text.into())
    }

    /// The text with its credentials, for rendering the request.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The text without its credentials, safe to show anywhere.
    pub fn masked(&self) -> String {
        shorten(&mask_url_credentials(&self.0))
    }
}

impl fmt::Display for UrlText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for UrlText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UrlText({})", self.masked())
    }
}

impl Serialize for UrlText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.masked())
    }
}

impl<'de> Deserialize<'de> for UrlText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(UrlText)
    }
}

/// A URL as a router's errors show it: without `user:password@` and without
/// the query or fragment, whatever their parameter names.
///
/// Stricter than [`mask_url_credentials`] on purpose: a router's request
/// URL is a template, and `?{{ secret }}` may sit under any parameter name,
/// so no name-based rule can tell which values are credentials. Works on
/// text that is not a valid URL too (it may be the reason for the error).
///
/// `https://u:p@lb.internal/api/w?token=x` → `https://lb.internal/api/w?…`.
pub fn without_credentials_or_query(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let path = match path.find(['?', '#']) {
        Some(i) => format!("{}?…", &path[..i]),
        None => path.to_string(),
    };
    format!("{scheme}{host}{path}")
}

/// Quotes at most this much of a bad input: an error is no place for a megabyte.
const QUOTE_LIMIT: usize = 200;

/// `text` cut to [`QUOTE_LIMIT`] bytes on a char boundary, saying how much was left out.
pub fn shorten(text: &str) -> String {
    if text.len() <= QUOTE_LIMIT {
        return text.to_string();
    }
    let mut end = QUOTE_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &text[..end], text.len() - end)
}

impl fmt::Display for SafeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for SafeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SafeUrl({})", self.masked())
    }
}

impl FromStr for SafeUrl {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<SafeUrl, UrlError> {
        SafeUrl::parse(s)
    }
}

impl Serialize for SafeUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.masked())
    }
}

impl<'de> Deserialize<'de> for SafeUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        SafeUrl::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn without_credentials_or_query_strips_userinfo_and_the_whole_query() {
        use super::without_credentials_or_query as show;
        assert_eq!(
            show("https://admin:s3cret@lb.internal:8443/api/weights?token=abc#x"),
            "https://lb.internal:8443/api/weights?…"
        );
        assert_eq!(
            show("http://127.0.0.1:9/admin/weight"),
            "http://127.0.0.1:9/admin/weight"
        );
        assert_eq!(show("not a url@x?k=v"), "x?…");
    }

    use super::*;

    #[test]
    fn display_debug_and_serde_mask_userinfo_and_token_params() {
        let u = SafeUrl::parse(
            "https://op:pA55w0rd@prom.internal:9090/api?query=up&token=t0k3n&Api_Key=k3y",
        )
        .unwrap();
        for shown in [
            u.to_string(),
            format!("{u:?}"),
            serde_json::to_string(&u).unwrap(),
        ] {
            assert!(!shown.contains("pA55w0rd"), "{shown}");
            assert!(!shown.contains("t0k3n"), "{shown}");
            assert!(!shown.contains("k3y"), "{shown}");
            assert!(!shown.contains("op:"), "{shown}");
            assert!(shown.contains("prom.internal:9090/api?query=up"), "{shown}");
        }
        assert_eq!(u.expose().password(), Some("pA55w0rd"));
        assert_eq!(u.credentials(), Some("user:password@"));
    }

    #[test]
    fn url_text_is_masked_like_a_url_but_kept_whole_for_sending() {
        let raw = "https://op:pA55w0rd@lb.internal/api/{workload}?w={weight}&access_token=t0k3n";
        let t: UrlText = serde_json::from_str(&serde_json::to_string(raw).unwrap()).unwrap();
        for shown in [
            t.to_string(),
            format!("{t:?}"),
            serde_json::to_string(&t).unwrap(),
        ] {
            assert!(!shown.contains("pA55w0rd"), "{shown}");
            assert!(!shown.contains("t0k3n"), "{shown}");
            assert!(shown.contains("lb.internal/api/{workload}"), "{shown}");
        }
        assert_eq!(t.expose(), raw);
    }

    #[test]
    fn parse_errors_never_quote_credentials() {
        let e = SafeUrl::parse("http://op:hunter22@host:99999/x").unwrap_err();
        let t = e.to_string();
        assert!(!t.contains("hunter22"), "{t}");
        assert!(t.contains("invalid port"), "{t}");
        let e = SafeUrl::parse("ftp://u:hunter22@host/")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter22"), "{e}");
    }

    #[test]
    fn credentials_are_refused_where_asked() {
        assert!(SafeUrl::parse_without_credentials("http://h/?token=abc").is_err());
        assert!(SafeUrl::parse_without_credentials("http://u:p@h/").is_err());
        assert!(SafeUrl::parse_without_credentials("http://h/x?query=up").is_ok());
        let e = SafeUrl::parse_without_credentials("http://h/?access_token=zzzsecret")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("zzzsecret"), "{e}");
    }

    #[test]
    fn long_inputs_are_quoted_short() {
        let e = SafeUrl::parse(&format!("not a url {}", "x".repeat(1_000_000)))
            .unwrap_err()
            .to_string();
        assert!(e.len() < 1000, "{}", e.len());
    }
}
