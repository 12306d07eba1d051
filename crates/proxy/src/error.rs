//! Errors of the embedded router, each naming the listener or upstream involved.

use std::net::SocketAddr;

/// Why the embedded router could not start or refused a setting.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// A listener could not be opened (port taken, no permission).
    #[error("cannot listen on {addr} for the {what}: {source}")]
    Bind {
        /// Which listener ("proxy listener", "admin listener").
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// An upstream address that the router cannot send requests to.
    #[error("bad {which} upstream `{input}`: {why}")]
    BadUpstream {
        /// "stable" or "canary".
        which: &'static str,
        /// The address as given.
        input: String,
        /// What is wrong with it.
        why: String,
    },
    /// A weight above 100 percent.
    #[error("weight {0} is out of range: a canary weight is 0–100 percent")]
    BadWeight(u8),
    /// A route template that does not parse.
    #[error("bad route template `{input}`: {why}")]
    BadRoute {
        /// The template as given.
        input: String,
        /// What is wrong with it.
        why: String,
    },
    /// A setting out of its range (a zero timeout, say); the text says which.
    #[error("bad router setting: {0}")]
    BadConfig(String),
}
