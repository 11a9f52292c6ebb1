//! Every policy as a [`tower::Layer`] (feature `tower`).
//!
//! Each policy gains a `layer()` method: [`CircuitBreaker::layer`],
//! [`Bulkhead::layer`], [`RateLimiter::layer`], [`KeyedRateLimiter::layer`],
//! [`Timeout::layer`] and [`Retry::layer`]. The layer wraps a service in the policy
//! itself, not a copy: a layer made from the registry's instance
//! (`registry::circuit_breaker("payments").unwrap().layer()`) shares its state, events
//! and metrics with every `#[circuit_breaker(name = "payments")]` function, and calls
//! through the layer count in [`registry::snapshot`](crate::registry::snapshot) like
//! calls of the attributes.
//!
//! ```
//! use std::time::Duration;
//! use resilience_runtime::{Bulkhead, CircuitBreaker, RateLimiter, Rate, Timeout};
//! use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let breaker = CircuitBreaker::builder("inventory").build()?;
//! let limiter = RateLimiter::builder("inventory").rate(Rate::per_second(100)).build()?;
//! let bulkhead = Bulkhead::builder("inventory").max_concurrent(8).build()?;
//! let mut service = ServiceBuilder::new()
//!     .layer(breaker.layer())
//!     .layer(limiter.layer())
//!     .layer(Timeout::new("inventory", Duration::from_secs(2)).layer())
//!     .layer(bulkhead.layer())
//!     .service(service_fn(|sku: &'static str| async move {
//!         Ok::<_, BoxError>(sku.len())
//!     }));
//! assert_eq!(service.ready().await?.call("sku-1").await?, 5);
//! # Ok(()) }
//! ```
//!
//! # The services
//!
//! - **Readiness.** `poll_ready` is the inner service's: no policy takes anything
//!   there. A bulkhead slot or a rate-limit slot is taken in the future that `call`
//!   returns, when it is first polled, and a breaker admits the call there too. So a
//!   caller that polls the service ready and then drops it, or never calls, holds no
//!   slot; a dropped response future gives back what it held (as a cancelled call of
//!   the policy does).
//! - **The inner call.** A policy that can refuse (breaker, bulkhead, rate limit) calls
//!   the inner service only once it has admitted the call: a refused call never reaches
//!   it. So these need a `Clone` inner service (axum's routes and handlers are): as
//!   tower's own `Retry` and `Buffer` do, the service that was polled ready moves into
//!   the response future, and a clone stays behind for the next `poll_ready`. A timeout
//!   calls the inner service at once and races its future.
//! - **Errors.** The service's error is [`tower::BoxError`](::tower::BoxError), as
//!   tower's own layers have it: the inner service's error, boxed, or the policy's
//!   [`Rejection`](crate::Rejection), which `err.downcast_ref::<Rejection>()` finds.
//!   A breaker counts every inner error as a failure; a retry retries every error.
//! - **Futures** are boxed (`Send + 'static`, as axum and hyper need), so the inner
//!   service's future and response must be `Send + 'static`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::tower::{BoxError, Layer, Service};

use crate::backoff::Backoff;
use crate::{Bulkhead, CircuitBreaker, KeyedRateLimiter, RateLimiter, Retry, Timeout};

/// The future of every service of this module: the inner service's response, or its
/// error or the policy's rejection, boxed.
pub type ResponseFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

macro_rules! policy_layer {
    // A policy that may refuse: the inner call is made only once it admits the call.
    (@service $service:ident, $field:ident, ) => {
        impl<S, Req> Service<Req> for $service<S>
        where
            S: Service<Req> + Clone + Send + 'static,
            S::Error: Into<BoxError>,
            S::Future: Send + 'static,
            S::Response: Send + 'static,
            Req: Send + 'static,
        {
            type Response = S::Response;
            type Error = BoxError;
            type Future = ResponseFuture<S::Response>;

            #[inline]
            fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
                self.inner.poll_ready(cx).map_err(Into::into)
            }

            #[inline]
            fn call(&mut self, request: Req) -> Self::Future {
                // The service polled ready makes the call; a clone stays behind.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let $field = self.$field.clone();
                Box::pin(async move {
                    $field
                        .call(async move { inner.call(request).await.map_err(Into::into) })
                        .await
                })
            }
        }
    };
    // A policy that never refuses before the call runs: the inner call is made at once.
    (@service $service:ident, $field:ident, eager) => {
        impl<S, Req> Service<Req> for $service<S>
        where
            S: Service<Req>,
            S::Error: Into<BoxError>,
            S::Future: Send + 'static,
            S::Response: Send + 'static,
        {
            type Response = S::Response;
            type Error = BoxError;
            type Future = ResponseFuture<S::Response>;

            #[inline]
            fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
                self.inner.poll_ready(cx).map_err(Into::into)
            }

            #[inline]
            fn call(&mut self, request: Req) -> Self::Future {
                let $field = self.$field.clone();
                let inner = self.inner.call(request);
                Box::pin(async move {
                    $field.call(async move { inner.await.map_err(Into::into) }).await
                })
            }
        }
    };
    (
        $(#[$layer_doc:meta])* $layer:ident,
        $(#[$service_doc:meta])* $service:ident,
        $policy:ty, $field:ident $(, $mode:ident)?
    ) => {
        $(#[$layer_doc])*
        #[derive(Clone)]
        pub struct $layer {
            $field: $policy,
        }

        impl $layer {
            /// The policy the layer's services call through.
            pub fn policy(&self) -> &$policy {
                &self.$field
            }
        }

        impl fmt::Debug for $layer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($layer))
                    .field(stringify!($field), &self.$field.name())
                    .finish()
            }
        }

        impl<S> Layer<S> for $layer {
            type Service = $service<S>;

            fn layer(&self, inner: S) -> $service<S> {
                $service {
                    inner,
                    $field: self.$field.clone(),
                }
            }
        }

        $(#[$service_doc])*
        #[derive(Clone)]
        pub struct $service<S> {
            inner: S,
            $field: $policy,
        }

        impl<S> $service<S> {
            /// The inner service.
            pub fn get_ref(&self) -> &S {
                &self.inner
            }

            /// The inner service, mutably.
            pub fn get_mut(&mut self) -> &mut S {
                &mut self.inner
            }

            /// The inner service, unwrapped.
            pub fn into_inner(self) -> S {
                self.inner
            }
        }

        impl<S: fmt::Debug> fmt::Debug for $service<S> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($service))
                    .field(stringify!($field), &self.$field.name())
                    .field("inner", &self.inner)
                    .finish()
            }
        }

        policy_layer!(@service $service, $field, $($mode)?);
    };
}

policy_layer!(
    /// Wraps services in a [`CircuitBreaker`]; from [`CircuitBreaker::layer`].
    CircuitBreakerLayer,
    /// A service whose calls go through a [`CircuitBreaker`]: every inner error counts
    /// as a failure, and an open breaker answers `Rejection::CircuitOpen` without
    /// polling the inner future.
    CircuitBreakerService,
    CircuitBreaker,
    breaker
);

policy_layer!(
    /// Wraps services in a [`Bulkhead`]; from [`Bulkhead::layer`].
    BulkheadLayer,
    /// A service whose calls each hold a [`Bulkhead`] slot while the inner future
    /// runs. The slot is taken when the response future is first polled (waiting up to
    /// the bulkhead's `max_wait`), not in `poll_ready`, and given back when the future
    /// completes or is dropped.
    BulkheadService,
    Bulkhead,
    bulkhead
);

policy_layer!(
    /// Wraps services in a [`RateLimiter`]; from [`RateLimiter::layer`].
    RateLimitLayer,
    /// A service whose calls are paced by a [`RateLimiter`]: the slot is taken when
    /// the response future is first polled (waiting up to the limiter's `max_wait`),
    /// not in `poll_ready`; a call over the rate gets `Rejection::RateLimited`.
    RateLimitService,
    RateLimiter,
    limiter
);

policy_layer!(
    /// Wraps services in a [`Timeout`]; from [`Timeout::layer`].
    TimeoutLayer,
    /// A service whose calls are given up after the [`Timeout`]'s limit: the inner
    /// future is dropped and the call answers `Rejection::Timeout`.
    TimeoutService,
    Timeout,
    timeout,
    eager
);

impl CircuitBreaker {
    /// This breaker as a [`tower::Layer`] (feature `tower`): calls
    /// through its services are admitted, counted and refused by this very breaker.
    pub fn layer(&self) -> CircuitBreakerLayer {
        CircuitBreakerLayer {
            breaker: self.clone(),
        }
    }
}

impl Bulkhead {
    /// This bulkhead as a [`tower::Layer`] (feature `tower`): calls
    /// through its services share this bulkhead's slots.
    pub fn layer(&self) -> BulkheadLayer {
        BulkheadLayer {
            bulkhead: self.clone(),
        }
    }
}

impl RateLimiter {
    /// This limiter as a [`tower::Layer`] (feature `tower`): calls
    /// through its services share this limiter's budget.
    pub fn layer(&self) -> RateLimitLayer {
        RateLimitLayer {
            limiter: self.clone(),
        }
    }
}

impl Timeout {
    /// This timeout as a [`tower::Layer`] (feature `tower`).
    pub fn layer(&self) -> TimeoutLayer {
        TimeoutLayer {
            timeout: self.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------
// Keyed rate limits
// ---------------------------------------------------------------------------------

impl KeyedRateLimiter {
    /// This keyed limiter as a [`tower::Layer`] (feature `tower`):
    /// each request's key is `key_fn(&request)` (a client address, a user, a tenant),
    /// and each key has its own budget.
    ///
    /// ```
    /// use resilience_runtime::{KeyedRateLimiter, Rate, Rejection};
    /// use tower::{BoxError, Layer, Service, ServiceExt, service_fn};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), BoxError> {
    /// let per_user = KeyedRateLimiter::builder("per-user").rate(Rate::per_minute(1)).build()?;
    /// let mut service = per_user
    ///     .layer(|user: &String| user.clone())
    ///     .layer(service_fn(|user: String| async move { Ok::<_, BoxError>(user) }));
    /// service.ready().await?.call("ann".to_string()).await?;
    /// let refused = service.ready().await?.call("ann".to_string()).await.unwrap_err();
    /// assert!(matches!(refused.downcast_ref(), Some(Rejection::RateLimited { .. })));
    /// service.ready().await?.call("bob".to_string()).await?;
    /// # Ok(()) }
    /// ```
    pub fn layer<F>(&self, key_fn: F) -> KeyedRateLimitLayer<F> {
        KeyedRateLimitLayer {
            limiter: self.clone(),
            key_fn: Arc::new(key_fn),
        }
    }
}

/// Wraps services in a [`KeyedRateLimiter`], keyed by a function of the request; from
/// [`KeyedRateLimiter::layer`].
pub struct KeyedRateLimitLayer<F> {
    limiter: KeyedRateLimiter,
    key_fn: Arc<F>,
}

impl<F> Clone for KeyedRateLimitLayer<F> {
    fn clone(&self) -> Self {
        KeyedRateLimitLayer {
            limiter: self.limiter.clone(),
            key_fn: self.key_fn.clone(),
        }
    }
}

impl<F> fmt::Debug for KeyedRateLimitLayer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimitLayer")
            .field("limiter", &self.limiter.name())
            .finish_non_exhaustive()
    }
}

impl<F> KeyedRateLimitLayer<F> {
    /// The limiter the layer's services call through.
    pub fn policy(&self) -> &KeyedRateLimiter {
        &self.limiter
    }
}

impl<S, F> Layer<S> for KeyedRateLimitLayer<F> {
    type Service = KeyedRateLimitService<S, F>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedRateLimitService {
            inner,
            limiter: self.limiter.clone(),
            key_fn: self.key_fn.clone(),
        }
    }
}

/// A service whose calls are paced by a [`KeyedRateLimiter`], one budget per key of
/// the request; the slot is taken when the response future is first polled.
pub struct KeyedRateLimitService<S, F> {
    inner: S,
    limiter: KeyedRateLimiter,
    key_fn: Arc<F>,
}

impl<S: Clone, F> Clone for KeyedRateLimitService<S, F> {
    fn clone(&self) -> Self {
        KeyedRateLimitService {
            inner: self.inner.clone(),
            limiter: self.limiter.clone(),
            key_fn: self.key_fn.clone(),
        }
    }
}

impl<S: fmt::Debug, F> fmt::Debug for KeyedRateLimitService<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimitService")
            .field("limiter", &self.limiter.name())
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, F> KeyedRateLimitService<S, F> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, F, K, Req> Service<Req> for KeyedRateLimitService<S, F>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    F: Fn(&Req) -> K,
    K: crate::PolicyKey,
    Req: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Response>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let key = (self.key_fn)(&request);
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let limiter = self.limiter.clone();
        Box::pin(async move {
            limiter
                .call(
                    key,
                    async move { inner.call(request).await.map_err(Into::into) },
                )
                .await
        })
    }
}

// ---------------------------------------------------------------------------------
// Retry
// ---------------------------------------------------------------------------------

impl<B: Backoff + Clone> Retry<B> {
    /// This retry policy as a [`tower::Layer`] (feature `tower`).
    ///
    /// Requests must be `Clone` (each attempt sends a clone) and so must the inner
    /// service: the first attempt uses the service that was polled ready, each later
    /// one waits for a clone of it to be ready. Every error is retried (an inner
    /// policy's rejection too); when every attempt fails, the last error is returned.
    /// The attempts are counted, and `RetryScheduled` / `RetriesExhausted` told, under
    /// the policy's name.
    pub fn layer(&self) -> RetryLayer<B> {
        RetryLayer {
            retry: Arc::new(self.clone()),
        }
    }
}

/// Wraps services in a [`Retry`]; from [`Retry::layer`].
pub struct RetryLayer<B = crate::backoff::Exponential> {
    retry: Arc<Retry<B>>,
}

impl<B> Clone for RetryLayer<B> {
    fn clone(&self) -> Self {
        RetryLayer {
            retry: self.retry.clone(),
        }
    }
}

impl<B: fmt::Debug> fmt::Debug for RetryLayer<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer")
            .field("retry", &self.retry)
            .finish()
    }
}

impl<B> RetryLayer<B> {
    /// The policy the layer's services retry with.
    pub fn policy(&self) -> &Retry<B> {
        &self.retry
    }
}

impl<S, B> Layer<S> for RetryLayer<B> {
    type Service = RetryService<S, B>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            inner,
            retry: self.retry.clone(),
        }
    }
}

/// A service whose failed calls are sent again as its [`Retry`] says.
pub struct RetryService<S, B = crate::backoff::Exponential> {
    inner: S,
    retry: Arc<Retry<B>>,
}

impl<S: Clone, B> Clone for RetryService<S, B> {
    fn clone(&self) -> Self {
        RetryService {
            inner: self.inner.clone(),
            retry: self.retry.clone(),
        }
    }
}

impl<S: fmt::Debug, B: fmt::Debug> fmt::Debug for RetryService<S, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryService")
            .field("retry", &self.retry)
            .field("inner", &self.inner)
            .finish()
    }
}

impl<S, B> RetryService<S, B> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B, Req> Service<Req> for RetryService<S, B>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    B: Backoff + Send + Sync + 'static,
    Req: Clone + Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Response>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        // The service polled ready makes the first attempt; a clone stays behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let retry = self.retry.clone();
        Box::pin(async move {
            let mut run = retry.start();
            let mut first = Some(inner.call(request.clone()));
            loop {
                let attempt = match first.take() {
                    Some(attempt) => attempt,
                    None => {
                        std::future::poll_fn(|cx| inner.poll_ready(cx))
                            .await
                            .map_err(Into::into)?;
                        inner.call(request.clone())
                    }
                };
                let outcome = attempt.await.map_err(Into::into);
                match run.after(&*retry, outcome, |_: &BoxError| true, |_, _, _| {}) {
                    std::ops::ControlFlow::Break(result) => return result,
                    std::ops::ControlFlow::Continue(delay) => tokio::time::sleep(delay).await,
                }
            }
        })
    }
}
