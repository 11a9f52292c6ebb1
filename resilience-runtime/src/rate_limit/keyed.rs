//! Keyed rate limiters: one GCRA state per key, in the bounded LRU map of
//! [`keyed`](crate::keyed).

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
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
        self.inner.map.get_or_insert_with(key, new_state)
    }

    /// Decides one call of `key` that may wait up to `max_wait` (0: not at all).
    ///
    /// The decision is made in place, under the key's shard's read lock: threads
    /// sharing a key write nothing but the lock's word and the key's state (no
    /// reference count), and none waits for another. The state is cloned out only for
    /// a call that has to wait for its slot. Nothing else runs under the lock: a
    /// refusal's events are told by the caller, after it.
    #[inline]
    fn decide<K: crate::PolicyKey>(&self, key: &K, may_wait: bool) -> Verdict {
        let core = &self.inner.core;
        self.inner.map.read_or_insert(key, new_state, |tat| {
            let decision = if may_wait {
                core.decide(tat)
            } else {
                core.decide_now(tat)
            };
            match decision {
                Decision::Now => Verdict::Now,
                Decision::Refused { retry_after } => Verdict::Refused(retry_after),
                Decision::Wait {
                    at,
                    wait,
                    prev,
                    reserved,
                } => Verdict::Wait {
                    tat: Arc::clone(tat),
                    at,
                    wait,
                    prev,
                    reserved,
                },
            }
        })
    }

    /// Runs `future` once `key`'s rate allows; otherwise as
    /// [`RateLimiter::call`](super::RateLimiter::call). The decision is made when the
    /// returned future is first polled; the future owns `key` and `future`, and
    /// borrows only the limiter (so it is `'static` for a limiter in a `static`).
    ///
    /// An admitted call with a key already held costs one clock read, one
    /// compare-and-swap and a shared (read) lock of the key's shard: no allocation, no
    /// reference count, no box (a call that has to wait allocates its timer).
    pub fn call<K, T, E, F>(&self, key: K, future: F) -> impl Future<Output = Result<T, E>>
    where
        K: crate::PolicyKey,
        F: Future<Output = Result<T, E>>,
        E: FromRejection,
    {
        // Opaque, so that a key of the wrong type is one error, at the key (the named
        // future's `Future` impl would report it again at the `.await`).
        self.call_named(key, future)
    }

    /// [`call`](Self::call), with a future of a type that can be named (for code that
    /// must name it, such as the tower layer).
    pub fn call_named<K, T, E, F>(&self, key: K, future: F) -> KeyedRateLimitedCall<'_, K, F>
    where
        K: crate::PolicyKey,
        F: Future<Output = Result<T, E>>,
        E: FromRejection,
    {
        KeyedRateLimitedCall {
            future,
            limiter: self,
            key,
            state: CallState::Start,
        }
    }

    /// The blocking form of [`call`](Self::call): sleeps the thread
    /// (`std::thread::sleep`) up to `max_wait` for `key`'s slot.
    pub fn call_blocking<K, T, E>(&self, key: K, f: impl FnOnce() -> Result<T, E>) -> Result<T, E>
    where
        K: crate::PolicyKey,
        E: FromRejection,
    {
        let core = &self.inner.core;
        // The wait (a sleep of this thread) happens after the shard's lock is let go;
        // a blocking wait has no reservation to give back, so the state is not kept.
        let decision = match self.decide(&key, true) {
            Verdict::Now => Decision::Now,
            Verdict::Refused(retry_after) => Decision::Refused { retry_after },
            Verdict::Wait {
                at,
                wait,
                prev,
                reserved,
                ..
            } => Decision::Wait {
                at,
                wait,
                prev,
                reserved,
            },
        };
        match core.admit_decided(decision) {
            Ok(()) => core.counted(f()),
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
        match self.decide(key, false) {
            Verdict::Now => Ok(()),
            Verdict::Refused(retry_after) => Err(self.inner.core.refused(retry_after)),
            Verdict::Wait { .. } => unreachable!("a call that may not wait was told to"),
        }
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

/// A new key's state: a full burst.
fn new_state() -> Arc<AtomicU64> {
    Arc::new(AtomicU64::new(0))
}

/// What [`KeyedRateLimiter::decide`] decided, made outside the shard's lock.
enum Verdict {
    /// Admitted now.
    Now,
    /// Admitted once the reserved slot comes: the key's state, kept for the wait (a
    /// cancelled wait gives the slot back to it).
    Wait {
        tat: Arc<AtomicU64>,
        at: u64,
        wait: u64,
        prev: u64,
        reserved: u64,
    },
    /// Refused: a call is admitted `retry_after` (clock units) from now (or the drain's
    /// marker).
    Refused(u64),
}

pin_project_lite::pin_project! {
    /// The future of [`KeyedRateLimiter::call_named`] (and, unnamed, of
    /// [`KeyedRateLimiter::call`]): decides the call of its key (waiting
    /// for the key's slot, or refusing it), then runs the call's future. It owns the
    /// key and the call's future and borrows the limiter.
    #[must_use = "futures do nothing unless polled"]
    pub struct KeyedRateLimitedCall<'a, K, F> {
        #[pin]
        future: F,
        limiter: &'a KeyedRateLimiter,
        key: K,
        state: CallState<'a>,
    }
}

/// Where a [`KeyedRateLimitedCall`] is.
enum CallState<'a> {
    /// Not polled yet.
    Start,
    /// Sleeping until its reserved slot (boxed, with the key's state: the timer would
    /// otherwise make every call's future several times larger).
    Waiting(Pin<Box<dyn Future<Output = ()> + Send + 'a>>),
    /// Deciding through a cluster (feature `redis`).
    #[cfg(feature = "redis")]
    Store(Pin<Box<dyn Future<Output = Result<(), Rejection>> + Send + 'a>>),
    /// Admitted, running the call.
    Running,
    /// Finished.
    Done,
}

impl<K, F> std::fmt::Debug for KeyedRateLimitedCall<'_, K, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            CallState::Start => "start",
            CallState::Waiting(_) => "waiting",
            #[cfg(feature = "redis")]
            CallState::Store(_) => "deciding",
            CallState::Running => "running",
            CallState::Done => "done",
        };
        f.debug_struct("KeyedRateLimitedCall")
            .field("limiter", &self.limiter.name())
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl<'a, K, T, E, F> Future for KeyedRateLimitedCall<'a, K, F>
where
    K: crate::PolicyKey,
    F: Future<Output = Result<T, E>>,
    E: FromRejection,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        let mut this = self.project();
        loop {
            match this.state {
                CallState::Running => {
                    let Poll::Ready(result) = this.future.as_mut().poll(cx) else {
                        return Poll::Pending;
                    };
                    // Counted before the state is written: a count written after it
                    // could, for all the compiler knows, have changed the state, whose
                    // drop would then have to be checked with the result kept in
                    // memory (stored in parts, loaded whole: a store-forwarding stall).
                    this.limiter.inner.core.stats.outcome(&result);
                    *this.state = CallState::Done;
                    return Poll::Ready(result);
                }
                CallState::Start => {
                    let limiter: &'a KeyedRateLimiter = this.limiter;
                    let core = &limiter.inner.core;
                    #[cfg(feature = "redis")]
                    if let Some(store) = &core.settings.store {
                        let tat = limiter.state(&*this.key);
                        let hash = super::store::key_hash(&*this.key);
                        *this.state = CallState::Store(Box::pin(async move {
                            core.store_acquire(&**store, &tat, Some(hash), 1).await
                        }));
                        continue;
                    }
                    *this.state = match limiter.decide(&*this.key, true) {
                        Verdict::Now => CallState::Running,
                        Verdict::Wait {
                            tat,
                            at,
                            wait,
                            prev,
                            reserved,
                        } => CallState::Waiting(Box::pin(async move {
                            core.wait_for_slot(&tat, at, wait, prev, reserved).await;
                        })),
                        Verdict::Refused(retry_after) => {
                            *this.state = CallState::Done;
                            return Poll::Ready(Err(E::from_rejection(core.refused(retry_after))));
                        }
                    };
                }
                #[cfg(feature = "redis")]
                CallState::Store(deciding) => {
                    let Poll::Ready(admitted) = deciding.as_mut().poll(cx) else {
                        return Poll::Pending;
                    };
                    if let Err(rejection) = admitted {
                        *this.state = CallState::Done;
                        return Poll::Ready(Err(E::from_rejection(rejection)));
                    }
                    *this.state = CallState::Running;
                }
                CallState::Waiting(waiting) => {
                    if waiting.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    // The key's state goes with the finished wait.
                    *this.state = CallState::Running;
                    if let Err(rejection) = this.limiter.inner.core.admitted_after_wait() {
                        *this.state = CallState::Done;
                        return Poll::Ready(Err(E::from_rejection(rejection)));
                    }
                }
                CallState::Done => panic!("`KeyedRateLimitedCall` polled after it completed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    /// Two threads on one hot key, while a third inserts other keys (so the shard
    /// readers meet writers): exactly the burst is admitted, no more, no less.
    #[test]
    fn a_hot_key_is_exact_across_threads() {
        const BURST: u32 = 20_000;
        let limiter = KeyedRateLimiter::builder("hot-key-exact")
            .rate(Rate::per_hour(1))
            .burst(BURST)
            .build()
            .unwrap();
        let admitted = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..BURST {
                        if limiter.check(&"hot").is_ok() {
                            admitted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
            s.spawn(|| {
                // New keys only: the map never fills, so the hot key is never dropped.
                for k in 0..5_000u64 {
                    assert!(limiter.check(&k).is_ok());
                }
            });
        });
        assert_eq!(admitted.load(Ordering::Relaxed), u64::from(BURST));
        assert!(limiter.check(&"hot").is_err());
        assert_eq!(limiter.keys(), 5_001);
    }

    /// A call that has to wait keeps its key's state through the wait, and the named
    /// future is `Send`.
    #[tokio::test(start_paused = true)]
    async fn a_waiting_call_takes_its_reserved_slot() {
        let limiter = KeyedRateLimiter::builder("keyed-wait")
            .rate(Rate::per_second(10))
            .burst(1)
            .max_wait(Duration::from_secs(1))
            .build()
            .unwrap();
        fn send<T: Send>(t: T) -> T {
            t
        }
        let first: Result<u32, Rejection> = send(limiter.call(1u8, async { Ok(1) })).await;
        assert_eq!(first.unwrap(), 1);
        let start = tokio::time::Instant::now();
        let second: Result<u32, Rejection> = limiter.call(1u8, async { Ok(2) }).await;
        assert_eq!(second.unwrap(), 2);
        assert!(start.elapsed() >= Duration::from_millis(99));
        // Another key is not held up.
        let other: Result<u32, Rejection> = limiter.call(2u8, async { Ok(3) }).await;
        assert_eq!(other.unwrap(), 3);
    }
}
