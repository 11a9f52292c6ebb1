//! One call's progress through a [`Retry`] policy.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use super::Retry;
use crate::backoff::Backoff;

fn tokio_now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// One call's progress through a [`Retry`] policy: after each attempt, [`after`]
/// says whether to return or how long to sleep before the next attempt.
///
/// It holds only the call's own state (attempts so far, when the first began, the
/// last delay); the policy is handed to [`after`] each time, so that a call that
/// succeeds at once never builds it. The elapsed-time budget reads the clock only when
/// the policy has `max_elapsed`.
///
/// [`after`]: RetryRun::after
#[derive(Debug, Clone, Copy)]
pub struct RetryRun {
    /// Attempts finished so far.
    attempts: u32,
    /// When the first attempt began; read only for `max_elapsed`.
    started: Option<Instant>,
    /// The delay slept last, for decorrelated jitter.
    previous_delay: Duration,
    now: fn() -> Instant,
}

impl RetryRun {
    /// Starts an async call's progress (the clock is `tokio::time`); `timed` reads the
    /// clock now, for a policy with `max_elapsed`.
    #[inline]
    pub fn start(timed: bool) -> Self {
        RetryRun::new(timed, tokio_now)
    }

    /// Starts a blocking call's progress (the clock is `std::time`).
    #[inline]
    pub fn start_blocking(timed: bool) -> Self {
        RetryRun::new(timed, Instant::now)
    }

    #[inline]
    fn new(timed: bool, now: fn() -> Instant) -> Self {
        RetryRun {
            attempts: 0,
            started: if timed { Some(now()) } else { None },
            previous_delay: Duration::ZERO,
            now,
        }
    }

    /// Attempts finished so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Takes the outcome of the attempt just finished: `Break(result)` to return it,
    /// or `Continue(delay)` to sleep `delay` and run the next attempt.
    ///
    /// An error is retried when `retry_if` accepts it, attempts remain, and the next
    /// attempt would start within `max_elapsed`; `on_retry(error, attempt, delay)` is
    /// called just before the sleep.
    #[inline]
    pub fn after<T, E, B: Backoff>(
        &mut self,
        policy: &Retry<B>,
        outcome: Result<T, E>,
        retry_if: impl FnOnce(&E) -> bool,
        on_retry: impl FnOnce(&E, u32, Duration),
    ) -> ControlFlow<Result<T, E>, Duration> {
        self.attempts += 1;
        match outcome {
            Ok(value) => ControlFlow::Break(Ok(value)),
            Err(error) => self.after_error(policy, error, retry_if, on_retry),
        }
    }

    #[cold]
    fn after_error<T, E, B: Backoff>(
        &mut self,
        policy: &Retry<B>,
        error: E,
        retry_if: impl FnOnce(&E) -> bool,
        on_retry: impl FnOnce(&E, u32, Duration),
    ) -> ControlFlow<Result<T, E>, Duration> {
        if self.attempts >= policy.max_attempts || !retry_if(&error) {
            return ControlFlow::Break(Err(error));
        }
        let delay = policy
            .jitter
            .apply(&policy.backoff, self.attempts, self.previous_delay);
        if let (Some(limit), Some(started)) = (policy.max_elapsed, self.started) {
            // The next attempt would begin at now + delay: past the budget, give up now.
            let elapsed = (self.now)().saturating_duration_since(started);
            if elapsed.saturating_add(delay) > limit {
                return ControlFlow::Break(Err(error));
            }
        }
        on_retry(&error, self.attempts, delay);
        self.previous_delay = delay;
        ControlFlow::Continue(delay)
    }
}
