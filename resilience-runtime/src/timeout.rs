//! Timeout: give up on a call that takes too long, dropping its future.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use crate::rejection::{FromRejection, PolicyName, Rejection};

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
    name: Cow<'static, str>,
    after: Duration,
}

impl Timeout {
    /// A limit of `after` named `name` (the name appears in the rejection).
    pub fn new(name: impl Into<Cow<'static, str>>, after: Duration) -> Self {
        Timeout {
            name: name.into(),
            after,
        }
    }

    /// The name given in rejections.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The time limit.
    pub fn after(&self) -> Duration {
        self.after
    }

    /// Runs `future` to completion unless the limit passes first.
    pub fn call<T, E, F>(&self, future: F) -> TimeoutCall<&Cow<'static, str>, F>
    where
        F: Future<Output = Result<T, E>>,
        E: FromRejection,
    {
        TimeoutCall::new(&self.name, self.after, future)
    }
}

pin_project! {
    /// The future of [`Timeout::call`]: the call's future raced against the limit.
    #[must_use = "futures do nothing unless polled"]
    pub struct TimeoutCall<N, F> {
        #[pin]
        race: tokio::time::Timeout<F>,
        // Taken when the limit passes, to name the rejection.
        name: Option<N>,
        after: Duration,
    }
}

impl<N, F: Future> TimeoutCall<N, F> {
    pub(crate) fn new(name: N, after: Duration, future: F) -> Self {
        TimeoutCall {
            race: tokio::time::timeout(after, future),
            name: Some(name),
            after,
        }
    }
}

impl<N, T, E, F> Future for TimeoutCall<N, F>
where
    N: PolicyName,
    F: Future<Output = Result<T, E>>,
    E: FromRejection,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        let this = self.project();
        match this.race.poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(result)) => Poll::Ready(result),
            Poll::Ready(Err(_elapsed)) => {
                let name = this
                    .name
                    .take()
                    .map_or(Cow::Borrowed("timeout"), N::to_name);
                Poll::Ready(Err(E::from_rejection(Rejection::Timeout {
                    name,
                    after: *this.after,
                })))
            }
        }
    }
}

impl<N, F> std::fmt::Debug for TimeoutCall<N, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeoutCall")
            .field("after", &self.after)
            .finish_non_exhaustive()
    }
}
