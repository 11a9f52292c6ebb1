//! The call path: admission, the permit a call holds, and recording its outcome.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::CircuitBreaker;
use super::state::{Kind, Shared};
use crate::rejection::{FromRejection, Rejection};

/// The right to make one call through a [`CircuitBreaker`], from
/// [`CircuitBreaker::try_acquire`]. Tell the breaker how the call went with
/// [`record_success`](Self::record_success), [`record_failure`](Self::record_failure)
/// or [`record_ignored`](Self::record_ignored).
///
/// Dropping a permit without recording counts as neither success nor failure (the
/// call was cancelled) and gives back the half-open trial slot it may hold; dropping
/// it while the thread panics counts as a failure. Either way the breaker is never
/// left waiting for the call.
///
/// ```
/// use resilience_runtime::CircuitBreaker;
///
/// let breaker = CircuitBreaker::builder("by-hand").build().unwrap();
/// match breaker.try_acquire() {
///     Ok(permit) => {
///         let worked = true; // make the call here
///         if worked { permit.record_success() } else { permit.record_failure() }
///     }
///     Err(rejection) => eprintln!("{rejection}"),
/// }
/// ```
#[must_use = "a permit dropped unrecorded counts as a cancelled call"]
pub struct Permit<'a> {
    shared: &'a Shared,
    kind: Kind,
    start: Option<crate::clock::Stamp>,
}

impl std::fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.shared.name)
            .field("trial", &self.is_trial())
            .finish()
    }
}

impl<'a> Permit<'a> {
    #[inline]
    pub(crate) fn new(shared: &'a Shared, kind: Kind) -> Self {
        let start = if shared.timed() && kind != Kind::Passive {
            Some(crate::clock::now())
        } else {
            None
        };
        Permit {
            shared,
            kind,
            start,
        }
    }

    /// True for a half-open trial call, whose outcome helps decide whether the breaker
    /// closes again.
    pub fn is_trial(&self) -> bool {
        matches!(self.kind, Kind::Trial(_))
    }

    /// The call succeeded (it may still count as slow).
    #[inline(always)]
    pub fn record_success(mut self) {
        let kind = std::mem::replace(&mut self.kind, Kind::Passive);
        self.shared.finish(kind, false, self.start);
    }

    /// The call failed.
    #[inline(always)]
    pub fn record_failure(mut self) {
        let kind = std::mem::replace(&mut self.kind, Kind::Passive);
        self.shared.finish(kind, true, self.start);
    }

    /// The call succeeded and took `took`, as the caller measured it (a call made
    /// outside the breaker, or a client that reports its own latency): slow if
    /// `took` is longer than `slow_call`, whatever time passed since the permit was
    /// taken. Resilience4j's `onSuccess(duration)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_runtime::CircuitBreaker;
    /// use resilience_runtime::circuit_breaker::Window;
    ///
    /// let breaker = CircuitBreaker::builder("timed-by-caller")
    ///     .window(Window::Count(2))
    ///     .slow_call(Duration::from_millis(500))
    ///     .build()
    ///     .unwrap();
    /// breaker.try_acquire().unwrap().record_success_in(Duration::from_secs(2));
    /// breaker.try_acquire().unwrap().record_success_in(Duration::from_millis(100));
    /// let m = breaker.metrics();
    /// assert_eq!((m.calls, m.successes, m.slow_calls), (2, 2, 1));
    /// ```
    pub fn record_success_in(mut self, took: Duration) {
        let kind = std::mem::replace(&mut self.kind, Kind::Passive);
        self.shared.finish_in(kind, false, took);
    }

    /// The call failed and took `took`, as the caller measured it: slow if `took` is
    /// longer than `slow_call` (see [`record_success_in`](Self::record_success_in)).
    /// Resilience4j's `onError(duration, ..)`.
    pub fn record_failure_in(mut self, took: Duration) {
        let kind = std::mem::replace(&mut self.kind, Kind::Passive);
        self.shared.finish_in(kind, true, took);
    }

    /// The call ended in a way that counts as neither success nor failure (an error
    /// that `record_if` rejects); a trial slot it held is given back.
    #[inline]
    pub fn record_ignored(mut self) {
        self.shared.stats.add(crate::stats::Count::Ignored);
        let kind = std::mem::replace(&mut self.kind, Kind::Passive);
        self.shared.release(kind);
    }

    /// Records `result` (`Ok` is a success, an `Err` for which `record_if` is true a
    /// failure, any other `Err` neither) in place, leaving a permit that drops as
    /// nothing: the permit is not moved again (a move of it through memory after its fields were
    /// stored one by one costs a store-forwarding stall, as much as the rest of the
    /// call).
    #[inline(always)]
    pub(crate) fn settle<T, E>(
        &mut self,
        result: &Result<T, E>,
        record_if: impl FnOnce(&E) -> bool,
    ) {
        let kind = std::mem::replace(&mut self.kind, Kind::Passive);
        match result {
            Ok(_) => self.shared.finish(kind, false, self.start),
            Err(e) => {
                if record_if(e) {
                    self.shared.finish(kind, true, self.start);
                } else {
                    self.shared.stats.add(crate::stats::Count::Ignored);
                    self.shared.release(kind);
                }
            }
        }
    }
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.kind == Kind::Passive {
            return;
        }
        let kind = std::mem::replace(&mut self.kind, Kind::Passive);
        if std::thread::panicking() {
            self.shared.finish(kind, true, self.start);
        } else {
            self.shared.release(kind);
        }
    }
}

pin_project! {
    /// The future of [`CircuitBreaker::call`] and [`CircuitBreaker::call_with`].
    ///
    /// Admission happens on the first poll. If a poll of the call's future panics,
    /// the permit is recorded as a failure right there (an async call's state is
    /// dropped only later, when the panic is no longer visible); if this future is
    /// dropped before the call finishes, the call counts as neither success nor
    /// failure and its trial slot, if any, is given back.
    #[must_use = "futures do nothing unless polled"]
    pub struct Call<'a, F, R> {
        breaker: &'a CircuitBreaker,
        #[pin]
        future: F,
        permit: Option<Permit<'a>>,
        record_if: Option<R>,
    }
}

impl<F, R> std::fmt::Debug for Call<'_, F, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("breaker", &self.breaker.name())
            .field("permit", &self.permit)
            .finish()
    }
}

/// Records the failure of a poll that unwinds. Disarmed (forgotten) when the poll
/// returns, so that a poll that does not panic pays nothing for it.
struct PanicGuard<'p, 'a>(&'p mut Option<Permit<'a>>);

impl Drop for PanicGuard<'_, '_> {
    #[cold]
    fn drop(&mut self) {
        // Only while unwinding: a poll that returns disarms the guard.
        if let Some(permit) = self.0.take() {
            permit.record_failure();
        }
    }
}

impl<'a, T, E, F, R> Future for Call<'a, F, R>
where
    F: Future<Output = Result<T, E>>,
    E: FromRejection,
    R: FnOnce(&E) -> bool,
{
    type Output = Result<T, E>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        assert!(this.record_if.is_some(), "`Call` polled after completion");
        if this.permit.is_none() {
            let shared = &*this.breaker.shared;
            let mut permit = match shared.admit() {
                Ok(kind) => Permit::new(shared, kind),
                Err(rejection) => {
                    *this.record_if = None;
                    return Poll::Ready(Err(E::from_rejection(rejection)));
                }
            };
            // The first poll, the permit held here: a call that completes in it never
            // stores the permit (and a poll that unwinds drops it here, which records
            // a failure).
            return match this.future.poll(cx) {
                Poll::Ready(result) => {
                    if let Some(record_if) = this.record_if.take() {
                        permit.settle(&result, record_if);
                    }
                    Poll::Ready(result)
                }
                Poll::Pending => {
                    *this.permit = Some(permit);
                    Poll::Pending
                }
            };
        }
        let guard = PanicGuard(&mut *this.permit);
        let polled = this.future.poll(cx);
        std::mem::forget(guard);
        let result = match polled {
            Poll::Ready(result) => result,
            Poll::Pending => return Poll::Pending,
        };
        if let (Some(permit), Some(record_if)) = (this.permit.as_mut(), this.record_if.take()) {
            permit.settle(&result, record_if);
        }
        *this.permit = None;
        Poll::Ready(result)
    }
}

impl CircuitBreaker {
    /// Admits a call or refuses it, without running anything: the lower-level form of
    /// [`call`](Self::call), for code that makes the call itself.
    ///
    /// A closed breaker admits with one atomic load. An open one refuses with
    /// [`Rejection::CircuitOpen`] until its open period is over; then the next call
    /// turns it half-open and is a trial. A half-open breaker admits `half_open_calls`
    /// trials and refuses the rest (`retry_after` zero: a slot frees when a trial
    /// ends). Forced open refuses every call (`retry_after` = `Duration::MAX`: no trial
    /// until a reset); disabled admits every call and records nothing.
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejection> {
        let shared = &*self.shared;
        shared.admit().map(|kind| Permit::new(shared, kind))
    }

    /// Runs `future` if the breaker admits the call and records its outcome: `Ok` is
    /// a success, every `Err` a failure. A refused call returns
    /// `Err(E::from(Rejection::CircuitOpen { .. }))` without polling `future`.
    ///
    /// Admission happens when the returned future is first polled. Dropping it before
    /// it completes counts as neither success nor failure and frees any trial slot; a
    /// panic while polling `future` counts as a failure (and is not caught).
    #[inline]
    pub fn call<T, E, F>(&self, future: F) -> Call<'_, F, fn(&E) -> bool>
    where
        F: Future<Output = Result<T, E>>,
        E: FromRejection,
    {
        fn every_error<E>(_: &E) -> bool {
            true
        }
        self.call_with(every_error::<E>, future)
    }

    /// Like [`call`](Self::call), but an `Err` counts as a failure only if
    /// `record_if` returns true for it; other errors count as neither (and give back a
    /// trial slot), as Resilience4j's `recordExceptions` / `ignoreExceptions`.
    #[inline]
    pub fn call_with<T, E, F, R>(&self, record_if: R, future: F) -> Call<'_, F, R>
    where
        F: Future<Output = Result<T, E>>,
        E: FromRejection,
        R: FnOnce(&E) -> bool,
    {
        Call {
            breaker: self,
            future,
            permit: None,
            record_if: Some(record_if),
        }
    }

    /// The blocking form of [`call`](Self::call): runs `f` on this thread if admitted.
    /// A panic in `f` counts as a failure and unwinds on.
    #[inline]
    pub fn call_blocking<T, E>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E>
    where
        E: FromRejection,
    {
        self.call_blocking_with(|_: &E| true, f)
    }

    /// The blocking form of [`call_with`](Self::call_with).
    #[inline]
    pub fn call_blocking_with<T, E>(
        &self,
        record_if: impl FnOnce(&E) -> bool,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: FromRejection,
    {
        // The permit made in place from the admission (not moved out of a `Result`):
        // a move through memory costs a store-forwarding stall on every call.
        let shared = &*self.shared;
        let mut permit = match shared.admit() {
            Ok(kind) => Permit::new(shared, kind),
            Err(rejection) => return Err(E::from_rejection(rejection)),
        };
        let result = f();
        permit.settle(&result, record_if);
        result
    }
}
