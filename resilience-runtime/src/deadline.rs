//! Deadlines: a time limit on everything done on behalf of one request, which every
//! policy inside it respects.
//!
//! [`within`] runs a future with a deadline; inside it, [`remaining`] tells the time
//! left. The deadline is task-local: it follows the future through every `.await`
//! (every function it calls, annotated or not), but not into tasks it spawns with
//! `tokio::spawn`, which run on their own. Inside a deadline:
//!
//! - a `#[timeout(d)]` (or [`Timeout`](crate::Timeout)) waits at most `min(d, remaining)`,
//!   and returns its own [`Rejection::Timeout`] with the shortened `after`;
//! - a retry begins no sleep that would end past the deadline: it returns the last
//!   error instead (counted as exhausted, as for `max_elapsed`);
//! - a bulkhead call that finds every slot taken and would wait (its `max_wait`
//!   ending past the deadline) is refused at once with [`Rejection::BulkheadFull`];
//!   a rate-limited call whose slot comes after the deadline is refused at once with
//!   [`Rejection::RateLimited`] and its exact `retry_after` (the slot is given back);
//! - nested `within`s keep the earlier deadline.
//!
//! This is gRPC's deadline propagation and istio's "next attempt timeout =
//! min(deadline - now, per-attempt timeout)", for the policies of this crate.
//!
//! ```
//! use std::time::Duration;
//! use resilience_runtime::{deadline, retry, timeout, Rejection};
//!
//! #[derive(Debug, thiserror::Error)]
//! enum ApiError {
//!     #[error("backend unavailable")]
//!     Unavailable,
//!     #[error(transparent)]
//!     Rejected(#[from] Rejection),
//! }
//!
//! #[retry(max_attempts = 5, backoff = fixed("300ms"), jitter = none)]
//! #[timeout("2s")]
//! async fn lookup() -> Result<u32, ApiError> {
//!     // This attempt's timeout is the time the request has left, not 2s.
//!     assert!(deadline::remaining().unwrap() <= Duration::from_secs(1));
//!     tokio::time::sleep(Duration::from_millis(250)).await;
//!     Err(ApiError::Unavailable)
//! }
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let start = tokio::time::Instant::now();
//! let result = deadline::within(Duration::from_secs(1), lookup()).await;
//! // Attempts at 0s and 550ms; a third would begin after a sleep ending at 1.1s,
//! // past the deadline: the retry returns the last error at 800ms instead.
//! assert!(matches!(result, Err(ApiError::Unavailable)));
//! assert_eq!(start.elapsed(), Duration::from_millis(800));
//! assert_eq!(deadline::remaining(), None, "outside `within`");
//! # }
//! ```
//!
//! Outside a deadline the policies pay nothing for it on a call that succeeds without
//! waiting; a timeout, and a call about to wait or sleep, reads one task-local value.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::rejection::{FromRejection, Rejection};

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `f` with a deadline `after` from now (or the deadline already in force, if
/// that is earlier), returning [`Rejection::Timeout`] named `"deadline"` if the
/// deadline passes first; `f` is then dropped, cancelling it at its current `.await`.
///
/// Every policy of every annotated function (and every by-hand policy) called while
/// `f` runs respects the deadline, see the [module docs](self).
pub async fn within<F, T, E>(after: Duration, f: F) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
    E: FromRejection,
{
    let now = Instant::now();
    let mine = now.checked_add(after).unwrap_or_else(far_future);
    let deadline = match current() {
        Some(outer) if outer <= mine => outer,
        _ => mine,
    };
    match DEADLINE
        .scope(deadline, tokio::time::timeout_at(deadline, f))
        .await
    {
        Ok(result) => result,
        Err(_elapsed) => Err(E::from_rejection(Rejection::Timeout {
            name: "deadline".into(),
            after: deadline.saturating_duration_since(now),
        })),
    }
}

/// Inside [`within`]: the time left before the deadline (zero once it has passed).
/// Outside: `None`.
pub fn remaining() -> Option<Duration> {
    current().map(|d| d.saturating_duration_since(Instant::now()))
}

/// The deadline in force for the current task, if any.
#[inline]
pub(crate) fn current() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// Whether a wait of `wait` begun now would end past the deadline in force.
#[inline]
pub(crate) fn cuts(wait: Duration) -> bool {
    match current() {
        None => false,
        Some(deadline) => Instant::now()
            .checked_add(wait)
            .is_none_or(|end| end > deadline),
    }
}

/// Roughly 30 years from now, as tokio's own timers take "never".
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}
