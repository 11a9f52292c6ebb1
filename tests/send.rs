//! Annotated futures are `Send` whenever their inputs are: each kind is spawned with
//! `tokio::spawn` on a multi-thread runtime (which requires `Send + 'static`) and its
//! result checked. A future that held an RNG handle, a guard or an `Rc` across an
//! `.await` would not compile here.
//!
//! Paused time needs a current-thread runtime, so these tests run in real time with
//! delays of a few milliseconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience_runtime::{
    Rejection, bulkhead, circuit_breaker, fallback, rate_limit, retry, timeout,
};

#[derive(Debug, Clone, PartialEq)]
enum Error {
    Again(u32),
    TimedOut,
    Full,
    Limited,
    Open,
}

impl From<Rejection> for Error {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::Timeout { .. } => Error::TimedOut,
            Rejection::BulkheadFull { .. } => Error::Full,
            Rejection::RateLimited { .. } => Error::Limited,
            Rejection::CircuitOpen { .. } => Error::Open,
            other => panic!("unexpected {other}"),
        }
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

/// Spawns `future` on the multi-thread runtime and waits for its output.
async fn spawned<F>(future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future).await.expect("the task completes")
}

/// A yield point inside the body, so the future is suspended while it holds its state.
async fn yield_now() {
    tokio::task::yield_now().await;
}

fn is_again(e: &Error) -> bool {
    matches!(e, Error::Again(_))
}

fn on_retry(_: &Error, _: u32, _: Duration) {}

#[retry(max_attempts = 3, backoff = fixed("1ms"), jitter = full)]
async fn retry_full_jitter(c: Arc<AtomicU32>, label: String) -> Result<String, Error> {
    yield_now().await;
    until(&c, 3).map(|n| format!("{label}{n}"))
}

#[retry(
    max_attempts = 3,
    backoff = exponential(initial = "1ms", factor = 2.0, max = "2ms"),
    jitter = decorrelated,
    retry_if = is_again,
    on_retry = on_retry
)]
async fn retry_decorrelated(c: Arc<AtomicU32>) -> Result<u32, Error> {
    yield_now().await;
    until(&c, 3)
}

#[retry(max_attempts = 3, backoff = linear(initial = "1ms", step = "1ms", max = "2ms"), jitter = equal)]
async fn retry_linear_equal(c: Arc<AtomicU32>) -> Result<u32, Error> {
    yield_now().await;
    until(&c, 3)
}

#[timeout("1s")]
async fn timeout_in_time(c: Arc<AtomicU32>) -> Result<u32, Error> {
    yield_now().await;
    until(&c, 1)
}

#[timeout("2ms")]
async fn timeout_too_slow() -> Result<u32, Error> {
    tokio::time::sleep(Duration::from_secs(60)).await;
    Ok(0)
}

async fn backup(label: String, err: Error) -> Result<String, Error> {
    yield_now().await;
    Ok(format!("{label} after {err:?}"))
}

#[fallback(backup)]
async fn fallback_path(label: String) -> Result<String, Error> {
    yield_now().await;
    Err(Error::Again(0))
}

#[fallback(default)]
async fn fallback_default() -> Result<Vec<u8>, Error> {
    yield_now().await;
    Err(Error::Again(0))
}

#[fallback(value = 5, fallback_if = is_again)]
async fn fallback_value() -> Result<u32, Error> {
    yield_now().await;
    Err(Error::Again(0))
}

async fn stack_backup(label: String, slow: bool, err: Error) -> Result<String, Error> {
    assert!(slow);
    backup(label, err).await
}

#[fallback(stack_backup)]
#[retry(max_attempts = 3, backoff = fixed("1ms"))]
#[timeout("2ms")]
async fn stack(label: String, slow: bool) -> Result<String, Error> {
    if slow {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    yield_now().await;
    Ok(label)
}

#[timeout("1s")]
#[retry(max_attempts = 2, backoff = none)]
async fn timeout_around_retry(c: Arc<AtomicU32>) -> Result<u32, Error> {
    yield_now().await;
    until(&c, 2)
}

#[retry(max_attempts = 2, backoff = none)]
async fn generic<T>(value: T, c: Arc<AtomicU32>) -> Result<T, Error>
where
    T: Clone + Send + Sync,
{
    yield_now().await;
    until(&c, 2).map(|_| value)
}

#[retry(max_attempts = 2, backoff = none)]
async fn impl_trait_arg(label: impl AsRef<str> + Clone + Send + Sync) -> Result<usize, Error> {
    yield_now().await;
    Ok(label.as_ref().len())
}

#[bulkhead(max_concurrent = 1)]
async fn bulkhead_held(hold: Duration, label: String) -> Result<String, Error> {
    tokio::time::sleep(hold).await;
    Ok(label)
}

#[bulkhead(max_concurrent = adaptive(initial = 2, min = 1, max = 4), max_wait = "1s")]
async fn bulkhead_adaptive(c: Arc<AtomicU32>) -> Result<u32, Error> {
    yield_now().await;
    until(&c, 1)
}

#[rate_limit(rate = "1/h")]
async fn rate_limited(label: String) -> Result<String, Error> {
    yield_now().await;
    Ok(label)
}

#[rate_limit(rate = "1/h", key = tenant.clone())]
async fn rate_limited_keyed(tenant: String) -> Result<String, Error> {
    yield_now().await;
    Ok(tenant)
}

#[fallback(value = String::from("fallback"))]
#[retry(max_attempts = 3, backoff = none)]
#[rate_limit(rate = "1000/s", max_wait = "10ms")]
#[timeout("1s")]
#[bulkhead(max_concurrent = 2)]
async fn limits_stack(c: Arc<AtomicU32>) -> Result<String, Error> {
    yield_now().await;
    until(&c, 3).map(|n| n.to_string())
}

#[circuit_breaker(consecutive_failures = 1)]
async fn breaker(c: Arc<AtomicU32>) -> Result<u32, Error> {
    yield_now().await;
    until(&c, 99)
}

#[circuit_breaker(consecutive_failures = 1, key = tenant.clone(), record_if = is_again)]
async fn breaker_keyed(tenant: String, c: Arc<AtomicU32>) -> Result<u32, Error> {
    yield_now().await;
    until(&c, 99)
}

#[fallback(value = 0)]
#[retry(max_attempts = 3, backoff = none)]
#[circuit_breaker(consecutive_failures = 10)]
#[rate_limit(rate = "1000/s", max_wait = "10ms")]
#[timeout("1s")]
#[bulkhead(max_concurrent = 2)]
async fn full_api_stack(c: Arc<AtomicU32>, label: String) -> Result<u32, Error> {
    yield_now().await;
    until(&c, 3).map(|n| n + u32::try_from(label.len()).unwrap())
}

#[derive(Default)]
struct Service {
    calls: AtomicU32,
    total: u32,
}

impl Service {
    #[retry(max_attempts = 3, backoff = fixed("1ms"))]
    #[timeout("1s")]
    async fn by_ref(&self, key: String) -> Result<String, Error> {
        yield_now().await;
        until(&self.calls, 2).map(|n| format!("{key}{n}"))
    }

    #[retry(max_attempts = 3, backoff = none)]
    async fn by_mut(&mut self, add: u32) -> Result<u32, Error> {
        self.total += add;
        yield_now().await;
        until(&self.calls, 2).map(|_| self.total)
    }

    #[retry(max_attempts = 3, backoff = none)]
    async fn by_arc(self: Arc<Self>) -> Result<u32, Error> {
        yield_now().await;
        until(&self.calls, 2)
    }

    #[bulkhead(max_concurrent = 2)]
    #[rate_limit(rate = "1000/s")]
    async fn limited(&self, key: String) -> Result<String, Error> {
        yield_now().await;
        until(&self.calls, 1).map(|n| format!("{key}{n}"))
    }

    #[circuit_breaker(consecutive_failures = 5)]
    async fn guarded(&self, key: String) -> Result<String, Error> {
        yield_now().await;
        until(&self.calls, 1).map(|n| format!("{key}{n}"))
    }

    #[fallback(Self::cached)]
    async fn with_cache(&self, key: &str) -> Result<String, Error> {
        yield_now().await;
        until(&self.calls, 9).map(|n| n.to_string())
    }

    async fn cached(&self, key: &str, _: Error) -> Result<String, Error> {
        yield_now().await;
        Ok(format!("{key} cached"))
    }
}

#[derive(Clone)]
struct Token(u32);

impl Token {
    #[retry(max_attempts = 2, backoff = none)]
    async fn consume(mut self, c: Arc<AtomicU32>) -> Result<u32, Error> {
        self.0 += 1;
        yield_now().await;
        until(&c, 2).map(|_| self.0)
    }
}

trait Api {
    async fn get(&self, id: u32) -> Result<u32, Error>;
}

impl Api for Service {
    #[retry(max_attempts = 3, backoff = none)]
    #[timeout("1s")]
    async fn get(&self, id: u32) -> Result<u32, Error> {
        yield_now().await;
        until(&self.calls, 2).map(|n| n + id)
    }
}

#[async_trait::async_trait]
trait BoxedApi {
    async fn fetch(&self, id: String) -> Result<String, Error>;
}

#[async_trait::async_trait]
impl BoxedApi for Service {
    #[retry(max_attempts = 3, backoff = none)]
    #[timeout("1s")]
    async fn fetch(&self, id: String) -> Result<String, Error> {
        yield_now().await;
        until(&self.calls, 2).map(|n| format!("{id}{n}"))
    }
}

fn counter() -> Arc<AtomicU32> {
    Arc::new(AtomicU32::new(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_futures_are_send() {
    assert_eq!(
        spawned(retry_full_jitter(counter(), "a".into())).await,
        Ok("a3".into())
    );
    assert_eq!(spawned(retry_decorrelated(counter())).await, Ok(3));
    assert_eq!(spawned(retry_linear_equal(counter())).await, Ok(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_futures_are_send() {
    assert_eq!(spawned(timeout_in_time(counter())).await, Ok(1));
    assert_eq!(spawned(timeout_too_slow()).await, Err(Error::TimedOut));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_futures_are_send() {
    assert_eq!(
        spawned(fallback_path("x".into())).await,
        Ok("x after Again(0)".into())
    );
    assert_eq!(spawned(fallback_default()).await, Ok(Vec::new()));
    assert_eq!(spawned(fallback_value()).await, Ok(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stacked_futures_are_send() {
    assert_eq!(spawned(stack("s".into(), false)).await, Ok("s".into()));
    assert_eq!(
        spawned(stack("s".into(), true)).await,
        Ok("s after TimedOut".into()),
        "three attempts time out, then the fallback answers"
    );
    assert_eq!(spawned(timeout_around_retry(counter())).await, Ok(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_futures_are_send() {
    assert_eq!(spawned(generic(vec![1u8], counter())).await, Ok(vec![1]));
    assert_eq!(spawned(impl_trait_arg(String::from("abc"))).await, Ok(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn method_futures_are_send() {
    let svc = Arc::new(Service::default());
    let s = Arc::clone(&svc);
    assert_eq!(
        spawned(async move { s.by_ref("k".into()).await }).await,
        Ok("k2".into())
    );

    let result = spawned(async move {
        let mut svc = Service::default();
        svc.by_mut(5).await
    })
    .await;
    assert_eq!(result, Ok(10), "`&mut self` is reused by each attempt");

    assert_eq!(spawned(Arc::new(Service::default()).by_arc()).await, Ok(2));

    let s = Arc::new(Service::default());
    let result = spawned(async move { s.with_cache("k").await }).await;
    assert_eq!(result, Ok("k cached".into()));

    assert_eq!(spawned(Token(1).consume(counter())).await, Ok(2));

    let s = Arc::new(Service::default());
    assert_eq!(spawned(async move { s.get(10).await }).await, Ok(12));

    let s = Arc::new(Service::default());
    let result = spawned(async move { s.fetch("id".into()).await }).await;
    assert_eq!(result, Ok("id2".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulkhead_and_rate_limit_futures_are_send() {
    let held = tokio::spawn(bulkhead_held(Duration::from_millis(50), "a".into()));
    // Wait until the first call holds the slot (no sleep-based race: poll the metrics).
    let handle = loop {
        if let Some(h) = resilience_runtime::registry::bulkhead("send::bulkhead_held") {
            if h.metrics().in_flight == 1 {
                break h;
            }
        }
        tokio::task::yield_now().await;
    };
    assert_eq!(
        spawned(bulkhead_held(Duration::ZERO, "b".into())).await,
        Err(Error::Full)
    );
    assert_eq!(held.await.unwrap(), Ok("a".into()));
    assert_eq!(handle.metrics().in_flight, 0, "the slot is given back");
    assert_eq!(spawned(bulkhead_adaptive(counter())).await, Ok(1));

    assert_eq!(spawned(rate_limited("r".into())).await, Ok("r".into()));
    assert_eq!(spawned(rate_limited("r".into())).await, Err(Error::Limited));
    assert_eq!(
        spawned(rate_limited_keyed("t1".into())).await,
        Ok("t1".into())
    );
    assert_eq!(
        spawned(rate_limited_keyed("t2".into())).await,
        Ok("t2".into())
    );
    assert_eq!(
        spawned(rate_limited_keyed("t1".into())).await,
        Err(Error::Limited)
    );

    assert_eq!(spawned(limits_stack(counter())).await, Ok("3".into()));

    let s = Arc::new(Service::default());
    let result = spawned(async move { s.limited("k".into()).await }).await;
    assert_eq!(result, Ok("k1".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuit_breaker_futures_are_send() {
    let c = counter();
    assert_eq!(spawned(breaker(Arc::clone(&c))).await, Err(Error::Again(1)));
    assert_eq!(spawned(breaker(Arc::clone(&c))).await, Err(Error::Open));
    assert_eq!(
        c.load(Ordering::SeqCst),
        1,
        "an open breaker never runs the body"
    );

    let c = counter();
    let keyed = |tenant: &str| breaker_keyed(tenant.to_owned(), Arc::clone(&c));
    assert_eq!(spawned(keyed("a")).await, Err(Error::Again(1)));
    assert_eq!(spawned(keyed("b")).await, Err(Error::Again(2)));
    assert_eq!(spawned(keyed("a")).await, Err(Error::Open));

    assert_eq!(spawned(full_api_stack(counter(), "ab".into())).await, Ok(5));

    let s = Arc::new(Service::default());
    let result = spawned(async move { s.guarded("k".into()).await }).await;
    assert_eq!(result, Ok("k1".into()));
}

/// `#[cache]`, `#[coalesce]` and `#[hedge]` (issue 12), spawned.
mod redundancy {
    use super::{Error, counter, spawned, until, yield_now};
    use resilience_runtime::{cache, circuit_breaker, coalesce, hedge, retry, timeout};
    use std::sync::Arc;
    use std::sync::atomic::AtomicU32;

    #[cache(key = label.clone(), ttl = "1s", stale_if_error = "1m")]
    async fn cached(label: String, c: Arc<AtomicU32>) -> Result<String, Error> {
        yield_now().await;
        until(&c, 1).map(|n| format!("{label}{n}"))
    }

    #[coalesce(key = label.clone())]
    async fn coalesced(label: String, c: Arc<AtomicU32>) -> Result<String, Error> {
        yield_now().await;
        until(&c, 1).map(|n| format!("{label}{n}"))
    }

    #[hedge(delay = "1ms", max_hedges = 2)]
    async fn hedged(label: String, c: Arc<AtomicU32>) -> Result<String, Error> {
        yield_now().await;
        until(&c, 1).map(|n| format!("{label}{n}"))
    }

    #[cache(key = id)]
    #[retry(max_attempts = 2, backoff = none)]
    #[coalesce(key = id)]
    #[timeout("1s")]
    #[hedge(delay = "0s")]
    #[circuit_breaker(consecutive_failures = 10)]
    async fn stack(id: u32, c: Arc<AtomicU32>) -> Result<u32, Error> {
        yield_now().await;
        until(&c, 1).map(|n| n + id)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redundancy_futures_are_send() {
        assert_eq!(
            spawned(cached("a".into(), counter())).await,
            Ok("a1".into())
        );
        assert_eq!(
            spawned(coalesced("b".into(), counter())).await,
            Ok("b1".into())
        );
        assert_eq!(
            spawned(hedged("c".into(), counter())).await,
            Ok("c1".into())
        );
        assert_eq!(spawned(stack(1, counter())).await, Ok(2));
    }
}
