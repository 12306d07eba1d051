//! Prometheus: the HTTP API client and parser ([`client`], [`response`]),
//! PromQL templates and the naming conventions of common exporters
//! ([`template`], [`conventions`]), and the metrics source built on them
//! ([`source`], [`baseline`], [`health`]).

pub mod baseline;
pub mod client;
pub mod config;
pub mod conventions;
pub mod diagnose;
pub mod health;
pub mod response;
pub mod source;
pub mod template;
pub mod window;
