//! One call's progress through a [`Retry`] policy.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use super::Retry;
use crate::backoff::Backoff;
use crate::events::EventKind;
use crate::stats::{Count, Stats};

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
pub struct RetryRun<'s> {
    /// Where the call's outcome, retries and events are counted and told.
    stats: Option<&'s Stats>,
    /// Attempts finished so far.
    attempts: u32,
    /// When the first attempt began; read only for `max_elapsed`.
    started: Option<Instant>,
    /// The delay slept last, for decorrelated jitter.
    previous_delay: Duration,
    now: fn() -> Instant,
}

impl<'s> RetryRun<'s> {
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
            stats: None,
            attempts: 0,
            started: if timed { Some(now()) } else { None },
            previous_delay: Duration::ZERO,
            now,
        }
    }

    /// Counts the call's outcome and retries into `stats`, and tells of them as
    /// events (`RetryScheduled`, `RetriesExhausted`) under its name.
    #[inline]
    pub fn counted(mut self, stats: &'s Stats) -> Self {
        self.stats = Some(stats);
        self
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
            Ok(value) => {
                // The attribute's stats first: then the policy (built after the attempt)
                // is not read on success, and the compiler need not build it.
                if let Some(stats) = self.stats.or_else(|| policy.stats) {
                    stats.add(Count::Success);
                }
                ControlFlow::Break(Ok(value))
            }
            Err(error) => self.after_error(policy, error, retry_if, |_| None, on_retry),
        }
    }

    /// Like [`after`](Self::after), with a server's hint: the sleep before the next
    /// attempt is at least `retry_after(&error)` (and never shorter than the
    /// backoff's delay); a hint that would end past `max_elapsed` ends the retries.
    #[inline]
    pub fn after_hinted<T, E, B: Backoff>(
        &mut self,
        policy: &Retry<B>,
        outcome: Result<T, E>,
        retry_if: impl FnOnce(&E) -> bool,
        retry_after: impl FnOnce(&E) -> Option<Duration>,
        on_retry: impl FnOnce(&E, u32, Duration),
    ) -> ControlFlow<Result<T, E>, Duration> {
        match outcome {
            Ok(value) => self.after(policy, Ok(value), retry_if, on_retry),
            Err(error) => {
                self.attempts += 1;
                self.after_error(policy, error, retry_if, retry_after, on_retry)
            }
        }
    }

    #[cold]
    fn after_error<T, E, B: Backoff>(
        &mut self,
        policy: &Retry<B>,
        error: E,
        retry_if: impl FnOnce(&E) -> bool,
        retry_after: impl FnOnce(&E) -> Option<Duration>,
        on_retry: impl FnOnce(&E, u32, Duration),
    ) -> ControlFlow<Result<T, E>, Duration> {
        let stats = self.stats.or(policy.stats);
        if !retry_if(&error) {
            if let Some(stats) = stats {
                stats.add(Count::Failure);
            }
            return ControlFlow::Break(Err(error));
        }
        if self.attempts >= policy.max_attempts {
            return self.exhausted(stats, error);
        }
        let delay = policy
            .jitter
            .apply(&policy.backoff, self.attempts, self.previous_delay);
        let delay = retry_after(&error).map_or(delay, |hint| delay.max(hint));
        if let (Some(limit), Some(started)) = (policy.max_elapsed, self.started) {
            // The next attempt would begin at now + delay: past the budget, give up now.
            let elapsed = (self.now)().saturating_duration_since(started);
            if elapsed.saturating_add(delay) > limit {
                return self.exhausted(stats, error);
            }
        }
        if crate::deadline::cuts(delay) {
            // The sleep would end past the request's deadline: no attempt would follow.
            return self.exhausted(stats, error);
        }
        on_retry(&error, self.attempts, delay);
        self.previous_delay = delay;
        if let Some(stats) = stats {
            stats.add(Count::Extra1);
            let attempt = self.attempts;
            stats.emit(|| EventKind::RetryScheduled { attempt, delay });
        }
        ControlFlow::Continue(delay)
    }

    /// No attempt is left (or no time for one): the last error is returned.
    fn exhausted<T, E>(
        &self,
        stats: Option<&Stats>,
        error: E,
    ) -> ControlFlow<Result<T, E>, Duration> {
        if let Some(stats) = stats {
            stats.add(Count::Failure);
            stats.add(Count::Extra2);
            let attempts = self.attempts;
            stats.emit(|| EventKind::RetriesExhausted { attempts });
        }
        ControlFlow::Break(Err(error))
    }
}
