//! One running body that other calls wait for: the shared service behind `#[cache]`'s
//! one-body-per-key and `#[coalesce]`.
//!
//! A [`Flight`] is made by the call that runs the body (its *leader*) and found by the
//! calls that arrive while it runs (its *waiters*), through a policy's keyed map. The
//! leader ends it with [`Lead::finish`] (a value every waiter receives a clone of, or
//! none: "run your own body"); a leader that is dropped first (its call cancelled, or
//! its body panicked) ends it as the policy chose when it began:
//!
//! - [`OnDrop::Release`] (cache): every waiter is told to run its own body;
//! - [`OnDrop::HandOver`] (coalesce): the first waiter to see it takes the lead and runs
//!   its body for the others, so no waiter is left waiting for a body nobody runs.
//!
//! Waiters are async ([`Flight::wait`], woken through their wakers) or blocking
//! ([`Flight::wait_blocking`], on a condition variable). A waiter that is dropped takes
//! its waker out; a flight is freed with its last `Arc`.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// A body's outcome as every waiter receives it: type-erased, since the keyed map that
/// holds flights cannot name the function's types.
pub(crate) type Shared = Arc<dyn Any + Send + Sync>;

/// What a leader dropped before finishing leaves its waiters to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnDrop {
    /// Each runs its own body.
    Release,
    /// One takes the lead.
    HandOver,
}

/// One running body, and the calls waiting for it.
pub(crate) struct Flight {
    state: Mutex<State>,
    ready: Condvar,
    on_drop: OnDrop,
}

struct State {
    phase: Phase,
    /// Async waiters; a slot is `None` once its waiter has gone.
    wakers: Vec<Option<Waker>>,
}

enum Phase {
    Running,
    /// The leader was dropped and nobody has taken the lead yet (`HandOver`).
    Leaderless,
    Done(Option<Shared>),
}

/// What a waiter is told.
pub(crate) enum Waited {
    /// The leader's value.
    Value(Shared),
    /// Run your own body (the leader failed, or was dropped: `Release`).
    RunYourself,
    /// The leader was dropped: you lead now (`HandOver`); finish the returned [`Lead`].
    Lead(Lead),
}

impl Flight {
    /// A flight whose leader is the caller.
    pub(crate) fn start(on_drop: OnDrop) -> (Arc<Flight>, Lead) {
        let flight = Arc::new(Flight {
            state: Mutex::new(State {
                phase: Phase::Running,
                wakers: Vec::new(),
            }),
            ready: Condvar::new(),
            on_drop,
        });
        let lead = Lead {
            flight: Some(Arc::clone(&flight)),
        };
        (flight, lead)
    }

    /// True once the flight has ended (a later caller should not wait for it).
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.lock().phase, Phase::Done(_))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits (async) for the flight to end.
    pub(crate) fn wait(self: Arc<Self>) -> Wait {
        Wait {
            flight: self,
            slot: None,
        }
    }

    /// Waits (blocking the thread) for the flight to end.
    pub(crate) fn wait_blocking(self: Arc<Self>) -> Waited {
        let mut state = self.lock();
        loop {
            if let Some(waited) = self.take(&mut state) {
                return waited;
            }
            state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// What a waiter that looks now is told, if the flight has ended or lost its leader.
    fn take(self: &Arc<Self>, state: &mut State) -> Option<Waited> {
        match &state.phase {
            Phase::Running => None,
            Phase::Done(Some(value)) => Some(Waited::Value(Arc::clone(value))),
            Phase::Done(None) => Some(Waited::RunYourself),
            Phase::Leaderless => {
                state.phase = Phase::Running;
                Some(Waited::Lead(Lead {
                    flight: Some(Arc::clone(self)),
                }))
            }
        }
    }

    /// Moves to `phase` and wakes every waiter.
    fn end(&self, phase: Phase) {
        let wakers = {
            let mut state = self.lock();
            state.phase = phase;
            std::mem::take(&mut state.wakers)
        };
        self.ready.notify_all();
        for waker in wakers.into_iter().flatten() {
            waker.wake();
        }
    }
}

/// The leader's duty to end its flight. Dropped unfinished, it ends the flight as
/// [`OnDrop`] says.
pub(crate) struct Lead {
    flight: Option<Arc<Flight>>,
}

impl Lead {
    /// Ends the flight: each waiter receives `value`, or runs its own body if `None`.
    pub(crate) fn finish(mut self, value: Option<Shared>) {
        if let Some(flight) = self.flight.take() {
            flight.end(Phase::Done(value));
        }
    }

    /// The flight this leads.
    pub(crate) fn flight(&self) -> Option<&Arc<Flight>> {
        self.flight.as_ref()
    }
}

impl Drop for Lead {
    fn drop(&mut self) {
        if let Some(flight) = self.flight.take() {
            let phase = match flight.on_drop {
                OnDrop::Release => Phase::Done(None),
                OnDrop::HandOver => Phase::Leaderless,
            };
            flight.end(phase);
        }
    }
}

/// The future of [`Flight::wait`].
pub(crate) struct Wait {
    flight: Arc<Flight>,
    /// This waiter's place among the wakers, once it has one.
    slot: Option<usize>,
}

impl Future for Wait {
    type Output = Waited;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Waited> {
        let this = &mut *self;
        let mut state = this.flight.lock();
        if let Some(waited) = this.flight.take(&mut state) {
            drop(state);
            this.slot = None;
            return Poll::Ready(waited);
        }
        match this.slot.and_then(|i| state.wakers.get_mut(i)) {
            Some(Some(waker)) => waker.clone_from(cx.waker()),
            _ => {
                this.slot = Some(state.wakers.len());
                state.wakers.push(Some(cx.waker().clone()));
            }
        }
        Poll::Pending
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            let mut state = self.flight.lock();
            if let Some(slot) = state.wakers.get_mut(i) {
                *slot = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_receive_the_value() {
        let (flight, lead) = Flight::start(OnDrop::Release);
        let waiter = tokio::spawn(Arc::clone(&flight).wait());
        tokio::task::yield_now().await;
        lead.finish(Some(Arc::new(7u32)));
        match waiter.await.unwrap() {
            Waited::Value(v) => assert_eq!(v.downcast_ref::<u32>(), Some(&7)),
            _ => panic!("expected the value"),
        }
        assert!(flight.is_done());
    }

    #[tokio::test]
    async fn a_dropped_leader_hands_over_to_one_waiter() {
        let (flight, lead) = Flight::start(OnDrop::HandOver);
        let mut first = Box::pin(Arc::clone(&flight).wait());
        let mut second = Box::pin(Arc::clone(&flight).wait());
        let waker = futures_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(first.as_mut().poll(&mut cx).is_pending());
        assert!(second.as_mut().poll(&mut cx).is_pending());
        drop(lead);
        let Poll::Ready(Waited::Lead(new_lead)) = first.as_mut().poll(&mut cx) else {
            panic!("the first waiter leads");
        };
        assert!(
            second.as_mut().poll(&mut cx).is_pending(),
            "one leader only"
        );
        new_lead.finish(Some(Arc::new(1u8)));
        assert!(matches!(
            second.as_mut().poll(&mut cx),
            Poll::Ready(Waited::Value(_))
        ));
    }

    #[test]
    fn a_dropped_leader_releases_blocking_waiters() {
        let (flight, lead) = Flight::start(OnDrop::Release);
        let waiter =
            std::thread::spawn(move || matches!(flight.wait_blocking(), Waited::RunYourself));
        std::thread::sleep(std::time::Duration::from_millis(2));
        drop(lead);
        assert!(waiter.join().unwrap());
    }

    #[test]
    fn a_dropped_waiter_leaves_no_waker() {
        let (flight, _lead) = Flight::start(OnDrop::Release);
        let waker = futures_waker();
        let mut cx = Context::from_waker(&waker);
        let mut wait = Box::pin(Arc::clone(&flight).wait());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        drop(wait);
        assert!(flight.lock().wakers.iter().all(Option::is_none));
    }

    fn futures_waker() -> Waker {
        Waker::noop().clone()
    }
}
