//! The call future: the first copy inline with its timer; the race of later copies
//! boxed, made only when a second copy starts.
//!
//! A call whose first copy answers before the delay (the common case) does what
//! `tokio::time::timeout` does and no more: it polls the copy, arms one timer when it
//! finds the copy pending, counts the success, and drops the timer. The state of a
//! race (the later copies, the last error, how many started) is behind one pointer
//! that stays null until a second copy starts, so the common path neither allocates
//! it nor drops it.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use super::Inner;
use crate::events::EventKind;
use crate::stats::Count;

pin_project! {
    /// The future of [`Hedge::call`](super::Hedge::call).
    #[must_use = "futures do nothing unless polled"]
    #[project = HedgeCallProj]
    pub struct HedgeCall<'a, M, F>
    where
        F: Future,
    {
        inner: &'a Inner,
        copy: M,
        // The first copy, inline: a call that needs no hedge allocates nothing.
        #[pin]
        first: First<F>,
        // Until the next copy starts; armed when a copy is found pending.
        #[pin]
        timer: Option<Sleep>,
        // The delay between copies, read when the first copy starts; `None`: never
        // hedge (a percentile without enough latencies).
        delay: Option<Duration>,
        // When the first copy started (percentile mode only).
        first_started: Option<Instant>,
        // The copies after the first; made when the second copy starts.
        race: RaceSlot<F>,
    }
}

pin_project! {
    /// The first copy: not made until the first poll, dropped once it has answered.
    #[project = FirstProj]
    enum First<F> {
        Unstarted,
        Running { #[pin] copy: F },
        Ended,
    }
}

/// A copy after the first (`None` once it ended), and when it started (percentile
/// mode).
type Later<F> = (Option<Pin<Box<F>>>, Option<Instant>);

/// Where the race is kept once there is one. Its drop checks for a race inline, so
/// a call that never raced pays one comparison, not a call of the race's drop glue.
struct RaceSlot<F: Future>(ManuallyDrop<Option<Box<Race<F>>>>);

impl<F: Future> Drop for RaceSlot<F> {
    #[inline]
    fn drop(&mut self) {
        if self.0.is_some() {
            // SAFETY: the slot is being dropped: nothing reads it after this.
            drop_race(unsafe { ManuallyDrop::take(&mut self.0) });
        }
    }
}

/// Drops a race: out of line, as only calls that raced have one.
#[inline(never)]
fn drop_race<F: Future>(race: Option<Box<Race<F>>>) {
    drop(race);
}

/// A race of several copies: everything the first copy alone does not need.
struct Race<F: Future> {
    /// The copies after the first (each `None` once it ended), with when each started
    /// (percentile mode).
    later: Vec<Later<F>>,
    /// Copies started, the first included.
    started: u32,
    /// Copies running now.
    running: u32,
    /// The last error to arrive.
    last: Option<F::Output>,
}

impl<'a, M, F> HedgeCall<'a, M, F>
where
    F: Future,
{
    #[inline]
    pub(crate) fn new(inner: &'a Inner, copy: M) -> Self {
        HedgeCall {
            inner,
            copy,
            first: First::Unstarted,
            timer: None,
            delay: None,
            first_started: None,
            race: RaceSlot(ManuallyDrop::new(None)),
        }
    }
}

impl<T, E, M, F> Future for HedgeCall<'_, M, F>
where
    M: FnMut() -> F,
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        let mut this = self.project();
        let inner = *this.inner;
        if this.race.0.is_some() {
            return poll_race(this, cx, Entry::Polled);
        }
        if let FirstProj::Unstarted = this.first.as_mut().project() {
            *this.delay = inner.current_delay();
            if inner.latencies.is_some() {
                *this.first_started = Some(Instant::now());
            }
            this.first.set(First::Running {
                copy: (this.copy)(),
            });
            if *this.delay == Some(Duration::ZERO) {
                // `delay = 0`: every copy at once.
                return poll_race(this, cx, Entry::Polled);
            }
        }
        let FirstProj::Running { copy } = this.first.as_mut().project() else {
            // Polled again after it answered: nothing left to run.
            return Poll::Pending;
        };
        match copy.poll(cx) {
            Poll::Ready(Ok(value)) => {
                this.first.set(First::Ended);
                return Poll::Ready(won(inner, *this.first_started, value));
            }
            Poll::Ready(Err(error)) => {
                this.first.set(First::Ended);
                if this.delay.is_none() {
                    // Nothing is hedged: the first copy's error is the call's.
                    inner.stats.add(Count::Failure);
                    return Poll::Ready(Err(error));
                }
                // The next copy starts at once.
                return poll_race(this, cx, Entry::Failed(error));
            }
            Poll::Pending => {}
        }
        let Some(delay) = *this.delay else {
            return Poll::Pending;
        };
        if this.timer.is_none() {
            arm(this.timer.as_mut(), delay);
        }
        let Some(timer) = this.timer.as_mut().as_pin_mut() else {
            return Poll::Pending;
        };
        if timer.poll(cx).is_pending() {
            return Poll::Pending;
        }
        // The delay passed: the second copy starts.
        this.timer.set(None);
        poll_race(this, cx, Entry::Due)
    }
}

/// Arms the timer `delay` from now. Out of line: only a copy found pending gets here.
#[inline(never)]
fn arm(mut timer: Pin<&mut Option<Sleep>>, delay: Duration) {
    timer.set(Some(tokio::time::sleep(delay)));
}

/// How the race is entered.
enum Entry<E> {
    /// A poll: the race exists already, or `delay = 0` starts every copy now.
    Polled,
    /// The first copy failed (and hedging is on): the next copy starts at once.
    Failed(E),
    /// The first copy's delay passed: the second copy starts now.
    Due,
}

/// The race of several copies: every poll once a second copy is due. Out of line and
/// cold: a call whose first copy answers before the delay never comes here.
#[cold]
#[inline(never)]
fn poll_race<T, E, M, F>(
    this: HedgeCallProj<'_, '_, M, F>,
    cx: &mut Context<'_>,
    entry: Entry<E>,
) -> Poll<Result<T, E>>
where
    M: FnMut() -> F,
    F: Future<Output = Result<T, E>>,
{
    let HedgeCallProj {
        inner,
        copy,
        mut first,
        mut timer,
        delay,
        first_started,
        race,
    } = this;
    let (inner, delay, first_started) = (*inner, *delay, *first_started);
    let race = race.0.get_or_insert_with(|| {
        Box::new(Race {
            later: Vec::with_capacity(inner.max_hedges as usize),
            started: 1,
            running: 1,
            last: None,
        })
    });
    let can_start = |race: &Race<F>| delay.is_some() && race.started <= inner.max_hedges;
    match entry {
        Entry::Polled => {}
        Entry::Failed(error) => {
            race.running -= 1;
            race.last = Some(Err(error));
            if can_start(race) {
                start(inner, copy, race);
                timer.set(None);
            } else if race.running == 0 {
                return finish(inner, race);
            }
        }
        Entry::Due => {
            if can_start(race) {
                start(inner, copy, race);
            }
        }
    }
    loop {
        // `delay = 0`: every copy at once.
        if delay == Some(Duration::ZERO) && can_start(race) {
            start(inner, copy, race);
            continue;
        }
        let mut restart = false;
        if let FirstProj::Running { copy: running } = first.as_mut().project() {
            if let Poll::Ready(outcome) = running.poll(cx) {
                first.set(First::Ended);
                race.running -= 1;
                match outcome {
                    Ok(value) => {
                        // Every other copy is dropped now, before returning.
                        race.later.clear();
                        return Poll::Ready(won(inner, first_started, value));
                    }
                    Err(error) => {
                        race.last = Some(Err(error));
                        restart = true;
                    }
                }
            }
        }
        if !restart {
            let mut winner = None;
            for (slot, started_at) in race.later.iter_mut() {
                let Some(running) = slot.as_mut() else {
                    continue;
                };
                if let Poll::Ready(outcome) = running.as_mut().poll(cx) {
                    *slot = None;
                    race.running -= 1;
                    match outcome {
                        Ok(value) => {
                            winner = Some((value, *started_at));
                            break;
                        }
                        Err(error) => {
                            race.last = Some(Err(error));
                            restart = true;
                            break;
                        }
                    }
                }
            }
            if let Some((value, started_at)) = winner {
                // Every other copy is dropped now, before returning.
                first.set(First::Ended);
                race.later.clear();
                return Poll::Ready(won(inner, started_at, value));
            }
        }
        let more = can_start(race);
        if restart {
            // An error: the next copy starts at once.
            if more {
                start(inner, copy, race);
                timer.set(None);
                continue;
            }
            if race.running == 0 {
                return finish(inner, race);
            }
            continue;
        }
        if race.running == 0 && !more {
            return finish(inner, race);
        }
        let Some(delay) = delay else {
            return Poll::Pending;
        };
        if !more {
            return Poll::Pending;
        }
        if timer.is_none() {
            arm(timer.as_mut(), delay);
        }
        let Some(sleep) = timer.as_mut().as_pin_mut() else {
            return Poll::Pending;
        };
        if sleep.poll(cx).is_pending() {
            return Poll::Pending;
        }
        start(inner, copy, race);
        timer.set(None);
    }
}

/// Every copy failed and no more may start: the last error, counted.
fn finish<T, E, F: Future<Output = Result<T, E>>>(
    inner: &Inner,
    race: &mut Race<F>,
) -> Poll<Result<T, E>> {
    match race.last.take() {
        Some(outcome) => {
            inner.stats.outcome(&outcome);
            Poll::Ready(outcome)
        }
        // Not reached: a copy that ended without an `Ok` left its error here.
        None => Poll::Pending,
    }
}

/// Starts the next copy.
fn start<M: FnMut() -> F, F: Future>(inner: &Inner, copy: &mut M, race: &mut Race<F>) {
    let at = inner.latencies.is_some().then(Instant::now);
    race.later.push((Some(Box::pin(copy())), at));
    let number = race.started;
    race.started += 1;
    race.running += 1;
    inner.stats.add(Count::Extra1);
    inner.stats.emit(|| EventKind::Hedged { copy: number });
}

/// The first `Ok`: counted, and its latency recorded (percentile mode only).
#[inline(always)]
fn won<T, E>(inner: &Inner, started_at: Option<Instant>, value: T) -> Result<T, E> {
    inner.stats.add(Count::Success);
    if let Some(at) = started_at {
        record(inner, at);
    }
    Ok(value)
}

/// Records a winner's latency into the percentile's histogram.
#[inline(never)]
fn record(inner: &Inner, started_at: Instant) {
    if let Some(latencies) = &inner.latencies {
        latencies.record(started_at.elapsed());
    }
}

impl<M, F: Future> std::fmt::Debug for HedgeCall<'_, M, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (started, running) = match &*self.race.0 {
            Some(race) => (race.started, race.running),
            None => match self.first {
                First::Unstarted => (0, 0),
                First::Running { .. } => (1, 1),
                First::Ended => (1, 0),
            },
        };
        f.debug_struct("HedgeCall")
            .field("started", &started)
            .field("running", &running)
            .finish_non_exhaustive()
    }
}
