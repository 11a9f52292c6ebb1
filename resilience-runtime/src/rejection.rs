//! The error a policy returns when it refuses to run the body.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::OnceLock;
use std::time::Duration;

/// Why a policy refused to run the body.
///
/// Every policy that can refuse (`circuit_breaker`, `timeout`, `bulkhead`, `rate_limit`)
/// returns `Err(E::from(rejection))`; the function's error type needs a
/// `From<Rejection>` conversion, typically a `#[from]` variant:
///
/// ```
/// #[derive(Debug, thiserror::Error)]
/// enum ApiError {
///     #[error("backend said {0}")]
///     Backend(u16),
///     #[error(transparent)]
///     Rejected(#[from] resilience_runtime::Rejection),
/// }
/// ```
///
/// Its `Display` is a diagnosis: which policy, why, and when to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// The circuit breaker `name` is open (or forced open): the call was not made.
    CircuitOpen {
        /// The breaker's name.
        name: Cow<'static, str>,
        /// Time until the breaker lets a trial call through.
        retry_after: Duration,
    },
    /// The body did not finish within `after`; its future was dropped.
    Timeout {
        /// The timeout's name.
        name: Cow<'static, str>,
        /// The configured time limit.
        after: Duration,
    },
    /// The bulkhead `name` had all `max_concurrent` slots taken and no wait was possible.
    BulkheadFull {
        /// The bulkhead's name.
        name: Cow<'static, str>,
        /// The concurrency limit in force when the call was refused.
        max_concurrent: usize,
    },
    /// The rate limiter `name` has no slot free now.
    RateLimited {
        /// The rate limiter's name.
        name: Cow<'static, str>,
        /// Time after which a call is admitted.
        retry_after: Duration,
    },
    /// The policy `name` is shutting down and accepts no new calls.
    ShuttingDown {
        /// The policy's name.
        name: Cow<'static, str>,
    },
}

impl Rejection {
    /// When a later call may succeed, where the policy knows it.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Rejection::CircuitOpen { retry_after, .. }
            | Rejection::RateLimited { retry_after, .. } => Some(*retry_after),
            Rejection::Timeout { .. }
            | Rejection::BulkheadFull { .. }
            | Rejection::ShuttingDown { .. } => None,
        }
    }

    /// The name of the policy that refused the call.
    pub fn name(&self) -> &str {
        match self {
            Rejection::CircuitOpen { name, .. }
            | Rejection::Timeout { name, .. }
            | Rejection::BulkheadFull { name, .. }
            | Rejection::RateLimited { name, .. }
            | Rejection::ShuttingDown { name } => name,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::CircuitOpen { name, retry_after } => {
                write!(f, "circuit breaker '{name}' is open")?;
                if let Some(reason) = detail(Source::CircuitBreaker, name) {
                    write!(f, ": {reason}")?;
                }
                if *retry_after == Duration::MAX {
                    write!(f, "; no trial until it is reset")
                } else {
                    write!(f, "; next trial in {}", HumanDuration(*retry_after))
                }
            }
            Rejection::Timeout { name, after } => write!(
                f,
                "'{name}' timed out: no result within {}; the call was cancelled",
                HumanDuration(*after)
            ),
            Rejection::BulkheadFull {
                name,
                max_concurrent,
            } => {
                write!(f, "bulkhead '{name}' is full: ")?;
                match detail(Source::Bulkhead, name) {
                    Some(detail) => f.write_str(&detail)?,
                    None => write!(f, "all {max_concurrent} slots are taken")?,
                }
                write!(f, "; retry when a running call finishes")
            }
            Rejection::RateLimited { name, retry_after } => {
                write!(f, "rate limit '{name}' exceeded")?;
                if let Some(detail) = detail(Source::RateLimit, name) {
                    write!(f, ": {detail}")?;
                }
                if *retry_after == Duration::MAX {
                    // A call that costs more than the burst: no slot will ever fit it.
                    match detail(Source::RateLimitCost, name) {
                        Some(detail) => write!(f, "; {detail}"),
                        None => write!(
                            f,
                            "; this call costs more than the burst, so it can never be admitted"
                        ),
                    }
                } else {
                    write!(f, "; next slot in {}", HumanDuration(*retry_after))
                }
            }
            Rejection::ShuttingDown { name } => {
                write!(f, "'{name}' is shutting down and accepts no new calls")
            }
        }
    }
}

impl std::error::Error for Rejection {}

/// The policies whose rejections explain themselves with details found by name.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source {
    CircuitBreaker = 0,
    Bulkhead = 1,
    RateLimit = 2,
    /// Why a weighted call can never pass (its cost is above the burst).
    RateLimitCost = 3,
}

/// How a policy module finds why its policy of a given name refuses calls.
pub(crate) type Detail = fn(&str) -> Option<String>;

static DETAILS: [OnceLock<Detail>; 4] = [const { OnceLock::new() }; 4];

/// Called by a policy module before it first refuses a call: how the rejection's
/// message finds the details. (The policies depend on this module, not the reverse.)
#[cold]
pub(crate) fn explain_with(source: Source, detail: Detail) {
    // Set once; later calls find it set.
    let _ = DETAILS[source as usize].set(detail);
}

fn detail(source: Source, name: &str) -> Option<String> {
    DETAILS[source as usize].get().and_then(|find| find(name))
}

/// Implemented for every error type that can carry a [`Rejection`], that is every
/// `E: From<Rejection>`. Policies that can refuse a call require it; users implement
/// `From<Rejection>`, never this trait.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot carry a `resilience_runtime::Rejection`",
    label = "this function's error type needs `From<Rejection>`",
    note = "a policy that can refuse a call returns `Err(E::from(rejection))`",
    note = "add a variant to the error type, e.g. with thiserror: `#[error(transparent)] Rejected(#[from] resilience_runtime::Rejection)`"
)]
pub trait FromRejection: Sized {
    /// Wraps the rejection into this error type.
    fn from_rejection(rejection: Rejection) -> Self;
}

impl<E: From<Rejection>> FromRejection for E {
    #[inline]
    fn from_rejection(rejection: Rejection) -> Self {
        E::from(rejection)
    }
}

/// A policy's name, turned into text only when it is needed (in a rejection, or when
/// the policy is first built).
pub trait PolicyName {
    /// The name.
    fn to_name(self) -> Cow<'static, str>;
}

impl PolicyName for &'static str {
    #[inline]
    fn to_name(self) -> Cow<'static, str> {
        Cow::Borrowed(self)
    }
}

impl PolicyName for &Cow<'static, str> {
    #[inline]
    fn to_name(self) -> Cow<'static, str> {
        self.clone()
    }
}

/// The default name of a method's policy, `module::Type::method`, with the type's path
/// read from `S` (its generic arguments left out: every instance shares the policy).
/// Zero-sized until the name is needed.
pub struct MethodName<S: ?Sized> {
    method: &'static str,
    of: PhantomData<fn() -> *const S>,
}

impl<S: ?Sized> MethodName<S> {
    /// The name of method `method` of `S`.
    pub const fn new(method: &'static str) -> Self {
        MethodName {
            method,
            of: PhantomData,
        }
    }
}

impl<S: ?Sized> PolicyName for MethodName<S> {
    fn to_name(self) -> Cow<'static, str> {
        let ty = std::any::type_name::<S>();
        let ty = ty.split('<').next().unwrap_or(ty);
        Cow::Owned(format!("{ty}::{}", self.method))
    }
}

impl<S: ?Sized> From<MethodName<S>> for Cow<'static, str> {
    fn from(name: MethodName<S>) -> Self {
        name.to_name()
    }
}

/// A duration written the way a person reads it: `27s`, `1.5s`, `250ms`, `2m 5s`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HumanDuration(pub(crate) Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let ms = d.as_millis();
        if d.is_zero() {
            f.write_str("0s")
        } else if ms == 0 {
            write!(f, "{}us", d.as_micros().max(1))
        } else if ms < 1_000 {
            write!(f, "{ms}ms")
        } else if ms < 60_000 {
            if ms % 1_000 == 0 {
                write!(f, "{}s", ms / 1_000)
            } else {
                write!(f, "{:.1}s", d.as_secs_f64())
            }
        } else {
            let secs = d.as_secs();
            let (h, m, s) = (secs / 3_600, secs / 60 % 60, secs % 60);
            if h > 0 {
                write!(f, "{h}h {m}m")
            } else if s > 0 {
                write!(f, "{m}m {s}s")
            } else {
                write!(f, "{m}m")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_micros(20), "20us"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_secs(27), "27s"),
            (Duration::from_millis(1_500), "1.5s"),
            (Duration::from_secs(125), "2m 5s"),
            (Duration::from_secs(120), "2m"),
            (Duration::from_secs(3_700), "1h 1m"),
        ];
        for (d, text) in cases {
            assert_eq!(HumanDuration(d).to_string(), text, "{d:?}");
        }
    }

    #[test]
    fn accessors() {
        let r = Rejection::RateLimited {
            name: "api".into(),
            retry_after: Duration::from_millis(20),
        };
        assert_eq!(r.name(), "api");
        assert_eq!(r.retry_after(), Some(Duration::from_millis(20)));
        let t = Rejection::Timeout {
            name: "slow".into(),
            after: Duration::from_secs(2),
        };
        assert_eq!(t.retry_after(), None);
        assert_eq!(
            t.to_string(),
            "'slow' timed out: no result within 2s; the call was cancelled"
        );
    }

    #[test]
    fn is_error_clone_send_sync_static() {
        fn check<T: std::error::Error + Clone + Send + Sync + 'static>() {}
        check::<Rejection>();
    }
}
