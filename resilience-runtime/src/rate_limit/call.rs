//! The call path of direct limiters, and the parts keyed limiters share.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::gcra::{Decision, Reservation};
use super::{Core, RateLimiter};
use crate::rejection::{FromRejection, Rejection};
use crate::sync::AtomicU64;

impl Core {
    /// Counts an admitted call's outcome and passes it through.
    #[inline(always)]
    pub(crate) fn counted<T, E>(&self, result: Result<T, E>) -> Result<T, E> {
        self.stats.outcome(&result);
        result
    }

    /// Decides a call that may wait up to `max_wait`.
    #[inline]
    pub(crate) fn decide(&self, tat: &AtomicU64) -> Decision {
        let quota = &self.settings.quota;
        quota.decide(tat, self.now(), quota.max_wait)
    }

    /// Decides a call that may not wait.
    #[inline]
    pub(crate) fn check(&self, tat: &AtomicU64) -> Result<(), Rejection> {
        match self.settings.quota.decide(tat, self.now(), 0) {
            Decision::Now => Ok(()),
            Decision::Refused { retry_after } => Err(self.refused(retry_after)),
            Decision::Wait { .. } => unreachable!("a call that may not wait was told to"),
        }
    }

    /// Sleeps until a reserved slot at `at`; a cancelled sleep gives the slot back
    /// where it can.
    #[cold]
    pub(crate) async fn wait_for_slot(
        &self,
        tat: &AtomicU64,
        at: u64,
        wait: u64,
        prev: u64,
        reserved: u64,
    ) {
        let reservation = Reservation::new(tat, prev, reserved);
        match self.instant(at) {
            Some(at) => tokio::time::sleep_until(at).await,
            None => tokio::time::sleep(Duration::from_nanos(wait)).await,
        }
        reservation.keep();
    }

    /// Admits a blocking call, sleeping its thread for up to `max_wait`.
    #[inline]
    pub(crate) fn admit_blocking(&self, tat: &AtomicU64) -> Result<(), Rejection> {
        match self.decide(tat) {
            Decision::Now => Ok(()),
            Decision::Wait { wait, .. } => {
                std::thread::sleep(Duration::from_nanos(wait));
                Ok(())
            }
            Decision::Refused { retry_after } => Err(self.refused(retry_after)),
        }
    }
}

impl RateLimiter {
    /// Runs `future` once the rate allows: at once if within the rate, after sleeping
    /// until its slot if that comes within `max_wait`, else returns
    /// [`Rejection::RateLimited`] with the exact `retry_after`, without polling
    /// `future`. The decision is made when the returned future is first polled.
    ///
    /// An admitted call costs one clock read and one compare-and-swap: no lock, no
    /// allocation (a call that has to wait allocates its timer).
    pub fn call<T, E, F>(&self, future: F) -> RateLimitedCall<'_, F>
    where
        F: Future<Output = Result<T, E>>,
        E: FromRejection,
    {
        RateLimitedCall {
            future,
            limiter: self,
            state: CallState::Start,
        }
    }

    /// The blocking form of [`call`](Self::call), for plain functions: a call whose
    /// slot comes within `max_wait` sleeps its thread (`std::thread::sleep`) until then.
    pub fn call_blocking<T, E>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E>
    where
        E: FromRejection,
    {
        match self.inner.core.admit_blocking(&self.inner.tat.0) {
            Ok(()) => self.inner.core.counted(f()),
            Err(rejection) => Err(E::from_rejection(rejection)),
        }
    }

    /// Takes a slot if one is free now, else returns the rejection, never waiting
    /// (whatever `max_wait` is): governor's `check`.
    #[inline]
    pub fn check(&self) -> Result<(), Rejection> {
        self.inner.core.check(&self.inner.tat.0)
    }
}

pin_project_lite::pin_project! {
    /// The future of [`RateLimiter::call`]: waits for the call's slot (or refuses
    /// it), then runs the call's future.
    #[must_use = "futures do nothing unless polled"]
    pub struct RateLimitedCall<'a, F> {
        #[pin]
        future: F,
        limiter: &'a RateLimiter,
        state: CallState<'a>,
    }
}

/// Where a [`RateLimitedCall`] is.
enum CallState<'a> {
    /// Not polled yet.
    Start,
    /// Sleeping until its reserved slot (boxed: the timer would otherwise make every
    /// call's future several times larger).
    Waiting(Pin<Box<dyn Future<Output = ()> + Send + 'a>>),
    /// Admitted, running the call.
    Running,
    /// Finished.
    Done,
}

impl<F> std::fmt::Debug for RateLimitedCall<'_, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            CallState::Start => "start",
            CallState::Waiting(_) => "waiting",
            CallState::Running => "running",
            CallState::Done => "done",
        };
        f.debug_struct("RateLimitedCall")
            .field("limiter", &self.limiter.name())
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl<'a, T, E, F> Future for RateLimitedCall<'a, F>
where
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
                    *this.state = CallState::Done;
                    return Poll::Ready(this.limiter.inner.core.counted(result));
                }
                CallState::Start => {
                    let limiter: &'a RateLimiter = this.limiter;
                    let (core, tat) = (&limiter.inner.core, &limiter.inner.tat.0);
                    *this.state = match core.decide(tat) {
                        Decision::Now => CallState::Running,
                        Decision::Wait {
                            at,
                            wait,
                            prev,
                            reserved,
                        } => CallState::Waiting(Box::pin(
                            core.wait_for_slot(tat, at, wait, prev, reserved),
                        )),
                        Decision::Refused { retry_after } => {
                            *this.state = CallState::Done;
                            return Poll::Ready(Err(E::from_rejection(core.refused(retry_after))));
                        }
                    };
                }
                CallState::Waiting(waiting) => {
                    if waiting.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    *this.state = CallState::Running;
                }
                CallState::Done => panic!("`RateLimitedCall` polled after it completed"),
            }
        }
    }
}
