//! A rate: `count` calls per `per`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::config::ConfigError;
use crate::rejection::HumanDuration;

/// `count` calls per `per`: `"100/s"` is `Rate::per_second(100)`.
///
/// The steady pace is one call every `per / count` (rounded down to whole
/// nanoseconds, so at most 1 ns per interval faster than exact); bursts are set apart
/// with [`RateLimiterBuilder::burst`](super::RateLimiterBuilder::burst), which
/// defaults to `count`, as governor's quotas do.
///
/// A rate also parses from the text the `#[rate_limit]` macro accepts:
///
/// ```
/// use std::time::Duration;
/// use resilience_runtime::rate_limit::Rate;
///
/// assert_eq!("100/s".parse(), Ok(Rate::per_second(100)));
/// assert_eq!("5/min".parse(), Ok(Rate::per_minute(5)));
/// assert_eq!("1000/h".parse(), Ok(Rate::per_hour(1000)));
/// assert_eq!(Rate::new(3, Duration::from_millis(10)).to_string(), "3 per 10ms");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    count: u32,
    per: Duration,
}

impl Rate {
    /// `count` calls per `per`. `build()` requires `count >= 1` and
    /// `per / count >= 1ns` (at most 10⁹ calls per second).
    pub const fn new(count: u32, per: Duration) -> Self {
        Rate { count, per }
    }

    /// `count` calls per second.
    pub const fn per_second(count: u32) -> Self {
        Rate::new(count, Duration::from_secs(1))
    }

    /// `count` calls per minute.
    pub const fn per_minute(count: u32) -> Self {
        Rate::new(count, Duration::from_secs(60))
    }

    /// `count` calls per hour.
    pub const fn per_hour(count: u32) -> Self {
        Rate::new(count, Duration::from_secs(3600))
    }

    /// Calls per period.
    pub const fn count(&self) -> u32 {
        self.count
    }

    /// The period.
    pub const fn per(&self) -> Duration {
        self.per
    }

    /// The interval between calls at the steady pace, in nanoseconds (0 if invalid).
    pub(crate) fn interval_nanos(&self) -> u64 {
        if self.count == 0 {
            return 0;
        }
        u64::try_from(self.per.as_nanos() / u128::from(self.count)).unwrap_or(u64::MAX)
    }

    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if self.count == 0 {
            return Err(ConfigError::new(
                "rate_limit",
                "rate",
                "must allow at least 1 call per period (the count is 0)",
            ));
        }
        if self.interval_nanos() == 0 {
            return Err(ConfigError::new(
                "rate_limit",
                "rate",
                format!("{self} is faster than one call per nanosecond"),
            ));
        }
        Ok(())
    }

    /// The same rate made valid: a count of 0 is 1, a zero period is 1ns, and a rate
    /// faster than one call per nanosecond is one call per nanosecond.
    pub(crate) fn clamped(self) -> Self {
        let count = self.count.max(1);
        let per = self.per.max(Duration::from_nanos(1));
        let max_count = u32::try_from(per.as_nanos()).unwrap_or(u32::MAX);
        Rate::new(count.min(max_count), per)
    }
}

impl fmt::Display for Rate {
    /// `100/s`, `5/min`, `1000/h`, `20/ms`, or `3 per 10ms` for other periods.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per {
            d if d == Duration::from_millis(1) => "ms",
            d if d == Duration::from_secs(1) => "s",
            d if d == Duration::from_secs(60) => "min",
            d if d == Duration::from_secs(3600) => "h",
            _ => return write!(f, "{} per {}", self.count, HumanDuration(self.per)),
        };
        write!(f, "{}/{unit}", self.count)
    }
}

impl FromStr for Rate {
    type Err = ConfigError;

    /// `COUNT/UNIT` with unit `ms`, `s` (`sec`, `second`), `m` (`min`, `minute`),
    /// `h` (`hour`); spaces around the parts are ignored.
    fn from_str(text: &str) -> Result<Self, ConfigError> {
        let bad = |why: String| ConfigError::new("rate_limit", "rate", why);
        let (count, unit) = text
            .split_once('/')
            .ok_or_else(|| bad(format!("`{text}` is not a rate: write it as \"100/s\"")))?;
        let count: u32 = count.trim().parse().map_err(|_| {
            bad(format!(
                "`{}` in `{text}` is not a whole number of calls",
                count.trim()
            ))
        })?;
        let per = match unit.trim() {
            "ms" => Duration::from_millis(1),
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => {
                return Err(bad(format!(
                    "unknown unit `{other}` in `{text}`: use ms, s, min or h"
                )));
            }
        };
        let rate = Rate::new(count, per);
        rate.check()?;
        Ok(rate)
    }
}
