//! `#[bulkhead]` and `#[rate_limit]` end to end, under paused tokio time.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience_runtime::{Rejection, bulkhead, rate_limit};
use tokio::time::{Instant, sleep};

const MS: Duration = Duration::from_millis(1);

#[derive(Debug, thiserror::Error, PartialEq)]
enum ApiError {
    #[error("backend failed")]
    Backend,
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

#[bulkhead(max_concurrent = 2, name = "macro-bulkhead")]
async fn guarded(work: Duration) -> Result<Duration, ApiError> {
    sleep(work).await;
    Ok(work)
}

#[tokio::test(start_paused = true)]
async fn bulkhead_admits_max_concurrent_and_rejects_the_rest() {
    let a = tokio::spawn(guarded(MS * 100));
    let b = tokio::spawn(guarded(MS * 100));
    tokio::task::yield_now().await;
    let err = guarded(MS).await.unwrap_err();
    let ApiError::Rejected(Rejection::BulkheadFull {
        name,
        max_concurrent,
    }) = &err
    else {
        panic!("expected BulkheadFull, got {err:?}");
    };
    assert_eq!((name.as_ref(), *max_concurrent), ("macro-bulkhead", 2));
    assert!(err.to_string().contains("2 of 2 calls running"), "{err}");
    assert_eq!(a.await.unwrap(), Ok(MS * 100));
    assert_eq!(b.await.unwrap(), Ok(MS * 100));
    assert_eq!(guarded(MS).await, Ok(MS), "slots are given back");
    let handle = resilience_runtime::registry::bulkhead("macro-bulkhead").unwrap();
    assert_eq!(handle.metrics().in_flight, 0);
}

#[bulkhead(max_concurrent = 1, max_wait = "50ms")]
async fn queued(work: Duration) -> Result<(), ApiError> {
    sleep(work).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn bulkhead_waits_up_to_max_wait() {
    let start = Instant::now();
    let first = tokio::spawn(queued(MS * 40));
    tokio::task::yield_now().await;
    assert_eq!(
        queued(MS).await,
        Ok(()),
        "a slot freed within max_wait admits the waiter"
    );
    assert_eq!(start.elapsed(), MS * 41);
    first.await.unwrap().unwrap();

    let first = tokio::spawn(queued(MS * 200));
    tokio::task::yield_now().await;
    let start = Instant::now();
    assert!(matches!(
        queued(MS).await,
        Err(ApiError::Rejected(Rejection::BulkheadFull { .. }))
    ));
    assert_eq!(start.elapsed(), MS * 50);
    first.await.unwrap().unwrap();
}

#[bulkhead(max_concurrent = 1)]
fn blocking_guarded(count: &AtomicU32) -> Result<u32, ApiError> {
    Ok(count.fetch_add(1, Ordering::SeqCst) + 1)
}

#[test]
fn bulkhead_on_a_plain_fn() {
    let count = AtomicU32::new(0);
    assert_eq!(blocking_guarded(&count), Ok(1));
    assert_eq!(blocking_guarded(&count), Ok(2));
}

#[bulkhead(max_concurrent = adaptive(initial = 4, min = 2, max = 8), name = "macro-adaptive")]
async fn adaptive() -> Result<(), ApiError> {
    sleep(MS).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn adaptive_limit_stays_within_bounds() {
    for _ in 0..50 {
        adaptive().await.unwrap();
    }
    let limit = resilience_runtime::registry::bulkhead("macro-adaptive")
        .unwrap()
        .limit();
    assert!((2..=8).contains(&limit), "{limit}");
}

#[rate_limit(rate = "10/s", burst = 2, name = "macro-limit")]
async fn limited() -> Result<(), ApiError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn rate_limit_admits_the_burst_then_says_when() {
    assert_eq!(limited().await, Ok(()));
    assert_eq!(limited().await, Ok(()));
    let err = limited().await.unwrap_err();
    let ApiError::Rejected(Rejection::RateLimited { retry_after, .. }) = &err else {
        panic!("expected RateLimited, got {err:?}");
    };
    assert_eq!(*retry_after, MS * 100);
    sleep(*retry_after).await;
    assert_eq!(
        limited().await,
        Ok(()),
        "a call made retry_after later is admitted"
    );
}

#[rate_limit(rate = "1/s", max_wait = "1s")]
async fn paced(count: &AtomicU32) -> Result<(), ApiError> {
    count.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn rate_limit_waits_for_its_slot_within_max_wait() {
    let count = AtomicU32::new(0);
    let start = Instant::now();
    paced(&count).await.unwrap();
    paced(&count).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[rate_limit(rate = "1/min", key = tenant.to_string())]
async fn per_tenant(tenant: &str) -> Result<(), ApiError> {
    let _ = tenant;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn keyed_rate_limits_are_per_key() {
    assert_eq!(per_tenant("a").await, Ok(()));
    assert_eq!(per_tenant("b").await, Ok(()));
    assert!(per_tenant("a").await.is_err());
    assert!(per_tenant("b").await.is_err());
}

#[rate_limit(rate = "1/h")]
fn blocking_limited() -> Result<(), ApiError> {
    Ok(())
}

#[test]
fn rate_limit_on_a_plain_fn() {
    assert_eq!(blocking_limited(), Ok(()));
    assert!(matches!(
        blocking_limited(),
        Err(ApiError::Rejected(Rejection::RateLimited { .. }))
    ));
}

#[tokio::test(start_paused = true)]
async fn errors_of_the_body_pass_through() {
    #[bulkhead(max_concurrent = 3)]
    #[rate_limit(rate = "100/s")]
    async fn failing() -> Result<(), ApiError> {
        Err(ApiError::Backend)
    }
    assert_eq!(failing().await, Err(ApiError::Backend));
}

#[bulkhead(max_concurrent = 4, name = "shared-bulkhead")]
async fn shares_a() -> Result<(), ApiError> {
    Ok(())
}

#[bulkhead(max_concurrent = 9, name = "shared-bulkhead")]
async fn shares_b() -> Result<(), ApiError> {
    Ok(())
}

#[rate_limit(rate = "5/s", name = "shared-limit")]
fn limit_a() -> Result<(), ApiError> {
    Ok(())
}

#[rate_limit(rate = "50/s", name = "shared-limit")]
fn limit_b() -> Result<(), ApiError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_first_configuration_of_a_shared_name_wins_and_the_other_is_reported() {
    shares_a().await.unwrap();
    shares_b().await.unwrap();
    limit_a().unwrap();
    limit_b().unwrap();
    let bulkhead = resilience_runtime::registry::bulkhead("shared-bulkhead").unwrap();
    assert_eq!(bulkhead.limit(), 4, "the first configuration is kept");
    let limiter = resilience_runtime::registry::rate_limiter("shared-limit").unwrap();
    assert_eq!(limiter.rate().count(), 5);
    let conflicts = resilience_runtime::registry::config_conflicts();
    for (policy, name) in [
        ("bulkhead", "shared-bulkhead"),
        ("rate_limit", "shared-limit"),
    ] {
        let found = conflicts
            .iter()
            .find(|c| c.policy == policy && c.name == name);
        let conflict =
            found.unwrap_or_else(|| panic!("{policy} {name} not reported: {conflicts:?}"));
        assert!(
            conflict.to_string().contains("the first ones are kept"),
            "{conflict}"
        );
    }
}
