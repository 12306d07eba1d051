//! What can go wrong in the sample app and the load generator, with the
//! address or input involved so the message is enough to fix it.

use std::net::SocketAddr;

/// Why the sample app or the load generator could not start or parse its input.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listening socket could not be opened (address in use, no permission).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A latency distribution (see [`crate::dist`]) that does not parse.
    #[error("bad latency distribution `{input}`: {why}")]
    BadDist {
        /// The text as given.
        input: String,
        /// What is wrong with it.
        why: String,
    },
    /// An error rate outside [0, 1].
    #[error("bad error rate {0}: must be between 0 and 1")]
    BadErrorRate(f64),
    /// A route mix (`METHOD PATH=WEIGHT,...`) that does not parse.
    #[error("bad route mix `{input}`: {why}")]
    BadMix {
        /// The text as given.
        input: String,
        /// What is wrong with it.
        why: String,
    },
    /// A load target URL the generator cannot send to.
    #[error("bad load target `{input}`: {why}")]
    BadTarget {
        /// The text as given.
        input: String,
        /// What is wrong with it.
        why: String,
    },
    /// A load setting that cannot run (no positive rate, no request planned, no request in flight allowed).
    #[error("bad load setting: {0}")]
    BadLoad(String),
}
