//! What each order of stacked attributes means, pinned down under paused time.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience_runtime::{
    CircuitState, Rejection, bulkhead, circuit_breaker, fallback, rate_limit, registry, retry,
    timeout,
};
use tokio::time::{Instant, sleep};

const MS: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum ApiError {
    #[error("backend failed ({0})")]
    Backend(u32),
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

fn fail(count: &AtomicU32) -> Result<u32, ApiError> {
    Err(ApiError::Backend(count.fetch_add(1, Ordering::SeqCst) + 1))
}

/// Retry outside the breaker: every attempt is a call of the breaker.
#[retry(max_attempts = 5, backoff = none)]
#[circuit_breaker(
    name = "stack-retry-outside",
    consecutive_failures = 2,
    open_for = "10s"
)]
async fn retry_outside_breaker(count: &AtomicU32) -> Result<u32, ApiError> {
    fail(count)
}

#[tokio::test(start_paused = true)]
async fn retry_outside_breaker_stops_running_the_body_once_it_opens() {
    let count = AtomicU32::new(0);
    let err = retry_outside_breaker(&count).await.unwrap_err();
    assert_eq!(
        count.load(Ordering::SeqCst),
        2,
        "attempts 3 to 5 never ran the body"
    );
    assert!(
        matches!(&err, ApiError::Rejected(Rejection::CircuitOpen { name, .. }) if name == "stack-retry-outside"),
        "the last attempt's rejection is returned: {err:?}"
    );
    let breaker = registry::circuit_breaker("stack-retry-outside").unwrap();
    assert_eq!(breaker.state(), CircuitState::Open);
}

/// The breaker outside retry: a whole retry sequence is one call of the breaker.
#[circuit_breaker(
    name = "stack-breaker-outside",
    consecutive_failures = 2,
    open_for = "10s"
)]
#[retry(max_attempts = 3, backoff = none)]
async fn breaker_outside_retry(count: &AtomicU32) -> Result<u32, ApiError> {
    fail(count)
}

#[tokio::test(start_paused = true)]
async fn breaker_outside_retry_counts_a_sequence_as_one_call() {
    let count = AtomicU32::new(0);
    assert_eq!(
        breaker_outside_retry(&count).await,
        Err(ApiError::Backend(3))
    );
    let breaker = registry::circuit_breaker("stack-breaker-outside").unwrap();
    assert_eq!(breaker.state(), CircuitState::Closed, "one failure so far");
    assert_eq!(
        breaker_outside_retry(&count).await,
        Err(ApiError::Backend(6))
    );
    assert_eq!(
        breaker.state(),
        CircuitState::Open,
        "two sequences, two failures"
    );
    assert_eq!(count.load(Ordering::SeqCst), 6);
    assert!(matches!(
        breaker_outside_retry(&count).await,
        Err(ApiError::Rejected(Rejection::CircuitOpen { .. }))
    ));
    assert_eq!(count.load(Ordering::SeqCst), 6, "rejected: no attempt ran");
}

struct Service {
    attempts: AtomicU32,
    fallbacks: AtomicU32,
}

impl Service {
    /// Fallback outermost: it sees only what every inner policy finally returned.
    #[fallback(Self::cached)]
    #[retry(max_attempts = 3, backoff = fixed("10ms"), jitter = none)]
    #[timeout("50ms")]
    async fn price(&self, sku: &str) -> Result<String, ApiError> {
        let n = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        if sku == "slow" {
            sleep(Duration::from_secs(1)).await;
        }
        Err(ApiError::Backend(n))
    }

    async fn cached(&self, sku: &str, error: ApiError) -> Result<String, ApiError> {
        self.fallbacks.fetch_add(1, Ordering::SeqCst);
        Ok(format!("cached {sku} after {error}"))
    }
}

#[tokio::test(start_paused = true)]
async fn fallback_outermost_sees_only_the_final_outcome() {
    let svc = Service {
        attempts: AtomicU32::new(0),
        fallbacks: AtomicU32::new(0),
    };
    assert_eq!(
        svc.price("a").await,
        Ok("cached a after backend failed (3)".to_string())
    );
    assert_eq!(svc.attempts.load(Ordering::SeqCst), 3);
    assert_eq!(
        svc.fallbacks.load(Ordering::SeqCst),
        1,
        "called once, after the last attempt"
    );

    let start = Instant::now();
    let answer = svc.price("slow").await.unwrap();
    assert!(answer.contains("timed out"), "{answer}");
    assert_eq!(
        start.elapsed(),
        MS * 170,
        "three 50ms timeouts, two 10ms sleeps"
    );
    assert_eq!(svc.fallbacks.load(Ordering::SeqCst), 2);
}

/// API.md's full stack, on a method taking `&self` and `&str`.
struct Prices {
    calls: AtomicU32,
}

impl Prices {
    #[fallback(Self::cached_prices)]
    #[retry(max_attempts = 3, backoff = none)]
    #[circuit_breaker(name = "stack-prices", consecutive_failures = 5)]
    #[rate_limit(rate = "50/s")]
    #[timeout("2s")]
    #[bulkhead(max_concurrent = 8)]
    async fn prices(&self, sku: &str) -> Result<u32, ApiError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if sku.is_empty() || n % 2 == 1 {
            return Err(ApiError::Backend(n));
        }
        Ok(100 + n)
    }

    async fn cached_prices(&self, _sku: &str, _error: ApiError) -> Result<u32, ApiError> {
        Ok(1)
    }
}

#[tokio::test(start_paused = true)]
async fn the_full_stack_runs_every_layer() {
    let p = Prices {
        calls: AtomicU32::new(0),
    };
    assert_eq!(
        p.prices("x").await,
        Ok(102),
        "first attempt failed, second succeeded"
    );
    assert_eq!(
        p.prices("").await,
        Ok(1),
        "every attempt failed: the fallback answered"
    );
    assert_eq!(p.calls.load(Ordering::SeqCst), 5);
    let breaker = registry::circuit_breaker("stack-prices").unwrap();
    let metrics = breaker.metrics();
    assert_eq!(
        metrics.calls, 5,
        "the breaker saw every attempt: {metrics:?}"
    );
    assert_eq!(metrics.failures, 4);
}

/// Each function's policy state is created once, not per call.
#[circuit_breaker(consecutive_failures = 1, open_for = "1s")]
async fn state_is_per_function(count: &AtomicU32) -> Result<u32, ApiError> {
    fail(count)
}

#[tokio::test(start_paused = true)]
async fn state_survives_between_calls() {
    let count = AtomicU32::new(0);
    assert_eq!(
        state_is_per_function(&count).await,
        Err(ApiError::Backend(1))
    );
    assert!(matches!(
        state_is_per_function(&count).await,
        Err(ApiError::Rejected(Rejection::CircuitOpen { .. }))
    ));
    let name = concat!(module_path!(), "::state_is_per_function");
    assert!(
        registry::circuit_breaker(name).is_some(),
        "default name is the function's path"
    );
}

/// The breaker outside the timeout: a timed-out call is a failed call.
#[circuit_breaker(name = "stack-breaker-over-timeout", consecutive_failures = 2)]
#[timeout("10ms")]
async fn breaker_over_timeout() -> Result<(), ApiError> {
    sleep(Duration::from_secs(1)).await;
    Ok(())
}

/// The timeout outside the breaker: the cancelled call counts as neither.
#[timeout("10ms")]
#[circuit_breaker(name = "stack-timeout-over-breaker", consecutive_failures = 2)]
async fn timeout_over_breaker() -> Result<(), ApiError> {
    sleep(Duration::from_secs(1)).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn timeouts_are_failures_inside_a_breaker_and_cancellations_outside_it() {
    for _ in 0..2 {
        assert!(matches!(
            breaker_over_timeout().await,
            Err(ApiError::Rejected(Rejection::Timeout { .. }))
        ));
    }
    let inner = registry::circuit_breaker("stack-breaker-over-timeout").unwrap();
    assert_eq!(inner.state(), CircuitState::Open);

    for _ in 0..3 {
        assert!(matches!(
            timeout_over_breaker().await,
            Err(ApiError::Rejected(Rejection::Timeout { .. }))
        ));
    }
    let outer = registry::circuit_breaker("stack-timeout-over-breaker").unwrap();
    assert_eq!(outer.state(), CircuitState::Closed);
    assert_eq!(
        outer.metrics().calls,
        0,
        "cancelled calls are neither success nor failure"
    );
}
