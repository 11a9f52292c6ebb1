//! `lifecycle::drain`, `resume` and `is_draining` end to end, under paused tokio time:
//! the report of a drain with calls running, new calls refused by every attribute
//! that can refuse (and by the policies by hand), waiters sent away, a retry stopped
//! between attempts, and calls admitted again at once after `resume`.
//!
//! Draining is the whole process's state: the tests take turns (`TURN`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience_runtime::events::{self, EventKind, PolicyKind};
use resilience_runtime::{
    Bulkhead, CircuitBreaker, Rejection, Timeout, bulkhead, circuit_breaker, lifecycle, rate_limit,
    registry, retry, timeout,
};
use tokio::time::{Instant, sleep};

const MS: Duration = Duration::from_millis(1);

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum ApiError {
    #[error("backend failed")]
    Backend,
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

fn shutting_down<T: std::fmt::Debug>(r: &Result<T, ApiError>) -> bool {
    matches!(r, Err(ApiError::Rejected(Rejection::ShuttingDown { .. })))
}

/// Lets spawned calls start.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[bulkhead(max_concurrent = 10, name = "lifecycle-work")]
async fn work(d: Duration) -> Result<Duration, ApiError> {
    sleep(d).await;
    Ok(d)
}

#[tokio::test(start_paused = true)]
async fn drain_waits_for_running_calls_and_reports_what_it_waited_for() {
    let _turn = TURN.lock().await;
    // Nothing running: at once.
    let report = lifecycle::drain(Duration::from_secs(5)).await;
    assert_eq!(
        (report.finished, report.abandoned, report.took),
        (0, 0, Duration::ZERO)
    );
    lifecycle::resume();

    let calls: Vec<_> = [1, 2, 10]
        .into_iter()
        .map(|s| tokio::spawn(work(Duration::from_secs(s))))
        .collect();
    settle().await;
    let start = Instant::now();
    let report = lifecycle::drain(Duration::from_secs(5)).await;
    assert!(lifecycle::is_draining());
    assert_eq!(
        (report.finished, report.abandoned, report.took),
        (2, 1, Duration::from_secs(5)),
        "the 1s and 2s calls finished, the 10s one was still running at the deadline"
    );
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    // Abandoned is not cancelled: it finishes on its own.
    let results: Vec<_> = futures_join(calls).await;
    assert_eq!(
        results,
        [1, 2, 10].map(|s| Ok(Duration::from_secs(s))).to_vec()
    );
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    lifecycle::resume();

    // Resolves as soon as the last running call ends, not at the deadline.
    let call = tokio::spawn(work(MS * 1500));
    settle().await;
    let start = Instant::now();
    let report = lifecycle::drain(Duration::from_secs(60)).await;
    assert_eq!((report.finished, report.abandoned), (1, 0));
    assert_eq!(report.took, MS * 1500);
    assert_eq!(start.elapsed(), MS * 1500);
    call.await.unwrap().unwrap();
    lifecycle::resume();
    assert!(!lifecycle::is_draining());
}

async fn futures_join<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

static BODIES: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker(name = "lifecycle-breaker")]
async fn guarded() -> Result<(), ApiError> {
    BODIES.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[timeout(after = "1s", name = "lifecycle-timeout")]
async fn timed() -> Result<(), ApiError> {
    BODIES.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[bulkhead(max_concurrent = 4, name = "lifecycle-bulkhead")]
async fn bounded() -> Result<(), ApiError> {
    BODIES.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[rate_limit(rate = "100/s", name = "lifecycle-rate")]
async fn paced() -> Result<(), ApiError> {
    BODIES.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[circuit_breaker(name = "lifecycle-breaker-plain")]
fn guarded_plain() -> Result<(), ApiError> {
    BODIES.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[bulkhead(max_concurrent = 4, name = "lifecycle-bulkhead-plain")]
fn bounded_plain() -> Result<(), ApiError> {
    BODIES.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[rate_limit(rate = "100/s", name = "lifecycle-rate-plain")]
fn paced_plain() -> Result<(), ApiError> {
    BODIES.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

fn rejections(policy: PolicyKind, name: &str) -> u64 {
    registry::snapshot()
        .into_iter()
        .find(|s| s.policy == policy && s.name == name)
        .map_or(0, |s| s.rejections)
}

#[tokio::test(start_paused = true)]
async fn while_draining_every_refusing_attribute_refuses_new_calls_without_running_them() {
    let _turn = TURN.lock().await;
    // Registered, with a call each, before the drain.
    for r in [
        guarded().await,
        timed().await,
        bounded().await,
        paced().await,
    ] {
        r.unwrap();
    }
    for r in [guarded_plain(), bounded_plain(), paced_plain()] {
        r.unwrap();
    }
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let _subscription = events::subscribe(move |event| {
        if let EventKind::Rejected {
            rejection: Rejection::ShuttingDown { name },
        } = &event.kind
        {
            sink.lock().unwrap().push((event.policy, name.to_string()));
        }
    });
    BODIES.store(0, Ordering::SeqCst);
    lifecycle::drain(Duration::ZERO).await;

    assert!(shutting_down(&guarded().await));
    assert!(shutting_down(&timed().await));
    assert!(shutting_down(&bounded().await));
    assert!(shutting_down(&paced().await));
    assert!(shutting_down(&guarded_plain()));
    assert!(shutting_down(&bounded_plain()));
    assert!(shutting_down(&paced_plain()));
    assert_eq!(BODIES.load(Ordering::SeqCst), 0, "no body ran");
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    let mut expected = vec![
        (PolicyKind::CircuitBreaker, "lifecycle-breaker".to_owned()),
        (PolicyKind::Timeout, "lifecycle-timeout".to_owned()),
        (PolicyKind::Bulkhead, "lifecycle-bulkhead".to_owned()),
        (PolicyKind::RateLimit, "lifecycle-rate".to_owned()),
        (
            PolicyKind::CircuitBreaker,
            "lifecycle-breaker-plain".to_owned(),
        ),
        (PolicyKind::Bulkhead, "lifecycle-bulkhead-plain".to_owned()),
        (PolicyKind::RateLimit, "lifecycle-rate-plain".to_owned()),
    ];
    expected.sort();
    assert_eq!(
        seen, expected,
        "one Rejected event each, under the policy's name"
    );
    assert_eq!(
        rejections(PolicyKind::CircuitBreaker, "lifecycle-breaker"),
        1
    );
    assert_eq!(rejections(PolicyKind::Timeout, "lifecycle-timeout"), 1);
    assert_eq!(rejections(PolicyKind::Bulkhead, "lifecycle-bulkhead"), 1);
    assert_eq!(rejections(PolicyKind::RateLimit, "lifecycle-rate"), 1);
    let err = guarded().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "'lifecycle-breaker' is shutting down and accepts no new calls"
    );

    // The policies by hand refuse alike.
    let breaker = CircuitBreaker::builder("lifecycle-by-hand")
        .build()
        .unwrap();
    let r: Result<(), ApiError> = breaker.call(async { Ok(()) }).await;
    assert!(shutting_down(&r));
    assert!(matches!(
        breaker.try_acquire(),
        Err(Rejection::ShuttingDown { .. })
    ));
    let bulkhead = Bulkhead::builder("lifecycle-by-hand")
        .max_concurrent(2)
        .build()
        .unwrap();
    assert!(matches!(
        bulkhead.try_acquire(),
        Err(Rejection::ShuttingDown { .. })
    ));
    let limit = Timeout::new("lifecycle-by-hand", Duration::from_secs(1));
    let r: Result<(), ApiError> = limit.call(async { Ok(()) }).await;
    assert!(shutting_down(&r));

    // resume: admitted again at once.
    lifecycle::resume();
    for r in [
        guarded().await,
        timed().await,
        bounded().await,
        paced().await,
    ] {
        r.unwrap();
    }
    guarded_plain().unwrap();
    assert_eq!(BODIES.load(Ordering::SeqCst), 5);
    assert!(breaker.try_acquire().is_ok());
}

#[bulkhead(max_concurrent = 1, max_wait = "10s", name = "lifecycle-queue")]
async fn queued(d: Duration) -> Result<(), ApiError> {
    sleep(d).await;
    Ok(())
}

#[rate_limit(
    rate = "1/s",
    burst = 1,
    max_wait = "10s",
    name = "lifecycle-paced-wait"
)]
async fn paced_wait() -> Result<Instant, ApiError> {
    Ok(Instant::now())
}

#[tokio::test(start_paused = true)]
async fn waiters_are_sent_away() {
    let _turn = TURN.lock().await;
    let start = Instant::now();
    let holder = tokio::spawn(queued(Duration::from_secs(3)));
    settle().await;
    let waiter = tokio::spawn(queued(MS));
    paced_wait().await.unwrap(); // the slot of this second
    let paced_waiter = tokio::spawn(paced_wait());
    settle().await;
    sleep(MS * 500).await;
    let report = lifecycle::drain(Duration::from_secs(10)).await;
    // The waiters were sent away when the drain began, at 500ms.
    let sent_away = waiter.await.unwrap();
    assert!(shutting_down(&sent_away), "{sent_away:?}");
    assert!(shutting_down(&paced_waiter.await.unwrap()));
    // Only the running body was waited for.
    assert_eq!((report.finished, report.abandoned), (1, 0));
    assert_eq!(report.took, MS * 2500);
    holder.await.unwrap().unwrap();
    lifecycle::resume();
    // Both policies work as before.
    let at = paced_wait().await.unwrap();
    assert_eq!(at - start, Duration::from_secs(3));
    queued(MS).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_waiter_gives_its_slot_back() {
    let _turn = TURN.lock().await;
    #[rate_limit(
        rate = "1/s",
        burst = 1,
        max_wait = "10s",
        name = "lifecycle-slot-back"
    )]
    async fn one_per_second() -> Result<Instant, ApiError> {
        Ok(Instant::now())
    }
    let start = Instant::now();
    one_per_second().await.unwrap();
    let waiter = tokio::spawn(one_per_second());
    settle().await;
    sleep(MS * 200).await;
    lifecycle::drain(Duration::ZERO).await;
    assert!(shutting_down(&waiter.await.unwrap()));
    lifecycle::resume();
    // The slot at 1s is free again: this call gets it, not the one at 2s.
    assert_eq!(
        one_per_second().await.unwrap() - start,
        Duration::from_secs(1)
    );
}

static RETRY_ATTEMPTS: AtomicU32 = AtomicU32::new(0);

#[retry(max_attempts = 5, backoff = fixed("1s"), jitter = none)]
async fn retried() -> Result<(), ApiError> {
    RETRY_ATTEMPTS.fetch_add(1, Ordering::SeqCst);
    Err(ApiError::Backend)
}

#[retry(max_attempts = 5, backoff = fixed("100ms"), jitter = none)]
fn retried_plain(attempts: &AtomicU32) -> Result<(), ApiError> {
    attempts.fetch_add(1, Ordering::SeqCst);
    Err(ApiError::Backend)
}

#[tokio::test(start_paused = true)]
async fn a_retry_starts_no_further_attempt_and_returns_the_error_it_has() {
    let _turn = TURN.lock().await;
    RETRY_ATTEMPTS.store(0, Ordering::SeqCst);
    let start = Instant::now();
    let call = tokio::spawn(retried());
    settle().await;
    sleep(MS * 1500).await; // the second attempt failed at 1s; sleeping until 2s
    assert_eq!(RETRY_ATTEMPTS.load(Ordering::SeqCst), 2);
    let report = lifecycle::drain(Duration::from_secs(10)).await;
    assert_eq!(report.took, Duration::ZERO, "no body was running");
    assert_eq!(call.await.unwrap(), Err(ApiError::Backend));
    assert_eq!(start.elapsed(), MS * 1500, "it woke when the drain began");
    assert_eq!(RETRY_ATTEMPTS.load(Ordering::SeqCst), 2, "no third attempt");
    // A retry whose attempt fails while draining returns at once.
    assert_eq!(retried().await, Err(ApiError::Backend));
    assert_eq!(RETRY_ATTEMPTS.load(Ordering::SeqCst), 3);
    assert_eq!(start.elapsed(), MS * 1500);

    // A blocking retry sleeping in another thread wakes too.
    lifecycle::resume();
    let attempts = Arc::new(AtomicU32::new(0));
    let counted = attempts.clone();
    let thread = std::thread::spawn(move || {
        let began = std::time::Instant::now();
        let r = retried_plain(&counted);
        (r, began.elapsed())
    });
    while attempts.load(Ordering::SeqCst) == 0 {
        std::thread::yield_now();
    }
    lifecycle::drain(Duration::ZERO).await;
    let (r, took) = thread.join().unwrap();
    assert_eq!(r, Err(ApiError::Backend));
    assert!(
        attempts.load(Ordering::SeqCst) < 5,
        "stopped between attempts"
    );
    assert!(took < Duration::from_millis(400), "{took:?}");
    lifecycle::resume();
}

fn failures(policy: PolicyKind, name: &str) -> u64 {
    registry::snapshot()
        .into_iter()
        .find(|s| s.policy == policy && s.name == name)
        .map_or(0, |s| s.failures)
}

#[tokio::test(start_paused = true)]
async fn a_retry_by_hand_stopped_by_a_drain_counts_its_failure() {
    let _turn = TURN.lock().await;
    let retry = resilience_runtime::Retry::builder()
        .name("lifecycle-by-hand-retry")
        .max_attempts(5)
        .backoff(resilience_runtime::backoff::Fixed::new(
            Duration::from_secs(1),
        ))
        .jitter(resilience_runtime::Jitter::None)
        .build()
        .unwrap();
    let attempts = Arc::new(AtomicU32::new(0));
    let counted = attempts.clone();
    let call = tokio::spawn(async move {
        retry
            .call(|| {
                counted.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(ApiError::Backend) }
            })
            .await
    });
    settle().await;
    sleep(MS * 500).await; // the first attempt failed; sleeping until 1s
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    lifecycle::drain(Duration::from_secs(10)).await;
    assert_eq!(call.await.unwrap(), Err(ApiError::Backend));
    assert_eq!(attempts.load(Ordering::SeqCst), 1, "no second attempt");
    assert_eq!(
        failures(PolicyKind::Retry, "lifecycle-by-hand-retry"),
        1,
        "the call stopped by the drain is counted as failed"
    );
    lifecycle::resume();
}
