//! Timeout: give up on a call that takes too long, dropping its future.

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use crate::rejection::{FromRejection, Rejection};

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
    pub const fn new_static(name: &'static str, after: Duration) -> Self {
        Timeout {
            name: Cow::Borrowed(name),
            after,
        }
    }

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
    pub async fn call<T, E, F>(&self, future: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        E: FromRejection,
    {
        match tokio::time::timeout(self.after, future).await {
            Ok(result) => result,
            Err(_elapsed) => Err(E::from_rejection(self.rejection())),
        }
    }

    #[cold]
    fn rejection(&self) -> Rejection {
        Rejection::Timeout {
            name: self.name.clone(),
            after: self.after,
        }
    }
}
