//! The split decision: which upstream serves a request, given the weight.
//!
//! The weight is an atomic read by every request. A weight change must also
//! be *final* when it returns: after `set(0)` no request may go to the canary,
//! including one that read the old weight a nanosecond before. So each
//! decision registers in one of two counters (chosen by an epoch) while it
//! reads the weight and counts its outcome, and a writer, after storing the new
//! weight, flips the epoch and waits for the old counter to drain. Decisions
//! take nanoseconds, so the wait is short; new decisions use the new counter,
//! so a busy router cannot starve the writer.

use canaryd_core::vocab::{Cohort, Weight};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// 0 = stable (baseline), 1 = canary.
pub(crate) fn idx(c: Cohort) -> usize {
    match c {
        Cohort::Baseline => 0,
        Cohort::Canary => 1,
    }
}

pub(crate) struct Splitter {
    weight: AtomicU8,
    epoch: AtomicU64,
    deciding: [AtomicU64; 2],
    writer: Mutex<()>,
    dispatched: [AtomicU64; 2],
    origin: Instant,
    /// ns since `origin` + 1 (0 = never).
    weight_changed: AtomicU64,
    last_canary: AtomicU64,
}

/// FNV-1a, stable across versions and platforms (unlike std's hasher).
fn bucket(key: &[u8]) -> u8 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % 100) as u8
}

impl Splitter {
    pub fn new(weight: Weight) -> Self {
        Splitter {
            weight: AtomicU8::new(weight.min(100)),
            epoch: AtomicU64::new(0),
            deciding: [AtomicU64::new(0), AtomicU64::new(0)],
            writer: Mutex::new(()),
            dispatched: [AtomicU64::new(0), AtomicU64::new(0)],
            origin: Instant::now(),
            weight_changed: AtomicU64::new(0),
            last_canary: AtomicU64::new(0),
        }
    }

    fn stamp(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    fn instant(&self, stamp: u64) -> Option<Instant> {
        (stamp > 0).then(|| self.origin + Duration::from_nanos(stamp - 1))
    }

    /// Decides the cohort of one request and counts it as dispatched there.
    pub fn decide(&self, sticky_key: Option<&[u8]>) -> Cohort {
        let slot = loop {
            let e = self.epoch.load(SeqCst);
            let slot = (e & 1) as usize;
            self.deciding[slot].fetch_add(1, SeqCst);
            if self.epoch.load(SeqCst) == e {
                break slot;
            }
            self.deciding[slot].fetch_sub(1, SeqCst);
        };
        let w = self.weight.load(SeqCst);
        let canary = match sticky_key {
            Some(k) => bucket(k) < w,
            None => w >= 100 || (w > 0 && fastrand::u8(0..100) < w),
        };
        let cohort = if canary {
            Cohort::Canary
        } else {
            Cohort::Baseline
        };
        self.dispatched[idx(cohort)].fetch_add(1, SeqCst);
        if canary {
            self.last_canary.store(self.stamp(), SeqCst);
        }
        self.deciding[slot].fetch_sub(1, SeqCst);
        cohort
    }

    /// Sets the weight; when it returns, every later decision sees it and every
    /// decision made with an older weight has been counted.
    pub fn set(&self, w: Weight) {
        let w = w.min(100);
        let _g = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.weight.swap(w, SeqCst);
        if old != w {
            self.weight_changed.store(self.stamp(), SeqCst);
        }
        let prev = self.epoch.fetch_add(1, SeqCst);
        let slot = (prev & 1) as usize;
        let mut spins = 0u32;
        while self.deciding[slot].load(SeqCst) != 0 {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    pub fn weight(&self) -> Weight {
        self.weight.load(SeqCst)
    }

    pub fn dispatched(&self, c: Cohort) -> u64 {
        self.dispatched[idx(c)].load(SeqCst)
    }

    pub fn weight_changed_at(&self) -> Option<Instant> {
        self.instant(self.weight_changed.load(SeqCst))
    }

    pub fn last_canary_at(&self) -> Option<Instant> {
        self.instant(self.last_canary.load(SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn extremes_are_exact_and_sticky_is_monotone() {
        let s = Splitter::new(0);
        assert!((0..10_000).all(|_| s.decide(None) == Cohort::Baseline));
        s.set(100);
        assert!((0..10_000).all(|_| s.decide(None) == Cohort::Canary));
        // A sticky client on the canary at weight w stays there at any higher weight.
        for key in 0..500u32 {
            let k = key.to_string();
            let mut seen_canary = false;
            for w in 0..=100 {
                s.set(w);
                let c = s.decide(Some(k.as_bytes()));
                assert!(
                    !(seen_canary && c == Cohort::Baseline),
                    "key {k} left canary at {w}"
                );
                seen_canary |= c == Cohort::Canary;
            }
            assert!(seen_canary);
        }
    }

    #[test]
    fn no_canary_decision_after_set_zero_returns() {
        let s = Arc::new(Splitter::new(50));
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let (s, stop) = (s.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(SeqCst) {
                        s.decide(None);
                    }
                })
            })
            .collect();
        while s.dispatched(Cohort::Canary) < 10_000 {
            std::thread::yield_now();
        }
        s.set(0);
        let after = s.dispatched(Cohort::Canary);
        let base = s.dispatched(Cohort::Baseline);
        while s.dispatched(Cohort::Baseline) < base + 100_000 {
            std::thread::yield_now();
        }
        stop.store(true, SeqCst);
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(s.dispatched(Cohort::Canary), after);
        assert!(s.weight_changed_at().is_some());
        assert!(s.last_canary_at().unwrap() <= Instant::now());
    }
}
