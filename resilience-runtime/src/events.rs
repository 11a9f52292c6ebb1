//! What the policies do, as it happens: every retry scheduled, state change, refusal,
//! timeout and fallback, told to the listeners subscribed here (and, with the feature
//! `tracing`, to `tracing` as well).
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use resilience_runtime::events::{self, EventKind, PolicyKind};
//! use resilience_runtime::retry;
//!
//! #[retry(max_attempts = 2, backoff = none, name = "events-doc")]
//! async fn flaky() -> Result<(), &'static str> {
//!     Err("down")
//! }
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let sink = seen.clone();
//! let _subscription = events::subscribe(move |event| {
//!     if event.name == "events-doc" {
//!         sink.lock().unwrap().push(event.kind.clone());
//!     }
//! });
//! assert!(flaky().await.is_err());
//! let seen = seen.lock().unwrap();
//! assert!(matches!(seen[0], EventKind::RetryScheduled { attempt: 1, .. }));
//! assert!(matches!(seen[1], EventKind::RetriesExhausted { attempts: 2 }));
//! # }
//! ```
//!
//! Listeners run synchronously, on the thread and at the moment the event happens, in
//! the order they subscribed; keep them short (push to a channel for anything slow). A
//! listener may subscribe or drop subscriptions itself. A listener that panics is
//! caught: the call that caused the event and the other listeners carry on as if it
//! had returned, the panic is reported by the panic hook as usual, and the listener
//! stays subscribed.
//!
//! With no listener (and without `tracing`), an event costs one relaxed atomic load,
//! and a successful call that nothing refused makes no event at all.

use std::borrow::Cow;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::CircuitState;
use crate::rejection::Rejection;

/// Which kind of policy an event, a snapshot or a metric is about. Its `Display` is
/// the attribute's name (`retry`, `circuit_breaker`, ...).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum PolicyKind {
    /// `#[retry]`, [`Retry`](crate::Retry).
    Retry,
    /// `#[circuit_breaker]`, [`CircuitBreaker`](crate::CircuitBreaker).
    CircuitBreaker,
    /// `#[timeout]`, [`Timeout`](crate::Timeout).
    Timeout,
    /// `#[fallback]`.
    Fallback,
    /// `#[bulkhead]`, [`Bulkhead`](crate::Bulkhead).
    Bulkhead,
    /// `#[rate_limit]`, [`RateLimiter`](crate::RateLimiter).
    RateLimit,
    /// `#[hedge]`.
    Hedge,
    /// `#[cache]`.
    Cache,
    /// `#[coalesce]`.
    Coalesce,
}

impl PolicyKind {
    /// The attribute's name: `"retry"`, `"circuit_breaker"`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Retry => "retry",
            PolicyKind::CircuitBreaker => "circuit_breaker",
            PolicyKind::Timeout => "timeout",
            PolicyKind::Fallback => "fallback",
            PolicyKind::Bulkhead => "bulkhead",
            PolicyKind::RateLimit => "rate_limit",
            PolicyKind::Hedge => "hedge",
            PolicyKind::Cache => "cache",
            PolicyKind::Coalesce => "coalesce",
        }
    }
}

impl PolicyKind {
    /// The kind in words, as diagnoses write it: `"circuit breaker"`, `"rate limit"`.
    pub const fn label(self) -> &'static str {
        match self {
            PolicyKind::CircuitBreaker => "circuit breaker",
            PolicyKind::RateLimit => "rate limit",
            other => other.as_str(),
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum EventKind {
    /// Attempt `attempt` (from 1) failed; the next one starts after `delay`. Emitted
    /// before the sleep.
    RetryScheduled {
        /// The attempt that just failed, from 1.
        attempt: u32,
        /// The wait before the next attempt.
        delay: Duration,
    },
    /// Every attempt failed (or the time budget ran out); the last error is returned.
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
    },
    /// A retry was skipped: the retry budget is spent.
    RetryBudgetExhausted,
    /// A breaker changed state, by itself or by hand.
    StateChanged {
        /// The state before.
        from: CircuitState,
        /// The state after.
        to: CircuitState,
        /// Why, for openings (the diagnosis) and changes made by hand.
        reason: Option<String>,
    },
    /// A breaker's health probe finished.
    Probe {
        /// What the probe answered (a probe that timed out counts as unhealthy).
        healthy: bool,
    },
    /// A call was refused without running the body.
    Rejected {
        /// The refusal, as the caller receives it.
        rejection: Rejection,
    },
    /// A call took longer than its timeout; its body was dropped.
    TimedOut {
        /// The limit that passed.
        after: Duration,
    },
    /// A fallback answered in place of the error.
    FallbackUsed,
    /// An adaptive bulkhead moved its limit.
    LimitChanged {
        /// The limit before.
        from: usize,
        /// The limit now.
        to: usize,
    },
    /// A hedge started copy number `copy` (from 1).
    Hedged {
        /// The copy started, from 1 (the original call is copy 0).
        copy: u32,
    },
    /// A cache answered an error with a stale entry.
    StaleServed {
        /// How old the entry was.
        age: Duration,
    },
    /// Cluster scope: the store (Redis) is unreachable; deciding locally.
    StoreUnavailable {
        /// What went wrong.
        error: String,
    },
    /// Cluster scope: deciding through the store again.
    StoreRecovered,
}

impl EventKind {
    /// The kind's name in snake case (`"retry_scheduled"`, `"state_changed"`, ...), as
    /// the dashboard and `tracing` show it.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::RetryScheduled { .. } => "retry_scheduled",
            EventKind::RetriesExhausted { .. } => "retries_exhausted",
            EventKind::RetryBudgetExhausted => "retry_budget_exhausted",
            EventKind::StateChanged { .. } => "state_changed",
            EventKind::Probe { .. } => "probe",
            EventKind::Rejected { .. } => "rejected",
            EventKind::TimedOut { .. } => "timed_out",
            EventKind::FallbackUsed => "fallback_used",
            EventKind::LimitChanged { .. } => "limit_changed",
            EventKind::Hedged { .. } => "hedged",
            EventKind::StaleServed { .. } => "stale_served",
            EventKind::StoreUnavailable { .. } => "store_unavailable",
            EventKind::StoreRecovered => "store_recovered",
        }
    }
}

/// One thing a policy did.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct Event {
    /// The kind of policy.
    pub policy: PolicyKind,
    /// The policy's name.
    pub name: Cow<'static, str>,
    /// What happened.
    pub kind: EventKind,
    /// When (`tokio::time`, so paused time dates it too).
    pub at: tokio::time::Instant,
}

impl Event {
    /// The event's diagnosis, as a person reads it: `"circuit breaker 'payments'
    /// went closed -> open: 6 of the last 10 calls failed (60% >= 50%)"`.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (policy, name) = (self.policy.label(), &self.name);
        match &self.kind {
            EventKind::RetryScheduled { attempt, delay } => write!(
                f,
                "{policy} '{name}': attempt {attempt} failed; next attempt in {}",
                crate::rejection::HumanDuration(*delay)
            ),
            EventKind::RetriesExhausted { attempts } => write!(
                f,
                "{policy} '{name}': all {attempts} attempts failed; returning the last error"
            ),
            EventKind::RetryBudgetExhausted => write!(
                f,
                "{policy} '{name}': retry skipped, the retry budget is spent"
            ),
            EventKind::StateChanged { from, to, reason } => {
                write!(f, "{policy} '{name}' went {from} -> {to}")?;
                match reason {
                    Some(reason) => write!(f, ": {reason}"),
                    None => Ok(()),
                }
            }
            EventKind::Probe { healthy } => write!(
                f,
                "{policy} '{name}': health probe answered {}",
                if *healthy { "healthy" } else { "unhealthy" }
            ),
            EventKind::Rejected { rejection } => write!(f, "{rejection}"),
            EventKind::TimedOut { after } => write!(
                f,
                "{policy} '{name}': timed out after {}",
                crate::rejection::HumanDuration(*after)
            ),
            EventKind::FallbackUsed => write!(f, "{policy} '{name}': fallback used"),
            EventKind::LimitChanged { from, to } => {
                write!(f, "{policy} '{name}': limit moved from {from} to {to}")
            }
            EventKind::Hedged { copy } => write!(f, "{policy} '{name}': started copy {copy}"),
            EventKind::StaleServed { age } => write!(
                f,
                "{policy} '{name}': served a stale entry {} old after an error",
                crate::rejection::HumanDuration(*age)
            ),
            EventKind::StoreUnavailable { error } => write!(
                f,
                "{policy} '{name}': store unavailable, deciding locally: {error}"
            ),
            EventKind::StoreRecovered => {
                write!(f, "{policy} '{name}': store reachable again")
            }
        }
    }
}

type Listeners = Vec<(u64, Arc<dyn Fn(&Event) + Send + Sync>)>;

/// The listeners, in the order they subscribed. Replaced whole on (un)subscription, so
/// an event takes the lock only to clone the `Arc`, and a listener may subscribe.
static LISTENERS: RwLock<Option<Arc<Listeners>>> = RwLock::new(None);
/// How many listeners there are: the one load an event costs when there are none.
static COUNT: AtomicUsize = AtomicUsize::new(0);
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Calls `listener` with every event from now until the returned [`Subscription`] is
/// dropped.
#[must_use = "the listener is unsubscribed when the subscription is dropped"]
pub fn subscribe(listener: impl Fn(&Event) + Send + Sync + 'static) -> Subscription {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    change_listeners(|all| all.push((id, Arc::new(listener))));
    Subscription { id }
}

/// How many listeners are subscribed now.
pub fn listener_count() -> usize {
    COUNT.load(Ordering::Acquire)
}

/// A listener's subscription: dropping it unsubscribes the listener.
#[derive(Debug)]
#[must_use = "the listener is unsubscribed when the subscription is dropped"]
pub struct Subscription {
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        change_listeners(|all| all.retain(|(id, _)| *id != self.id));
    }
}

fn change_listeners(change: impl FnOnce(&mut Listeners)) {
    let mut guard = LISTENERS.write().unwrap_or_else(|e| e.into_inner());
    let mut all: Listeners = guard.as_deref().cloned().unwrap_or_default();
    change(&mut all);
    COUNT.store(all.len(), Ordering::Release);
    *guard = Some(Arc::new(all));
}

/// Whether an event would reach anyone: a listener, or (feature `tracing`) a
/// subscriber that takes this crate's events. Checked before an event is made.
#[inline(always)]
pub(crate) fn enabled() -> bool {
    COUNT.load(Ordering::Relaxed) != 0 || tracing_enabled()
}

#[cfg(feature = "tracing")]
#[inline(always)]
fn tracing_enabled() -> bool {
    tracing::level_filters::LevelFilter::current() != tracing::level_filters::LevelFilter::OFF
}

#[cfg(not(feature = "tracing"))]
#[inline(always)]
fn tracing_enabled() -> bool {
    false
}

/// Tells everyone of an event of `policy` `name`, if anyone listens. `kind` is made
/// only then.
#[inline]
#[allow(clippy::ptr_arg)] // the `Cow` is cloned: a `'static` name stays borrowed
pub(crate) fn emit(policy: PolicyKind, name: &Cow<'static, str>, kind: impl FnOnce() -> EventKind) {
    if enabled() {
        emit_at(policy, name, tokio::time::Instant::now(), kind);
    }
}

/// [`emit`] for an event dated `at` (a transition noticed after it took effect).
#[inline]
#[allow(clippy::ptr_arg)] // as for `emit`
pub(crate) fn emit_at(
    policy: PolicyKind,
    name: &Cow<'static, str>,
    at: tokio::time::Instant,
    kind: impl FnOnce() -> EventKind,
) {
    if enabled() {
        dispatch(&Event {
            policy,
            name: name.clone(),
            kind: kind(),
            at,
        });
    }
}

#[cold]
#[inline(never)]
fn dispatch(event: &Event) {
    #[cfg(feature = "tracing")]
    crate::integrations::tracing::record(event);
    if COUNT.load(Ordering::Acquire) == 0 {
        return;
    }
    let listeners = LISTENERS.read().unwrap_or_else(|e| e.into_inner()).clone();
    for (_, listener) in listeners.iter().flat_map(|all| all.iter()) {
        // A panicking listener must not break the call or the listeners after it.
        let _ = catch_unwind(AssertUnwindSafe(|| listener(event)));
    }
}
