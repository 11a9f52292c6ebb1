//! Recent successful latencies of a hedged call, and the percentile hedging waits for.
//!
//! Kept in two HDR histograms (the `hdrhistogram` crate, 3 significant digits, 1µs to
//! 1h): the current window and the one before it. A window holds [`WINDOW`] latencies;
//! when it is full it becomes the previous one and a new one starts, so memory is
//! bounded and old latencies age out. The percentile is read from the current window
//! once it holds [`MIN_SAMPLES`], else from the previous one.
//!
//! Calls only read the delay, from an atomic. Recording takes the histograms' lock
//! with `try_lock`: a latency that arrives while another thread records is dropped
//! rather than waited for (no thread ever waits on this lock), and the delay is worked
//! out again after every [`RECOMPUTE_EVERY`] latencies recorded.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies recorded before anything is hedged.
pub const MIN_SAMPLES: u64 = 100;

/// Latencies per window.
pub(crate) const WINDOW: u64 = 1_000;

/// The delay is worked out again after this many latencies.
const RECOMPUTE_EVERY: u64 = 10;

/// No percentile yet.
const NONE: u64 = u64::MAX;

pub(crate) struct Latencies {
    /// The percentile, 1 to 99.
    percentile: u8,
    /// The delay in nanoseconds, or [`NONE`].
    delay: AtomicU64,
    windows: Mutex<Windows>,
}

struct Windows {
    current: Histogram<u64>,
    previous: Histogram<u64>,
    recorded: u64,
}

/// Microseconds, 1µs to 1h (longer latencies are recorded as 1h).
const HIGHEST_MICROS: u64 = 3_600_000_000;

impl Latencies {
    pub(crate) fn new(percentile: u8) -> Self {
        let histogram = || {
            Histogram::new_with_bounds(1, HIGHEST_MICROS, 3)
                .unwrap_or_else(|_| unreachable!("valid bounds"))
        };
        Latencies {
            percentile: percentile.clamp(1, 99),
            delay: AtomicU64::new(NONE),
            windows: Mutex::new(Windows {
                current: histogram(),
                previous: histogram(),
                recorded: 0,
            }),
        }
    }

    /// The delay before a copy, once enough latencies are known.
    #[inline]
    pub(crate) fn delay(&self) -> Option<Duration> {
        match self.delay.load(Ordering::Relaxed) {
            NONE => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    /// Records one successful call's latency (dropped if another thread is recording).
    pub(crate) fn record(&self, latency: Duration) {
        let Ok(mut windows) = self.windows.try_lock() else {
            return;
        };
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(HIGHEST_MICROS)
            .clamp(1, HIGHEST_MICROS);
        windows.current.saturating_record(micros);
        windows.recorded += 1;
        if windows.current.len() >= WINDOW {
            let Windows {
                current, previous, ..
            } = &mut *windows;
            std::mem::swap(current, previous);
            current.reset();
        }
        if windows.recorded >= MIN_SAMPLES
            && (windows.recorded == MIN_SAMPLES || windows.recorded % RECOMPUTE_EVERY == 0)
        {
            let source = if windows.current.len() >= MIN_SAMPLES {
                &windows.current
            } else {
                &windows.previous
            };
            let q = f64::from(self.percentile) / 100.0;
            let micros = source.lowest_equivalent(source.value_at_quantile(q));
            self.delay.store(
                micros.saturating_mul(1_000).min(NONE - 1),
                Ordering::Relaxed,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn nothing_before_min_samples_then_the_percentile() {
        let l = Latencies::new(95);
        for i in 1..MIN_SAMPLES {
            l.record(MS * u32::try_from(i).unwrap());
            assert_eq!(l.delay(), None);
        }
        l.record(MS * 100);
        let d = l.delay().unwrap();
        assert!(d >= MS * 94 && d <= MS * 95, "{d:?}");
    }

    #[test]
    fn old_latencies_age_out() {
        let l = Latencies::new(50);
        for _ in 0..WINDOW {
            l.record(MS * 10);
        }
        assert!(l.delay().unwrap().abs_diff(MS * 10) < MS / 10);
        for _ in 0..WINDOW {
            l.record(MS * 200);
        }
        assert!(
            l.delay().unwrap().abs_diff(MS * 200) < MS,
            "{:?}",
            l.delay()
        );
    }
}
