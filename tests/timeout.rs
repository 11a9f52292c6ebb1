//! `#[timeout]` end to end, under paused tokio time, alone and stacked with `#[retry]`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use resilience_runtime::{Rejection, retry, timeout};
use tokio::time::{Instant, sleep};

const MS: Duration = Duration::from_millis(1);

#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("backend failed")]
    Backend,
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

#[timeout("2s")]
async fn slow(work: Duration) -> Result<Duration, ApiError> {
    sleep(work).await;
    Ok(work)
}

#[tokio::test(start_paused = true)]
async fn returns_the_body_result_in_time() {
    let start = Instant::now();
    assert_eq!(slow(MS * 1999).await.unwrap(), MS * 1999);
    assert_eq!(start.elapsed(), MS * 1999);
}

#[tokio::test(start_paused = true)]
async fn rejects_when_the_limit_passes_first() {
    let start = Instant::now();
    let err = slow(Duration::from_secs(3)).await.unwrap_err();
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(2),
        "gives up at the limit exactly"
    );
    let ApiError::Rejected(Rejection::Timeout { name, after }) = &err else {
        panic!("expected a timeout, got {err:?}");
    };
    assert_eq!(*after, Duration::from_secs(2));
    assert_eq!(
        name, "timeout::slow",
        "the default name is the function's path"
    );
    assert_eq!(
        err.to_string(),
        "'timeout::slow' timed out: no result within 2s; the call was cancelled"
    );
}

struct SetOnDrop(Arc<AtomicBool>);
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[timeout(after = "100ms", name = "cancellable")]
async fn holds_a_guard(dropped: Arc<AtomicBool>, finished: &AtomicBool) -> Result<(), ApiError> {
    let _guard = SetOnDrop(dropped);
    sleep(Duration::from_secs(10)).await;
    finished.store(true, Ordering::SeqCst);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_body_future_is_dropped_at_the_limit() {
    let dropped = Arc::new(AtomicBool::new(false));
    let finished = AtomicBool::new(false);
    let err = holds_a_guard(dropped.clone(), &finished).await.unwrap_err();
    assert!(
        matches!(err, ApiError::Rejected(Rejection::Timeout { ref name, .. }) if name == "cancellable")
    );
    assert!(
        dropped.load(Ordering::SeqCst),
        "the body's state was dropped"
    );
    sleep(Duration::from_secs(20)).await;
    assert!(!finished.load(Ordering::SeqCst), "the body never resumed");
}

#[timeout((Duration::from_millis(30)))]
async fn expression_limit() -> Result<(), ApiError> {
    sleep(MS * 31).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_parenthesised_expression_sets_the_limit() {
    let start = Instant::now();
    assert!(expression_limit().await.is_err());
    assert_eq!(start.elapsed(), MS * 30);
}

#[timeout("1s")]
async fn errors_pass_through() -> Result<(), ApiError> {
    Err(ApiError::Backend)
}

#[tokio::test(start_paused = true)]
async fn the_body_error_is_returned_as_it_is() {
    assert!(matches!(
        errors_pass_through().await,
        Err(ApiError::Backend)
    ));
}

/// Retry outside timeout: the limit applies to each attempt.
#[retry(max_attempts = 3, backoff = fixed("10ms"), jitter = none)]
#[timeout("100ms")]
async fn per_attempt(attempts: &AtomicU32) -> Result<u32, ApiError> {
    let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
    if n < 3 {
        sleep(Duration::from_secs(1)).await;
    }
    Ok(n)
}

/// Timeout outside retry: the limit applies to the whole sequence.
#[timeout("100ms")]
#[retry(max_attempts = 10, backoff = fixed("30ms"), jitter = none)]
async fn whole_sequence(attempts: &AtomicU32) -> Result<u32, ApiError> {
    attempts.fetch_add(1, Ordering::SeqCst);
    Err(ApiError::Backend)
}

#[tokio::test(start_paused = true)]
async fn stacked_with_retry_in_either_order() {
    let attempts = AtomicU32::new(0);
    let start = Instant::now();
    assert_eq!(per_attempt(&attempts).await.unwrap(), 3);
    assert_eq!(
        start.elapsed(),
        MS * 220,
        "two timed-out attempts, two sleeps"
    );

    let attempts = AtomicU32::new(0);
    let start = Instant::now();
    let err = whole_sequence(&attempts).await.unwrap_err();
    assert!(matches!(err, ApiError::Rejected(Rejection::Timeout { .. })));
    assert_eq!(start.elapsed(), MS * 100);
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        4,
        "attempts at 0, 30, 60, 90ms"
    );
}

#[tokio::test(start_paused = true)]
async fn by_hand() {
    let limit = resilience_runtime::Timeout::new("by-hand", MS * 5);
    let result: Result<(), ApiError> = limit
        .call(async {
            sleep(MS * 6).await;
            Ok(())
        })
        .await;
    assert!(matches!(
        result,
        Err(ApiError::Rejected(Rejection::Timeout { .. }))
    ));
    assert_eq!(limit.name(), "by-hand");
}

struct Gateway<T>(T);

impl<T: Send + Sync> Gateway<T> {
    #[timeout("10ms")]
    async fn call(&self) -> Result<(), ApiError> {
        let _ = &self.0;
        sleep(Duration::from_secs(1)).await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_method_default_name_includes_its_type() {
    for gateway in [Gateway(1u8)] {
        let err = gateway.call().await.unwrap_err();
        assert!(
            matches!(&err, ApiError::Rejected(Rejection::Timeout { name, .. }) if name == "timeout::Gateway::call"),
            "{err:?}"
        );
    }
    let err = Gateway("other instance").call().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "'timeout::Gateway::call' timed out: no result within 10ms; the call was cancelled",
        "generic arguments are left out: every instance shares the name"
    );
}
