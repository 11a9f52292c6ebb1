//! Keyed breakers: one breaker per key value (`#[circuit_breaker(key = expr)]`).

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use super::config::{Config, ConfigCell};
use super::{CircuitBreaker, CircuitBreakerBuilder};
use crate::config::ConfigError;
use crate::events::PolicyKind;
use crate::keyed::KeyedMap;
use crate::named::Registry;
use crate::rejection::FromRejection;
use crate::stats::Stats;

/// How much a state refuses, for a keyed breaker's one state in listings.
fn severity(state: crate::CircuitState) -> u8 {
    use crate::CircuitState::{Closed, Disabled, ForcedOpen, HalfOpen, MetricsOnly, Open};
    match state {
        Disabled | MetricsOnly => 0,
        Closed => 1,
        HalfOpen => 2,
        Open => 3,
        ForcedOpen => 4,
    }
}

/// One [`CircuitBreaker`] per distinct key, all with the same settings: a failing
/// tenant, host or shard opens its own breaker and leaves the others closed.
///
/// At most `max_keys` breakers are held (default 10 000 for `#[circuit_breaker(key =
/// ..)]`); when a new key arrives at a full map, the least recently used key's breaker
/// is dropped (and starts closed and empty if that key comes back). Keys may be of any
/// `Hash + Eq + Clone + Send + Sync + 'static` type; the type is not part of
/// `KeyedCircuitBreaker`'s, so a `static` can hold one. Looking up a known key takes a
/// short lock on one of 16 shards and allocates nothing; a new key allocates its
/// breaker.
///
/// Every key's breaker has the keyed breaker's name (used in rejections and given to
/// listeners, which are told of every key's transitions); the rejection message of a
/// keyed breaker gives no reason, as the name does not say which key opened. Settings
/// configured by name (feature `config`) reach a registered keyed breaker's keys held
/// (each keeping its state) and every key created after.
///
/// ```
/// use resilience_runtime::{CircuitBreaker, CircuitState, KeyedCircuitBreaker, Rejection};
/// use resilience_runtime::circuit_breaker::Window;
///
/// let per_host = KeyedCircuitBreaker::new(
///     CircuitBreaker::builder("hosts").window(Window::Count(2)),
///     1_000,
/// )
/// .unwrap();
/// for _ in 0..2 {
///     let _ = per_host.call_blocking("a.example", || Err::<(), _>(Rejection::ShuttingDown {
///         name: "backend".into(),
///     }));
/// }
/// assert_eq!(per_host.get(&"a.example").unwrap().state(), CircuitState::Open);
/// assert!(per_host.call_blocking("b.example", || Ok::<_, Rejection>(())).is_ok());
/// ```
#[derive(Clone)]
pub struct KeyedCircuitBreaker {
    inner: Arc<Inner>,
}

struct Inner {
    name: Cow<'static, str>,
    /// What a new key's breaker is created with; configuration (feature `config`)
    /// replaces it and reconfigures every key's breaker alike.
    config: ConfigCell,
    /// Every key's breaker counts here: a keyed breaker is one policy in listings.
    stats: Arc<Stats>,
    map: KeyedMap<CircuitBreaker>,
}

impl fmt::Debug for KeyedCircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreaker")
            .field("name", &self.inner.name)
            .field("keys", &self.inner.map.len())
            .field("max_keys", &self.inner.map.max_keys())
            .field("config", &self.inner.config)
            .finish()
    }
}

/// Keyed breakers by name.
pub(crate) static KEYED: Registry<KeyedCircuitBreaker> = Registry::new();

/// Builds a [`KeyedCircuitBreaker`]: every setting of [`CircuitBreakerBuilder`] (applied
/// to each key's breaker), and `max_keys`. From [`CircuitBreakerBuilder::keyed`].
#[must_use]
pub struct KeyedCircuitBreakerBuilder {
    builder: CircuitBreakerBuilder,
    max_keys: usize,
}

impl CircuitBreakerBuilder {
    /// One breaker per key instead of one breaker, at most
    /// [`DEFAULT_MAX_KEYS`](crate::DEFAULT_MAX_KEYS) held unless
    /// [`max_keys`](KeyedCircuitBreakerBuilder::max_keys) says otherwise.
    pub fn keyed(self) -> KeyedCircuitBreakerBuilder {
        KeyedCircuitBreakerBuilder {
            builder: self,
            max_keys: crate::DEFAULT_MAX_KEYS,
        }
    }
}

impl KeyedCircuitBreakerBuilder {
    /// The most keys held at once (≥ 1); the least recently used is dropped first.
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// A keyed breaker of its own, as [`KeyedCircuitBreaker::new`].
    pub fn build(self) -> Result<KeyedCircuitBreaker, ConfigError> {
        KeyedCircuitBreaker::new(self.builder, self.max_keys)
    }

    /// A keyed breaker shared by name, as [`KeyedCircuitBreaker::register`].
    pub fn register(self) -> Result<KeyedCircuitBreaker, ConfigError> {
        KeyedCircuitBreaker::register(self.builder.configured(), self.max_keys)
    }

    /// What `#[circuit_breaker(key = ..)]` calls, as
    /// [`KeyedCircuitBreaker::new_clamped`].
    #[doc(hidden)]
    pub fn register_clamped(self) -> KeyedCircuitBreaker {
        KeyedCircuitBreaker::new_clamped(self.builder.configured(), self.max_keys)
    }
}

impl KeyedCircuitBreaker {
    /// A keyed breaker of its own (not registered) with `builder`'s settings for each
    /// key, holding at most `max_keys` keys (≥ 1).
    pub fn new(builder: CircuitBreakerBuilder, max_keys: usize) -> Result<Self, ConfigError> {
        let (name, config) = Self::check(builder, max_keys)?;
        Ok(Self::from_parts(name, config, max_keys))
    }

    /// Like [`new`](Self::new), but shared by name as
    /// [`CircuitBreakerBuilder::register`] (in a registry of keyed breakers, apart from
    /// plain ones): the first configuration wins, conflicts are recorded in
    /// [`registry::config_conflicts`](crate::registry::config_conflicts).
    pub fn register(builder: CircuitBreakerBuilder, max_keys: usize) -> Result<Self, ConfigError> {
        let (name, config) = Self::check(builder, max_keys)?;
        Ok(Self::register_parts(name, config, max_keys))
    }

    /// What `#[circuit_breaker(key = ..)]` calls: never fails; settings are clamped as
    /// [`CircuitBreakerBuilder::register_clamped`] does, `max_keys` of 0 becomes 1;
    /// registered by name as [`register`](Self::register).
    #[doc(hidden)]
    pub fn new_clamped(builder: CircuitBreakerBuilder, max_keys: usize) -> Self {
        let (name, config) = builder.clamp();
        Self::register_parts(name, config, max_keys.max(1))
    }

    fn check(
        builder: CircuitBreakerBuilder,
        max_keys: usize,
    ) -> Result<(Cow<'static, str>, Config), ConfigError> {
        if max_keys == 0 {
            return Err(ConfigError::new(
                "circuit_breaker",
                "max_keys",
                "must be at least 1",
            ));
        }
        builder.check()
    }

    fn from_parts(name: Cow<'static, str>, config: Config, max_keys: usize) -> Self {
        KeyedCircuitBreaker {
            inner: Arc::new(Inner {
                stats: Arc::new(Stats::new(PolicyKind::CircuitBreaker, name.clone())),
                name,
                config: ConfigCell::new(Arc::new(config)),
                map: KeyedMap::new(max_keys),
            }),
        }
    }

    fn register_parts(name: Cow<'static, str>, config: Config, max_keys: usize) -> Self {
        let (keyed, existed) = KEYED.get_or_insert_with(name.clone(), || {
            Self::from_parts(name.clone(), config.clone(), max_keys)
        });
        let inner = &keyed.inner;
        if existed
            && (!inner.config.get().same_settings(&config)
                || !config.listeners.is_empty()
                || inner.map.max_keys() != max_keys)
        {
            crate::named::report_conflict(
                "circuit_breaker",
                name,
                format!("{:?}, max_keys: {}", inner.config, inner.map.max_keys()),
                format!("{config:?}, max_keys: {max_keys}"),
            );
        }
        keyed
    }

    /// The name shared by every key's breaker.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The most keys held at once.
    pub fn max_keys(&self) -> usize {
        self.inner.map.max_keys()
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.inner.map.len()
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The breaker of `key`, if the key is held (counts as a use of the key).
    pub fn get<K>(&self, key: &K) -> Option<CircuitBreaker>
    where
        K: crate::PolicyKey,
    {
        self.inner.map.get(key)
    }

    /// The breaker of `key`, created (closed) if the key is not held.
    pub fn breaker<K>(&self, key: &K) -> CircuitBreaker
    where
        K: crate::PolicyKey,
    {
        // The configuration is read under the shard's lock (`make` runs there), so a
        // live change either reaches the new breaker in the map or came before it.
        self.inner.map.get_or_insert_with(key, || {
            CircuitBreaker::from_config(
                self.inner.name.clone(),
                self.inner.config.current(),
                Some(self.inner.stats.clone()),
            )
        })
    }

    /// Drops every key's breaker: each key starts again closed and empty. Handles
    /// from [`get`](Self::get) keep working but no longer serve calls made through
    /// this keyed breaker.
    pub fn clear(&self) {
        self.inner.map.clear();
    }

    /// The counters of every key's breaker, summed, with the most severe state of
    /// any key (open over half-open over closed) and the highest failure rate.
    pub fn snapshot(&self) -> crate::registry::PolicySnapshot {
        let mut s = self.inner.stats.snapshot();
        let mut state = crate::CircuitState::Closed;
        let mut rate: f64 = 0.0;
        for breaker in self.breakers() {
            let m = breaker.metrics();
            if severity(m.state) > severity(state) {
                state = m.state;
            }
            rate = rate.max(m.failure_rate);
        }
        s.state = Some(state);
        s.failure_rate = Some(rate);
        s
    }

    /// Every key's breaker, in no particular order.
    pub fn breakers(&self) -> Vec<CircuitBreaker> {
        self.inner.map.values()
    }

    /// [`CircuitBreaker::call`] through `key`'s breaker.
    pub async fn call<K, T, E, F>(&self, key: K, future: F) -> Result<T, E>
    where
        K: crate::PolicyKey,
        F: Future<Output = Result<T, E>>,
        E: FromRejection,
    {
        let breaker = self.breaker(&key);
        breaker.call(future).await
    }

    /// [`CircuitBreaker::call_with`] through `key`'s breaker.
    pub async fn call_with<K, T, E, F, R>(&self, key: K, record_if: R, future: F) -> Result<T, E>
    where
        K: crate::PolicyKey,
        F: Future<Output = Result<T, E>>,
        E: FromRejection,
        R: FnOnce(&E) -> bool,
    {
        let breaker = self.breaker(&key);
        breaker.call_with(record_if, future).await
    }

    /// [`CircuitBreaker::call_blocking`] through `key`'s breaker.
    pub fn call_blocking<K, T, E>(&self, key: K, f: impl FnOnce() -> Result<T, E>) -> Result<T, E>
    where
        K: crate::PolicyKey,
        E: FromRejection,
    {
        self.breaker(&key).call_blocking(f)
    }

    /// [`CircuitBreaker::call_blocking_with`] through `key`'s breaker.
    pub fn call_blocking_with<K, T, E>(
        &self,
        key: K,
        record_if: impl FnOnce(&E) -> bool,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E>
    where
        K: crate::PolicyKey,
        E: FromRejection,
    {
        self.breaker(&key).call_blocking_with(record_if, f)
    }
}

#[cfg(feature = "config")]
impl KeyedCircuitBreaker {
    /// The configuration in force with `s` over it, checked as `build()` checks.
    pub(crate) fn reconfigured(
        &self,
        s: &crate::integrations::config::BreakerSettings,
    ) -> Result<Config, ConfigError> {
        super::config::reconfigured(self.inner.name.clone(), &self.inner.config, s)
    }

    /// Puts a checked configuration in force for keys to come, then for every key
    /// held, each keeping its state (as [`CircuitBreaker`]'s live change does).
    pub(crate) fn reconfigure(&self, next: Config) {
        let next = Arc::new(next);
        // First the keys to come, then the keys held: a key created meanwhile either
        // read the new configuration or is in the map by the time `values` looks.
        self.inner.config.set(next.clone());
        for breaker in self.inner.map.values() {
            breaker.reconfigure(next.clone());
        }
    }
}
