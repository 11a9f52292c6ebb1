//! Weighted rate limits by hand: `check_n`, `acquire_n`, `call_n` and their keyed
//! forms, under paused tokio time. (The reference-model property is in
//! `rate_limit_proptest.rs`.)

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use resilience_runtime::rate_limit::{KeyedRateLimiter, Rate, RateLimiter};
use resilience_runtime::{Rejection, registry};
use tokio::time::Instant;

const MS: Duration = Duration::from_millis(1);

fn ten_per_second(name: &'static str, max_wait: Duration) -> RateLimiter {
    RateLimiter::builder(name)
        .rate(Rate::per_second(10))
        .burst(10)
        .max_wait(max_wait)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_cost_of_3_admits_3_at_once_then_waits_200ms_then_300ms_each() {
    let limiter = ten_per_second("weighted-waits", Duration::from_secs(10));
    let start = Instant::now();
    for _ in 0..3 {
        limiter.acquire_n(3).await.unwrap();
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(limiter.available(), 1, "9 of the 10 slots are spent");
    let mut at = Vec::new();
    for _ in 0..4 {
        limiter.acquire_n(3).await.unwrap();
        at.push(start.elapsed());
    }
    assert_eq!(at, [MS * 200, MS * 500, MS * 800, MS * 1_100]);
}

#[tokio::test(start_paused = true)]
async fn check_n_tells_the_exact_wait_for_n_slots_and_takes_nothing_when_refused() {
    let limiter = ten_per_second("weighted-check", Duration::ZERO);
    for _ in 0..3 {
        limiter.check_n(3).unwrap();
    }
    let refused = limiter.check_n(3).unwrap_err();
    assert_eq!(refused.retry_after(), Some(MS * 200));
    assert_eq!(limiter.check_n(1), Ok(()), "one slot was left");
    assert_eq!(
        limiter.check_n(2).unwrap_err().retry_after(),
        Some(MS * 200)
    );
    tokio::time::advance(MS * 200).await;
    limiter.check_n(2).unwrap();
    // A weighted call after a quiet period gets the whole burst, no more.
    tokio::time::advance(Duration::from_secs(60)).await;
    limiter.check_n(10).unwrap();
    assert!(limiter.check_n(1).is_err());
    // Cost 1 is the unweighted call.
    tokio::time::advance(Duration::from_secs(60)).await;
    for _ in 0..10 {
        limiter.check_n(1).unwrap();
    }
    assert_eq!(
        limiter.check().unwrap_err().retry_after(),
        limiter.check_n(1).unwrap_err().retry_after()
    );
}

#[tokio::test(start_paused = true)]
async fn a_cost_above_the_burst_is_refused_at_once_never_waiting() {
    let limiter = RateLimiter::builder("weighted-never")
        .rate(Rate::per_second(100))
        .max_wait(Duration::from_secs(3600))
        .register()
        .unwrap();
    let before = limiter.snapshot().rejections;
    let start = Instant::now();
    let refused = limiter.acquire_n(500).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(matches!(
        &refused,
        Rejection::RateLimited { name, retry_after } if name == "weighted-never" && *retry_after == Duration::MAX
    ));
    let message = refused.to_string();
    assert!(
        message.contains("costs 500 but the burst is 100"),
        "{message}"
    );
    assert!(!message.contains("next slot"), "{message}");
    assert_eq!(limiter.check_n(101).unwrap_err(), refused_with(&limiter));
    assert_eq!(limiter.available(), 100, "nothing was taken");
    assert_eq!(limiter.snapshot().rejections, before + 2);
    let ran = limiter
        .call_n(101, async { Ok::<_, Rejection>(()) })
        .await
        .unwrap_err();
    assert_eq!(ran.retry_after(), Some(Duration::MAX));
    assert!(registry::rate_limiter("weighted-never").is_some());
    // An unregistered limiter says so too.
    let own = ten_per_second("weighted-never-own", Duration::ZERO);
    let message = own.check_n(11).unwrap_err().to_string();
    assert!(
        message.contains("costs 11 but the burst is 10"),
        "{message}"
    );
}

fn refused_with(limiter: &RateLimiter) -> Rejection {
    Rejection::RateLimited {
        name: limiter.name().to_owned().into(),
        retry_after: Duration::MAX,
    }
}

#[tokio::test(start_paused = true)]
async fn a_cost_of_zero_takes_nothing() {
    let limiter = ten_per_second("weighted-zero", Duration::ZERO);
    limiter.check_n(10).unwrap();
    assert_eq!(limiter.check_n(0), Ok(()));
    assert_eq!(limiter.acquire_n(0).await, Ok(()));
    assert_eq!(
        limiter.check_n(1).unwrap_err().retry_after(),
        Some(MS * 100)
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_weighted_wait_gives_its_slots_back() {
    let limiter = ten_per_second("weighted-cancel", Duration::from_secs(10));
    limiter.check_n(10).unwrap();
    {
        let mut waiting = pin!(limiter.acquire_n(5));
        let poll = waiting
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
        assert!(poll.is_pending());
    } // dropped while it waits
    assert_eq!(
        limiter.check_n(5).unwrap_err().retry_after(),
        Some(MS * 500),
        "the 5 slots are free again"
    );
}

#[tokio::test(start_paused = true)]
async fn call_n_runs_the_call_once_its_slots_are_taken() {
    let limiter = ten_per_second("weighted-call", MS * 500);
    let start = Instant::now();
    assert_eq!(
        limiter.call_n(10, async { Ok::<_, Rejection>(1) }).await,
        Ok(1)
    );
    assert_eq!(
        limiter.call_n(4, async { Ok::<_, Rejection>(2) }).await,
        Ok(2)
    );
    assert_eq!(start.elapsed(), MS * 400);
    let refused = limiter
        .call_n(8, async { panic!("must not run") as Result<(), Rejection> })
        .await
        .unwrap_err();
    assert_eq!(refused.retry_after(), Some(MS * 800));
    assert_eq!(
        limiter.call_blocking_n(0, || Ok::<_, Rejection>(3)),
        Ok(3),
        "blocking, cost 0"
    );
    let s = limiter.snapshot();
    assert_eq!((s.calls, s.successes, s.rejections), (4, 3, 1));
}

#[tokio::test(start_paused = true)]
async fn keyed_weighted_limits_are_per_key() {
    let limiter = KeyedRateLimiter::builder("weighted-keyed")
        .rate(Rate::per_second(10))
        .max_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    let start = Instant::now();
    for _ in 0..3 {
        limiter.acquire_n(&"ann", 3).await.unwrap();
    }
    limiter.check_n(&"bob", 10).unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(
        limiter.check_n(&"ann", 3).unwrap_err().retry_after(),
        Some(MS * 200)
    );
    limiter.acquire_n(&"ann", 3).await.unwrap();
    assert_eq!(start.elapsed(), MS * 200);
    assert_eq!(
        limiter
            .call_n("ann", 3, async { Ok::<_, Rejection>(7) })
            .await,
        Ok(7)
    );
    assert_eq!(start.elapsed(), MS * 500);
    let never = limiter.check_n(&"carol", 11).unwrap_err();
    assert_eq!(never.retry_after(), Some(Duration::MAX));
    assert!(
        never.to_string().contains("costs 11 but the burst is 10"),
        "{never}"
    );
    assert_eq!(limiter.available(&"carol"), 10);
    assert_eq!(
        limiter
            .call_blocking_n("dave", 11, || Ok::<_, Rejection>(()))
            .unwrap_err()
            .retry_after(),
        Some(Duration::MAX)
    );
    let start = Instant::now();
    assert!(limiter.acquire_n(&"erin", 40).await.is_err());
    assert_eq!(start.elapsed(), Duration::ZERO);
}

/// A poll helper's type check: `acquire_n`'s future is `Send` (it may be spawned).
#[test]
fn acquire_n_is_send() {
    fn send<F: Future + Send>(_: F) {}
    let limiter = RateLimiter::builder("weighted-send")
        .rate(Rate::per_second(1))
        .build()
        .unwrap();
    send(limiter.acquire_n(1));
    send(limiter.call_n(1, async { Ok::<_, Rejection>(()) }));
    let _ = Poll::<()>::Pending;
}
