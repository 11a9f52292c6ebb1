//! `#[circuit_breaker]` end to end: each argument reaches the breaker, under paused time.
//! (The breaker's own semantics are tested in `resilience-runtime/tests`.)

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience_runtime::{CircuitState, Rejection, circuit_breaker, registry};
use tokio::time::{advance, sleep};

const MS: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum ApiError {
    #[error("server error")]
    Server,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

fn is_server_error(e: &ApiError) -> bool {
    matches!(e, ApiError::Server)
}

fn open_for(err: &ApiError) -> Duration {
    match err {
        ApiError::Rejected(Rejection::CircuitOpen { retry_after, .. }) => *retry_after,
        other => panic!("expected CircuitOpen, got {other:?}"),
    }
}

#[circuit_breaker(name = "cb-rate", failure_rate = 0.5, window = count(4), open_for = "30s")]
async fn rate(fail: bool) -> Result<(), ApiError> {
    if fail { Err(ApiError::Server) } else { Ok(()) }
}

#[tokio::test(start_paused = true)]
async fn failure_rate_over_a_count_window_opens_it_for_open_for() {
    for fail in [false, true, false] {
        let _ = rate(fail).await;
    }
    let breaker = registry::circuit_breaker("cb-rate").unwrap();
    assert_eq!(
        breaker.state(),
        CircuitState::Closed,
        "min_calls is capped at 4"
    );
    let _ = rate(true).await;
    assert_eq!(
        breaker.state(),
        CircuitState::Open,
        "2 of 4 failed: 50% >= 50%"
    );
    let err = rate(false).await.unwrap_err();
    assert_eq!(open_for(&err), Duration::from_secs(30));
    assert_eq!(
        err.to_string(),
        "circuit breaker 'cb-rate' is open: 2 of the last 4 calls failed (50% >= 50%); next trial in 30s"
    );
    advance(Duration::from_secs(30)).await;
    assert_eq!(
        rate(false).await,
        Ok(()),
        "a trial is let through at t + open_for"
    );
}

#[circuit_breaker(
    name = "cb-streak",
    consecutive_failures = 3,
    open_for = "1s",
    open_for_max = "4s",
    half_open_calls = 1
)]
async fn streak(fail: bool) -> Result<(), ApiError> {
    if fail { Err(ApiError::Server) } else { Ok(()) }
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_open_and_open_for_max_doubles_the_open_time() {
    for _ in 0..3 {
        assert_eq!(streak(true).await, Err(ApiError::Server));
    }
    let err = streak(true).await.unwrap_err();
    assert_eq!(open_for(&err), Duration::from_secs(1));
    assert!(err.to_string().contains("3 failures in a row"), "{err}");
    advance(Duration::from_secs(1)).await;
    assert_eq!(
        streak(true).await,
        Err(ApiError::Server),
        "the one trial fails"
    );
    assert_eq!(
        open_for(&streak(false).await.unwrap_err()),
        Duration::from_secs(2)
    );
    advance(Duration::from_secs(2)).await;
    let _ = streak(true).await;
    assert_eq!(
        open_for(&streak(false).await.unwrap_err()),
        Duration::from_secs(4)
    );
    advance(Duration::from_secs(4)).await;
    let _ = streak(true).await;
    assert_eq!(
        open_for(&streak(false).await.unwrap_err()),
        Duration::from_secs(4),
        "capped"
    );
    advance(Duration::from_secs(4)).await;
    assert_eq!(streak(false).await, Ok(()), "a successful trial closes it");
    let breaker = registry::circuit_breaker("cb-streak").unwrap();
    assert_eq!(breaker.state(), CircuitState::Closed);
}

#[circuit_breaker(name = "cb-record-if", consecutive_failures = 2, record_if = is_server_error)]
async fn selective(error: ApiError) -> Result<(), ApiError> {
    Err(error)
}

#[tokio::test(start_paused = true)]
async fn record_if_ignores_the_errors_it_rejects() {
    for _ in 0..5 {
        let _ = selective(ApiError::NotFound).await;
    }
    let breaker = registry::circuit_breaker("cb-record-if").unwrap();
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(breaker.metrics().failures, 0);
    let _ = selective(ApiError::Server).await;
    let _ = selective(ApiError::Server).await;
    assert_eq!(breaker.state(), CircuitState::Open);
}

#[circuit_breaker(name = "cb-slow", window = time("10s"), min_calls = 2, slow_call = "100ms", slow_call_rate = 0.5)]
async fn slow(work: Duration) -> Result<(), ApiError> {
    sleep(work).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn slow_calls_open_a_time_window_breaker() {
    slow(MS * 100).await.unwrap();
    slow(MS * 101).await.unwrap();
    let breaker = registry::circuit_breaker("cb-slow").unwrap();
    assert_eq!(
        breaker.state(),
        CircuitState::Open,
        "1 of 2 strictly slower than 100ms"
    );
    let err = slow(MS).await.unwrap_err();
    assert!(err.to_string().contains("slower than 100ms"), "{err}");
}

#[circuit_breaker(consecutive_failures = 1, key = tenant.to_string(), max_keys = 2)]
async fn per_tenant(tenant: &str, fail: bool) -> Result<(), ApiError> {
    let _ = tenant;
    if fail { Err(ApiError::Server) } else { Ok(()) }
}

#[tokio::test(start_paused = true)]
async fn keyed_breakers_are_per_key() {
    assert_eq!(per_tenant("a", true).await, Err(ApiError::Server));
    assert!(matches!(
        per_tenant("a", false).await,
        Err(ApiError::Rejected(_))
    ));
    assert_eq!(
        per_tenant("b", false).await,
        Ok(()),
        "tenant b has its own breaker"
    );
}

static SHARED_CALLS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker(name = "cb-shared", consecutive_failures = 2)]
async fn shared_a() -> Result<(), ApiError> {
    SHARED_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(ApiError::Server)
}

#[circuit_breaker(name = "cb-shared", consecutive_failures = 2)]
fn shared_b() -> Result<(), ApiError> {
    SHARED_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(ApiError::Server)
}

#[tokio::test(start_paused = true)]
async fn functions_naming_the_same_breaker_share_it_async_and_plain() {
    let _ = shared_a().await;
    let _ = shared_b();
    assert!(matches!(shared_a().await, Err(ApiError::Rejected(_))));
    assert!(matches!(shared_b(), Err(ApiError::Rejected(_))));
    assert_eq!(SHARED_CALLS.load(Ordering::SeqCst), 2);
}

#[circuit_breaker(name = "cb-manual")]
async fn manual() -> Result<u32, ApiError> {
    Ok(7)
}

#[tokio::test(start_paused = true)]
async fn the_registry_handle_forces_disables_and_resets() {
    assert_eq!(manual().await, Ok(7));
    let breaker = registry::circuit_breaker("cb-manual").unwrap();
    breaker.force_open();
    assert_eq!(breaker.state(), CircuitState::ForcedOpen);
    assert!(matches!(
        manual().await,
        Err(ApiError::Rejected(Rejection::CircuitOpen { .. }))
    ));
    breaker.disable();
    assert_eq!(manual().await, Ok(7));
    breaker.reset();
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert!(
        registry::circuit_breakers()
            .iter()
            .any(|(name, _)| name == "cb-manual"),
        "listed with the others"
    );
}
