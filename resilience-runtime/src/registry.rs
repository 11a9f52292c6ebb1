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

// ---------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------

use crate::events::PolicyKind;

/// One registered policy's counters and gauges at one moment, from [`snapshot`].
///
/// Counters are monotonic from the policy's creation. Which ones a kind fills:
/// every kind `successes` and `failures` (calls whose body returned `Ok` / `Err`);
/// breakers, bulkheads and rate limiters `rejections`; timeouts `timeouts`; breakers
/// `ignored`, `state`, `failure_rate` and `transitions`; retries `retries`,
/// `retries_exhausted` and `retry_budget_exhausted`; fallbacks `fallbacks`;
/// bulkheads `in_flight`, `waiting` and `limit`. A keyed policy is one snapshot, its
/// keys summed (its `state` is the most severe of its keys', its `failure_rate` the
/// highest).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PolicySnapshot {
    /// The kind of policy.
    pub policy: PolicyKind,
    /// Its name.
    pub name: Cow<'static, str>,
    /// Breakers: the state now.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub state: Option<CircuitState>,
    /// Every call counted below: `successes + failures + rejections + timeouts +
    /// ignored`.
    pub calls: u64,
    /// Calls whose body returned `Ok`.
    pub successes: u64,
    /// Calls whose body returned `Err` (or panicked, for a breaker).
    pub failures: u64,
    /// Calls refused without running the body.
    pub rejections: u64,
    /// Timeouts: calls that ran out of time.
    pub timeouts: u64,
    /// Breakers: errors that `record_if` leaves out.
    pub ignored: u64,
    /// Retries: attempts after the first.
    pub retries: u64,
    /// Retries: calls whose every attempt failed.
    pub retries_exhausted: u64,
    /// Retries: retries skipped because the retry budget was spent.
    pub retry_budget_exhausted: u64,
    /// Fallbacks: answers the fallback served.
    pub fallbacks: u64,
    /// Hedges: copies started after the first.
    pub hedges: u64,
    /// Caches: answers served fresh from the cache.
    pub cache_hits_fresh: u64,
    /// Caches: stale answers served after an error.
    pub cache_hits_stale: u64,
    /// Breakers: the failure share of the current window, 0 to 1.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub failure_rate: Option<f64>,
    /// Breakers: state changes so far, by `from` and `to`.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub transitions: Vec<TransitionCount>,
    /// Bulkheads: bodies running now.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub in_flight: Option<u64>,
    /// Bulkheads: calls waiting for a slot now.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub waiting: Option<u64>,
    /// Bulkheads: the limit now (an adaptive bulkhead moves it).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub limit: Option<u64>,
}

/// How often a breaker went from one state to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TransitionCount {
    /// The state before.
    pub from: CircuitState,
    /// The state after.
    pub to: CircuitState,
    /// How many times.
    pub count: u64,
}

impl PolicySnapshot {
    /// A snapshot of `policy` `name` with every counter at zero.
    pub(crate) fn new(policy: PolicyKind, name: Cow<'static, str>) -> Self {
        PolicySnapshot {
            policy,
            name,
            state: None,
            calls: 0,
            successes: 0,
            failures: 0,
            rejections: 0,
            timeouts: 0,
            ignored: 0,
            retries: 0,
            retries_exhausted: 0,
            retry_budget_exhausted: 0,
            fallbacks: 0,
            hedges: 0,
            cache_hits_fresh: 0,
            cache_hits_stale: 0,
            failure_rate: None,
            transitions: Vec::new(),
            in_flight: None,
            waiting: None,
            limit: None,
        }
    }
}

/// Every registered policy (each policy of every annotated function, and those
/// registered by hand), sorted by policy kind, then name.
///
/// ```
/// use resilience_runtime::{events::PolicyKind, registry, retry};
///
/// #[retry(max_attempts = 2, backoff = none, name = "snapshot-doc")]
/// async fn once() -> Result<u32, String> { Ok(1) }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// once().await.unwrap();
/// let all = registry::snapshot();
/// let mine = all.iter().find(|s| s.name == "snapshot-doc").unwrap();
/// assert_eq!((mine.policy, mine.calls, mine.successes), (PolicyKind::Retry, 1, 1));
/// # }
/// ```
pub fn snapshot() -> Vec<PolicySnapshot> {
    let mut all: Vec<PolicySnapshot> = Vec::new();
    all.extend(BREAKERS.all().iter().map(|(_, b)| b.snapshot()));
    all.extend(
        crate::circuit_breaker::keyed_registry()
            .all()
            .iter()
            .map(|(_, b)| b.snapshot()),
    );
    all.extend(bulkheads().iter().map(crate::Bulkhead::snapshot));
    all.extend(rate_limiters().iter().map(crate::RateLimiter::snapshot));
    all.extend(
        keyed_rate_limiters()
            .iter()
            .map(crate::KeyedRateLimiter::snapshot),
    );
    all.extend(crate::stats::registered().iter().map(|s| s.snapshot()));
    all.sort_by(|a, b| (a.policy, &a.name).cmp(&(b.policy, &b.name)));
    all
}
