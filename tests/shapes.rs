//! Every function shape the attributes support, async and plain, with retry (which
//! copies owned arguments per attempt) and fallback (which hands them to a second
//! function).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use resilience_runtime::{fallback, retry, timeout};

#[derive(Debug, Clone, PartialEq)]
enum E {
    Again(u32),
    Rejected(String),
}

impl From<resilience_runtime::Rejection> for E {
    fn from(r: resilience_runtime::Rejection) -> Self {
        E::Rejected(r.to_string())
    }
}

#[derive(Default)]
struct Svc {
    calls: AtomicU32,
    log: std::sync::Mutex<Vec<String>>,
}

impl Svc {
    fn attempt(&self) -> u32 {
        self.calls.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Doc comments are kept.
    #[retry(max_attempts = 3, backoff = none)]
    #[timeout("1s")]
    pub async fn by_ref(&self, name: String, suffix: &str) -> Result<String, E> {
        let n = self.attempt();
        if n < 3 {
            return Err(E::Again(n));
        }
        Ok(format!("{name}{suffix}{n}"))
    }

    #[retry(max_attempts = 2, backoff = none)]
    async fn by_mut(&mut self, mut items: Vec<u32>, out: &mut Vec<u32>) -> Result<usize, E> {
        items.push(7);
        out.push(items.len() as u32);
        let n = self.calls.get_mut();
        *n += 1;
        if *n < 2 {
            Err(E::Again(*n))
        } else {
            Ok(items.len())
        }
    }

    #[retry(max_attempts = 3, backoff = none)]
    fn plain_by_ref(&self, (a, b): (u32, u32)) -> Result<u32, E> {
        let n = self.attempt();
        self.log.lock().unwrap().push(format!("{a}+{b}"));
        if n < 2 { Err(E::Again(n)) } else { Ok(a + b) }
    }

    #[retry(max_attempts = 3, backoff = none)]
    async fn by_arc(self: Arc<Self>, x: u32) -> Result<u32, E> {
        let n = self.attempt();
        if n < 2 {
            Err(E::Again(n))
        } else {
            Ok(x * 10 + n)
        }
    }

    #[fallback(Self::backup)]
    async fn with_backup(&self, key: String, limit: &u32) -> Result<String, E> {
        let _ = (&key, limit);
        Err(E::Again(0))
    }

    async fn backup(&self, key: String, limit: &u32, err: E) -> Result<String, E> {
        Ok(format!("backup {key} {limit} after {err:?}"))
    }
}

#[derive(Clone)]
struct Owned(u32);

impl Owned {
    #[retry(max_attempts = 2, backoff = none)]
    fn consume(self, count: &AtomicU32) -> Result<u32, E> {
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        if n < 2 {
            Err(E::Again(n))
        } else {
            Ok(self.0 + n)
        }
    }

    #[retry(max_attempts = 2, backoff = none)]
    async fn consume_async(mut self, count: &AtomicU32) -> Result<u32, E> {
        self.0 += 1;
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        if n < 2 { Err(E::Again(n)) } else { Ok(self.0) }
    }
}

#[retry(max_attempts = 2, backoff = none)]
async fn generic<T, U: std::fmt::Display>(
    value: T,
    label: impl AsRef<str> + Clone,
    tail: &U,
) -> Result<String, E>
where
    T: Clone + std::fmt::Debug,
{
    Ok(format!("{value:?} {} {tail}", label.as_ref()))
}

#[retry(max_attempts = 2, backoff = none)]
async fn lifetimes<'a>(text: &'a str, _: u8) -> Result<&'a str, E> {
    Ok(text.trim())
}

#[retry(max_attempts = 2, backoff = none)]
pub(crate) fn plain_question_mark(input: &str) -> Result<u32, std::num::ParseIntError> {
    let n: u32 = input.parse()?;
    Ok(n + 1)
}

#[retry(max_attempts = 3, backoff = none)]
fn io_alias(count: &AtomicU32) -> std::io::Result<u32> {
    let n = count.fetch_add(1, Ordering::SeqCst) + 1;
    if n < 3 {
        return Err(std::io::Error::other("again"));
    }
    Ok(n)
}

trait Api {
    async fn get(&self, id: u32) -> Result<u32, E>;
}

struct Impl(AtomicU32);

impl Api for Impl {
    #[retry(max_attempts = 3, backoff = none)]
    async fn get(&self, id: u32) -> Result<u32, E> {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        if n < 3 { Err(E::Again(n)) } else { Ok(id + n) }
    }
}

#[async_trait::async_trait]
trait BoxedApi {
    async fn get(&self, id: String) -> Result<String, E>;
}

#[async_trait::async_trait]
impl BoxedApi for Impl {
    #[retry(max_attempts = 3, backoff = none)]
    async fn get(&self, id: String) -> Result<String, E> {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        if n < 3 {
            Err(E::Again(n))
        } else {
            Ok(format!("{id}{n}"))
        }
    }
}

#[tokio::test(start_paused = true)]
async fn methods_with_every_receiver() {
    let svc = Svc::default();
    assert_eq!(svc.by_ref("a".into(), "-").await, Ok("a-3".to_string()));

    let mut svc = Svc::default();
    let mut out = Vec::new();
    assert_eq!(svc.by_mut(vec![1], &mut out).await, Ok(2));
    assert_eq!(
        out,
        [2, 2],
        "each attempt starts from its own copy of `items`"
    );

    let svc = Svc::default();
    assert_eq!(svc.plain_by_ref((2, 3)), Ok(5));
    assert_eq!(*svc.log.lock().unwrap(), ["2+3", "2+3"]);

    let svc = Arc::new(Svc::default());
    assert_eq!(svc.clone().by_arc(4).await, Ok(42));

    let count = AtomicU32::new(0);
    assert_eq!(Owned(5).consume(&count), Ok(7));
    let count = AtomicU32::new(0);
    assert_eq!(
        Owned(5).consume_async(&count).await,
        Ok(6),
        "mut self copied per attempt"
    );

    let svc = Svc::default();
    assert_eq!(
        svc.with_backup("k".into(), &9).await,
        Ok("backup k 9 after Again(0)".to_string())
    );
}

#[tokio::test(start_paused = true)]
async fn free_functions_generics_lifetimes_aliases() {
    assert_eq!(
        generic(vec![1], "l", &2.5).await,
        Ok("[1] l 2.5".to_string())
    );
    assert_eq!(lifetimes("  hi ", 0).await, Ok("hi"));
    assert_eq!(plain_question_mark("41"), Ok(42));
    assert!(plain_question_mark("x").is_err());
    let count = AtomicU32::new(0);
    assert_eq!(io_alias(&count).unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn trait_impls_native_and_async_trait() {
    let api = Impl(AtomicU32::new(0));
    assert_eq!(Api::get(&api, 10).await, Ok(13));
    let api = Impl(AtomicU32::new(0));
    assert_eq!(
        BoxedApi::get(&api, "id".into()).await,
        Ok("id3".to_string())
    );
}

/// A tuple struct, to destructure in an argument's pattern.
#[derive(Clone)]
struct Pair(u32, u32);

/// Signatures whose commas, arrows and colons are easy to misread: a bound with
/// `Fn(..) -> ..`, an `impl Fn` argument with a generic return, a map type with a comma
/// in `<..>`, a struct pattern, an argument attribute, a `where` clause, `pub(crate)`.
#[retry(max_attempts = 3, backoff = none)]
pub(crate) async fn tricky_signature<F, K>(
    pick: F,
    render: impl Fn(u32) -> Result<String, E> + Clone,
    map: std::collections::HashMap<K, u32>,
    Pair(a, b): Pair,
    #[allow(unused_mut)] mut count: u32,
    key: &K,
) -> Result<String, E>
where
    F: Fn(&std::collections::HashMap<K, u32>, &K) -> Option<u32> + Clone,
    K: std::hash::Hash + Eq + Clone,
{
    count += 1;
    let total = pick(&map, key).unwrap_or(0) + a + b + count;
    if total < 20 {
        return Err(E::Again(total));
    }
    render(total)
}

#[tokio::test(start_paused = true)]
async fn signatures_with_nested_commas_arrows_and_patterns() {
    let attempts = AtomicU32::new(0);
    let map = std::collections::HashMap::from([("k", 10)]);
    let pick = |m: &std::collections::HashMap<&str, u32>, k: &&str| {
        // Fails twice, then succeeds: each attempt gets fresh copies of the arguments.
        let n = attempts.fetch_add(1, Ordering::SeqCst);
        m.get(k).map(|v| v + 4 * n)
    };
    let result = tricky_signature(pick, |t| Ok(format!("t{t}")), map, Pair(1, 2), 0, &"k").await;
    // Attempts see 10+0, 10+4, 10+8 from the map, plus 1 + 2 + a `count` that starts
    // at 0 for every attempt (owned arguments are copied, not shared).
    assert_eq!(result, Ok("t22".to_string()));
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
}
