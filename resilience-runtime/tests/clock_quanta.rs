//! Feature `quanta`: the rate limiter, breakers' time windows and slow-call timing
//! read the TSC. Under real time (short, bounded); paused tokio time no longer
//! moves them.
#![cfg(feature = "quanta")]

use std::time::{Duration, Instant};

use resilience_runtime::circuit_breaker::Window;
use resilience_runtime::rate_limit::Rate;
use resilience_runtime::{CircuitBreaker, CircuitState, RateLimiter, Rejection};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test]
async fn the_rate_limiter_follows_real_time() {
    let l = RateLimiter::builder("quanta-rl")
        .rate(Rate::per_second(10))
        .burst(1)
        .build()
        .unwrap();
    let start = Instant::now();
    assert!(l.check().is_ok());
    let retry_after = l.check().unwrap_err().retry_after().unwrap();
    assert!(
        retry_after <= ms(100) && retry_after >= ms(100) - start.elapsed() - ms(1),
        "{retry_after:?}"
    );
    std::thread::sleep(retry_after + ms(2));
    assert!(
        l.check().is_ok(),
        "admitted once the slot came in real time"
    );
}

#[tokio::test(start_paused = true)]
async fn paused_time_no_longer_drives_the_rate_limiter() {
    let l = RateLimiter::builder("quanta-rl-paused")
        .rate(Rate::per_second(1))
        .burst(1)
        .build()
        .unwrap();
    assert!(l.check().is_ok());
    tokio::time::advance(Duration::from_secs(10)).await;
    assert!(
        l.check().is_err(),
        "the TSC did not move with tokio's clock"
    );
}

#[tokio::test]
async fn a_waiting_call_sleeps_until_its_slot_in_real_time() {
    let l = RateLimiter::builder("quanta-rl-wait")
        .rate(Rate::per_second(20))
        .burst(1)
        .max_wait(ms(200))
        .build()
        .unwrap();
    let start = Instant::now();
    for _ in 0..3 {
        l.call(async { Ok::<(), Rejection>(()) }).await.unwrap();
    }
    let took = start.elapsed();
    assert!(took >= ms(99) && took < ms(1000), "{took:?}");
}

#[tokio::test]
async fn slow_calls_are_timed_on_the_tsc() {
    let b = CircuitBreaker::builder("quanta-slow")
        .window(Window::Count(2))
        .min_calls(2)
        .slow_call(ms(20))
        .build()
        .unwrap();
    for _ in 0..2 {
        b.call(async {
            tokio::time::sleep(ms(30)).await;
            Ok::<(), Rejection>(())
        })
        .await
        .unwrap();
    }
    assert_eq!(b.state(), CircuitState::Open);
    let m = b.metrics();
    assert_eq!(m.slow_calls, 2, "{m:?}");
}

#[tokio::test(start_paused = true)]
async fn a_paused_sleep_is_not_a_slow_call() {
    let b = CircuitBreaker::builder("quanta-slow-paused")
        .window(Window::Count(2))
        .min_calls(2)
        .slow_call(ms(20))
        .build()
        .unwrap();
    for _ in 0..2 {
        b.call(async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<(), Rejection>(())
        })
        .await
        .unwrap();
    }
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test]
async fn the_time_window_forgets_calls_in_real_time() {
    let b = CircuitBreaker::builder("quanta-window")
        .window(Window::Time(ms(200)))
        .min_calls(2)
        .failure_rate(0.5)
        .build()
        .unwrap();
    let fail =
        || b.call(async { Err::<(), Rejection>(Rejection::ShuttingDown { name: "x".into() }) });
    let _ = fail().await;
    std::thread::sleep(ms(260));
    let _ = fail().await;
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "the first failure left the window"
    );
    assert_eq!(b.metrics().calls, 1);
    let _ = fail().await;
    assert_eq!(b.state(), CircuitState::Open);
}

/// A live change under feature `quanta`: the limiter counts in TSC ticks, and the new
/// settings are converted to ticks when they are applied.
#[cfg(feature = "config")]
#[tokio::test]
async fn a_live_change_takes_effect_on_the_tsc() {
    let l = RateLimiter::builder("quanta-rl-live")
        .rate(Rate::per_second(1))
        .burst(1)
        .register()
        .unwrap();
    assert!(l.check().is_ok());
    let before = l.check().unwrap_err().retry_after().unwrap();
    assert!(before > ms(900) && before <= ms(1000), "{before:?}");
    resilience_runtime::config::apply_toml(
        "[rate_limit.quanta-rl-live]\nrate = \"20/s\"\nmax_wait = \"200ms\"",
    )
    .unwrap();
    // The slot taken under the old rate is regained at the new one: within 50ms.
    let after = l.check().unwrap_err().retry_after().unwrap();
    assert!(after <= ms(50), "{after:?}");
    assert_eq!(l.max_wait(), ms(200));
    // The raised max_wait lets a call wait for its slot, in real time.
    let start = Instant::now();
    l.call(async { Ok::<(), Rejection>(()) }).await.unwrap();
    l.call(async { Ok::<(), Rejection>(()) }).await.unwrap();
    let took = start.elapsed();
    assert!(took >= ms(45) && took < ms(1000), "{took:?}");
}
