//! `#[retry(budget)]` and `#[retry(retry_after = path)]` end to end, under paused tokio
//! time: a budget caps retries to its ratio under a storm of failures, refills over
//! its window and is shared by name; a server's hint is waited, never early, together
//! with the backoff and `max_elapsed`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience_runtime::events::{self, EventKind};
use resilience_runtime::{Retry, backoff::NoBackoff, registry, retry, retry::Budget};
use tokio::time::{Instant, sleep};

const MS: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, PartialEq)]
enum Error {
    Down,
    /// The server asked for this wait.
    Busy(Duration),
}

static STORM_ATTEMPTS: AtomicU32 = AtomicU32::new(0);

#[retry(
    name = "budget-storm",
    max_attempts = 2,
    backoff = none,
    budget(ratio = 0.2, min_per_sec = 0, window = "10s")
)]
async fn storm() -> Result<(), Error> {
    STORM_ATTEMPTS.fetch_add(1, Ordering::SeqCst);
    Err(Error::Down)
}

fn retry_snapshot(name: &str) -> registry::PolicySnapshot {
    registry::snapshot()
        .into_iter()
        .find(|s| s.policy == events::PolicyKind::Retry && s.name == name)
        .unwrap()
}

/// Attempts made by `calls` calls of `storm`.
async fn storm_of(calls: u32) -> u32 {
    let before = STORM_ATTEMPTS.load(Ordering::SeqCst);
    for _ in 0..calls {
        assert_eq!(storm().await, Err(Error::Down));
    }
    STORM_ATTEMPTS.load(Ordering::SeqCst) - before
}

#[tokio::test(start_paused = true)]
async fn a_budget_caps_retries_to_its_ratio_and_refills_over_its_window() {
    let skipped = Arc::new(AtomicU32::new(0));
    let sink = skipped.clone();
    let _subscription = events::subscribe(move |event| {
        if event.name == "budget-storm" && matches!(event.kind, EventKind::RetryBudgetExhausted) {
            sink.fetch_add(1, Ordering::SeqCst);
        }
    });
    // 100 failing calls deposit 100: 20 retries (one per five calls), not 100.
    assert_eq!(storm_of(100).await, 100 + 20);
    assert_eq!(
        skipped.load(Ordering::SeqCst),
        80,
        "one event per skipped retry"
    );
    let s = retry_snapshot("budget-storm");
    assert_eq!(
        (
            s.retries,
            s.retry_budget_exhausted,
            s.retries_exhausted,
            s.failures
        ),
        (20, 80, 20, 100)
    );
    // Halfway through the window the budget is still spent.
    sleep(Duration::from_secs(5)).await;
    assert_eq!(
        storm_of(4).await,
        4,
        "104 calls allow 20.8 retries: none more"
    );
    // Once the window has passed, the deposits and withdrawals have expired: the
    // next calls start afresh (a retry for every fifth call).
    sleep(Duration::from_secs(10)).await;
    assert_eq!(storm_of(4).await, 4);
    assert_eq!(
        storm_of(1).await,
        2,
        "the fifth call of the new window retries"
    );
    assert_eq!(storm_of(10).await, 10 + 2);
}

#[tokio::test(start_paused = true)]
async fn min_per_sec_lets_a_little_traffic_retry() {
    #[retry(name = "budget-min", max_attempts = 2, backoff = none, budget(ratio = 0.0, min_per_sec = 1, window = "3s"))]
    async fn rare(attempts: &AtomicU32) -> Result<(), Error> {
        attempts.fetch_add(1, Ordering::SeqCst);
        Err(Error::Down)
    }
    let attempts = AtomicU32::new(0);
    for _ in 0..10 {
        let _ = rare(&attempts).await;
    }
    // No ratio, but 1 per second over a window of 3s: 3 retries.
    assert_eq!(attempts.load(Ordering::SeqCst), 10 + 3);
}

#[retry(name = "budget-shared", max_attempts = 2, backoff = none, budget)]
async fn shared_ok() -> Result<(), Error> {
    Ok(())
}

static SHARED_FAIL_ATTEMPTS: AtomicU32 = AtomicU32::new(0);

#[retry(name = "budget-shared", max_attempts = 2, backoff = none, budget)]
async fn shared_fail() -> Result<(), Error> {
    SHARED_FAIL_ATTEMPTS.fetch_add(1, Ordering::SeqCst);
    Err(Error::Down)
}

#[tokio::test(start_paused = true)]
async fn a_budget_is_shared_by_every_retry_of_its_name() {
    // `budget` alone: ratio 0.2, min_per_sec 10, window 10s, i.e. 100 retries in
    // reserve. 1000 calls of one function fill it by 200 more.
    for _ in 0..1000 {
        shared_ok().await.unwrap();
    }
    for _ in 0..300 {
        assert_eq!(shared_fail().await, Err(Error::Down));
    }
    // The other function's 1300 calls (its own deposits included) allow
    // 0.2 × 1300 + 100 = 360 retries, more than the 300 it makes. On its own (300
    // calls) it would have 160.
    assert_eq!(SHARED_FAIL_ATTEMPTS.load(Ordering::SeqCst), 600);
    for _ in 0..100 {
        let _ = shared_fail().await;
    }
    // 1400 calls: 380 retries in all; 80 of these 100 calls got one.
    assert_eq!(SHARED_FAIL_ATTEMPTS.load(Ordering::SeqCst), 600 + 100 + 80);
    assert_eq!(retry_snapshot("budget-shared").retry_budget_exhausted, 20);
}

#[tokio::test(start_paused = true)]
async fn by_hand_retries_share_the_budget_of_their_name() {
    let hand = Retry::builder()
        .name("budget-storm-by-hand")
        .max_attempts(2)
        .backoff(NoBackoff)
        .budget(Budget::new(0.2, 0, Duration::from_secs(10)))
        .build()
        .unwrap();
    let attempts = AtomicU32::new(0);
    for _ in 0..50 {
        let r: Result<(), Error> = hand
            .call(|| {
                attempts.fetch_add(1, Ordering::SeqCst);
                async { Err(Error::Down) }
            })
            .await;
        assert_eq!(r, Err(Error::Down));
    }
    assert_eq!(attempts.load(Ordering::SeqCst), 50 + 10);
    let bad = Retry::builder()
        .budget(Budget::new(11.0, 0, Duration::from_secs(1)))
        .build()
        .unwrap_err();
    assert!(bad.to_string().contains("from 0 to 10"), "{bad}");
}

// -------------------------------------------------------------------------------
// Retry-After
// -------------------------------------------------------------------------------

fn hint(error: &Error) -> Option<Duration> {
    match error {
        Error::Busy(d) => Some(*d),
        Error::Down => None,
    }
}

static STARTS: Mutex<Vec<Instant>> = Mutex::new(Vec::new());
static HINTS: Mutex<Vec<Error>> = Mutex::new(Vec::new());
/// Serialises the tests that read `STARTS` and `HINTS`.
static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Records when each attempt starts and fails with the next scripted error.
fn scripted() -> Result<u32, Error> {
    STARTS.lock().unwrap().push(Instant::now());
    match HINTS.lock().unwrap().pop() {
        Some(e) => Err(e),
        None => Ok(STARTS.lock().unwrap().len() as u32),
    }
}

/// Runs `f` with these errors (in order), returning its result and the gaps between
/// its attempts' starts.
async fn gaps<F: std::future::Future<Output = Result<u32, Error>>>(
    errors: &[Error],
    f: impl FnOnce() -> F,
) -> (Result<u32, Error>, Vec<Duration>) {
    STARTS.lock().unwrap().clear();
    *HINTS.lock().unwrap() = errors.iter().rev().cloned().collect();
    let result = f().await;
    let starts = std::mem::take(&mut *STARTS.lock().unwrap());
    (result, starts.windows(2).map(|w| w[1] - w[0]).collect())
}

#[retry(max_attempts = 5, backoff = fixed("100ms"), jitter = none, retry_after = hint)]
async fn hinted() -> Result<u32, Error> {
    scripted()
}

#[tokio::test(start_paused = true)]
async fn a_hint_is_waited_never_early_and_never_below_the_backoff() {
    let _lock = LOCK.lock().await;
    let (result, gaps) = gaps(
        &[
            Error::Busy(Duration::from_secs(2)),
            Error::Busy(MS * 30), // shorter than the backoff: the backoff's 100ms
            Error::Down,          // no hint: the backoff
            Error::Busy(Duration::from_millis(1500) + Duration::from_nanos(1)),
        ],
        hinted,
    )
    .await;
    assert_eq!(result, Ok(5));
    // Each attempt starts at or after the hinted instant, and at the backoff's delay
    // at the least: exactly then, under paused time (a hint between two of tokio's
    // millisecond ticks is waited to the next tick, never to the one before).
    assert_eq!(
        gaps,
        [Duration::from_secs(2), MS * 100, MS * 100, MS * 1501]
    );
    let hinted = [
        Duration::from_secs(2),
        MS * 100,
        MS * 100,
        MS * 1500 + Duration::from_nanos(1),
    ];
    for (gap, min) in gaps.iter().zip(hinted) {
        assert!(*gap >= min, "an attempt started early: {gap:?} < {min:?}");
    }
}

#[retry(
    max_attempts = 5,
    backoff = exponential(initial = "1s", factor = 2.0, max = "10s"),
    jitter = none,
    max_elapsed = "5s",
    retry_after = hint
)]
async fn hinted_with_a_limit() -> Result<u32, Error> {
    scripted()
}

#[tokio::test(start_paused = true)]
async fn a_hint_past_max_elapsed_ends_the_retries() {
    let _lock = LOCK.lock().await;
    let start = Instant::now();
    // Backoff 1s, then a hint of 3s (above the backoff's 2s) ending at 4s: within
    // 5s. The third error's hint of 2s would end at 6s, past 5s: the retries end
    // there, with that error.
    let (result, gaps) = gaps(
        &[
            Error::Down,
            Error::Busy(Duration::from_secs(3)),
            Error::Busy(Duration::from_secs(2)),
        ],
        hinted_with_a_limit,
    )
    .await;
    assert_eq!(result, Err(Error::Busy(Duration::from_secs(2))));
    assert_eq!(gaps, [Duration::from_secs(1), Duration::from_secs(3)]);
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(4),
        "no sleep past max_elapsed was begun"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hint_by_hand() {
    let _lock = LOCK.lock().await;
    let retry = Retry::builder()
        .max_attempts(3)
        .backoff(NoBackoff)
        .build()
        .unwrap();
    let (result, gaps) = gaps(&[Error::Busy(MS * 700), Error::Down], || {
        retry.call_hinted(|_| true, hint, |_, _, _| {}, || async { scripted() })
    })
    .await;
    assert_eq!(result, Ok(3));
    assert_eq!(gaps, [MS * 700, Duration::ZERO]);
}
