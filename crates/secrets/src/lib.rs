//! Secrets that never leave their box.
//!
//! - [`secret`]: [`Secret`], a value with no `Display`, and [`SecretSource`],
//!   where it comes from (`{env:}`, `{file:}`, inline with a warning);
//! - [`redact`]: [`Redactor`], the last step every outgoing text passes;
//! - [`url`]: [`SafeUrl`], the one type for every configured URL, which masks
//!   its own credentials wherever it is shown;
//! - [`sign`]: the HMAC signature a receiver checks a body with.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

pub mod redact;
pub mod secret;
pub mod sign;
pub mod slack;
pub mod url;
pub mod yaml;

pub use redact::{is_secret_name, mask_url_credentials, Redactor, MASK};
pub use secret::{Secret, SecretError, SecretSource};
pub use url::{shorten, without_credentials_or_query, SafeUrl, UrlError, UrlText};
