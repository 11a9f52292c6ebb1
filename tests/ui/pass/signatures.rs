//! Signatures the attributes must keep as declared: generics and `where` clauses,
//! `impl Trait`, lifetimes, argument patterns, `_` and `mut` arguments, visibilities,
//! other attributes, `return` and `?`, `Result` aliases, plain and `unsafe` functions.
#![deny(warnings)]

use std::fmt::{Debug, Display};
use std::sync::atomic::{AtomicU32, Ordering};

use resilience_runtime::{fallback, retry, timeout};

#[derive(Debug, PartialEq)]
enum E {
    Again(u32),
    Parse,
    Rejected,
}

impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E::Rejected
    }
}

impl From<std::num::ParseIntError> for E {
    fn from(_: std::num::ParseIntError) -> Self {
        E::Parse
    }
}

fn until(counter: &AtomicU32, n: u32) -> Result<u32, E> {
    let got = counter.fetch_add(1, Ordering::SeqCst) + 1;
    if got < n { Err(E::Again(got)) } else { Ok(got) }
}

#[retry(max_attempts = 2, backoff = none)]
async fn generic<T, U: Display + ?Sized>(value: T, tail: &U, c: &AtomicU32) -> Result<String, E>
where
    T: Clone + Debug + Send,
{
    until(c, 2)?;
    Ok(format!("{value:?}{tail}"))
}

#[retry(max_attempts = 2, backoff = none)]
fn const_generic<const N: usize>(bytes: [u8; N], c: &AtomicU32) -> Result<usize, E> {
    until(c, 2)?;
    Ok(bytes.len() * N)
}

#[retry(max_attempts = 2, backoff = none)]
async fn impl_trait(
    label: impl AsRef<str> + Clone,
    make: &impl Fn() -> u32,
    c: &AtomicU32,
) -> Result<String, E> {
    until(c, 2)?;
    Ok(format!("{}{}", label.as_ref(), make()))
}

#[retry(max_attempts = 2, backoff = none)]
fn returns_impl_trait(c: &AtomicU32) -> Result<impl Display, E> {
    until(c, 2)
}

#[retry(max_attempts = 2, backoff = none)]
#[timeout("1s")]
async fn elided(text: &str) -> Result<&str, E> {
    Ok(text.trim())
}

#[retry(max_attempts = 2, backoff = none)]
async fn named<'a, 'b: 'a>(text: &'a str, _other: &'b str, c: &AtomicU32) -> Result<&'a str, E> {
    until(c, 2)?;
    Ok(text.trim())
}

#[retry(max_attempts = 2, backoff = none)]
fn patterns(
    (a, b): (u32, u32),
    [first, ..]: [u8; 3],
    Wrapper(inner): Wrapper,
    _: u64,
    mut acc: Vec<u32>,
    c: &AtomicU32,
) -> Result<u32, E> {
    acc.push(a + b + u32::from(first) + inner);
    until(c, 2)?;
    Ok(acc.iter().sum())
}

#[derive(Clone)]
struct Wrapper(u32);

async fn patterns_backup(pair: (u32, u32), mut acc: Vec<u32>, err: E) -> Result<u32, E> {
    acc.push(pair.0 * pair.1);
    assert_eq!(err, E::Again(2));
    Ok(acc.iter().sum())
}

#[fallback(patterns_backup)]
async fn patterns_fallback((a, b): (u32, u32), mut acc: Vec<u32>) -> Result<u32, E> {
    acc.push(a + b);
    Err(E::Again(acc.len() as u32))
}

mod visibility {
    use resilience_runtime::retry;

    #[retry(max_attempts = 2, backoff = none)]
    pub(crate) fn crate_visible(x: u32) -> Result<u32, super::E> {
        Ok(x)
    }

    #[retry(max_attempts = 2, backoff = none)]
    pub(super) async fn super_visible(x: u32) -> Result<u32, super::E> {
        Ok(x)
    }

    pub mod inner {
        #[resilience_runtime::retry(max_attempts = 2, backoff = none)]
        pub(in crate::visibility) fn path_visible(x: u32) -> Result<u32, crate::E> {
            Ok(x)
        }

        pub fn call() -> u32 {
            path_visible(3).unwrap()
        }
    }
}

/// Doc comments and other attributes are kept.
#[must_use = "the result says whether it worked"]
#[inline]
#[allow(clippy::needless_pass_by_value)]
#[cfg_attr(any(), deprecated)]
#[retry(max_attempts = 2, backoff = none)]
fn attributes_kept(x: String) -> Result<usize, E> {
    Ok(x.len())
}

#[retry(max_attempts = 3, backoff = none)]
fn early_return(input: &str, c: &AtomicU32) -> Result<u32, E> {
    let n = until(c, 3)?;
    if input.is_empty() {
        return Ok(0);
    }
    let parsed: u32 = input.parse()?;
    Ok(parsed + n)
}

#[retry(max_attempts = 3, backoff = none)]
async fn early_return_async(input: &str, c: &AtomicU32) -> Result<u32, E> {
    let n = until(c, 3)?;
    if input.is_empty() {
        return Ok(0);
    }
    let parsed: u32 = input.parse()?;
    Ok(parsed + n)
}

#[retry(max_attempts = 3, backoff = none)]
fn io_alias(c: &AtomicU32) -> std::io::Result<u32> {
    until(c, 3).map_err(|e| std::io::Error::other(format!("{e:?}")))
}

#[retry(max_attempts = 3, backoff = none)]
async fn anyhow_alias(c: &AtomicU32) -> anyhow::Result<u32> {
    let n = until(c, 3).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(n)
}

type MyResult<T> = Result<T, E>;

#[retry(max_attempts = 3, backoff = none)]
fn local_alias(c: &AtomicU32) -> MyResult<u32> {
    until(c, 2)
}

#[fallback(default)]
fn bare_alias() -> MyResult<u32> {
    Err(E::Parse)
}

#[retry(max_attempts = 2, backoff = none)]
unsafe fn unsafe_fn(ptr: *const u32) -> Result<u32, E> {
    // SAFETY: the caller passes a valid pointer.
    Ok(unsafe { *ptr })
}

#[retry(max_attempts = 2, backoff = none)]
fn no_arguments() -> Result<(), E> {
    Ok(())
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let c = || AtomicU32::new(0);
    assert_eq!(generic(vec![1], "x", &c()).await, Ok("[1]x".to_string()));
    assert_eq!(const_generic([1, 2], &c()), Ok(4));
    assert_eq!(impl_trait("a", &|| 7, &c()).await, Ok("a7".to_string()));
    assert_eq!(
        returns_impl_trait(&c()).map(|d| d.to_string()),
        Ok("2".to_string())
    );
    assert_eq!(elided(" t ").await, Ok("t"));
    assert_eq!(named(" t ", "o", &c()).await, Ok("t"));
    assert_eq!(
        patterns((1, 2), [3, 0, 0], Wrapper(4), 0, vec![100], &c()),
        Ok(110)
    );
    assert_eq!(patterns_fallback((2, 3), vec![10]).await, Ok(16));
    assert_eq!(visibility::crate_visible(1), Ok(1));
    assert_eq!(visibility::super_visible(2).await, Ok(2));
    assert_eq!(visibility::inner::call(), 3);
    assert_eq!(attributes_kept("abc".into()), Ok(3));
    assert_eq!(early_return("", &c()), Ok(0));
    assert_eq!(
        early_return("x", &c()),
        Err(E::Parse),
        "`?` ends the attempt with its error"
    );
    assert_eq!(early_return("4", &c()), Ok(7));
    assert_eq!(early_return_async("", &c()).await, Ok(0));
    assert_eq!(early_return_async("4", &c()).await, Ok(7));
    assert_eq!(io_alias(&c()).unwrap(), 3);
    assert_eq!(anyhow_alias(&c()).await.unwrap(), 3);
    assert_eq!(local_alias(&c()), Ok(2));
    assert_eq!(bare_alias(), Ok(0));
    let value = 5;
    // SAFETY: `value` outlives the call.
    assert_eq!(unsafe { unsafe_fn(&value) }, Ok(5));
    assert_eq!(no_arguments(), Ok(()));
}
