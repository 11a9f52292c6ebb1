//! Timeout: give up on a call that takes too long, dropping its future.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use crate::events::{EventKind, PolicyKind};
use crate::rejection::{FromRejection, Rejection};
use crate::stats::{Count, Stats};

/// A time limit on an async call. When the limit passes first, the call's future is
/// dropped (cancelling it at its current `.await`) and the call returns
/// [`Rejection::Timeout`].
///
/// The limit is measured with `tokio::time`, so `tokio::time::pause()` drives it. It
/// runs from the end of the call's first poll: a call that completes in that poll
/// reads no clock and arms no timer (most of what a timeout costs), and the time a
/// first poll spends blocking the thread, which no timer could interrupt anyway, is
/// not counted (`tokio::time::timeout` and tower's `Timeout` start their timer when
/// made; for a call awaited at once the two are the same).
///
/// ```
/// use std::time::Duration;
/// use resilience_runtime::{Rejection, Timeout};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let limit = Timeout::new("slow-backend", Duration::from_millis(100));
/// let result: Result<(), Rejection> = limit
///     .call(async {
///         tokio::time::sleep(Duration::from_secs(1)).await;
///         Ok(())
///     })
///     .await;
/// assert!(matches!(result, Err(Rejection::Timeout { .. })));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Timeout {
    stats: &'static Stats,
    after: Duration,
}

impl Timeout {
    /// A limit of `after` named `name` (the name appears in the rejection).
    pub fn new(name: impl Into<Cow<'static, str>>, after: Duration) -> Self {
        Timeout {
            stats: crate::stats::register(PolicyKind::Timeout, name.into()),
            after,
        }
    }

    /// The name given in rejections.
    pub fn name(&self) -> &str {
        &self.stats.name
    }

    /// The time limit.
    pub fn after(&self) -> Duration {
        #[cfg(feature = "config")]
        return self.stats.live.after(self.after);
        #[cfg(not(feature = "config"))]
        self.after
    }

    /// Runs `future` to completion unless the limit passes first.
    pub fn call<T, E, F>(&self, future: F) -> TimeoutCall<'_, F>
    where
        F: Future<Output = Result<T, E>>,
        E: FromRejection,
    {
        TimeoutCall::new(self.stats, self.after, future)
    }
}

pin_project! {
    /// The future of [`Timeout::call`]: the call's future raced against the limit.
    ///
    /// The timer is armed only when the call's first poll leaves it pending: a call
    /// that completes in its first poll reads no clock and registers no timer (as
    /// most fast calls do, and the timer is most of what a timeout costs). The limit
    /// then runs from the end of that first poll.
    #[must_use = "futures do nothing unless polled"]
    pub struct TimeoutCall<'a, F> {
        #[pin]
        future: F,
        #[pin]
        timer: Timer,
        // Counts the outcome, and names the rejection.
        stats: &'a Stats,
        // The limit; once the timer is armed, the limit in force (a deadline may
        // have shortened it).
        after: Duration,
        // Made while draining: refused without polling the call.
        refused: bool,
    }
}

pin_project! {
    /// The timer of a [`TimeoutCall`], armed on its first pending poll.
    #[project = TimerProj]
    enum Timer {
        Unarmed,
        Armed {
            #[pin]
            sleep: tokio::time::Sleep,
        },
    }
}

impl<'a, F: Future> TimeoutCall<'a, F> {
    #[inline]
    pub(crate) fn new(stats: &'a Stats, after: Duration, future: F) -> Self {
        TimeoutCall {
            future,
            timer: Timer::Unarmed,
            stats,
            after,
            refused: crate::lifecycle::is_draining(),
        }
    }
}

impl<T, E, F> Future for TimeoutCall<'_, F>
where
    F: Future<Output = Result<T, E>>,
    E: FromRejection,
{
    type Output = Result<T, E>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        let mut this = self.project();
        if *this.refused {
            return Poll::Ready(Err(E::from_rejection(crate::lifecycle::refuse(this.stats))));
        }
        // The call first, as `tokio::time::timeout` does: an answer ready at the
        // limit's instant wins.
        if let Poll::Ready(result) = this.future.poll(cx) {
            this.stats.outcome(&result);
            return Poll::Ready(result);
        }
        loop {
            match this.timer.as_mut().project() {
                TimerProj::Armed { sleep } => {
                    return match sleep.poll(cx) {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(()) => {
                            Poll::Ready(Err(E::from_rejection(timed_out(this.stats, *this.after))))
                        }
                    };
                }
                TimerProj::Unarmed => {
                    *this.after = arm(this.timer.as_mut(), this.stats, *this.after);
                }
            }
        }
    }
}

/// Arms the timer at `after` from now, or at the [`deadline`](crate::deadline) in
/// force if that is earlier, and returns the limit in force. Out of line: only a call
/// still pending after its first poll gets here.
#[inline(never)]
fn arm(mut timer: Pin<&mut Timer>, stats: &Stats, after: Duration) -> Duration {
    #[cfg(feature = "config")]
    let after = stats.live.after(after);
    #[cfg(not(feature = "config"))]
    let _ = stats;
    let now = tokio::time::Instant::now();
    let end = now.checked_add(after);
    let end = match (end, crate::deadline::current()) {
        (Some(end), Some(deadline)) => end.min(deadline),
        (None, Some(deadline)) => deadline,
        (Some(end), None) => end,
        // Beyond what an instant can hold: as good as never.
        (None, None) => now + Duration::from_secs(86_400 * 365 * 30),
    };
    timer.set(Timer::Armed {
        sleep: tokio::time::sleep_until(end),
    });
    end.saturating_duration_since(now).min(after)
}

/// Counts and tells of a call that ran out of time, and the rejection it returns.
#[cold]
fn timed_out(stats: &Stats, after: Duration) -> Rejection {
    stats.add(Count::Timeout);
    stats.emit(|| EventKind::TimedOut { after });
    Rejection::Timeout {
        name: stats.name.clone(),
        after,
    }
}

impl<F> std::fmt::Debug for TimeoutCall<'_, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeoutCall")
            .field("after", &self.after)
            .finish_non_exhaustive()
    }
}
