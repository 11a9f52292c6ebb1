//! One call's progress through a [`Retry`] policy.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use super::Retry;
use crate::backoff::Backoff;

pub(super) fn tokio_now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// One call's progress through a [`Retry`] policy: after each attempt, [`after`]
/// says whether to return or how long to sleep before the next attempt.
///
/// The elapsed-time budget reads the clock only when `max_elapsed` is set, so a
/// call that succeeds at once costs a few comparisons.
///
/// [`after`]: RetryRun::after
#[derive(Debug)]
pub struct RetryRun<'a, B> {
    policy: &'a Retry<B>,
    /// Attempts finished so far.
    attempts: u32,
    /// When the first attempt began; read only when `max_elapsed` is set.
    started: Option<Instant>,
    /// The delay slept last, for decorrelated jitter.
    previous_delay: Duration,
    now: fn() -> Instant,
}

impl<'a, B: Backoff> RetryRun<'a, B> {
    pub(super) fn new(policy: &'a Retry<B>, now: fn() -> Instant) -> Self {
        RetryRun {
            policy,
            attempts: 0,
            started: policy.max_elapsed.map(|_| now()),
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
    pub fn after<T, E>(
        &mut self,
        outcome: Result<T, E>,
        retry_if: impl FnOnce(&E) -> bool,
        on_retry: impl FnOnce(&E, u32, Duration),
    ) -> ControlFlow<Result<T, E>, Duration> {
        self.attempts += 1;
        match outcome {
            Ok(value) => ControlFlow::Break(Ok(value)),
            Err(error) => self.after_error(error, retry_if, on_retry),
        }
    }

    #[cold]
    fn after_error<T, E>(
        &mut self,
        error: E,
        retry_if: impl FnOnce(&E) -> bool,
        on_retry: impl FnOnce(&E, u32, Duration),
    ) -> ControlFlow<Result<T, E>, Duration> {
        if self.attempts >= self.policy.max_attempts || !retry_if(&error) {
            return ControlFlow::Break(Err(error));
        }
        let delay =
            self.policy
                .jitter
                .apply(&self.policy.backoff, self.attempts, self.previous_delay);
        if let (Some(limit), Some(started)) = (self.policy.max_elapsed, self.started) {
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
