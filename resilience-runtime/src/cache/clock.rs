//! A fresh hit's look at the time, without a full clock read where none is needed.
//!
//! Freshness is decided in `tokio::time`, as everywhere in the crate. But reading it is
//! a `clock_gettime(CLOCK_MONOTONIC)` (about 45ns on the virtual machine the benches
//! ran on, more than the rest of a hit), while an entry stored an hour ago with a ttl of a day is fresh by
//! any clock. So on Linux each entry also keeps, in the kernel's coarse monotonic
//! clock (`CLOCK_MONOTONIC_COARSE`: the same timeline, advanced at each tick, read in
//! about a fifth of the time there), a bound before which it is certainly fresh: stored time plus
//! `ttl`, less a margin of two ticks and a millisecond for the coarse clock's lag. A
//! hit before that bound answers without reading `tokio::time`; any other hit reads it
//! and decides exactly.
//!
//! That shortcut holds only while tokio's clock runs with the real one, which it does
//! unless it was paused (tokio's `test-util`). A paused clock is noticed whenever this
//! module sees `tokio::time` stand still between two reads, or run ahead of the real
//! clock (every store and every exact check looks); from then on, for the rest of the
//! process, every hit reads `tokio::time`. A clock paused after an entry was stored is
//! thus noticed at the next store or exact check, not before.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Set once `tokio::time` was seen paused: the coarse bound is not used again.
static PAUSED: AtomicBool = AtomicBool::new(false);

/// The coarse clock now, in nanoseconds (`u64::MAX` where there is none, so that no
/// bound is ever above it).
#[inline]
pub(super) fn coarse_now() -> u64 {
    if PAUSED.load(Ordering::Relaxed) {
        return u64::MAX;
    }
    coarse::now()
}

/// The coarse bound of an entry stored at `coarse_at` (read just before the store's
/// `tokio::time` reading) with `ttl`: 0 where none can be given.
pub(super) fn bound(coarse_at: u64, ttl: Duration) -> u64 {
    let Some(margin) = coarse::margin() else {
        return 0;
    };
    let ttl = u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX);
    match ttl.checked_sub(margin) {
        Some(lasting) if coarse_at != u64::MAX => coarse_at.saturating_add(lasting),
        _ => 0,
    }
}

/// Looks at a `tokio::time` reading just taken for signs of a paused clock.
pub(super) fn observe(now: Instant) {
    if !PAUSED.load(Ordering::Relaxed) && looks_paused(now) {
        PAUSED.store(true, Ordering::Relaxed);
    }
}

/// A running clock moves between two readings and is never ahead of the real one
/// read after it; a paused one stands still, or was advanced past it.
fn looks_paused(now: Instant) -> bool {
    let real = std::time::Instant::now();
    let again = Instant::now();
    again == now || now.into_std() > real
}

#[cfg(target_os = "linux")]
mod coarse {
    use std::sync::OnceLock;

    /// `CLOCK_MONOTONIC_COARSE` in nanoseconds; `u64::MAX` if it cannot be read.
    #[inline]
    pub(super) fn now() -> u64 {
        read(libc::clock_gettime).unwrap_or(u64::MAX)
    }

    /// How far the coarse clock may lag the fine one, with room to spare: two of its
    /// ticks and a millisecond. `None` if it cannot be read.
    pub(super) fn margin() -> Option<u64> {
        static MARGIN: OnceLock<Option<u64>> = OnceLock::new();
        *MARGIN.get_or_init(|| {
            let tick = read(libc::clock_getres)?;
            Some(tick.saturating_mul(2).saturating_add(1_000_000))
        })
    }

    #[inline]
    fn read(
        f: unsafe extern "C" fn(libc::clockid_t, *mut libc::timespec) -> libc::c_int,
    ) -> Option<u64> {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable `timespec` for the call's duration, and
        // `CLOCK_MONOTONIC_COARSE` is a clock id Linux knows (since 2.6.32).
        let status = unsafe { f(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
        if status != 0 {
            return None;
        }
        let secs = u64::try_from(ts.tv_sec).ok()?;
        let nanos = u64::try_from(ts.tv_nsec).ok()?;
        Some(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }
}

#[cfg(not(target_os = "linux"))]
mod coarse {
    /// No coarse clock: every hit reads `tokio::time`.
    #[inline]
    pub(super) fn now() -> u64 {
        u64::MAX
    }

    pub(super) fn margin() -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_leaves_a_margin_and_none_for_a_short_ttl() {
        let at = coarse::now();
        let b = bound(at, Duration::from_secs(3600));
        if cfg!(target_os = "linux") {
            assert!(b > at && b < at + 3_600_000_000_000, "{at} {b}");
            assert!(coarse::now() < b);
        } else {
            assert_eq!(b, 0);
        }
        assert_eq!(bound(at, Duration::from_micros(10)), 0);
        assert_eq!(bound(u64::MAX, Duration::from_secs(3600)), 0);
    }

    #[test]
    fn a_running_clock_is_not_taken_for_a_paused_one() {
        // Outside a runtime `tokio::time` is the real clock.
        for _ in 0..1_000 {
            assert!(!looks_paused(Instant::now()));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_paused_clock_is_noticed_and_the_coarse_clock_is_no_longer_read() {
        assert!(looks_paused(Instant::now()));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(looks_paused(Instant::now()));
        observe(Instant::now());
        assert!(PAUSED.load(Ordering::Relaxed));
        assert_eq!(coarse_now(), u64::MAX);
    }
}
