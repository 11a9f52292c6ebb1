//! Rate limiting: at most N calls per period, with bursts, by GCRA on one atomic word.
//!
//! A [`RateLimiter`] admits calls at a steady [`Rate`] with room for a burst; a call
//! over the rate waits up to `max_wait` for its slot, or is refused with
//! [`Rejection::RateLimited`], whose `retry_after` is exact: a call made that much
//! later is admitted (if no other call takes the slot first). A [`KeyedRateLimiter`]
//! keeps one such limit per key (per user, per tenant, per host), for at most
//! `max_keys` keys.
//!
//! ```
//! use std::time::Duration;
//! use resilience_runtime::rate_limit::{Rate, RateLimiter};
//! use resilience_runtime::Rejection;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), resilience_runtime::ConfigError> {
//! let api = RateLimiter::builder("api")
//!     .rate(Rate::per_second(100))
//!     .burst(2)
//!     .build()?;
//! assert!(api.check().is_ok());
//! assert!(api.check().is_ok());
//! // The burst is spent: the next slot is one interval (10ms) away.
//! assert_eq!(
//!     api.check().unwrap_err().retry_after(),
//!     Some(Duration::from_millis(10))
//! );
//! let r: Result<(), Rejection> = api.call(async { Ok(()) }).await;
//! assert!(r.is_err());
//! tokio::time::advance(Duration::from_millis(10)).await;
//! assert!(api.check().is_ok());
//! # Ok(()) }
//! ```
//!
//! # The algorithm
//!
//! GCRA (the generic cell rate algorithm, as governor and redis-cell use it): a
//! limiter's whole state is one "theoretical arrival time" `tat` in an `AtomicU64`,
//! nanoseconds since the limiter was built (with feature `quanta`: TSC ticks). With
//! `T = per / count` and `tau = T × (burst − 1)`, a call at `now` is admitted if `now >= tat − tau`, and
//! sets `tat = max(tat, now) + T`; otherwise it can go at `tat − tau`. Each decision is
//! one compare-and-swap, without lock or allocation; a refusal writes nothing. A new
//! limiter allows a full burst at once. This is Resilience4j's `RateLimiter`
//! (`limitForPeriod`, `limitRefreshPeriod`, `timeoutDuration`) without its fixed
//! windows: calls are spread evenly, so no window boundary lets `2 × limit` through.
//!
//! # Semantics
//!
//! - **Rate and burst.** `rate = "100/s"` means 100 calls per second on average;
//!   `burst` (default: the rate's count, as in governor's quotas) is how many may go at
//!   once after a quiet period. `burst = 1` spaces every call by `T`.
//! - **Waiting.** A call whose slot comes within `max_wait` reserves it and sleeps
//!   until then (async: `tokio::time::sleep_until`; plain functions:
//!   `std::thread::sleep`). Slots are handed out in the order calls arrive. A waiting
//!   async call that is cancelled gives its slot back if no later call reserved one
//!   after it; otherwise the slot stays spent, which keeps every later reservation on
//!   time. Default `max_wait` is zero: refused at once.
//! - **Weighted calls.** A call may take several slots at once:
//!   `#[rate_limit(cost = expr)]` (a `u32` expression over the arguments, e.g.
//!   `cost = body.len() as u32`, or the tokens of a model request), and by hand
//!   [`RateLimiter::check_n`], [`RateLimiter::acquire_n`] (waits up to `max_wait`),
//!   [`RateLimiter::call_n`] and their keyed forms. A call of cost `n` takes the
//!   slots of `n` calls in one compare-and-swap: after a quiet period, `burst / n`
//!   such calls go at once, then one every `n × T`. A cost of 0 takes nothing. A cost
//!   above `burst` could never pass: it is refused at once with
//!   `Rejection::RateLimited { retry_after: Duration::MAX }` (never a wait), whose
//!   message says so ("this call costs 500 but the burst is 100"); a literal cost
//!   above a literal burst is a compile error.
//! - **Time** is `tokio::time` (with feature `quanta`: the CPU's time-stamp counter,
//!   which paused tokio time does not move), so `tokio::time::pause()` drives it: after a refusal
//!   with `retry_after = r`, a call made `r` later is admitted. (A waiting call's slot is
//!   reserved to the nanosecond, but its sleep ends on a tick of `tokio`'s millisecond
//!   timer wheel, up to about a millisecond after the slot.)
//! - **Names are shared.** [`RateLimiterBuilder::register`] (what `#[rate_limit]`
//!   uses) returns the limiter already registered under the name, if any, so functions
//!   naming the same limiter share one budget; the first configuration wins.
//! - **Keys.** A [`KeyedRateLimiter`] holds at most `max_keys` keys (default 10 000);
//!   a new key past that forgets the least recently used one, which starts again with
//!   a full burst if it returns. Keys of any `Hash + Eq + Clone + Send + Sync +
//!   'static` type; the limiter's type does not name it, so a `static` can hold one.

mod call;

pub use call::RateLimitedCall;
pub use keyed::KeyedRateLimitedCall;
mod config;
mod gcra;
pub(crate) mod keyed;
#[cfg(feature = "config")]
mod live;
mod rate;
#[cfg(feature = "redis")]
pub(crate) mod store;

use std::borrow::Cow;
use std::time::Duration;

use tokio::time::Instant;

pub use config::RateLimiterBuilder;
pub(crate) use keyed::KEYED_RATE_LIMITERS;
pub use keyed::{DEFAULT_MAX_KEYS, KeyedRateLimiter, KeyedRateLimiterBuilder};
pub use rate::Rate;

use crate::events::{EventKind, PolicyKind};
use crate::named::Registry;
use crate::rejection::{HumanDuration, Rejection};
use crate::stats::{Count, Stats};
use crate::sync::{Arc, AtomicU64};
use config::Settings;

/// Every direct rate limiter registered by name.
pub(crate) static RATE_LIMITERS: Registry<RateLimiter> = Registry::new();

/// At most `count` calls per `per`, with bursts; see the [module docs](self).
///
/// Cloning is cheap and the clones share the budget.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    /// Alone in its cache lines, so threads that share the limiter bounce only it.
    tat: Padded,
    core: Core,
}

/// Keeps a hot atomic away from everything else (128 bytes: two lines, since the
/// adjacent-line prefetcher pairs them).
#[repr(align(128))]
struct Padded(AtomicU64);

/// What direct and keyed limiters share: the settings and the clock.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) settings: Settings,
    /// Counters and event identity (a keyed limiter's keys share them).
    pub(crate) stats: Stats,
    /// Time zero of the `tat` values.
    #[cfg_attr(feature = "quanta", allow(dead_code))]
    epoch: Instant,
    /// Time zero of the `tat` values on the TSC, which they count in ticks (feature
    /// `quanta`).
    #[cfg(feature = "quanta")]
    ticks: crate::clock::Ticks,
    /// The quota in the units of `now` (nanoseconds; feature `quanta`: ticks).
    #[cfg(not(feature = "config"))]
    quota: gcra::Quota,
    /// The settings in force, changed by configuration (feature `config`).
    #[cfg(feature = "config")]
    live: live::Live,
}

impl Core {
    pub(crate) fn new(settings: Settings) -> Self {
        #[cfg(feature = "quanta")]
        let ticks = crate::clock::Ticks::now();
        #[cfg(feature = "quanta")]
        let quota = local_quota(&settings.quota, |nanos| ticks.ticks_in(nanos));
        #[cfg(not(feature = "quanta"))]
        let quota = settings.quota;
        Core {
            stats: Stats::new(PolicyKind::RateLimit, settings.name.clone()),
            #[cfg(feature = "config")]
            live: live::Live::new(&settings, quota),
            #[cfg(not(feature = "config"))]
            quota,
            settings,
            epoch: Instant::now(),
            #[cfg(feature = "quanta")]
            ticks,
        }
    }

    /// A quota in nanoseconds in the units of [`now`](Self::now).
    #[cfg(feature = "config")]
    pub(crate) fn local(&self, quota: &gcra::Quota) -> gcra::Quota {
        local_quota(quota, |nanos| self.units(nanos))
    }

    /// `nanos` in the units of [`now`](Self::now).
    #[cfg(feature = "config")]
    fn units(&self, nanos: u64) -> u64 {
        #[cfg(feature = "quanta")]
        return self.ticks.ticks_in(nanos);
        #[cfg(not(feature = "quanta"))]
        nanos
    }

    /// A span in the units of [`now`](Self::now) in nanoseconds (rounded up).
    #[inline(always)]
    pub(crate) fn nanos(&self, units: u64) -> u64 {
        #[cfg(feature = "quanta")]
        return self.ticks.nanos_in(units);
        #[cfg(not(feature = "quanta"))]
        units
    }

    /// The quota in force.
    #[cfg(feature = "config")]
    #[inline(always)]
    pub(crate) fn quota(&self) -> gcra::Quota {
        self.live.quota()
    }

    /// The quota in force.
    #[cfg(not(feature = "config"))]
    #[inline(always)]
    pub(crate) fn quota(&self) -> &gcra::Quota {
        &self.quota
    }

    /// The burst in force.
    #[inline(always)]
    pub(crate) fn burst(&self) -> u32 {
        #[cfg(feature = "config")]
        return self.live.burst();
        #[cfg(not(feature = "config"))]
        self.settings.burst
    }

    /// The rate in force.
    pub(crate) fn rate(&self) -> Rate {
        #[cfg(feature = "config")]
        return self.live.rate();
        #[cfg(not(feature = "config"))]
        self.settings.rate
    }

    /// The longest wait in force.
    pub(crate) fn max_wait(&self) -> Duration {
        #[cfg(feature = "config")]
        return self.live.max_wait();
        #[cfg(not(feature = "config"))]
        Duration::from_nanos(self.settings.quota.max_wait)
    }

    /// Nanoseconds since the epoch, on `tokio::time` (feature `quanta`: on the TSC).
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        #[cfg(feature = "quanta")]
        return self.ticks.ticks();
        #[cfg(not(feature = "quanta"))]
        {
            Instant::now()
                .saturating_duration_since(self.epoch)
                .as_nanos() as u64
        }
    }

    /// The `tokio::time` instant `at` nanoseconds after the epoch.
    pub(crate) fn instant(&self, at: u64) -> Option<Instant> {
        #[cfg(feature = "quanta")]
        return Instant::now().checked_add(Duration::from_nanos(
            self.nanos(at.saturating_sub(self.now())),
        ));
        #[cfg(not(feature = "quanta"))]
        self.epoch.checked_add(Duration::from_nanos(at))
    }

    /// A call of cost `n` above the burst: it can never pass, so it is refused at
    /// once with `retry_after = Duration::MAX` (never a wait), and its message says
    /// what it costs.
    #[cold]
    #[inline(never)]
    pub(crate) fn never(&self, n: u32) -> Rejection {
        crate::rejection::explain_with(crate::rejection::Source::RateLimit, limit_detail);
        crate::rejection::explain_with(crate::rejection::Source::RateLimitCost, cost_detail);
        remember_cost(&self.settings.name, n, self.burst());
        let rejection = Rejection::RateLimited {
            name: self.settings.name.clone(),
            retry_after: Duration::MAX,
        };
        self.stats.add(Count::Rejected);
        self.stats.emit(|| EventKind::Rejected {
            rejection: rejection.clone(),
        });
        rejection
    }

    #[cold]
    pub(crate) fn refused(&self, retry_after: u64) -> Rejection {
        if retry_after == call::DRAINED {
            return crate::lifecycle::refuse(&self.stats);
        }
        self.refused_for(Duration::from_nanos(self.nanos(retry_after)))
    }

    /// The rejection of a call refused for `retry_after`, counted and told.
    #[cold]
    pub(crate) fn refused_for(&self, retry_after: Duration) -> Rejection {
        crate::rejection::explain_with(crate::rejection::Source::RateLimit, limit_detail);
        let rejection = Rejection::RateLimited {
            name: self.settings.name.clone(),
            retry_after,
        };
        self.stats.add(Count::Rejected);
        self.stats.emit(|| EventKind::Rejected {
            rejection: rejection.clone(),
        });
        rejection
    }

    /// The quota in words, for a rejection's message.
    pub(crate) fn describe(&self, keyed: bool) -> String {
        format!(
            "{}{} with bursts of up to {}, calls wait at most {}",
            if keyed { "per key, " } else { "" },
            self.rate(),
            self.burst(),
            HumanDuration(self.max_wait())
        )
    }
}

/// `quota` (in nanoseconds) with every span converted by `units`; an interval stays
/// at least 1.
#[cfg(any(feature = "quanta", feature = "config"))]
fn local_quota(quota: &gcra::Quota, units: impl Fn(u64) -> u64) -> gcra::Quota {
    gcra::Quota {
        interval: units(quota.interval).max(1),
        tau: units(quota.tau),
        max_wait: units(quota.max_wait),
    }
}

impl RateLimiter {
    /// A builder for a limiter named `name` (the name appears in rejections and is the
    /// key [`register`](RateLimiterBuilder::register) shares it under).
    pub fn builder(name: impl Into<Cow<'static, str>>) -> RateLimiterBuilder {
        RateLimiterBuilder::new(name.into())
    }

    fn new(settings: Settings) -> Self {
        RateLimiter {
            inner: Arc::new(Inner {
                tat: Padded(AtomicU64::new(0)),
                core: Core::new(settings),
            }),
        }
    }

    /// The name given in rejections.
    pub fn name(&self) -> &str {
        &self.inner.core.settings.name
    }

    /// The steady rate.
    pub fn rate(&self) -> Rate {
        self.inner.core.rate()
    }

    /// How many calls may go at once after a quiet period.
    pub fn burst(&self) -> u32 {
        self.inner.core.burst()
    }

    /// How long a call over the rate may wait for its slot.
    pub fn max_wait(&self) -> Duration {
        self.inner.core.max_wait()
    }

    /// How many calls would be admitted at once now, without waiting.
    pub fn available(&self) -> u64 {
        let core = &self.inner.core;
        core.quota().available(&self.inner.tat.0, core.now())
    }

    /// Whether `self` and `other` are the same limiter (clones of one another).
    pub fn ptr_eq(&self, other: &RateLimiter) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The limiter's counters, as [`registry::snapshot`](crate::registry::snapshot)
    /// lists them.
    pub fn snapshot(&self) -> crate::registry::PolicySnapshot {
        self.inner.core.stats.snapshot()
    }
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.inner.core.settings;
        f.debug_struct("RateLimiter")
            .field("name", &s.name)
            .field("rate", &s.rate)
            .field("burst", &s.burst)
            .field("max_wait", &s.max_wait)
            .finish()
    }
}

/// The last call of each limiter's name refused for costing more than the burst:
/// `(cost, burst)`, for its rejection's message. At most 256 names are kept.
static OVERSIZED: std::sync::Mutex<Option<CostsByName>> = std::sync::Mutex::new(None);

/// `(cost, burst)` by limiter name.
type CostsByName = std::collections::HashMap<Cow<'static, str>, (u32, u32)>;

#[allow(clippy::ptr_arg)] // cloning the `Cow` keeps a borrowed name unallocated
fn remember_cost(name: &Cow<'static, str>, cost: u32, burst: u32) {
    let mut guard = OVERSIZED.lock().unwrap_or_else(|e| e.into_inner());
    let map = guard.get_or_insert_with(Default::default);
    if map.len() >= 256 && !map.contains_key(name) {
        map.clear();
    }
    map.insert(name.clone(), (cost, burst));
}

/// Why a call of the rate limiter `name` can never be admitted, e.g. `this call costs
/// 500 but the burst is 100, so it can never be admitted`.
fn cost_detail(name: &str) -> Option<String> {
    let guard = OVERSIZED.lock().unwrap_or_else(|e| e.into_inner());
    let (cost, burst) = *guard.as_ref()?.get(name)?;
    Some(format!(
        "this call costs {cost} but the burst is {burst}, so it can never be admitted"
    ))
}

/// The quota of the rate limiter `name`, for a rejection's message, e.g.
/// `100/s with bursts of up to 10, calls wait at most 0s`.
fn limit_detail(name: &str) -> Option<String> {
    if let Some(limiter) = RATE_LIMITERS.get(name) {
        return Some(limiter.inner.core.describe(false));
    }
    KEYED_RATE_LIMITERS
        .get(name)
        .map(|limiter| limiter.core().describe(true))
}
