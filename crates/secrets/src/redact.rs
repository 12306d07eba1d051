//! The last line of defence: every outgoing message, audit payload and error
//! text passes through a [`Redactor`] before it leaves the process.
//!
//! Two kinds of leak are scrubbed:
//! - the configured secret values themselves (and their URL-encoded form,
//!   since a secret often travels inside a URL);
//! - credentials that were never configured as secrets but ride along in URLs
//!   a user pasted: `https://user:pass@host/…` and `?token=…`-style parameters.

use crate::secret::Secret;

/// What a redacted secret or credential is replaced with, so a reader sees
/// that something was there and was withheld on purpose.
pub const MASK: &str = "[REDACTED]";

/// Parts of a secret URL shorter than this (`services`, `v2`) are not secret.
const MIN_PART: usize = 8;

/// Query parameters whose values are credentials by convention, matched whole
/// (case-insensitively).
const TOKEN_PARAMS: &[&str] = &[
    "key",
    "sig",
    "auth",
    "pass",
    "pwd",
    "code",
    "x-amz-signature",
    "x-goog-signature",
];

/// A parameter whose name contains one of these is a credential too
/// (`access_token`, `client_secret`, `dd-api-key`, `routing_key`, `password`...).
const TOKEN_PARTS: &[&str] = &[
    "token",
    "secret",
    "passw",
    "apikey",
    "api_key",
    "api-key",
    "signature",
    "credential",
    "routing_key",
    "application-key",
    "application_key",
    "auth",
    "_key",
    "-key",
];

/// Whether a field, header or environment variable of this name holds a
/// credential by convention (`Authorization`, `X-Api-Key`, `DB_PASSWORD`,
/// `bearer`, `routing_key`...): its value is treated as a secret even when
/// written inline, and YAML snippets mask its line.
pub fn is_secret_name(name: &str) -> bool {
    const PARTS: &[&str] = &[
        "authorization",
        "cookie",
        "token",
        "secret",
        "passw",
        "key",
        "auth",
        "credential",
        "signature",
        "session",
        "bearer",
        "private",
        "webhook_url",
        "routing",
    ];
    let n = name.to_ascii_lowercase();
    PARTS.iter().any(|p| n.contains(p))
}

/// Whether a query parameter of this name carries a credential.
pub fn is_credential_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    TOKEN_PARAMS.contains(&n.as_str()) || TOKEN_PARTS.iter().any(|p| n.contains(p))
}

/// Scrubs outgoing text of every registered secret value and of any
/// credential riding in a URL, whether or not it was configured as a secret.
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    /// Longest first, so a secret containing another is masked whole.
    needles: Vec<String>,
}

impl Redactor {
    /// A redactor that knows no secrets yet; it still masks credentials in
    /// URLs.
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Registers a secret's value (and its percent-encoded form). A secret
    /// that is a URL (a Slack webhook, say) also has its credential-looking
    /// parts registered: the token at the end of `…/services/T0/B0/XXXX` leaks
    /// just as badly when quoted alone.
    pub fn add(&mut self, secret: &Secret) {
        let v = secret.expose();
        if v.is_empty() {
            return;
        }
        let mut parts = vec![v.to_string(), percent_encode(v)];
        if let Ok(u) = url::Url::parse(v) {
            parts.extend(u.password().map(str::to_string));
            parts.extend(
                u.path_segments()
                    .into_iter()
                    .flatten()
                    .filter(|p| p.len() >= MIN_PART)
                    .map(str::to_string),
            );
            parts.extend(
                u.query_pairs()
                    .map(|(_, val)| val.into_owned())
                    .filter(|p| p.len() >= MIN_PART),
            );
        }
        for n in parts {
            if !n.is_empty() && !self.needles.contains(&n) {
                self.needles.push(n);
            }
        }
        self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
    }

    /// Registers HTTP basic credentials: the password, and the base64 of
    /// `user:password` that travels in `Authorization: Basic ...`, which an
    /// endpoint echoing its request would otherwise send back decodable.
    pub fn add_basic(&mut self, user: &str, password: &str) {
        let encoded = base64(format!("{user}:{password}").as_bytes());
        for s in [password.to_string(), encoded] {
            self.add(&Secret::new(s));
        }
    }

    /// Registers the credentials a URL carries (userinfo, credential-looking
    /// query values), with the basic-auth form of its userinfo.
    pub fn add_url(&mut self, url: &url::Url) {
        if let Some(p) = url.password() {
            let user = percent_decode(url.username());
            let pass = percent_decode(p);
            self.add_basic(&user, &pass);
            self.add_basic(url.username(), p);
        }
        for (k, v) in url.query_pairs() {
            if is_credential_param(&k) && !v.is_empty() {
                self.add(&Secret::new(v.into_owned()));
            }
        }
    }

    /// Adds everything `other` masks, so one redactor covers every part's secrets.
    pub fn merge(&mut self, other: &Redactor) {
        for n in &other.needles {
            if !self.needles.contains(n) {
                self.needles.push(n.clone());
            }
        }
        self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
    }

    /// The text with every secret and URL credential masked.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), MASK);
            }
        }
        mask_url_credentials(&out)
    }

    /// Redacts every string (keys included) inside a JSON document.
    pub fn redact_json(&self, v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) => *s = self.redact(s),
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| self.redact_json(x)),
            serde_json::Value::Object(m) => {
                let entries: Vec<(String, serde_json::Value)> =
                    std::mem::take(m).into_iter().collect();
                for (k, mut val) in entries {
                    self.redact_json(&mut val);
                    m.insert(self.redact(&k), val);
                }
            }
            _ => {}
        }
    }
}

/// Masks URL credentials nobody configured as a secret: the userinfo of
/// every `scheme://user:pass@host` and the values of credential-looking query
/// parameters. Used on any text that may quote a URL, even an invalid one.
pub fn mask_url_credentials(text: &str) -> String {
    mask_token_params(&mask_userinfo(text))
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

/// Standard base64 with padding (RFC 4648), as `Authorization: Basic` uses.
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn percent_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `scheme://user:pass@host` → `scheme://[REDACTED]@host`.
fn mask_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '`') || c.is_whitespace()
            })
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) if at > 0 => {
                out.push_str(MASK);
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// `?token=abc&x=1` → `?token=[REDACTED]&x=1` for the parameters in [`TOKEN_PARAMS`].
fn mask_token_params(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        if bytes[i] == b'?' || bytes[i] == b'&' {
            let key_start = i + 1;
            let key_end = text[key_start..]
                .find(|c: char| c == '=' || c == '&' || c.is_whitespace())
                .map(|e| key_start + e)
                .unwrap_or(bytes.len());
            if bytes.get(key_end) == Some(&b'=') {
                let key = text[key_start..key_end].to_ascii_lowercase();
                if is_credential_param(&key) {
                    let val_start = key_end + 1;
                    let val_end = text[val_start..]
                        .find(|c: char| {
                            matches!(c, '&' | '#' | '"' | '\'' | '<' | '>') || c.is_whitespace()
                        })
                        .map(|e| val_start + e)
                        .unwrap_or(bytes.len());
                    if val_end > val_start {
                        out.push_str(&text[copied..val_start]);
                        out.push_str(MASK);
                        copied = val_end;
                        i = val_end;
                        continue;
                    }
                }
            }
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(secrets: &[&str]) -> Redactor {
        let mut r = Redactor::new();
        for s in secrets {
            r.add(&Secret::new(*s));
        }
        r
    }

    #[test]
    fn masks_configured_values_and_their_encoded_form() {
        let r = r(&["R0uting/Key+1", "hunter2"]);
        let t = r.redact("key R0uting/Key+1 and R0uting%2FKey%2B1 and hunter2hunter2");
        assert_eq!(t, "key [REDACTED] and [REDACTED] and [REDACTED][REDACTED]");
    }

    #[test]
    fn masks_url_credentials_nobody_configured() {
        let r = Redactor::new();
        assert_eq!(
            r.redact("GET https://admin:s3cret@prom.internal:9090/api/v1/query?query=up&token=abc123#x failed"),
            "GET https://[REDACTED]@prom.internal:9090/api/v1/query?query=up&token=[REDACTED]#x failed"
        );
        assert_eq!(
            r.redact("see http://host/path?a=1"),
            "see http://host/path?a=1"
        );
        assert_eq!(r.redact("x?API_KEY=zzz y"), "x?API_KEY=[REDACTED] y");
    }

    #[test]
    fn basic_credentials_are_masked_in_their_encoded_form() {
        assert_eq!(base64(b"op:pw"), "b3A6cHc=");
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        let mut r = Redactor::new();
        r.add_url(&url::Url::parse("http://op:pw-123456@h/?token=tok-98765").unwrap());
        let t = r.redact("Authorization: Basic b3A6cHctMTIzNDU2 x tok-98765");
        assert!(!t.contains("b3A6cHctMTIzNDU2"), "{t}");
        assert!(!t.contains("tok-98765"), "{t}");
    }

    #[test]
    fn json_is_scrubbed_everywhere() {
        let r = r(&["tok-9"]);
        let mut v = serde_json::json!({"a": ["tok-9", {"tok-9": "https://u:p@h/"}], "n": 3});
        r.redact_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a": ["[REDACTED]", {"[REDACTED]": "https://[REDACTED]@h/"}], "n": 3})
        );
    }
}
