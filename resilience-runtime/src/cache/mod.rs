//! Cache: the last good answer of a call, kept per key, served while fresh and again
//! (stale) when the call fails; one body per key at a time.
//!
//! `#[cache(key = expr, ttl = "30s", stale_if_error = "10m", max_keys = 10_000,
//! name = "...")]` on an async or plain function, or by hand:
//!
//! ```
//! use std::time::Duration;
//! use resilience_runtime::cache::Cache;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let prices = Cache::builder("prices")
//!     .ttl(Duration::from_secs(30))
//!     .stale_if_error(Duration::from_secs(600))
//!     .build()
//!     .unwrap();
//! let first: Result<u32, String> = prices.call("sku-1", async { Ok(1250) }).await;
//! assert_eq!(first, Ok(1250));
//! // Fresh: answered from the cache, the body is not run.
//! let again: Result<u32, String> = prices.call("sku-1", async { unreachable!() }).await;
//! assert_eq!(again, Ok(1250));
//! // Past the ttl the body runs; when it fails, the entry (younger than
//! // ttl + stale_if_error) is served instead of the error.
//! tokio::time::advance(Duration::from_secs(60)).await;
//! let stale: Result<u32, String> = prices.call("sku-1", async { Err("down".into()) }).await;
//! assert_eq!(stale, Ok(1250));
//! # }
//! ```
//!
//! - A call whose entry is younger than `ttl` (strictly) returns a clone of it without
//!   running the body (`resilience_cache_hits_total{kind="fresh"}`).
//! - Each `Ok` is stored under the key, dated now. When the body fails and the entry is
//!   younger than `ttl + stale_if_error`, the entry is returned as `Ok`,
//!   [`EventKind::StaleServed`](crate::events::EventKind::StaleServed) is emitted and
//!   the answer counted as `kind="stale"`; otherwise the error is returned as it is.
//! - While one call for a key runs its body, the calls for the same key that arrive
//!   wait for it and receive a clone of its `Ok`. If it fails or is cancelled (its future
//!   dropped, or its plain body panics), each waiting call runs its own body.
//! - At most `max_keys` keys are held (default
//!   [`DEFAULT_MAX_KEYS`]); the least recently used is
//!   dropped first (the keyed map every keyed policy uses: exact order below 64 keys).
//! - `ttl` defaults to zero (the body always runs: the entry is only a last known
//!   good answer), `stale_if_error` to zero.
//!
//! The entries are kept in the project's own keyed map rather than moka or
//! quick_cache: both evict by frequency-aware policies (TinyLFU, S3-FIFO) where the
//! contract is least recently used, a cache miss must also find the running body for
//! its key under the same lock, and its fresh hit measures within about 1.2x of
//! quick_cache's `get` (which keeps no age to check) and several times faster than
//! moka's (figures in `BENCHMARKS.md`). A fresh hit reads its key's shard under the
//! keyed map's read path (hits of other threads run alongside), clones the value and
//! allocates nothing.
//!
//! Time is `tokio::time`'s, but a hit well inside its entry's `ttl` does not read it:
//! on Linux each entry also keeps, in the kernel's coarse monotonic clock
//! (`CLOCK_MONOTONIC_COARSE`, the same timeline, several times cheaper to read than
//! the fine clock), the instant before which it is certainly fresh (its ttl
//! less two of the clock's ticks and a millisecond). Hits after that instant, and every
//! hit once `tokio::time` has been seen paused in this process (a paused clock stands
//! still between two reads, or runs ahead of the real one; each store looks), decide
//! by `tokio::time`. A clock paused after an entry was stored is noticed at the next
//! store.
//!
//! Values are `Clone + Send + Sync + 'static`: they are shared with waiting calls and
//! kept between calls. Functions that give the same `name` share the entries; an entry
//! of another value type is a miss.

mod call;
mod clock;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use crate::config::ConfigError;
use crate::events::PolicyKind;
use crate::flight::{Flight, Shared};
use crate::keyed::{DEFAULT_MAX_KEYS, KeyedMap};
use crate::named::Registry;
use crate::stats::Stats;

/// A cache of a call's `Ok` answers per key; see the [module docs](self).
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    stats: &'static Stats,
    ttl: Duration,
    stale_if_error: Duration,
    map: KeyedMap<Slot>,
}

/// One key's entry: its last `Ok`, and the body running for it.
#[derive(Clone, Default)]
struct Slot {
    value: Option<Stored>,
    flight: Option<Arc<Flight>>,
}

/// A stored `Ok` and when it was stored.
#[derive(Clone)]
struct Stored {
    value: Shared,
    /// The type of `value`: a hit compares it inline rather than asking the value.
    type_id: std::any::TypeId,
    at: tokio::time::Instant,
    /// `at + ttl` (`None`: beyond what an instant holds, fresh for good): a fresh hit
    /// compares two instants instead of working out a duration.
    fresh_until: Option<tokio::time::Instant>,
    /// Before this reading of the coarse clock the entry is certainly fresh (0: no
    /// such bound); see [`clock`].
    coarse_until: u64,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("name", &self.name())
            .field("ttl", &self.inner.ttl)
            .field("stale_if_error", &self.inner.stale_if_error)
            .field("max_keys", &self.inner.map.max_keys())
            .field("keys", &self.inner.map.len())
            .finish()
    }
}

impl Cache {
    /// A builder for a cache named `name`.
    pub fn builder(name: impl Into<Cow<'static, str>>) -> CacheBuilder {
        CacheBuilder {
            name: name.into(),
            ttl: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            max_keys: DEFAULT_MAX_KEYS,
        }
    }

    /// The cache's name.
    pub fn name(&self) -> &str {
        &self.inner.stats.name
    }

    /// How long an entry is served without calling.
    pub fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// How long past `ttl` an entry is still served when the call fails.
    pub fn stale_if_error(&self) -> Duration {
        self.inner.stale_if_error
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

    /// Drops the entry of `key`; a body running for it still stores its answer.
    pub fn invalidate<K: crate::PolicyKey>(&self, key: &K) {
        self.inner.map.remove_if(key, |_| true);
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.inner.map.clear();
    }
}

/// Settings of a [`Cache`]; [`Cache::builder`] makes one.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` or `register`"]
pub struct CacheBuilder {
    name: Cow<'static, str>,
    ttl: Duration,
    stale_if_error: Duration,
    max_keys: usize,
}

impl CacheBuilder {
    /// How long an entry is served without running the body. Default zero: the body
    /// always runs, and the entry only answers its errors.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long past `ttl` an entry is still served when the body fails. Default zero.
    pub fn stale_if_error(mut self, stale_if_error: Duration) -> Self {
        self.stale_if_error = stale_if_error;
        self
    }

    /// The most keys held; the least recently used is dropped first. Default
    /// [`DEFAULT_MAX_KEYS`].
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// The cache, or what is wrong with its settings. Not registered: see
    /// [`register`](Self::register) for one shared by name.
    pub fn build(self) -> Result<Cache, ConfigError> {
        self.check()?;
        Ok(self.make())
    }

    /// The cache registered under this name, or this one, built and registered now (the
    /// first configuration registered under a name wins).
    pub fn register(self) -> Result<Cache, ConfigError> {
        self.check()?;
        Ok(self.register_unchecked())
    }

    /// For the `#[cache]` macro: like [`register`](Self::register), but never fails
    /// (`max_keys` 0 is taken as 1).
    #[doc(hidden)]
    pub fn register_clamped(mut self) -> Cache {
        self.max_keys = self.max_keys.max(1);
        self.register_unchecked()
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.max_keys == 0 {
            return Err(ConfigError::new(
                "cache",
                "max_keys",
                "must be at least 1 (0 would keep nothing)",
            ));
        }
        Ok(())
    }

    fn register_unchecked(self) -> Cache {
        static CACHES: Registry<Cache> = Registry::new();
        let name = self.name.clone();
        let described = format!(
            "ttl: {:?}, stale_if_error: {:?}, max_keys: {}",
            self.ttl, self.stale_if_error, self.max_keys
        );
        CACHES.register("cache", name, described, || self.make())
    }

    fn make(self) -> Cache {
        Cache {
            inner: Arc::new(Inner {
                stats: crate::stats::register(PolicyKind::Cache, self.name),
                ttl: self.ttl,
                stale_if_error: self.stale_if_error,
                map: KeyedMap::new(self.max_keys),
            }),
        }
    }
}
