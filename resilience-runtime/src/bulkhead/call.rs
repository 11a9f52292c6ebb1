//! The call path: admission (fast, queued, blocking), the permit, and running the body.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::Instant;

use super::state::{Enqueued, Left, Polled, Slots, Snapshot};
use super::{Bulkhead, Inner};
use crate::events::EventKind;
use crate::rejection::{FromRejection, Rejection};
use crate::stats::Count;

/// A slot in a [`Bulkhead`], held while a call runs and given back when dropped, so a
/// cancelled or panicking call cannot keep it.
///
/// For an adaptive bulkhead the permit is also one latency sample: the time from
/// admission to drop, counted as a success unless [`failed`](Self::failed) was called
/// or the thread is panicking.
#[must_use = "the slot is given back as soon as the permit is dropped"]
pub struct BulkheadPermit<'a> {
    inner: &'a Inner,
    /// Admission time, for adaptive bulkheads only.
    start: Option<Instant>,
    outcome: Outcome,
}

/// What a permit reports to an adaptive limit when dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Held by hand: a success unless the thread is panicking (or [`failed`] is called).
    ///
    /// [`failed`]: BulkheadPermit::failed
    Held,
    Success,
    Failure,
    /// Unknown (a cancelled call): no sample, unless the thread is panicking (a
    /// failure then).
    Ignore,
}

impl<'a> BulkheadPermit<'a> {
    #[inline]
    fn new(inner: &'a Inner) -> Self {
        BulkheadPermit {
            inner,
            start: inner.adaptive.as_ref().map(|_| Instant::now()),
            outcome: Outcome::Held,
        }
    }

    /// The permit of a call whose outcome is not known yet: dropped as is (the call
    /// was cancelled), it is no sample for an adaptive limit.
    #[inline]
    fn for_call(mut self) -> Self {
        self.outcome = Outcome::Ignore;
        self
    }

    /// Gives the slot back, reporting a failed call to an adaptive limit (which lowers
    /// it). Same as dropping the permit for a fixed limit.
    pub fn failed(mut self) {
        self.outcome = Outcome::Failure;
    }

    /// The bulkhead's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }
}

impl Drop for BulkheadPermit<'_> {
    #[inline]
    fn drop(&mut self) {
        // A call's outcome, once known, stands; the thread's panicking state is read
        // only for a permit whose outcome is not (held by hand, or cancelled).
        let ok = match self.outcome {
            Outcome::Success => Some(true),
            Outcome::Failure => Some(false),
            Outcome::Held => Some(!std::thread::panicking()),
            Outcome::Ignore => std::thread::panicking().then_some(false),
        };
        if let (Some(adaptive), Some(start), Some(ok)) = (&self.inner.adaptive, self.start, ok) {
            let in_flight = self.inner.slots.snapshot().in_flight();
            let inner = self.inner;
            adaptive.sample(&inner.slots, &inner.stats, start.elapsed(), ok, in_flight);
        }
        match ok {
            Some(true) => self.inner.stats.add(Count::Success),
            Some(false) => self.inner.stats.add(Count::Failure),
            None => {} // cancelled: neither
        }
        self.inner.slots.release();
    }
}

impl std::fmt::Debug for BulkheadPermit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkheadPermit")
            .field("bulkhead", &self.inner.name)
            .finish_non_exhaustive()
    }
}

impl Bulkhead {
    /// Runs `future` in a slot: at once if one is free and nobody waits, else after
    /// waiting up to `max_wait` in line (first come, first served), else returns
    /// [`Rejection::BulkheadFull`] without polling `future` (or
    /// [`Rejection::ShuttingDown`] once [`close`](Self::close)d).
    ///
    /// The slot is taken when the returned future is first polled and held until
    /// `future` completes or is dropped, and given back even if it panics. With a free
    /// slot this takes one compare-and-swap and gives it back with one atomic
    /// subtraction: no lock, no allocation (a call that has to wait allocates its
    /// place in line).
    pub fn call<T, E, F>(&self, future: F) -> BulkheadCall<'_, F>
    where
        F: Future<Output = Result<T, E>>,
        E: FromRejection,
    {
        BulkheadCall {
            future,
            bulkhead: self,
            state: CallState::Start,
        }
    }

    /// The blocking form of [`call`](Self::call), for plain functions: a call that
    /// finds every slot taken blocks its thread (parked, in the same first-come,
    /// first-served line as async callers) for up to `max_wait`, measured with
    /// `std::time` since a blocked thread cannot see a paused `tokio` clock.
    pub fn call_blocking<T, E>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E>
    where
        E: FromRejection,
    {
        let mut permit = match self.try_acquire_fast() {
            Some(permit) => permit,
            None => match self.acquire_blocking() {
                Ok(permit) => permit,
                Err(rejection) => return Err(E::from_rejection(rejection)),
            },
        };
        permit.outcome = Outcome::Ignore;
        let result = f();
        permit.outcome = if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        result
    }

    /// A slot if one is free now (and nobody is waiting for one), else the rejection a
    /// call would get; never waits.
    pub fn try_acquire(&self) -> Result<BulkheadPermit<'_>, Rejection> {
        if let Some(permit) = self.try_acquire_fast() {
            return Ok(permit);
        }
        if crate::lifecycle::is_draining() {
            return Err(self.shutting_down());
        }
        match self.inner.slots.acquire_or_enqueue(false, None) {
            Enqueued::Acquired => Ok(BulkheadPermit::new(&self.inner)),
            Enqueued::Full(s) => Err(self.refuse(s, Duration::ZERO)),
            Enqueued::Closed => Err(self.shutting_down()),
            Enqueued::Queued(_) => unreachable!("queued without permission to wait"),
        }
    }

    /// A slot, waiting for one up to `max_wait` as [`call`](Self::call) does.
    /// Dropping the returned future while it waits leaves the line without costing
    /// anyone else their turn.
    pub async fn acquire(&self) -> Result<BulkheadPermit<'_>, Rejection> {
        match self.try_acquire_fast() {
            Some(permit) => Ok(permit),
            None => self.acquire_slow().await,
        }
    }

    /// A free slot without the lock; `None` sends the call to the slow path (which
    /// refuses it while draining).
    #[inline]
    fn try_acquire_fast(&self) -> Option<BulkheadPermit<'_>> {
        if !crate::lifecycle::is_draining() && self.inner.slots.try_acquire() {
            Some(BulkheadPermit::new(&self.inner))
        } else {
            None
        }
    }

    #[cold]
    async fn acquire_slow(&self) -> Result<BulkheadPermit<'_>, Rejection> {
        if crate::lifecycle::is_draining() {
            return Err(self.shutting_down());
        }
        let inner = &*self.inner;
        let max_wait = inner.wait();
        // A wait that could end past the request's deadline is not begun.
        let cut = !max_wait.is_zero() && crate::deadline::cuts(max_wait);
        let node = match inner
            .slots
            .acquire_or_enqueue(!max_wait.is_zero() && !cut, None)
        {
            Enqueued::Acquired => return Ok(BulkheadPermit::new(inner)),
            Enqueued::Full(s) => return Err(self.refuse(s, cut_by_deadline(cut))),
            Enqueued::Closed => return Err(self.shutting_down()),
            Enqueued::Queued(node) => node,
        };
        let mut waiter = Waiter {
            slots: &inner.slots,
            node: Some(node),
        };
        // No timer for a wait without limit (`Duration::MAX`, or past the clock's end).
        let deadline = (max_wait != Duration::MAX)
            .then(|| Instant::now().checked_add(max_wait))
            .flatten();
        // A drain sends waiters away.
        let mut drained = std::pin::pin!(crate::lifecycle::began());
        let mut sleep = std::pin::pin!(deadline.map(tokio::time::sleep_until));
        let granted = std::future::poll_fn(|cx| {
            if let Poll::Ready(granted) = Pin::new(&mut waiter).poll(cx) {
                return Poll::Ready(Some(granted));
            }
            if drained.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Some(false));
            }
            match sleep.as_mut().as_pin_mut() {
                Some(sleep) => sleep.poll(cx).map(|()| None),
                None => Poll::Pending,
            }
        })
        .await;
        match granted {
            Some(true) => Ok(BulkheadPermit::new(inner)),
            Some(false) => {
                if waiter.node.is_some() {
                    // Sent away by a drain: leave the line (a slot handed over in
                    // that instant goes back).
                    if let Left::Granted = waiter.leave() {
                        inner.slots.release();
                    }
                }
                Err(self.shutting_down())
            }
            None => match waiter.leave() {
                Left::Waiting(s) => Err(self.refuse(s, max_wait)),
                Left::Granted => Ok(BulkheadPermit::new(inner)),
                Left::Closed => Err(self.shutting_down()),
            },
        }
    }

    #[cold]
    fn acquire_blocking(&self) -> Result<BulkheadPermit<'_>, Rejection> {
        if crate::lifecycle::is_draining() {
            return Err(self.shutting_down());
        }
        let inner = &*self.inner;
        let max_wait = inner.wait();
        let cut = !max_wait.is_zero() && crate::deadline::cuts(max_wait);
        let waker = (!max_wait.is_zero() && !cut)
            .then(|| Waker::from(std::sync::Arc::new(ThreadWaker(std::thread::current()))));
        let node = match inner.slots.acquire_or_enqueue(waker.is_some(), waker) {
            Enqueued::Acquired => return Ok(BulkheadPermit::new(inner)),
            Enqueued::Full(s) => return Err(self.refuse(s, cut_by_deadline(cut))),
            Enqueued::Closed => return Err(self.shutting_down()),
            Enqueued::Queued(node) => node,
        };
        let deadline = std::time::Instant::now().checked_add(max_wait);
        // Unparked when a drain begins.
        let _blocked = crate::lifecycle::Blocked::register();
        loop {
            match inner.slots.poll_node(node, None) {
                Polled::Granted => return Ok(BulkheadPermit::new(inner)),
                Polled::Closed => return Err(self.shutting_down()),
                Polled::Pending => {}
            }
            if crate::lifecycle::is_draining() {
                if let Left::Granted = inner.slots.leave(node) {
                    inner.slots.release();
                }
                return Err(self.shutting_down());
            }
            match deadline {
                None => std::thread::park(),
                Some(deadline) => {
                    let now = std::time::Instant::now();
                    if now >= deadline {
                        return match inner.slots.leave(node) {
                            Left::Waiting(s) => Err(self.refuse(s, max_wait)),
                            Left::Granted => Ok(BulkheadPermit::new(inner)),
                            Left::Closed => Err(self.shutting_down()),
                        };
                    }
                    std::thread::park_timeout(deadline - now);
                }
            }
        }
    }

    /// The rejection for a call refused while the state was `s`, after waiting
    /// `waited`; remembered for the rejection's message.
    #[cold]
    fn refuse(&self, s: Snapshot, waited: Duration) -> Rejection {
        crate::rejection::explain_with(crate::rejection::Source::Bulkhead, super::full_detail);
        let inner = &*self.inner;
        let limit = inner.slots.limit();
        inner.record_refusal(s, limit, waited);
        self.rejected(Rejection::BulkheadFull {
            name: inner.name.clone(),
            max_concurrent: limit,
        })
    }

    #[cold]
    fn shutting_down(&self) -> Rejection {
        self.rejected(Rejection::ShuttingDown {
            name: self.inner.name.clone(),
        })
    }

    /// Counts and tells of a refusal.
    fn rejected(&self, rejection: Rejection) -> Rejection {
        let stats = &self.inner.stats;
        stats.add(Count::Rejected);
        stats.emit(|| EventKind::Rejected {
            rejection: rejection.clone(),
        });
        rejection
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Bulkhead::call`]: takes a slot, then runs the call's future in
    /// it.
    #[must_use = "futures do nothing unless polled"]
    pub struct BulkheadCall<'a, F> {
        // Dropped first: a cancelled call's future is gone before its slot is freed.
        #[pin]
        future: F,
        bulkhead: &'a Bulkhead,
        state: CallState<'a>,
    }
}

/// Where a [`BulkheadCall`] is.
enum CallState<'a> {
    /// Not polled yet.
    Start,
    /// In line for a slot (boxed: the timer and the queue's node would otherwise make
    /// every call's future several times larger).
    Waiting(Pin<Box<dyn Future<Output = Result<BulkheadPermit<'a>, Rejection>> + Send + 'a>>),
    /// Holding a slot, running the call.
    Running(BulkheadPermit<'a>),
    /// Finished.
    Done,
}

impl<F> std::fmt::Debug for BulkheadCall<'_, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            CallState::Start => "start",
            CallState::Waiting(_) => "waiting",
            CallState::Running(_) => "running",
            CallState::Done => "done",
        };
        f.debug_struct("BulkheadCall")
            .field("bulkhead", &self.bulkhead.name())
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl<'a, T, E, F> Future for BulkheadCall<'a, F>
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
                CallState::Running(permit) => {
                    let Poll::Ready(result) = this.future.as_mut().poll(cx) else {
                        return Poll::Pending;
                    };
                    permit.outcome = if result.is_ok() {
                        Outcome::Success
                    } else {
                        Outcome::Failure
                    };
                    *this.state = CallState::Done;
                    return Poll::Ready(result);
                }
                CallState::Start => {
                    let bulkhead: &'a Bulkhead = this.bulkhead;
                    let Some(permit) = bulkhead.try_acquire_fast() else {
                        *this.state = CallState::Waiting(Box::pin(bulkhead.acquire_slow()));
                        continue;
                    };
                    // Polled at once, the slot held here: a call that completes in
                    // its first poll never stores its permit (an unwinding poll drops
                    // it here, a failure).
                    let mut permit = permit.for_call();
                    return match this.future.as_mut().poll(cx) {
                        Poll::Ready(result) => {
                            permit.outcome = if result.is_ok() {
                                Outcome::Success
                            } else {
                                Outcome::Failure
                            };
                            *this.state = CallState::Done;
                            Poll::Ready(result)
                        }
                        Poll::Pending => {
                            *this.state = CallState::Running(permit);
                            Poll::Pending
                        }
                    };
                }
                CallState::Waiting(waiting) => match waiting.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(permit)) => *this.state = CallState::Running(permit.for_call()),
                    Poll::Ready(Err(rejection)) => {
                        *this.state = CallState::Done;
                        return Poll::Ready(Err(E::from_rejection(rejection)));
                    }
                },
                CallState::Done => panic!("`BulkheadCall` polled after it completed"),
            }
        }
    }
}

/// A queued waiter, as a future: `true` when a slot was handed over, `false` when the
/// bulkhead closed. Dropped while queued, it leaves the queue; dropped after a slot
/// was handed over but before it was collected, it passes the slot on.
struct Waiter<'a> {
    slots: &'a Slots,
    /// `None` once the node is freed.
    node: Option<u32>,
}

impl Waiter<'_> {
    /// Leaves the queue now (the wait timed out).
    fn leave(&mut self) -> Left {
        match self.node.take() {
            Some(node) => self.slots.leave(node),
            None => unreachable!("bulkhead waiter left twice"),
        }
    }
}

impl Future for Waiter<'_> {
    type Output = bool;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let Some(node) = self.node else {
            unreachable!("bulkhead waiter polled after completion");
        };
        let polled = self.slots.poll_node(node, Some(cx.waker()));
        match polled {
            Polled::Pending => Poll::Pending,
            Polled::Granted => {
                self.node = None;
                Poll::Ready(true)
            }
            Polled::Closed => {
                self.node = None;
                Poll::Ready(false)
            }
        }
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            if let Left::Granted = self.slots.leave(node) {
                self.slots.release();
            }
        }
    }
}

/// What a refusal without waiting records as its wait: [`Duration::MAX`] (a wait no
/// refusal can have had) when the request's deadline cut the wait, else zero.
fn cut_by_deadline(cut: bool) -> Duration {
    if cut { Duration::MAX } else { Duration::ZERO }
}

/// Wakes a thread blocked in [`Bulkhead::call_blocking`].
struct ThreadWaker(std::thread::Thread);

impl std::task::Wake for ThreadWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.unpark();
    }
}
