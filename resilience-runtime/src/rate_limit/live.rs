//! A rate limiter's settings in force, changed by configuration (feature `config`):
//! atomics read with plain loads on the call path, so a change takes effect at once
//! and the limiter's schedule goes on (a direct limiter's slots taken and not yet
//! regained stay taken, regained at the new rate; a keyed limiter's keys keep their
//! schedules as they are). A decision made during a change may
//! read some values of the old settings and some of the new.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use super::config::Settings;
use super::gcra::Quota;
use super::{KeyedRateLimiter, Rate, RateLimiter};
use crate::config::ConfigError;
use crate::integrations::config::RateLimitSettings;

#[derive(Debug)]
pub(crate) struct Live {
    /// The quota, in the units of the limiter's clock (`Core::now`).
    interval: AtomicU64,
    tau: AtomicU64,
    max_wait: AtomicU64,
    /// `max_wait` in nanoseconds, as configured.
    max_wait_nanos: AtomicU64,
    burst: AtomicU32,
    count: AtomicU32,
    per: AtomicU64,
}

impl Live {
    /// From `s`, with its quota `local` in the units of the limiter's clock.
    pub(crate) fn new(s: &Settings, local: Quota) -> Self {
        let live = Live {
            interval: AtomicU64::new(0),
            tau: AtomicU64::new(0),
            max_wait: AtomicU64::new(0),
            max_wait_nanos: AtomicU64::new(0),
            burst: AtomicU32::new(0),
            count: AtomicU32::new(0),
            per: AtomicU64::new(0),
        };
        live.set(s, local);
        live
    }

    /// Puts `s` in force, with its quota `local` in the units of the limiter's clock.
    pub(crate) fn set(&self, s: &Settings, local: Quota) {
        self.count.store(s.rate.count(), Ordering::Relaxed);
        let per = u64::try_from(s.rate.per().as_nanos()).unwrap_or(u64::MAX);
        self.per.store(per, Ordering::Relaxed);
        self.burst.store(s.burst, Ordering::Relaxed);
        self.max_wait_nanos
            .store(s.quota.max_wait, Ordering::Relaxed);
        self.max_wait.store(local.max_wait, Ordering::Relaxed);
        self.tau.store(local.tau, Ordering::Relaxed);
        self.interval.store(local.interval, Ordering::Relaxed);
    }

    /// The longest a call waits for its slot.
    pub(crate) fn max_wait(&self) -> Duration {
        Duration::from_nanos(self.max_wait_nanos.load(Ordering::Relaxed))
    }

    #[inline(always)]
    pub(crate) fn quota(&self) -> Quota {
        Quota {
            interval: self.interval.load(Ordering::Relaxed),
            tau: self.tau.load(Ordering::Relaxed),
            max_wait: self.max_wait.load(Ordering::Relaxed),
        }
    }

    #[inline(always)]
    pub(crate) fn burst(&self) -> u32 {
        self.burst.load(Ordering::Relaxed)
    }

    pub(crate) fn rate(&self) -> Rate {
        Rate::new(
            self.count.load(Ordering::Relaxed),
            Duration::from_nanos(self.per.load(Ordering::Relaxed)),
        )
    }
}

impl super::Core {
    /// The settings in force with `s` over them, checked as `build()` checks.
    pub(crate) fn reconfigured(&self, s: &RateLimitSettings) -> Result<Settings, ConfigError> {
        let current = RateLimiter::builder(self.settings.name.clone())
            .rate(self.rate())
            .burst(self.burst())
            .max_wait(self.max_wait());
        s.over(current).checked()
    }

    /// Puts checked settings in force.
    pub(crate) fn reconfigure(&self, s: &Settings) {
        self.live.set(s, self.local(&s.quota));
    }
}

impl RateLimiter {
    pub(crate) fn reconfigured(&self, s: &RateLimitSettings) -> Result<Settings, ConfigError> {
        self.inner.core.reconfigured(s)
    }

    /// Puts checked settings in force and carries the schedule over: the slots taken
    /// and not yet regained stay taken, now regained at the new rate (a limiter that
    /// spent its burst at 5/s and is raised to 50/s regains them ten times faster).
    pub(crate) fn reconfigure(&self, s: &Settings) {
        let core = &self.inner.core;
        let old = core.quota().interval.max(1);
        core.reconfigure(s);
        let new = core.quota().interval;
        let now = core.now();
        let _ = self
            .inner
            .tat
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |tat| {
                let debt = tat.checked_sub(now).filter(|d| *d > 0)?;
                let scaled = u128::from(debt) * u128::from(new) / u128::from(old);
                Some(now.saturating_add(u64::try_from(scaled).unwrap_or(u64::MAX)))
            });
    }
}

impl KeyedRateLimiter {
    pub(crate) fn reconfigured(&self, s: &RateLimitSettings) -> Result<Settings, ConfigError> {
        self.core().reconfigured(s)
    }

    pub(crate) fn reconfigure(&self, s: &Settings) {
        self.core().reconfigure(s);
    }
}
