//! `deadline::within` and `deadline::remaining` through every policy that waits:
//! timeouts shortened, retries that would sleep past the deadline stopped, bulkhead
//! and rate-limit waits that would end past it refused at once; nesting, `.await`s
//! and spawned tasks. Paused tokio time throughout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use resilience_runtime::{Rejection, bulkhead, deadline, rate_limit, retry, timeout};
use tokio::time::{Instant, sleep};

const MS: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum ApiError {
    #[error("backend failed")]
    Backend,
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

fn rejection(err: &ApiError) -> &Rejection {
    match err {
        ApiError::Rejected(r) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn within_returns_the_result_in_time_and_a_deadline_timeout_after_it() {
    let start = Instant::now();
    let ok: Result<u32, ApiError> = deadline::within(MS * 100, async {
        sleep(MS * 100 - Duration::from_nanos(1)).await;
        Ok(7)
    })
    .await;
    assert_eq!(ok, Ok(7));

    let dropped = Arc::new(AtomicBool::new(false));
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let guard = SetOnDrop(dropped.clone());
    let start_late = Instant::now();
    let late: Result<u32, ApiError> = deadline::within(MS * 100, async move {
        let _guard = guard;
        sleep(Duration::from_secs(5)).await;
        Ok(1)
    })
    .await;
    assert_eq!(
        start_late.elapsed(),
        MS * 100,
        "gives up at the deadline exactly"
    );
    assert!(dropped.load(Ordering::SeqCst), "the future was dropped");
    let err = late.unwrap_err();
    let Rejection::Timeout { name, after } = rejection(&err) else {
        panic!("{err:?}");
    };
    assert_eq!((name.as_ref(), *after), ("deadline", MS * 100));
    assert!(start.elapsed() >= MS * 200);
}

#[tokio::test(start_paused = true)]
async fn remaining_follows_awaits_and_is_none_outside() {
    assert_eq!(deadline::remaining(), None);
    let r: Result<(), ApiError> = deadline::within(Duration::from_secs(1), async {
        assert_eq!(deadline::remaining(), Some(Duration::from_secs(1)));
        sleep(MS * 300).await;
        // Across an `.await`, and inside a function it calls.
        async fn nested() -> Option<Duration> {
            tokio::task::yield_now().await;
            deadline::remaining()
        }
        assert_eq!(nested().await, Some(MS * 700));
        Ok(())
    })
    .await;
    r.unwrap();
    assert_eq!(deadline::remaining(), None);
}

#[tokio::test(start_paused = true)]
async fn spawned_tasks_do_not_inherit_the_deadline() {
    let start = Instant::now();
    let (inside, handle) = deadline::within(Duration::from_secs(1), async {
        let inside = tokio::spawn(async { deadline::remaining() }).await.unwrap();
        // A task spawned inside the deadline, awaited after it.
        let handle = tokio::spawn(two_second_timeout(Duration::from_secs(3)));
        Ok::<_, ApiError>((inside, handle))
    })
    .await
    .unwrap();
    assert_eq!(inside, None, "a spawned task runs on its own");
    let err = handle.await.unwrap().unwrap_err();
    assert!(
        matches!(rejection(&err), Rejection::Timeout { after, .. } if *after == Duration::from_secs(2)),
        "the spawned task's timeout keeps its own limit: {err:?}"
    );
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

#[timeout("2s")]
async fn two_second_timeout(work: Duration) -> Result<Duration, ApiError> {
    sleep(work).await;
    Ok(work)
}

#[tokio::test(start_paused = true)]
async fn a_timeout_waits_at_most_the_time_left() {
    let start = Instant::now();
    let r = deadline::within(Duration::from_secs(10), async {
        sleep(Duration::from_secs(9)).await;
        two_second_timeout(Duration::from_secs(5)).await
    })
    .await;
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    let err = r.unwrap_err();
    let Rejection::Timeout { name, after } = rejection(&err) else {
        panic!("{err:?}");
    };
    assert_eq!(
        (name.as_ref(), *after),
        ("deadline::two_second_timeout", Duration::from_secs(1)),
        "the timeout's own rejection, with the limit it had"
    );
    // With time to spare the timeout keeps its own limit.
    let start = Instant::now();
    let r = deadline::within(
        Duration::from_secs(10),
        two_second_timeout(Duration::from_secs(5)),
    )
    .await;
    assert!(matches!(
        r.as_ref().map_err(rejection),
        Err(Rejection::Timeout { after, .. }) if *after == Duration::from_secs(2)
    ));
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

static ATTEMPTS: AtomicU32 = AtomicU32::new(0);

#[retry(max_attempts = 10, backoff = fixed("300ms"), jitter = none)]
async fn flaky(work: Duration) -> Result<(), ApiError> {
    ATTEMPTS.fetch_add(1, Ordering::SeqCst);
    sleep(work).await;
    Err(ApiError::Backend)
}

#[tokio::test(start_paused = true)]
async fn a_retry_begins_no_sleep_that_would_end_past_the_deadline() {
    ATTEMPTS.store(0, Ordering::SeqCst);
    let start = Instant::now();
    // Attempts at 0, 400 and 800ms (100ms each, then 300ms sleeps); the sleep after
    // the third would end at 1.2s, past the deadline of 1s.
    let r = deadline::within(Duration::from_secs(1), flaky(MS * 100)).await;
    assert_eq!(
        r,
        Err(ApiError::Backend),
        "the last error, not a deadline timeout"
    );
    assert_eq!(start.elapsed(), MS * 900);
    assert_eq!(ATTEMPTS.load(Ordering::SeqCst), 3);
    // A sleep that ends exactly at the deadline is begun; the attempt after it is then
    // cut by `within` itself.
    ATTEMPTS.store(0, Ordering::SeqCst);
    let start = Instant::now();
    let r = deadline::within(MS * 700, flaky(MS * 50)).await;
    // Attempts at 0 and 350ms; the sleep after the second ends at 700ms exactly.
    assert!(matches!(
        r.as_ref().map_err(rejection),
        Err(Rejection::Timeout { name, .. }) if name == "deadline"
    ));
    assert_eq!(start.elapsed(), MS * 700);
    assert_eq!(ATTEMPTS.load(Ordering::SeqCst), 3);
}

#[bulkhead(max_concurrent = 1, max_wait = "500ms")]
async fn one_at_a_time(work: Duration) -> Result<(), ApiError> {
    sleep(work).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_bulkhead_wait_that_would_end_past_the_deadline_is_refused_at_once() {
    let holder = tokio::spawn(one_at_a_time(Duration::from_secs(1)));
    tokio::task::yield_now().await;
    let start = Instant::now();
    let r = deadline::within(MS * 300, one_at_a_time(MS)).await;
    assert_eq!(start.elapsed(), Duration::ZERO, "refused at once");
    let err = r.unwrap_err();
    let full = rejection(&err);
    assert!(matches!(full, Rejection::BulkheadFull { .. }), "{err:?}");
    assert!(
        full.to_string().contains(
            "the request's deadline ends before max_wait 500ms would, so it did not wait"
        ),
        "{full}"
    );
    // With time for the whole wait, it waits as usual (and gets the slot at 1s).
    let r = deadline::within(Duration::from_secs(2), async {
        sleep(MS * 600).await;
        one_at_a_time(MS).await
    })
    .await;
    assert_eq!(r, Ok(()));
    assert_eq!(start.elapsed(), Duration::from_secs(1) + MS);
    holder.await.unwrap().unwrap();
}

#[rate_limit(rate = "2/s", burst = 1, max_wait = "2s")]
async fn paced() -> Result<(), ApiError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_wait_past_the_deadline_is_refused_at_once_and_its_slot_kept_free() {
    paced().await.unwrap(); // the burst of 1; the next slot is 500ms away
    let start = Instant::now();
    let r = deadline::within(MS * 400, paced()).await;
    assert_eq!(start.elapsed(), Duration::ZERO, "refused at once");
    let err = r.unwrap_err();
    assert_eq!(rejection(&err).retry_after(), Some(MS * 500), "{err:?}");
    // The refused call gave its slot back: the next one waits 500ms, not 1s.
    let r = deadline::within(MS * 500, paced()).await;
    assert_eq!(r, Ok(()));
    assert_eq!(start.elapsed(), MS * 500);
}

#[tokio::test(start_paused = true)]
async fn nested_deadlines_keep_the_earlier() {
    let start = Instant::now();
    let r: Result<(), ApiError> = deadline::within(Duration::from_secs(1), async {
        // A later inner deadline does not extend the outer one.
        let inner: Result<(), ApiError> = deadline::within(Duration::from_secs(5), async {
            assert_eq!(deadline::remaining(), Some(Duration::from_secs(1)));
            sleep(Duration::from_secs(3)).await;
            Ok(())
        })
        .await;
        let err = inner.unwrap_err();
        assert!(matches!(
            rejection(&err),
            Rejection::Timeout { name, after } if name == "deadline" && *after == Duration::from_secs(1)
        ));
        Ok(())
    })
    .await;
    // The inner `within` gave up at the common deadline, and the outer one then
    // returned the inner's result (or its own timeout, at the same instant).
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    let _ = r;

    // An earlier inner deadline applies inside it, and the outer one after it.
    let r: Result<(), ApiError> = deadline::within(Duration::from_secs(10), async {
        let inner: Result<(), ApiError> = deadline::within(Duration::from_secs(2), async {
            assert_eq!(deadline::remaining(), Some(Duration::from_secs(2)));
            Ok(())
        })
        .await;
        inner?;
        assert_eq!(deadline::remaining(), Some(Duration::from_secs(10)));
        Ok(())
    })
    .await;
    r.unwrap();
}
