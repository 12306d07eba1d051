//! What can go wrong in the sample app and the load generator, with the
//! address or input involved so the message is enough to fix it.

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("bad latency distribution `{input}`: {why}")]
    BadDist { input: String, why: String },
    #[error("bad error rate {0}: must be between 0 and 1")]
    BadErrorRate(f64),
    #[error("bad route mix `{input}`: {why}")]
    BadMix { input: String, why: String },
    #[error("bad load target `{input}`: {why}")]
    BadTarget { input: String, why: String },
    #[error("bad load setting: {0}")]
    BadLoad(String),
}
