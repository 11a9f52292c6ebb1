//! One call's progress through a [`Retry`] policy.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use super::Retry;
use super::budget::RetryBudget;
use crate::backoff::Backoff;
use crate::events::EventKind;
use crate::stats::{Count, Stats};

/// Without feature `config`, nothing is configured.
#[cfg(not(feature = "config"))]
#[allow(dead_code)] // never made: its `None` is all the retry reads
struct Configured {
    max_attempts: Option<u32>,
    jitter: Option<crate::Jitter>,
    backoff: Option<crate::backoff::NoBackoff>,
    max_elapsed: Option<Duration>,
}

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
    /// The retry budget this call's retries are taken from, if any.
    budget: Option<&'s RetryBudget>,
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
            budget: None,
        }
    }

    /// Counts the call's outcome and retries into `stats`, and tells of them as
    /// events (`RetryScheduled`, `RetriesExhausted`) under its name.
    #[inline]
    pub fn counted(mut self, stats: &'s Stats) -> Self {
        self.stats = Some(stats);
        self
    }

    /// Takes this call's retries from `budget`; the call deposits in it once, when
    /// its first attempt ends.
    #[inline]
    pub fn budgeted(mut self, budget: &'s RetryBudget) -> Self {
        self.budget = Some(budget);
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
            Ok(value) => self.succeeded(policy, value),
            Err(error) => delay_only(self.after_error(policy, error, retry_if, |_| None, on_retry)),
        }
    }

    /// The attempt just finished returned `value`: counts the call's success (and its
    /// deposit into the budget, on a first attempt) and returns it. With
    /// [`failed`](Self::failed), the form the attributes use: the policy is built
    /// only after a failure.
    #[inline(always)]
    pub fn ok<T, E>(&self, value: T) -> Result<T, E> {
        // Not counted as an attempt yet: this is the first when none was.
        self.count_success(self.stats, self.attempts == 0);
        Ok(value)
    }

    /// [`ok`](Self::ok) without the count, for the attributes, which count the call's
    /// success themselves.
    #[inline(always)]
    pub(crate) fn ok_uncounted<T, E>(&self, value: T) -> Result<T, E> {
        self.count_success(None, self.attempts == 0);
        Ok(value)
    }

    /// A success counted in `stats`, with the budget's deposit for a call whose first
    /// attempt succeeded.
    #[inline(always)]
    fn count_success(&self, stats: Option<&Stats>, first_attempt: bool) {
        if let Some(stats) = stats {
            stats.add(Count::Success);
        }
        if first_attempt {
            if let Some(budget) = self.budget {
                budget.deposit();
            }
        }
    }

    /// The attempt just finished failed with `error`: `Break(result)` to return it,
    /// or `Continue((delay, error))` to sleep `delay` (a drain in mind, see
    /// [`after_keeping`](Self::after_keeping)) and run the next attempt. The rules
    /// are [`after_hinted`](Self::after_hinted)'s.
    #[inline]
    pub fn failed<T, E, B: Backoff>(
        &mut self,
        policy: &Retry<B>,
        error: E,
        retry_if: impl FnOnce(&E) -> bool,
        retry_after: impl FnOnce(&E) -> Option<Duration>,
        on_retry: impl FnOnce(&E, u32, Duration),
    ) -> ControlFlow<Result<T, E>, (Duration, E)> {
        self.attempts += 1;
        self.after_error(policy, error, retry_if, retry_after, on_retry)
    }

    /// The attempt just counted succeeded: counts it, deposits into the budget on a
    /// first attempt, and returns the value.
    #[inline(always)]
    fn succeeded<T, E, C, B>(&self, policy: &Retry<B>, value: T) -> ControlFlow<Result<T, E>, C> {
        // The attribute's stats first: the policy is read only by hand.
        self.count_success(self.stats.or(policy.stats), self.attempts == 1);
        ControlFlow::Break(Ok(value))
    }

    /// Like [`after`](Self::after), keeping the error through the sleep:
    /// `Continue((delay, error))`. Sleep with a drain in mind (see
    /// [`lifecycle`](crate::lifecycle)): when a drain begins during the sleep, return
    /// [`stopped(error)`](Self::stopped) instead of running the next attempt.
    #[inline]
    pub fn after_keeping<T, E, B: Backoff>(
        &mut self,
        policy: &Retry<B>,
        outcome: Result<T, E>,
        retry_if: impl FnOnce(&E) -> bool,
        on_retry: impl FnOnce(&E, u32, Duration),
    ) -> ControlFlow<Result<T, E>, (Duration, E)> {
        self.after_hinted_keeping(policy, outcome, retry_if, |_| None, on_retry)
    }

    /// [`after_hinted`](Self::after_hinted), keeping the error through the sleep as
    /// [`after_keeping`](Self::after_keeping) does.
    #[inline]
    pub fn after_hinted_keeping<T, E, B: Backoff>(
        &mut self,
        policy: &Retry<B>,
        outcome: Result<T, E>,
        retry_if: impl FnOnce(&E) -> bool,
        retry_after: impl FnOnce(&E) -> Option<Duration>,
        on_retry: impl FnOnce(&E, u32, Duration),
    ) -> ControlFlow<Result<T, E>, (Duration, E)> {
        self.attempts += 1;
        match outcome {
            Ok(value) => self.succeeded(policy, value),
            Err(error) => self.after_error(policy, error, retry_if, retry_after, on_retry),
        }
    }

    /// A drain began while the call slept between attempts: it starts no further
    /// attempt and returns the error it has.
    #[cold]
    pub fn stopped<T, E>(&self, error: E) -> Result<T, E> {
        if let Some(stats) = self.stats {
            stats.add(Count::Failure);
        }
        Err(error)
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
        self.attempts += 1;
        match outcome {
            Ok(value) => self.succeeded(policy, value),
            Err(error) => {
                delay_only(self.after_error(policy, error, retry_if, retry_after, on_retry))
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
    ) -> ControlFlow<Result<T, E>, (Duration, E)> {
        let stats = self.stats.or(policy.stats);
        if let (Some(budget), 1) = (self.budget, self.attempts) {
            budget.deposit_failed();
        }
        if !retry_if(&error) {
            if let Some(stats) = stats {
                stats.add(Count::Failure);
            }
            return ControlFlow::Break(Err(error));
        }
        if crate::lifecycle::is_draining() {
            // A drain began: no further attempt.
            return self.exhausted(stats, error);
        }
        // Settings given by configuration (feature `config`), read only here: after a
        // failed attempt.
        #[cfg(feature = "config")]
        let configured = stats.and_then(|s| s.live.retry());
        #[cfg(feature = "config")]
        let configured = configured.as_deref();
        #[cfg(not(feature = "config"))]
        let configured: Option<&Configured> = None;
        let max_attempts = configured
            .and_then(|c| c.max_attempts)
            .unwrap_or(policy.max_attempts);
        if self.attempts >= max_attempts {
            return self.exhausted(stats, error);
        }
        let jitter = configured.and_then(|c| c.jitter).unwrap_or(policy.jitter);
        let delay = match configured.and_then(|c| c.backoff.as_ref()) {
            Some(backoff) => jitter.apply(backoff, self.attempts, self.previous_delay),
            None => jitter.apply(&policy.backoff, self.attempts, self.previous_delay),
        };
        let delay = retry_after(&error).map_or(delay, |hint| delay.max(hint));
        let max_elapsed = configured
            .and_then(|c| c.max_elapsed)
            .or(policy.max_elapsed);
        if max_elapsed.is_some() && self.started.is_none() {
            // Configured on a retry whose code read no clock: counted from now.
            self.started = Some((self.now)());
        }
        if let (Some(limit), Some(started)) = (max_elapsed, self.started) {
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
        if let Some(budget) = self.budget {
            if !budget.withdraw() {
                return budget_spent(stats, error);
            }
        }
        on_retry(&error, self.attempts, delay);
        self.previous_delay = delay;
        if let Some(stats) = stats {
            stats.add(Count::Extra1);
            let attempt = self.attempts;
            stats.emit(|| EventKind::RetryScheduled { attempt, delay });
        }
        ControlFlow::Continue((delay, error))
    }

    /// No attempt is left (or no time for one): the last error is returned.
    #[cold]
    fn exhausted<T, E, C>(&self, stats: Option<&Stats>, error: E) -> ControlFlow<Result<T, E>, C> {
        if let Some(stats) = stats {
            stats.add(Count::Failure);
            stats.add(Count::Extra2);
            let attempts = self.attempts;
            stats.emit(|| EventKind::RetriesExhausted { attempts });
        }
        ControlFlow::Break(Err(error))
    }
}

/// The retry budget is spent: the retry is skipped and the last error returned.
#[cold]
fn budget_spent<T, E, C>(stats: Option<&Stats>, error: E) -> ControlFlow<Result<T, E>, C> {
    if let Some(stats) = stats {
        stats.add(Count::Failure);
        stats.add(Count::Extra3);
        stats.emit(|| EventKind::RetryBudgetExhausted);
    }
    ControlFlow::Break(Err(error))
}

/// The sleep alone, for callers that drop the error before sleeping.
#[inline]
fn delay_only<T, E>(
    flow: ControlFlow<Result<T, E>, (Duration, E)>,
) -> ControlFlow<Result<T, E>, Duration> {
    match flow {
        ControlFlow::Break(result) => ControlFlow::Break(result),
        ControlFlow::Continue((delay, _)) => ControlFlow::Continue(delay),
    }
}
