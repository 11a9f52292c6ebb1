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

    /// Decides a call that may wait up to `max_wait`. Inlined: out of line, its
    /// `Decision` would come back through memory, stored field by field and loaded
    /// whole (a store-forwarding stall on every call).
    #[inline(always)]
    pub(crate) fn decide(&self, tat: &AtomicU64) -> Decision {
        if crate::lifecycle::is_draining() {
            return Decision::Refused {
                retry_after: DRAINED,
            };
        }
        let quota = self.quota();
        self.within_deadline(tat, quota.decide(tat, self.now(), quota.max_wait))
    }

    /// Decides a call that may not wait.
    #[inline]
    pub(crate) fn check(&self, tat: &AtomicU64) -> Result<(), Rejection> {
        match self.decide_now(tat) {
            Decision::Now => Ok(()),
            Decision::Refused { retry_after } => Err(self.refused(retry_after)),
            Decision::Wait { .. } => unreachable!("a call that may not wait was told to"),
        }
    }

    /// Decides a call that may not wait, telling nothing (a refusal is told by
    /// [`refused`](Self::refused)): never [`Decision::Wait`].
    #[inline]
    pub(crate) fn decide_now(&self, tat: &AtomicU64) -> Decision {
        if crate::lifecycle::is_draining() {
            return Decision::Refused {
                retry_after: DRAINED,
            };
        }
        self.quota().decide(tat, self.now(), 0)
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
        let mut slept = std::pin::pin!(match self.instant(at) {
            Some(at) => tokio::time::sleep_until(at),
            None => tokio::time::sleep(Duration::from_nanos(self.nanos(wait))),
        });
        // A drain sends the waiter away: the slot goes back (the caller, seeing the
        // drain, refuses the call).
        let mut drained = std::pin::pin!(crate::lifecycle::began());
        let slept = std::future::poll_fn(|cx| {
            if drained.as_mut().poll(cx).is_ready() {
                Poll::Ready(false)
            } else {
                slept.as_mut().poll(cx).map(|()| true)
            }
        })
        .await;
        if slept {
            reservation.keep();
        }
    }

    /// Decides a call of cost `n` that may wait up to `max_wait` (0: not at all); a
    /// cost above the burst is refused at once.
    #[inline]
    pub(crate) fn decide_n(
        &self,
        tat: &AtomicU64,
        n: u32,
        max_wait: u64,
    ) -> Result<Decision, Rejection> {
        if crate::lifecycle::is_draining() {
            return Err(self.refused(DRAINED));
        }
        if n > self.burst() {
            return Err(self.never(n));
        }
        if n == 0 {
            return Ok(Decision::Now);
        }
        let decision = self.quota().decide_n(tat, self.now(), max_wait, n);
        Ok(self.within_deadline(tat, decision))
    }

    /// Decides a call of cost `n` that may not wait.
    #[inline]
    pub(crate) fn check_n(&self, tat: &AtomicU64, n: u32) -> Result<(), Rejection> {
        match self.decide_n(tat, n, 0)? {
            Decision::Now => Ok(()),
            Decision::Refused { retry_after } => Err(self.refused(retry_after)),
            Decision::Wait { .. } => unreachable!("a call that may not wait was told to"),
        }
    }

    /// Takes `n` slots, waiting up to `max_wait` for them (a cancelled wait gives
    /// them back where it can).
    pub(crate) async fn acquire_n(&self, tat: &AtomicU64, n: u32) -> Result<(), Rejection> {
        match self.decide_n(tat, n, self.quota().max_wait)? {
            Decision::Now => Ok(()),
            Decision::Wait {
                at,
                wait,
                prev,
                reserved,
            } => {
                Box::pin(self.wait_for_slot(tat, at, wait, prev, reserved)).await;
                self.admitted_after_wait()
            }
            Decision::Refused { retry_after } => Err(self.refused(retry_after)),
        }
    }

    /// Admits a blocking call of cost `n`, sleeping its thread for up to `max_wait`.
    pub(crate) fn admit_blocking_n(&self, tat: &AtomicU64, n: u32) -> Result<(), Rejection> {
        match self.decide_n(tat, n, self.quota().max_wait)? {
            Decision::Now => Ok(()),
            Decision::Wait { wait, .. } => {
                if !crate::lifecycle::sleep_blocking(Duration::from_nanos(self.nanos(wait))) {
                    return Err(self.refused(DRAINED));
                }
                Ok(())
            }
            Decision::Refused { retry_after } => Err(self.refused(retry_after)),
        }
    }

    /// Admits a blocking call, sleeping its thread for up to `max_wait`.
    #[inline]
    pub(crate) fn admit_blocking(&self, tat: &AtomicU64) -> Result<(), Rejection> {
        self.admit_decided(self.decide(tat))
    }

    /// Admits a blocking call [`decide`](Self::decide) has decided, sleeping its
    /// thread until its slot if it has to wait.
    #[inline]
    pub(crate) fn admit_decided(&self, decision: Decision) -> Result<(), Rejection> {
        match decision {
            Decision::Now => Ok(()),
            Decision::Wait { wait, .. } => {
                if !crate::lifecycle::sleep_blocking(Duration::from_nanos(self.nanos(wait))) {
                    return Err(self.refused(DRAINED));
                }
                Ok(())
            }
            Decision::Refused { retry_after } => Err(self.refused(retry_after)),
        }
    }
}

/// The `retry_after` of a refusal that is a drain's: [`Core::refused`] makes it
/// [`Rejection::ShuttingDown`]. (No real wait is this long: waits are capped far below.)
pub(crate) const DRAINED: u64 = u64::MAX - 1;

impl Core {
    /// After a wait for a slot: refused if a drain began meanwhile (it sent the
    /// waiter away).
    #[inline]
    pub(crate) fn admitted_after_wait(&self) -> Result<(), Rejection> {
        if crate::lifecycle::is_draining() {
            Err(self.refused(DRAINED))
        } else {
            Ok(())
        }
    }
}

impl Core {
    /// A wait for a slot that would end past the request's
    /// [deadline](crate::deadline) is not begun: the slot is given back and the call
    /// refused at once, with the exact `retry_after`.
    #[inline(always)]
    fn within_deadline(&self, tat: &AtomicU64, decision: Decision) -> Decision {
        match decision {
            Decision::Wait {
                wait,
                prev,
                reserved,
                ..
            } if crate::deadline::cuts(Duration::from_nanos(self.nanos(wait))) => {
                drop(Reservation::new(tat, prev, reserved));
                Decision::Refused { retry_after: wait }
            }
            decision => decision,
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
    ///
    /// Always inlined: out of line, its answer would come back through memory, stored
    /// in parts and loaded whole by the caller (a store-forwarding stall per call).
    #[inline(always)]
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

    /// Takes `n` slots at once if they are free now, else returns the rejection
    /// (with the exact `retry_after` of `n` slots), never waiting: governor's
    /// `check_n`. A cost of 0 takes nothing; a cost above the burst can never pass
    /// and is refused with `retry_after = Duration::MAX`. One compare-and-swap, as
    /// [`check`](Self::check).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_runtime::rate_limit::{Rate, RateLimiter};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let tokens = RateLimiter::builder("model-tokens")
    ///     .rate(Rate::per_second(10))
    ///     .build()
    ///     .unwrap();
    /// for _ in 0..3 {
    ///     tokens.check_n(3).unwrap();
    /// }
    /// // 9 of the 10 slots are spent: 3 more need 200ms (two intervals of 100ms).
    /// let refused = tokens.check_n(3).unwrap_err();
    /// assert_eq!(refused.retry_after(), Some(Duration::from_millis(200)));
    /// // Never satisfiable: refused at once, and the message says why.
    /// let never = tokens.check_n(50).unwrap_err();
    /// assert_eq!(never.retry_after(), Some(Duration::MAX));
    /// assert!(never.to_string().contains("costs 50 but the burst is 10"));
    /// # }
    /// ```
    #[inline]
    pub fn check_n(&self, n: u32) -> Result<(), Rejection> {
        self.inner.core.check_n(&self.inner.tat.0, n)
    }

    /// Takes `n` slots, waiting up to `max_wait` for them (async, on
    /// `tokio::time`); else returns the rejection at once, as
    /// [`check_n`](Self::check_n) does. Dropped while it waits, it gives the slots
    /// back if no later call reserved some since.
    pub async fn acquire_n(&self, n: u32) -> Result<(), Rejection> {
        #[cfg(feature = "redis")]
        if let Some(store) = &self.inner.core.settings.store {
            let (core, tat) = (&self.inner.core, &self.inner.tat.0);
            return core.store_acquire(&**store, tat, None, n).await;
        }
        self.inner.core.acquire_n(&self.inner.tat.0, n).await
    }

    /// [`call`](Self::call) for a call of cost `n` (what `#[rate_limit(cost = n)]`
    /// calls): runs `future` once `n` slots are taken, see
    /// [`acquire_n`](Self::acquire_n).
    pub async fn call_n<T, E, F>(&self, n: u32, future: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        E: FromRejection,
    {
        match self.acquire_n(n).await {
            Ok(()) => self.inner.core.counted(future.await),
            Err(rejection) => Err(E::from_rejection(rejection)),
        }
    }

    /// The blocking form of [`call_n`](Self::call_n): sleeps the thread up to
    /// `max_wait` for the `n` slots.
    pub fn call_blocking_n<T, E>(&self, n: u32, f: impl FnOnce() -> Result<T, E>) -> Result<T, E>
    where
        E: FromRejection,
    {
        match self.inner.core.admit_blocking_n(&self.inner.tat.0, n) {
            Ok(()) => self.inner.core.counted(f()),
            Err(rejection) => Err(E::from_rejection(rejection)),
        }
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
    /// Deciding through a cluster (feature `redis`).
    #[cfg(feature = "redis")]
    Store(Pin<Box<dyn Future<Output = Result<(), Rejection>> + Send + 'a>>),
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
            #[cfg(feature = "redis")]
            CallState::Store(_) => "deciding",
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

    #[inline(always)]
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
                    let limiter: &'a RateLimiter = this.limiter;
                    let (core, tat) = (&limiter.inner.core, &limiter.inner.tat.0);
                    #[cfg(feature = "redis")]
                    if let Some(store) = &core.settings.store {
                        *this.state =
                            CallState::Store(Box::pin(core.store_acquire(&**store, tat, None, 1)));
                        continue;
                    }
                    *this.state = match core.decide(tat) {
                        // Polled at once: a call that completes in its first poll
                        // writes its state once.
                        Decision::Now => {
                            return match this.future.as_mut().poll(cx) {
                                Poll::Ready(result) => {
                                    // Counted first, as in `Running`.
                                    core.stats.outcome(&result);
                                    *this.state = CallState::Done;
                                    Poll::Ready(result)
                                }
                                Poll::Pending => {
                                    *this.state = CallState::Running;
                                    Poll::Pending
                                }
                            };
                        }
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
                    if let Err(rejection) = this.limiter.inner.core.admitted_after_wait() {
                        *this.state = CallState::Done;
                        return Poll::Ready(Err(E::from_rejection(rejection)));
                    }
                    *this.state = CallState::Running;
                }
                CallState::Done => panic!("`RateLimitedCall` polled after it completed"),
            }
        }
    }
}
