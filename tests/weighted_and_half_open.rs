//! The attribute arguments of issue 17, end to end under paused tokio time:
//! `#[rate_limit(cost = expr)]` (direct and keyed, async and plain) and
//! `#[circuit_breaker(max_wait_in_half_open = .., open_for_factor = ..)]`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience_runtime::{CircuitState, Rejection, circuit_breaker, rate_limit, registry};
use tokio::time::{Instant, advance};

const MS: Duration = Duration::from_millis(1);

#[derive(Debug, thiserror::Error, PartialEq)]
enum ApiError {
    #[error("backend failed")]
    Backend,
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

static RAN: AtomicU32 = AtomicU32::new(0);

/// A model API billed by the token: each call takes `tokens` slots of "10/s".
#[rate_limit(name = "attr-tokens", rate = "10/s", max_wait = "10s", cost = tokens)]
async fn complete(tokens: u32) -> Result<u32, ApiError> {
    RAN.fetch_add(1, Ordering::Relaxed);
    Ok(tokens)
}

#[tokio::test(start_paused = true)]
async fn a_cost_of_3_at_10_per_second_admits_3_at_once_then_one_every_300ms() {
    let start = Instant::now();
    let calls: Vec<_> = (0..6)
        .map(|_| {
            tokio::spawn(async move {
                complete(3).await.unwrap();
                start.elapsed()
            })
        })
        .collect();
    let mut done = Vec::new();
    for call in calls {
        done.push(call.await.unwrap());
    }
    done.sort();
    // Three at once (9 of the 10 slots); the 4th needs 2 more slots: 200ms; then 300ms
    // each.
    assert_eq!(
        done,
        [
            Duration::ZERO,
            Duration::ZERO,
            Duration::ZERO,
            MS * 200,
            MS * 500,
            MS * 800
        ]
    );

    // A cost above the burst can never pass: refused at once, the body not run.
    let ran = RAN.load(Ordering::Relaxed);
    let before = Instant::now();
    let err = complete(11).await.unwrap_err();
    assert_eq!(before.elapsed(), Duration::ZERO, "never a wait");
    let ApiError::Rejected(rejection) = &err else {
        panic!("{err:?}")
    };
    assert!(matches!(rejection, Rejection::RateLimited { name, .. } if name == "attr-tokens"));
    assert_eq!(rejection.retry_after(), Some(Duration::MAX));
    assert!(
        err.to_string().contains("costs 11 but the burst is 10"),
        "{err}"
    );
    assert_eq!(RAN.load(Ordering::Relaxed), ran);
    // A cost of 0 takes nothing and runs at once, even with the budget spent.
    assert_eq!(complete(0).await, Ok(0));
    assert_eq!(before.elapsed(), Duration::ZERO);
}

#[rate_limit(name = "attr-bytes", rate = "100/s", cost = body.len() as u32)]
fn upload(body: &[u8]) -> Result<usize, ApiError> {
    Ok(body.len())
}

#[tokio::test(start_paused = true)]
async fn a_plain_function_pays_what_its_expression_says() {
    assert_eq!(upload(&[0; 60]), Ok(60));
    assert_eq!(upload(&[0; 40]), Ok(40));
    let err = upload(&[0; 10]).unwrap_err();
    // 10 more slots of 10ms each: the first of them is 10ms away, the last 100ms.
    assert_eq!(
        err,
        ApiError::Rejected(Rejection::RateLimited {
            name: "attr-bytes".into(),
            retry_after: MS * 100,
        })
    );
    advance(MS * 100).await;
    assert_eq!(upload(&[0; 10]), Ok(10));
    let never = upload(&[0; 500]).unwrap_err();
    assert!(
        never.to_string().contains("costs 500 but the burst is 100"),
        "{never}"
    );
    let limiter = registry::rate_limiter("attr-bytes").unwrap();
    assert_eq!(limiter.available(), 0, "the refused calls took nothing");
}

#[rate_limit(
    name = "attr-keyed-tokens",
    rate = "10/s",
    max_wait = "500ms",
    key = user.to_string(),
    cost = tokens
)]
async fn per_user(user: &str, tokens: u32) -> Result<(), ApiError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn keyed_costs_are_per_key() {
    let start = Instant::now();
    for _ in 0..3 {
        per_user("ann", 3).await.unwrap();
    }
    per_user("bob", 10).await.unwrap();
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "each key has its own burst"
    );
    per_user("ann", 3).await.unwrap();
    assert_eq!(start.elapsed(), MS * 200);
    per_user("ann", 3).await.unwrap();
    assert_eq!(start.elapsed(), MS * 500);
    // Bob's next 10 slots are 500ms away, within `max_wait`; the 10 after that 1s
    // away: refused at once with the exact time.
    per_user("bob", 10).await.unwrap();
    assert_eq!(start.elapsed(), MS * 1_000);
    let err = per_user("bob", 10).await.unwrap_err();
    assert_eq!(
        err,
        ApiError::Rejected(Rejection::RateLimited {
            name: "attr-keyed-tokens".into(),
            retry_after: MS * 1_000,
        })
    );
    let err = per_user("bob", 20).await.unwrap_err();
    assert_eq!(
        err,
        ApiError::Rejected(Rejection::RateLimited {
            name: "attr-keyed-tokens".into(),
            retry_after: Duration::MAX,
        })
    );
    assert!(err.to_string().contains("costs 20 but the burst is 10"));
    assert_eq!(start.elapsed(), MS * 1_000, "refusals never wait");
}

static HANG: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker(
    name = "attr-half-open",
    window = count(1),
    open_for = "1s",
    open_for_max = "20s",
    open_for_factor = 3.0,
    half_open_calls = 1,
    max_wait_in_half_open = "2s"
)]
async fn backend(fail: bool) -> Result<(), ApiError> {
    if HANG.load(Ordering::Relaxed) > 0 {
        std::future::pending::<()>().await;
    }
    if fail { Err(ApiError::Backend) } else { Ok(()) }
}

#[tokio::test(start_paused = true)]
async fn a_hung_trial_is_decided_at_max_wait_in_half_open_and_open_times_grow() {
    assert_eq!(backend(true).await, Err(ApiError::Backend));
    let breaker = registry::circuit_breaker("attr-half-open").unwrap();
    assert_eq!(breaker.state(), CircuitState::Open);
    advance(Duration::from_secs(1)).await;
    // The trial hangs, its future kept alive.
    HANG.store(1, Ordering::Relaxed);
    let hung = tokio::spawn(backend(false));
    tokio::task::yield_now().await;
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
    advance(Duration::from_secs(2)).await;
    assert_eq!(
        breaker.state(),
        CircuitState::Open,
        "no trial finished in 2s"
    );
    // Re-opened for 1s × 3.
    let err = backend(false).await.unwrap_err();
    let ApiError::Rejected(rejection) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(rejection.retry_after(), Some(Duration::from_secs(3)));
    assert!(
        err.to_string()
            .contains("no trial call finished within 2s of turning half-open"),
        "{err}"
    );
    // A failing trial re-opens it for 9s, then 20s (27s, capped).
    HANG.store(0, Ordering::Relaxed);
    advance(Duration::from_secs(3)).await;
    assert_eq!(backend(true).await, Err(ApiError::Backend));
    let retry = |e: ApiError| match e {
        ApiError::Rejected(r) => r.retry_after(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        retry(backend(false).await.unwrap_err()),
        Some(Duration::from_secs(9))
    );
    advance(Duration::from_secs(9)).await;
    assert_eq!(backend(true).await, Err(ApiError::Backend));
    assert_eq!(
        retry(backend(false).await.unwrap_err()),
        Some(Duration::from_secs(20))
    );
    hung.abort();
}
