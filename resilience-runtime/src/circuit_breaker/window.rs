//! The closed state's sliding windows: the last N outcomes, or the outcomes of the
//! last period in buckets.
//!
//! Both are lock-free. Their counters are advisory: they decide when to try a
//! transition, and the transition itself is checked under the breaker's state word.

use std::ops::Deref;

use super::config::TIME_BUCKETS;
use crate::sync::{AtomicU8, AtomicU64, Ordering};

/// Keeps a value on cache lines of its own, so that writes to its neighbours do not
/// slow down its readers (128 bytes: the prefetcher pairs 64-byte lines).
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Calls, failures and slow calls in a window (or in a half-open trial).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

/// Whether a slot's value is a slow failure.
#[inline]
fn slow_failure(slot: u8) -> bool {
    slot & (FAILED | SLOW) == FAILED | SLOW
}

// ---------------------------------------------------------------------------------
// Count window
// ---------------------------------------------------------------------------------

// A slot holds one outcome: bit 0 = recorded, bit 1 = failed, bit 2 = slow.
pub(crate) const RECORDED: u8 = 1;
pub(crate) const FAILED: u8 = 2;
pub(crate) const SLOW: u8 = 4;

// The counts word packs three 21-bit counters (N ≤ 1 000 000 < 2^20).
const FAIL_SHIFT: u32 = 0;
const SLOW_SHIFT: u32 = 21;
const CALLS_SHIFT: u32 = 42;
const FIELD: u64 = (1 << 21) - 1;

/// What a slot's value adds to the counts word.
#[inline]
fn weight(slot: u8) -> u64 {
    let slot = u64::from(slot);
    ((slot & 1) << CALLS_SHIFT)
        | (((slot >> 1) & 1) << FAIL_SHIFT)
        | (((slot >> 2) & 1) << SLOW_SHIFT)
}

/// The last `n` recorded outcomes, in a ring of one-byte slots, with their counts kept
/// in one word.
///
/// Every change to a slot is made by a `swap`, and whoever swapped adds the
/// difference to the counts word; so once all writers are done, the counts equal the
/// slots' contents whatever the interleaving. Between two such steps of two writers
/// racing on one slot (possible only when the ring laps a stalled writer) a counter
/// may be off, even wrapped; [`CountWindow::record`] reports such a word as
/// inconsistent and no decision is taken on it.
///
/// The fast path: when the window is full of plain successes, recording one more
/// success changes nothing (the window is still `n` successes), so it writes
/// nothing at all: threads sharing a healthy breaker only read.
pub(crate) struct CountWindow {
    n: u64,
    /// `n` calls, no failure, no slow call.
    clean: u64,
    hot: CachePadded<Hot>,
    slots: Box<[AtomicU8]>,
}

struct Hot {
    counts: AtomicU64,
    next: AtomicU64,
    /// Slots holding a slow failure (changed only when such a slot is written or
    /// overwritten, after the `swap` that did it, so it is exact once writers are done).
    slow_failed: AtomicU64,
}

impl CountWindow {
    pub(crate) fn new(n: u32) -> Self {
        let n = u64::from(n.max(1));
        CountWindow {
            n,
            clean: n << CALLS_SHIFT,
            hot: CachePadded(Hot {
                counts: AtomicU64::new(0),
                next: AtomicU64::new(0),
                slow_failed: AtomicU64::new(0),
            }),
            slots: (0..n).map(|_| AtomicU8::new(0)).collect(),
        }
    }

    /// True when the window holds `n` plain successes: a success need not be recorded.
    #[inline(always)]
    pub(crate) fn is_clean(&self) -> bool {
        self.hot.counts.load(Ordering::Relaxed) == self.clean
    }

    /// Records one outcome (`RECORDED` plus `FAILED` / `SLOW` bits). Returns the
    /// counts word after it (see [`decode`](Self::decode)) and whether the slot was
    /// empty before (the window grew by one call).
    #[inline]
    pub(crate) fn record(&self, slot: u8) -> (u64, bool) {
        let i = self.hot.next.fetch_add(1, Ordering::Relaxed) % self.n;
        let cell = &self.slots[i as usize];
        // Rewriting the value a slot already holds (a success over a success, the
        // common case) is skipped, so that threads do not bounce the ring's cache line.
        let current = cell.load(Ordering::Relaxed);
        let old = if current == slot {
            current
        } else {
            cell.swap(slot, Ordering::Relaxed)
        };
        let word = if old == slot {
            self.hot.counts.load(Ordering::Relaxed)
        } else {
            if (slot | old) & SLOW != 0 && slow_failure(slot) != slow_failure(old) {
                if slow_failure(slot) {
                    self.hot.slow_failed.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.hot.slow_failed.fetch_sub(1, Ordering::Relaxed);
                }
            }
            let delta = weight(slot).wrapping_sub(weight(old));
            self.hot
                .counts
                .fetch_add(delta, Ordering::Relaxed)
                .wrapping_add(delta)
        };
        (word, old == 0)
    }

    /// The counts now (zeros while inconsistent).
    pub(crate) fn counts(&self) -> Counts {
        self.decode(self.hot.counts.load(Ordering::Relaxed))
            .unwrap_or_default()
    }

    /// Of the counts `c`, the slow failures (metrics only; kept apart from the
    /// counts that decide, so that deciding reads no more than it did).
    pub(crate) fn slow_failed(&self, c: Counts) -> u64 {
        // Out of range only for a moment, while a writer is between its two steps.
        self.hot
            .slow_failed
            .load(Ordering::Relaxed)
            .min(c.failures)
            .min(c.slow)
    }

    /// The counts in a counts word, or `None` while a racing writer leaves them
    /// inconsistent.
    pub(crate) fn decode(&self, word: u64) -> Option<Counts> {
        let c = Counts {
            calls: (word >> CALLS_SHIFT) & FIELD,
            failures: (word >> FAIL_SHIFT) & FIELD,
            slow: (word >> SLOW_SHIFT) & FIELD,
        };
        (c.calls <= self.n && c.failures <= c.calls && c.slow <= c.calls).then_some(c)
    }

    /// Empties the window, slot by slot, so that a racing late writer keeps the
    /// counts right.
    pub(crate) fn clear(&self) {
        let mut removed: u64 = 0;
        let mut slow_failed: u64 = 0;
        for slot in self.slots.iter() {
            let old = slot.swap(0, Ordering::Relaxed);
            removed = removed.wrapping_add(weight(old));
            slow_failed += u64::from(slow_failure(old));
        }
        self.hot.counts.fetch_sub(removed, Ordering::Relaxed);
        self.hot
            .slow_failed
            .fetch_sub(slow_failed, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------------
// Time window
// ---------------------------------------------------------------------------------

const TAG_SHIFT: u32 = 32;
const COUNT: u64 = (1 << TAG_SHIFT) - 1;

/// The outcomes of the last period, in `buckets` buckets of `width` nanoseconds.
///
/// A bucket's three counters each live in a word tagged with the bucket's index
/// (upper 32 bits), so a writer that finds an older tag restarts that counter by
/// compare-and-swap, and a reader ignores counters whose tag has left the window:
/// memory is O(buckets) whatever the call rate, and no lock is taken.
pub(crate) struct TimeWindow {
    width: u64,
    buckets: u64,
    slots: Box<[Bucket]>,
    /// The newest bucket index any counter was restarted for (guards against tags
    /// that wrapped after a very long idle time).
    newest: AtomicU64,
    /// One more than the newest bucket index holding a failure or a slow call; 0 for
    /// none. Lets a success skip the sum when the window holds only successes.
    last_bad: AtomicU64,
    /// The bucket index `prior` was summed for (`NONE`: no sum, `BUSY`: being
    /// written). The buckets before the current one no longer change, so their sum
    /// is computed once per bucket and a decision adds only the current bucket.
    prior_idx: AtomicU64,
    /// Calls, failures, slow calls of the window's buckets before `prior_idx`.
    prior: [AtomicU64; 3],
}

const NONE: u64 = u64::MAX;
const BUSY: u64 = u64::MAX - 1;

struct Bucket {
    calls: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
    /// For metrics only: never part of a decision.
    slow_failed: AtomicU64,
}

impl TimeWindow {
    pub(crate) fn new(period_nanos: u64) -> Self {
        let period_nanos = period_nanos.max(1);
        let buckets = TIME_BUCKETS.min(period_nanos);
        TimeWindow {
            width: period_nanos / buckets,
            buckets,
            slots: (0..buckets)
                .map(|_| Bucket {
                    calls: AtomicU64::new(0),
                    failures: AtomicU64::new(0),
                    slow: AtomicU64::new(0),
                    slow_failed: AtomicU64::new(0),
                })
                .collect(),
            newest: AtomicU64::new(0),
            last_bad: AtomicU64::new(0),
            prior_idx: AtomicU64::new(NONE),
            prior: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    /// Records one outcome finished at `now` (nanoseconds since the breaker's
    /// creation); returns the window's counts when a decision may be due, that is
    /// when the window holds a failure or a slow call.
    pub(crate) fn record(&self, now: u64, failed: bool, slow: bool) -> Option<Counts> {
        let idx = now / self.width;
        let bucket = &self.slots[(idx % self.buckets) as usize];
        // After a whole window without a restart every tag is stale, even one that
        // wrapped around to look current or newer.
        let stale = idx.saturating_sub(self.newest.load(Ordering::Relaxed)) >= self.buckets;
        self.add(&bucket.calls, idx, stale);
        if failed {
            self.add(&bucket.failures, idx, stale);
        }
        if slow {
            self.add(&bucket.slow, idx, stale);
            if failed {
                self.add(&bucket.slow_failed, idx, stale);
            }
        }
        if failed || slow {
            self.last_bad.fetch_max(idx + 1, Ordering::Relaxed);
        }
        let last_bad = self.last_bad.load(Ordering::Relaxed);
        (last_bad != 0 && idx.saturating_sub(last_bad - 1) < self.buckets)
            .then(|| self.window_counts(idx))
    }

    /// The counts of the window that ends in bucket `idx`, from the cached sum of the
    /// earlier buckets plus the current one.
    fn window_counts(&self, idx: u64) -> Counts {
        let seen = self.prior_idx.load(Ordering::SeqCst);
        let cached = (seen == idx)
            .then(|| {
                let [c, f, s] = &self.prior;
                let prior = Counts {
                    calls: c.load(Ordering::SeqCst),
                    failures: f.load(Ordering::SeqCst),
                    slow: s.load(Ordering::SeqCst),
                };
                (self.prior_idx.load(Ordering::SeqCst) == idx).then_some(prior)
            })
            .flatten();
        let prior = cached.unwrap_or_else(|| {
            let prior = self.sum_of(idx, false);
            // One writer at a time; the others just use what they computed.
            if seen != BUSY
                && self
                    .prior_idx
                    .compare_exchange(seen, BUSY, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            {
                let [c, f, s] = &self.prior;
                c.store(prior.calls, Ordering::SeqCst);
                f.store(prior.failures, Ordering::SeqCst);
                s.store(prior.slow, Ordering::SeqCst);
                self.prior_idx.store(idx, Ordering::SeqCst);
            }
            prior
        });
        let bucket = &self.slots[(idx % self.buckets) as usize];
        let tag = idx & COUNT;
        let current = |word: &AtomicU64| {
            let w = word.load(Ordering::Acquire);
            if w >> TAG_SHIFT == tag { w & COUNT } else { 0 }
        };
        // Failures and slow calls before calls: a call counts its call before its
        // failure (`add` releases), so the calls read after are never fewer than the
        // failures read before, however long this thread is descheduled between the
        // reads (read the other way round, a preempted reader could see more failures
        // than calls, a failure rate of 1, and open a healthy breaker).
        let failures = current(&bucket.failures);
        let slow = current(&bucket.slow);
        let calls = prior.calls + current(&bucket.calls);
        Counts {
            calls,
            failures: (prior.failures + failures).min(calls),
            slow: (prior.slow + slow).min(calls),
        }
    }

    fn add(&self, word: &AtomicU64, idx: u64, stale: bool) {
        let tag = idx & COUNT;
        let mut current = word.load(Ordering::Relaxed);
        loop {
            let current_tag = current >> TAG_SHIFT;
            let next = if current_tag == tag && !stale {
                current + 1
            } else if stale || (tag.wrapping_sub(current_tag) & COUNT) < (1 << 31) {
                // An older bucket: this counter starts over.
                (tag << TAG_SHIFT) | 1
            } else {
                return; // a writer so late that its bucket was reused: dropped
            };
            // Release: whoever reads this count also sees the call's earlier counts.
            match word.compare_exchange_weak(current, next, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => {
                    if next & COUNT == 1 {
                        self.newest.fetch_max(idx, Ordering::Relaxed);
                    }
                    return;
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// The counts of the window that ends in bucket `idx`.
    pub(crate) fn sum(&self, idx: u64) -> Counts {
        self.sum_of(idx, true)
    }

    /// The counts of the window that ends in bucket `idx`, with or without that bucket.
    fn sum_of(&self, idx: u64, with_current: bool) -> Counts {
        let mut counts = Counts::default();
        if idx.saturating_sub(self.newest.load(Ordering::Relaxed)) >= self.buckets {
            return counts; // idle for a whole window: every bucket is stale
        }
        let tag = idx & COUNT;
        let live = |word: &AtomicU64| {
            let w = word.load(Ordering::Acquire);
            let age = tag.wrapping_sub(w >> TAG_SHIFT) & COUNT;
            if age < self.buckets && (with_current || age > 0) {
                w & COUNT
            } else {
                0
            }
        };
        for b in self.slots.iter() {
            // Failures and slow calls before calls (see `window_counts`).
            counts.failures += live(&b.failures);
            counts.slow += live(&b.slow);
            counts.calls += live(&b.calls);
        }
        counts.failures = counts.failures.min(counts.calls);
        counts.slow = counts.slow.min(counts.calls);
        counts
    }

    /// Of the window that ends in bucket `idx`, whose counts are `c`, the slow
    /// failures (metrics only).
    pub(crate) fn slow_failed(&self, idx: u64, c: Counts) -> u64 {
        if idx.saturating_sub(self.newest.load(Ordering::Relaxed)) >= self.buckets {
            return 0;
        }
        let tag = idx & COUNT;
        let live = |word: &AtomicU64| {
            let w = word.load(Ordering::Relaxed);
            let age = tag.wrapping_sub(w >> TAG_SHIFT) & COUNT;
            if age < self.buckets { w & COUNT } else { 0 }
        };
        let n: u64 = self.slots.iter().map(|b| live(&b.slow_failed)).sum();
        n.min(c.failures).min(c.slow)
    }

    /// The bucket index of `now` (nanoseconds since the breaker's creation).
    pub(crate) fn index(&self, now: u64) -> u64 {
        now / self.width
    }

    /// Forgets every outcome recorded so far (counters restart at zero, tags kept).
    pub(crate) fn clear(&self) {
        for b in self.slots.iter() {
            for word in [&b.calls, &b.failures, &b.slow, &b.slow_failed] {
                let mut current = word.load(Ordering::Relaxed);
                while let Err(actual) = word.compare_exchange_weak(
                    current,
                    current & !COUNT,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    current = actual;
                }
            }
        }
        self.last_bad.store(0, Ordering::Relaxed);
        // Drop the cached sum, waiting out a writer of it.
        let mut seen = self.prior_idx.load(Ordering::SeqCst);
        loop {
            if seen == BUSY {
                std::hint::spin_loop();
                seen = self.prior_idx.load(Ordering::SeqCst);
                continue;
            }
            match self
                .prior_idx
                .compare_exchange(seen, NONE, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return,
                Err(actual) => seen = actual,
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn count_window_keeps_the_last_n() {
        let w = CountWindow::new(3);
        let (word, grew) = w.record(RECORDED | FAILED);
        assert!(grew);
        assert_eq!(w.decode(word).unwrap().failures, 1);
        w.record(RECORDED);
        let c = w.decode(w.record(RECORDED | SLOW).0).unwrap();
        assert_eq!((c.calls, c.failures, c.slow), (3, 1, 1));
        assert!(!w.is_clean());
        // The failure leaves the window.
        let (word, grew) = w.record(RECORDED);
        assert!(!grew);
        let c = w.decode(word).unwrap();
        assert_eq!((c.calls, c.failures, c.slow), (3, 0, 1));
        w.record(RECORDED);
        w.record(RECORDED);
        assert!(w.is_clean());
        w.clear();
        assert_eq!(w.counts(), Counts::default());
    }

    #[test]
    fn time_window_forgets_after_the_period() {
        // 64 buckets of 1ms.
        let w = TimeWindow::new(64_000_000);
        assert_eq!(w.record(0, false, false), None);
        let c = w.record(500_000, true, false).unwrap();
        assert_eq!((c.calls, c.failures), (2, 1));
        // At 63.999ms both are still in; at 64ms they are gone.
        assert_eq!(w.sum(w.index(63_999_999)).calls, 2);
        assert_eq!(w.sum(w.index(64_000_000)).calls, 0);
        assert_eq!(w.record(64_000_000, false, false), None);
        // After a long idle time nothing old is counted.
        let far = 64_000_000 * (1 << 33);
        assert_eq!(w.sum(w.index(far)), Counts::default());
        w.record(far, true, false);
        assert_eq!(w.sum(w.index(far)).calls, 1);
        w.clear();
        assert_eq!(w.sum(w.index(far)), Counts::default());
    }
}
