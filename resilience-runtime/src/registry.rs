//! Named policies shared across functions, and looking them up by hand.
//!
//! Every function that names the same policy (`name = "payments"`) shares one instance;
//! the first configuration registered under a name wins.

use std::borrow::Cow;

pub use crate::named::ConfigConflict;

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

/// Every registration that named an existing policy with other settings (each
/// distinct one once, oldest first). The first configuration registered under a name
/// wins; the later one was ignored (its caller got the existing policy) and is recorded
/// here instead of failing at run time. A startup check or test can assert it is
/// empty:
///
/// ```
/// assert!(resilience_runtime::registry::config_conflicts().is_empty());
/// ```
pub fn config_conflicts() -> Vec<ConfigConflict> {
    crate::named::config_conflicts()
}
