//! Attributes stacked in several orders (the first written is the outermost), plain
//! and async, full paths, under `#![deny(warnings)]`.
#![deny(warnings)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience_runtime::{Rejection, fallback, retry, timeout};

#[derive(Debug, PartialEq)]
enum E {
    Again(u32),
    TimedOut,
}

impl From<Rejection> for E {
    fn from(r: Rejection) -> Self {
        assert!(matches!(r, Rejection::Timeout { .. }));
        E::TimedOut
    }
}

fn until(counter: &AtomicU32, n: u32) -> Result<u32, E> {
    let got = counter.fetch_add(1, Ordering::SeqCst) + 1;
    if got < n { Err(E::Again(got)) } else { Ok(got) }
}

fn is_timeout(e: &E) -> bool {
    *e == E::TimedOut
}

async fn backup(c: &AtomicU32, slow: u64, err: E) -> Result<u32, E> {
    let _ = (c, slow);
    match err {
        E::TimedOut => Ok(1000),
        E::Again(n) => Ok(2000 + n),
    }
}

/// The recommended order: fallback outermost, a timeout per attempt.
#[fallback(backup)]
#[retry(max_attempts = 3, backoff = fixed("10ms"), jitter = none)]
#[timeout("50ms")]
async fn recommended(c: &AtomicU32, slow: u64) -> Result<u32, E> {
    let n = c.fetch_add(1, Ordering::SeqCst) + 1;
    tokio::time::sleep(Duration::from_millis(slow)).await;
    Ok(n)
}

/// One time limit around every attempt.
#[timeout("100ms")]
#[retry(max_attempts = 10, backoff = fixed("40ms"), jitter = none)]
async fn overall_limit(c: &AtomicU32) -> Result<u32, E> {
    until(c, 99)
}

/// A timeout inside a fallback that only catches timeouts.
#[fallback(value = 7, fallback_if = is_timeout)]
#[timeout("10ms")]
async fn only_timeouts(slow: u64, fail: bool) -> Result<u32, E> {
    tokio::time::sleep(Duration::from_millis(slow)).await;
    if fail { Err(E::Again(0)) } else { Ok(1) }
}

/// Plain functions stack too.
#[fallback(default)]
#[retry(max_attempts = 2, backoff = none)]
fn plain_stack(c: &AtomicU32, owned: String) -> Result<usize, E> {
    until(c, 99).map(|_| owned.len())
}

/// Two retries nest: 2 x 3 attempts.
#[retry(max_attempts = 2, backoff = none)]
#[retry(max_attempts = 3, backoff = none)]
async fn nested_retries(c: &AtomicU32, owned: Vec<u8>) -> Result<usize, E> {
    until(c, 99).map(|_| owned.len())
}

/// Full paths to the attributes, stacked.
#[resilience_runtime::fallback(value = 0)]
#[resilience_runtime::retry(max_attempts = 2, backoff = none)]
#[resilience_runtime::timeout(after = "1s", name = "full_paths")]
async fn full_paths(c: &AtomicU32) -> Result<u32, E> {
    until(c, 2)
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let c = AtomicU32::new(0);
    assert_eq!(recommended(&c, 0).await, Ok(1));
    let c = AtomicU32::new(0);
    let start = tokio::time::Instant::now();
    assert_eq!(
        recommended(&c, 60).await,
        Ok(1000),
        "three timeouts, then the fallback"
    );
    assert_eq!(c.load(Ordering::SeqCst), 3);
    assert_eq!(start.elapsed(), Duration::from_millis(3 * 50 + 2 * 10));

    let c = AtomicU32::new(0);
    let start = tokio::time::Instant::now();
    assert_eq!(overall_limit(&c).await, Err(E::TimedOut));
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    assert_eq!(c.load(Ordering::SeqCst), 3, "attempts at 0, 40 and 80ms");

    assert_eq!(only_timeouts(0, false).await, Ok(1));
    assert_eq!(only_timeouts(20, false).await, Ok(7));
    assert_eq!(only_timeouts(0, true).await, Err(E::Again(0)));

    let c = AtomicU32::new(0);
    assert_eq!(plain_stack(&c, "abc".into()), Ok(0));
    assert_eq!(c.load(Ordering::SeqCst), 2);

    let c = AtomicU32::new(0);
    assert_eq!(nested_retries(&c, vec![1]).await, Err(E::Again(6)));

    let c = AtomicU32::new(0);
    assert_eq!(full_paths(&c).await, Ok(2));
}
