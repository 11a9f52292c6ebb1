//! The expansions are lint-clean in the user's crate: this file denies every rustc
//! warning, a few allow-by-default rustc lints that generated code could trip, clippy's
//! `all` and `pedantic` groups, and forbids `unsafe` code; it annotates a function of
//! every shape with every attribute that compiles today (`retry`, `timeout`,
//! `fallback`, `bulkhead`, `rate_limit`, `circuit_breaker`). `cargo clippy --all-targets -- -D warnings`
//! checks it; `cargo test` runs it.
#![deny(warnings, clippy::all, clippy::pedantic)]
#![forbid(unsafe_code)]
#![deny(
    unused_qualifications,
    trivial_casts,
    trivial_numeric_casts,
    unused_lifetimes,
    redundant_lifetimes,
    let_underscore_drop,
    unit_bindings
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience_runtime::rate_limit::Rate;
use resilience_runtime::{
    Rejection, bulkhead, circuit_breaker, fallback, rate_limit, retry, timeout,
};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Error {
    Again(u32),
    Rejected(String),
}

impl From<Rejection> for Error {
    fn from(r: Rejection) -> Self {
        Error::Rejected(r.name().to_owned())
    }
}

fn until(counter: &AtomicU32, n: u32) -> Result<u32, Error> {
    let got = counter.fetch_add(1, Ordering::SeqCst) + 1;
    if got < n {
        Err(Error::Again(got))
    } else {
        Ok(got)
    }
}

fn is_again(e: &Error) -> bool {
    matches!(e, Error::Again(_))
}

fn log_retry(_: &Error, _attempt: u32, _delay: Duration) {}

struct Squares;

impl resilience_runtime::Backoff for Squares {
    fn delay(&self, attempt: u32) -> Duration {
        Duration::from_millis(u64::from(attempt * attempt))
    }
}

#[retry]
async fn defaults(c: &AtomicU32) -> Result<u32, Error> {
    until(c, 2)
}

#[retry(
    max_attempts = 4,
    backoff = exponential(initial = "10ms", factor = 1.5, max = "1s"),
    jitter = decorrelated,
    max_elapsed = "10s",
    retry_if = is_again,
    on_retry = log_retry
)]
async fn every_retry_argument(c: &AtomicU32) -> Result<u32, Error> {
    until(c, 3)
}

#[retry(max_attempts = 3, backoff = linear(initial = "1ms", step = "2ms", max = "4ms"), jitter = equal)]
fn linear_plain(c: &AtomicU32) -> Result<u32, Error> {
    until(c, 3)
}

#[retry(max_attempts = 3, backoff = Squares, jitter = none)]
async fn custom_backoff(c: &AtomicU32) -> Result<u32, Error> {
    until(c, 3)
}

#[retry(max_attempts = 2, backoff = fixed("5ms"), jitter = full)]
async fn fixed_duration(c: &AtomicU32) -> Result<u32, Error> {
    until(c, 2)
}

#[timeout("1s")]
async fn timeout_short(c: &AtomicU32) -> Result<u32, Error> {
    until(c, 1)
}

#[timeout(after = "10ms", name = "lints::slow")]
async fn timeout_named() -> Result<u32, Error> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(0)
}

#[fallback(default)]
fn fallback_default(c: &AtomicU32) -> Result<u32, Error> {
    until(c, 9)
}

#[fallback(value = 42, fallback_if = is_again)]
async fn fallback_value(c: &AtomicU32) -> Result<u32, Error> {
    until(c, 9)
}

async fn backup_owned(name: String, c: &AtomicU32, err: Error) -> Result<String, Error> {
    tokio::task::yield_now().await;
    Ok(format!("{name} {} {err:?}", c.load(Ordering::SeqCst)))
}

#[fallback(backup_owned)]
async fn fallback_path(name: String, c: &AtomicU32) -> Result<String, Error> {
    until(c, 9).map(|n| format!("{name}{n}"))
}

#[fallback(value = 0)]
#[retry(max_attempts = 3, backoff = fixed("1ms"), jitter = none)]
#[timeout("50ms")]
async fn full_stack(owned: Vec<u8>, c: &AtomicU32) -> Result<u32, Error> {
    until(c, 3)?;
    Ok(u32::try_from(owned.len()).unwrap_or(u32::MAX))
}

#[timeout("1s")]
#[retry(max_attempts = 2, backoff = none)]
async fn timeout_around_retry(owned: String) -> Result<usize, Error> {
    Ok(owned.len())
}

#[retry(max_attempts = 2, backoff = none, order = "intended")]
#[fallback(default)]
fn intended_order(c: &AtomicU32) -> Result<u32, Error> {
    until(c, 9)
}

#[retry(max_attempts = 2, backoff = none)]
async fn generic<T, U>(value: T, label: impl AsRef<str> + Clone, tail: &U) -> Result<String, Error>
where
    T: Clone + std::fmt::Debug + Send,
    U: std::fmt::Display + Sync + ?Sized,
{
    Ok(format!("{value:?}{}{tail}", label.as_ref()))
}

#[retry(max_attempts = 2, backoff = none)]
async fn lifetimes<'a>(text: &'a str, _: u8) -> Result<&'a str, Error> {
    Ok(text.trim())
}

#[retry(max_attempts = 2, backoff = none)]
fn patterns((a, b): (u32, u32), mut acc: Vec<u32>) -> Result<u32, Error> {
    acc.push(a + b);
    Ok(acc.iter().sum())
}

#[retry(max_attempts = 2, backoff = none)]
fn question_mark(input: &str) -> Result<u32, std::num::ParseIntError> {
    let n: u32 = input.parse()?;
    if n == 0 {
        return Ok(1);
    }
    Ok(n)
}

#[retry(max_attempts = 2, backoff = none)]
fn io_alias(c: &AtomicU32) -> std::io::Result<u32> {
    until(c, 2).map_err(|e| std::io::Error::other(format!("{e:?}")))
}

#[bulkhead(max_concurrent = 2)]
async fn bulkhead_async(c: &AtomicU32) -> Result<u32, Error> {
    until(c, 1)
}

#[bulkhead(
    max_concurrent = 2,
    max_wait = "10ms",
    max_waiting = 4,
    name = "lints::bulkhead"
)]
fn bulkhead_plain(owned: String) -> Result<usize, Error> {
    Ok(owned.len())
}

#[bulkhead(max_concurrent = adaptive(initial = 4, min = 1, max = 16))]
async fn bulkhead_adaptive(owned: Vec<u8>) -> Result<usize, Error> {
    Ok(owned.len())
}

#[rate_limit(rate = "100/s")]
async fn rate_limit_async(c: &AtomicU32) -> Result<u32, Error> {
    until(c, 1)
}

#[rate_limit(rate = "5/min", burst = 2, max_wait = "1s", name = "lints::limit")]
fn rate_limit_plain(owned: String) -> Result<usize, Error> {
    Ok(owned.len())
}

#[rate_limit(rate = (Rate::per_second(10)), key = tenant.to_owned(), max_keys = 100)]
async fn rate_limit_keyed(tenant: &str) -> Result<usize, Error> {
    Ok(tenant.len())
}

#[rate_limit(rate = "10/s", key = key.clone())]
fn rate_limit_generic_key<K>(key: K) -> Result<u32, Error>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
{
    drop(key);
    Ok(1)
}

/// The recommended order, without the breaker.
#[fallback(value = 0)]
#[retry(max_attempts = 3, backoff = none)]
#[rate_limit(rate = "100/s", max_wait = "1s")]
#[timeout("50ms")]
#[bulkhead(max_concurrent = 4)]
async fn limits_stack(owned: String, c: &AtomicU32) -> Result<u32, Error> {
    until(c, 3)?;
    Ok(u32::try_from(owned.len()).unwrap_or(u32::MAX))
}

#[bulkhead(max_concurrent = 1, order = "intended")]
#[retry(max_attempts = 2, backoff = none)]
fn bulkhead_above_retry_intended(c: &AtomicU32) -> Result<u32, Error> {
    until(c, 2)
}

#[circuit_breaker]
async fn breaker_defaults(c: &AtomicU32) -> Result<u32, Error> {
    until(c, 1)
}

#[circuit_breaker(
    name = "lints::breaker",
    failure_rate = 0.5,
    window = count(20),
    min_calls = 10,
    consecutive_failures = 5,
    slow_call = "2s",
    slow_call_rate = 0.9,
    open_for = "30s",
    open_for_max = "10m",
    half_open_calls = 3,
    record_if = is_again
)]
fn breaker_plain(owned: String) -> Result<usize, Error> {
    Ok(owned.len())
}

#[circuit_breaker(window = time("60s"), key = tenant.to_owned(), max_keys = 100)]
async fn breaker_keyed(tenant: &str) -> Result<usize, Error> {
    Ok(tenant.len())
}

#[circuit_breaker(key = key.clone())]
fn breaker_generic_key<K>(key: K) -> Result<u32, Error>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
{
    drop(key);
    Ok(1)
}

/// API.md's full stack, in the recommended order.
#[fallback(value = 0)]
#[retry(max_attempts = 3, backoff = none)]
#[circuit_breaker(consecutive_failures = 10)]
#[rate_limit(rate = "100/s", max_wait = "1s")]
#[timeout("50ms")]
#[bulkhead(max_concurrent = 4)]
async fn full_api_stack(owned: String, c: &AtomicU32) -> Result<u32, Error> {
    until(c, 3)?;
    Ok(u32::try_from(owned.len()).unwrap_or(u32::MAX))
}

#[circuit_breaker(consecutive_failures = 1, order = "intended")]
#[fallback(default)]
fn breaker_above_fallback_intended(c: &AtomicU32) -> Result<u32, Error> {
    until(c, 9)
}

#[derive(Default)]
struct Service {
    calls: AtomicU32,
    total: u32,
}

impl Service {
    #[retry(max_attempts = 3, backoff = none)]
    #[timeout("1s")]
    async fn by_ref(&self, key: String) -> Result<String, Error> {
        let n = until(&self.calls, 2)?;
        Ok(format!("{key}{n}"))
    }

    #[retry(max_attempts = 3, backoff = none)]
    async fn by_mut(&mut self, add: u32) -> Result<u32, Error> {
        self.total += add;
        until(&self.calls, 2)?;
        Ok(self.total)
    }

    #[retry(max_attempts = 3, backoff = none)]
    async fn by_arc(self: Arc<Self>) -> Result<u32, Error> {
        until(&self.calls, 2)
    }

    #[bulkhead(max_concurrent = 1)]
    #[rate_limit(rate = "100/s")]
    async fn limited(&self, key: &str) -> Result<String, Error> {
        let n = until(&self.calls, 1)?;
        Ok(format!("{key}{n}"))
    }

    #[rate_limit(rate = "100/s")]
    async fn limited_mut(&mut self, add: u32) -> Result<u32, Error> {
        self.total += add;
        Ok(self.total)
    }

    #[bulkhead(max_concurrent = 1)]
    fn limited_arc(self: Arc<Self>) -> Result<u32, Error> {
        until(&self.calls, 1)
    }

    #[circuit_breaker(consecutive_failures = 3)]
    async fn guarded(&self, key: String) -> Result<String, Error> {
        let n = until(&self.calls, 1)?;
        Ok(format!("{key}{n}"))
    }

    #[circuit_breaker(consecutive_failures = 3)]
    async fn guarded_arc(self: Arc<Self>) -> Result<u32, Error> {
        until(&self.calls, 1)
    }

    #[fallback(Self::cached)]
    fn with_cache(&self, key: &str) -> Result<String, Error> {
        until(&self.calls, 9).map(|n| format!("{key}{n}"))
    }

    #[allow(clippy::unnecessary_wraps)]
    fn cached(&self, key: &str, _err: Error) -> Result<String, Error> {
        Ok(format!(
            "{key} cached {}",
            self.calls.load(Ordering::SeqCst)
        ))
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Token(u32);

impl Token {
    #[retry(max_attempts = 2, backoff = none)]
    fn consume(self, c: &AtomicU32) -> Result<u32, Error> {
        Ok(self.0 + until(c, 2)?)
    }

    #[retry(max_attempts = 2, backoff = none)]
    async fn consume_mut(mut self, c: &AtomicU32) -> Result<u32, Error> {
        self.0 += 1;
        until(c, 2)?;
        Ok(self.0)
    }
}

trait Api {
    async fn get(&self, id: u32) -> Result<u32, Error>;
}

impl Api for Service {
    #[retry(max_attempts = 3, backoff = none)]
    #[timeout("1s")]
    async fn get(&self, id: u32) -> Result<u32, Error> {
        Ok(id + until(&self.calls, 2)?)
    }
}

#[async_trait::async_trait]
trait BoxedApi {
    async fn fetch(&self, id: String) -> Result<String, Error>;
}

#[async_trait::async_trait]
impl BoxedApi for Service {
    #[fallback(value = String::new())]
    #[retry(max_attempts = 3, backoff = none)]
    #[timeout("1s")]
    async fn fetch(&self, id: String) -> Result<String, Error> {
        let n = until(&self.calls, 2)?;
        Ok(format!("{id}{n}"))
    }
}

#[tokio::test(start_paused = true)]
async fn every_shape_runs() {
    let c = || AtomicU32::new(0);
    assert_eq!(defaults(&c()).await, Ok(2));
    assert_eq!(every_retry_argument(&c()).await, Ok(3));
    assert_eq!(linear_plain(&c()), Ok(3));
    assert_eq!(custom_backoff(&c()).await, Ok(3));
    assert_eq!(fixed_duration(&c()).await, Ok(2));
    assert_eq!(timeout_short(&c()).await, Ok(1));
    assert_eq!(
        timeout_named().await,
        Err(Error::Rejected("lints::slow".into()))
    );
    assert_eq!(fallback_default(&c()), Ok(0));
    assert_eq!(fallback_value(&c()).await, Ok(42));
    assert_eq!(
        fallback_path("n".into(), &c()).await,
        Ok("n 1 Again(1)".to_string())
    );
    assert_eq!(full_stack(vec![1, 2], &c()).await, Ok(2));
    assert_eq!(timeout_around_retry("abc".into()).await, Ok(3));
    let counter = c();
    assert_eq!(intended_order(&counter), Ok(0));
    assert_eq!(counter.load(Ordering::SeqCst), 1);
    assert_eq!(generic(1, "l", "t").await, Ok("1lt".to_string()));
    assert_eq!(lifetimes(" x ", 0).await, Ok("x"));
    assert_eq!(patterns((1, 2), vec![3]), Ok(6));
    assert_eq!(question_mark("0"), Ok(1));
    assert!(question_mark("x").is_err());
    assert_eq!(io_alias(&c()).unwrap(), 2);
    assert_eq!(bulkhead_async(&c()).await, Ok(1));
    assert_eq!(bulkhead_plain("ab".into()), Ok(2));
    assert_eq!(bulkhead_adaptive(vec![1]).await, Ok(1));
    assert_eq!(rate_limit_async(&c()).await, Ok(1));
    assert_eq!(rate_limit_plain("abc".into()), Ok(3));
    assert_eq!(rate_limit_keyed("t").await, Ok(1));
    assert_eq!(rate_limit_generic_key(3u8), Ok(1));
    assert_eq!(limits_stack("abcd".into(), &c()).await, Ok(4));
    assert_eq!(bulkhead_above_retry_intended(&c()), Ok(2));
    assert_eq!(breaker_defaults(&c()).await, Ok(1));
    assert_eq!(breaker_plain("ab".into()), Ok(2));
    assert_eq!(breaker_keyed("t").await, Ok(1));
    assert_eq!(breaker_generic_key(1u8), Ok(1));
    assert_eq!(full_api_stack("abc".into(), &c()).await, Ok(3));
    assert_eq!(breaker_above_fallback_intended(&c()), Ok(0));
    assert_eq!(
        Service::default().guarded("k".into()).await,
        Ok("k1".to_string())
    );
    assert_eq!(Arc::new(Service::default()).guarded_arc().await, Ok(1));

    assert_eq!(
        Service::default().by_ref("k".into()).await,
        Ok("k2".to_string())
    );
    let mut service = Service::default();
    assert_eq!(service.by_mut(5).await, Ok(10));
    assert_eq!(Arc::new(Service::default()).by_arc().await, Ok(2));
    assert_eq!(
        Service::default().with_cache("k"),
        Ok("k cached 1".to_string())
    );
    assert_eq!(Service::default().limited("k").await, Ok("k1".to_string()));
    assert_eq!(Service::default().limited_mut(2).await, Ok(2));
    assert_eq!(Arc::new(Service::default()).limited_arc(), Ok(1));
    assert_eq!(Token(1).consume(&c()), Ok(3));
    assert_eq!(Token(1).consume_mut(&c()).await, Ok(2));
    assert_eq!(Service::default().get(1).await, Ok(3));
    assert_eq!(
        BoxedApi::fetch(&Service::default(), "id".into()).await,
        Ok("id2".to_string())
    );
}
