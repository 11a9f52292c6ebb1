//! Keyed rate limiters: one GCRA state per key, in the bounded LRU map of
//! [`keyed`](crate::keyed).

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use super::config::Settings;
use super::gcra::Decision;
use super::{Core, Rate, RateLimiterBuilder};
use crate::config::ConfigError;
use crate::keyed::KeyedMap;
use crate::named::Registry;
use crate::rejection::{FromRejection, Rejection};
use crate::sync::{Arc, AtomicU64};

pub use crate::keyed::DEFAULT_MAX_KEYS;

impl RateLimiterBuilder {
    /// A builder for a [`KeyedRateLimiter`] with these settings: one limit per key.
    pub fn keyed(self) -> KeyedRateLimiterBuilder {
        KeyedRateLimiterBuilder {
            limiter: self,
            max_keys: DEFAULT_MAX_KEYS,
        }
    }
}

/// Builds a [`KeyedRateLimiter`]: a [`RateLimiterBuilder`]'s settings, applied to
/// each key, plus the most keys held at once.
#[derive(Debug, Clone)]
#[must_use]
pub struct KeyedRateLimiterBuilder {
    pub(crate) limiter: RateLimiterBuilder,
    pub(crate) max_keys: usize,
}

impl KeyedRateLimiterBuilder {
    /// See [`RateLimiterBuilder::rate`].
    pub fn rate(mut self, rate: Rate) -> Self {
        self.limiter = self.limiter.rate(rate);
        self
    }

    /// See [`RateLimiterBuilder::burst`].
    pub fn burst(mut self, burst: u32) -> Self {
        self.limiter = self.limiter.burst(burst);
        self
    }

    /// See [`RateLimiterBuilder::max_wait`].
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.limiter = self.limiter.max_wait(max_wait);
        self
    }

    /// At most `n` keys are tracked (at least 1); when a new key comes with `n` held,
    /// the least recently used key is forgotten, and starts again with a full burst if
    /// it comes back. Default 10 000.
    pub fn max_keys(mut self, n: usize) -> Self {
        self.max_keys = n;
        self
    }

    /// The keyed limiter, or what is wrong with its settings. Not registered.
    pub fn build(self) -> Result<KeyedRateLimiter, ConfigError> {
        self.check_max_keys()?;
        Ok(KeyedRateLimiter::new(
            self.limiter.checked()?,
            self.max_keys,
        ))
    }

    /// The keyed limiter registered under this name, or this one, built and
    /// registered now (the first configuration registered under a name wins).
    pub fn register(self) -> Result<KeyedRateLimiter, ConfigError> {
        self.check_max_keys()?;
        let settings = self.limiter.configured().checked()?;
        Ok(register(settings, self.max_keys))
    }

    /// For the `#[rate_limit(key = ...)]` macro: like [`register`](Self::register),
    /// but never fails; clamps as [`RateLimiterBuilder::register_clamped`] does, and
    /// `max_keys = 0` is 1.
    #[doc(hidden)]
    pub fn register_clamped(self) -> KeyedRateLimiter {
        register(self.limiter.configured().clamped(), self.max_keys.max(1))
    }

    fn check_max_keys(&self) -> Result<(), ConfigError> {
        if self.max_keys == 0 {
            return Err(ConfigError::new(
                "rate_limit",
                "max_keys",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// Every keyed rate limiter registered by name.
pub(crate) static KEYED_RATE_LIMITERS: Registry<KeyedRateLimiter> = Registry::new();

/// One rate limit per key (per user, per tenant, per host), at most `max_keys` keys at
/// once; what `#[rate_limit(key = expr)]` uses.
///
/// The key's type is not part of the limiter's type (a `static` must be able to name
/// it): any `Hash + Eq + Clone + Send + Sync + 'static` key works, and keys of two
/// different types are different keys. A key seen for the first time gets a full
/// burst; when `max_keys` keys are held, a new key makes the limiter forget the least
/// recently used one.
///
/// Cloning is cheap and the clones share the keys.
///
/// ```
/// use resilience_runtime::rate_limit::{KeyedRateLimiter, Rate};
///
/// let per_user = KeyedRateLimiter::builder("per-user")
///     .rate(Rate::per_minute(1))
///     .max_keys(1_000)
///     .build()
///     .unwrap();
/// assert!(per_user.check(&"alice").is_ok());
/// assert!(per_user.check(&"alice").is_err());
/// assert!(per_user.check(&"bob").is_ok(), "each key has its own budget");
/// ```
#[derive(Clone)]
pub struct KeyedRateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    core: Core,
    map: KeyedMap<Arc<AtomicU64>>,
}

pub(crate) fn register(settings: Settings, max_keys: usize) -> KeyedRateLimiter {
    let name = settings.name.clone();
    let described = format!("{settings:?}, max_keys: {max_keys}");
    KEYED_RATE_LIMITERS.register("rate_limit", name, described, || {
        KeyedRateLimiter::new(settings, max_keys)
    })
}

impl KeyedRateLimiter {
    /// A builder for a keyed limiter named `name`; see [`KeyedRateLimiterBuilder`].
    pub fn builder(name: impl Into<Cow<'static, str>>) -> KeyedRateLimiterBuilder {
        RateLimiterBuilder::new(name.into()).keyed()
    }

    pub(crate) fn new(settings: Settings, max_keys: usize) -> Self {
        KeyedRateLimiter {
            inner: Arc::new(Inner {
                core: Core::new(settings),
                map: KeyedMap::new(max_keys),
            }),
        }
    }

    pub(crate) fn core(&self) -> &Core {
        &self.inner.core
    }

    /// The state of `key`, created with a full burst if the key is new.
    #[inline]
    fn state<K: crate::PolicyKey>(&self, key: &K) -> Arc<AtomicU64> {
        self.inner
            .map
            .get_or_insert_with(key, || Arc::new(AtomicU64::new(0)))
    }

    /// Runs `future` once `key`'s rate allows; otherwise as
    /// [`RateLimiter::call`](super::RateLimiter::call). An admitted call with a key
    /// already held makes no allocation.
    pub async fn call<K, T, E, F>(&self, key: K, future: F) -> Result<T, E>
    where
        K: crate::PolicyKey,
        F: Future<Output = Result<T, E>>,
        E: FromRejection,
    {
        let core = &self.inner.core;
        let tat = self.state(&key);
        #[cfg(feature = "redis")]
        if let Some(store) = &core.settings.store {
            let hash = super::store::key_hash(&key);
            let admitted = core.store_acquire(&**store, &tat, Some(hash), 1).await;
            drop(tat);
            return match admitted {
                Ok(()) => core.counted(future.await),
                Err(rejection) => Err(E::from_rejection(rejection)),
            };
        }
        match core.decide(&tat) {
            Decision::Now => {}
            Decision::Wait {
                at,
                wait,
                prev,
                reserved,
            } => {
                Box::pin(core.wait_for_slot(&tat, at, wait, prev, reserved)).await;
                if let Err(rejection) = core.admitted_after_wait() {
                    return Err(E::from_rejection(rejection));
                }
            }
            Decision::Refused { retry_after } => {
                return Err(E::from_rejection(core.refused(retry_after)));
            }
        }
        drop(tat);
        core.counted(future.await)
    }

    /// The blocking form of [`call`](Self::call): sleeps the thread
    /// (`std::thread::sleep`) up to `max_wait` for `key`'s slot.
    pub fn call_blocking<K, T, E>(&self, key: K, f: impl FnOnce() -> Result<T, E>) -> Result<T, E>
    where
        K: crate::PolicyKey,
        E: FromRejection,
    {
        let admitted = self.inner.core.admit_blocking(&self.state(&key));
        match admitted {
            Ok(()) => self.inner.core.counted(f()),
            Err(rejection) => Err(E::from_rejection(rejection)),
        }
    }

    /// Takes a slot of `key` if one is free now, else returns the rejection; never
    /// waits.
    #[inline]
    pub fn check<K>(&self, key: &K) -> Result<(), Rejection>
    where
        K: crate::PolicyKey,
    {
        self.inner.core.check(&self.state(key))
    }

    /// Takes `n` slots of `key` at once if they are free now, else returns the
    /// rejection; never waits. As [`RateLimiter::check_n`](super::RateLimiter::check_n).
    #[inline]
    pub fn check_n<K>(&self, key: &K, n: u32) -> Result<(), Rejection>
    where
        K: crate::PolicyKey,
    {
        self.inner.core.check_n(&self.state(key), n)
    }

    /// Takes `n` slots of `key`, waiting up to `max_wait` for them. As
    /// [`RateLimiter::acquire_n`](super::RateLimiter::acquire_n).
    pub async fn acquire_n<K>(&self, key: &K, n: u32) -> Result<(), Rejection>
    where
        K: crate::PolicyKey,
    {
        let tat = self.state(key);
        #[cfg(feature = "redis")]
        if let Some(store) = &self.inner.core.settings.store {
            let hash = super::store::key_hash(key);
            return self
                .inner
                .core
                .store_acquire(&**store, &tat, Some(hash), n)
                .await;
        }
        self.inner.core.acquire_n(&tat, n).await
    }

    /// [`call`](Self::call) for a call of cost `n` (what `#[rate_limit(key = ..,
    /// cost = n)]` calls).
    pub async fn call_n<K, T, E, F>(&self, key: K, n: u32, future: F) -> Result<T, E>
    where
        K: crate::PolicyKey,
        F: Future<Output = Result<T, E>>,
        E: FromRejection,
    {
        let admitted = self.acquire_n(&key, n).await;
        match admitted {
            Ok(()) => self.inner.core.counted(future.await),
            Err(rejection) => Err(E::from_rejection(rejection)),
        }
    }

    /// The blocking form of [`call_n`](Self::call_n).
    pub fn call_blocking_n<K, T, E>(
        &self,
        key: K,
        n: u32,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E>
    where
        K: crate::PolicyKey,
        E: FromRejection,
    {
        let admitted = self.inner.core.admit_blocking_n(&self.state(&key), n);
        match admitted {
            Ok(()) => self.inner.core.counted(f()),
            Err(rejection) => Err(E::from_rejection(rejection)),
        }
    }

    /// How many calls with `key` would be admitted at once now (the burst, for a key
    /// not held). Does not count as a use of the key.
    pub fn available<K>(&self, key: &K) -> u64
    where
        K: crate::PolicyKey,
    {
        let core = &self.inner.core;
        match self.inner.map.get(key) {
            Some(tat) => core.quota().available(&tat, core.now()),
            None => u64::from(core.burst()),
        }
    }

    /// The counters of every key, summed, as
    /// [`registry::snapshot`](crate::registry::snapshot) lists them.
    pub fn snapshot(&self) -> crate::registry::PolicySnapshot {
        self.inner.core.stats.snapshot()
    }

    /// The name given in rejections.
    pub fn name(&self) -> &str {
        &self.inner.core.settings.name
    }

    /// The steady rate of each key.
    pub fn rate(&self) -> Rate {
        self.inner.core.rate()
    }

    /// How many calls of one key may go at once after a quiet period.
    pub fn burst(&self) -> u32 {
        self.inner.core.burst()
    }

    /// How long a call over its key's rate may wait for its slot.
    pub fn max_wait(&self) -> Duration {
        self.inner.core.max_wait()
    }

    /// The most keys held at once.
    pub fn max_keys(&self) -> usize {
        self.inner.map.max_keys()
    }

    /// The keys held now.
    pub fn keys(&self) -> usize {
        self.inner.map.len()
    }

    /// Whether `self` and `other` are the same limiter (clones of one another).
    pub fn ptr_eq(&self, other: &KeyedRateLimiter) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl std::fmt::Debug for KeyedRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.inner.core.settings;
        f.debug_struct("KeyedRateLimiter")
            .field("name", &s.name)
            .field("rate", &s.rate)
            .field("burst", &s.burst)
            .field("max_wait", &s.max_wait)
            .field("max_keys", &self.max_keys())
            .field("keys", &self.keys())
            .finish()
    }
}
