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

/// The TSC counted in its own ticks from a zero (feature `quanta`): what a rate
/// limiter decides in, so that a decision reads the counter and subtracts, with no
/// scaling to nanoseconds on the call path; its settings are converted to ticks when
/// they are applied, and its answers back to nanoseconds when it tells them.
#[cfg(feature = "quanta")]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticks {
    clock: &'static quanta::Clock,
    zero: u64,
    /// Nanoseconds in [`SPAN`] ticks (at least 1).
    span_nanos: u64,
}

/// The ticks over which the TSC's rate is read off the calibrated clock.
#[cfg(feature = "quanta")]
const SPAN: u64 = 1 << 40;

#[cfg(feature = "quanta")]
impl Ticks {
    /// Zero is now.
    pub(crate) fn now() -> Self {
        let clock = tsc();
        Ticks {
            clock,
            zero: clock.raw(),
            span_nanos: clock.delta_as_nanos(0, SPAN).max(1),
        }
    }

    /// Ticks from zero to now.
    #[inline(always)]
    pub(crate) fn ticks(&self) -> u64 {
        self.clock.raw().saturating_sub(self.zero)
    }

    /// `nanos` in ticks, to the nearest (saturating).
    pub(crate) fn ticks_in(&self, nanos: u64) -> u64 {
        let span = u128::from(self.span_nanos);
        let ticks = (u128::from(nanos) * u128::from(SPAN) + span / 2) / span;
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }

    /// `ticks` in nanoseconds, rounded up: a wait told in nanoseconds is never short
    /// of its slot (saturating).
    pub(crate) fn nanos_in(&self, ticks: u64) -> u64 {
        let nanos = (u128::from(ticks) * u128::from(self.span_nanos)).div_ceil(u128::from(SPAN));
        u64::try_from(nanos).unwrap_or(u64::MAX)
    }
}

/// Time zero of a policy's readings in nanoseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Epoch {
    zero: Stamp,
    /// The calibrated clock, held here (feature `quanta`): a reading then costs no
    /// look at whether the clock is made yet.
    #[cfg(feature = "quanta")]
    clock: &'static quanta::Clock,
}

impl Epoch {
    /// Zero is now.
    pub(crate) fn now() -> Self {
        Epoch {
            zero: now(),
            #[cfg(feature = "quanta")]
            clock: tsc(),
        }
    }

    /// Nanoseconds from zero to now.
    #[inline(always)]
    pub(crate) fn nanos(&self) -> u64 {
        #[cfg(feature = "quanta")]
        return self.clock.delta_as_nanos(self.zero.0, self.clock.raw());
        #[cfg(not(feature = "quanta"))]
        self.nanos_at(now())
    }

    /// Nanoseconds from zero to `at` (0 before zero).
    #[inline(always)]
    pub(crate) fn nanos_at(&self, at: Stamp) -> u64 {
        nanos_between(self.zero, at)
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
    fn ticks_convert_to_nanoseconds_and_back() {
        let t = Ticks::now();
        for nanos in [0, 1, 999, 1_000_000, 1_000_000_000, 3_600_000_000_000] {
            let back = t.nanos_in(t.ticks_in(nanos));
            // Within a tick either way (a tick is at most a few nanoseconds).
            assert!(
                back.abs_diff(nanos) <= t.nanos_in(1) + 1,
                "{nanos} -> {back}"
            );
        }
        assert!(
            t.nanos_in(u64::MAX) >= u64::MAX / 1_000,
            "saturates, never wraps"
        );
        let zero = t.ticks();
        std::thread::sleep(Duration::from_millis(20));
        let slept = t.nanos_in(t.ticks() - zero);
        assert!((19_000_000..2_000_000_000).contains(&slept), "{slept}");
    }

    #[test]
    fn the_tsc_follows_real_time() {
        let zero = Epoch::now();
        std::thread::sleep(Duration::from_millis(20));
        let n = zero.nanos();
        assert!((19_000_000..2_000_000_000).contains(&n), "{n}");
    }
}
