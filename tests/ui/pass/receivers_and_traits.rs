//! Every receiver, inherent and trait methods (native `async fn` in traits, provided
//! trait methods, `#[async_trait]` with and without `Send`), compiled under
//! `#![deny(warnings)]` and run.
#![deny(warnings)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use resilience_runtime::{Rejection, fallback, retry, timeout};

#[derive(Debug, PartialEq)]
enum E {
    Again(u32),
    Rejected,
}

impl From<Rejection> for E {
    fn from(_: Rejection) -> Self {
        E::Rejected
    }
}

/// Fails until the `n`th call.
#[derive(Default, Clone)]
struct Counter(Arc<AtomicU32>);

impl Counter {
    fn until(&self, n: u32) -> Result<u32, E> {
        let got = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        if got < n { Err(E::Again(got)) } else { Ok(got) }
    }
}

#[derive(Default)]
struct Svc {
    counter: Counter,
    total: u32,
}

impl Svc {
    #[retry(max_attempts = 3, backoff = none)]
    async fn by_ref(&self, x: u32) -> Result<u32, E> {
        Ok(x + self.counter.until(3)?)
    }

    #[retry(max_attempts = 3, backoff = none)]
    #[timeout("1s")]
    async fn by_mut(&mut self, x: u32) -> Result<u32, E> {
        self.total += x;
        self.counter.until(2)?;
        Ok(self.total)
    }

    #[retry(max_attempts = 3, backoff = none)]
    fn by_mut_plain(&mut self, x: u32) -> Result<u32, E> {
        self.total += x;
        self.counter.until(2).map(|_| self.total)
    }

    #[retry(max_attempts = 3, backoff = none)]
    async fn by_arc(self: Arc<Self>, x: u32) -> Result<u32, E> {
        Ok(x + self.counter.until(2)?)
    }

    #[retry(max_attempts = 3, backoff = none)]
    fn by_typed_ref(self: &Self) -> Result<u32, E> {
        self.counter.until(2)
    }

    #[fallback(Self::backup)]
    fn with_backup(&self, key: String) -> Result<String, E> {
        self.counter.until(99).map(|n| format!("{key}{n}"))
    }

    fn backup(&self, key: String, err: E) -> Result<String, E> {
        Ok(format!("{key} after {err:?}"))
    }

    /// Constructors return `Result<Self, E>`.
    #[retry(max_attempts = 2, backoff = none)]
    fn new(counter: &Counter) -> Result<Self, E> {
        counter.until(2)?;
        Ok(Svc::default())
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Token(u32);

impl Token {
    #[retry(max_attempts = 3, backoff = none)]
    fn consume(self, counter: &Counter) -> Result<u32, E> {
        Ok(self.0 + counter.until(2)?)
    }

    #[retry(max_attempts = 3, backoff = none)]
    async fn consume_mut(mut self, counter: &Counter) -> Result<u32, E> {
        self.0 += 1;
        counter.until(3)?;
        Ok(self.0)
    }

    #[retry(max_attempts = 3, backoff = none)]
    async fn boxed(self: Box<Self>, counter: &Counter) -> Result<u32, E> {
        Ok(self.0 + counter.until(2)?)
    }

    #[fallback(Self::recover)]
    async fn with_fallback(self, fail: bool) -> Result<Token, E> {
        if fail {
            Err(E::Again(self.0))
        } else {
            Ok(self)
        }
    }

    async fn recover(self, fail: bool, err: E) -> Result<Token, E> {
        assert!(fail);
        assert_eq!(err, E::Again(self.0));
        Ok(Token(self.0 + 100))
    }

    #[timeout("1s")]
    async fn timed(self) -> Result<Token, E> {
        Ok(self)
    }
}

trait Api {
    async fn get(&self, id: u32) -> Result<u32, E>;

    fn get_blocking(&self, id: u32) -> Result<u32, E>;

    /// A provided method with an attribute.
    #[retry(max_attempts = 4, backoff = none)]
    async fn provided(&self, id: u32) -> Result<u32, E> {
        self.get_blocking(id)
    }
}

impl Api for Svc {
    #[retry(max_attempts = 3, backoff = none)]
    #[timeout("1s")]
    async fn get(&self, id: u32) -> Result<u32, E> {
        Ok(id + self.counter.until(3)?)
    }

    #[retry(max_attempts = 3, backoff = none)]
    fn get_blocking(&self, id: u32) -> Result<u32, E> {
        Ok(id + self.counter.until(2)?)
    }
}

#[async_trait]
trait BoxedApi {
    async fn fetch(&self, id: String) -> Result<String, E>;
    async fn fetch_owned(self: Arc<Self>, id: String) -> Result<String, E>;
}

#[async_trait]
impl BoxedApi for Svc {
    #[retry(max_attempts = 3, backoff = none)]
    #[timeout("1s")]
    async fn fetch(&self, id: String) -> Result<String, E> {
        let n = self.counter.until(3)?;
        Ok(format!("{id}{n}"))
    }

    #[fallback(value = "cached".to_string())]
    async fn fetch_owned(self: Arc<Self>, id: String) -> Result<String, E> {
        self.counter.until(99).map(|n| format!("{id}{n}"))
    }
}

#[async_trait(?Send)]
trait LocalApi {
    async fn local(&self, id: u32) -> Result<u32, E>;
}

#[async_trait(?Send)]
impl LocalApi for Svc {
    #[retry(max_attempts = 2, backoff = none)]
    async fn local(&self, id: u32) -> Result<u32, E> {
        Ok(id + self.counter.until(2)?)
    }
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    assert_eq!(Svc::default().by_ref(10).await, Ok(13));

    let mut svc = Svc::default();
    assert_eq!(
        svc.by_mut(5).await,
        Ok(10),
        "`&mut self` is reused by each attempt"
    );
    let mut svc = Svc::default();
    assert_eq!(svc.by_mut_plain(5), Ok(10));

    assert_eq!(Arc::new(Svc::default()).by_arc(10).await, Ok(12));
    assert_eq!(Svc::default().by_typed_ref(), Ok(2));
    assert_eq!(
        Svc::default().with_backup("k".into()),
        Ok("k after Again(1)".to_string())
    );
    assert!(Svc::new(&Counter::default()).is_ok());

    let counter = Counter::default();
    assert_eq!(Token(1).consume(&counter), Ok(3));
    let counter = Counter::default();
    assert_eq!(
        Token(1).consume_mut(&counter).await,
        Ok(2),
        "each attempt starts from a copy"
    );
    let counter = Counter::default();
    assert_eq!(Box::new(Token(1)).boxed(&counter).await, Ok(3));
    assert_eq!(Token(1).with_fallback(false).await, Ok(Token(1)));
    assert_eq!(Token(1).with_fallback(true).await, Ok(Token(101)));
    assert_eq!(Token(7).timed().await, Ok(Token(7)));

    assert_eq!(Svc::default().get(10).await, Ok(13));
    assert_eq!(Svc::default().get_blocking(10), Ok(12));
    // `provided` retries 4 times around `get_blocking`, which itself retries 3 times.
    assert_eq!(Svc::default().provided(10).await, Ok(12));
    assert_eq!(
        BoxedApi::fetch(&Svc::default(), "id".into()).await,
        Ok("id3".to_string())
    );
    assert_eq!(
        Arc::new(Svc::default()).fetch_owned("id".into()).await,
        Ok("cached".to_string())
    );
    assert_eq!(Svc::default().local(1).await, Ok(3));
}
