//! Building a rate limiter: its settings, checked by `build()` or clamped for the
//! macros. (Keyed limiters build on these settings, in `keyed.rs`.)

use std::borrow::Cow;
use std::time::Duration;

use super::gcra::Quota;
use super::rate::Rate;
use super::{RATE_LIMITERS, RateLimiter};
use crate::config::ConfigError;

/// Builds a [`RateLimiter`] (or, with [`keyed`](Self::keyed), a
/// [`KeyedRateLimiter`](super::KeyedRateLimiter)), checking each setting as
/// `#[rate_limit]` does at compile time.
///
/// `rate` has no default; `burst` defaults to the rate's count and `max_wait` to zero
/// (a call over the rate is refused at once).
#[derive(Debug, Clone)]
#[must_use]
pub struct RateLimiterBuilder {
    pub(crate) name: Cow<'static, str>,
    pub(crate) rate: Option<Rate>,
    pub(crate) burst: Option<u32>,
    pub(crate) max_wait: Duration,
    /// `.cluster(&c)` and its settings (feature `redis`).
    #[cfg(feature = "redis")]
    pub(crate) store: crate::cluster::StoreOptions,
}

/// A rate limiter's settings once checked or clamped.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) name: Cow<'static, str>,
    pub(crate) rate: Rate,
    pub(crate) burst: u32,
    pub(crate) max_wait: Duration,
    pub(crate) quota: Quota,
    /// Decides through a cluster instead of the limiter's own state (feature `redis`).
    #[cfg(feature = "redis")]
    pub(crate) store: Option<std::sync::Arc<dyn super::store::ClusterLimiter>>,
}

impl RateLimiterBuilder {
    pub(crate) fn new(name: Cow<'static, str>) -> Self {
        RateLimiterBuilder {
            name,
            rate: None,
            burst: None,
            max_wait: Duration::ZERO,
            #[cfg(feature = "redis")]
            store: Default::default(),
        }
    }

    /// The steady rate, e.g. `Rate::per_second(100)`. No default.
    pub fn rate(mut self, rate: Rate) -> Self {
        self.rate = Some(rate);
        self
    }

    /// How many calls may go at once after a quiet period (at least 1). Default: the
    /// rate's count, so `100/s` allows 100 at once, as governor's quotas do
    /// (Resilience4j's `limitForPeriod` resets a fixed window instead; GCRA spreads the
    /// same number of calls evenly). `burst = 1` spaces every call by `per / count`.
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// How long a call over the rate may wait for its slot: if its slot comes within
    /// `max_wait` it is reserved and the call sleeps until then (async calls on
    /// `tokio::time`, blocking calls with `std::thread::sleep`); otherwise it is
    /// refused at once with [`Rejection::RateLimited`](crate::Rejection::RateLimited).
    /// Default zero: never wait (Resilience4j's `timeoutDuration`).
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// The limiter, or what is wrong with its settings. Not registered: see
    /// [`register`](Self::register) for one shared by name.
    pub fn build(self) -> Result<RateLimiter, ConfigError> {
        Ok(RateLimiter::new(self.checked()?))
    }

    /// The limiter registered under this name, or this one, built and registered now
    /// (the first configuration registered under a name wins). Registered limiters
    /// can be looked up with [`registry::rate_limiter`](crate::registry::rate_limiter),
    /// and their rejections tell the quota.
    pub fn register(self) -> Result<RateLimiter, ConfigError> {
        let settings = self.configured().checked()?;
        Ok(register(settings))
    }

    /// For the `#[rate_limit]` macro: like [`register`](Self::register), but never
    /// fails. Out-of-range values are clamped to the nearest valid one: a count of 0
    /// is 1, a zero period is 1ns, a rate faster than one call per nanosecond is one
    /// per nanosecond, a burst of 0 is 1; no rate at all is taken as 1 per second.
    #[doc(hidden)]
    pub fn register_clamped(self) -> RateLimiter {
        register(self.configured().clamped())
    }

    /// With the settings configuration gives this name over these (feature `config`).
    #[inline]
    pub(crate) fn configured(self) -> Self {
        #[cfg(feature = "config")]
        if let Some(s) = crate::integrations::config::rate_limit(&self.name) {
            return s.over(self);
        }
        self
    }

    pub(crate) fn checked(self) -> Result<Settings, ConfigError> {
        let rate = self.rate.ok_or_else(|| {
            ConfigError::new(
                "rate_limit",
                "rate",
                "has no default: set `rate(Rate::per_second(n))` (\"n/s\")",
            )
        })?;
        rate.check()?;
        if self.burst == Some(0) {
            return Err(ConfigError::new(
                "rate_limit",
                "burst",
                "must be at least 1 (0 would refuse every call)",
            ));
        }
        #[cfg(feature = "redis")]
        let store = self.store.checked(&self.name)?;
        #[allow(unused_mut)]
        let mut settings = Settings::new(self.name, rate, self.burst, self.max_wait);
        #[cfg(feature = "redis")]
        {
            settings.store = store;
        }
        Ok(settings)
    }

    pub(crate) fn clamped(self) -> Settings {
        let rate = self.rate.unwrap_or(Rate::per_second(1)).clamped();
        let burst = self.burst.map(|b| b.max(1));
        #[cfg(feature = "redis")]
        let store = self.store.clamped(&self.name);
        #[allow(unused_mut)]
        let mut settings = Settings::new(self.name, rate, burst, self.max_wait);
        #[cfg(feature = "redis")]
        {
            settings.store = store;
        }
        settings
    }
}

fn register(settings: Settings) -> RateLimiter {
    let name = settings.name.clone();
    let described = format!("{settings:?}");
    RATE_LIMITERS.register("rate_limit", name, described, || RateLimiter::new(settings))
}

impl Settings {
    /// From a valid rate and burst.
    fn new(name: Cow<'static, str>, rate: Rate, burst: Option<u32>, max_wait: Duration) -> Self {
        let burst = burst.unwrap_or(rate.count());
        let interval = rate.interval_nanos();
        Settings {
            name,
            rate,
            burst,
            max_wait,
            quota: Quota {
                interval,
                tau: interval.saturating_mul(u64::from(burst) - 1),
                max_wait: u64::try_from(max_wait.as_nanos()).unwrap_or(u64::MAX),
            },
            #[cfg(feature = "redis")]
            store: None,
        }
    }
}
