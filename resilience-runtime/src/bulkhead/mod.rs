//! Bulkhead: at most N calls at once, others wait in line for a while or are refused.
//!
//! A [`Bulkhead`] isolates a resource (a database, a downstream service) so that a slow
//! or failing one cannot take every task or thread of the program with it: at most
//! `max_concurrent` calls run at once; a further call waits up to `max_wait` for a slot,
//! first come, first served, and is refused with [`Rejection::BulkheadFull`](crate::Rejection::BulkheadFull) when none
//! comes in time (or at once when `max_waiting` calls already wait). This is
//! Resilience4j's `SemaphoreBulkhead` (`maxConcurrentCalls`, `maxWaitDuration`) and
//! tower's `ConcurrencyLimit`, with a bound on waiting and a deadline on it.
//!
//! ```
//! use std::time::Duration;
//! use resilience_runtime::{Bulkhead, Rejection};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), resilience_runtime::ConfigError> {
//! let db = Bulkhead::builder("db")
//!     .max_concurrent(8)
//!     .max_wait(Duration::from_millis(100))
//!     .build()?;
//! let rows: Result<u32, Rejection> = db.call(async { Ok(42) }).await;
//! assert_eq!(rows, Ok(42));
//! # Ok(()) }
//! ```
//!
//! # Semantics
//!
//! - **Slots are permits held by the call.** The slot is taken before the body's future
//!   is first polled and given back when it completes, is dropped (cancelled, e.g. by a
//!   timeout around it) or panics: a [`BulkheadPermit`] is an RAII guard.
//! - **First come, first served.** While anyone waits, a new call queues behind them
//!   even if a slot happens to be free for an instant: a finishing call hands its slot
//!   directly to the first waiter. A waiter that gives up (its `max_wait` passes, or its
//!   future is dropped) leaves the line; a slot handed to it in that very instant goes
//!   on to the next waiter, so nobody's turn is lost.
//! - **Time** is `tokio::time`, so `tokio::time::pause()` drives `max_wait` in tests.
//!   [`call_blocking`](Bulkhead::call_blocking) (plain functions) blocks its thread for
//!   up to `max_wait` in the same line, timed with `std::time`.
//! - **Names are shared.** [`BulkheadBuilder::register`] (what `#[bulkhead]` uses) returns
//!   the bulkhead already registered under the name, if any: functions naming the same
//!   bulkhead share its slots. The first configuration wins.
//! - **Shutdown.** [`Bulkhead::close`] refuses new calls with
//!   [`Rejection::ShuttingDown`](crate::Rejection::ShuttingDown) and sends waiters away; running calls finish.
//! - **Adaptive limits.** [`Adaptive`] replaces the fixed limit with one that follows
//!   latency and failures; see [`AdaptiveAlgorithm`] and the formulas below.
//! - **Live configuration** (feature `config`): a registered bulkhead's limit (an
//!   adaptive one's bounds), `max_wait` and `max_waiting` change at once, running and
//!   waiting calls kept (see the `config` module's docs).
//!
//! # Costs
//!
//! With a free slot and nobody waiting, a call costs one compare-and-swap to enter and
//! one atomic subtraction to leave, on one word: no lock, no allocation. Waiting takes a
//! lock (the queue) and, the first time the line grows that long, a slot in the queue's
//! storage. An adaptive bulkhead also reads the clock twice per call and updates its
//! estimate under a lock no call waits for: a sample that finds it busy is skipped.
//!
//! # Adaptive algorithms
//!
//! Each call that finishes is one sample: its latency (from admission to the end of
//! the body, so time spent waiting for a slot is not counted), whether it failed, and
//! how many calls were running. The estimator turns samples into a new limit, always
//! within `[min, max]`.
//!
//! Both algorithms compare a sample's latency with a **baseline**: the average latency
//! of successful calls, as an exponential moving average over about
//! [`BASELINE_WINDOW`] samples (a plain average over the first [`BASELINE_WARMUP`]),
//! like the long-term average of Netflix's `Gradient2Limit`. A baseline that is more than
//! twice the latest latency decays 5% per sample, so that after a long spike the
//! baseline comes back down without waiting for the average.
//!
//! - [`AdaptiveAlgorithm::Gradient`] (the default), after Netflix's
//!   `GradientLimit`/`Gradient2Limit`: the gradient is
//!   `clamp(tolerance × baseline / latency, 0.5, 1)` with `tolerance =`
//!   [`GRADIENT_TOLERANCE`]; the target is `limit × gradient`, plus a headroom of
//!   `√limit` when the gradient is 1 (latency within tolerance), and the limit moves a
//!   fifth ([`GRADIENT_SMOOTHING`]) of the way to the target. A failure multiplies the
//!   limit by [`DECREASE_FACTOR`].
//! - [`AdaptiveAlgorithm::Aimd`], after Netflix's `AIMDLimit`: a failure, or a latency
//!   above [`AIMD_TOLERANCE`] × baseline, multiplies the limit by [`DECREASE_FACTOR`];
//!   any other sample adds 1.
//!
//! Both grow only while the bulkhead is at least half used (`in_flight × 2 >= limit`):
//! a bulkhead whose callers never use its slots learns nothing about the capacity behind
//! it, and its limit would otherwise climb to `max` unchecked.
//!
//! **Why gradient by default.** It needs no latency threshold and answers in
//! proportion: a latency up to 1.5× the baseline is tolerated, 2× trims the limit 5% per
//! sample, 3× and above 10% per sample. Growth slows as the limit rises (`√limit`), so
//! the limit settles instead of oscillating in the saw-tooth AIMD draws. AIMD is the
//! simpler, more predictable choice when latency is noisy or bimodal (a cache in front
//! of a database): it reacts only past a clear 2× threshold.

mod adaptive;
mod call;
mod config;
mod state;

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::Duration;

pub use adaptive::{
    AIMD_TOLERANCE, Adaptive, AdaptiveAlgorithm, BASELINE_WARMUP, BASELINE_WINDOW, DECREASE_FACTOR,
    GRADIENT_SMOOTHING, GRADIENT_TOLERANCE,
};
pub use call::{BulkheadCall, BulkheadPermit};
pub use config::BulkheadBuilder;

use crate::events::{EventKind, PolicyKind};
use crate::named::Registry;
use crate::rejection::HumanDuration;
use crate::stats::Stats;
use crate::sync::{Arc, AtomicU64, AtomicUsize, Mutex, Ordering};
use adaptive::Estimator;
use config::Limit;
use state::{Slots, Snapshot};

/// The largest concurrency limit a bulkhead accepts (`u32::MAX`). `#[bulkhead]` refuses a
/// larger literal at compile time; its copy of this value is in
/// `resilience-macros/src/limits.rs` (`tests/ui/pass/limits_at_maximum.rs` checks that
/// the two agree).
pub const MAX_CONCURRENT: usize = state::MAX_LIMIT;
/// The largest `max_waiting` a bulkhead accepts (2³¹ − 1); also what "no limit" means.
/// Copied for `#[bulkhead]` as [`MAX_CONCURRENT`] is.
pub const MAX_WAITING: usize = state::MAX_WAITING;

/// Every bulkhead registered by name.
pub(crate) static BULKHEADS: Registry<Bulkhead> = Registry::new();

/// At most N calls at once; see the [module docs](self).
///
/// Cloning is cheap and the clones share the slots.
#[derive(Clone)]
pub struct Bulkhead {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    name: Cow<'static, str>,
    stats: std::sync::Arc<Stats>,
    slots: Slots,
    #[cfg(not(feature = "config"))]
    max_wait: Duration,
    /// `max_wait` in nanoseconds as configuration changed it (feature `config`).
    #[cfg(feature = "config")]
    live_wait: AtomicU64,
    adaptive: Option<AdaptiveLimit>,
    rejected: AtomicU64,
    /// The state, limit and wait of the latest refusal, for its message.
    last_refusal: AtomicU64,
    last_refusal_limit: AtomicUsize,
    last_refusal_waited: AtomicU64,
}

impl Inner {
    /// How long a call may wait for a slot, as in force now.
    #[inline(always)]
    pub(crate) fn wait(&self) -> Duration {
        #[cfg(feature = "config")]
        return Duration::from_nanos(self.live_wait.load(Ordering::Relaxed));
        #[cfg(not(feature = "config"))]
        self.max_wait
    }
}

#[cfg(feature = "config")]
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(feature = "config")]
impl Bulkhead {
    /// Puts configured settings in force: a fixed limit (raised: waiters admitted at
    /// once; lowered: running calls finish), an adaptive limit's bounds (the limit
    /// moved within them at once, its estimate kept; `initial` only counts at
    /// creation), `max_wait` and `max_waiting` (calls already waiting keep their
    /// place). The kind of limit, fixed or adaptive, is the one the bulkhead was
    /// created with (`apply` refuses another).
    pub(crate) fn reconfigure(
        &self,
        limit: Option<crate::integrations::config::BulkheadLimit>,
        max_wait: Option<Duration>,
        max_waiting: Option<usize>,
    ) {
        use crate::integrations::config::BulkheadLimit;
        match (limit, &self.inner.adaptive) {
            (Some(BulkheadLimit::Fixed(n)), None) => self.inner.slots.set_limit(n),
            (Some(BulkheadLimit::Adaptive(a)), Some(adaptive)) => {
                adaptive.set_bounds(&self.inner.slots, &self.inner.stats, a.min, a.max);
            }
            _ => {}
        }
        if let Some(d) = max_wait {
            self.inner.live_wait.store(nanos(d), Ordering::Relaxed);
        }
        if let Some(n) = max_waiting {
            self.inner.slots.set_max_waiting(n);
        }
    }
}

/// An adaptive limit's configuration and estimate.
struct AdaptiveLimit {
    config: Adaptive,
    /// `min << 32 | max` as configuration changed them (feature `config`; both fit
    /// in 32 bits, `MAX_CONCURRENT` being `u32::MAX`), read together.
    #[cfg(feature = "config")]
    bounds: AtomicU64,
    estimator: Mutex<Estimator>,
}

impl AdaptiveLimit {
    fn new(config: Adaptive) -> Self {
        AdaptiveLimit {
            config,
            #[cfg(feature = "config")]
            bounds: AtomicU64::new(((config.min as u64) << 32) | config.max as u64),
            estimator: Mutex::new(Estimator::new(&config)),
        }
    }

    /// The configuration in force (its bounds as configuration last set them).
    fn config(&self) -> Adaptive {
        #[cfg(feature = "config")]
        {
            let bounds = self.bounds.load(Ordering::Relaxed);
            Adaptive {
                min: (bounds >> 32) as usize,
                max: (bounds & u64::from(u32::MAX)) as usize,
                ..self.config
            }
        }
        #[cfg(not(feature = "config"))]
        self.config
    }

    /// New bounds (feature `config`): the limit is brought within them at once.
    #[cfg(feature = "config")]
    fn set_bounds(&self, slots: &Slots, stats: &Stats, min: usize, max: usize) {
        // The only caller that waits for the estimator: samples only try it.
        let mut estimator = self.estimator.lock().unwrap_or_else(|e| e.into_inner());
        let limit = estimator.set_bounds(min, max);
        self.bounds
            .store(((min as u64) << 32) | max as u64, Ordering::Relaxed);
        drop(estimator);
        // A sample that computed its limit under the old bounds may still store it
        // after this; the next sample brings it within the new ones.
        let from = slots.limit();
        if limit != from {
            slots.set_limit(limit);
            stats.emit(|| EventKind::LimitChanged { from, to: limit });
        }
    }

    /// Feeds one finished call to the estimator, unless another thread is at it.
    fn sample(&self, slots: &Slots, stats: &Stats, latency: Duration, ok: bool, in_flight: usize) {
        if let Ok(mut estimator) = self.estimator.try_lock() {
            let limit = estimator.sample(latency, ok, in_flight);
            drop(estimator);
            let from = slots.limit();
            if limit != from {
                slots.set_limit(limit);
                stats.emit(|| EventKind::LimitChanged { from, to: limit });
            }
        }
    }
}

/// A bulkhead's counters, from [`Bulkhead::metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkheadMetrics {
    /// Calls running now (holding a slot).
    pub in_flight: usize,
    /// Calls waiting for a slot now.
    pub waiting: usize,
    /// The concurrency limit now (moves for an adaptive bulkhead).
    pub limit: usize,
    /// Calls refused with [`Rejection::BulkheadFull`](crate::Rejection::BulkheadFull) since the bulkhead was built.
    pub rejected: u64,
    /// Whether [`Bulkhead::close`] was called.
    pub closed: bool,
}

impl Bulkhead {
    /// A builder for a bulkhead named `name` (the name appears in rejections and is the
    /// key [`register`](BulkheadBuilder::register) shares it under).
    pub fn builder(name: impl Into<Cow<'static, str>>) -> BulkheadBuilder {
        BulkheadBuilder::new(name.into())
    }

    fn from_builder(b: BulkheadBuilder) -> Self {
        let (initial, adaptive) = match b.limit {
            Some(Limit::Fixed(n)) => (n, None),
            Some(Limit::Adaptive(a)) => (a.initial, Some(AdaptiveLimit::new(a))),
            None => (1, None),
        };
        Bulkhead {
            inner: Arc::new(Inner {
                stats: std::sync::Arc::new(Stats::new(PolicyKind::Bulkhead, b.name.clone())),
                name: b.name,
                slots: Slots::new(initial, b.max_waiting),
                #[cfg(not(feature = "config"))]
                max_wait: b.max_wait,
                #[cfg(feature = "config")]
                live_wait: AtomicU64::new(nanos(b.max_wait)),
                adaptive,
                rejected: AtomicU64::new(0),
                last_refusal: AtomicU64::new(0),
                last_refusal_limit: AtomicUsize::new(0),
                last_refusal_waited: AtomicU64::new(0),
            }),
        }
    }

    /// The name given in rejections.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The concurrency limit now: fixed, or the adaptive limit's current value.
    pub fn limit(&self) -> usize {
        self.inner.slots.limit()
    }

    /// The adaptive limit's configuration, if the limit is adaptive.
    pub fn adaptive(&self) -> Option<Adaptive> {
        self.inner.adaptive.as_ref().map(AdaptiveLimit::config)
    }

    /// How long a call may wait for a slot.
    pub fn max_wait(&self) -> Duration {
        self.inner.wait()
    }

    /// How many calls may wait at once ([`MAX_WAITING`] when unbounded).
    pub fn max_waiting(&self) -> usize {
        self.inner.slots.max_waiting()
    }

    /// Calls running and waiting now, the limit, and calls refused so far.
    pub fn metrics(&self) -> BulkheadMetrics {
        let s = self.inner.slots.snapshot();
        BulkheadMetrics {
            in_flight: s.in_flight(),
            waiting: s.waiting(),
            limit: self.limit(),
            rejected: self.inner.rejected.load(Ordering::Relaxed),
            closed: s.closed(),
        }
    }

    /// The bulkhead's counters and gauges, as
    /// [`registry::snapshot`](crate::registry::snapshot) lists them.
    pub fn snapshot(&self) -> crate::registry::PolicySnapshot {
        let m = self.metrics();
        let mut s = self.inner.stats.snapshot();
        s.in_flight = Some(m.in_flight as u64);
        s.waiting = Some(m.waiting as u64);
        s.limit = Some(m.limit as u64);
        s
    }

    /// Graceful shutdown: from now on every call is refused with
    /// [`Rejection::ShuttingDown`](crate::Rejection::ShuttingDown), and calls waiting for a slot are sent away with it;
    /// calls already running finish normally. Returns `false` if it was already closed.
    pub fn close(&self) -> bool {
        self.inner.slots.close()
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.slots.snapshot().closed()
    }

    /// Whether `self` and `other` are the same bulkhead (clones of one another).
    pub fn ptr_eq(&self, other: &Bulkhead) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Inner {
    fn record_refusal(&self, s: Snapshot, limit: usize, waited: Duration) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        self.last_refusal.store(s.0, Ordering::Relaxed);
        self.last_refusal_limit.store(limit, Ordering::Relaxed);
        let waited = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.last_refusal_waited.store(waited, Ordering::Relaxed);
    }

    /// How full the bulkhead was at its latest refusal, and why the call could not wait.
    fn refusal_detail(&self) -> Option<String> {
        if self.rejected.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let s = Snapshot(self.last_refusal.load(Ordering::Relaxed));
        let limit = self.last_refusal_limit.load(Ordering::Relaxed);
        let waited = Duration::from_nanos(self.last_refusal_waited.load(Ordering::Relaxed));
        let mut text = format!(
            "{} of {limit} calls running, {} waiting",
            s.in_flight(),
            s.waiting()
        );
        if let Some(a) = &self.adaptive {
            let a = a.config();
            let _ = write!(
                text,
                " (adaptive limit, now {}, within {}..={})",
                self.slots.limit(),
                a.min,
                a.max
            );
        }
        let max_waiting = self.slots.max_waiting();
        let _ = if waited == Duration::from_nanos(u64::MAX) {
            write!(
                text,
                "; the request's deadline ends before max_wait {} would, so it did not wait",
                HumanDuration(self.wait())
            )
        } else if !waited.is_zero() {
            write!(text, "; no slot came free within {}", HumanDuration(waited))
        } else if self.wait().is_zero() {
            write!(text, "; calls do not wait (max_wait 0s)")
        } else {
            write!(
                text,
                "; the wait line is full (max_waiting {max_waiting}), so it did not wait"
            )
        };
        Some(text)
    }
}

impl std::fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.metrics();
        f.debug_struct("Bulkhead")
            .field("name", &self.inner.name)
            .field("limit", &m.limit)
            .field("in_flight", &m.in_flight)
            .field("waiting", &m.waiting)
            .field("max_wait", &self.inner.wait())
            .field("adaptive", &self.adaptive())
            .finish()
    }
}

/// How full the bulkhead `name` was when it last refused a call, for a rejection's
/// message, e.g. `8 of 8 calls running, 3 waiting; no slot came free within 100ms`.
pub(super) fn full_detail(name: &str) -> Option<String> {
    BULKHEADS.get(name)?.inner.refusal_detail()
}
