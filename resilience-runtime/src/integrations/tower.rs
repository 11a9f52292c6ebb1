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
//! - **Futures.** The response futures of the breaker, bulkhead, rate limit (keyed or
//!   not) and timeout services are the policies' own call futures around the inner
//!   call: no allocation and no reference count per call. For that they borrow the
//!   policy for `'static`: a layer keeps its policy for the life of the program, as
//!   the registry keeps the attributes' policies (once per policy, however many layers
//!   are made of it). Make layers of policies that live as long as the service, not of
//!   policies made per request. The retry's future holds its policy by reference
//!   count.
//! - **Send.** The services are `Send`, and their futures `Send + 'static`, when the
//!   inner service, its future and the request are (as axum and hyper need).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use ::tower::{BoxError, Layer, Service};
use pin_project_lite::pin_project;

use crate::backoff::Backoff;
use crate::retry::RetryRun;
use crate::{Bulkhead, CircuitBreaker, KeyedRateLimiter, RateLimiter, Retry, Timeout};
use std::ops::ControlFlow;

/// The response future of [`CircuitBreakerService`].
pub type CircuitBreakerFuture<S, Req> = crate::circuit_breaker::Call<
    'static,
    InnerCall<S, Req, <S as Service<Req>>::Future>,
    fn(&BoxError) -> bool,
>;
/// The response future of [`BulkheadService`].
pub type BulkheadFuture<S, Req> =
    crate::bulkhead::BulkheadCall<'static, InnerCall<S, Req, <S as Service<Req>>::Future>>;
/// The response future of [`RateLimitService`].
pub type RateLimitFuture<S, Req> =
    crate::rate_limit::RateLimitedCall<'static, InnerCall<S, Req, <S as Service<Req>>::Future>>;
/// The response future of [`KeyedRateLimitService`], whose requests have keys of type
/// `K`.
pub type KeyedRateLimitFuture<S, Req, K> = crate::rate_limit::KeyedRateLimitedCall<
    'static,
    K,
    InnerCall<S, Req, <S as Service<Req>>::Future>,
>;
/// The response future of [`TimeoutService`].
pub type TimeoutFuture<F> = crate::timeout::TimeoutCall<'static, BoxedError<F>>;

/// Keeps `policy` for the life of the program, once per policy (`same` tells whether
/// two handles are one policy): the services' futures borrow it for `'static`.
fn kept<P: Clone + Send + Sync + 'static>(policy: &P, same: fn(&P, &P) -> bool) -> &'static P {
    type Kept = Vec<&'static (dyn Any + Send + Sync)>;
    static KEPT: Mutex<Kept> = Mutex::new(Vec::new());
    let mut all = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let found = all.iter().find_map(|k| {
        let k: &'static (dyn Any + Send + Sync) = *k;
        k.downcast_ref::<P>().filter(|p| same(p, policy))
    });
    if let Some(p) = found {
        return p;
    }
    let p: &'static P = Box::leak(Box::new(policy.clone()));
    all.push(p);
    p
}

pin_project! {
    /// The inner service's call, made on the first poll: inside a policy's call future,
    /// only once the policy has admitted the call. Its error is boxed.
    #[must_use = "futures do nothing unless polled"]
    pub struct InnerCall<S, Req, F> {
        service: Option<S>,
        request: Option<Req>,
        #[pin]
        future: Option<F>,
    }
}

impl<S, Req, F> InnerCall<S, Req, F> {
    fn new(service: S, request: Req) -> Self {
        InnerCall {
            service: Some(service),
            request: Some(request),
            future: None,
        }
    }
}

impl<S, Req, F> fmt::Debug for InnerCall<S, Req, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InnerCall")
            .field("called", &self.future.is_some())
            .finish_non_exhaustive()
    }
}

impl<S, Req> Future for InnerCall<S, Req, S::Future>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    // Always inlined: out of line, its answer comes back through memory, stored field
    // by field and loaded whole by the policy's future (a store-forwarding stall, as
    // much as the rest of a breaker's call).
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if this.future.is_none() {
            let (Some(mut service), Some(request)) = (this.service.take(), this.request.take())
            else {
                return Poll::Ready(Err("the inner call was polled after it completed".into()));
            };
            this.future.set(Some(service.call(request)));
        }
        match this.future.as_pin_mut() {
            Some(future) => future.poll(cx).map_err(Into::into),
            None => Poll::Ready(Err("the inner call was polled after it completed".into())),
        }
    }
}

pin_project! {
    /// A future whose error is boxed into a [`BoxError`].
    #[must_use = "futures do nothing unless polled"]
    pub struct BoxedError<F> {
        #[pin]
        future: F,
    }
}

impl<F> fmt::Debug for BoxedError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoxedError").finish_non_exhaustive()
    }
}

impl<F, T, E> Future for BoxedError<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().future.poll(cx).map_err(Into::into)
    }
}

macro_rules! policy_layer {
    (
        $(#[$layer_doc:meta])* $layer:ident,
        $(#[$service_doc:meta])* $service:ident,
        $policy:ty, $field:ident
    ) => {
        $(#[$layer_doc])*
        #[derive(Clone, Copy)]
        pub struct $layer {
            $field: &'static $policy,
        }

        impl $layer {
            /// The policy the layer's services call through.
            pub fn policy(&self) -> &$policy {
                self.$field
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
                    $field: self.$field,
                }
            }
        }

        $(#[$service_doc])*
        #[derive(Clone)]
        pub struct $service<S> {
            inner: S,
            $field: &'static $policy,
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
    };
}

/// The `Service` impl of a policy that may refuse: the inner call is made only once it
/// admits the call. The service polled ready makes the call; a clone stays behind.
macro_rules! refusing_service {
    ($service:ident, $field:ident, $future:ident) => {
        impl<S, Req> Service<Req> for $service<S>
        where
            S: Service<Req> + Clone,
            S::Error: Into<BoxError>,
        {
            type Response = S::Response;
            type Error = BoxError;
            type Future = $future<S, Req>;

            #[inline]
            fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
                self.inner.poll_ready(cx).map_err(Into::into)
            }

            #[inline]
            fn call(&mut self, request: Req) -> Self::Future {
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                self.$field.call(InnerCall::new(inner, request))
            }
        }
    };
}

policy_layer!(
    /// Wraps services in a [`CircuitBreaker`]; from [`CircuitBreaker::layer`].
    CircuitBreakerLayer,
    /// A service whose calls go through a [`CircuitBreaker`]: every inner error counts
    /// as a failure, and an open breaker answers `Rejection::CircuitOpen` without
    /// calling the inner service.
    CircuitBreakerService,
    CircuitBreaker,
    breaker
);
refusing_service!(CircuitBreakerService, breaker, CircuitBreakerFuture);

policy_layer!(
    /// Wraps services in a [`Bulkhead`]; from [`Bulkhead::layer`].
    BulkheadLayer,
    /// A service whose calls each hold a [`Bulkhead`] slot while the inner call runs.
    /// The slot is taken when the response future is first polled (waiting up to the
    /// bulkhead's `max_wait`), not in `poll_ready`, and given back when the future
    /// completes or is dropped.
    BulkheadService,
    Bulkhead,
    bulkhead
);
refusing_service!(BulkheadService, bulkhead, BulkheadFuture);

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
refusing_service!(RateLimitService, limiter, RateLimitFuture);

policy_layer!(
    /// Wraps services in a [`Timeout`]; from [`Timeout::layer`].
    TimeoutLayer,
    /// A service whose calls are given up after the [`Timeout`]'s limit: the inner
    /// future is dropped and the call answers `Rejection::Timeout`.
    TimeoutService,
    Timeout,
    timeout
);

impl<S, Req> Service<Req> for TimeoutService<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = TimeoutFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        // A timeout refuses nothing before the call runs: the inner call is made now.
        let future = BoxedError {
            future: self.inner.call(request),
        };
        self.timeout.call(future)
    }
}

impl CircuitBreaker {
    /// This breaker as a [`tower::Layer`] (feature `tower`): calls through its services
    /// are admitted, counted and refused by this very breaker, which the layer keeps
    /// for the life of the program (see the [module docs](crate::tower)).
    pub fn layer(&self) -> CircuitBreakerLayer {
        CircuitBreakerLayer {
            breaker: kept(self, CircuitBreaker::ptr_eq),
        }
    }
}

impl Bulkhead {
    /// This bulkhead as a [`tower::Layer`] (feature `tower`): calls through its
    /// services share this bulkhead's slots. The layer keeps the bulkhead for the life
    /// of the program (see the [module docs](crate::tower)).
    pub fn layer(&self) -> BulkheadLayer {
        BulkheadLayer {
            bulkhead: kept(self, Bulkhead::ptr_eq),
        }
    }
}

impl RateLimiter {
    /// This limiter as a [`tower::Layer`] (feature `tower`): calls through its
    /// services share this limiter's budget. The layer keeps the limiter for the life
    /// of the program (see the [module docs](crate::tower)).
    pub fn layer(&self) -> RateLimitLayer {
        RateLimitLayer {
            limiter: kept(self, RateLimiter::ptr_eq),
        }
    }
}

impl Timeout {
    /// This timeout as a [`tower::Layer`] (feature `tower`), kept for the life of the
    /// program (see the [module docs](crate::tower)).
    pub fn layer(&self) -> TimeoutLayer {
        TimeoutLayer {
            timeout: kept(self, |a, b| a.name() == b.name() && a.after() == b.after()),
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
    ///
    /// The layer keeps the limiter for the life of the program, as the other layers
    /// keep theirs (see the [module docs](crate::tower)).
    pub fn layer<F>(&self, key_fn: F) -> KeyedRateLimitLayer<F> {
        KeyedRateLimitLayer {
            limiter: kept(self, KeyedRateLimiter::ptr_eq),
            key_fn: Arc::new(key_fn),
        }
    }
}

/// Wraps services in a [`KeyedRateLimiter`], keyed by a function of the request; from
/// [`KeyedRateLimiter::layer`].
pub struct KeyedRateLimitLayer<F> {
    limiter: &'static KeyedRateLimiter,
    key_fn: Arc<F>,
}

impl<F> Clone for KeyedRateLimitLayer<F> {
    fn clone(&self) -> Self {
        KeyedRateLimitLayer {
            limiter: self.limiter,
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
        self.limiter
    }
}

impl<S, F> Layer<S> for KeyedRateLimitLayer<F> {
    type Service = KeyedRateLimitService<S, F>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedRateLimitService {
            inner,
            limiter: self.limiter,
            key_fn: self.key_fn.clone(),
        }
    }
}

/// A service whose calls are paced by a [`KeyedRateLimiter`], one budget per key of
/// the request; the slot is taken when the response future is first polled.
pub struct KeyedRateLimitService<S, F> {
    inner: S,
    limiter: &'static KeyedRateLimiter,
    key_fn: Arc<F>,
}

impl<S: Clone, F> Clone for KeyedRateLimitService<S, F> {
    fn clone(&self) -> Self {
        KeyedRateLimitService {
            inner: self.inner.clone(),
            limiter: self.limiter,
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
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    F: Fn(&Req) -> K,
    K: crate::PolicyKey,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = KeyedRateLimitFuture<S, Req, K>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        let key = (self.key_fn)(&request);
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        self.limiter.call_named(key, InnerCall::new(inner, request))
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
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    B: Backoff,
    Req: Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = RetryFuture<S, Req, B, S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        // The service polled ready makes the first attempt; a clone stays behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let future = inner.call(request.clone());
        RetryFuture {
            run: RetryRun::start(self.retry.max_elapsed().is_some()),
            retry: self.retry.clone(),
            service: inner,
            request,
            state: RetryState::Calling { future },
        }
    }
}

pin_project! {
    /// Where a [`RetryFuture`] is.
    #[project = RetryStateProj]
    enum RetryState<F> {
        Calling { #[pin] future: F },
        Sleeping { #[pin] sleep: tokio::time::Sleep },
        Readying,
    }
}

pin_project! {
    /// The response future of [`RetryService`]: an attempt, the backoff's sleep, the
    /// service getting ready for the next attempt, and so on, as the [`Retry`] says.
    #[must_use = "futures do nothing unless polled"]
    pub struct RetryFuture<S, Req, B, F> {
        retry: Arc<Retry<B>>,
        run: RetryRun<'static>,
        service: S,
        request: Req,
        #[pin]
        state: RetryState<F>,
    }
}

impl<S, Req, B, F> fmt::Debug for RetryFuture<S, Req, B, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryFuture")
            .field("attempts", &self.run.attempts())
            .finish_non_exhaustive()
    }
}

impl<S, Req, B> Future for RetryFuture<S, Req, B, S::Future>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    B: Backoff,
    Req: Clone,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                RetryStateProj::Calling { future } => {
                    let outcome = std::task::ready!(future.poll(cx)).map_err(Into::into);
                    let every_error = |_: &BoxError| true;
                    match this
                        .run
                        .after(&**this.retry, outcome, every_error, |_, _, _| {})
                    {
                        ControlFlow::Break(result) => return Poll::Ready(result),
                        ControlFlow::Continue(delay) => this.state.set(RetryState::Sleeping {
                            sleep: tokio::time::sleep(delay),
                        }),
                    }
                }
                RetryStateProj::Sleeping { sleep } => {
                    std::task::ready!(sleep.poll(cx));
                    this.state.set(RetryState::Readying);
                }
                RetryStateProj::Readying => {
                    if let Err(error) = std::task::ready!(this.service.poll_ready(cx)) {
                        return Poll::Ready(Err(error.into()));
                    }
                    let future = this.service.call(this.request.clone());
                    this.state.set(RetryState::Calling { future });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_is_kept_once_however_many_layers_are_made() {
        let breaker = CircuitBreaker::builder("tower-kept").build().unwrap();
        let first = breaker.layer().breaker;
        for _ in 0..100 {
            assert!(std::ptr::eq(first, breaker.clone().layer().breaker));
        }
        let other = CircuitBreaker::builder("tower-kept").build().unwrap();
        assert!(!std::ptr::eq(first, other.layer().breaker));
        assert!(first.ptr_eq(&breaker));

        let timeout = Timeout::new("tower-kept", std::time::Duration::from_secs(1));
        let t1 = timeout.layer().timeout;
        assert!(std::ptr::eq(
            t1,
            Timeout::new("tower-kept", timeout.after()).layer().timeout
        ));
        let longer = Timeout::new("tower-kept", std::time::Duration::from_secs(2));
        assert!(!std::ptr::eq(t1, longer.layer().timeout));
    }
}
