//! The cases: each attribute on the same trivial body, next to the crates a user would
//! otherwise pick, configured the same way.
//!
//! Every function here has the body `Ok(black_box(i))` (or the anchor's equivalent) and
//! every call succeeds: the figures are the success path, the one a service pays on
//! every call. Stateful policies are `static` (ours: the instance the attribute keeps
//! per function; anchors: a `LazyLock` static, as a user would hold them), so two
//! threads calling the same function share one instance.
//!
//! | policy | ours | anchors |
//! |---|---|---|
//! | retry | `#[retry]` (3 attempts, exponential 100ms×2 up to 10s, full jitter) | backon `Retryable` (same schedule), tower `Retry` (3 attempts) |
//! | timeout | `#[timeout("1s")]` | `tokio::time::timeout`, tower `Timeout` |
//! | circuit breaker | `#[circuit_breaker]` (count(100), 50%), `#[circuit_breaker(consecutive_failures = 5)]` | recloser (ring of 100, 50%), failsafe (success rate over 60s / 5 consecutive failures) |
//! | bulkhead | `#[bulkhead(max_concurrent = 100)]` | tokio `Semaphore` (100 permits), tower `ConcurrencyLimit` (100) |
//! | rate limit | `#[rate_limit(rate = "1000000000/s")]`, keyed by `i % 64`, and keyed with one hot key | governor direct and keyed, same quota |
//! | fallback | `#[fallback(default)]` | – |
//! | stack | all six on one function | the anchors stacked by hand in the same order |

use std::future::{Ready, ready};
use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::Duration;

use backon::{BlockingRetryable, ExponentialBuilder, Retryable};
use failsafe::futures::CircuitBreaker as _;
use resilience_runtime::{
    Rejection, bulkhead, circuit_breaker, fallback, rate_limit, retry, timeout,
};
use tower::{BoxError, Service, ServiceExt};

use crate::harness::MakeBatch;

/// The error type of every case.
#[derive(Debug)]
pub enum BenchError {
    /// One of our policies refused the call.
    Rejected(Rejection),
    /// An anchor refused the call.
    Anchor,
}

impl From<Rejection> for BenchError {
    fn from(r: Rejection) -> Self {
        BenchError::Rejected(r)
    }
}

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BenchError::Rejected(r) => r.fmt(f),
            BenchError::Anchor => f.write_str("an anchor refused the call"),
        }
    }
}

impl std::error::Error for BenchError {}

/// The result every case returns.
pub type Out = Result<u64, BenchError>;

/// Keys of the keyed rate limiters: `i % KEYS`.
pub const KEYS: u64 = 64;

/// The one key of the hot-key cases: every call (of both threads) uses it.
pub const HOT_KEY: u64 = 0;

/// Permits of every concurrency limit: far more than the two threads ever hold.
pub const PERMITS: usize = 100;

/// Calls per second of every rate limiter: fast enough that every call is admitted.
pub const RATE: u32 = 1_000_000_000;

/// The timeout of every time limit: never reached.
pub const TIMEOUT: Duration = Duration::from_secs(1);

#[cold]
#[inline(never)]
fn failed(e: &BenchError) -> ! {
    panic!("a benchmarked call failed on its success path: {e}")
}

/// Checks that a benchmarked call succeeded.
#[inline(always)]
pub fn check(out: Out) {
    if let Err(e) = black_box(out) {
        failed(&e)
    }
}

/// Our attributes on `async fn`s.
pub mod ours {
    use super::*;

    /// The floor: the bare body, no attribute.
    pub async fn bare(i: u64) -> Out {
        Ok(black_box(i))
    }

    /// `#[retry]` with its defaults.
    #[retry]
    pub async fn retry(i: u64) -> Out {
        Ok(black_box(i))
    }

    /// `#[timeout("1s")]`.
    #[timeout("1s")]
    pub async fn timeout(i: u64) -> Out {
        Ok(black_box(i))
    }

    /// `#[circuit_breaker]` with its defaults: the last 100 calls, opening at 50%.
    #[circuit_breaker]
    pub async fn breaker(i: u64) -> Out {
        Ok(black_box(i))
    }

    /// `#[circuit_breaker(consecutive_failures = 5)]`.
    #[circuit_breaker(consecutive_failures = 5)]
    pub async fn breaker_consecutive(i: u64) -> Out {
        Ok(black_box(i))
    }

    /// `#[bulkhead(max_concurrent = 100)]`.
    #[bulkhead(max_concurrent = 100)]
    pub async fn bulkhead(i: u64) -> Out {
        Ok(black_box(i))
    }

    /// `#[rate_limit]`, direct.
    #[rate_limit(rate = "1000000000/s")]
    pub async fn rate_limit(i: u64) -> Out {
        Ok(black_box(i))
    }

    /// `#[rate_limit]`, keyed by `i % 64`.
    #[rate_limit(rate = "1000000000/s", key = i % KEYS)]
    pub async fn rate_limit_keyed(i: u64) -> Out {
        Ok(black_box(i))
    }

    /// `#[rate_limit]`, keyed, every call with the same key.
    #[rate_limit(rate = "1000000000/s", key = HOT_KEY)]
    pub async fn rate_limit_hot_key(i: u64) -> Out {
        Ok(black_box(i))
    }

    /// `#[fallback(default)]`.
    #[fallback(default)]
    pub async fn fallback(i: u64) -> Out {
        Ok(black_box(i))
    }

    /// `#[hedge(delay = "1s")]`, the first copy answering before the delay.
    #[resilience_runtime::hedge(delay = "1s")]
    pub async fn hedge(i: u64) -> Out {
        Ok(black_box(i))
    }

    /// `#[hedge(delay = "1s")]` on a body that is pending once before it answers: the
    /// hedge arms its timer, as `tokio::time::timeout` registers its own.
    #[resilience_runtime::hedge(delay = "1s")]
    pub async fn hedge_pending_once(i: u64) -> Out {
        PendingOnce::new(i).await
    }

    /// `Hedge::call` by hand (no drain tracking), the body pending once.
    pub async fn hedge_hand_pending_once(i: u64) -> Out {
        static HEDGE: LazyLock<resilience_runtime::hedge::Hedge> = LazyLock::new(|| {
            resilience_runtime::hedge::Hedge::builder("bench-hedge-hand")
                .delay(TIMEOUT)
                .build()
                .expect("valid settings")
        });
        HEDGE.call(|| PendingOnce::new(i)).await
    }

    /// The bare body pending once: the floor of the pending-once cases.
    pub async fn bare_pending_once(i: u64) -> Out {
        PendingOnce::new(i).await
    }

    /// `#[cache(key = i % 64, ttl = "1h")]`: a fresh hit (after the first call per key).
    #[resilience_runtime::cache(key = i % KEYS, ttl = "1h")]
    pub async fn cache_hit(i: u64) -> Out {
        Ok(black_box(i % KEYS))
    }

    /// The running-call count `lifecycle::drain` waits on, alone, made as every
    /// annotated body makes it (the guard the attributes put first in the body).
    pub async fn tracked(i: u64) -> Out {
        let _running = resilience_runtime::__private::running();
        Ok(black_box(i))
    }

    /// Every attribute, in the order of the API's stacking example.
    #[fallback(default)]
    #[retry]
    #[circuit_breaker]
    #[rate_limit(rate = "1000000000/s")]
    #[timeout("1s")]
    #[bulkhead(max_concurrent = 100)]
    pub async fn stack(i: u64) -> Out {
        Ok(black_box(i))
    }
}

/// A body that is pending once (waking itself at once), then answers `Ok(i)`.
pub struct PendingOnce(Option<u64>, bool);

impl PendingOnce {
    /// Answers `Ok(i)` on its second poll.
    pub fn new(i: u64) -> Self {
        PendingOnce(Some(i), false)
    }
}

impl std::future::Future for PendingOnce {
    type Output = Out;
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Out> {
        if self.1 {
            Poll::Ready(Ok(black_box(self.0.unwrap_or_default())))
        } else {
            self.1 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Our attributes on plain `fn`s.
pub mod ours_sync {
    use super::*;

    /// The floor: the bare body, no attribute.
    pub fn bare(i: u64) -> Out {
        Ok(black_box(i))
    }

    /// `#[retry]` with its defaults.
    #[retry]
    pub fn retry(i: u64) -> Out {
        Ok(black_box(i))
    }

    /// `#[circuit_breaker]` with its defaults.
    #[circuit_breaker]
    pub fn breaker(i: u64) -> Out {
        Ok(black_box(i))
    }

    /// `#[circuit_breaker(consecutive_failures = 5)]`.
    #[circuit_breaker(consecutive_failures = 5)]
    pub fn breaker_consecutive(i: u64) -> Out {
        Ok(black_box(i))
    }

    /// `#[bulkhead(max_concurrent = 100)]`.
    #[bulkhead(max_concurrent = 100)]
    pub fn bulkhead(i: u64) -> Out {
        Ok(black_box(i))
    }

    /// `#[rate_limit]`, direct.
    #[rate_limit(rate = "1000000000/s")]
    pub fn rate_limit(i: u64) -> Out {
        Ok(black_box(i))
    }
}

/// A fresh cache hit with a `String` key: ours by hand (`Cache::get`) and the
/// concurrent caches' `get`, each holding the same 64 keys (`sku-00000` ...).
pub mod cache_hits {
    use super::*;
    use resilience_runtime::cache::Cache;

    /// The keys every cache holds.
    pub static NAMES: LazyLock<Vec<String>> =
        LazyLock::new(|| (0..KEYS).map(|i| format!("sku-{i:05}")).collect());

    fn key(i: u64) -> &'static String {
        &NAMES[(i % KEYS) as usize]
    }

    fn found(v: Option<u64>) -> Out {
        v.map(black_box).ok_or(BenchError::Anchor)
    }

    /// Ours, `ttl = 1h`, filled with every key.
    pub static OURS: LazyLock<Cache> = LazyLock::new(|| {
        let cache = Cache::builder("bench-cache-string")
            .ttl(Duration::from_secs(3600))
            .build()
            .expect("valid settings");
        for (i, key) in (0..).zip(NAMES.iter()) {
            let stored: Out = cache.call_blocking(key.clone(), || Ok(i));
            check(stored);
        }
        cache
    });

    /// quick_cache's sync cache, filled with every key.
    pub static QUICK: LazyLock<quick_cache::sync::Cache<String, u64>> = LazyLock::new(|| {
        let cache = quick_cache::sync::Cache::new(10_000);
        for (i, key) in (0..).zip(NAMES.iter()) {
            cache.insert(key.clone(), i);
        }
        cache
    });

    /// moka's sync cache with a time-to-live of 1h, filled with every key.
    pub static MOKA: LazyLock<moka::sync::Cache<String, u64>> = LazyLock::new(|| {
        let cache = moka::sync::Cache::builder()
            .max_capacity(10_000)
            .time_to_live(Duration::from_secs(3600))
            .build();
        for (i, key) in (0..).zip(NAMES.iter()) {
            cache.insert(key.clone(), i);
        }
        cache
    });

    /// `Cache::get`.
    pub fn ours(i: u64) -> Out {
        found(OURS.get::<String, u64>(key(i)))
    }

    /// `quick_cache::sync::Cache::get`.
    pub fn quick_cache(i: u64) -> Out {
        found(QUICK.get(key(i)))
    }

    /// `moka::sync::Cache::get`.
    pub fn moka(i: u64) -> Out {
        found(MOKA.get(key(i)))
    }
}

/// The crates a user would otherwise pick, used as their docs show.
pub mod anchors {
    use super::*;

    /// backon's exponential backoff, set up as `#[retry]`'s default: 3 attempts (2
    /// retries), from 100ms doubling up to 10s, with jitter.
    pub const BACKON: ExponentialBuilder = ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(100))
        .with_factor(2.0)
        .with_max_delay(Duration::from_secs(10))
        .with_max_times(2)
        .with_jitter();

    /// `tokio::sync::Semaphore` with 100 permits.
    pub static SEMAPHORE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(PERMITS);

    /// governor's direct limiter, same quota as ours.
    pub static GOVERNOR: LazyLock<governor::DefaultDirectRateLimiter> = LazyLock::new(|| {
        governor::RateLimiter::direct(governor::Quota::per_second(
            NonZeroU32::new(RATE).expect("non-zero"),
        ))
    });

    /// governor's keyed limiter, same quota as ours.
    pub static GOVERNOR_KEYED: LazyLock<governor::DefaultKeyedRateLimiter<u64>> =
        LazyLock::new(|| {
            governor::RateLimiter::keyed(governor::Quota::per_second(
                NonZeroU32::new(RATE).expect("non-zero"),
            ))
        });

    /// governor's keyed limiter for the hot-key case (a limiter of its own, as ours
    /// is), same quota.
    pub static GOVERNOR_HOT: LazyLock<governor::DefaultKeyedRateLimiter<u64>> =
        LazyLock::new(|| {
            governor::RateLimiter::keyed(governor::Quota::per_second(
                NonZeroU32::new(RATE).expect("non-zero"),
            ))
        });

    /// recloser's breaker set up as `#[circuit_breaker]`'s default: a ring of the last
    /// 100 calls, opening at 50% failures, 10 trial calls, open for 60s.
    pub fn recloser() -> recloser::Recloser {
        recloser::Recloser::custom()
            .error_rate(0.5)
            .closed_len(100)
            .half_open_len(10)
            .open_wait(Duration::from_secs(60))
            .build()
    }

    /// recloser, async.
    pub static RECLOSER: LazyLock<recloser::AsyncRecloser> =
        LazyLock::new(|| recloser::AsyncRecloser::from(recloser()));

    /// recloser, blocking.
    pub static RECLOSER_SYNC: LazyLock<recloser::Recloser> = LazyLock::new(recloser);

    /// failsafe's rate policy (it has no count window: the nearest is a success rate
    /// over a time window): opens below 50% success once 100 calls are in a 60s
    /// window, for 60s.
    pub type FailsafeRate = failsafe::StateMachine<
        failsafe::failure_policy::SuccessRateOverTimeWindow<failsafe::backoff::Constant>,
        (),
    >;

    /// failsafe's consecutive-failures policy: opens after 5 failures in a row, for 60s.
    pub type FailsafeConsecutive = failsafe::StateMachine<
        failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>,
        (),
    >;

    /// failsafe, rate policy.
    pub static FAILSAFE_RATE: LazyLock<FailsafeRate> = LazyLock::new(|| {
        failsafe::Config::new()
            .failure_policy(failsafe::failure_policy::success_rate_over_time_window(
                0.5,
                100,
                Duration::from_secs(60),
                failsafe::backoff::constant(Duration::from_secs(60)),
            ))
            .build()
    });

    /// failsafe, consecutive-failures policy.
    pub static FAILSAFE_CONSECUTIVE: LazyLock<FailsafeConsecutive> = LazyLock::new(|| {
        failsafe::Config::new()
            .failure_policy(failsafe::failure_policy::consecutive_failures(
                5,
                failsafe::backoff::constant(Duration::from_secs(60)),
            ))
            .build()
    });

    /// The trivial body as a tower service.
    #[derive(Debug, Clone, Copy)]
    pub struct Echo;

    impl Service<u64> for Echo {
        type Response = u64;
        type Error = BenchError;
        type Future = Ready<Out>;

        #[inline]
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BenchError>> {
            Poll::Ready(Ok(()))
        }

        #[inline]
        fn call(&mut self, i: u64) -> Self::Future {
            ready(Ok(black_box(i)))
        }
    }

    /// tower's retry policy for 3 attempts, retrying every error at once.
    #[derive(Debug, Clone, Copy)]
    pub struct Attempts(pub u32);

    impl<Res, E> tower::retry::Policy<u64, Res, E> for Attempts {
        type Future = Ready<()>;

        fn retry(&mut self, _: &mut u64, result: &mut Result<Res, E>) -> Option<Ready<()>> {
            match result {
                Err(_) if self.0 > 1 => {
                    self.0 -= 1;
                    Some(ready(()))
                }
                _ => None,
            }
        }

        fn clone_request(&mut self, req: &u64) -> Option<u64> {
            Some(*req)
        }
    }

    /// tower `ConcurrencyLimit` of 100 (cloned by each thread, sharing the semaphore).
    pub static TOWER_LIMIT: LazyLock<tower::limit::ConcurrencyLimit<Echo>> =
        LazyLock::new(|| tower::limit::ConcurrencyLimit::new(Echo, PERMITS));

    /// tower `Timeout` of 1s.
    pub static TOWER_TIMEOUT: LazyLock<tower::timeout::Timeout<Echo>> =
        LazyLock::new(|| tower::timeout::Timeout::new(Echo, TIMEOUT));

    /// tower `Retry` of 3 attempts.
    pub static TOWER_RETRY: LazyLock<tower::retry::Retry<Attempts, Echo>> =
        LazyLock::new(|| tower::retry::Retry::new(Attempts(3), Echo));

    /// One call through a tower service, as tower users write it.
    #[inline(always)]
    pub async fn tower_call<S>(svc: &mut S, i: u64) -> Out
    where
        S: Service<u64, Response = u64>,
        S::Error: Into<BoxError>,
    {
        let svc = svc.ready().await.map_err(|_| BenchError::Anchor)?;
        svc.call(i).await.map_err(|_| BenchError::Anchor)
    }

    /// backon retry.
    pub async fn backon(i: u64) -> Out {
        (|| async { Ok(black_box(i)) }).retry(BACKON).await
    }

    /// `tokio::time::timeout`.
    pub async fn tokio_timeout(i: u64) -> Out {
        match tokio::time::timeout(TIMEOUT, async { Ok(black_box(i)) }).await {
            Ok(out) => out,
            Err(_) => Err(BenchError::Anchor),
        }
    }

    /// recloser, async.
    pub async fn recloser_async(i: u64) -> Out {
        RECLOSER
            .call(async { Ok::<_, BenchError>(black_box(i)) })
            .await
            .map_err(|_| BenchError::Anchor)
    }

    /// failsafe, async, rate policy.
    pub async fn failsafe_rate(i: u64) -> Out {
        FAILSAFE_RATE
            .call(async { Ok::<_, BenchError>(black_box(i)) })
            .await
            .map_err(|_| BenchError::Anchor)
    }

    /// failsafe, async, consecutive-failures policy.
    pub async fn failsafe_consecutive(i: u64) -> Out {
        FAILSAFE_CONSECUTIVE
            .call(async { Ok::<_, BenchError>(black_box(i)) })
            .await
            .map_err(|_| BenchError::Anchor)
    }

    /// `tokio::time::timeout` of 1s around a body pending once.
    pub async fn tokio_timeout_pending_once(i: u64) -> Out {
        tokio::time::timeout(TIMEOUT, PendingOnce::new(i))
            .await
            .unwrap_or(Err(BenchError::Anchor))
    }

    /// A tokio semaphore permit held while the body runs.
    pub async fn semaphore(i: u64) -> Out {
        let _permit = SEMAPHORE.acquire().await.map_err(|_| BenchError::Anchor)?;
        Ok(black_box(i))
    }

    /// governor, direct.
    pub async fn governor(i: u64) -> Out {
        GOVERNOR.check().map_err(|_| BenchError::Anchor)?;
        Ok(black_box(i))
    }

    /// governor, keyed by `i % 64`.
    pub async fn governor_keyed(i: u64) -> Out {
        GOVERNOR_KEYED
            .check_key(&(i % KEYS))
            .map_err(|_| BenchError::Anchor)?;
        Ok(black_box(i))
    }

    /// governor keyed, every call with the same key.
    pub async fn governor_hot_key(i: u64) -> Out {
        GOVERNOR_HOT
            .check_key(&HOT_KEY)
            .map_err(|_| BenchError::Anchor)?;
        Ok(black_box(i))
    }

    /// The anchors stacked by hand in the order of our stack: a default on error,
    /// backon retry, recloser, governor, `tokio::time::timeout`, a semaphore permit.
    pub async fn stack(i: u64) -> Out {
        let out = (|| async {
            RECLOSER
                .call(async {
                    GOVERNOR.check().map_err(|_| BenchError::Anchor)?;
                    match tokio::time::timeout(TIMEOUT, async {
                        let _permit = SEMAPHORE.acquire().await.map_err(|_| BenchError::Anchor)?;
                        Ok(black_box(i))
                    })
                    .await
                    {
                        Ok(out) => out,
                        Err(_) => Err(BenchError::Anchor),
                    }
                })
                .await
                .map_err(|_| BenchError::Anchor)
        })
        .retry(BACKON)
        .await;
        Ok(out.unwrap_or_default())
    }

    /// backon retry, blocking.
    pub fn backon_sync(i: u64) -> Out {
        (|| Ok(black_box(i))).retry(BACKON).call()
    }

    /// recloser, blocking.
    pub fn recloser_sync(i: u64) -> Out {
        RECLOSER_SYNC
            .call(|| Ok::<_, BenchError>(black_box(i)))
            .map_err(|_| BenchError::Anchor)
    }

    /// failsafe, blocking, rate policy.
    pub fn failsafe_rate_sync(i: u64) -> Out {
        failsafe::CircuitBreaker::call(&*FAILSAFE_RATE, || Ok::<_, BenchError>(black_box(i)))
            .map_err(|_| BenchError::Anchor)
    }

    /// failsafe, blocking, consecutive-failures policy.
    pub fn failsafe_consecutive_sync(i: u64) -> Out {
        failsafe::CircuitBreaker::call(&*FAILSAFE_CONSECUTIVE, || Ok::<_, BenchError>(black_box(i)))
            .map_err(|_| BenchError::Anchor)
    }

    /// governor, direct, from a plain function.
    pub fn governor_sync(i: u64) -> Out {
        GOVERNOR.check().map_err(|_| BenchError::Anchor)?;
        Ok(black_box(i))
    }
}

/// Who a case is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The bare function: the floor every overhead is measured from.
    Floor,
    /// One of our attributes (or a stack of them).
    Ours,
    /// A crate a user would otherwise pick.
    Anchor,
}

/// One benchmark case.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// The policy, as the tables group them (`"retry"`, `"rate limit (keyed)"`, ...).
    pub group: &'static str,
    /// A unique, file-name-safe id (`"retry_ours"`): criterion's benchmark name.
    pub id: &'static str,
    /// What the tables show (`"#[retry]"`, `"backon"`).
    pub label: &'static str,
    /// Floor, ours or anchor.
    pub role: Role,
    /// A plain `fn` (compared with the plain floor) rather than an `async fn`.
    pub sync: bool,
    /// Holds state that callers share: also timed on two threads.
    pub shared: bool,
    /// For ours: the id of the anchor it is compared with.
    pub anchor: Option<&'static str>,
    /// For a stack: the ids of the cases whose overheads it should not exceed in sum.
    pub parts: &'static [&'static str],
    /// Makes a batch of calls.
    pub make: MakeBatch,
}

/// The [`MakeBatch`] of a loop of calls: `batch!(|i| f(i))` awaits `f(i)` per call,
/// `batch!(sync |i| f(i))` calls a plain function, `batch!(service, S)` calls the
/// tower service `S` (a static), cloned once per batch as each tower user holds
/// their own clone. Every call must succeed.
#[macro_export]
macro_rules! batch {
    (|$i:ident| $call:expr) => {
        |calls: u64, seed: u64| -> $crate::harness::Batch {
            ::std::boxed::Box::pin(async move {
                for n in 0..calls {
                    let $i = ::std::hint::black_box(seed.wrapping_add(n));
                    $crate::cases::check($call.await);
                }
            })
        }
    };
    (service, $svc:expr) => {
        |calls: u64, seed: u64| -> $crate::harness::Batch {
            ::std::boxed::Box::pin(async move {
                let mut svc = (*$svc).clone();
                for n in 0..calls {
                    let i = ::std::hint::black_box(seed.wrapping_add(n));
                    $crate::cases::check($crate::cases::anchors::tower_call(&mut svc, i).await);
                }
            })
        }
    };
    (sync, |$i:ident| $call:expr) => {
        |calls: u64, seed: u64| -> $crate::harness::Batch {
            ::std::boxed::Box::pin(async move {
                for n in 0..calls {
                    let $i = ::std::hint::black_box(seed.wrapping_add(n));
                    $crate::cases::check($call);
                }
            })
        }
    };
}

/// A case of `group` with id `id` (unique, file-name safe), shown as `label`.
pub const fn case(
    group: &'static str,
    id: &'static str,
    label: &'static str,
    role: Role,
    make: MakeBatch,
) -> Case {
    Case {
        group,
        id,
        label,
        role,
        sync: false,
        shared: false,
        anchor: None,
        parts: &[],
        make,
    }
}

impl Case {
    /// Also timed on two threads sharing the instance.
    pub const fn shared(mut self) -> Self {
        self.shared = true;
        self
    }

    /// A plain `fn`, compared with the plain floor.
    pub const fn sync(mut self) -> Self {
        self.sync = true;
        self
    }

    /// Compared with the anchor `anchor`.
    pub const fn vs(mut self, anchor: &'static str) -> Self {
        self.anchor = Some(anchor);
        self
    }

    /// A stack of the cases `parts`.
    pub const fn parts(mut self, parts: &'static [&'static str]) -> Self {
        self.parts = parts;
        self
    }

    /// The id of the floor this case's overhead is measured from.
    pub fn floor(&self) -> &'static str {
        if self.sync { "bare_sync" } else { "bare" }
    }
}

use Role::{Anchor, Floor, Ours};

/// Every case, in the order of the tables.
pub static CASES: &[Case] = &[
    case(
        "floor",
        "bare",
        "bare async fn",
        Floor,
        batch!(|i| ours::bare(i)),
    )
    .shared(),
    case(
        "retry",
        "retry_ours",
        "#[retry]",
        Ours,
        batch!(|i| ours::retry(i)),
    )
    .vs("retry_backon"),
    case(
        "retry",
        "retry_backon",
        "backon",
        Anchor,
        batch!(|i| anchors::backon(i)),
    ),
    case(
        "retry",
        "retry_tower",
        "tower Retry",
        Anchor,
        batch!(service, anchors::TOWER_RETRY),
    ),
    case(
        "timeout",
        "timeout_ours",
        "#[timeout]",
        Ours,
        batch!(|i| ours::timeout(i)),
    )
    .vs("timeout_tokio")
    .shared(),
    case(
        "timeout",
        "timeout_tokio",
        "tokio::time::timeout",
        Anchor,
        batch!(|i| anchors::tokio_timeout(i)),
    )
    .shared(),
    case(
        "timeout",
        "timeout_tower",
        "tower Timeout",
        Anchor,
        batch!(service, anchors::TOWER_TIMEOUT),
    ),
    case(
        "circuit breaker",
        "breaker_ours",
        "#[circuit_breaker]",
        Ours,
        batch!(|i| ours::breaker(i)),
    )
    .vs("breaker_recloser")
    .shared(),
    case(
        "circuit breaker",
        "breaker_consecutive_ours",
        "#[circuit_breaker(consecutive_failures = 5)]",
        Ours,
        batch!(|i| ours::breaker_consecutive(i)),
    )
    .vs("breaker_failsafe_consecutive")
    .shared(),
    case(
        "circuit breaker",
        "breaker_recloser",
        "recloser",
        Anchor,
        batch!(|i| anchors::recloser_async(i)),
    )
    .shared(),
    case(
        "circuit breaker",
        "breaker_failsafe_rate",
        "failsafe (success rate)",
        Anchor,
        batch!(|i| anchors::failsafe_rate(i)),
    )
    .shared(),
    case(
        "circuit breaker",
        "breaker_failsafe_consecutive",
        "failsafe (consecutive)",
        Anchor,
        batch!(|i| anchors::failsafe_consecutive(i)),
    )
    .shared(),
    case(
        "bulkhead",
        "bulkhead_ours",
        "#[bulkhead]",
        Ours,
        batch!(|i| ours::bulkhead(i)),
    )
    .vs("bulkhead_semaphore")
    .shared(),
    case(
        "bulkhead",
        "bulkhead_semaphore",
        "tokio Semaphore",
        Anchor,
        batch!(|i| anchors::semaphore(i)),
    )
    .shared(),
    case(
        "bulkhead",
        "bulkhead_tower",
        "tower ConcurrencyLimit",
        Anchor,
        batch!(service, anchors::TOWER_LIMIT),
    )
    .shared(),
    case(
        "rate limit",
        "rate_limit_ours",
        "#[rate_limit]",
        Ours,
        batch!(|i| ours::rate_limit(i)),
    )
    .vs("rate_limit_governor")
    .shared(),
    case(
        "rate limit",
        "rate_limit_governor",
        "governor",
        Anchor,
        batch!(|i| anchors::governor(i)),
    )
    .shared(),
    case(
        "rate limit (keyed)",
        "rate_limit_keyed_ours",
        "#[rate_limit(key)]",
        Ours,
        batch!(|i| ours::rate_limit_keyed(i)),
    )
    .vs("rate_limit_keyed_governor")
    .shared(),
    case(
        "rate limit (keyed)",
        "rate_limit_keyed_governor",
        "governor keyed",
        Anchor,
        batch!(|i| anchors::governor_keyed(i)),
    )
    .shared(),
    case(
        "rate limit (hot key)",
        "rate_limit_hot_key_ours",
        "#[rate_limit(key)], one key",
        Ours,
        batch!(|i| ours::rate_limit_hot_key(i)),
    )
    .vs("rate_limit_hot_key_governor")
    .shared(),
    case(
        "rate limit (hot key)",
        "rate_limit_hot_key_governor",
        "governor keyed, one key",
        Anchor,
        batch!(|i| anchors::governor_hot_key(i)),
    )
    .shared(),
    case(
        "fallback",
        "fallback_ours",
        "#[fallback(default)]",
        Ours,
        batch!(|i| ours::fallback(i)),
    ),
    case(
        "hedge",
        "hedge_ours",
        "#[hedge(delay = \"1s\")], answered before the delay",
        Ours,
        batch!(|i| ours::hedge(i)),
    )
    .vs("timeout_tokio")
    .shared(),
    case(
        "hedge (pending once)",
        "hedge_bare_pending_once",
        "bare body, pending once",
        Floor,
        batch!(|i| ours::bare_pending_once(i)),
    ),
    case(
        "hedge (pending once)",
        "hedge_pending_once_ours",
        "#[hedge(delay = \"1s\")], pending once, then answered before the delay",
        Ours,
        batch!(|i| ours::hedge_pending_once(i)),
    )
    .vs("timeout_tokio_pending_once"),
    case(
        "hedge (pending once)",
        "hedge_hand_pending_once_ours",
        "Hedge::call, pending once",
        Ours,
        batch!(|i| ours::hedge_hand_pending_once(i)),
    )
    .vs("timeout_tokio_pending_once"),
    case(
        "hedge (pending once)",
        "timeout_tokio_pending_once",
        "tokio::time::timeout, pending once",
        Anchor,
        batch!(|i| anchors::tokio_timeout_pending_once(i)),
    ),
    case(
        "cache",
        "cache_hit_ours",
        "#[cache(ttl = \"1h\")], fresh hit (u64 key)",
        Ours,
        batch!(|i| ours::cache_hit(i)),
    )
    .shared(),
    case(
        "cache (String key)",
        "cache_get_string_ours",
        "Cache::get, fresh hit (String key)",
        Ours,
        batch!(sync, |i| cache_hits::ours(i)),
    )
    .sync()
    .vs("cache_get_quick_cache")
    .shared(),
    case(
        "cache (String key)",
        "cache_get_quick_cache",
        "quick_cache sync::Cache::get (String key)",
        Anchor,
        batch!(sync, |i| cache_hits::quick_cache(i)),
    )
    .sync()
    .shared(),
    case(
        "cache (String key)",
        "cache_get_moka",
        "moka sync::Cache::get, with a ttl (String key)",
        Anchor,
        batch!(sync, |i| cache_hits::moka(i)),
    )
    .sync()
    .shared(),
    case(
        "lifecycle",
        "tracked_ours",
        "running count (as an annotated body counts it)",
        Ours,
        batch!(|i| ours::tracked(i)),
    )
    .shared(),
    case(
        "stack",
        "stack_ours",
        "all six attributes",
        Ours,
        batch!(|i| ours::stack(i)),
    )
    .vs("stack_anchors")
    .parts(&[
        "fallback_ours",
        "retry_ours",
        "breaker_ours",
        "rate_limit_ours",
        "timeout_ours",
        "bulkhead_ours",
    ])
    .shared(),
    case(
        "stack",
        "stack_anchors",
        "anchors stacked by hand",
        Anchor,
        batch!(|i| anchors::stack(i)),
    )
    .shared(),
    // Plain functions.
    case(
        "floor",
        "bare_sync",
        "bare fn",
        Floor,
        batch!(sync, |i| ours_sync::bare(i)),
    )
    .sync()
    .shared(),
    case(
        "retry",
        "retry_sync_ours",
        "#[retry] fn",
        Ours,
        batch!(sync, |i| ours_sync::retry(i)),
    )
    .sync()
    .vs("retry_sync_backon"),
    case(
        "retry",
        "retry_sync_backon",
        "backon blocking",
        Anchor,
        batch!(sync, |i| anchors::backon_sync(i)),
    )
    .sync(),
    case(
        "circuit breaker",
        "breaker_sync_ours",
        "#[circuit_breaker] fn",
        Ours,
        batch!(sync, |i| ours_sync::breaker(i)),
    )
    .sync()
    .vs("breaker_sync_recloser")
    .shared(),
    case(
        "circuit breaker",
        "breaker_sync_consecutive_ours",
        "#[circuit_breaker(consecutive_failures = 5)] fn",
        Ours,
        batch!(sync, |i| ours_sync::breaker_consecutive(i)),
    )
    .sync()
    .vs("breaker_sync_failsafe_consecutive")
    .shared(),
    case(
        "circuit breaker",
        "breaker_sync_recloser",
        "recloser fn",
        Anchor,
        batch!(sync, |i| anchors::recloser_sync(i)),
    )
    .sync()
    .shared(),
    case(
        "circuit breaker",
        "breaker_sync_failsafe_rate",
        "failsafe fn (success rate)",
        Anchor,
        batch!(sync, |i| anchors::failsafe_rate_sync(i)),
    )
    .sync()
    .shared(),
    case(
        "circuit breaker",
        "breaker_sync_failsafe_consecutive",
        "failsafe fn (consecutive)",
        Anchor,
        batch!(sync, |i| anchors::failsafe_consecutive_sync(i)),
    )
    .sync()
    .shared(),
    case(
        "bulkhead",
        "bulkhead_sync_ours",
        "#[bulkhead] fn",
        Ours,
        batch!(sync, |i| ours_sync::bulkhead(i)),
    )
    .sync()
    .shared(),
    case(
        "rate limit",
        "rate_limit_sync_ours",
        "#[rate_limit] fn",
        Ours,
        batch!(sync, |i| ours_sync::rate_limit(i)),
    )
    .sync()
    .vs("rate_limit_sync_governor")
    .shared(),
    case(
        "rate limit",
        "rate_limit_sync_governor",
        "governor fn",
        Anchor,
        batch!(sync, |i| anchors::governor_sync(i)),
    )
    .sync()
    .shared(),
];

/// The case with id `id`.
pub fn by_id(id: &str) -> Option<&'static Case> {
    CASES.iter().find(|c| c.id == id)
}
