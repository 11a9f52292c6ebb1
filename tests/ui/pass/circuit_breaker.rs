//! `#[circuit_breaker]` on the tricky shapes — every receiver, trait impls (native and
//! `#[async_trait]`), plain and generic functions, keys over the arguments, shared
//! names, every argument — and the full stack of API.md in its recommended order,
//! under `#![deny(warnings)]`, run under paused time.
#![deny(warnings)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use resilience_runtime::{
    Rejection, bulkhead, circuit_breaker, fallback, rate_limit, retry, timeout,
};

#[derive(Debug, Clone, PartialEq)]
enum E {
    Backend(u32),
    Client,
    Open(String),
    Other(String),
}

impl From<Rejection> for E {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::CircuitOpen { name, .. } => E::Open(name.into_owned()),
            other => E::Other(other.to_string()),
        }
    }
}

fn is_backend(e: &E) -> bool {
    matches!(e, E::Backend(_))
}

#[derive(Default)]
struct Service {
    calls: AtomicU32,
    total: u32,
}

impl Service {
    fn fail(&self) -> Result<u32, E> {
        Err(E::Backend(self.calls.fetch_add(1, Ordering::SeqCst) + 1))
    }

    #[circuit_breaker(name = "cb::by_ref", consecutive_failures = 2)]
    async fn by_ref(&self) -> Result<u32, E> {
        self.fail()
    }

    #[circuit_breaker(consecutive_failures = 2)]
    async fn by_mut(&mut self, add: u32) -> Result<u32, E> {
        self.total += add;
        Err(E::Backend(self.total))
    }

    #[circuit_breaker(consecutive_failures = 1)]
    async fn by_arc(self: Arc<Self>) -> Result<u32, E> {
        self.fail()
    }

    #[circuit_breaker(consecutive_failures = 1)]
    fn plain(&self, owned: String) -> Result<usize, E> {
        self.fail().map(|_| owned.len())
    }

    #[circuit_breaker(consecutive_failures = 1, record_if = is_backend)]
    fn client_errors_do_not_count(&self) -> Result<u32, E> {
        Err(E::Client)
    }

    #[circuit_breaker(consecutive_failures = 1, key = tenant.to_string(), max_keys = 8)]
    async fn per_tenant(&self, tenant: &str) -> Result<u32, E> {
        self.fail()
    }
}

#[derive(Clone)]
struct Owned(u32);

impl Owned {
    #[circuit_breaker(consecutive_failures = 1)]
    async fn consume(self) -> Result<u32, E> {
        Err(E::Backend(self.0))
    }
}

trait Api {
    async fn get(&self, id: u32) -> Result<u32, E>;
}

impl Api for Service {
    #[circuit_breaker(consecutive_failures = 1)]
    async fn get(&self, id: u32) -> Result<u32, E> {
        self.fail().map(|n| n + id)
    }
}

#[async_trait::async_trait]
trait BoxedApi {
    async fn fetch(&self, id: String) -> Result<String, E>;
}

#[async_trait::async_trait]
impl BoxedApi for Service {
    #[circuit_breaker(consecutive_failures = 1)]
    async fn fetch(&self, id: String) -> Result<String, E> {
        self.fail().map(|n| format!("{id}{n}"))
    }
}

#[circuit_breaker(consecutive_failures = 1)]
async fn generic<T: Clone + Send>(value: T, fail: bool) -> Result<T, E> {
    if fail { Err(E::Backend(0)) } else { Ok(value) }
}

/// Every argument at once.
#[circuit_breaker(
    name = "cb::every_argument",
    failure_rate = 0.5,
    window = time("10s"),
    min_calls = 4,
    consecutive_failures = 10,
    slow_call = "1s",
    slow_call_rate = 0.8,
    open_for = "30s",
    open_for_max = "5m",
    half_open_calls = 2,
    record_if = is_backend
)]
async fn every_argument(fail: bool) -> Result<u32, E> {
    if fail { Err(E::Backend(0)) } else { Ok(1) }
}

/// Two functions naming the same breaker share it.
#[circuit_breaker(name = "cb::shared", window = count(10), min_calls = 2, failure_rate = 1.0)]
async fn shared_a() -> Result<u32, E> {
    Err(E::Backend(1))
}

#[circuit_breaker(name = "cb::shared", window = count(10), min_calls = 2, failure_rate = 1.0)]
fn shared_b() -> Result<u32, E> {
    Err(E::Backend(2))
}

#[derive(Debug, Clone, PartialEq)]
struct Prices(Vec<u32>);

struct Catalog {
    calls: AtomicU32,
}

impl Catalog {
    /// API.md's example stack, in the recommended order.
    #[fallback(Self::cached_prices)]
    #[retry(max_attempts = 3)]
    #[circuit_breaker(name = "prices", consecutive_failures = 5)]
    #[rate_limit(rate = "50/s")]
    #[timeout("2s")]
    #[bulkhead(max_concurrent = 8)]
    async fn prices(&self, sku: &str) -> Result<Prices, E> {
        let _ = sku;
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        Err(E::Backend(n))
    }

    async fn cached_prices(&self, sku: &str, err: E) -> Result<Prices, E> {
        Ok(Prices(vec![
            sku.len() as u32,
            self.calls.load(Ordering::SeqCst),
            match err {
                E::Backend(n) => n,
                _ => 0,
            },
        ]))
    }
}

/// A fallback below a breaker, on purpose.
#[circuit_breaker(consecutive_failures = 1, order = "intended")]
#[fallback(value = 0)]
async fn intended() -> Result<u32, E> {
    Err(E::Backend(0))
}

mod rt {
    pub use resilience_runtime::*;
}

#[circuit_breaker(crate = crate::rt, consecutive_failures = 1)]
async fn overridden() -> Result<u32, E> {
    Err(E::Backend(0))
}

fn is_open(r: &Result<impl std::fmt::Debug, E>) -> bool {
    matches!(r, Err(E::Open(_)))
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let svc = Service::default();
    assert_eq!(svc.by_ref().await, Err(E::Backend(1)));
    assert_eq!(svc.by_ref().await, Err(E::Backend(2)));
    assert_eq!(svc.by_ref().await, Err(E::Open("cb::by_ref".into())));
    assert_eq!(
        svc.calls.load(Ordering::SeqCst),
        2,
        "an open breaker never runs the body"
    );

    let mut svc = Service::default();
    assert_eq!(svc.by_mut(1).await, Err(E::Backend(1)));
    assert_eq!(svc.by_mut(1).await, Err(E::Backend(2)));
    assert!(is_open(&svc.by_mut(1).await));
    assert_eq!(svc.total, 2);

    let svc = Arc::new(Service::default());
    assert_eq!(Arc::clone(&svc).by_arc().await, Err(E::Backend(1)));
    assert!(is_open(&Arc::clone(&svc).by_arc().await));
    assert_eq!(svc.plain("x".into()), Err(E::Backend(2)));
    assert!(is_open(&svc.plain("x".into())));
    assert_eq!(svc.client_errors_do_not_count(), Err(E::Client));
    assert_eq!(
        svc.client_errors_do_not_count(),
        Err(E::Client),
        "not recorded: still closed"
    );
    assert_eq!(svc.per_tenant("a").await, Err(E::Backend(3)));
    assert_eq!(
        svc.per_tenant("b").await,
        Err(E::Backend(4)),
        "another key, another breaker"
    );
    assert!(is_open(&svc.per_tenant("a").await));

    assert_eq!(Owned(9).consume().await, Err(E::Backend(9)));
    assert!(is_open(&Owned(9).consume().await));
    let svc = Service::default();
    assert_eq!(svc.get(10).await, Err(E::Backend(1)));
    assert!(is_open(&svc.get(10).await));
    assert_eq!(svc.fetch("i".into()).await, Err(E::Backend(2)));
    assert!(is_open(&svc.fetch("i".into()).await));
    assert_eq!(generic(1u8, false).await, Ok(1));
    assert_eq!(generic(1u8, true).await, Err(E::Backend(0)));
    assert!(is_open(&generic(1u8, false).await));

    assert_eq!(every_argument(false).await, Ok(1));
    assert_eq!(every_argument(true).await, Err(E::Backend(0)));

    assert_eq!(shared_a().await, Err(E::Backend(1)));
    assert_eq!(shared_b(), Err(E::Backend(2)));
    assert_eq!(
        shared_a().await,
        Err(E::Open("cb::shared".into())),
        "two failures between them"
    );

    let catalog = Catalog {
        calls: AtomicU32::new(0),
    };
    assert_eq!(catalog.prices("sku").await, Ok(Prices(vec![3, 3, 3])));
    assert_eq!(catalog.calls.load(Ordering::SeqCst), 3);

    assert_eq!(intended().await, Ok(0));
    assert_eq!(intended().await, Ok(0), "the breaker never sees the error");
    assert_eq!(overridden().await, Err(E::Backend(0)));
    assert!(is_open(&overridden().await));
}
