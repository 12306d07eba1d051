//! Giving memory back after a burst.
//!
//! glibc's malloc keeps freed memory in its arenas: after an overload that
//! held thousands of requests in flight, the router's RSS stayed at ~90 MB
//! with nothing in flight (BENCHMARKS.md, "Embedded router"). Once the
//! in-flight count has fallen well below its recent peak, `malloc_trim(0)`
//! returns the free pages to the kernel. It walks the heap, so it runs only
//! then (not on a timer while busy), off the request path, at most every
//! [`EVERY`].

use crate::handle::Shared;
use canaryd_core::vocab::Cohort;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const EVERY: Duration = Duration::from_secs(2);
/// Bursts smaller than this hold too little to be worth a heap walk.
const MIN_PEAK: u64 = 256;

/// Whether to trim now, given the in-flight count now and the peak since
/// the last trim: after a burst of at least [`MIN_PEAK`] that has fallen
/// to a quarter of its peak or less.
pub(crate) fn due(in_flight: u64, peak: u64) -> bool {
    peak >= MIN_PEAK && in_flight <= peak / 4
}

pub(crate) async fn run(sh: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut peak = 0u64;
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let dispatched =
            sh.split.dispatched(Cohort::Baseline) + sh.split.dispatched(Cohort::Canary);
        let in_flight = dispatched.saturating_sub(sh.rec.completed());
        peak = peak.max(in_flight);
        if due(in_flight, peak) {
            let freed = tokio::task::spawn_blocking(release_free_memory)
                .await
                .unwrap_or(false);
            tracing::debug!(
                peak,
                in_flight,
                freed,
                "burst over: free heap memory returned to the OS"
            );
            peak = in_flight;
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // malloc_trim has no safe wrapper; see SAFETY below.
fn release_free_memory() -> bool {
    // SAFETY: malloc_trim only walks and shrinks glibc's own heap; it takes
    // the arena locks itself and is safe to call from any thread.
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_only_after_a_real_burst_has_drained() {
        assert!(!due(0, 0), "never busy");
        assert!(!due(10, 200), "too small a burst");
        assert!(!due(600, 1_000), "still busy");
        assert!(due(250, 1_000));
        assert!(due(0, 256));
    }
}
