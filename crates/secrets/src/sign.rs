//! Signing a body with a shared secret, so its receiver can trust it: the
//! signed notification webhook and the webhook router both send
//! `X-Canaryd-Signature: sha256=<hex>`, the HMAC-SHA256 of the exact body
//! bytes under the secret.

use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::secret::Secret;

/// The header the signature travels in.
pub const SIGNATURE_HEADER: &str = "X-Canaryd-Signature";

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
