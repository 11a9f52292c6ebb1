//! `#[retry]` end to end, under paused tokio time: every argument, async and plain.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience_runtime::retry;
use tokio::time::Instant;

const MS: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, PartialEq)]
enum Error {
    Transient(u32),
    Fatal(u32),
}

/// Fails with `Transient(n)` on calls `1..=fail_until - 1`, then succeeds.
fn outcome(counter: &AtomicU32, succeed_at: u32) -> Result<u32, Error> {
    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
    if n < succeed_at {
        Err(Error::Transient(n))
    } else {
        Ok(n)
    }
}

static DELAYS: Mutex<Vec<(u32, Duration)>> = Mutex::new(Vec::new());

fn record(_: &Error, attempt: u32, delay: Duration) {
    DELAYS.lock().unwrap().push((attempt, delay));
}

/// Serialises the tests that read `DELAYS`.
static DELAYS_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn delays_of<F: std::future::Future>(f: F) -> (F::Output, Vec<(u32, Duration)>) {
    DELAYS.lock().unwrap().clear();
    let out = f.await;
    (out, std::mem::take(&mut *DELAYS.lock().unwrap()))
}

#[retry(max_attempts = 4, backoff = fixed("100ms"), jitter = none)]
async fn fixed(counter: &AtomicU32, succeed_at: u32) -> Result<u32, Error> {
    outcome(counter, succeed_at)
}

#[tokio::test(start_paused = true)]
async fn fixed_backoff_waits_exactly_between_attempts() {
    let counter = AtomicU32::new(0);
    let start = Instant::now();
    assert_eq!(fixed(&counter, 3).await, Ok(3));
    assert_eq!(start.elapsed(), MS * 200);
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_attempts_with_the_last_error() {
    let counter = AtomicU32::new(0);
    let start = Instant::now();
    assert_eq!(fixed(&counter, 100).await, Err(Error::Transient(4)));
    assert_eq!(counter.load(Ordering::SeqCst), 4);
    assert_eq!(start.elapsed(), MS * 300, "no sleep after the last attempt");
}

#[retry]
async fn defaults(counter: &AtomicU32) -> Result<u32, Error> {
    outcome(counter, 100)
}

#[tokio::test(start_paused = true)]
async fn defaults_are_three_attempts_with_jittered_exponential_backoff() {
    let counter = AtomicU32::new(0);
    let start = Instant::now();
    assert_eq!(defaults(&counter).await, Err(Error::Transient(3)));
    assert_eq!(counter.load(Ordering::SeqCst), 3);
    // Full jitter on 100ms then 200ms: at most 300ms in all.
    assert!(start.elapsed() <= MS * 300, "{:?}", start.elapsed());
}

#[retry(max_attempts = 5, backoff = exponential(initial = "100ms", factor = 3.0, max = "1s"), jitter = none, on_retry = record)]
async fn exponential(counter: &AtomicU32) -> Result<u32, Error> {
    outcome(counter, 100)
}

#[retry(max_attempts = 5, backoff = linear(initial = "100ms", step = "50ms", max = "180ms"), jitter = none, on_retry = record)]
async fn linear(counter: &AtomicU32) -> Result<u32, Error> {
    outcome(counter, 100)
}

#[retry(max_attempts = 3, backoff = none, on_retry = record)]
async fn no_backoff(counter: &AtomicU32) -> Result<u32, Error> {
    outcome(counter, 100)
}

struct Squares;
impl resilience_runtime::Backoff for Squares {
    fn delay(&self, attempt: u32) -> Duration {
        MS * attempt * attempt
    }
}

#[retry(max_attempts = 4, backoff = Squares, jitter = none, on_retry = record)]
async fn custom(counter: &AtomicU32) -> Result<u32, Error> {
    outcome(counter, 100)
}

#[retry(max_attempts = 3, backoff = fixed((Duration::from_millis(40))), jitter = none, on_retry = record)]
async fn expression_duration(counter: &AtomicU32) -> Result<u32, Error> {
    outcome(counter, 100)
}

#[tokio::test(start_paused = true)]
async fn every_schedule_gives_its_exact_delays() {
    let _serial = DELAYS_LOCK.lock().await;
    let (_, d) = delays_of(exponential(&AtomicU32::new(0))).await;
    assert_eq!(
        d,
        [(1, MS * 100), (2, MS * 300), (3, MS * 900), (4, MS * 1000)]
    );
    let (_, d) = delays_of(linear(&AtomicU32::new(0))).await;
    assert_eq!(
        d,
        [(1, MS * 100), (2, MS * 150), (3, MS * 180), (4, MS * 180)]
    );
    let (_, d) = delays_of(no_backoff(&AtomicU32::new(0))).await;
    assert_eq!(d, [(1, Duration::ZERO), (2, Duration::ZERO)]);
    let (_, d) = delays_of(custom(&AtomicU32::new(0))).await;
    assert_eq!(d, [(1, MS), (2, MS * 4), (3, MS * 9)]);
    let (_, d) = delays_of(expression_duration(&AtomicU32::new(0))).await;
    assert_eq!(d, [(1, MS * 40), (2, MS * 40)]);
}

#[tokio::test(start_paused = true)]
async fn the_clock_advances_by_the_reported_delays() {
    let _serial = DELAYS_LOCK.lock().await;
    let start = Instant::now();
    let (_, d) = delays_of(exponential(&AtomicU32::new(0))).await;
    assert_eq!(start.elapsed(), d.iter().map(|(_, d)| *d).sum::<Duration>());
}

#[retry(max_attempts = 6, backoff = fixed("100ms"), jitter = full, on_retry = record)]
async fn full_jitter(counter: &AtomicU32) -> Result<u32, Error> {
    outcome(counter, 100)
}

#[retry(max_attempts = 6, backoff = fixed("100ms"), jitter = equal, on_retry = record)]
async fn equal_jitter(counter: &AtomicU32) -> Result<u32, Error> {
    outcome(counter, 100)
}

#[retry(max_attempts = 6, backoff = exponential(initial = "10ms", factor = 2.0, max = "1s"), jitter = decorrelated, on_retry = record)]
async fn decorrelated_jitter(counter: &AtomicU32) -> Result<u32, Error> {
    outcome(counter, 100)
}

#[tokio::test(start_paused = true)]
async fn jitter_stays_in_bounds_and_varies() {
    let _serial = DELAYS_LOCK.lock().await;
    let mut all = Vec::new();
    for _ in 0..20 {
        let (_, d) = delays_of(full_jitter(&AtomicU32::new(0))).await;
        assert_eq!(d.len(), 5);
        assert!(d.iter().all(|(_, d)| *d <= MS * 100), "{d:?}");
        all.extend(d.into_iter().map(|(_, d)| d));
    }
    all.sort();
    all.dedup();
    assert!(
        all.len() > 50,
        "full jitter varies: {} distinct delays of 100",
        all.len()
    );

    for _ in 0..20 {
        let (_, d) = delays_of(equal_jitter(&AtomicU32::new(0))).await;
        assert!(
            d.iter().all(|(_, d)| *d >= MS * 50 && *d <= MS * 100),
            "{d:?}"
        );
    }

    let mut previous_seen = Vec::new();
    for _ in 0..20 {
        let (_, d) = delays_of(decorrelated_jitter(&AtomicU32::new(0))).await;
        let mut previous = MS * 10;
        for (_, delay) in &d {
            assert!(
                *delay >= MS * 10 && *delay <= (previous * 3).min(MS * 1000),
                "{d:?}"
            );
            previous = *delay;
        }
        previous_seen.push(d);
    }
    previous_seen.dedup();
    assert!(previous_seen.len() > 10, "decorrelated jitter varies");
}

fn only_transient(e: &Error) -> bool {
    matches!(e, Error::Transient(_))
}

#[retry(max_attempts = 5, backoff = none, retry_if = only_transient)]
async fn selective(counter: &AtomicU32, fatal_at: u32) -> Result<u32, Error> {
    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
    if n == fatal_at {
        return Err(Error::Fatal(n));
    }
    Err(Error::Transient(n))
}

#[tokio::test(start_paused = true)]
async fn retry_if_stops_at_an_error_it_rejects() {
    let counter = AtomicU32::new(0);
    assert_eq!(selective(&counter, 2).await, Err(Error::Fatal(2)));
    assert_eq!(counter.load(Ordering::SeqCst), 2);
    let counter = AtomicU32::new(0);
    assert_eq!(selective(&counter, 99).await, Err(Error::Transient(5)));
}

#[tokio::test(start_paused = true)]
async fn on_retry_sees_each_failed_attempt_before_its_sleep() {
    let _serial = DELAYS_LOCK.lock().await;
    let counter = AtomicU32::new(0);
    let (result, d) = delays_of(exponential(&counter)).await;
    assert_eq!(result, Err(Error::Transient(5)));
    let attempts: Vec<u32> = d.iter().map(|(a, _)| *a).collect();
    assert_eq!(
        attempts,
        [1, 2, 3, 4],
        "called for each failure but the last"
    );
}

#[retry(max_attempts = 10, backoff = fixed("100ms"), jitter = none, max_elapsed = "250ms")]
async fn bounded(counter: &AtomicU32) -> Result<u32, Error> {
    outcome(counter, 100)
}

#[retry(max_attempts = 10, backoff = fixed("100ms"), jitter = none, max_elapsed = "450ms")]
async fn bounded_slow_body(counter: &AtomicU32) -> Result<u32, Error> {
    tokio::time::sleep(MS * 50).await;
    outcome(counter, 100)
}

#[tokio::test(start_paused = true)]
async fn max_elapsed_never_starts_an_attempt_past_the_budget() {
    // Attempts start at 0, 100 and 200ms; one at 300ms would be past 250ms.
    let counter = AtomicU32::new(0);
    let start = Instant::now();
    assert_eq!(bounded(&counter).await, Err(Error::Transient(3)));
    assert_eq!(
        start.elapsed(),
        MS * 200,
        "no sleep that would end past the budget"
    );

    // Attempt time counts: attempts start at 0, 150, 300; the next would start at 450
    // (allowed: not later than the budget), the one after at 600.
    let counter = AtomicU32::new(0);
    let start = Instant::now();
    assert_eq!(bounded_slow_body(&counter).await, Err(Error::Transient(4)));
    assert_eq!(start.elapsed(), MS * 500);
}

#[retry(max_attempts = 3, backoff = fixed("2ms"), jitter = none)]
fn blocking(counter: &AtomicU32, succeed_at: u32) -> Result<u32, Error> {
    outcome(counter, succeed_at)
}

#[retry(max_attempts = 2, backoff = none)]
fn blocking_owned(mut words: Vec<String>, counter: &AtomicU32) -> Result<usize, Error> {
    words.push("again".into());
    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
    if n < 2 {
        Err(Error::Transient(n))
    } else {
        Ok(words.len())
    }
}

#[test]
fn plain_functions_sleep_with_the_thread() {
    let counter = AtomicU32::new(0);
    let start = std::time::Instant::now();
    assert_eq!(blocking(&counter, 3), Ok(3));
    assert!(
        start.elapsed() >= MS * 4,
        "slept twice 2ms: {:?}",
        start.elapsed()
    );
    let counter = AtomicU32::new(0);
    assert_eq!(blocking(&counter, 9), Err(Error::Transient(3)));
    let counter = AtomicU32::new(0);
    assert_eq!(blocking_owned(vec!["a".into()], &counter), Ok(2));
}

/// By hand, without the macro.
#[tokio::test(start_paused = true)]
async fn the_policy_works_by_hand() {
    use resilience_runtime::{Jitter, Retry, backoff::Fixed};
    let policy = Retry::builder()
        .max_attempts(3)
        .backoff(Fixed::new(MS * 10))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let counter = AtomicU32::new(0);
    let start = Instant::now();
    let result = policy.call(|| async { outcome(&counter, 3) }).await;
    assert_eq!(result, Ok(3));
    assert_eq!(start.elapsed(), MS * 20);
    let counter = AtomicU32::new(0);
    assert_eq!(policy.call_blocking(|| outcome(&counter, 2)), Ok(2));
    assert!(Retry::builder().max_attempts(0).build().is_err());
    let err = Retry::builder().max_attempts(0).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid retry configuration: `max_attempts` must be at least 1 (it counts the first attempt)"
    );
}
