//! Feature `config`: settings by name, checked all or nothing, applied before first use
//! and live, keeping state; `watch` re-applies a file.
#![cfg(feature = "config")]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience_runtime::circuit_breaker::Window;
use resilience_runtime::config::{self, ConfigReport};
use resilience_runtime::events::PolicyKind;
use resilience_runtime::rate_limit::Rate;
use resilience_runtime::{
    Bulkhead, CircuitBreaker, CircuitState, RateLimiter, Rejection, bulkhead, retry, timeout,
};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum E {
    #[error("failed")]
    Failed,
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn apply(text: &str) -> ConfigReport {
    config::apply_toml(text).unwrap_or_else(|e| panic!("{e}"))
}

// ---------------------------------------------------------------------------------
// Circuit breaker
// ---------------------------------------------------------------------------------

const ALL_BREAKER_SETTINGS: &str = r#"
failure_rate = 0.25
min_calls = 4
consecutive_failures = 7
slow_call = "2s"
slow_call_rate = 0.75
open_for = "10s"
open_for_max = "80s"
open_for_factor = 4.0
half_open_calls = 3
max_wait_in_half_open = "30s"
"#;

fn expect_all_breaker_settings(b: &CircuitBreaker) {
    let debug = format!("{b:?}");
    for part in [
        "failure_rate: 0.25",
        "min_calls: 4",
        "consecutive_failures: 7",
        "slow_call: 2s",
        "slow_call_rate: 0.75",
        "open_for: 10s",
        "open_for_max: 80s",
        "open_for_factor: 4.0",
        "half_open_calls: 3",
        "max_wait_in_half_open: 30s",
    ] {
        assert!(debug.contains(part), "{part} missing from {debug}");
    }
}

#[tokio::test(start_paused = true)]
async fn every_breaker_setting_applies_before_first_use() {
    let report = apply(&format!(
        "[circuit_breaker.cfg-b-pending]\nwindow = \"time(60s)\"\n{ALL_BREAKER_SETTINGS}"
    ));
    assert!(report.is_pending(PolicyKind::CircuitBreaker, "cfg-b-pending"));
    let b = CircuitBreaker::builder("cfg-b-pending")
        .failure_rate(0.9)
        .open_for(Duration::from_secs(1))
        .register()
        .unwrap();
    expect_all_breaker_settings(&b);
    assert!(format!("{b:?}").contains("window: Time(60s)"), "{b:?}");
}

#[tokio::test(start_paused = true)]
async fn every_breaker_setting_applies_live() {
    let b = CircuitBreaker::builder("cfg-b-live")
        .window(Window::Count(10))
        .register()
        .unwrap();
    let report = apply(&format!(
        "[circuit_breaker.cfg-b-live]\n{ALL_BREAKER_SETTINGS}"
    ));
    assert_eq!(report.applied.len(), 1);
    assert!(report.pending.is_empty());
    expect_all_breaker_settings(&b);
}

/// The attribute's breaker, created with the pending settings on its first call.
#[resilience_runtime::circuit_breaker(name = "cfg-b-attr", failure_rate = 1.0, window = count(10), min_calls = 10)]
async fn guarded(fail: bool) -> Result<(), E> {
    if fail { Err(E::Failed) } else { Ok(()) }
}

#[tokio::test(start_paused = true)]
async fn the_attribute_breaker_takes_pending_settings_on_first_call() {
    apply("[circuit_breaker.cfg-b-attr]\nmin_calls = 2\nfailure_rate = 0.5");
    assert_eq!(guarded(true).await, Err(E::Failed));
    assert_eq!(guarded(true).await, Err(E::Failed));
    // The attribute says 10 calls at 100%; configuration said 2 at 50%: open now.
    assert!(matches!(
        guarded(false).await,
        Err(E::Rejected(Rejection::CircuitOpen { .. }))
    ));
}

#[tokio::test(start_paused = true)]
async fn a_live_change_keeps_an_open_breaker_open_with_its_window() {
    let b = CircuitBreaker::builder("cfg-b-state")
        .window(Window::Count(4))
        .min_calls(4)
        .failure_rate(0.5)
        .open_for(Duration::from_secs(60))
        .register()
        .unwrap();
    for _ in 0..4 {
        let _ = b.call(async { Err::<(), E>(E::Failed) }).await;
    }
    assert_eq!(b.state(), CircuitState::Open);
    let before = b.metrics();
    tokio::time::advance(Duration::from_secs(10)).await;
    apply(
        "[circuit_breaker.cfg-b-state]\nfailure_rate = 0.9\nopen_for = \"5s\"\nhalf_open_calls = 1",
    );
    // Still open, for the rest of the period it opened with, its window as it was.
    assert_eq!(b.state(), CircuitState::Open);
    let after = b.metrics();
    assert_eq!(after.failures, before.failures);
    assert_eq!(after.calls, before.calls);
    let Err(E::Rejected(r)) = b.call(async { Ok::<(), E>(()) }).await else {
        panic!("an open breaker admitted a call");
    };
    assert_eq!(r.retry_after(), Some(Duration::from_secs(50)));
    // The trial closes it (one trial, as configured) and the next opening is 5s.
    tokio::time::advance(Duration::from_secs(50)).await;
    assert_eq!(b.call(async { Ok::<(), E>(()) }).await, Ok(()));
    assert_eq!(b.state(), CircuitState::Closed);
    for _ in 0..4 {
        let _ = b.call(async { Err::<(), E>(E::Failed) }).await;
    }
    assert_eq!(b.state(), CircuitState::Open);
    let Err(E::Rejected(r)) = b.call(async { Ok::<(), E>(()) }).await else {
        panic!("an open breaker admitted a call");
    };
    assert_eq!(r.retry_after(), Some(Duration::from_secs(5)));
}

#[tokio::test(start_paused = true)]
async fn a_lowered_threshold_takes_effect_on_the_live_window() {
    let b = CircuitBreaker::builder("cfg-b-threshold")
        .window(Window::Count(10))
        .min_calls(4)
        .failure_rate(0.9)
        .register()
        .unwrap();
    for fail in [true, false, true, false] {
        let _ = b
            .call(async move {
                if fail {
                    Err::<(), E>(E::Failed)
                } else {
                    Ok(())
                }
            })
            .await;
    }
    assert_eq!(b.state(), CircuitState::Closed, "50% < 90%");
    apply("[circuit_breaker.cfg-b-threshold]\nfailure_rate = 0.5");
    let _ = b.call(async { Err::<(), E>(E::Failed) }).await;
    assert_eq!(b.state(), CircuitState::Open, "3 of 5 failed, 60% >= 50%");
}

async fn fail(b: &CircuitBreaker) {
    let _ = b.call(async { Err::<(), E>(E::Failed) }).await;
}

async fn succeed(b: &CircuitBreaker) {
    let _ = b.call(async { Ok::<(), E>(()) }).await;
}

fn retry_after(r: Result<(), E>) -> Option<Duration> {
    match r {
        Err(E::Rejected(r @ Rejection::CircuitOpen { .. })) => r.retry_after(),
        other => panic!("expected an open breaker's rejection, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_breaker_window_applies_before_first_use() {
    apply("[circuit_breaker.cfg-b-window-pending]\nwindow = \"count(2)\"");
    let b = CircuitBreaker::builder("cfg-b-window-pending")
        .window(Window::Count(100))
        .register()
        .unwrap();
    // count(100) would wait for 100 calls (min_calls is capped at the window's size).
    fail(&b).await;
    fail(&b).await;
    assert_eq!(b.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn a_new_count_window_takes_effect_live_and_the_state_is_kept() {
    let b = CircuitBreaker::builder("cfg-b-window-live")
        .window(Window::Count(10))
        .failure_rate(0.5)
        .open_for(Duration::from_secs(60))
        .half_open_calls(1)
        .register()
        .unwrap();
    for _ in 0..3 {
        succeed(&b).await;
    }
    assert_eq!(b.metrics().calls, 3);
    apply("[circuit_breaker.cfg-b-window-live]\nwindow = \"count(2)\"");
    assert!(format!("{b:?}").contains("window: Count(2)"), "{b:?}");
    // A new size starts an empty window (documented); the state stays closed.
    assert_eq!((b.state(), b.metrics().calls), (CircuitState::Closed, 0));
    fail(&b).await;
    fail(&b).await;
    // count(10) with its min_calls of 10 would still be closed after 5 calls.
    assert_eq!(
        b.state(),
        CircuitState::Open,
        "2 of the last 2 calls failed"
    );

    // While open, a change of window keeps it open, with what opened it and the rest
    // of its open period.
    tokio::time::advance(Duration::from_secs(20)).await;
    let opened = b.metrics();
    apply("[circuit_breaker.cfg-b-window-live]\nwindow = \"count(10)\"");
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(
        (b.metrics().calls, b.metrics().failures),
        (opened.calls, opened.failures)
    );
    assert_eq!(
        retry_after(b.call(async { Ok::<(), E>(()) }).await),
        Some(Duration::from_secs(40))
    );
    // The trial closes it into the new window, whose min_calls is capped anew (10,
    // not the 2 of the smaller window): two failures decide nothing now.
    tokio::time::advance(Duration::from_secs(40)).await;
    succeed(&b).await;
    assert_eq!(b.state(), CircuitState::Closed);
    fail(&b).await;
    fail(&b).await;
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().calls, 2);
}

#[cfg(not(feature = "quanta"))] // paused time drives the time window
#[tokio::test(start_paused = true)]
async fn a_time_window_takes_effect_live() {
    let b = CircuitBreaker::builder("cfg-b-window-time")
        .window(Window::Count(100))
        .min_calls(2)
        .failure_rate(0.5)
        .register()
        .unwrap();
    apply("[circuit_breaker.cfg-b-window-time]\nwindow = \"time(10s)\"");
    fail(&b).await;
    tokio::time::advance(Duration::from_secs(11)).await;
    // The first failure has left the 10s window: one call, below min_calls (a
    // count window would hold both and open).
    fail(&b).await;
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().calls, 1);
    tokio::time::advance(Duration::from_secs(1)).await;
    fail(&b).await;
    assert_eq!(
        b.state(),
        CircuitState::Open,
        "2 of 2 calls in the last 10s"
    );
    // And back to a count window, live: the open state is kept.
    apply("[circuit_breaker.cfg-b-window-time]\nwindow = \"count(3)\"");
    assert_eq!(b.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn keyed_breakers_take_settings_before_first_use() {
    apply("[circuit_breaker.cfg-k-pending]\nmin_calls = 2\nfailure_rate = 0.5");
    let keyed = CircuitBreaker::builder("cfg-k-pending")
        .window(Window::Count(10))
        .keyed()
        .max_keys(10)
        .register()
        .unwrap();
    for _ in 0..2 {
        let _ = keyed.call("a", async { Err::<(), E>(E::Failed) }).await;
    }
    // The builder's count(10) would need 10 calls.
    assert_eq!(keyed.get(&"a").unwrap().state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn a_live_change_reaches_the_keys_a_keyed_breaker_holds_keeping_their_state() {
    let keyed = CircuitBreaker::builder("cfg-k-live")
        .window(Window::Count(10))
        .failure_rate(1.0)
        .open_for(Duration::from_secs(60))
        .keyed()
        .max_keys(10)
        .register()
        .unwrap();
    let call = |key: &'static str, failed: bool| {
        let keyed = keyed.clone();
        async move {
            keyed
                .call(
                    key,
                    async move { if failed { Err(E::Failed) } else { Ok(()) } },
                )
                .await
        }
    };
    for _ in 0..10 {
        let _ = call("open", true).await;
    }
    assert_eq!(keyed.get(&"open").unwrap().state(), CircuitState::Open);
    for _ in 0..2 {
        let _ = call("closed", true).await;
    }
    tokio::time::advance(Duration::from_secs(10)).await;
    let report =
        apply("[circuit_breaker.cfg-k-live]\nfailure_rate = 0.5\nmin_calls = 3\nopen_for = \"5s\"");
    assert!(!report.is_pending(PolicyKind::CircuitBreaker, "cfg-k-live"));
    // The open key stays open for the rest of its period...
    assert_eq!(
        retry_after(call("open", false).await),
        Some(Duration::from_secs(50))
    );
    // ...the closed key keeps its window (2 failures) and takes the new thresholds:
    // a third failure is 3 calls, 100% >= 50% (before: 10 calls needed)...
    assert_eq!(keyed.get(&"closed").unwrap().metrics().calls, 2);
    let _ = call("closed", true).await;
    assert_eq!(keyed.get(&"closed").unwrap().state(), CircuitState::Open);
    assert_eq!(
        retry_after(call("closed", false).await),
        Some(Duration::from_secs(5))
    );
    // ...and a key that comes after the change has the new settings too.
    for _ in 0..3 {
        let _ = call("new", true).await;
    }
    assert_eq!(keyed.get(&"new").unwrap().state(), CircuitState::Open);
}

#[resilience_runtime::circuit_breaker(name = "cfg-k-attr", key = tenant, window = count(10), failure_rate = 1.0)]
async fn per_tenant(tenant: &'static str, fail: bool) -> Result<(), E> {
    if fail { Err(E::Failed) } else { Ok(()) }
}

#[tokio::test(start_paused = true)]
async fn the_keyed_attribute_breaker_changes_live() {
    for _ in 0..2 {
        assert_eq!(per_tenant("t", true).await, Err(E::Failed));
    }
    apply("[circuit_breaker.cfg-k-attr]\nmin_calls = 3\nfailure_rate = 0.5");
    assert_eq!(per_tenant("t", true).await, Err(E::Failed));
    assert!(retry_after(per_tenant("t", false).await).is_some());
    assert_eq!(
        per_tenant("u", false).await,
        Ok(()),
        "other keys stay closed"
    );
}

// ---------------------------------------------------------------------------------
// Rate limiter
// ---------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn every_rate_limit_setting_applies_before_first_use_and_live() {
    apply("[rate_limit.cfg-r-pending]\nrate = \"20/s\"\nburst = 3\nmax_wait = \"40ms\"");
    let l = RateLimiter::builder("cfg-r-pending")
        .rate(Rate::per_second(1))
        .register()
        .unwrap();
    assert_eq!(
        (l.rate(), l.burst(), l.max_wait()),
        (Rate::per_second(20), 3, ms(40))
    );
    assert_eq!(l.available(), 3);

    let live = RateLimiter::builder("cfg-r-live")
        .rate(Rate::per_second(1))
        .register()
        .unwrap();
    let report = apply("[rate_limit.cfg-r-live]\nrate = \"5/min\"\nburst = 2\nmax_wait = \"1s\"");
    assert!(!report.is_pending(PolicyKind::RateLimit, "cfg-r-live"));
    assert_eq!(
        (live.rate(), live.burst(), live.max_wait()),
        (Rate::per_minute(5), 2, Duration::from_secs(1))
    );
}

#[tokio::test(start_paused = true)]
async fn a_raised_rate_continues_the_limiters_schedule() {
    let l = RateLimiter::builder("cfg-r-schedule")
        .rate(Rate::per_second(1))
        .burst(1)
        .register()
        .unwrap();
    assert!(l.check().is_ok());
    assert_eq!(
        l.check().unwrap_err().retry_after(),
        Some(Duration::from_secs(1))
    );
    tokio::time::advance(ms(500)).await;
    apply("[rate_limit.cfg-r-schedule]\nrate = \"10/s\"");
    // Half the slot taken under the old rate is still to be regained: at the new
    // rate, in half of 100ms (not reset to a fresh limiter, not 500ms as before)...
    assert_eq!(l.check().unwrap_err().retry_after(), Some(ms(50)));
    tokio::time::advance(ms(50)).await;
    assert!(l.check().is_ok());
    // ...and from then on calls are 100ms apart.
    assert_eq!(l.check().unwrap_err().retry_after(), Some(ms(100)));
    tokio::time::advance(ms(100)).await;
    assert!(l.check().is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_spent_burst_is_regained_at_the_raised_rate() {
    apply("[rate_limit.cfg-r-burst]\nrate = \"5/s\"");
    let l = RateLimiter::builder("cfg-r-burst")
        .rate(Rate::per_second(100))
        .register()
        .unwrap();
    let mut before = 0;
    for _ in 0..60 {
        before += u32::from(l.check().is_ok());
        tokio::time::advance(ms(10)).await;
    }
    assert_eq!(before, 5 + 2, "the burst, then at 200ms and 400ms");
    apply("[rate_limit.cfg-r-burst]\nrate = \"50/s\"");
    let mut after = 0;
    for _ in 0..60 {
        after += u32::from(l.check().is_ok());
        tokio::time::advance(ms(10)).await;
    }
    // The 5 slots still owed are regained at 50/s (100ms), then one each 20ms.
    assert!((28..=31).contains(&after), "{after}");
}

#[resilience_runtime::rate_limit(name = "cfg-r-attr", rate = "1/s", burst = 1)]
async fn paced() -> Result<(), E> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_attribute_rate_limit_takes_pending_settings_on_first_call() {
    apply("[rate_limit.cfg-r-attr]\nburst = 3");
    for _ in 0..3 {
        assert_eq!(paced().await, Ok(()));
    }
    assert!(matches!(
        paced().await,
        Err(E::Rejected(Rejection::RateLimited { .. }))
    ));
}

// ---------------------------------------------------------------------------------
// Bulkhead
// ---------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn bulkhead_settings_apply_before_first_use() {
    apply("[bulkhead.cfg-h-pending]\nmax_concurrent = 7\nmax_wait = \"2s\"\nmax_waiting = 5");
    let b = Bulkhead::builder("cfg-h-pending")
        .max_concurrent(1)
        .register()
        .unwrap();
    assert_eq!(
        (b.limit(), b.max_wait(), b.max_waiting()),
        (7, Duration::from_secs(2), 5)
    );
    apply(
        "[bulkhead.cfg-h-adaptive]\nmax_concurrent = \"adaptive(initial = 4, min = 2, max = 9)\"",
    );
    let a = Bulkhead::builder("cfg-h-adaptive")
        .max_concurrent(1)
        .register()
        .unwrap();
    let adaptive = a.adaptive().expect("configured adaptive");
    assert_eq!(a.limit(), 4);
    assert_eq!(
        format!("{adaptive:?}"),
        format!("{:?}", resilience_runtime::bulkhead::Adaptive::new(4, 2, 9))
    );
}

#[tokio::test(start_paused = true)]
async fn a_raised_bulkhead_limit_keeps_its_running_calls() {
    let b = Bulkhead::builder("cfg-h-live")
        .max_concurrent(1)
        .register()
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let running = {
        let b = b.clone();
        tokio::spawn(async move {
            b.call(async move {
                let _ = rx.await;
                Ok::<(), E>(())
            })
            .await
        })
    };
    tokio::task::yield_now().await;
    assert_eq!(b.metrics().in_flight, 1);
    assert!(b.call(async { Ok::<(), E>(()) }).await.is_err());
    apply("[bulkhead.cfg-h-live]\nmax_concurrent = 2\nmax_wait = \"1s\"");
    assert_eq!((b.limit(), b.max_wait()), (2, Duration::from_secs(1)));
    assert_eq!(b.metrics().in_flight, 1, "the running call is kept");
    assert_eq!(b.call(async { Ok::<(), E>(()) }).await, Ok(()));
    tx.send(()).unwrap();
    assert_eq!(running.await.unwrap(), Ok(()));
}

#[bulkhead(name = "cfg-h-attr", max_concurrent = 1)]
async fn one_at_a_time(hold: Duration) -> Result<(), E> {
    tokio::time::sleep(hold).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_attribute_bulkhead_takes_pending_settings_on_first_call() {
    apply("[bulkhead.cfg-h-attr]\nmax_concurrent = 2");
    let (a, b, c) = tokio::join!(
        one_at_a_time(ms(10)),
        one_at_a_time(ms(10)),
        one_at_a_time(ms(10))
    );
    assert_eq!((a, b), (Ok(()), Ok(())));
    assert!(matches!(
        c,
        Err(E::Rejected(Rejection::BulkheadFull { .. }))
    ));
}

/// Holds one of `b`'s slots until the sender is dropped or sent to.
fn hold(
    b: &Bulkhead,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), E>>,
) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let b = b.clone();
    let task = tokio::spawn(async move {
        b.call(async move {
            let _ = rx.await;
            Ok::<(), E>(())
        })
        .await
    });
    (tx, task)
}

/// A call that would wait for a slot: refused at once (no time passes) or not.
async fn refused_at_once(b: &Bulkhead) -> bool {
    let start = tokio::time::Instant::now();
    let r = tokio::time::timeout(ms(1), b.call(async { Ok::<(), E>(()) })).await;
    matches!(r, Ok(Err(E::Rejected(Rejection::BulkheadFull { .. }))))
        && start.elapsed() == Duration::ZERO
}

#[tokio::test(start_paused = true)]
async fn max_waiting_applies_before_first_use() {
    apply("[bulkhead.cfg-h-waiting-pending]\nmax_waiting = 1");
    let b = Bulkhead::builder("cfg-h-waiting-pending")
        .max_concurrent(1)
        .max_wait(Duration::from_secs(10))
        .register()
        .unwrap();
    let (release, running) = hold(&b);
    tokio::task::yield_now().await;
    let (let_go, waiter) = hold(&b);
    tokio::task::yield_now().await;
    assert_eq!((b.metrics().in_flight, b.metrics().waiting), (1, 1));
    // The builder's line is unbounded; the configured one holds one waiter.
    assert!(refused_at_once(&b).await);
    release.send(()).unwrap();
    assert_eq!(running.await.unwrap(), Ok(()));
    drop(let_go);
    assert_eq!(waiter.await.unwrap(), Ok(()));
}

#[tokio::test(start_paused = true)]
async fn max_waiting_changes_live_keeping_the_calls_that_wait() {
    let b = Bulkhead::builder("cfg-h-waiting-live")
        .max_concurrent(1)
        .max_wait(Duration::from_secs(10))
        .register()
        .unwrap();
    let (release, running) = hold(&b);
    tokio::task::yield_now().await;
    let waiters: Vec<_> = (0..2).map(|_| hold(&b)).collect();
    tokio::task::yield_now().await;
    assert_eq!(b.metrics().waiting, 2);
    apply("[bulkhead.cfg-h-waiting-live]\nmax_waiting = 1");
    assert_eq!(b.max_waiting(), 1);
    // Both waiters keep their place; a newcomer is refused at once.
    assert_eq!((b.metrics().in_flight, b.metrics().waiting), (1, 2));
    assert!(refused_at_once(&b).await);
    apply("[bulkhead.cfg-h-waiting-live]\nmax_waiting = 3");
    let (let_third_go, third) = hold(&b);
    tokio::task::yield_now().await;
    assert_eq!(
        b.metrics().waiting,
        3,
        "a raised bound lets a newcomer wait"
    );
    release.send(()).unwrap();
    assert_eq!(running.await.unwrap(), Ok(()));
    for (tx, task) in waiters {
        drop(tx);
        assert_eq!(task.await.unwrap(), Ok(()));
    }
    drop(let_third_go);
    assert_eq!(third.await.unwrap(), Ok(()));
}

async fn failures(b: &Bulkhead, n: usize) {
    for _ in 0..n {
        let _ = b.call(async { Err::<(), E>(E::Failed) }).await;
    }
}

#[tokio::test(start_paused = true)]
async fn adaptive_bounds_apply_before_first_use() {
    apply(
        "[bulkhead.cfg-h-bounds-pending]\nmax_concurrent = \"adaptive(initial = 4, min = 2, max = 5)\"",
    );
    let b = Bulkhead::builder("cfg-h-bounds-pending")
        .adaptive(
            resilience_runtime::bulkhead::Adaptive::new(10, 1, 100)
                .algorithm(resilience_runtime::bulkhead::AdaptiveAlgorithm::Aimd),
        )
        .register()
        .unwrap();
    assert_eq!(b.limit(), 4);
    // Each failure takes 10% off; the configured floor holds (the builder's is 1).
    failures(&b, 30).await;
    assert_eq!(b.limit(), 2);
    let a = b.adaptive().unwrap();
    assert_eq!((a.min(), a.max()), (2, 5));
    assert_eq!(
        a.get_algorithm(),
        resilience_runtime::bulkhead::AdaptiveAlgorithm::Aimd,
        "configuration gives bounds, not an algorithm"
    );
}

#[tokio::test(start_paused = true)]
async fn adaptive_bounds_change_live_keeping_the_estimate() {
    let b = Bulkhead::builder("cfg-h-bounds-live")
        .adaptive(resilience_runtime::bulkhead::Adaptive::new(10, 1, 100))
        .register()
        .unwrap();
    failures(&b, 5).await;
    assert_eq!(b.limit(), 5, "10 x 0.9^5 = 5.9");
    let (release, running) = hold(&b);
    tokio::task::yield_now().await;
    apply(
        "[bulkhead.cfg-h-bounds-live]\nmax_concurrent = \"adaptive(initial = 20, min = 7, max = 50)\"",
    );
    // Raised into the new floor at once (not restarted at `initial`), the running
    // call kept.
    assert_eq!(b.limit(), 7);
    assert_eq!(b.metrics().in_flight, 1);
    let a = b.adaptive().unwrap();
    assert_eq!((a.min(), a.max()), (7, 50));
    release.send(()).unwrap();
    assert_eq!(running.await.unwrap(), Ok(()));
    failures(&b, 30).await;
    assert_eq!(b.limit(), 7, "the new floor holds (the old one was 1)");
    apply(
        "[bulkhead.cfg-h-bounds-live]\nmax_concurrent = \"adaptive(initial = 1, min = 1, max = 3)\"",
    );
    assert_eq!(b.limit(), 3, "lowered under the new ceiling at once");

    // A live bulkhead keeps its kind of limit: a fixed one is refused, nothing changes.
    let e =
        config::apply_toml("[bulkhead.cfg-h-bounds-live]\nmax_concurrent = 9\nmax_wait = \"1s\"")
            .unwrap_err();
    assert_eq!(e.field, "max_concurrent");
    assert!(
        e.to_string()
            .contains("adaptive limit (now 3, within 1..=3)"),
        "{e}"
    );
    assert_eq!((b.limit(), b.max_wait()), (3, Duration::ZERO));
}

#[tokio::test(start_paused = true)]
async fn a_fixed_bulkhead_in_use_refuses_an_adaptive_limit() {
    let b = Bulkhead::builder("cfg-h-kind")
        .max_concurrent(4)
        .register()
        .unwrap();
    let e = config::apply_toml(
        "[bulkhead.cfg-h-kind]\nmax_concurrent = \"adaptive(initial = 2, min = 1, max = 9)\"",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid bulkhead configuration: [bulkhead.cfg-h-kind] `max_concurrent` cannot turn a bulkhead in use with a fixed limit (4) into an adaptive one; write a whole number (the kind of limit is chosen when the bulkhead is created)"
    );
    assert!(b.adaptive().is_none());
}

// ---------------------------------------------------------------------------------
// Timeout
// ---------------------------------------------------------------------------------

#[timeout(after = "1s", name = "cfg-t-pending")]
async fn slow_pending(d: Duration) -> Result<(), E> {
    tokio::time::sleep(d).await;
    Ok(())
}

#[timeout(after = "1s", name = "cfg-t-live")]
async fn slow_live(d: Duration) -> Result<(), E> {
    tokio::time::sleep(d).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn timeout_after_applies_before_first_use_and_live() {
    let report = apply("[timeout.cfg-t-pending]\nafter = \"50ms\"");
    assert!(report.is_pending(PolicyKind::Timeout, "cfg-t-pending"));
    assert!(matches!(
        slow_pending(ms(100)).await,
        Err(E::Rejected(Rejection::Timeout { after, .. })) if after == ms(50)
    ));

    assert_eq!(slow_live(ms(100)).await, Ok(()));
    let report = apply("[timeout.cfg-t-live]\nafter = \"50ms\"");
    assert!(!report.is_pending(PolicyKind::Timeout, "cfg-t-live"));
    assert!(matches!(
        slow_live(ms(100)).await,
        Err(E::Rejected(Rejection::Timeout { .. }))
    ));
}

// ---------------------------------------------------------------------------------
// Retry
// ---------------------------------------------------------------------------------

static PENDING_ATTEMPTS: AtomicU32 = AtomicU32::new(0);
static LIVE_ATTEMPTS: AtomicU32 = AtomicU32::new(0);

#[retry(name = "cfg-retry-pending", max_attempts = 2, backoff = none, jitter = none)]
async fn flaky_pending() -> Result<(), E> {
    PENDING_ATTEMPTS.fetch_add(1, Ordering::Relaxed);
    Err(E::Failed)
}

#[retry(name = "cfg-retry-live", max_attempts = 2, backoff = none, jitter = none)]
async fn flaky_live() -> Result<(), E> {
    LIVE_ATTEMPTS.fetch_add(1, Ordering::Relaxed);
    Err(E::Failed)
}

#[tokio::test(start_paused = true)]
async fn every_retry_setting_applies_before_first_use() {
    apply(
        "[retry.cfg-retry-pending]\nmax_attempts = 5\nbackoff = \"fixed(1s)\"\njitter = \"none\"\nmax_elapsed = \"2.5s\"",
    );
    let start = tokio::time::Instant::now();
    assert_eq!(flaky_pending().await, Err(E::Failed));
    // Fixed 1s sleeps, no jitter; a third sleep would end past 2.5s.
    assert_eq!(PENDING_ATTEMPTS.load(Ordering::Relaxed), 3);
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn every_retry_setting_applies_live() {
    assert_eq!(flaky_live().await, Err(E::Failed));
    assert_eq!(LIVE_ATTEMPTS.swap(0, Ordering::Relaxed), 2);
    let report = apply(
        "[retry.cfg-retry-live]\nmax_attempts = 4\nbackoff = 'exponential(initial = \"100ms\", factor = 3.0, max = \"10s\")'\njitter = \"none\"",
    );
    assert!(!report.is_pending(PolicyKind::Retry, "cfg-retry-live"));
    let start = tokio::time::Instant::now();
    assert_eq!(flaky_live().await, Err(E::Failed));
    assert_eq!(LIVE_ATTEMPTS.swap(0, Ordering::Relaxed), 4);
    assert_eq!(start.elapsed(), ms(100 + 300 + 900));
    apply("[retry.cfg-retry-live]\nmax_elapsed = \"500ms\"");
    let start = tokio::time::Instant::now();
    assert_eq!(flaky_live().await, Err(E::Failed));
    assert_eq!(
        LIVE_ATTEMPTS.swap(0, Ordering::Relaxed),
        3,
        "100ms + 300ms, then 900ms is past 500ms"
    );
    assert_eq!(start.elapsed(), ms(400));
}

// ---------------------------------------------------------------------------------
// Refusals: all or nothing
// ---------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_bad_value_is_refused_with_nothing_applied() {
    let l = RateLimiter::builder("cfg-x-bad")
        .rate(Rate::per_second(1))
        .register()
        .unwrap();
    let e = config::apply_toml(
        "[rate_limit.cfg-x-bad]\nrate = \"50/s\"\n\n[circuit_breaker.cfg-x-bad-b]\nfailure_rate = 1.5",
    )
    .unwrap_err();
    assert_eq!((e.policy, e.field), ("circuit_breaker", "failure_rate"));
    assert_eq!(e.name.as_deref(), Some("cfg-x-bad-b"));
    assert_eq!(
        e.to_string(),
        "invalid circuit_breaker configuration: [circuit_breaker.cfg-x-bad-b] `failure_rate` must be in (0, 1], got 1.5"
    );
    assert_eq!(
        l.rate(),
        Rate::per_second(1),
        "the valid table was not applied"
    );
    // Nor is it pending: a breaker made now has its own settings.
    let b = CircuitBreaker::builder("cfg-x-bad-b")
        .failure_rate(0.5)
        .register()
        .unwrap();
    assert!(format!("{b:?}").contains("failure_rate: 0.5"));

    for (text, words) in [
        (
            "[rate_limit.a]\nrate = \"100 per second\"",
            "write a rate like \"100/s\"",
        ),
        (
            "[timeout.a]\nafter = \"2 secs\"",
            "unknown unit `secs` in `2 secs` (did you mean `2s`?)",
        ),
        (
            "[retry.a]\nmax_attempts = 0",
            "`max_attempts` must be in 1..=4294967295, got 0",
        ),
        (
            "[circuit_breaker.a]\nwindow = \"count(0)\"",
            "count(N) needs 1 <= N <= 1000000, got 0",
        ),
        (
            "[circuit_breaker.a]\nhalf_open_calls = 5000",
            "must be in 1..=4095, got 5000",
        ),
        (
            "[bulkhead.a]\nmax_concurrent = 0",
            "`max_concurrent` must be in 1..=",
        ),
        (
            "[retry.a]\njitter = \"some\"",
            "write \"none\", \"full\", \"equal\" or \"decorrelated\"",
        ),
        (
            "[circuit_breaker.a]\nopen_for = 10",
            "expected a duration, got 10",
        ),
    ] {
        let e = config::apply_toml(text).unwrap_err().to_string();
        assert!(e.contains(words), "{text}: {e}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_bad_combination_with_a_live_policy_is_refused() {
    let b = CircuitBreaker::builder("cfg-x-combo")
        .open_for(Duration::from_secs(10))
        .register()
        .unwrap();
    let e = config::apply_toml("[circuit_breaker.cfg-x-combo]\nopen_for_max = \"5s\"").unwrap_err();
    assert_eq!(e.field, "open_for_max");
    assert!(
        e.to_string().contains("[circuit_breaker.cfg-x-combo]"),
        "{e}"
    );
    assert!(!format!("{b:?}").contains("open_for_max"));
}

#[tokio::test(start_paused = true)]
async fn an_unknown_setting_is_refused_with_the_nearest_suggested() {
    let l = RateLimiter::builder("cfg-x-unknown")
        .rate(Rate::per_second(1))
        .register()
        .unwrap();
    let e =
        config::apply_toml("[rate_limit.cfg-x-unknown]\nrate = \"9/s\"\nbrust = 3").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid rate_limit configuration: [rate_limit.cfg-x-unknown] unknown setting `brust`; did you mean `burst`? valid settings: rate, burst, max_wait"
    );
    assert_eq!(l.rate(), Rate::per_second(1));
    let e = config::apply_toml("[retry.x]\nretry_if = \"is_transient\"").unwrap_err();
    assert_eq!(e.field, "retry_if");
    assert!(e.to_string().contains("not configurable"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn an_unknown_table_is_refused_with_nothing_applied() {
    let l = RateLimiter::builder("cfg-x-table")
        .rate(Rate::per_second(1))
        .register()
        .unwrap();
    let e = config::apply_toml(
        "[rate_limit.cfg-x-table]\nrate = \"9/s\"\n\n[circuit_braker.p]\nopen_for = \"1s\"",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid configuration: unknown table `[circuit_braker]`; did you mean `circuit_breaker`? valid tables: circuit_breaker, retry, timeout, bulkhead, rate_limit"
    );
    assert_eq!(l.rate(), Rate::per_second(1));
    let e = config::apply_toml("not toml [").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("invalid configuration: is not valid TOML"),
        "{e}"
    );
}

#[test]
fn settings_come_from_any_serde_format() {
    let settings: config::Settings =
        serde_json::from_str(r#"{ "rate_limit": { "cfg-json": { "rate": "7/s", "burst": 2 } } }"#)
            .unwrap();
    let report = config::apply(settings).unwrap();
    assert!(report.is_pending(PolicyKind::RateLimit, "cfg-json"));
    let l = RateLimiter::builder("cfg-json")
        .rate(Rate::per_second(1))
        .register()
        .unwrap();
    assert_eq!((l.rate(), l.burst()), (Rate::per_second(7), 2));
}

// ---------------------------------------------------------------------------------
// watch (real time, bounded)
// ---------------------------------------------------------------------------------

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            std::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        std::thread::sleep(ms(20));
    }
}

#[test]
fn watch_picks_up_an_edit_and_a_broken_edit_leaves_the_old_settings() {
    let dir = std::env::temp_dir().join(format!("resilience-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("policies.toml");
    std::fs::write(&path, "[rate_limit.cfg-watch]\nrate = \"10/s\"\n").unwrap();
    let watch = config::watch(&path).unwrap();
    let l = RateLimiter::builder("cfg-watch")
        .rate(Rate::per_second(1))
        .register()
        .unwrap();
    assert_eq!(l.rate(), Rate::per_second(10));

    std::fs::write(&path, "[rate_limit.cfg-watch]\nrate = \"20/s\"\n").unwrap();
    wait_until("the edit", || l.rate() == Rate::per_second(20));
    assert_eq!(watch.applied(), 2);
    assert!(watch.last_error().is_none());

    std::fs::write(&path, "[rate_limit.cfg-watch]\nrate = \"fast\"\n").unwrap();
    wait_until("the refusal", || watch.last_error().is_some());
    assert_eq!(watch.last_error().unwrap().field, "rate");
    assert_eq!(l.rate(), Rate::per_second(20), "the settings in force stay");

    std::fs::write(&path, "[rate_limit.cfg-watch]\nrate = \"30/s\"\n").unwrap();
    wait_until("the fix", || l.rate() == Rate::per_second(30));
    assert!(watch.last_error().is_none());
    drop(watch);
    std::fs::write(&path, "[rate_limit.cfg-watch]\nrate = \"40/s\"\n").unwrap();
    std::thread::sleep(config::WATCH_INTERVAL * 3);
    assert_eq!(l.rate(), Rate::per_second(30), "a dropped watch stops");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn watch_refuses_a_missing_or_broken_first_file() {
    let e = config::watch("/nonexistent/resilience.toml").unwrap_err();
    assert!(e.to_string().contains("cannot read"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn a_live_change_keeps_the_breakers_health_probe() {
    let b = CircuitBreaker::builder("cfg-b-probe")
        .open_for(Duration::from_secs(60))
        .probe(|| async { true }, Duration::from_secs(1))
        .register()
        .unwrap();
    apply("[circuit_breaker.cfg-b-probe]\nfailure_rate = 0.2");
    assert!(format!("{b:?}").contains("failure_rate: 0.2"), "{b:?}");
    b.transition_to_open();
    tokio::time::sleep(ms(1_100)).await;
    assert_eq!(b.state(), CircuitState::HalfOpen, "the probe still runs");
}
