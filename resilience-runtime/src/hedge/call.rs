//! The call future: the first copy inline, the later ones boxed, one timer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use super::Inner;
use crate::events::EventKind;
use crate::stats::Count;

/// The copies after the first (taken out when they end), each with when it started
/// (percentile mode).
type Later<F> = Vec<(Option<Pin<Box<F>>>, Option<Instant>)>;

pin_project! {
    /// The future of [`Hedge::call`](super::Hedge::call).
    #[must_use = "futures do nothing unless polled"]
    pub struct HedgeCall<'a, M, F>
    where
        F: Future,
    {
        inner: &'a Inner,
        copy: M,
        // The first copy, inline: a call that needs no hedge allocates nothing.
        #[pin]
        first: Option<F>,
        // Until the next copy starts; made when a copy is found pending.
        #[pin]
        timer: Option<Sleep>,
        // The copies after the first, and when each started (percentile mode).
        later: Later<F>,
        first_started: Option<Instant>,
        // `None`: never hedge (a percentile without enough latencies).
        delay: Option<Duration>,
        started: u32,
        running: u32,
        begun: bool,
        last: Option<F::Output>,
    }
}

impl<'a, M, F> HedgeCall<'a, M, F>
where
    F: Future,
{
    pub(crate) fn new(inner: &'a Inner, copy: M) -> Self {
        HedgeCall {
            inner,
            copy,
            first: None,
            timer: None,
            later: Vec::new(),
            first_started: None,
            delay: None,
            started: 0,
            running: 0,
            begun: false,
            last: None,
        }
    }
}

impl<T, E, M, F> Future for HedgeCall<'_, M, F>
where
    M: FnMut() -> F,
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        let mut this = self.project();
        let inner = *this.inner;
        let timed = inner.latencies.is_some();
        if !*this.begun {
            *this.begun = true;
            *this.delay = inner.current_delay();
            if timed {
                *this.first_started = Some(Instant::now());
            }
            this.first.set(Some((this.copy)()));
            *this.started = 1;
            *this.running = 1;
        }
        let can_start =
            |started: u32, delay: Option<Duration>| delay.is_some() && started <= inner.max_hedges;
        loop {
            // `delay = 0`: every copy at once.
            if *this.delay == Some(Duration::ZERO) && can_start(*this.started, *this.delay) {
                start(
                    inner,
                    this.copy,
                    this.later,
                    this.started,
                    this.running,
                    timed,
                );
                continue;
            }
            let mut restart = false;
            if let Some(first) = this.first.as_mut().as_pin_mut() {
                if let Poll::Ready(outcome) = first.poll(cx) {
                    this.first.set(None);
                    *this.running -= 1;
                    match outcome {
                        Ok(value) => {
                            // Every other copy is dropped now, before returning.
                            this.later.clear();
                            return Poll::Ready(won(inner, *this.first_started, value));
                        }
                        Err(error) => {
                            *this.last = Some(Err(error));
                            restart = true;
                        }
                    }
                }
            }
            if !restart {
                let mut winner = None;
                for (slot, started_at) in this.later.iter_mut() {
                    let Some(copy) = slot.as_mut() else {
                        continue;
                    };
                    if let Poll::Ready(outcome) = copy.as_mut().poll(cx) {
                        *slot = None;
                        *this.running -= 1;
                        match outcome {
                            Ok(value) => {
                                winner = Some((value, *started_at));
                                break;
                            }
                            Err(error) => {
                                *this.last = Some(Err(error));
                                restart = true;
                                break;
                            }
                        }
                    }
                }
                if let Some((value, started_at)) = winner {
                    // Every other copy is dropped now, before returning.
                    this.first.set(None);
                    this.later.clear();
                    return Poll::Ready(won(inner, started_at, value));
                }
            }
            let more = can_start(*this.started, *this.delay);
            if restart {
                // An error: the next copy starts at once.
                if more {
                    start(
                        inner,
                        this.copy,
                        this.later,
                        this.started,
                        this.running,
                        timed,
                    );
                    this.timer.set(None);
                    continue;
                }
                if *this.running == 0 {
                    break;
                }
                continue;
            }
            if *this.running == 0 && !more {
                break;
            }
            let Some(delay) = *this.delay else {
                return Poll::Pending;
            };
            if !more {
                return Poll::Pending;
            }
            if this.timer.as_mut().as_pin_mut().is_none() {
                this.timer.set(Some(tokio::time::sleep(delay)));
            }
            let Some(timer) = this.timer.as_mut().as_pin_mut() else {
                return Poll::Pending;
            };
            if timer.poll(cx).is_pending() {
                return Poll::Pending;
            }
            start(
                inner,
                this.copy,
                this.later,
                this.started,
                this.running,
                timed,
            );
            this.timer.set(None);
        }
        let outcome = this
            .last
            .take()
            .unwrap_or_else(|| unreachable!("every copy failed, so there is an error"));
        inner.stats.outcome(&outcome);
        Poll::Ready(outcome)
    }
}

/// Starts the next copy.
#[cold]
fn start<M: FnMut() -> F, F>(
    inner: &Inner,
    copy: &mut M,
    later: &mut Later<F>,
    started: &mut u32,
    running: &mut u32,
    timed: bool,
) {
    if later.capacity() == 0 {
        later.reserve_exact(inner.max_hedges as usize);
    }
    let at = timed.then(Instant::now);
    later.push((Some(Box::pin(copy())), at));
    let number = *started;
    *started += 1;
    *running += 1;
    inner.stats.add(Count::Extra1);
    inner.stats.emit(|| EventKind::Hedged { copy: number });
}

/// The first `Ok`: counted, and its latency recorded (percentile mode).
#[inline]
fn won<T, E>(inner: &Inner, started_at: Option<Instant>, value: T) -> Result<T, E> {
    inner.stats.add(Count::Success);
    if let (Some(latencies), Some(at)) = (&inner.latencies, started_at) {
        latencies.record(at.elapsed());
    }
    Ok(value)
}

impl<M, F: Future> std::fmt::Debug for HedgeCall<'_, M, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HedgeCall")
            .field("started", &self.started)
            .field("running", &self.running)
            .finish_non_exhaustive()
    }
}
