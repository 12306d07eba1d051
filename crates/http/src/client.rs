//! The one way canaryd builds an outbound HTTP client (feature `client`):
//! the notifiers, the metrics sources, the routers and the CLI all call out
//! through it.
//!
//! reqwest is compiled without a default TLS crypto provider (ring is lighter
//! to build than aws-lc), and a client built before a provider is installed
//! panics. Going through [`client`] installs ring first, every time.

use std::time::Duration;

/// Installs ring as the process's rustls provider (idempotent).
pub fn install_crypto_provider() {
    // A second install returns Err(already installed): exactly what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client with canaryd's user agent and a whole-request timeout.
pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    install_crypto_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("canaryd/", env!("CARGO_PKG_VERSION")))
        .build()
}
