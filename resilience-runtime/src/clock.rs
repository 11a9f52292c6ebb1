//! The clock of the time-reading hot paths: a rate limiter's decisions, a breaker's
//! time window and its slow-call timing.
//!
//! By default it is `tokio::time` (so `tokio::time::pause()` drives it). With feature
//! `quanta` it is the CPU's time-stamp counter read through the `quanta` crate: a
//! read costs a few nanoseconds instead of a `clock_gettime` (plus, with tokio's
//! `test-util`, a look at the paused clock), but paused or advanced tokio time no
//! longer moves it. Sleeps, timeouts, open periods and waits still use `tokio::time`.

#[cfg(feature = "quanta")]
use std::time::Duration;

/// A reading of the clock.
#[cfg(not(feature = "quanta"))]
pub(crate) type Stamp = tokio::time::Instant;

/// The clock now.
#[cfg(not(feature = "quanta"))]
#[inline(always)]
pub(crate) fn now() -> Stamp {
    Stamp::now()
}

/// Nanoseconds from `earlier` to `later` (0 if `later` is earlier).
#[cfg(not(feature = "quanta"))]
#[inline(always)]
fn nanos_between(earlier: Stamp, later: Stamp) -> u64 {
    u64::try_from(later.saturating_duration_since(earlier).as_nanos()).unwrap_or(u64::MAX)
}

/// The process's TSC clock, calibrated on first use (by `quanta`, up to about 200ms
/// once), then read without a system call.
#[cfg(feature = "quanta")]
#[inline(always)]
fn tsc() -> &'static quanta::Clock {
    static CLOCK: std::sync::OnceLock<quanta::Clock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// A reading of the clock: the raw counter, scaled only when two are compared.
#[cfg(feature = "quanta")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp(u64);

#[cfg(feature = "quanta")]
impl Stamp {
    /// The time from `earlier` to `self` (zero if `self` is earlier).
    #[inline(always)]
    pub(crate) fn saturating_duration_since(&self, earlier: Stamp) -> Duration {
        Duration::from_nanos(nanos_between(earlier, *self))
    }
}

/// The clock now.
#[cfg(feature = "quanta")]
#[inline(always)]
pub(crate) fn now() -> Stamp {
    Stamp(tsc().raw())
}

#[cfg(feature = "quanta")]
#[inline(always)]
fn nanos_between(earlier: Stamp, later: Stamp) -> u64 {
    tsc().delta_as_nanos(earlier.0, later.0)
}

/// Time zero of a policy's readings in nanoseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Epoch(Stamp);

impl Epoch {
    /// Zero is now.
    pub(crate) fn now() -> Self {
        Epoch(now())
    }

    /// Nanoseconds from zero to now.
    #[inline(always)]
    pub(crate) fn nanos(&self) -> u64 {
        self.nanos_at(now())
    }

    /// Nanoseconds from zero to `at` (0 before zero).
    #[inline(always)]
    pub(crate) fn nanos_at(&self, at: Stamp) -> u64 {
        nanos_between(self.0, at)
    }
}

#[cfg(all(test, feature = "quanta"))]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paused_tokio_time_does_not_move_the_tsc() {
        let zero = Epoch::now();
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert!(zero.nanos() < 1_000_000_000, "{}", zero.nanos());
    }

    #[test]
    fn the_tsc_follows_real_time() {
        let zero = Epoch::now();
        std::thread::sleep(Duration::from_millis(20));
        let n = zero.nanos();
        assert!((19_000_000..2_000_000_000).contains(&n), "{n}");
    }
}
