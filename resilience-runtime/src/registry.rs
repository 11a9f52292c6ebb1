//! Named policies shared across functions, and looking them up by hand.
//!
//! Every function that names the same policy (`name = "payments"`) shares one instance;
//! the first configuration registered under a name wins.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::RwLock;

/// A map from policy name to a shared policy instance. Touched when a policy is first
/// used by a function and when it is looked up by hand, never on a call's hot path.
pub(crate) struct Registry<V> {
    entries: RwLock<Option<HashMap<Cow<'static, str>, V>>>,
}

impl<V: Clone> Registry<V> {
    pub(crate) const fn new() -> Self {
        Registry {
            entries: RwLock::new(None),
        }
    }

    /// The instance registered under `name`, or the one `make` builds, registered now.
    /// The `bool` is true when the instance already existed.
    pub(crate) fn get_or_insert_with(
        &self,
        name: Cow<'static, str>,
        make: impl FnOnce() -> V,
    ) -> (V, bool) {
        if let Some(existing) = self.get(&name) {
            return (existing, true);
        }
        let mut guard = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let map = guard.get_or_insert_with(HashMap::new);
        if let Some(existing) = map.get(&name) {
            return (existing.clone(), true);
        }
        let value = make();
        map.insert(name, value.clone());
        (value, false)
    }

    /// The instance registered under `name`.
    pub(crate) fn get(&self, name: &str) -> Option<V> {
        let guard = self.entries.read().unwrap_or_else(|e| e.into_inner());
        guard.as_ref()?.get(name).cloned()
    }

    /// Every registered instance, sorted by name.
    pub(crate) fn all(&self) -> Vec<(Cow<'static, str>, V)> {
        let guard = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<_> = guard
            .iter()
            .flat_map(|map| map.iter().map(|(k, v)| (k.clone(), v.clone())))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// The bulkhead registered under `name` (by `#[bulkhead]` or
/// [`BulkheadBuilder::register`](crate::bulkhead::BulkheadBuilder::register)), for its
/// [`metrics`](crate::Bulkhead::metrics), its current [`limit`](crate::Bulkhead::limit)
/// (adaptive bulkheads move it) or to [`close`](crate::Bulkhead::close) it.
pub fn bulkhead(name: &str) -> Option<crate::Bulkhead> {
    crate::bulkhead::BULKHEADS.get(name)
}

/// Every registered bulkhead, sorted by name.
pub fn bulkheads() -> Vec<crate::Bulkhead> {
    crate::bulkhead::BULKHEADS
        .all()
        .into_iter()
        .map(|(_, b)| b)
        .collect()
}

/// The rate limiter registered under `name` (by `#[rate_limit]` without `key`, or
/// [`RateLimiterBuilder::register`](crate::rate_limit::RateLimiterBuilder::register)).
pub fn rate_limiter(name: &str) -> Option<crate::RateLimiter> {
    crate::rate_limit::RATE_LIMITERS.get(name)
}

/// Every registered rate limiter (not keyed), sorted by name.
pub fn rate_limiters() -> Vec<crate::RateLimiter> {
    crate::rate_limit::RATE_LIMITERS
        .all()
        .into_iter()
        .map(|(_, l)| l)
        .collect()
}

/// The keyed rate limiter registered under `name` (by `#[rate_limit(key = ...)]` or
/// [`KeyedRateLimiterBuilder::register`](crate::rate_limit::KeyedRateLimiterBuilder::register)).
pub fn keyed_rate_limiter(name: &str) -> Option<crate::KeyedRateLimiter> {
    crate::rate_limit::KEYED_RATE_LIMITERS.get(name)
}

/// Every registered keyed rate limiter, sorted by name.
pub fn keyed_rate_limiters() -> Vec<crate::KeyedRateLimiter> {
    crate::rate_limit::KEYED_RATE_LIMITERS
        .all()
        .into_iter()
        .map(|(_, l)| l)
        .collect()
}

// ---------------------------------------------------------------------------------
// Circuit breakers
// ---------------------------------------------------------------------------------

use crate::circuit_breaker::{BREAKERS, CircuitBreaker, CircuitState, KeyedCircuitBreaker};

/// What [`circuit_breaker`] returns: the breaker itself (clones share it), with
/// `state()`, `metrics()`, `force_open()`, `disable()` and `reset()`.
pub type CircuitBreakerHandle = CircuitBreaker;

/// The circuit breaker registered under `name` (by `#[circuit_breaker]` or
/// [`CircuitBreakerBuilder::register`](crate::circuit_breaker::CircuitBreakerBuilder::register)),
/// if any. Breakers made with `build()` are not registered; keyed breakers are found
/// with [`keyed_circuit_breaker`].
///
/// ```
/// use resilience_runtime::{CircuitBreaker, CircuitState, registry};
///
/// CircuitBreaker::builder("inventory").register().unwrap();
/// let handle = registry::circuit_breaker("inventory").unwrap();
/// handle.force_open();
/// assert_eq!(handle.state(), CircuitState::ForcedOpen);
/// handle.reset();
/// assert!(registry::circuit_breaker("no-such-breaker").is_none());
/// ```
pub fn circuit_breaker(name: &str) -> Option<CircuitBreakerHandle> {
    BREAKERS.get(name)
}

/// Every registered circuit breaker's name and state, sorted by name.
pub fn circuit_breakers() -> Vec<(Cow<'static, str>, CircuitState)> {
    BREAKERS
        .all()
        .into_iter()
        .map(|(name, breaker)| {
            let state = breaker.state();
            (name, state)
        })
        .collect()
}

/// The keyed circuit breaker registered under `name` (by
/// `#[circuit_breaker(key = ..)]` or [`KeyedCircuitBreaker::register`]), if any.
pub fn keyed_circuit_breaker(name: &str) -> Option<KeyedCircuitBreaker> {
    crate::circuit_breaker::keyed_registry().get(name)
}

// ---------------------------------------------------------------------------------
// Configuration conflicts
// ---------------------------------------------------------------------------------

/// A registration that named an existing policy with other settings. The first
/// configuration registered under a name wins; the later one was ignored (its caller
/// got the existing policy) and is recorded here instead of failing at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigConflict {
    /// The kind of policy, e.g. `"circuit_breaker"`.
    pub policy: &'static str,
    /// The shared name.
    pub name: Cow<'static, str>,
    /// The configuration in force (the first registered).
    pub kept: String,
    /// The configuration that was ignored.
    pub ignored: String,
}

impl std::fmt::Display for ConfigConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} '{}' was registered again with other settings; the first ones are kept: {} (ignored: {})",
            self.policy, self.name, self.kept, self.ignored
        )
    }
}

static CONFLICTS: std::sync::Mutex<Vec<ConfigConflict>> = std::sync::Mutex::new(Vec::new());

/// Most conflicts kept; later distinct ones are dropped.
const MAX_CONFLICTS: usize = 1_000;

/// Every configuration conflict recorded so far (each distinct one once), oldest
/// first. A startup check or test can assert it is empty:
///
/// ```
/// assert!(resilience_runtime::registry::config_conflicts().is_empty());
/// ```
pub fn config_conflicts() -> Vec<ConfigConflict> {
    CONFLICTS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

pub(crate) fn report_conflict(
    policy: &'static str,
    name: Cow<'static, str>,
    kept: String,
    ignored: String,
) {
    let conflict = ConfigConflict {
        policy,
        name,
        kept,
        ignored,
    };
    let mut all = CONFLICTS.lock().unwrap_or_else(|e| e.into_inner());
    if all.len() < MAX_CONFLICTS && !all.contains(&conflict) {
        all.push(conflict);
    }
}
