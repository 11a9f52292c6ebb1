//! Retries, per-host circuit breakers and per-attempt timeouts for reqwest, as a
//! [`reqwest_middleware::Middleware`] (feature `reqwest`).
//!
//! [`Resilience`] is built like the attributes, from the policies' own builders, and
//! each policy counts, emits events and appears in
//! [`registry::snapshot`](crate::registry::snapshot) under the name its builder gave:
//!
//! ```
//! use std::time::Duration;
//! use resilience_runtime::{CircuitBreaker, Jitter, Retry, backoff::Exponential};
//! use resilience_runtime::reqwest::Resilience;
//!
//! # fn main() -> Result<(), resilience_runtime::ConfigError> {
//! let resilience = Resilience::builder()
//!     .retry(
//!         Retry::builder()
//!             .name("upstream")
//!             .max_attempts(3)
//!             .backoff(Exponential::new(Duration::from_millis(100), 2.0, Duration::from_secs(2)))
//!             .jitter(Jitter::Full)
//!             .max_elapsed(Duration::from_secs(10)),
//!     )
//!     .circuit_breaker_per_host(CircuitBreaker::builder("upstream").consecutive_failures(5))
//!     .timeout(Duration::from_secs(2))
//!     .build()?;
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(resilience)
//!     .build();
//! # let _ = client;
//! # Ok(()) }
//! ```
//!
//! # What is retried
//!
//! Each attempt goes through the host's breaker and then the timeout (Resilience4j's
//! order: retry outside, breaker, time limit per attempt). A request is sent again only
//! when all of these hold:
//!
//! - its method is idempotent: `GET`, `HEAD`, `OPTIONS`, `PUT`, `DELETE` or `TRACE`
//!   (a `POST` or `PATCH` is sent once);
//! - its body can be cloned ([`reqwest::Request::try_clone`]): a body made from bytes
//!   or a string can, a streaming body ([`reqwest::Body::wrap`], `wrap_stream`) cannot
//!   and is **never retried**, since what was already sent of it is gone;
//! - the attempt failed with a connection error (refused, reset, aborted), a timeout
//!   (the per-attempt [`timeout`](ResilienceBuilder::timeout) or reqwest's own), or
//!   one of the statuses `408`, `429`, `500`, `502`, `503`, `504`.
//!
//! When every attempt fails, the last outcome is returned as it is: the last response
//! (a `503` is still an `Ok(response)`, as without the middleware) or the last error.
//!
//! A response's `Retry-After` (seconds, or an HTTP date) is a lower bound of the wait
//! before the next attempt; the backoff's delay applies when it is longer. A
//! `Retry-After` that does not parse is ignored. One that would end past the retry's
//! `max_elapsed` ends the retries at once, returning that response; without
//! `max_elapsed` it is waited for, however long it is.
//!
//! # Breakers per host
//!
//! [`circuit_breaker_per_host`](ResilienceBuilder::circuit_breaker_per_host) keeps one
//! breaker per host and port (a [`KeyedCircuitBreaker`] keyed by `"host:port"`,
//! registered under the builder's name), so a dead host opens its own breaker and the
//! others stay closed. A breaker counts connection errors, timeouts and `5xx` responses
//! as failures, every other response as a success; an open breaker refuses the request
//! without sending it, and the error is
//! [`reqwest_middleware::Error::Middleware`] holding the [`Rejection`]
//! (`err.downcast_ref::<Rejection>()` on the `anyhow::Error` finds it). A refusal is not
//! retried.
//!
//! # Timeout
//!
//! [`timeout`](ResilienceBuilder::timeout) limits each attempt (not the whole call),
//! measured with `tokio::time`; it is named after the breaker's builder, or `"http"`.

use std::borrow::Cow;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::Extensions;
use reqwest::{Method, Request, Response, StatusCode};
use reqwest_middleware::{Middleware, Next};

use crate::backoff::Backoff;
use crate::circuit_breaker::CircuitBreakerBuilder;
use crate::config::ConfigError;
use crate::retry::{RetryBuilder, RetryRun};
use crate::{CircuitBreaker, KeyedCircuitBreaker, Rejection, Retry, Timeout};

/// Retries, per-host breakers and per-attempt timeouts for a reqwest client, as a
/// [`reqwest_middleware::Middleware`]; see the [module docs](self).
///
/// Cloning is cheap; the clones share the policies.
#[derive(Clone)]
pub struct Resilience {
    retry: Option<Arc<dyn Schedule>>,
    breakers: Option<KeyedCircuitBreaker>,
    timeout: Option<Timeout>,
}

impl fmt::Debug for Resilience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resilience")
            .field("retry", &self.retry.is_some())
            .field("breakers", &self.breakers)
            .field("timeout", &self.timeout.as_ref().map(Timeout::after))
            .finish()
    }
}

type BuildRetry = Box<dyn FnOnce() -> Result<Arc<dyn Schedule>, ConfigError> + Send>;

/// Builds a [`Resilience`] from the policies' builders; from [`Resilience::builder`].
/// Every part is optional.
#[must_use]
pub struct ResilienceBuilder {
    retry: Option<BuildRetry>,
    breaker: Option<CircuitBreakerBuilder>,
    max_hosts: usize,
    timeout: Option<Duration>,
}

impl fmt::Debug for ResilienceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResilienceBuilder")
            .field("retry", &self.retry.is_some())
            .field("breaker", &self.breaker)
            .field("max_hosts", &self.max_hosts)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Resilience {
    /// A builder with nothing in it: no retry, no breaker, no timeout.
    pub fn builder() -> ResilienceBuilder {
        ResilienceBuilder {
            retry: None,
            breaker: None,
            max_hosts: crate::DEFAULT_MAX_KEYS,
            timeout: None,
        }
    }

    /// The breaker of `host` (as `"host:port"`, e.g. `"127.0.0.1:8080"` or
    /// `"example.com:443"`), if a request to it was made and it is still held.
    pub fn breaker(&self, host: &str) -> Option<CircuitBreaker> {
        self.breakers.as_ref()?.get(&host.to_owned())
    }

    /// The keyed breaker holding one breaker per host, if the builder had one.
    pub fn breakers(&self) -> Option<&KeyedCircuitBreaker> {
        self.breakers.as_ref()
    }
}

impl ResilienceBuilder {
    /// Retries with this policy (its attempts, backoff, jitter, `max_elapsed` and
    /// name), under the rules of the [module docs](self#what-is-retried).
    pub fn retry<B>(mut self, retry: RetryBuilder<B>) -> Self
    where
        B: Backoff + Send + Sync + 'static,
    {
        self.retry = Some(Box::new(move || {
            retry.build().map(|r| Arc::new(r) as Arc<dyn Schedule>)
        }));
        self
    }

    /// One breaker per host, each with this builder's settings, shared by name (a
    /// [`KeyedCircuitBreaker`] registered under the builder's name).
    pub fn circuit_breaker_per_host(mut self, breaker: CircuitBreakerBuilder) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// The most hosts whose breakers are held at once (least recently used dropped);
    /// default [`DEFAULT_MAX_KEYS`](crate::DEFAULT_MAX_KEYS).
    pub fn max_hosts(mut self, max_hosts: usize) -> Self {
        self.max_hosts = max_hosts;
        self
    }

    /// A time limit on each attempt.
    pub fn timeout(mut self, after: Duration) -> Self {
        self.timeout = Some(after);
        self
    }

    /// The middleware, or what is wrong with one of its policies.
    pub fn build(self) -> Result<Resilience, ConfigError> {
        if self.timeout == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "reqwest",
                "timeout",
                "must be more than zero (every attempt would time out)",
            ));
        }
        let name: Cow<'static, str> = match &self.breaker {
            Some(b) => b.name.clone(),
            None => Cow::Borrowed("http"),
        };
        let breakers = match self.breaker {
            Some(b) => Some(b.keyed().max_keys(self.max_hosts).register()?),
            None => None,
        };
        let retry = match self.retry {
            Some(build) => Some(build()?),
            None => None,
        };
        Ok(Resilience {
            retry,
            breakers,
            timeout: self.timeout.map(|after| Timeout::new(name, after)),
        })
    }
}

/// A retry policy whatever its backoff's type.
trait Schedule: Send + Sync {
    fn start(&self) -> RetryRun<'_>;
    fn decide(
        &self,
        run: &mut RetryRun<'_>,
        outcome: Result<Response, Failure>,
        may_retry: bool,
    ) -> ControlFlow<Result<Response, Failure>, Duration>;
}

impl<B: Backoff + Send + Sync> Schedule for Retry<B> {
    fn start(&self) -> RetryRun<'_> {
        Retry::start(self)
    }

    fn decide(
        &self,
        run: &mut RetryRun<'_>,
        outcome: Result<Response, Failure>,
        may_retry: bool,
    ) -> ControlFlow<Result<Response, Failure>, Duration> {
        run.after_hinted(
            self,
            outcome,
            |failure| may_retry && failure.retryable(),
            Failure::retry_after,
            |_, _, _| {},
        )
    }
}

/// Why an attempt did not simply succeed.
enum Failure {
    /// A response whose status is retried or counts against the host (boxed: a
    /// response is large, and the failures are the rare path).
    Status(Box<Response>),
    /// The request did not get a response.
    Transport(reqwest_middleware::Error),
    /// A policy refused or timed the attempt out.
    Rejected(Rejection),
}

impl From<Rejection> for Failure {
    fn from(rejection: Rejection) -> Self {
        Failure::Rejected(rejection)
    }
}

/// The statuses a retry sends the request again for.
fn retried_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

impl Failure {
    fn retryable(&self) -> bool {
        match self {
            Failure::Status(response) => retried_status(response.status()),
            Failure::Transport(error) => transport_failure(error),
            Failure::Rejected(rejection) => matches!(rejection, Rejection::Timeout { .. }),
        }
    }

    /// Whether the host's breaker counts it as a failure.
    fn against_host(&self) -> bool {
        match self {
            Failure::Status(response) => response.status().is_server_error(),
            Failure::Transport(error) => transport_failure(error),
            Failure::Rejected(rejection) => matches!(rejection, Rejection::Timeout { .. }),
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Failure::Status(response) => {
                let value = response.headers().get(http::header::RETRY_AFTER)?;
                parse_retry_after(value.to_str().ok()?, SystemTime::now())
            }
            _ => None,
        }
    }

    fn into_result(self) -> reqwest_middleware::Result<Response> {
        match self {
            Failure::Status(response) => Ok(*response),
            Failure::Transport(error) => Err(error),
            Failure::Rejected(rejection) => Err(reqwest_middleware::Error::middleware(rejection)),
        }
    }
}

/// A `Retry-After` value (delay-seconds, or an HTTP date taken against `now`); `None`
/// when it does not parse. A date in the past is no wait.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is a wait longer than anyone can honour.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A connection error (refused, reset, aborted, closed early) or a timeout.
fn transport_failure(error: &reqwest_middleware::Error) -> bool {
    let reqwest_middleware::Error::Reqwest(error) = error else {
        return false; // another middleware's error: not the host's doing
    };
    if error.is_connect() || error.is_timeout() {
        return true;
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionRefused
                    | ConnectionReset
                    | ConnectionAborted
                    | NotConnected
                    | BrokenPipe
                    | UnexpectedEof
                    | TimedOut
            ) {
                return true;
            }
        }
        source = cause.source();
    }
    false
}

fn idempotent(method: &Method) -> bool {
    [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::PUT,
        Method::DELETE,
        Method::TRACE,
    ]
    .contains(method)
}

/// The breaker key of a URL: `host:port`.
fn host_key(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    let port = url.port_or_known_default()?;
    Some(format!("{host}:{port}"))
}

impl Resilience {
    /// One attempt: through the host's breaker, then the timeout.
    async fn attempt(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
        breaker: Option<&CircuitBreaker>,
    ) -> Result<Response, Failure> {
        let send = async {
            let sent = next.run(request, extensions);
            let classify = |sent: reqwest_middleware::Result<Response>| match sent {
                Ok(response)
                    if retried_status(response.status()) || response.status().is_server_error() =>
                {
                    Err(Failure::Status(Box::new(response)))
                }
                Ok(response) => Ok(response),
                Err(error) => Err(Failure::Transport(error)),
            };
            match &self.timeout {
                Some(timeout) => timeout.call(async { classify(sent.await) }).await,
                None => classify(sent.await),
            }
        };
        match breaker {
            Some(breaker) => breaker.call_with(Failure::against_host, send).await,
            None => send.await,
        }
    }
}

#[async_trait::async_trait]
impl Middleware for Resilience {
    async fn handle(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let breaker = match (&self.breakers, host_key(request.url())) {
            (Some(breakers), Some(host)) => Some(breakers.breaker(&host)),
            _ => None,
        };
        let Some(retry) = &self.retry else {
            let outcome = self
                .attempt(request, extensions, next, breaker.as_ref())
                .await;
            return outcome.or_else(Failure::into_result);
        };
        let idempotent = idempotent(request.method());
        let mut run = retry.start();
        let mut request = request;
        loop {
            // A copy for the next attempt, where one may follow (idempotent, and a
            // body that can be cloned).
            let spare = if idempotent {
                request.try_clone()
            } else {
                None
            };
            let outcome = self
                .attempt(request, extensions, next.clone(), breaker.as_ref())
                .await;
            let may_retry = spare.is_some();
            match retry.decide(&mut run, outcome, may_retry) {
                ControlFlow::Break(outcome) => return outcome.or_else(Failure::into_result),
                ControlFlow::Continue(delay) => {
                    tokio::time::sleep(delay).await;
                    match spare {
                        Some(spare) => request = spare,
                        // `decide` retries only when there is a copy.
                        None => unreachable!("a retry without a copy of the request"),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        for junk in ["", "soon", "-1", "1.5", "Mon, 99 Foo 2020"] {
            assert_eq!(parse_retry_after(junk, now), None, "{junk:?}");
        }
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn methods_and_statuses() {
        for m in ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"] {
            assert!(idempotent(&m.parse().unwrap()), "{m}");
        }
        for m in ["POST", "PATCH", "CONNECT"] {
            assert!(!idempotent(&m.parse().unwrap()), "{m}");
        }
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(retried_status(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [200, 400, 401, 404, 409, 501, 505] {
            assert!(!retried_status(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }

    #[test]
    fn host_keys_include_the_port() {
        let key = |u: &str| host_key(&u.parse().unwrap());
        assert_eq!(
            key("http://127.0.0.1:8080/a"),
            Some("127.0.0.1:8080".into())
        );
        assert_eq!(key("https://example.com/"), Some("example.com:443".into()));
        assert_eq!(key("http://example.com/"), Some("example.com:80".into()));
    }

    #[test]
    fn a_zero_timeout_is_refused() {
        let err = Resilience::builder()
            .timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(err.field, "timeout");
    }
}
