//! What the attribute macros' generated code calls, and nothing else. Not public API:
//! it may change in any release.

pub use core::ops::ControlFlow;
pub use core::option::Option::{None, Some};
pub use core::result::Result::{Err, Ok};
pub use core::time::Duration;
pub use core::{concat, module_path};

pub use crate::backoff::{Exponential, Fixed, Jitter, Linear, NoBackoff};
pub use crate::bulkhead::{Adaptive, Bulkhead};
pub use crate::circuit_breaker::{CircuitBreaker, KeyedCircuitBreaker, Window};
pub use crate::events::PolicyKind;
pub use crate::rate_limit::{KeyedRateLimiter, Rate, RateLimiter};
pub use crate::rejection::MethodName;
pub use crate::retry::{Retry, RetryRun};
pub use crate::stats::Stats;
pub use crate::timeout::{Timeout, TimeoutCall};

/// Each attempt of a retry (or the second function of a fallback) needs its own copy
/// of an owned argument.
#[diagnostic::on_unimplemented(
    message = "argument of type `{Self}` is used again, so it must be `Clone`",
    label = "this owned argument is used again: by each attempt of `#[retry]`, each copy of `#[hedge]`, or by the `#[fallback]` function",
    note = "take the argument by reference (`&{Self}`) instead, or implement `Clone` for it"
)]
pub trait CloneArg: Sized {
    /// A copy for one more attempt.
    fn clone_arg(&self) -> Self;
}

impl<T: Clone> CloneArg for T {
    #[inline]
    fn clone_arg(&self) -> Self {
        self.clone()
    }
}

/// Checks that the function returns a `Result` where its return type is an alias the
/// macro cannot see through, pointing at the return type when it is not.
#[diagnostic::on_unimplemented(
    message = "resilience attributes need a function that returns `Result<T, E>`, not `{Self}`",
    label = "expected `Result<T, E>` here",
    note = "policies decide by the `Err` case: return `Result<T, E>` (any alias of it counts)"
)]
pub trait IsResult {
    /// The `Ok` type.
    type Ok;
    /// The `Err` type.
    type Err;
}

impl<T, E> IsResult for Result<T, E> {
    type Ok = T;
    type Err = E;
}

/// Called with the declared return type to make the compiler check [`IsResult`].
#[inline(always)]
pub const fn assert_result<R: IsResult>() {}

/// Runs the body of a plain function as a closure, so `return` and `?` inside it
/// leave only the attempt; counted as running meanwhile, for `lifecycle::drain`.
#[inline(always)]
pub fn run<R>(body: impl FnOnce() -> R) -> R {
    let _running = crate::lifecycle::Running::enter();
    body()
}

/// The first statement of an async function's body: the body is counted as running
/// until this is dropped (when it completes or is cancelled), for `lifecycle::drain`.
#[inline(always)]
#[must_use]
pub fn running() -> crate::lifecycle::Running {
    crate::lifecycle::Running::enter()
}

/// `retry_if` when none is given: every error is retried.
#[inline(always)]
pub fn always<E>(_: &E) -> bool {
    true
}

/// `retry_after` when none is given: no hint.
#[inline(always)]
pub fn no_hint<E>(_: &E) -> Option<Duration> {
    None
}

/// `on_retry` when none is given.
#[inline(always)]
pub fn no_hook<E>(_: &E, _: u32, _: Duration) {}

/// The async sleep between attempts, boxed: it exists only after a failure, and a
/// timer held inline would make every call's future larger (and slower to move).
pub fn sleep(delay: Duration) -> core::pin::Pin<Box<tokio::time::Sleep>> {
    Box::pin(tokio::time::sleep(delay))
}

/// The async sleep between attempts, boxed as [`sleep`] is, holding the error it may
/// have to return: `Some(error)` when a drain cut it short (the retry then returns
/// it), `None` when it ended. (Kept in the box, the error does not make the call's
/// future larger.)
pub fn pause<E>(
    delay: Duration,
    error: E,
) -> core::pin::Pin<Box<impl core::future::Future<Output = Option<E>>>> {
    Box::pin(async move {
        if crate::lifecycle::sleep(delay).await {
            None
        } else {
            Some(error)
        }
    })
}

/// A plain function's failed attempt, out of line so that the function stays small
/// where it succeeds: gets the counters, builds the policy, decides as
/// [`RetryRun::failed`] does, and sleeps the delay unless a drain begins. `Break` with
/// the call's result, or `Continue` to the next attempt.
#[cold]
#[inline(never)]
pub fn retry_failed_blocking<T, E, B: crate::backoff::Backoff>(
    run: &mut RetryRun<'static>,
    stats: impl FnOnce() -> SharedStats,
    policy: impl FnOnce() -> Retry<B>,
    error: E,
    retry_if: impl FnOnce(&E) -> bool,
    retry_after: impl FnOnce(&E) -> Option<Duration>,
    on_retry: impl FnOnce(&E, u32, Duration),
) -> ControlFlow<Result<T, E>> {
    *run = run.counted(stats());
    match run.failed(&policy(), error, retry_if, retry_after, on_retry) {
        ControlFlow::Break(result) => ControlFlow::Break(result),
        ControlFlow::Continue((delay, error)) => {
            if crate::lifecycle::sleep_blocking(delay) {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(run.stopped(error))
            }
        }
    }
}

/// The blocking sleep between attempts.
pub fn sleep_blocking(delay: Duration) {
    std::thread::sleep(delay);
}

pub use core::default::Default;
pub use std::sync::OnceLock;

/// A function's policy state, created by `init` on the function's first call.
#[inline(always)]
pub fn state<P>(cell: &'static OnceLock<P>, init: impl FnOnce() -> P) -> &'static P {
    cell.get_or_init(init)
}

/// `#[timeout]`'s call: a limit of `after`, counted in `stats`.
#[inline]
pub fn timeout<T, E, F>(
    stats: &'static Stats,
    after: Duration,
    future: F,
) -> TimeoutCall<'static, F>
where
    F: core::future::Future<Output = Result<T, E>>,
    E: crate::FromRejection,
{
    TimeoutCall::new(stats, after, future)
}

/// A policy's counters, shared by every function that names it.
pub type SharedStats = &'static Stats;

/// A function's policy counters, registered by `init` on the function's first call.
#[inline(always)]
pub fn stats(
    cell: &'static OnceLock<SharedStats>,
    init: impl FnOnce() -> SharedStats,
) -> &'static Stats {
    cell.get_or_init(init)
}

/// The counters of the `#[retry]` named `name`, registered on its first call.
pub fn retry_stats(name: impl Into<std::borrow::Cow<'static, str>>) -> SharedStats {
    crate::stats::register(PolicyKind::Retry, name.into())
}

/// A retry budget, shared by every retry of one name.
pub type SharedBudget = &'static crate::retry::RetryBudget;
pub use crate::retry::Budget;

/// The budget of the `#[retry]` named `name`, registered on its first call.
pub fn retry_budget(
    name: impl Into<std::borrow::Cow<'static, str>>,
    settings: Budget,
) -> SharedBudget {
    crate::retry::register_budget(name.into(), settings)
}

/// A function's retry budget, registered by `init` on the function's first call.
#[inline(always)]
pub fn budget(
    cell: &'static OnceLock<SharedBudget>,
    init: impl FnOnce() -> SharedBudget,
) -> &'static crate::retry::RetryBudget {
    cell.get_or_init(init)
}

/// What a breaker's health probe (`#[circuit_breaker(probe = path)]`) returns: a
/// future of `bool`, as an `async fn() -> bool` does. Checked on the probe's output, so
/// that a probe that is not `async` is told so (a bound on the function itself would
/// be reported as "`bool` is not a future").
#[diagnostic::on_unimplemented(
    message = "`probe` must be an `async fn() -> bool`: this one returns `{Self}`",
    label = "expected an `async fn() -> bool` here",
    note = "write the probe as `async fn healthy() -> bool` (free, or associated without a receiver): it takes no arguments and answers whether the backend is healthy",
    note = "its future must be `Send + 'static`: it runs as a task of its own"
)]
pub trait ProbeFuture: core::future::Future<Output = bool> + Send + 'static {}

impl<F: core::future::Future<Output = bool> + Send + 'static> ProbeFuture for F {}

/// Checks a probe's signature (at its path) and makes it the builder's closure.
pub fn probe_fn<P, Out>(probe: P) -> impl Fn() -> Out + Send + Sync + 'static
where
    P: Fn() -> Out + Send + Sync + 'static,
    Out: ProbeFuture,
{
    probe
}

/// The counters of the `#[timeout]` named `name`, registered on its first call.
pub fn timeout_stats(name: impl Into<std::borrow::Cow<'static, str>>) -> SharedStats {
    crate::stats::register(PolicyKind::Timeout, name.into())
}

/// The counters of the `#[fallback]` named `name`, registered on its first call.
pub fn fallback_stats(name: impl Into<std::borrow::Cow<'static, str>>) -> SharedStats {
    crate::stats::register(PolicyKind::Fallback, name.into())
}

/// One function's counters of its retry or fallback, registered on its first call.
pub use crate::stats::Site;

/// The counters of the policy `site` counts for, registered by `init` on the first call.
#[inline]
pub fn site_stats(site: &'static Site, init: impl FnOnce() -> SharedStats) -> SharedStats {
    site.stats(init)
}

/// Counts a fallback's primary outcome, which is returned as it is, at `site` (the
/// policy registered by `init` on the first call). By reference: a large `Result`
/// passed through by value is copied on the way, each copy a load of what was just
/// stored.
#[inline(always)]
pub fn count_in<T, E>(
    site: &'static Site,
    init: impl FnOnce() -> SharedStats,
    outcome: &Result<T, E>,
) {
    site.add(crate::stats::Count::of(outcome), init);
}

/// A retry's attempt succeeded: the call's success counted at `site` (the policy
/// registered by `init` on the first call), and the value returned.
#[inline(always)]
pub fn retry_ok<T, E>(
    run: &RetryRun<'_>,
    site: &'static Site,
    init: impl FnOnce() -> SharedStats,
    value: T,
) -> Result<T, E> {
    site.add(crate::stats::Count::Success, init);
    run.ok_uncounted(value)
}

/// A fallback is about to answer in place of the error.
#[cold]
pub fn fallback_used(stats: &Stats) {
    stats.add(crate::stats::Count::Failure);
    stats.add(crate::stats::Count::Extra1);
    stats.emit(|| crate::events::EventKind::FallbackUsed);
}

/// The function a `#[fallback(path)]` calls, with the function's arguments and then the
/// error, as one tuple; implemented for every function of up to sixteen parameters.
#[diagnostic::on_unimplemented(
    message = "this fallback cannot be called with the function's arguments and then its error",
    label = "expected a function taking `{Args}`",
    note = "a fallback takes the same arguments as the function (methods: the receiver first), then the error, and returns the same `Result<T, E>`; it is `async` when the function is"
)]
pub trait FallbackFn<Args> {
    /// What the fallback returns: the `Result`, or a future of it.
    type Output;
    /// Calls the fallback.
    fn call(self, args: Args) -> Self::Output;
}

macro_rules! fallback_fn {
    ($($arg:ident)*) => {
        impl<Func, Out, $($arg,)*> FallbackFn<($($arg,)*)> for Func
        where
            Func: FnOnce($($arg),*) -> Out,
        {
            type Output = Out;
            #[inline(always)]
            #[allow(non_snake_case)]
            fn call(self, ($($arg,)*): ($($arg,)*)) -> Out {
                self($($arg),*)
            }
        }
    };
}

fallback_fn!(A1);
fallback_fn!(A1 A2);
fallback_fn!(A1 A2 A3);
fallback_fn!(A1 A2 A3 A4);
fallback_fn!(A1 A2 A3 A4 A5);
fallback_fn!(A1 A2 A3 A4 A5 A6);
fallback_fn!(A1 A2 A3 A4 A5 A6 A7);
fallback_fn!(A1 A2 A3 A4 A5 A6 A7 A8);
fallback_fn!(A1 A2 A3 A4 A5 A6 A7 A8 A9);
fallback_fn!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10);
fallback_fn!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11);
fallback_fn!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11 A12);
fallback_fn!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11 A12 A13);
fallback_fn!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11 A12 A13 A14);
fallback_fn!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11 A12 A13 A14 A15);
fallback_fn!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11 A12 A13 A14 A15 A16);

/// What the fallback of an `async fn` returns: a future of the function's `Result`.
#[diagnostic::on_unimplemented(
    message = "the fallback of an `async fn` must be an `async fn` too",
    label = "this returns `{Self}`, not a future",
    note = "write the fallback as `async fn fallback(args..., error) -> Result<T, E>`"
)]
pub trait FallbackFuture: core::future::Future {}

impl<F: core::future::Future> FallbackFuture for F {}

/// Passes the fallback's future through, checking that it is one.
#[inline(always)]
pub fn fallback_future<F: FallbackFuture>(future: F) -> F {
    future
}

pub use crate::cache::Cache;
pub use crate::coalesce::Coalesce;

/// What `#[cache]` keeps and hands to waiting calls: the function's `Ok` type.
#[diagnostic::on_unimplemented(
    message = "`#[cache]` keeps and clones the `Ok` value, so `{Self}` must be `Clone + Send + Sync + 'static`",
    label = "`{Self}` is returned as `Ok` here, and is not `Clone + Send + Sync + 'static`",
    note = "derive or implement `Clone` for `{Self}`, or return an `Arc` of it (`Arc<{Self}>` is `Clone`)"
)]
pub trait CacheValue: Clone + Send + Sync + 'static {}

impl<T: Clone + Send + Sync + 'static> CacheValue for T {}

/// `#[cache]`'s call of an async function.
#[inline(always)]
pub fn cache_call<K, T, E, F>(
    cache: &'static Cache,
    key: K,
    body: F,
) -> impl core::future::Future<Output = Result<T, E>>
where
    K: crate::PolicyKey,
    T: CacheValue,
    F: core::future::Future<Output = Result<T, E>>,
{
    cache.call(key, body)
}

/// `#[cache]`'s call of a plain function.
#[inline(always)]
pub fn cache_call_blocking<K, T, E>(
    cache: &'static Cache,
    key: K,
    body: impl FnOnce() -> Result<T, E>,
) -> Result<T, E>
where
    K: crate::PolicyKey,
    T: CacheValue,
{
    cache.call_blocking(key, body)
}

/// What `#[coalesce]` hands every waiting call a clone of: the function's `Ok` type.
#[diagnostic::on_unimplemented(
    message = "`#[coalesce]` gives every waiting call a clone of the outcome, so the `Ok` type `{Self}` must be `Clone + Send + Sync + 'static`",
    label = "`{Self}` is returned as `Ok` here, and is not `Clone + Send + Sync + 'static`",
    note = "derive or implement `Clone` for `{Self}`, or return an `Arc` of it (`Arc<{Self}>` is `Clone`)"
)]
pub trait CoalesceOk: Clone + Send + Sync + 'static {}

impl<T: Clone + Send + Sync + 'static> CoalesceOk for T {}

/// What `#[coalesce]` hands every waiting call a clone of: the function's `Err` type.
#[diagnostic::on_unimplemented(
    message = "`#[coalesce]` gives every waiting call a clone of the outcome, so the error type `{Self}` must be `Clone + Send + Sync + 'static`",
    label = "`{Self}` is returned as `Err` here, and is not `Clone + Send + Sync + 'static`",
    note = "derive or implement `Clone` for `{Self}`, or wrap it in an `Arc` (`Arc<{Self}>` is `Clone`)"
)]
pub trait CoalesceErr: Clone + Send + Sync + 'static {}

impl<E: Clone + Send + Sync + 'static> CoalesceErr for E {}

/// `#[coalesce]`'s call.
#[inline(always)]
pub fn coalesce_call<K, T, E, F>(
    coalesce: &'static Coalesce,
    key: K,
    body: F,
) -> impl core::future::Future<Output = Result<T, E>>
where
    K: crate::PolicyKey,
    T: CoalesceOk,
    E: CoalesceErr,
    F: core::future::Future<Output = Result<T, E>>,
{
    coalesce.call(key, body)
}

pub use crate::hedge::{Hedge, HedgeCall};

/// `#[hedge]`'s call: `copy` makes each copy of the layers below.
#[inline(always)]
pub fn hedge_call<T, E, M, F>(hedge: &'static Hedge, copy: M) -> HedgeCall<'static, M, F>
where
    M: FnMut() -> F,
    F: core::future::Future<Output = Result<T, E>>,
{
    hedge.call(copy)
}
