//! Errors of the embedded router, each naming the listener or upstream involved.

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot listen on {addr} for the {what}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("bad {which} upstream `{input}`: {why}")]
    BadUpstream {
        which: &'static str,
        input: String,
        why: String,
    },
    #[error("weight {0} is out of range: a canary weight is 0–100 percent")]
    BadWeight(u8),
    #[error("bad route template `{input}`: {why}")]
    BadRoute { input: String, why: String },
    #[error("bad router setting: {0}")]
    BadConfig(String),
}
