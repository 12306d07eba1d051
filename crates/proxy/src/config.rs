//! How a router is set up: listeners, upstreams, stickiness, limits, probes.

use crate::admin::AdminAccess;
use crate::error::ProxyError;
use crate::routes::RouteTable;
use canaryd_core::vocab::Weight;
use canaryd_http::ConnectionLimits;
use http::header::HeaderName;
use http::Uri;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// An upstream's base URL: `http://HOST:PORT[/prefix]`. The request path is
/// appended to the prefix. Plain HTTP only: TLS is terminated in front of the
/// router or not at all on loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    authority: String,
    prefix: String,
}

impl Upstream {
    /// Parses a base URL; `which` (`"stable"`, `"canary"`) names it in errors.
    pub fn parse(which: &'static str, input: &str) -> Result<Upstream, ProxyError> {
        let bad = |why: &str| ProxyError::BadUpstream {
            which,
            input: input.to_string(),
            why: why.to_string(),
        };
        let uri: Uri = input.trim().parse().map_err(|_| bad("not a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(bad(&format!(
                    "scheme `{other}` is not supported (http only)"
                )))
            }
            None => return Err(bad("missing `http://`")),
        }
        let authority = uri.authority().ok_or_else(|| bad("missing host:port"))?;
        if uri.query().is_some() {
            return Err(bad("a base URL cannot have a query"));
        }
        Ok(Upstream {
            authority: authority.as_str().to_string(),
            prefix: uri.path().trim_end_matches('/').to_string(),
        })
    }

    /// `host:port`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The URI of `path_and_query` on this upstream.
    pub(crate) fn uri_for(&self, path_and_query: &str) -> Result<Uri, http::Error> {
        let pq = if path_and_query.is_empty() {
            "/"
        } else {
            path_and_query
        };
        Uri::builder()
            .scheme("http")
            .authority(self.authority.as_str())
            .path_and_query(format!("{}{}", self.prefix, pq))
            .build()
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority, self.prefix)
    }
}

/// What keeps a client on one side of the split. The value is hashed into a
/// bucket 0–99; the client goes to the canary when its bucket is below the
/// weight, so for a given weight a client always lands on the same side, and
/// raising the weight only ever moves clients stable → canary.
/// Requests without the header/cookie are split at random.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stickiness {
    /// A request header naming the client (`x-user-id`, say).
    Header(HeaderName),
    /// A cookie naming the client (a session id, say); the cookie's name.
    Cookie(String),
}

/// Active health checks of both upstreams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeConfig {
    /// Path probed on each upstream (`GET`, healthy on 2xx).
    pub path: String,
    /// Time between probes of each upstream.
    pub interval: Duration,
    /// How long a probe waits before counting as failed.
    pub timeout: Duration,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            path: "/healthz".into(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
        }
    }
}

/// Everything [`crate::Router::start`] needs.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// Proxied traffic. Port 0 picks a free port.
    pub listen: SocketAddr,
    /// Separate listener for `/metrics` and `/healthz` of the router itself,
    /// so no proxied path is shadowed. `None`: no admin listener
    /// (the text is still available from [`crate::RouterHandle::metrics_text`]).
    pub admin_listen: Option<SocketAddr>,
    /// Where the stable version serves.
    pub stable: Upstream,
    /// Where the canary version serves.
    pub canary: Upstream,
    /// What keeps a client on one side; `None`: every request is split at random.
    pub stickiness: Option<Stickiness>,
    /// Deadline for an upstream's response headers; past it the client gets
    /// 504, counted as an error of that cohort. Shorter than the usual
    /// client timeout, so a hung upstream shows up as timeouts here rather
    /// than only as clients giving up.
    pub upstream_timeout: Duration,
    /// Deadline for opening a connection to an upstream (502 past it).
    pub connect_timeout: Duration,
    /// Larger request bodies get 413 (checked on `Content-Length` and while streaming).
    pub max_body_bytes: u64,
    /// Active health checks of both upstreams.
    pub probe: ProbeConfig,
    /// How request paths are grouped into the routes metrics are kept for.
    pub routes: RouteTable,
    /// On shutdown, how long in-flight requests get to finish.
    pub drain_timeout: Duration,
    /// Canary weight at start, percent.
    pub initial_weight: Weight,
    /// Who may read and set the weight at `/admin/weight` on the admin
    /// listener (default: read-only).
    pub admin_access: AdminAccess,
    /// Header / idle timeouts and the connection cap of the proxy listener
    /// (default: two descriptors per connection, client and upstream).
    pub limits: ConnectionLimits,
    /// After a burst has drained, give the allocator's free memory back to
    /// the OS (see `trim`). On by default; off only to measure its effect.
    pub return_memory_after_bursts: bool,
    /// The same for the admin listener: a few scrapers and controllers.
    pub admin_limits: ConnectionLimits,
}

impl RouterConfig {
    /// Loopback listeners on free ports, weight 0, 8 s upstream timeout,
    /// 10 MiB body limit, probes of `/healthz` every second.
    pub fn new(stable: Upstream, canary: Upstream) -> Self {
        RouterConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            stable,
            canary,
            stickiness: None,
            upstream_timeout: Duration::from_secs(8),
            connect_timeout: Duration::from_secs(2),
            max_body_bytes: 10 << 20,
            probe: ProbeConfig::default(),
            routes: RouteTable::default(),
            drain_timeout: Duration::from_secs(10),
            initial_weight: 0,
            admin_access: AdminAccess::default(),
            limits: ConnectionLimits::for_fds(2),
            return_memory_after_bursts: true,
            admin_limits: ConnectionLimits {
                max_connections: 256,
                ..ConnectionLimits::default()
            },
        }
    }

    /// [`RouterConfig::new`] from two base URLs.
    pub fn from_urls(stable: &str, canary: &str) -> Result<Self, ProxyError> {
        Ok(Self::new(
            Upstream::parse("stable", stable)?,
            Upstream::parse("canary", canary)?,
        ))
    }

    pub(crate) fn validate(&self) -> Result<(), ProxyError> {
        if self.initial_weight > 100 {
            return Err(ProxyError::BadWeight(self.initial_weight));
        }
        if self.upstream_timeout.is_zero() || self.probe.timeout.is_zero() {
            return Err(ProxyError::BadConfig("timeouts must be > 0".into()));
        }
        for l in [&self.limits, &self.admin_limits] {
            if l.header_timeout.is_zero() || l.idle_timeout.is_zero() || l.max_connections == 0 {
                return Err(ProxyError::BadConfig(
                    "header and idle timeouts and the connection cap must be > 0".into(),
                ));
            }
        }
        if self.probe.interval.is_zero() {
            return Err(ProxyError::BadConfig("probe interval must be > 0".into()));
        }
        if !self.probe.path.starts_with('/') {
            return Err(ProxyError::BadConfig(format!(
                "probe path `{}` must start with `/`",
                self.probe.path
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_parsing() {
        let u = Upstream::parse("stable", "http://127.0.0.1:8080/api/").unwrap();
        assert_eq!(u.authority(), "127.0.0.1:8080");
        assert_eq!(
            u.uri_for("/pay?x=1").unwrap().to_string(),
            "http://127.0.0.1:8080/api/pay?x=1"
        );
        assert_eq!(u.to_string(), "http://127.0.0.1:8080/api");
        let e = Upstream::parse("canary", "https://x:1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("canary") && e.contains("https"), "{e}");
        assert!(Upstream::parse("canary", "127.0.0.1:1").is_err());
        assert!(Upstream::parse("canary", "http://h:1/?q=1").is_err());
    }
}
