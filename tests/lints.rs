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

/// Bodies written on one line, as rustfmt leaves them only when told to: each
/// attribute, async and plain (where it allows), free functions, methods of every
/// receiver, patterns, trait impls and a stack. `unused_braces` once fired on every
/// one of them.
#[rustfmt::skip]
mod one_line {
    use std::sync::Arc;

    use resilience_runtime::{bulkhead, circuit_breaker, fallback, rate_limit, retry, timeout};

    use super::Error;

    #[retry(max_attempts = 3)] pub async fn retry_async() -> Result<u32, Error> { Ok(1) }
    #[retry(max_attempts = 3)] pub fn retry_plain() -> Result<u32, Error> { Ok(1) }
    #[retry(max_attempts = 3)] pub async fn retry_owned(s: String) -> Result<usize, Error> { Ok(s.len()) }
    #[retry(max_attempts = 3)] pub fn retry_pattern((a, b): (u32, u32)) -> Result<u32, Error> { Ok(a + b) }
    #[retry(max_attempts = 3)] pub async fn retry_mut_arg(mut v: Vec<u32>) -> Result<usize, Error> { v.push(1); Ok(v.len()) }
    #[timeout("1s")] pub async fn timeout_async() -> Result<u32, Error> { Ok(1) }
    #[timeout("1s")] pub async fn timeout_owned(s: String) -> Result<usize, Error> { Ok(s.len()) }
    #[circuit_breaker] pub async fn breaker_async() -> Result<u32, Error> { Ok(1) }
    #[circuit_breaker] pub fn breaker_plain() -> Result<u32, Error> { Ok(1) }
    #[circuit_breaker(key = k)] pub fn breaker_keyed(k: u8) -> Result<u8, Error> { Ok(k) }
    #[rate_limit(rate = "100/s")] pub async fn rate_limit_async() -> Result<u32, Error> { Ok(1) }
    #[rate_limit(rate = "100/s")] pub fn rate_limit_plain() -> Result<u32, Error> { Ok(1) }
    #[bulkhead(max_concurrent = 2)] pub async fn bulkhead_async() -> Result<u32, Error> { Ok(1) }
    #[bulkhead(max_concurrent = 2)] pub fn bulkhead_plain() -> Result<u32, Error> { Ok(1) }
    #[fallback(default)] pub async fn fallback_async() -> Result<u32, Error> { Ok(1) }
    #[fallback(default)] pub fn fallback_plain() -> Result<u32, Error> { Ok(1) }
    #[fallback(value = 2)] pub async fn fallback_value() -> Result<u32, Error> { Err(Error::Again(1)) }
    #[fallback(backup)] pub async fn fallback_path(s: String) -> Result<usize, Error> { Ok(s.len()) }
    #[fallback(backup_plain)] pub fn fallback_path_plain((a, _b): (usize, usize)) -> Result<usize, Error> { Ok(a) }
    #[fallback(value = 0)] #[retry(max_attempts = 2, backoff = none)] #[circuit_breaker] #[rate_limit(rate = "100/s")] #[timeout("1s")] #[bulkhead(max_concurrent = 2)] pub async fn stack_async(s: String) -> Result<usize, Error> { Ok(s.len()) }
    #[fallback(value = 0)] #[retry(max_attempts = 2, backoff = none)] #[circuit_breaker] #[rate_limit(rate = "100/s")] #[bulkhead(max_concurrent = 2)] pub fn stack_plain(s: String) -> Result<usize, Error> { Ok(s.len()) }
    #[retry(max_attempts = 2, backoff = none)] #[timeout("1s")] pub async fn retry_timeout() -> Result<u32, Error> { Ok(1) }
    #[circuit_breaker] #[bulkhead(max_concurrent = 2)] pub fn breaker_bulkhead() -> Result<u32, Error> { Ok(1) }

    #[allow(clippy::unnecessary_wraps, clippy::needless_pass_by_value)]
    async fn backup(s: String, _e: Error) -> Result<usize, Error> { tokio::task::yield_now().await; Ok(s.len() + 100) }
    #[allow(clippy::unnecessary_wraps, clippy::needless_pass_by_value)]
    fn backup_plain(_: (usize, usize), _e: Error) -> Result<usize, Error> { Ok(100) }

    #[derive(Clone, Default)]
    pub struct Svc(pub u32);

    impl Svc {
        #[retry(max_attempts = 3)] pub async fn by_ref(&self) -> Result<u32, Error> { Ok(self.0) }
        #[retry(max_attempts = 3)] pub fn by_ref_plain(&self) -> Result<u32, Error> { Ok(self.0) }
        #[retry(max_attempts = 3)] pub async fn by_mut(&mut self) -> Result<u32, Error> { self.0 += 1; Ok(self.0) }
        #[retry(max_attempts = 3)] pub fn by_value(self) -> Result<u32, Error> { Ok(self.0) }
        #[retry(max_attempts = 3)] pub async fn by_mut_value(mut self) -> Result<u32, Error> { self.0 += 1; Ok(self.0) }
        #[retry(max_attempts = 3)] pub async fn by_arc(self: Arc<Self>) -> Result<u32, Error> { Ok(self.0) }
        #[timeout("1s")] pub async fn timed(&self) -> Result<u32, Error> { Ok(self.0) }
        #[circuit_breaker] pub async fn guarded(&self) -> Result<u32, Error> { Ok(self.0) }
        #[circuit_breaker] pub fn guarded_plain(&self) -> Result<u32, Error> { Ok(self.0) }
        #[rate_limit(rate = "100/s")] pub async fn limited(&mut self) -> Result<u32, Error> { Ok(self.0) }
        #[bulkhead(max_concurrent = 1)] pub fn bounded(self: Arc<Self>) -> Result<u32, Error> { Ok(self.0) }
        #[fallback(Self::cached)] pub async fn with_cache(&self) -> Result<u32, Error> { Err(Error::Again(self.0)) }
        #[fallback(Self::cached_value)] pub fn with_cache_value(self) -> Result<u32, Error> { Err(Error::Again(self.0)) }
        #[fallback(value = 9)] #[retry(max_attempts = 2, backoff = none)] #[circuit_breaker] #[timeout("1s")] pub async fn stacked(&self) -> Result<u32, Error> { Ok(self.0) }
        #[fallback(value = 9)] #[retry(max_attempts = 2, backoff = none)] #[bulkhead(max_concurrent = 1)] pub async fn stacked_value(self) -> Result<u32, Error> { Ok(self.0) }

        #[allow(clippy::unnecessary_wraps)]
        async fn cached(&self, _e: Error) -> Result<u32, Error> { tokio::task::yield_now().await; Ok(self.0 + 100) }
        #[allow(clippy::unnecessary_wraps, clippy::needless_pass_by_value)]
        fn cached_value(self, _e: Error) -> Result<u32, Error> { Ok(self.0 + 200) }
    }

    pub trait Api {
        async fn get(&self) -> Result<u32, Error>;
        fn get_plain(&self) -> Result<u32, Error>;
    }

    impl Api for Svc {
        #[retry(max_attempts = 2, backoff = none)] #[timeout("1s")] async fn get(&self) -> Result<u32, Error> { Ok(self.0) }
        #[circuit_breaker] fn get_plain(&self) -> Result<u32, Error> { Ok(self.0) }
    }

    #[async_trait::async_trait]
    pub trait BoxedApi {
        async fn fetch(&self) -> Result<u32, Error>;
    }

    #[async_trait::async_trait]
    impl BoxedApi for Svc {
        #[retry(max_attempts = 2, backoff = none)] #[timeout("1s")] async fn fetch(&self) -> Result<u32, Error> { Ok(self.0) }
    }
}

#[tokio::test(start_paused = true)]
async fn one_line_bodies_run() {
    use one_line::{Api, BoxedApi, Svc};

    assert_eq!(one_line::retry_async().await, Ok(1));
    assert_eq!(one_line::retry_plain(), Ok(1));
    assert_eq!(one_line::retry_owned("ab".into()).await, Ok(2));
    assert_eq!(one_line::retry_pattern((1, 2)), Ok(3));
    assert_eq!(one_line::retry_mut_arg(vec![0]).await, Ok(2));
    assert_eq!(one_line::timeout_async().await, Ok(1));
    assert_eq!(one_line::timeout_owned("abc".into()).await, Ok(3));
    assert_eq!(one_line::breaker_async().await, Ok(1));
    assert_eq!(one_line::breaker_plain(), Ok(1));
    assert_eq!(one_line::breaker_keyed(4), Ok(4));
    assert_eq!(one_line::rate_limit_async().await, Ok(1));
    assert_eq!(one_line::rate_limit_plain(), Ok(1));
    assert_eq!(one_line::bulkhead_async().await, Ok(1));
    assert_eq!(one_line::bulkhead_plain(), Ok(1));
    assert_eq!(one_line::fallback_async().await, Ok(1));
    assert_eq!(one_line::fallback_plain(), Ok(1));
    assert_eq!(one_line::fallback_value().await, Ok(2));
    assert_eq!(one_line::fallback_path("a".into()).await, Ok(1));
    assert_eq!(one_line::fallback_path_plain((5, 6)), Ok(5));
    assert_eq!(one_line::stack_async("abcd".into()).await, Ok(4));
    assert_eq!(one_line::stack_plain("abcde".into()), Ok(5));
    assert_eq!(one_line::retry_timeout().await, Ok(1));
    assert_eq!(one_line::breaker_bulkhead(), Ok(1));

    let svc = Svc(7);
    assert_eq!(svc.by_ref().await, Ok(7));
    assert_eq!(svc.by_ref_plain(), Ok(7));
    assert_eq!(Svc(1).by_mut().await, Ok(2));
    assert_eq!(Svc(3).by_value(), Ok(3));
    assert_eq!(Svc(3).by_mut_value().await, Ok(4));
    assert_eq!(Arc::new(Svc(5)).by_arc().await, Ok(5));
    assert_eq!(svc.timed().await, Ok(7));
    assert_eq!(svc.guarded().await, Ok(7));
    assert_eq!(svc.guarded_plain(), Ok(7));
    assert_eq!(Svc(8).limited().await, Ok(8));
    assert_eq!(Arc::new(Svc(6)).bounded(), Ok(6));
    assert_eq!(svc.with_cache().await, Ok(107));
    assert_eq!(Svc(1).with_cache_value(), Ok(201));
    assert_eq!(svc.stacked().await, Ok(7));
    assert_eq!(Svc(2).stacked_value().await, Ok(2));
    assert_eq!(svc.get().await, Ok(7));
    assert_eq!(svc.get_plain(), Ok(7));
    assert_eq!(BoxedApi::fetch(&svc).await, Ok(7));
}

/// `#[cache]`, `#[coalesce]` and `#[hedge]` (issue 12): alone, with every argument, on
/// plain functions where allowed, methods with each receiver, and in stacks.
mod redundancy {
    use super::{Error, Service, until};
    use resilience_runtime::{cache, circuit_breaker, coalesce, fallback, hedge, retry, timeout};
    use std::sync::Arc;
    use std::sync::atomic::AtomicU32;

    #[cache]
    async fn cache_defaults(c: &AtomicU32) -> Result<u32, Error> {
        until(c, 1)
    }

    #[cache(key = id, ttl = "30s", stale_if_error = "10m", max_keys = 100, name = "lints::cache")]
    fn cache_plain(id: u32, owned: String) -> Result<usize, Error> {
        Ok(owned.len() + id as usize)
    }

    #[cache(key = tenant.to_owned(), ttl = "1s")]
    async fn cache_keyed(tenant: &str) -> Result<String, Error> {
        Ok(tenant.to_owned())
    }

    #[coalesce]
    async fn coalesce_defaults(c: &AtomicU32) -> Result<u32, Error> {
        until(c, 1)
    }

    #[coalesce(key = id, name = "lints::coalesce")]
    async fn coalesce_keyed(id: u32, owned: Vec<u8>) -> Result<usize, Error> {
        Ok(owned.len() + id as usize)
    }

    #[hedge(delay = "10ms")]
    async fn hedge_defaults(c: &AtomicU32) -> Result<u32, Error> {
        until(c, 1)
    }

    #[hedge(delay = percentile(95), max_hedges = 2, name = "lints::hedge")]
    async fn hedge_percentile(owned: String, (a, b): (u32, u32)) -> Result<usize, Error> {
        Ok(owned.len() + (a + b) as usize)
    }

    #[hedge(delay = "0s", max_hedges = 1)]
    async fn hedge_mut(mut owned: Vec<u8>) -> Result<usize, Error> {
        owned.push(1);
        Ok(owned.len())
    }

    /// Every new attribute in one stack, in an order that means what it says.
    #[fallback(value = 0)]
    #[cache(key = id, stale_if_error = "1m")]
    #[retry(max_attempts = 2, backoff = none)]
    #[coalesce(key = id)]
    #[timeout("1s")]
    #[hedge(delay = "5ms")]
    #[circuit_breaker(consecutive_failures = 5)]
    async fn redundancy_stack(id: u32, owned: String, c: &AtomicU32) -> Result<u32, Error> {
        until(c, 2)?;
        Ok(id + u32::try_from(owned.len()).unwrap_or(0))
    }

    impl Service {
        #[cache(ttl = "1s")]
        async fn cached_ref(&self) -> Result<u32, Error> {
            until(&self.calls, 1)
        }

        #[hedge(delay = "5ms")]
        async fn hedged_arc(self: Arc<Self>, key: String) -> Result<String, Error> {
            until(&self.calls, 1).map(|n| format!("{key}{n}"))
        }

        #[coalesce]
        async fn coalesced_mut(&mut self, add: u32) -> Result<u32, Error> {
            self.total += add;
            Ok(self.total)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn redundancy_shapes_run() {
        let c = || AtomicU32::new(0);
        assert_eq!(cache_defaults(&c()).await, Ok(1));
        assert_eq!(cache_plain(1, "ab".into()), Ok(3));
        assert_eq!(cache_keyed("t").await, Ok("t".to_owned()));
        assert_eq!(coalesce_defaults(&c()).await, Ok(1));
        assert_eq!(coalesce_keyed(1, vec![1]).await, Ok(2));
        assert_eq!(hedge_defaults(&c()).await, Ok(1));
        assert_eq!(hedge_percentile("abc".into(), (1, 2)).await, Ok(6));
        assert_eq!(hedge_mut(vec![]).await, Ok(1));
        assert_eq!(redundancy_stack(1, "ab".into(), &c()).await, Ok(3));
        assert_eq!(Service::default().cached_ref().await, Ok(1));
        assert_eq!(
            Arc::new(Service::default()).hedged_arc("k".into()).await,
            Ok("k1".to_owned())
        );
        assert_eq!(Service::default().coalesced_mut(2).await, Ok(2));
    }
}
