//! Attribute macros for [`resilience-runtime`](https://docs.rs/resilience-runtime).
//!
//! Depend on `resilience-runtime` and use the macros it re-exports; their documentation,
//! with every argument and its default, is there. This crate only rewrites the
//! annotated function into calls to `resilience_runtime::__private`: it holds no policy
//! logic.
//!
//! Attributes stack: the first one written expands the whole stack at once (the ones
//! below it are read and removed), outermost first. See `expand.rs`.

mod args;
mod cluster;
mod expand;
mod func;
mod kind;
mod limits;
mod lit;
mod policy;
mod valid;

use proc_macro::TokenStream;

use crate::kind::Kind;

/// Runs the function again when it fails.
///
/// `#[retry(max_attempts = 3, backoff = exponential(initial = "100ms", factor = 2.0,
/// max = "10s"), jitter = full, max_elapsed = "30s", retry_if = path, on_retry = path)]`;
/// every argument is optional (the values shown are the defaults, but `max_elapsed`,
/// `retry_if` and `on_retry` have none). `backoff` is `none`, `fixed("1s")`,
/// `linear(initial, step, max)`, `exponential(initial, factor, max)` or an expression of a
/// type implementing `resilience_runtime::Backoff`; `jitter` is `none`, `full`, `equal` or
/// `decorrelated`. Owned arguments are cloned for each attempt. When every attempt fails
/// the last error is returned as it is. See `resilience_runtime`'s crate docs.
#[proc_macro_attribute]
pub fn retry(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Retry, args.into(), item.into()).into()
}

/// Gives up on an async call that takes too long.
///
/// `#[timeout("2s")]` or `#[timeout(after = "2s", name = "...")]`, on `async fn` only:
/// when the time passes first, the body's future is dropped and the call returns
/// `Err(Rejection::Timeout { .. }.into())`. See `resilience_runtime`'s crate docs.
#[proc_macro_attribute]
pub fn timeout(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Timeout, args.into(), item.into()).into()
}

/// Stops calling a failing dependency for a while.
///
/// `#[circuit_breaker(name = "...", failure_rate = 0.5, window = count(100),
/// min_calls = 100, consecutive_failures = N, slow_call = "2s", slow_call_rate = 1.0,
/// open_for = "60s", open_for_max = "10m", open_for_factor = 2.0, half_open_calls = 10,
/// max_wait_in_half_open = "30s", record_if = path, key = expr, max_keys = 10_000)]`,
/// every argument optional (defaults shown; the consecutive, slow-call, growing open
/// time and half-open wait rules are off unless given). A refused call
/// returns `Err(Rejection::CircuitOpen { .. }.into())` without running the body. See the
/// `resilience_runtime::circuit_breaker` module.
#[proc_macro_attribute]
pub fn circuit_breaker(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::CircuitBreaker, args.into(), item.into()).into()
}

/// Serves a backup answer when the call fails.
///
/// `#[fallback(path)]` calls `path(args..., error)` (methods: the receiver first),
/// `#[fallback(default)]` returns `Ok(Default::default())`, `#[fallback(value = expr)]`
/// returns `Ok(expr)`; add `fallback_if = path` to fall back only on the errors it
/// accepts. See `resilience_runtime`'s crate docs.
#[proc_macro_attribute]
pub fn fallback(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Fallback, args.into(), item.into()).into()
}

/// Limits how many calls run at once.
///
/// `#[bulkhead(max_concurrent = 10, max_wait = "0s", max_waiting = N, name = "...")]`;
/// `max_concurrent` (a number, or `adaptive(initial = 20, min = 1, max = 200)`) has no
/// default. A call that finds no slot within `max_wait` returns
/// `Err(Rejection::BulkheadFull { .. }.into())`. See the `resilience_runtime::bulkhead`
/// module.
#[proc_macro_attribute]
pub fn bulkhead(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Bulkhead, args.into(), item.into()).into()
}

/// Limits how often the function runs.
///
/// `#[rate_limit(rate = "100/s", burst = 100, max_wait = "0s", cost = expr, key = expr,
/// max_keys = 10_000, name = "...")]`; `rate` has no default, `burst` defaults to the
/// rate's count, `cost` (the slots a call takes, a `u32` expression over the
/// arguments) to 1. A call over the rate waits up to `max_wait` for its slot, else returns
/// `Err(Rejection::RateLimited { .. }.into())` with the exact `retry_after`. See the
/// `resilience_runtime::rate_limit` module.
#[proc_macro_attribute]
pub fn rate_limit(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::RateLimit, args.into(), item.into()).into()
}

/// Keeps each `Ok` per key: served while fresh, and again (stale) when the call fails.
///
/// `#[cache(key = expr, ttl = "30s", stale_if_error = "10m", max_keys = 10_000,
/// name = "...")]`, on `async fn` and plain `fn`; every argument optional (`ttl` and
/// `stale_if_error` default to `"0s"`: a pure last known good answer; no `key`: one
/// entry). Calls for a key whose body is running wait for it and share its `Ok`. The
/// `Ok` type must be `Clone + Send + Sync + 'static`. See the `resilience_runtime::cache`
/// module.
#[proc_macro_attribute]
pub fn cache(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Cache, args.into(), item.into()).into()
}

/// Concurrent calls with equal keys share one running body.
///
/// `#[coalesce(key = expr, name = "...")]`, on `async fn` only (no `key`: every
/// concurrent call of the function shares one body). Each waiting call receives a
/// clone of the outcome, so `T` and `E` must be `Clone + Send + Sync + 'static`; if the
/// call running the body is cancelled, a waiting one runs it instead. See the
/// `resilience_runtime::coalesce` module.
#[proc_macro_attribute]
pub fn coalesce(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Coalesce, args.into(), item.into()).into()
}

/// Starts a copy of a slow call, and returns the first `Ok`.
///
/// `#[hedge(delay = "50ms", max_hedges = 1, name = "...")]` on `async fn` only: if the
/// call has not answered `delay` after its last copy started, one more starts, up to
/// `max_hedges` (1 to 10) after the first; an error starts the next at once. The first
/// `Ok` wins and the other copies are dropped; when all fail, the last error is
/// returned. `delay = "0s"` starts every copy at once; `delay = percentile(95)` waits
/// the 95th percentile of recent successful latencies (nothing is hedged before 100).
/// Owned arguments are cloned for each copy. See the `resilience_runtime::hedge` module.
#[proc_macro_attribute]
pub fn hedge(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Hedge, args.into(), item.into()).into()
}
