//! `#[bulkhead]` and `#[rate_limit]` on the tricky shapes — receivers, trait impls,
//! `#[async_trait]`, plain functions, generics, keys over the arguments, expression
//! rates, `crate = ...`, stacked with retry, timeout and fallback in the recommended
//! order — under `#![deny(warnings)]`, run under paused time.
#![deny(warnings)]

use std::sync::Arc;
use std::time::Duration;

use resilience_runtime::rate_limit::Rate;
use resilience_runtime::{Rejection, bulkhead, fallback, rate_limit, retry, timeout};

#[derive(Debug, PartialEq)]
enum E {
    Backend(u32),
    Full,
    Limited(Duration),
    TimedOut,
}

impl From<Rejection> for E {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::BulkheadFull { .. } => E::Full,
            Rejection::RateLimited { retry_after, .. } => E::Limited(retry_after),
            Rejection::Timeout { .. } => E::TimedOut,
            other => panic!("unexpected {other}"),
        }
    }
}

const MS: Duration = Duration::from_millis(1);

struct Service {
    id: u32,
}

impl Service {
    #[bulkhead(max_concurrent = 1)]
    async fn by_ref(&self, work: Duration) -> Result<u32, E> {
        tokio::time::sleep(work).await;
        Ok(self.id)
    }

    #[rate_limit(rate = "1/s")]
    async fn by_mut(&mut self) -> Result<u32, E> {
        self.id += 1;
        Ok(self.id)
    }

    #[bulkhead(max_concurrent = 2, max_wait = "10ms")]
    #[rate_limit(rate = "100/s", burst = 5)]
    async fn by_arc(self: Arc<Self>, owned: String) -> Result<String, E> {
        Ok(format!("{owned}{}", self.id))
    }

    #[rate_limit(rate = "1/min", key = tenant.to_string())]
    fn per_tenant(&self, tenant: &str) -> Result<u32, E> {
        Ok(self.id)
    }

    #[bulkhead(max_concurrent = 1, name = "limits::owned")]
    async fn owned(self) -> Result<u32, E> {
        Ok(self.id)
    }
}

trait Api {
    async fn get(&self, id: u32) -> Result<u32, E>;
}

impl Api for Service {
    #[rate_limit(rate = "2/s")]
    #[bulkhead(max_concurrent = 4)]
    async fn get(&self, id: u32) -> Result<u32, E> {
        Ok(id + self.id)
    }
}

#[async_trait::async_trait]
trait BoxedApi {
    async fn fetch(&self, id: String) -> Result<String, E>;
}

#[async_trait::async_trait]
impl BoxedApi for Service {
    #[bulkhead(max_concurrent = adaptive(initial = 2, min = 1, max = 4))]
    #[rate_limit(rate = (Rate::per_second(50)))]
    async fn fetch(&self, id: String) -> Result<String, E> {
        Ok(format!("{id}{}", self.id))
    }
}

#[bulkhead(max_concurrent = 1)]
fn plain_bulkhead(x: u32) -> Result<u32, E> {
    Ok(x)
}

#[rate_limit(rate = "1/h", max_wait = "0s")]
fn plain_rate_limit(x: u32) -> Result<u32, E> {
    Ok(x)
}

#[rate_limit(rate = "10/250ms", key = key.clone(), max_keys = 10)]
async fn generic_keyed<K>(key: K, value: u32) -> Result<u32, E>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
{
    let _ = key;
    Ok(value)
}

/// The recommended order, without the breaker: every attempt is paced, limited in time
/// and holds a slot only while the body runs.
#[fallback(value = 0)]
#[retry(max_attempts = 3, backoff = none)]
#[rate_limit(rate = "10/s", burst = 1, max_wait = "1s")]
#[timeout("50ms")]
#[bulkhead(max_concurrent = 1)]
async fn recommended(calls: &std::sync::atomic::AtomicU32) -> Result<u32, E> {
    let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    if n < 3 { Err(E::Backend(n)) } else { Ok(n) }
}

/// A retry below a bulkhead, on purpose.
#[bulkhead(max_concurrent = 1, order = "intended")]
#[retry(max_attempts = 2, backoff = fixed("1ms"))]
fn intended(calls: &mut u32) -> Result<u32, E> {
    *calls += 1;
    if *calls < 2 {
        Err(E::Backend(*calls))
    } else {
        Ok(*calls)
    }
}

mod rt {
    pub use resilience_runtime::*;
}

#[rt::rate_limit(crate = crate::rt, rate = "5/s")]
#[rt::bulkhead(crate = crate::rt, max_concurrent = 1)]
async fn overridden() -> Result<u32, E> {
    Ok(5)
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let svc = Arc::new(Service { id: 7 });
    let busy = tokio::spawn({
        let svc = Arc::clone(&svc);
        async move { svc.by_ref(MS * 100).await }
    });
    tokio::task::yield_now().await;
    assert_eq!(svc.by_ref(MS).await, Err(E::Full), "one slot, taken");
    assert_eq!(busy.await.unwrap(), Ok(7));
    assert_eq!(svc.by_ref(MS).await, Ok(7), "the slot was given back");

    let mut svc = Service { id: 0 };
    assert_eq!(svc.by_mut().await, Ok(1));
    assert_eq!(svc.by_mut().await, Err(E::Limited(Duration::from_secs(1))));

    let svc = Arc::new(Service { id: 1 });
    assert_eq!(Arc::clone(&svc).by_arc("a".into()).await, Ok("a1".into()));
    assert_eq!(svc.per_tenant("x"), Ok(1));
    assert_eq!(svc.per_tenant("y"), Ok(1), "another key, another limit");
    assert!(matches!(svc.per_tenant("x"), Err(E::Limited(_))));
    assert_eq!(Service { id: 3 }.owned().await, Ok(3));
    assert_eq!(Service { id: 1 }.get(1).await, Ok(2));
    assert_eq!(Service { id: 1 }.fetch("f".into()).await, Ok("f1".into()));

    assert_eq!(plain_bulkhead(1), Ok(1));
    assert_eq!(plain_rate_limit(1), Ok(1));
    assert!(matches!(plain_rate_limit(1), Err(E::Limited(_))));
    assert_eq!(generic_keyed("k", 1).await, Ok(1));
    assert_eq!(generic_keyed(2u8, 2).await, Ok(2));

    let calls = std::sync::atomic::AtomicU32::new(0);
    let start = tokio::time::Instant::now();
    assert_eq!(recommended(&calls).await, Ok(3));
    assert_eq!(
        start.elapsed(),
        MS * 200,
        "attempts paced at 0, 100 and 200ms"
    );

    let mut calls = 0;
    assert_eq!(intended(&mut calls), Ok(2));
    assert_eq!(overridden().await, Ok(5));
}
