//! A generic JSON webhook, signed so the receiver can trust it.
//!
//! Body: the [`Message`] as JSON with `"schema": "canaryd.notification/v1"`.
//! Header `X-Canaryd-Signature: sha256=<hex>` is HMAC-SHA256 of the exact
//! body bytes under the shared secret; `sent_at` is inside the signed body, so
//! receivers can also reject stale replays.

use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::message::Message;
use crate::secret::Secret;

pub const SIGNATURE_HEADER: &str = "X-Canaryd-Signature";
pub const SCHEMA: &str = "canaryd.notification/v1";

pub fn body(m: &Message) -> Result<Vec<u8>, serde_json::Error> {
    let mut v = serde_json::to_value(m)?;
    v["schema"] = serde_json::Value::String(SCHEMA.into());
    serde_json::to_vec(&v)
}

/// `sha256=<hex>` over `body` with `secret`.
pub fn signature(secret: &Secret, body: &[u8]) -> String {
    // HMAC takes keys of any length; this cannot fail for Sha256.
    let mut mac = match <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose().as_bytes())
    {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What a receiver does: recompute and compare in constant time.
pub fn verify(secret: &Secret, body: &[u8], header: &str) -> bool {
    Secret::new(signature(secret, body)).matches(header)
}
