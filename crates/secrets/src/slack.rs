//! Trusting a request that says it comes from Slack.
//!
//! Slack signs every interactivity request (a button pressed on an approval
//! notice) with the app's signing secret: `X-Slack-Signature: v0=<hex>`, the
//! HMAC-SHA256 of `v0:<X-Slack-Request-Timestamp>:<raw body>`. A request is
//! accepted only when that signature matches, its timestamp is within five
//! minutes of now (Slack's own rule: an old request is a replay, even if its
//! signature is genuine) and this exact signature was not accepted before
//! (a replay inside those five minutes).
//!
//! Time is an input (`now_s`), so the rules are tested without a clock.

use std::collections::VecDeque;

use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::secret::Secret;

/// The header carrying Slack's signature.
pub const SIGNATURE_HEADER: &str = "X-Slack-Signature";
/// The header carrying the Unix time (seconds) Slack signed the request at.
pub const TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";
/// How far a request's timestamp may be from now, either way.
pub const MAX_AGE_S: i64 = 5 * 60;

/// Why a request was not trusted. The words go back to the caller (and to
/// the log); none of them quotes the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackAuthError {
    /// A header is missing.
    #[error("missing {0} header: not a signed Slack request")]
    Missing(&'static str),
    /// The timestamp is not a whole number of seconds.
    #[error("{TIMESTAMP_HEADER} {0:?} is not a Unix time in seconds")]
    BadTimestamp(String),
    /// The timestamp is more than five minutes away from now.
    #[error("the request was signed {age_s} s away from now (at most {MAX_AGE_S} s): refused as a replay")]
    Stale {
        /// Seconds between the request's timestamp and now (absolute).
        age_s: i64,
    },
    /// The signature does not match the body under the signing secret.
    #[error(
        "the {SIGNATURE_HEADER} does not match the body: not signed with this app's signing secret"
    )]
    BadSignature,
    /// This exact signed request was accepted before.
    #[error("this request was already received: refused as a replay")]
    Replayed,
}

/// `v0=<hex>` for `body` sent at `timestamp` under `secret`: what Slack
/// sends, and what a test impersonating Slack computes.
pub fn signature(secret: &Secret, timestamp: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length; this cannot fail for Sha256.
    let mut mac = match <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose().as_bytes())
    {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks Slack's signature and remembers accepted ones for five minutes,
/// so a captured request cannot be sent again.
#[derive(Debug)]
pub struct SlackVerifier {
    secret: Secret,
    /// Accepted signatures with their timestamps, oldest first. Bounded by
    /// what arrives in five minutes; entries older than that are dropped
    /// (their requests are refused as stale anyway).
    seen: VecDeque<(i64, String)>,
}

impl SlackVerifier {
    /// A verifier for the app whose signing secret is `secret`.
    pub fn new(secret: Secret) -> SlackVerifier {
        SlackVerifier {
            secret,
            seen: VecDeque::new(),
        }
    }

    /// Accepts the request (headers as received, body as raw bytes) or says
    /// why not. `now_s`: the current Unix time in seconds.
    pub fn verify(
        &mut self,
        timestamp: Option<&str>,
        signature_header: Option<&str>,
        body: &[u8],
        now_s: i64,
    ) -> Result<(), SlackAuthError> {
        let timestamp = timestamp.ok_or(SlackAuthError::Missing(TIMESTAMP_HEADER))?;
        let given = signature_header.ok_or(SlackAuthError::Missing(SIGNATURE_HEADER))?;
        let at: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| SlackAuthError::BadTimestamp(crate::shorten(timestamp)))?;
        let age_s = now_s.saturating_sub(at).saturating_abs();
        if age_s > MAX_AGE_S {
            return Err(SlackAuthError::Stale { age_s });
        }
        let expected = Secret::new(signature(&self.secret, timestamp, body));
        if !expected.matches(given.trim()) {
            return Err(SlackAuthError::BadSignature);
        }
        while self
            .seen
            .front()
            .is_some_and(|(t, _)| now_s.saturating_sub(*t) > MAX_AGE_S)
        {
            self.seen.pop_front();
        }
        let given = given.trim().to_string();
        if self.seen.iter().any(|(_, s)| *s == given) {
            return Err(SlackAuthError::Replayed);
        }
        self.seen.push_back((at, given));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_900_000;

    fn verifier() -> SlackVerifier {
        SlackVerifier::new(Secret::new("8f742231b10e8888abcd99yyyzzz85a5"))
    }

    fn signed(body: &str, at: i64) -> (String, String) {
        let ts = at.to_string();
        let sig = signature(
            &Secret::new("8f742231b10e8888abcd99yyyzzz85a5"),
            &ts,
            body.as_bytes(),
        );
        (ts, sig)
    }

    /// Computed independently (Python's hmac and hashlib) from Slack's
    /// documented recipe: `v0=` + hex HMAC-SHA256 of `v0:{ts}:{body}`.
    #[test]
    fn the_signature_is_slacks_v0_recipe() {
        let sig = signature(
            &Secret::new("8f742231b10e8888abcd99yyyzzz85a5"),
            "1531420618",
            b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J",
        );
        assert_eq!(
            sig,
            "v0=bca5eef5dd737ed259b428b18cd24f679baa18c3fc5f1cb2a6ac9f03e717969a"
        );
    }

    #[test]
    fn a_request_signed_with_the_secret_is_accepted_once() {
        let mut v = verifier();
        let body = "payload=%7B%22type%22%3A%22block_actions%22%7D";
        let (ts, sig) = signed(body, NOW - 10);
        assert_eq!(
            v.verify(Some(&ts), Some(&sig), body.as_bytes(), NOW),
            Ok(())
        );
        assert_eq!(
            v.verify(Some(&ts), Some(&sig), body.as_bytes(), NOW + 1),
            Err(SlackAuthError::Replayed)
        );
    }

    #[test]
    fn a_forged_or_altered_request_is_refused() {
        let mut v = verifier();
        let (ts, sig) = signed("payload=a", NOW);
        assert_eq!(
            v.verify(Some(&ts), Some(&sig), b"payload=b", NOW),
            Err(SlackAuthError::BadSignature)
        );
        let forged = signature(&Secret::new("not-the-secret"), &ts, b"payload=a");
        assert_eq!(
            v.verify(Some(&ts), Some(&forged), b"payload=a", NOW),
            Err(SlackAuthError::BadSignature)
        );
        // The timestamp is signed too: moving it breaks the signature.
        let later = (NOW + 1).to_string();
        assert_eq!(
            v.verify(Some(&later), Some(&sig), b"payload=a", NOW),
            Err(SlackAuthError::BadSignature)
        );
    }

    #[test]
    fn a_request_older_or_newer_than_five_minutes_is_refused() {
        let mut v = verifier();
        let (ts, sig) = signed("payload=a", NOW - MAX_AGE_S - 1);
        assert_eq!(
            v.verify(Some(&ts), Some(&sig), b"payload=a", NOW),
            Err(SlackAuthError::Stale { age_s: 301 })
        );
        let (ts, sig) = signed("payload=a", NOW + MAX_AGE_S + 5);
        assert_eq!(
            v.verify(Some(&ts), Some(&sig), b"payload=a", NOW),
            Err(SlackAuthError::Stale { age_s: 305 })
        );
        let (ts, sig) = signed("payload=a", NOW - MAX_AGE_S);
        assert_eq!(v.verify(Some(&ts), Some(&sig), b"payload=a", NOW), Ok(()));
    }

    #[test]
    fn missing_headers_and_garbage_timestamps_are_refused() {
        let mut v = verifier();
        assert_eq!(
            v.verify(None, Some("v0=00"), b"", NOW),
            Err(SlackAuthError::Missing(TIMESTAMP_HEADER))
        );
        assert_eq!(
            v.verify(Some("1"), None, b"", NOW),
            Err(SlackAuthError::Missing(SIGNATURE_HEADER))
        );
        assert!(matches!(
            v.verify(Some("yesterday"), Some("v0=00"), b"", NOW),
            Err(SlackAuthError::BadTimestamp(_))
        ));
    }

    #[test]
    fn remembered_signatures_expire_with_their_window() {
        let mut v = verifier();
        for i in 0..100 {
            let body = format!("payload={i}");
            let (ts, sig) = signed(&body, NOW + i);
            assert_eq!(
                v.verify(Some(&ts), Some(&sig), body.as_bytes(), NOW + i),
                Ok(())
            );
        }
        let (ts, sig) = signed("payload=late", NOW + 1_000);
        assert_eq!(
            v.verify(Some(&ts), Some(&sig), b"payload=late", NOW + 1_000),
            Ok(())
        );
        assert_eq!(
            v.seen.len(),
            1,
            "entries older than five minutes are dropped"
        );
    }
}
