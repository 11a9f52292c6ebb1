//! How long to wait between attempts: the [`Backoff`] schedules and [`Jitter`].

use std::time::Duration;

/// A delay schedule between retry attempts: what users plug into `#[retry(backoff = ...)]`
/// or [`Retry::builder`](crate::Retry::builder).
///
/// ```
/// use std::time::Duration;
/// use resilience_runtime::Backoff;
///
/// /// 10ms, 20ms, 30ms, ... then 1s from the 100th failure on.
/// struct Steps;
/// impl Backoff for Steps {
///     fn delay(&self, attempt: u32) -> Duration {
///         if attempt >= 100 { Duration::from_secs(1) } else { Duration::from_millis(10) * attempt }
///     }
/// }
/// assert_eq!(Steps.delay(3), Duration::from_millis(30));
/// ```
pub trait Backoff {
    /// The delay after attempt number `attempt` (counted from 1) failed, before jitter.
    fn delay(&self, attempt: u32) -> Duration;

    /// The longest delay this schedule gives, if it has a bound; decorrelated jitter
    /// never exceeds it.
    fn max_delay(&self) -> Option<Duration> {
        None
    }
}

impl<B: Backoff + ?Sized> Backoff for &B {
    fn delay(&self, attempt: u32) -> Duration {
        (**self).delay(attempt)
    }
    fn max_delay(&self) -> Option<Duration> {
        (**self).max_delay()
    }
}

impl<B: Backoff + ?Sized> Backoff for Box<B> {
    fn delay(&self, attempt: u32) -> Duration {
        (**self).delay(attempt)
    }
    fn max_delay(&self) -> Option<Duration> {
        (**self).max_delay()
    }
}

/// No delay: the next attempt starts at once (`backoff = none`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoBackoff;

impl Backoff for NoBackoff {
    fn delay(&self, _attempt: u32) -> Duration {
        Duration::ZERO
    }
    fn max_delay(&self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

/// The same delay after every failure (`backoff = fixed("1s")`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fixed {
    delay: Duration,
}

impl Fixed {
    /// A fixed delay of `delay`.
    pub const fn new(delay: Duration) -> Self {
        Fixed { delay }
    }
}

impl Backoff for Fixed {
    fn delay(&self, _attempt: u32) -> Duration {
        self.delay
    }
    fn max_delay(&self) -> Option<Duration> {
        Some(self.delay)
    }
}

/// `initial`, `initial + step`, `initial + 2 * step`, ... capped at `max`
/// (`backoff = linear(initial = "100ms", step = "100ms", max = "5s")`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Linear {
    initial: Duration,
    step: Duration,
    max: Duration,
}

impl Linear {
    /// A linear schedule; `max` below `initial` caps every delay at `max`.
    pub const fn new(initial: Duration, step: Duration, max: Duration) -> Self {
        Linear { initial, step, max }
    }
}

impl Backoff for Linear {
    fn delay(&self, attempt: u32) -> Duration {
        let steps = attempt.saturating_sub(1);
        self.step
            .checked_mul(steps)
            .and_then(|grown| self.initial.checked_add(grown))
            .map_or(self.max, |d| d.min(self.max))
    }
    fn max_delay(&self) -> Option<Duration> {
        Some(self.max)
    }
}

/// `initial`, `initial * factor`, `initial * factor^2`, ... capped at `max`
/// (`backoff = exponential(initial = "100ms", factor = 2.0, max = "10s")`, the default).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exponential {
    initial: Duration,
    factor: f64,
    max: Duration,
}

impl Exponential {
    /// An exponential schedule. A `factor` below 1 (or not a number) is taken as 1.
    pub const fn new(initial: Duration, factor: f64, max: Duration) -> Self {
        // `f64::max` is not const before Rust 1.85's const float support; compare by hand.
        let factor = if factor >= 1.0 { factor } else { 1.0 };
        Exponential {
            initial,
            factor,
            max,
        }
    }
}

impl Default for Exponential {
    /// `initial = 100ms, factor = 2.0, max = 10s`, the `#[retry]` default.
    fn default() -> Self {
        Exponential::new(Duration::from_millis(100), 2.0, Duration::from_secs(10))
    }
}

impl Backoff for Exponential {
    fn delay(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(i32::MAX as u32) as i32;
        let secs = self.initial.as_secs_f64() * self.factor.powi(exp);
        if secs.is_finite() && secs < self.max.as_secs_f64() {
            Duration::from_secs_f64(secs)
        } else {
            self.max
        }
    }
    fn max_delay(&self) -> Option<Duration> {
        Some(self.max)
    }
}

/// Randomness added to each delay so that clients that failed together do not retry
/// together (`jitter = ...`; the default is [`Jitter::Full`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Jitter {
    /// The schedule's delay exactly.
    None,
    /// Uniform in `[0, d]`.
    #[default]
    Full,
    /// `d / 2` plus uniform in `[0, d / 2]`.
    Equal,
    /// AWS's "decorrelated jitter": uniform in `[base, 3 * previous]`, capped at the
    /// schedule's [`max_delay`](Backoff::max_delay), where `base` is the schedule's first
    /// delay and `previous` the delay actually slept last time (`base` at first).
    Decorrelated,
}

impl Jitter {
    /// The delay to sleep after attempt `attempt` failed, given the schedule and the
    /// delay slept before (zero before the first sleep).
    pub fn apply(
        self,
        backoff: &(impl Backoff + ?Sized),
        attempt: u32,
        previous: Duration,
    ) -> Duration {
        match self {
            Jitter::None => backoff.delay(attempt),
            Jitter::Full => uniform(Duration::ZERO, backoff.delay(attempt)),
            Jitter::Equal => {
                let half = backoff.delay(attempt) / 2;
                half + uniform(Duration::ZERO, half)
            }
            Jitter::Decorrelated => {
                let base = backoff.delay(1);
                let previous = previous.max(base);
                let cap = backoff.max_delay().unwrap_or(Duration::MAX);
                let upper = previous.saturating_mul(3).min(cap);
                uniform(base.min(upper), upper)
            }
        }
    }
}

/// Uniform in `[low, high]`, from the thread's fast generator (no lock, no allocation).
fn uniform(low: Duration, high: Duration) -> Duration {
    if high <= low {
        return low;
    }
    let span = (high - low).as_nanos().min(u64::MAX as u128) as u64;
    low + Duration::from_nanos(fastrand::u64(0..=span))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn schedules() {
        assert_eq!(NoBackoff.delay(5), Duration::ZERO);
        assert_eq!(Fixed::new(MS * 7).delay(9), MS * 7);
        let linear = Linear::new(MS * 100, MS * 50, MS * 220);
        let got: Vec<_> = (1..=4).map(|a| linear.delay(a)).collect();
        assert_eq!(got, [MS * 100, MS * 150, MS * 200, MS * 220]);
        let exp = Exponential::new(MS * 100, 2.0, MS * 1000);
        let got: Vec<_> = (1..=6).map(|a| exp.delay(a)).collect();
        assert_eq!(
            got,
            [MS * 100, MS * 200, MS * 400, MS * 800, MS * 1000, MS * 1000]
        );
        assert_eq!(
            exp.delay(u32::MAX),
            MS * 1000,
            "no overflow at huge attempts"
        );
        assert_eq!(
            Linear::new(MS, MS, Duration::MAX).delay(u32::MAX),
            MS * u32::MAX
        );
        assert_eq!(
            Exponential::new(MS, 0.5, MS * 10).delay(3),
            MS,
            "factor < 1 is 1"
        );
    }

    #[test]
    fn jitter_bounds_and_variety() {
        let exp = Exponential::new(MS * 100, 2.0, MS * 1000);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let full = Jitter::Full.apply(&exp, 2, Duration::ZERO);
            assert!(full <= MS * 200);
            seen.insert(full);
            let equal = Jitter::Equal.apply(&exp, 2, Duration::ZERO);
            assert!(equal >= MS * 100 && equal <= MS * 200, "{equal:?}");
            let dec = Jitter::Decorrelated.apply(&exp, 2, MS * 300);
            assert!(dec >= MS * 100 && dec <= MS * 900, "{dec:?}");
            let capped = Jitter::Decorrelated.apply(&exp, 9, MS * 900);
            assert!(capped <= MS * 1000, "{capped:?}");
        }
        assert!(
            seen.len() > 900,
            "full jitter varies: {} distinct of 1000",
            seen.len()
        );
        assert_eq!(Jitter::None.apply(&exp, 3, Duration::ZERO), MS * 400);
    }
}
