//! A generic JSON webhook, signed so the receiver can trust it.
//!
//! Body: the [`Message`] as JSON with `"schema": "canaryd.notification/v1"`.
//! Header `X-Canaryd-Signature: sha256=<hex>` is HMAC-SHA256 of the exact
//! body bytes under the shared secret; `sent_at` is inside the signed body, so
//! receivers can also reject stale replays.

use crate::message::Message;
pub const SCHEMA: &str = "canaryd.notification/v1";

pub fn body(m: &Message) -> Result<Vec<u8>, serde_json::Error> {
    let mut v = serde_json::to_value(m)?;
    v["schema"] = serde_json::Value::String(SCHEMA.into());
    serde_json::to_vec(&v)
}
