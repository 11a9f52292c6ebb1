//! Fault tolerance for Rust services: retries, circuit breakers, fallbacks, timeouts,
//! bulkheads and rate limits, written as attributes on the functions that call other
//! systems, with the compiler checking their configuration.
//!
//! ```
//! use resilience_runtime::{retry, timeout, Rejection};
//!
//! #[derive(Debug, thiserror::Error)]
//! enum ApiError {
//!     #[error("backend answered {0}")]
//!     Status(u16),
//!     #[error(transparent)]
//!     Rejected(#[from] Rejection),
//! }
//!
//! #[retry(max_attempts = 3, backoff = exponential(initial = "100ms", factor = 2.0, max = "2s"))]
//! #[timeout("500ms")]
//! async fn fetch_price(sku: &str) -> Result<u32, ApiError> {
//!     if sku.is_empty() { Err(ApiError::Status(404)) } else { Ok(42) }
//! }
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() { assert_eq!(fetch_price("a").await.unwrap(), 42); }
//! ```
//!
//! The attributes are thin: each rewrites the function's body into calls to a policy of
//! this crate, and every policy works by hand too ([`Retry`], [`Timeout`], and the
//! modules below), like Resilience4j's core or tower's layers.
//!
//! # What can be annotated
//!
//! Every attribute works on `async fn` and plain `fn` (except `#[timeout]`: async only):
//! free functions, methods with any receiver (`self`, `&self`, `&mut self`,
//! `self: Arc<Self>`), trait impl methods (native `async fn` in traits, and methods of
//! `#[async_trait]` impls), generic functions, `impl Trait` arguments, any lifetimes and
//! visibility. The signature callers see is never changed; `return` and `?` in the body
//! mean what they meant.
//!
//! The function must return `Result<T, E>` (an alias such as `io::Result<T>` counts).
//! Where a policy runs the body more than once (`#[retry]`) or hands the arguments to a
//! second function (`#[fallback(path)]`), owned arguments are cloned for each use, so
//! they must be `Clone`; references, `&mut` included, need nothing.
//!
//! # Rejections
//!
//! A policy that refuses to run the body returns `Err(E::from(rejection))` with a
//! [`Rejection`]: `circuit_breaker`, `timeout`, `bulkhead` and `rate_limit` need
//! `E: From<Rejection>` (the compiler says so, and how to add it, when it is missing);
//! `retry` and `fallback` need nothing of `E`. A rejection's `Display` is a diagnosis:
//! which policy refused, why, and when to try again.
//!
//! # Time
//!
//! Every policy reads time from `tokio::time`, so `tokio::time::pause()` drives delays,
//! open periods, windows and waits in tests. A wait of `d` that starts at `t` is over at
//! `t + d` exactly. Plain functions sleep with `std::thread::sleep`.
//!
//! # Arguments
//!
//! Durations are string literals checked at compile time (`"250ms"`, `"1.5s"`, `"2m"`,
//! `"1h"`; units `ns us ms s m h`) or a parenthesised expression of type
//! [`Duration`](std::time::Duration): `(Duration::from_secs(n))`. Rates are `"100/s"`,
//! `"5/min"`, `"1000/h"`. Numeric literals are range-checked at compile time; a number
//! given as an expression is checked when the policy is first used and clamped into its
//! valid range (`max_attempts = (0)` runs once). An unknown argument is an error that
//! lists the valid ones and suggests the nearest. `crate = path::to::runtime` names this
//! crate where it is renamed or re-exported.
//!
//! A policy's default `name` (in rejections, and the key functions share a policy by)
//! is the function's path: `module::function`, and for a method `module::Type::method`,
//! the type's path taken from `Self` when the method is first called (generic
//! arguments left out). Each function's policies are created on its first call and
//! kept for the life of the program; functions that give the same `name` share one.
//!
//! ## `#[retry]`
//!
//! | argument | meaning | default |
//! |---|---|---|
//! | `max_attempts = N` | attempts in all, the first included (N >= 1) | `3` |
//! | `backoff = ...` | `none`, `fixed("1s")`, `linear(initial = "100ms", step = "100ms", max = "5s")`, `exponential(initial = "100ms", factor = 2.0, max = "10s")`, or an expression of a type implementing [`Backoff`] | `exponential(initial = "100ms", factor = 2.0, max = "10s")` |
//! | `jitter = ...` | `none`, `full` (uniform in [0, d]), `equal` (d/2 + uniform in [0, d/2]), `decorrelated` (see [`Jitter`]) | `full` |
//! | `max_elapsed = "30s"` | no attempt starts later than this after the first began, and no sleep is begun that would end past it | none |
//! | `retry_if = path` | `fn(&E) -> bool`: only errors for which it is true are retried | every error |
//! | `on_retry = path` | `fn(&E, attempt: u32, delay: Duration)`, called before each sleep (`attempt` = the attempt that just failed, from 1) | none |
//! | `budget` / `budget(ratio = 0.2, min_per_sec = 10, window = "10s")` | retries, shared by every retry of this `name`, may number at most `ratio` × the calls begun in the last `window` plus `min_per_sec` × its seconds; a retry over the budget is skipped (see below) | no budget |
//! | `retry_after = path` | `fn(&E) -> Option<Duration>`: a server's hint; the wait is at least the hint and at least the backoff's delay; a hint ending past `max_elapsed` ends the retries | none |
//!
//! In `linear(...)` and `exponential(...)` each setting may be left out: `step` then
//! equals `initial`, and the others take the values shown. When every attempt fails,
//! the last error is returned as it is. A custom `backoff` expression is evaluated after
//! each attempt (keep it cheap, like a constructor).
//!
//! ## `#[timeout]`
//!
//! `#[timeout("2s")]` or `#[timeout(after = "2s", name = "...")]`, async functions only:
//! when the time passes first, the body's future is dropped and the call returns
//! [`Rejection::Timeout`].
//!
//! ## `#[fallback]`
//!
//! | form | on an error it returns |
//! |---|---|
//! | `#[fallback(path)]` | `path(args..., err)`: the same arguments (methods: the receiver first, as `Self::path` is called), then the error; awaited when the function is async |
//! | `#[fallback(default)]` | `Ok(Default::default())` |
//! | `#[fallback(value = expr)]` | `Ok(expr)` |
//! | any form, plus `fallback_if = path` | only errors for which `fn(&E) -> bool` is true fall back; the others are returned as they are |
//!
//! Owned arguments are cloned before the body runs only for the `path` form. The
//! `value = expr` form is evaluated after the body failed: it may use references among
//! the arguments and anything in scope, not owned arguments the body consumed. A
//! fallback with the wrong signature is a compile error at its path that spells out
//! the expected one.
//!
//! ```
//! use resilience_runtime::fallback;
//!
//! struct Prices;
//! impl Prices {
//!     #[fallback(Self::cached)]
//!     async fn live(&self, sku: String) -> Result<u32, String> {
//!         Err(format!("{sku}: backend down"))
//!     }
//!     async fn cached(&self, sku: String, error: String) -> Result<u32, String> {
//!         assert_eq!(error, format!("{sku}: backend down"));
//!         Ok(40)
//!     }
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() { assert_eq!(Prices.live("a".into()).await, Ok(40)); }
//! ```
//!
//! ## `#[circuit_breaker]`
//!
//! States `Closed`, `Open`, `HalfOpen`, plus `ForcedOpen`, `Disabled` and `MetricsOnly`
//! set by hand (`transition_to_open`, `_open_for`, `_half_open`, `_closed`,
//! `_metrics_only`, as Resilience4j's).
//! Arguments: `name`, `failure_rate` (0.5), `window = count(N) | time("60s")`
//! (`count(100)`), `min_calls` (100, capped at N), `consecutive_failures` (off),
//! `slow_call` / `slow_call_rate` (off / 1.0), `open_for` (60s), `open_for_max` (off),
//! `open_for_factor` (2.0), `half_open_calls` (10), `max_wait_in_half_open` (off),
//! `record_if`, `key` / `max_keys` (10 000), `probe` / `probe_every` (1s) /
//! `probe_timeout` (`probe_every`; see "Recovery, stopping and overload" below). The
//! [`circuit_breaker`](mod@circuit_breaker) module documents each, the states and the
//! registry ([`registry::circuit_breaker`]).
//!
//! ```
//! use resilience_runtime::{circuit_breaker, registry, CircuitState, Rejection};
//!
//! #[derive(Debug, thiserror::Error)]
//! enum DbError {
//!     #[error("connection refused")]
//!     Refused,
//!     #[error(transparent)]
//!     Rejected(#[from] Rejection),
//! }
//!
//! #[circuit_breaker(name = "orders-db", consecutive_failures = 3, open_for = "30s")]
//! async fn load_order(id: u64) -> Result<String, DbError> {
//!     Err(DbError::Refused)
//! }
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! for _ in 0..3 {
//!     assert!(matches!(load_order(7).await, Err(DbError::Refused)));
//! }
//! let err = load_order(7).await.unwrap_err(); // refused without running the body
//! assert_eq!(
//!     err.to_string(),
//!     "circuit breaker 'orders-db' is open: 3 failures in a row; next trial in 30s"
//! );
//! let breaker = registry::circuit_breaker("orders-db").unwrap();
//! assert_eq!(breaker.state(), CircuitState::Open);
//! # }
//! ```
//!
//! ## `#[bulkhead]` and `#[rate_limit]`
//!
//! `#[bulkhead(max_concurrent = 10, max_wait = "0s", max_waiting = N, name = "...")]`:
//! at most `max_concurrent` bodies run at once, further calls wait first come, first
//! served up to `max_wait` (default: no waiting), else get
//! [`Rejection::BulkheadFull`]. `max_concurrent = adaptive(initial = 20, min = 1,
//! max = 200)` moves the limit with latency and failures; see [`mod@bulkhead`].
//!
//! `#[rate_limit(rate = "100/s", burst = 10, max_wait = "0s", cost = expr, key = expr,
//! name = "...")]`: GCRA; `burst` defaults to the rate's count; a call takes `cost`
//! slots (default 1; a `u32` expression over the arguments, e.g. the tokens of a
//! model request); a call over the rate waits up to `max_wait` for its slots, else
//! gets [`Rejection::RateLimited`] with the exact `retry_after`; see
//! [`mod@rate_limit`].
//!
//! ```
//! use resilience_runtime::{bulkhead, rate_limit, Rejection};
//!
//! #[bulkhead(max_concurrent = 8, max_wait = "100ms")]
//! #[rate_limit(rate = "2/s", key = user.to_string())]
//! async fn export(user: &str) -> Result<(), Rejection> {
//!     Ok(())
//! }
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! assert!(export("ann").await.is_ok());
//! assert!(export("ann").await.is_ok());
//! let limited = export("ann").await.unwrap_err();
//! assert_eq!(limited.retry_after(), Some(std::time::Duration::from_millis(500)));
//! assert!(export("bob").await.is_ok(), "one limit per user");
//! # }
//! ```
//!
//! ## `#[hedge]`, `#[cache]` and `#[coalesce]`: redundancy and memory
//!
//! `#[hedge(delay = "50ms", max_hedges = 1, name = "...")]` (async only): a call that
//! has not answered `delay` after its last copy started gets one more copy (owned
//! arguments cloned), up to `max_hedges` (1 to 10); an error starts the next copy at
//! once; the first `Ok` wins and the other copies are dropped then; when all fail, the
//! last error is returned. `delay = "0s"` starts every copy at once,
//! `delay = percentile(95)` waits the 95th percentile of recent successful latencies
//! (nothing is hedged before 100 are recorded). See [`mod@hedge`].
//!
//! `#[cache(key = expr, ttl = "30s", stale_if_error = "10m", max_keys = 10_000,
//! name = "...")]`: each `Ok` kept per key; younger than `ttl` it answers without
//! running the body; when the body fails, an entry younger than
//! `ttl + stale_if_error` answers instead (`EventKind::StaleServed`); one body per key
//! at a time, the calls that arrive meanwhile sharing its `Ok`; least recently used
//! keys evicted past `max_keys`. `ttl` and `stale_if_error` default to `"0s"` (a pure
//! last known good answer). The `Ok` type must be `Clone`. See [`mod@cache`].
//!
//! `#[coalesce(key = expr, name = "...")]` (async only): concurrent calls with equal
//! keys share one running body, each receiving a clone of its outcome (`T` and `E`
//! `Clone`); if the call running it is cancelled, a waiting one runs it instead. See
//! [`mod@coalesce`].
//!
//! ```
//! use resilience_runtime::{cache, hedge, retry, timeout, Rejection};
//!
//! #[derive(Debug, Clone, thiserror::Error)]
//! enum ApiError {
//!     #[error("backend down")]
//!     Down,
//!     #[error(transparent)]
//!     Rejected(#[from] Rejection),
//! }
//!
//! #[cache(key = sku.to_owned(), stale_if_error = "10m")] // the last price, once all else failed
//! #[retry(max_attempts = 2, backoff = none)]
//! #[timeout("1s")]                                       // bounds each attempt's whole race
//! #[hedge(delay = "50ms")]                               // a second request when the first is slow
//! async fn price(sku: &str, up: bool) -> Result<u32, ApiError> {
//!     if up { Ok(1250) } else { Err(ApiError::Down) }
//! }
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! assert_eq!(price("a", true).await.unwrap(), 1250);
//! assert_eq!(price("a", false).await.unwrap(), 1250, "the last known price");
//! assert!(price("b", false).await.is_err(), "none kept for this key");
//! # }
//! ```
//!
//! # Recovery, stopping and overload
//!
//! **Health probes.** `#[circuit_breaker(probe = healthy, probe_every = "1s",
//! probe_timeout = "1s")]` (by hand: [`CircuitBreakerBuilder::probe`](circuit_breaker::CircuitBreakerBuilder::probe)):
//! while the breaker is `Open`, the `async fn() -> bool` runs every `probe_every`, one
//! at a time, on the tokio runtime of the call that opened it. A `true` turns the
//! breaker half-open at once (the trials decide as usual), so recovery takes one probe
//! interval instead of `open_for`, which still ends the open period if no probe
//! succeeded first; a probe slower than `probe_timeout` counts as unhealthy. Probes run
//! only while `Open` (never forced open), end as soon as the breaker leaves it (or is
//! dropped), and each emits [`EventKind::Probe`](events::EventKind::Probe).
//!
//! ```
//! use std::time::Duration;
//! use resilience_runtime::{circuit_breaker, registry, CircuitState, Rejection};
//!
//! async fn inventory_healthy() -> bool {
//!     true // e.g. GET /health
//! }
//!
//! #[circuit_breaker(name = "inventory", consecutive_failures = 1, open_for = "60s",
//!                   probe = inventory_healthy, probe_every = "2s")]
//! async fn reserve(ok: bool) -> Result<(), Rejection> {
//!     if ok { Ok(()) } else { Err(Rejection::ShuttingDown { name: "backend".into() }) }
//! }
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! assert!(reserve(false).await.is_err()); // opens the breaker
//! tokio::time::sleep(Duration::from_secs(3)).await; // the probe at 2s said yes
//! let breaker = registry::circuit_breaker("inventory").unwrap();
//! assert_eq!(breaker.state(), CircuitState::HalfOpen, "after one probe, not 60s");
//! # }
//! ```
//!
//! **Retry budgets.** `#[retry(budget)]` keeps retries to a share of the traffic, so
//! that retrying cannot multiply the load on a backend that is failing (Finagle's and
//! tower's retry budgets): every call deposits, every retry withdraws, both expire
//! after `window`. A retry over the budget is skipped: the call returns its last error,
//! [`EventKind::RetryBudgetExhausted`](events::EventKind::RetryBudgetExhausted) is
//! emitted and `resilience_retry_budget_exhausted_total` counts it. By hand:
//! [`RetryBuilder::budget`](retry::RetryBuilder::budget) with a [`retry::Budget`].
//!
//! **Retry-After.** `#[retry(retry_after = hint)]` waits at least what the server asked
//! for (never early, never shorter than the backoff), and gives up when that would end
//! past `max_elapsed`. By hand: [`Retry::call_hinted`].
//!
//! ```
//! use std::time::Duration;
//! use resilience_runtime::retry;
//!
//! #[derive(Debug)]
//! enum ApiError { Busy { retry_after: Duration }, Down }
//!
//! fn hint(e: &ApiError) -> Option<Duration> {
//!     match e { ApiError::Busy { retry_after } => Some(*retry_after), ApiError::Down => None }
//! }
//!
//! #[retry(max_attempts = 3, backoff = fixed("100ms"), budget, retry_after = hint)]
//! async fn quote(busy: bool) -> Result<u32, ApiError> {
//!     if busy { Err(ApiError::Busy { retry_after: Duration::from_secs(2) }) } else { Err(ApiError::Down) }
//! }
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let start = tokio::time::Instant::now();
//! assert!(quote(true).await.is_err());
//! assert!(start.elapsed() >= Duration::from_secs(4), "two waits of the server's 2s");
//! # }
//! ```
//!
//! **Deadlines.** [`deadline::within`] gives a request a deadline that every policy
//! inside it respects: a `#[timeout]` waits at most the time left, a retry begins no
//! sleep that would end past it, a bulkhead or rate-limit wait that would end past it
//! is refused at once; see [`deadline`].
//!
//! **Graceful stop.** [`lifecycle::drain`] refuses new calls of every function with a
//! policy that can refuse ([`Rejection::ShuttingDown`]), sends waiters away, stops
//! retries between attempts, and resolves once no annotated body is running (or at its
//! deadline) with a [`lifecycle::DrainReport`] of what it waited for;
//! [`lifecycle::resume`] admits calls again at once; see [`lifecycle`].
//!
//! # Observing the policies
//!
//! Every policy of every annotated function is registered under its name on its first
//! call (retry, timeout and fallback included; `name = "..."` on every attribute), and
//! keeps monotonic counters, kept per thread and summed when read so that counting adds
//! no shared write to a success path. Three ways in:
//!
//! - [`events::subscribe`]: a listener called with every [`events::Event`] where it
//!   happens (retries scheduled and exhausted, state changes with their diagnosis,
//!   refusals, timeouts, fallbacks, adaptive limits moving). With the feature `tracing`,
//!   each event is also a `tracing` event (target `resilience_runtime`; fields `policy`,
//!   `name`, `kind` and the kind's own, such as `attempt`, `delay`, `from`, `to`,
//!   `reason`, `rejection`; the diagnosis as its message): WARN for a breaker opening
//!   (to open or forced open), retries exhausted, a spent retry budget and a store
//!   unavailable; INFO for other state changes, an unhealthy probe and a store
//!   recovered; DEBUG for the rest.
//! - [`registry::snapshot`]: every policy's counters and gauges now (feature `serde`
//!   makes them `Serialize`); [`series`] turns them into the metric set below, and with
//!   the feature `metrics`, `metrics::publish` / `metrics::spawn_publisher` write it
//!   through the `metrics` facade.
//! - The crate `resilience-dashboard`: a live page, JSON, server-sent events and
//!   Prometheus text.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `resilience_calls_total` | counter | `policy`, `name`, `outcome` = `success`, `failure`, `rejected`, `timeout`, `ignored` |
//! | `resilience_retries_total`, `resilience_retries_exhausted_total`, `resilience_retry_budget_exhausted_total` | counter | `name` |
//! | `resilience_fallbacks_total` | counter | `name` |
//! | `resilience_circuit_state` | gauge | `name`, `state` (1 for the current state) |
//! | `resilience_circuit_transitions_total` | counter | `name`, `from`, `to` |
//! | `resilience_circuit_failure_rate` | gauge | `name` |
//! | `resilience_bulkhead_in_flight`, `resilience_bulkhead_waiting`, `resilience_bulkhead_limit` | gauge | `name` |
//! | `resilience_hedges_total` | counter | `name` |
//! | `resilience_cache_hits_total` | counter | `name`, `kind` = `fresh` or `stale` |
//!
//! For a fallback, `failure` counts the calls whose body failed (whether the fallback
//! then answered or not) and `resilience_fallbacks_total` those it answered. A keyed
//! policy is one entry and one series per name, its keys summed: keys are never labels.
//!
//! # The HTTP ecosystem
//!
//! Three optional features put the same policies (the same state, events and metrics)
//! into HTTP stacks:
//!
//! - `tower`: `.layer()` on [`CircuitBreaker`], [`Bulkhead`], [`RateLimiter`],
//!   [`KeyedRateLimiter`] (keyed by a function of the request), [`Timeout`] and
//!   [`Retry`]: `tower::Layer`s for `ServiceBuilder`, axum routes, hyper and tonic;
//!   a layer made from a registered policy
//!   (`registry::circuit_breaker("payments").unwrap().layer()`) shares it with the
//!   attributes of that name. See the `tower` module.
//! - `axum`: [`Rejection`] is an axum response (429, 503 or 504, with `Retry-After`
//!   and the diagnosis), so a handler can carry `#[rate_limit]` or `#[bulkhead]` and
//!   return `Result<_, Rejection>`. See the `axum` module.
//! - `reqwest`: `reqwest::Resilience`, a `reqwest-middleware` middleware that retries
//!   idempotent requests (honouring `Retry-After`), keeps a breaker per host and times
//!   each attempt out. See the `reqwest` module.
//!
//! # Configuration and the clock
//!
//! - `config`: `config::apply_toml(text)`, `config::apply(settings)` (any serde
//!   format) and `config::watch(path)` set policies' data arguments by name
//!   (`[circuit_breaker.payments] failure_rate = 0.3`, `[rate_limit."api::search"]
//!   rate = "200/s"`, ...), checked all or nothing with the attributes' own words; a
//!   policy in use takes them at once and keeps its state, one not used yet is created
//!   with them. See the `config` module.
//! - `quanta`: the rate limiter, breakers' time windows and slow-call timing read the
//!   CPU's time-stamp counter through `quanta` instead of `tokio::time`: cheaper
//!   reads (a rate-limit decision no longer pays for a `clock_gettime`), but
//!   `tokio::time::pause()` no longer drives those reads, so tests that pause time to
//!   step a rate limiter or a time window need real time with it. Sleeps, timeouts,
//!   open periods and waits stay on `tokio::time`. Off by default.
//!
//! # Stacking
//!
//! Attributes stack, and the one written first is the outermost:
//!
//! ```text
//! #[fallback(Self::cached_prices)]    // last resort, sees only the final outcome
//! #[retry(max_attempts = 3)]          // each attempt goes through everything below
//! #[circuit_breaker(name = "prices")] // counts every attempt
//! #[rate_limit(rate = "50/s")]        // every attempt is paced
//! #[timeout("2s")]                    // per attempt
//! #[bulkhead(max_concurrent = 8)]     // innermost: a slot only while the body runs
//! async fn prices(&self, sku: &str) -> Result<Prices, ApiError> { ... }
//! ```
//!
//! This is Resilience4j's default aspect order, with fallback around all. Any order
//! compiles and means what it says. The first attribute expands the whole stack at once,
//! so write each attribute under its own name (`retry`, or a path ending in `retry`
//! through `resilience_runtime`): an import renamed with `as` is not recognised as part
//! of the stack and would expand on its own, inside it.
//!
//! Orders that almost always mean a mistake are reported as warnings on stable Rust
//! (through a deprecation note): a `#[fallback]` below a `#[retry]` or a
//! `#[circuit_breaker]` (they never see an error), a `#[bulkhead]` above a `#[retry]`
//! (a slot is held through every backoff sleep), a `#[rate_limit]` above a `#[retry]`
//! (retries bypass the limit), a `#[cache]` below a `#[retry]` (its stale answer is an
//! `Ok`, so the first failed attempt ends the retries: write the cache above, where it
//! answers only once every attempt failed). Add `order = "intended"` to either
//! attribute to silence the warning where the order is meant. A `#[coalesce]` below a
//! `#[retry]` is not warned about: each attempt then joins the same attempt of other
//! calls, and a shared error is retried by each of them, which is a sound choice; above
//! the retry, callers share the whole retried call. A `#[hedge]` inside a `#[timeout]`
//! races its copies within the one limit; a `#[circuit_breaker]` inside a `#[hedge]`
//! counts each copy.
//!
//! A plain `fn` that carries only `#[retry]` and `#[fallback]` is marked `#[inline]`,
//! unless it has an `inline` attribute of its own: what they add to a call that
//! succeeds is a few counts, but enough to take a small function past the compiler's
//! threshold for inlining it where it would be inlined without them.

pub mod backoff;
pub mod bulkhead;
pub mod cache;
pub mod circuit_breaker;
mod clock;
pub mod coalesce;
#[cfg(feature = "config")]
pub mod config;
#[cfg(not(feature = "config"))]
mod config;
pub mod deadline;
pub mod events;
mod flight;
pub mod hedge;
mod keyed;
pub mod lifecycle;
mod named;
pub mod rate_limit;
pub mod registry;
mod rejection;
pub mod retry;
pub mod series;
mod stats;
mod sync;
pub mod timeout;

pub use backoff::{Backoff, Jitter};
pub use bulkhead::Bulkhead;
pub use circuit_breaker::{CircuitBreaker, CircuitState, KeyedCircuitBreaker};
pub use config::ConfigError;
pub use keyed::{DEFAULT_MAX_KEYS, PolicyKey};
pub use rate_limit::{KeyedRateLimiter, Rate, RateLimiter};
pub use rejection::{FromRejection, PolicyName, Rejection};
pub use retry::Retry;
pub use timeout::Timeout;

#[cfg(feature = "macros")]
pub use resilience_macros::{
    bulkhead, cache, circuit_breaker, coalesce, fallback, hedge, rate_limit, retry, timeout,
};

// Integrations, at the edge: each behind its feature, depending on the policies and
// never the other way.
mod integrations;
#[cfg(feature = "axum")]
pub use integrations::axum;
#[cfg(feature = "redis")]
pub use integrations::cluster;
#[cfg(feature = "metrics")]
pub use integrations::metrics;
#[cfg(feature = "reqwest")]
pub use integrations::reqwest;
#[cfg(feature = "tower")]
pub use integrations::tower;

#[doc(hidden)]
pub mod __private;
