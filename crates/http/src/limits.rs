//! How long a connection may stay silent and how many may be open at once.

use std::time::Duration;

/// Bounds on one listener's connections. See the crate docs for why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From accept (or the end of the previous request) to a request's
    /// complete headers. Past it the connection is closed: a client that
    /// connects and sends nothing, or half a request, holds no socket long.
    pub header_timeout: Duration,
    /// A keep-alive connection with no request in flight is closed after
    /// this long (once any response still streaming has finished).
    pub idle_timeout: Duration,
    /// Open connections at most; past it the listener stops accepting.
    pub max_connections: usize,
}

impl ConnectionLimits {
    /// 10 s for headers (a real client sends them in one packet), 60 s idle
    /// (longer than the usual client pool's idle timeout, so clients close
    /// first), and room for as many connections as [`fd_limit`] allows
    /// `fds_per_connection` each, keeping 256 descriptors for everything
    /// else (the store, upstream probes, the other listeners).
    pub fn for_fds(fds_per_connection: usize) -> ConnectionLimits {
        let budget = fd_limit()
            .map(|n| n.saturating_sub(256) / fds_per_connection.max(1))
            .unwrap_or(4096);
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: budget.clamp(64, 1_000_000),
        }
    }
}

impl Default for ConnectionLimits {
    /// [`ConnectionLimits::for_fds`] with one descriptor per connection.
    fn default() -> Self {
        ConnectionLimits::for_fds(1)
    }
}

/// The process's soft limit on open file descriptors, if it can be read.
#[allow(unsafe_code)] // getrlimit has no safe wrapper in libc; see SAFETY below.
pub fn fd_limit() -> Option<usize> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own and reads nothing else.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    if rc != 0 || rl.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    usize::try_from(rl.rlim_cur).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_descriptors_for_the_rest_of_the_process() {
        let n = fd_limit().expect("RLIMIT_NOFILE is readable on Linux");
        let one = ConnectionLimits::for_fds(1).max_connections;
        let two = ConnectionLimits::for_fds(2).max_connections;
        assert!(one < n || one == 64, "{one} connections within {n} fds");
        assert!(two <= one, "{two} vs {one}");
    }
}
