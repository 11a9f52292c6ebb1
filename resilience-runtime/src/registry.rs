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
