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
/// The limit is measured with `tokio::time`, so `tokio::time::pause()` drives it.
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
    #[must_use = "futures do nothing unless polled"]
    pub struct TimeoutCall<'a, F> {
        #[pin]
        race: tokio::time::Timeout<F>,
        // Counts the outcome, and names the rejection.
        stats: &'a Stats,
        after: Duration,
        // Made while draining: refused without polling the call.
        refused: bool,
    }
}

impl<'a, F: Future> TimeoutCall<'a, F> {
    /// Within a [`deadline`](crate::deadline), the limit is `after` or the time left,
    /// whichever is shorter.
    pub(crate) fn new(stats: &'a Stats, after: Duration, future: F) -> Self {
        #[cfg(feature = "config")]
        let after = stats.live.after(after);
        let (race, after) = match crate::deadline::current() {
            None => (tokio::time::timeout(after, future), after),
            Some(deadline) => {
                let now = tokio::time::Instant::now();
                let end = now.checked_add(after).map_or(deadline, |e| e.min(deadline));
                let after = end.saturating_duration_since(now);
                (tokio::time::timeout_at(end, future), after)
            }
        };
        TimeoutCall {
            race,
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

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        let this = self.project();
        if *this.refused {
            return Poll::Ready(Err(E::from_rejection(crate::lifecycle::refuse(this.stats))));
        }
        match this.race.poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(result)) => {
                this.stats.outcome(&result);
                Poll::Ready(result)
            }
            Poll::Ready(Err(_elapsed)) => {
                Poll::Ready(Err(E::from_rejection(timed_out(this.stats, *this.after))))
            }
        }
    }
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
