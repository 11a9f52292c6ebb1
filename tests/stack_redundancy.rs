//! `#[cache]`, `#[coalesce]` and `#[hedge]` in stacks, under paused tokio time: each
//! order means what it says.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience_runtime::events::PolicyKind;
use resilience_runtime::{
    Rejection, cache, circuit_breaker, coalesce, fallback, hedge, registry, retry, timeout,
};
use tokio::time::{Instant, advance, sleep};

const MS: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum ApiError {
    #[error("backend failed")]
    Backend,
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

static ATTEMPTS: AtomicU32 = AtomicU32::new(0);
static DOWN: Mutex<bool> = Mutex::new(false);

#[cache(key = sku, stale_if_error = "10m")]
#[retry(max_attempts = 3, backoff = fixed("100ms"), jitter = none)]
async fn price(sku: u32) -> Result<u32, ApiError> {
    let attempt = ATTEMPTS.fetch_add(1, Ordering::SeqCst) + 1;
    if *DOWN.lock().unwrap() {
        return Err(ApiError::Backend);
    }
    Ok(sku * 100 + attempt)
}

#[tokio::test(start_paused = true)]
async fn cache_outside_retry_serves_stale_only_after_every_attempt_failed() {
    assert_eq!(price(1).await, Ok(101));
    *DOWN.lock().unwrap() = true;
    let start = Instant::now();
    assert_eq!(price(1).await, Ok(101), "the stale entry");
    assert_eq!(
        ATTEMPTS.load(Ordering::SeqCst),
        4,
        "all three attempts ran first"
    );
    assert_eq!(start.elapsed(), MS * 200, "after both backoff sleeps");
    // No entry for this key: the retry's last error.
    assert_eq!(price(2).await, Err(ApiError::Backend));
    *DOWN.lock().unwrap() = false;
}

static DROPPED: AtomicU32 = AtomicU32::new(0);
static STARTED: AtomicU32 = AtomicU32::new(0);

struct Guard;
impl Drop for Guard {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

#[timeout("100ms")]
#[hedge(delay = "30ms", max_hedges = 5)]
async fn hung() -> Result<(), ApiError> {
    STARTED.fetch_add(1, Ordering::SeqCst);
    let _guard = Guard;
    sleep(Duration::from_secs(3600)).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn timeout_outside_hedge_bounds_the_whole_race() {
    let start = Instant::now();
    let err = hung().await.unwrap_err();
    assert!(
        matches!(err, ApiError::Rejected(Rejection::Timeout { .. })),
        "{err:?}"
    );
    assert_eq!(
        start.elapsed(),
        MS * 100,
        "the limit is for the race, not each copy"
    );
    assert_eq!(
        STARTED.load(Ordering::SeqCst),
        4,
        "copies at 0, 30, 60 and 90ms"
    );
    assert_eq!(
        DROPPED.load(Ordering::SeqCst),
        4,
        "every copy dropped with the race"
    );
}

static BREAKER_CALLS: AtomicU32 = AtomicU32::new(0);

#[hedge(delay = "0s", max_hedges = 2)]
#[circuit_breaker(name = "stack-hedged-breaker", consecutive_failures = 100)]
async fn hedged_breaker() -> Result<u32, ApiError> {
    let n = BREAKER_CALLS.fetch_add(1, Ordering::SeqCst);
    sleep(MS * (10 + n)).await;
    if n == 0 {
        Ok(n)
    } else {
        Err(ApiError::Backend)
    }
}

#[tokio::test(start_paused = true)]
async fn a_breaker_inside_a_hedge_counts_each_copy() {
    assert_eq!(
        hedged_breaker().await,
        Ok(0),
        "copy 0 answers first, at 10ms"
    );
    let snapshot = |name: &str| {
        registry::snapshot()
            .into_iter()
            .find(|s| s.policy == PolicyKind::CircuitBreaker && s.name == name)
            .unwrap()
    };
    let s = snapshot("stack-hedged-breaker");
    assert_eq!(s.successes, 1);
    // The two losers were dropped before they finished: the breaker counts what
    // finished. Let the next call's copies all finish: copy 0 is slowest there.
    BREAKER_CALLS.store(1, Ordering::SeqCst);
    assert_eq!(hedged_breaker().await, Err(ApiError::Backend));
    let s = snapshot("stack-hedged-breaker");
    assert_eq!(
        s.failures, 3,
        "each of the three copies is one call of the breaker"
    );
    let hedge = registry::snapshot()
        .into_iter()
        .find(|s| s.policy == PolicyKind::Hedge && s.name.ends_with("hedged_breaker"))
        .unwrap();
    assert_eq!(hedge.hedges, 4);
}

static FB_DOWN: Mutex<bool> = Mutex::new(false);

#[fallback(value = 0)]
#[cache(key = sku, ttl = "1s", stale_if_error = "1m")]
async fn with_fallback(sku: u32) -> Result<u32, ApiError> {
    if *FB_DOWN.lock().unwrap() {
        Err(ApiError::Backend)
    } else {
        Ok(sku)
    }
}

#[tokio::test(start_paused = true)]
async fn fallback_outside_cache_answers_only_what_the_cache_cannot() {
    assert_eq!(with_fallback(7).await, Ok(7));
    *FB_DOWN.lock().unwrap() = true;
    advance(Duration::from_secs(30)).await;
    assert_eq!(with_fallback(7).await, Ok(7), "stale, from the cache");
    assert_eq!(with_fallback(8).await, Ok(0), "no entry: the fallback");
    advance(Duration::from_secs(31)).await;
    assert_eq!(with_fallback(7).await, Ok(0), "too old: the fallback");
    *FB_DOWN.lock().unwrap() = false;
}

static COALESCED_RUNS: AtomicU32 = AtomicU32::new(0);

/// Coalesce outside a retry: the callers share the whole retried call.
#[coalesce(key = id)]
#[retry(max_attempts = 2, backoff = fixed("10ms"), jitter = none)]
async fn shared_retries(id: u32) -> Result<u32, ApiError> {
    let n = COALESCED_RUNS.fetch_add(1, Ordering::SeqCst);
    sleep(MS * 5).await;
    if n == 0 {
        Err(ApiError::Backend)
    } else {
        Ok(id)
    }
}

#[tokio::test(start_paused = true)]
async fn coalesce_outside_retry_shares_every_attempt() {
    let (a, b) = tokio::join!(shared_retries(3), shared_retries(3));
    assert_eq!((a, b), (Ok(3), Ok(3)));
    assert_eq!(
        COALESCED_RUNS.load(Ordering::SeqCst),
        2,
        "two attempts, for both callers"
    );
}

static INTENDED_ATTEMPTS: AtomicU32 = AtomicU32::new(0);

/// Below a retry (the order warned about), a stale answer ends the retries at once.
#[retry(max_attempts = 3, backoff = none, order = "intended")]
#[cache(stale_if_error = "1m")]
fn stale_stops_retries(fail: bool) -> Result<u32, ApiError> {
    INTENDED_ATTEMPTS.fetch_add(1, Ordering::SeqCst);
    if fail { Err(ApiError::Backend) } else { Ok(1) }
}

#[tokio::test(start_paused = true)]
async fn cache_below_retry_stops_at_the_first_failure() {
    assert_eq!(stale_stops_retries(false), Ok(1));
    assert_eq!(stale_stops_retries(true), Ok(1));
    assert_eq!(
        INTENDED_ATTEMPTS.load(Ordering::SeqCst),
        2,
        "one failed attempt, no retry"
    );
}
