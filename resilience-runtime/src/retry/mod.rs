//! Retry: run an operation again after a failure, with a backoff between attempts.
//!
//! [`Retry`] is the policy's configuration; [`RetryRun`] is one call's progress through
//! it (the attempt count, the elapsed-time budget, the previous delay), shared by the
//! async and the blocking call paths and by the code `#[retry]` generates.

mod budget;
mod run;

use std::future::Future;
use std::time::Duration;

use crate::backoff::{Backoff, Exponential, Jitter};
use crate::config::ConfigError;
use crate::stats::Stats;

pub(crate) use budget::register as register_budget;
pub use budget::{Budget, RetryBudget};
pub use run::RetryRun;

/// A retry policy: how many attempts, how long to wait between them, and for how long
/// in all.
///
/// ```
/// use std::time::Duration;
/// use resilience_runtime::{Retry, Jitter, backoff::Fixed};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), resilience_runtime::ConfigError> {
/// let retry = Retry::builder()
///     .max_attempts(4)
///     .backoff(Fixed::new(Duration::from_millis(50)))
///     .jitter(Jitter::None)
///     .build()?;
/// let mut calls = 0;
/// let result: Result<u32, &str> = retry
///     .call(|| {
///         calls += 1;
///         let n = calls;
///         async move { if n < 3 { Err("flaky") } else { Ok(n) } }
///     })
///     .await;
/// assert_eq!(result, Ok(3));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Retry<B = Exponential> {
    /// Named by hand: counts and events go here (the attributes pass theirs to the
    /// call's [`RetryRun`] instead).
    stats: Option<&'static Stats>,
    max_attempts: u32,
    backoff: B,
    jitter: Jitter,
    max_elapsed: Option<Duration>,
    /// Settings of the budget, until `build` registers it under the name.
    budget_settings: Option<Budget>,
    budget: Option<&'static RetryBudget>,
}

impl Retry {
    /// A builder with the `#[retry]` defaults: 3 attempts, exponential backoff from
    /// 100ms doubling up to 10s, full jitter, no elapsed-time limit.
    pub fn builder() -> RetryBuilder {
        RetryBuilder {
            policy: Retry::new(3, Exponential::default(), Jitter::Full, None),
        }
    }
}

impl<B: Backoff> Retry<B> {
    /// The policy from already-valid parts; `max_attempts` below 1 is taken as 1.
    #[doc(hidden)]
    pub const fn new(
        max_attempts: u32,
        backoff: B,
        jitter: Jitter,
        max_elapsed: Option<Duration>,
    ) -> Self {
        Retry {
            stats: None,
            max_attempts: if max_attempts == 0 { 1 } else { max_attempts },
            backoff,
            jitter,
            max_elapsed,
            budget_settings: None,
            budget: None,
        }
    }

    /// Attempts in all, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The delay schedule.
    pub fn backoff(&self) -> &B {
        &self.backoff
    }

    /// The jitter applied to each delay.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// No attempt starts later than this after the first began.
    pub fn max_elapsed(&self) -> Option<Duration> {
        self.max_elapsed
    }

    /// The retry budget its retries are taken from, if any.
    pub fn budget(&self) -> Option<&RetryBudget> {
        self.budget
    }

    /// Starts one async call's progress (the clock is `tokio::time`).
    pub fn start(&self) -> RetryRun<'_> {
        self.budgeted(RetryRun::start(self.max_elapsed.is_some()))
    }

    /// Starts one blocking call's progress (the clock is `std::time`).
    pub fn start_blocking(&self) -> RetryRun<'_> {
        self.budgeted(RetryRun::start_blocking(self.max_elapsed.is_some()))
    }

    fn budgeted<'s>(&'s self, run: RetryRun<'s>) -> RetryRun<'s> {
        // Counted in the policy's stats from the start, so that every outcome (one
        // cut short by a drain included) is counted.
        let run = match self.stats {
            Some(stats) => run.counted(stats),
            None => run,
        };
        match &self.budget {
            Some(budget) => run.budgeted(budget),
            None => run,
        }
    }

    /// Runs `op` until it succeeds or the policy gives up; every error is retried.
    /// When every attempt fails, the last error is returned as it is.
    pub async fn call<T, E, F, Fut>(&self, op: F) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_with(|_: &E| true, |_: &E, _, _| {}, op).await
    }

    /// Like [`call`](Self::call), retrying only errors for which `retry_if` is true and
    /// calling `on_retry(error, failed_attempt, delay)` before each sleep.
    pub async fn call_with<T, E, F, Fut>(
        &self,
        retry_if: impl Fn(&E) -> bool,
        on_retry: impl Fn(&E, u32, Duration),
        mut op: F,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut run = self.start();
        loop {
            let outcome = op().await;
            match run.after_keeping(self, outcome, &retry_if, &on_retry) {
                core::ops::ControlFlow::Break(result) => return result,
                core::ops::ControlFlow::Continue((delay, error)) => {
                    if !crate::lifecycle::sleep(delay).await {
                        return run.stopped(error);
                    }
                }
            }
        }
    }

    /// Like [`call_with`](Self::call_with), honouring a server's hint (what
    /// `#[retry(retry_after = path)]` does): the sleep before the next attempt is at
    /// least `retry_after(&error)`, and never shorter than the backoff's delay; a hint
    /// that would end past `max_elapsed` (or the [deadline](crate::deadline)) ends the
    /// retries, returning that error.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_runtime::{Retry, backoff::Fixed, Jitter};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), resilience_runtime::ConfigError> {
    /// let retry = Retry::builder()
    ///     .backoff(Fixed::new(Duration::from_millis(100)))
    ///     .jitter(Jitter::None)
    ///     .build()?;
    /// // An error that carries the server's Retry-After.
    /// let hint = |e: &Option<Duration>| *e;
    /// let start = tokio::time::Instant::now();
    /// let mut calls = 0;
    /// let result: Result<u32, Option<Duration>> = retry
    ///     .call_hinted(|_| true, hint, |_, _, _| {}, || {
    ///         calls += 1;
    ///         let n = calls;
    ///         async move { if n == 1 { Err(Some(Duration::from_secs(2))) } else { Ok(n) } }
    ///     })
    ///     .await;
    /// assert_eq!(result, Ok(2));
    /// assert_eq!(start.elapsed(), Duration::from_secs(2), "the hint, not the 100ms backoff");
    /// # Ok(()) }
    /// ```
    pub async fn call_hinted<T, E, F, Fut>(
        &self,
        retry_if: impl Fn(&E) -> bool,
        retry_after: impl Fn(&E) -> Option<Duration>,
        on_retry: impl Fn(&E, u32, Duration),
        mut op: F,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut run = self.start();
        loop {
            let outcome = op().await;
            match run.after_hinted_keeping(self, outcome, &retry_if, &retry_after, &on_retry) {
                core::ops::ControlFlow::Break(result) => return result,
                core::ops::ControlFlow::Continue((delay, error)) => {
                    if !crate::lifecycle::sleep(delay).await {
                        return run.stopped(error);
                    }
                }
            }
        }
    }

    /// The blocking form of [`call`](Self::call): sleeps with `std::thread::sleep`.
    pub fn call_blocking<T, E>(&self, op: impl FnMut() -> Result<T, E>) -> Result<T, E> {
        self.call_blocking_with(|_: &E| true, |_: &E, _, _| {}, op)
    }

    /// The blocking form of [`call_with`](Self::call_with).
    pub fn call_blocking_with<T, E>(
        &self,
        retry_if: impl Fn(&E) -> bool,
        on_retry: impl Fn(&E, u32, Duration),
        mut op: impl FnMut() -> Result<T, E>,
    ) -> Result<T, E> {
        let mut run = self.start_blocking();
        loop {
            match run.after_keeping(self, op(), &retry_if, &on_retry) {
                core::ops::ControlFlow::Break(result) => return result,
                core::ops::ControlFlow::Continue((delay, error)) => {
                    if !crate::lifecycle::sleep_blocking(delay) {
                        return run.stopped(error);
                    }
                }
            }
        }
    }
}

/// Builds a [`Retry`], checking each setting as `#[retry]` does at compile time.
#[derive(Debug, Clone)]
#[must_use]
pub struct RetryBuilder<B = Exponential> {
    policy: Retry<B>,
}

impl<B: Backoff> RetryBuilder<B> {
    /// Attempts in all, the first included; at least 1. Default 3.
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        // Kept as given so that `build` can refuse 0 instead of silently fixing it.
        self.policy.max_attempts = max_attempts;
        self
    }

    /// The delay schedule. Default: exponential from 100ms, factor 2, at most 10s.
    pub fn backoff<B2: Backoff>(self, backoff: B2) -> RetryBuilder<B2> {
        let Retry {
            stats,
            max_attempts,
            jitter,
            max_elapsed,
            budget_settings,
            budget,
            ..
        } = self.policy;
        RetryBuilder {
            policy: Retry {
                stats,
                max_attempts,
                backoff,
                jitter,
                max_elapsed,
                budget_settings,
                budget,
            },
        }
    }

    /// The jitter on each delay. Default [`Jitter::Full`].
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.policy.jitter = jitter;
        self
    }

    /// No attempt starts later than `limit` after the first began, and no sleep is
    /// begun that would end past it. Default: no limit.
    pub fn max_elapsed(mut self, limit: Duration) -> Self {
        self.policy.max_elapsed = Some(limit);
        self
    }

    /// The name its events, counters and registry entry go under; retries given one
    /// name share their counters. Default `"retry"`.
    pub fn name(mut self, name: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        self.policy.stats = Some(crate::stats::register(
            crate::events::PolicyKind::Retry,
            name.into(),
        ));
        self
    }

    /// Takes the retries from a [`Budget`] shared by every retry of this name (the
    /// retry's [`name`](Self::name), and the `#[retry(budget)]`s that give it): a
    /// retry over the budget is skipped and the last error returned. Default: none.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_runtime::{Retry, backoff::NoBackoff, retry::Budget};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), resilience_runtime::ConfigError> {
    /// let retry = Retry::builder()
    ///     .name("by-hand-budget")
    ///     .max_attempts(3)
    ///     .backoff(NoBackoff)
    ///     .budget(Budget::new(0.5, 0, Duration::from_secs(10)))
    ///     .build()?;
    /// let mut attempts = 0;
    /// for _ in 0..10 {
    ///     let _ = retry.call(|| { attempts += 1; async { Err::<(), _>("down") } }).await;
    /// }
    /// // 10 calls allow 5 retries in all, not the 20 that 3 attempts each would make.
    /// assert_eq!(attempts, 10 + 5);
    /// # Ok(()) }
    /// ```
    pub fn budget(mut self, budget: Budget) -> Self {
        self.policy.budget_settings = Some(budget);
        self
    }

    /// The policy, or what is wrong with it.
    pub fn build(mut self) -> Result<Retry<B>, ConfigError> {
        if self.policy.stats.is_none() {
            self = self.name("retry");
        }
        if let Some(settings) = self.policy.budget_settings.take() {
            settings.check()?;
            let name = self
                .policy
                .stats
                .as_ref()
                .map_or_else(|| std::borrow::Cow::Borrowed("retry"), |s| s.name.clone());
            self.policy.budget = Some(budget::register(name, settings));
        }
        if self.policy.max_attempts == 0 {
            return Err(ConfigError::new(
                "retry",
                "max_attempts",
                "must be at least 1 (it counts the first attempt)",
            ));
        }
        Ok(self.policy)
    }
}
