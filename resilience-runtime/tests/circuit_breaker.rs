//! Behaviour of the circuit breaker runtime, by hand (no macro): every setting, the
//! transitions and their exact timing, the messages, the registry, keyed breakers.
//! Time-based tests run on tokio's paused clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience_runtime::circuit_breaker::{
    CircuitBreakerBuilder, MAX_HALF_OPEN_CALLS, MAX_WINDOW_CALLS, Transition, Window,
};
use resilience_runtime::{CircuitBreaker, CircuitState, KeyedCircuitBreaker, Rejection, registry};
use tokio::time::{Instant, advance, sleep};

#[derive(Debug, Clone, PartialEq)]
enum Error {
    Down,
    NotFound,
    Rejected(Rejection),
}

impl From<Rejection> for Error {
    fn from(r: Rejection) -> Self {
        Error::Rejected(r)
    }
}

fn ok(b: &CircuitBreaker) -> Result<(), Error> {
    b.call_blocking(|| Ok(()))
}

fn fail(b: &CircuitBreaker) -> Result<(), Error> {
    b.call_blocking(|| Err(Error::Down))
}

fn rejection(result: Result<(), Error>) -> Rejection {
    match result {
        Err(Error::Rejected(r)) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn is_rejected(result: &Result<(), Error>) -> bool {
    matches!(result, Err(Error::Rejected(_)))
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Opens `b` (a count window of `n` with `min_calls` ≤ `n`) with `n` failures.
fn trip(b: &CircuitBreaker, n: usize) {
    for _ in 0..n {
        let _ = fail(b);
    }
    // Half-open already if the open time is zero.
    assert!(
        matches!(b.state(), CircuitState::Open | CircuitState::HalfOpen),
        "{:?}",
        b.state()
    );
}

/// Records every transition of the breaker it is given to.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Transition>>>);

impl Log {
    fn listen(&self, builder: CircuitBreakerBuilder) -> CircuitBreakerBuilder {
        let log = self.clone();
        builder.on_transition(move |t| log.0.lock().unwrap().push(t.clone()))
    }
    fn states(&self) -> Vec<(CircuitState, CircuitState)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|t| (t.from, t.to))
            .collect()
    }
    fn last(&self) -> Transition {
        self.0.lock().unwrap().last().cloned().unwrap()
    }
}

// ---------------------------------------------------------------------------------
// Defaults and thresholds
// ---------------------------------------------------------------------------------

#[test]
fn defaults_window_of_100_min_calls_100_rate_half() {
    let b = CircuitBreaker::builder("defaults").build().unwrap();
    // 99 calls, 50 of them failures: no decision before 100 calls.
    for _ in 0..49 {
        ok(&b).unwrap();
    }
    for _ in 0..50 {
        let _ = fail(&b);
    }
    assert_eq!(b.state(), CircuitState::Closed);
    // The 100th call, a success: 50 of 100 failed, 50% >= 50% opens (inclusive).
    ok(&b).unwrap();
    assert_eq!(b.state(), CircuitState::Open);
    let m = b.metrics();
    assert_eq!((m.calls, m.failures), (100, 50));
    assert_eq!(m.failure_rate, 0.5);
}

#[test]
fn below_the_rate_stays_closed() {
    let b = CircuitBreaker::builder("below")
        .window(Window::Count(10))
        .build()
        .unwrap();
    for i in 0..1_000 {
        // 4 failures in every 10 calls: 40% < 50%.
        let _ = if i % 10 < 4 { fail(&b) } else { ok(&b) };
        assert_eq!(b.state(), CircuitState::Closed, "call {i}");
    }
}

#[test]
fn min_calls_defaults_to_the_count_window_size() {
    let b = CircuitBreaker::builder("min-calls-capped")
        .window(Window::Count(5))
        .build()
        .unwrap();
    for _ in 0..4 {
        let _ = fail(&b);
    }
    assert_eq!(b.state(), CircuitState::Closed);
    let _ = fail(&b);
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn explicit_min_calls_above_the_window_is_capped() {
    let b = CircuitBreaker::builder("min-calls-above")
        .window(Window::Count(3))
        .min_calls(50)
        .build()
        .unwrap();
    trip(&b, 3);
}

#[test]
fn a_success_can_complete_min_calls_and_open() {
    let b = CircuitBreaker::builder("success-decides")
        .window(Window::Count(10))
        .min_calls(4)
        .build()
        .unwrap();
    let _ = fail(&b);
    let _ = fail(&b);
    ok(&b).unwrap();
    assert_eq!(b.state(), CircuitState::Closed);
    ok(&b).unwrap(); // 2 of 4 = 50%
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn count_window_slides_over_the_last_n_calls() {
    let b = CircuitBreaker::builder("sliding")
        .window(Window::Count(4))
        .failure_rate(0.75)
        .build()
        .unwrap();
    // F F S S: 50%. Then S (first F leaves): 25%. Then F F: window S S F F = 50%.
    for outcome in [false, false, true, true, true, false, false] {
        let _ = if outcome { ok(&b) } else { fail(&b) };
    }
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().failures, 2);
    // One more failure: S F F F = 75% >= 75%.
    let _ = fail(&b);
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(b.metrics().failures, 3);
}

#[test]
fn failure_rate_one_needs_every_call_to_fail() {
    let b = CircuitBreaker::builder("rate-one")
        .window(Window::Count(5))
        .failure_rate(1.0)
        .build()
        .unwrap();
    for _ in 0..4 {
        let _ = fail(&b);
    }
    ok(&b).unwrap();
    for _ in 0..4 {
        let _ = fail(&b);
    }
    assert_eq!(b.state(), CircuitState::Closed);
    let _ = fail(&b);
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn decimal_rates_compare_exactly() {
    // 3 of 10 is exactly 30%: 0.3 * 10 in floating point is 3.0000000000000004, a
    // naive product comparison would miss it.
    let b = CircuitBreaker::builder("decimal")
        .window(Window::Count(10))
        .failure_rate(0.3)
        .build()
        .unwrap();
    for _ in 0..7 {
        ok(&b).unwrap();
    }
    let _ = fail(&b);
    let _ = fail(&b);
    assert_eq!(b.state(), CircuitState::Closed);
    let _ = fail(&b);
    assert_eq!(b.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn time_window_counts_the_calls_of_the_last_period() {
    let b = CircuitBreaker::builder("time-window")
        .window(Window::Time(secs(10)))
        .min_calls(3)
        .build()
        .unwrap();
    let _ = fail(&b);
    let _ = fail(&b);
    advance(secs(10)).await;
    // The two failures are 10s old: out of the window.
    let _ = fail(&b);
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().calls, 1);
    advance(secs(5)).await;
    ok(&b).unwrap();
    advance(Duration::from_millis(4_900)).await;
    assert_eq!(b.metrics().calls, 2);
    let _ = fail(&b); // F (9.9s ago), S, F: 2 of 3 >= 50%
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(b.metrics().failures, 2);
}

#[tokio::test(start_paused = true)]
async fn time_window_forgets_successes_too() {
    let b = CircuitBreaker::builder("time-forgets")
        .window(Window::Time(secs(60)))
        .min_calls(2)
        .build()
        .unwrap();
    for _ in 0..100 {
        ok(&b).unwrap();
    }
    advance(secs(60)).await;
    let _ = fail(&b);
    assert_eq!(b.state(), CircuitState::Closed);
    let _ = fail(&b);
    assert_eq!(b.state(), CircuitState::Open);
    let reason = rejection(ok(&b)).to_string();
    assert!(
        reason.contains("2 of 2 calls in the last 1m failed (100% >= 50%)"),
        "{reason}"
    );
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_open_whatever_the_rate() {
    let log = Log::default();
    let b = log
        .listen(CircuitBreaker::builder("streak").consecutive_failures(3))
        .build()
        .unwrap();
    let _ = fail(&b);
    let _ = fail(&b);
    ok(&b).unwrap(); // the streak ends
    let _ = fail(&b);
    let _ = fail(&b);
    assert_eq!(b.state(), CircuitState::Closed);
    let _ = fail(&b);
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(log.last().reason.as_deref(), Some("3 failures in a row"));
    assert_eq!(
        rejection(ok(&b)).to_string(),
        "circuit breaker 'streak' is open: 3 failures in a row; next trial in 1m"
    );
}

#[tokio::test(start_paused = true)]
async fn slow_calls_are_strictly_slower_than_the_threshold() {
    let b = CircuitBreaker::builder("slow")
        .window(Window::Count(4))
        .slow_call(secs(2))
        .slow_call_rate(0.75)
        .build()
        .unwrap();
    let call = |d: Duration| {
        let b = b.clone();
        async move {
            b.call(async move {
                sleep(d).await;
                Ok::<_, Error>(())
            })
            .await
        }
    };
    call(secs(2)).await.unwrap(); // exactly 2s: not slow
    call(Duration::from_millis(2_001)).await.unwrap();
    call(secs(3)).await.unwrap();
    call(secs(1)).await.unwrap();
    assert_eq!(b.metrics().slow_calls, 2);
    assert_eq!(b.state(), CircuitState::Closed);
    call(secs(5)).await.unwrap(); // window: 2.001 3 1 5 -> 3 of 4 slow
    assert_eq!(b.state(), CircuitState::Open);
    let text = rejection(call(secs(0)).await).to_string();
    assert_eq!(
        text,
        "circuit breaker 'slow' is open: 3 of 4 calls slower than 2s (75% >= 75%); next trial in 1m"
    );
}

#[tokio::test(start_paused = true)]
async fn slow_call_rate_defaults_to_one() {
    let b = CircuitBreaker::builder("slow-default")
        .window(Window::Count(2))
        .slow_call(Duration::from_millis(100))
        .build()
        .unwrap();
    let p = b.try_acquire().unwrap();
    advance(Duration::from_millis(101)).await;
    p.record_success();
    ok(&b).unwrap(); // fast
    assert_eq!(b.state(), CircuitState::Closed);
    for _ in 0..2 {
        let p = b.try_acquire().unwrap();
        advance(Duration::from_millis(150)).await;
        p.record_success();
    }
    assert_eq!(b.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn slow_failures_count_for_both_rates() {
    let b = CircuitBreaker::builder("slow-failures")
        .window(Window::Count(10))
        .slow_call(secs(1))
        .build()
        .unwrap();
    for _ in 0..3 {
        let p = b.try_acquire().unwrap();
        advance(secs(2)).await;
        p.record_failure();
    }
    let m = b.metrics();
    assert_eq!((m.calls, m.failures, m.slow_calls), (3, 3, 3));
    assert_eq!(m.slow_call_rate, 1.0);
}

// ---------------------------------------------------------------------------------
// Open, half-open, timing
// ---------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn open_for_is_exact_and_retry_after_is_the_time_left() {
    let b = CircuitBreaker::builder("exact-timing")
        .window(Window::Count(2))
        .open_for(secs(30))
        .build()
        .unwrap();
    trip(&b, 2);
    let opened = Instant::now();
    let r = rejection(ok(&b));
    assert_eq!(r.retry_after(), Some(secs(30)));
    advance(Duration::from_millis(2_500)).await;
    assert_eq!(
        rejection(ok(&b)).retry_after(),
        Some(Duration::from_millis(27_500))
    );
    advance(Duration::from_millis(27_499)).await;
    assert_eq!(
        rejection(ok(&b)).retry_after(),
        Some(Duration::from_millis(1))
    );
    advance(Duration::from_nanos(999_999)).await;
    assert_eq!(
        rejection(ok(&b)).retry_after(),
        Some(Duration::from_nanos(1))
    );
    advance(Duration::from_nanos(1)).await;
    // Exactly opened + 30s: the trial is admitted.
    assert_eq!(Instant::now() - opened, secs(30));
    let permit = b.try_acquire().unwrap();
    assert!(permit.is_trial());
    assert_eq!(b.state(), CircuitState::HalfOpen);
    permit.record_success();
}

#[tokio::test(start_paused = true)]
async fn a_call_made_retry_after_later_is_admitted() {
    let b = CircuitBreaker::builder("retry-after-contract")
        .window(Window::Count(1))
        .open_for(Duration::from_millis(1_234))
        .build()
        .unwrap();
    trip(&b, 1);
    advance(Duration::from_millis(400)).await;
    let r = rejection(ok(&b)).retry_after().unwrap();
    sleep(r).await;
    ok(&b).unwrap();
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_exactly_the_trials_then_decides() {
    let log = Log::default();
    let b = log
        .listen(
            CircuitBreaker::builder("trials")
                .window(Window::Count(2))
                .open_for(secs(10))
                .half_open_calls(3),
        )
        .build()
        .unwrap();
    trip(&b, 2);
    advance(secs(10)).await;
    let trials: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    assert!(trials.iter().all(|p| p.is_trial()));
    // A fourth call is refused at once, told a slot may free any time.
    let r = rejection(ok(&b));
    assert_eq!(r.retry_after(), Some(Duration::ZERO));
    assert_eq!(
        r.to_string(),
        "circuit breaker 'trials' is open: half-open, all 3 trial calls are in flight; next trial in 0s"
    );
    let mut trials = trials.into_iter();
    trials.next().unwrap().record_failure();
    trials.next().unwrap().record_success();
    assert_eq!(b.state(), CircuitState::HalfOpen); // one still running
    trials.next().unwrap().record_success();
    // 1 of 3 failed: 33% < 50% closes.
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().calls, 0, "closing empties the window");
    assert_eq!(
        log.states(),
        [
            (CircuitState::Closed, CircuitState::Open),
            (CircuitState::Open, CircuitState::HalfOpen),
            (CircuitState::HalfOpen, CircuitState::Closed),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn failing_trials_reopen() {
    let b = CircuitBreaker::builder("trials-fail")
        .window(Window::Count(2))
        .open_for(secs(10))
        .half_open_calls(4)
        .build()
        .unwrap();
    trip(&b, 2);
    advance(secs(10)).await;
    ok(&b).unwrap();
    ok(&b).unwrap();
    let _ = fail(&b);
    assert_eq!(b.state(), CircuitState::HalfOpen);
    let _ = fail(&b); // 2 of 4 = 50% >= 50%
    assert_eq!(b.state(), CircuitState::Open);
    let r = rejection(ok(&b));
    assert_eq!(
        r.retry_after(),
        Some(secs(10)),
        "no doubling without open_for_max"
    );
    assert_eq!(
        r.to_string(),
        "circuit breaker 'trials-fail' is open: 2 of 4 trial calls failed (50% >= 50%); next trial in 10s"
    );
}

#[tokio::test(start_paused = true)]
async fn slow_trials_reopen() {
    let b = CircuitBreaker::builder("trials-slow")
        .window(Window::Count(1))
        .slow_call(secs(1))
        .slow_call_rate(0.5)
        .open_for(secs(10))
        .half_open_calls(2)
        .build()
        .unwrap();
    trip(&b, 1);
    advance(secs(10)).await;
    let slow = b.try_acquire().unwrap();
    ok(&b).unwrap();
    advance(secs(2)).await;
    slow.record_success();
    assert_eq!(b.state(), CircuitState::Open);
    assert!(
        rejection(ok(&b))
            .to_string()
            .contains("1 of 2 trial calls slower than 1s (50% >= 50%)")
    );
}

#[tokio::test(start_paused = true)]
async fn reopening_doubles_the_open_time_up_to_the_max_and_closing_resets_it() {
    let b = CircuitBreaker::builder("doubling")
        .window(Window::Count(1))
        .open_for(secs(10))
        .open_for_max(secs(35))
        .half_open_calls(1)
        .build()
        .unwrap();
    trip(&b, 1);
    let mut expected = vec![];
    for open_for in [10, 20, 35, 35] {
        assert_eq!(rejection(ok(&b)).retry_after(), Some(secs(open_for)));
        expected.push(open_for);
        advance(secs(open_for)).await;
        let _ = fail(&b); // the trial fails: re-open
    }
    // Now a successful trial closes, and the next trip opens for the base time.
    advance(secs(35)).await;
    ok(&b).unwrap();
    assert_eq!(b.state(), CircuitState::Closed);
    trip(&b, 1);
    assert_eq!(rejection(ok(&b)).retry_after(), Some(secs(10)));
}

#[tokio::test(start_paused = true)]
async fn the_transition_to_half_open_is_dated_at_the_end_of_the_open_period() {
    let log = Log::default();
    let b = log
        .listen(
            CircuitBreaker::builder("dated")
                .window(Window::Count(1))
                .open_for(secs(10)),
        )
        .build()
        .unwrap();
    trip(&b, 1);
    let opened = Instant::now();
    assert_eq!(log.last().at, opened);
    advance(secs(25)).await;
    assert_eq!(b.state(), CircuitState::HalfOpen);
    let t = log.last();
    assert_eq!((t.from, t.to), (CircuitState::Open, CircuitState::HalfOpen));
    assert_eq!(t.at, opened + secs(10));
    assert_eq!(b.metrics().last_transition, Some(opened + secs(10)));
}

#[tokio::test(start_paused = true)]
async fn zero_open_for_makes_the_next_call_a_trial() {
    let b = CircuitBreaker::builder("zero-open")
        .window(Window::Count(1))
        .open_for(Duration::ZERO)
        .half_open_calls(1)
        .build()
        .unwrap();
    trip(&b, 1);
    let p = b.try_acquire().unwrap();
    assert!(p.is_trial());
    p.record_success();
    assert_eq!(b.state(), CircuitState::Closed);
}

// ---------------------------------------------------------------------------------
// By hand
// ---------------------------------------------------------------------------------

#[test]
fn forced_open_refuses_until_reset() {
    let log = Log::default();
    let b = log
        .listen(CircuitBreaker::builder("forced").window(Window::Count(10)))
        .build()
        .unwrap();
    let ran = AtomicUsize::new(0);
    b.force_open();
    assert_eq!(b.state(), CircuitState::ForcedOpen);
    let r = rejection(b.call_blocking(|| {
        ran.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }));
    assert_eq!(ran.load(Ordering::Relaxed), 0, "a rejected call never runs");
    assert_eq!(r.retry_after(), Some(Duration::MAX));
    assert_eq!(
        r.to_string(),
        "circuit breaker 'forced' is open: forced open by hand; no trial until it is reset"
    );
    assert_eq!(log.last().reason.as_deref(), Some("forced open by hand"));
    b.reset();
    assert_eq!(b.state(), CircuitState::Closed);
    ok(&b).unwrap();
    assert_eq!(
        log.states(),
        [
            (CircuitState::Closed, CircuitState::ForcedOpen),
            (CircuitState::ForcedOpen, CircuitState::Closed),
        ]
    );
}

#[test]
fn disabled_admits_everything_and_records_nothing() {
    let b = CircuitBreaker::builder("disabled")
        .window(Window::Count(2))
        .build()
        .unwrap();
    ok(&b).unwrap();
    b.disable();
    for _ in 0..10 {
        assert_eq!(fail(&b), Err(Error::Down));
    }
    assert_eq!(b.state(), CircuitState::Disabled);
    assert_eq!((b.metrics().calls, b.metrics().failures), (1, 0));
    b.reset();
    assert_eq!(b.metrics().calls, 0);
    trip(&b, 2);
}

#[test]
fn reset_empties_the_window_and_the_streak() {
    let b = CircuitBreaker::builder("reset")
        .window(Window::Count(4))
        .consecutive_failures(3)
        .build()
        .unwrap();
    let _ = fail(&b);
    let _ = fail(&b);
    b.reset();
    assert_eq!(b.metrics().calls, 0);
    let _ = fail(&b);
    let _ = fail(&b);
    assert_eq!(b.state(), CircuitState::Closed, "the streak restarted at 0");
    // Reset from open too.
    let _ = fail(&b);
    assert_eq!(b.state(), CircuitState::Open);
    b.reset();
    assert_eq!(b.state(), CircuitState::Closed);
    ok(&b).unwrap();
}

#[test]
fn a_call_admitted_before_a_reset_is_not_recorded() {
    let b = CircuitBreaker::builder("stale")
        .window(Window::Count(2))
        .build()
        .unwrap();
    let before = b.try_acquire().unwrap();
    b.reset();
    before.record_failure();
    assert_eq!(b.metrics().calls, 0);
}

// ---------------------------------------------------------------------------------
// Outcomes: record_if, cancellation, panics
// ---------------------------------------------------------------------------------

#[test]
fn record_if_rejected_errors_count_as_neither() {
    let b = CircuitBreaker::builder("record-if")
        .window(Window::Count(2))
        .build()
        .unwrap();
    let only_down = |e: &Error| *e == Error::Down;
    for _ in 0..10 {
        let r: Result<(), Error> = b.call_blocking_with(only_down, || Err(Error::NotFound));
        assert_eq!(r, Err(Error::NotFound));
    }
    assert_eq!(b.metrics().calls, 0);
    assert_eq!(b.state(), CircuitState::Closed);
    let _ = b.call_blocking_with(only_down, || Err::<(), _>(Error::Down));
    let _ = b.call_blocking_with(only_down, || Err::<(), _>(Error::Down));
    assert_eq!(b.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn ignored_trials_give_their_slot_back() {
    let b = CircuitBreaker::builder("ignored-trial")
        .window(Window::Count(1))
        .open_for(secs(1))
        .half_open_calls(1)
        .build()
        .unwrap();
    trip(&b, 1);
    advance(secs(1)).await;
    let r: Result<(), Error> = b
        .call_with(|e: &Error| *e == Error::Down, async {
            Err(Error::NotFound)
        })
        .await;
    assert_eq!(r, Err(Error::NotFound));
    assert_eq!(b.state(), CircuitState::HalfOpen);
    // The slot is free again: the next call is the trial, and closes the breaker.
    b.call(async { Ok::<_, Error>(()) }).await.unwrap();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_trial_gives_its_slot_back_and_counts_as_neither() {
    let b = CircuitBreaker::builder("cancelled-trial")
        .window(Window::Count(1))
        .open_for(secs(1))
        .half_open_calls(1)
        .build()
        .unwrap();
    trip(&b, 1);
    advance(secs(1)).await;
    let slow = b.call(async {
        sleep(secs(3600)).await;
        Err::<(), _>(Error::Down)
    });
    // A timeout outside the breaker cancels the trial.
    assert!(
        tokio::time::timeout(secs(1), slow).await.is_err(),
        "the trial was cut short"
    );
    assert_eq!(b.state(), CircuitState::HalfOpen);
    assert_eq!(b.metrics().calls, 0);
    b.call(async { Ok::<_, Error>(()) }).await.unwrap();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_closed_call_counts_as_neither() {
    let b = CircuitBreaker::builder("cancelled-closed")
        .window(Window::Count(1))
        .build()
        .unwrap();
    let never = b.call(std::future::pending::<Result<(), Error>>());
    assert!(tokio::time::timeout(secs(1), never).await.is_err());
    assert_eq!(b.metrics().calls, 0);
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn a_panicking_blocking_trial_counts_as_a_failure_and_frees_its_slot() {
    let b = CircuitBreaker::builder("panic-blocking")
        .window(Window::Count(1))
        .open_for(Duration::ZERO)
        .half_open_calls(1)
        .build()
        .unwrap();
    trip(&b, 1);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        b.call_blocking(|| -> Result<(), Error> { panic!("bug in the body") })
    }));
    assert!(result.is_err());
    // The trial failed: re-opened (for zero time), so the next call is a new trial.
    let p = b.try_acquire().unwrap();
    assert!(p.is_trial());
    p.record_success();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_async_trial_counts_as_a_failure_and_frees_its_slot() {
    let log = Log::default();
    let b = log
        .listen(
            CircuitBreaker::builder("panic-async")
                .window(Window::Count(1))
                .open_for(secs(5))
                .half_open_calls(1),
        )
        .build()
        .unwrap();
    trip(&b, 1);
    advance(secs(5)).await;
    let task = {
        let b = b.clone();
        tokio::spawn(async move {
            b.call(async {
                tokio::task::yield_now().await;
                if true {
                    panic!("bug in the body");
                }
                Ok::<(), Error>(())
            })
            .await
        })
    };
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(
        log.states().last(),
        Some(&(CircuitState::HalfOpen, CircuitState::Open))
    );
    advance(secs(5)).await;
    ok(&b).unwrap();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn a_panicking_closed_call_counts_as_a_failure() {
    let b = CircuitBreaker::builder("panic-closed")
        .window(Window::Count(5))
        .build()
        .unwrap();
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        b.call_blocking(|| -> Result<(), Error> { panic!("bug") })
    }));
    assert_eq!((b.metrics().calls, b.metrics().failures), (1, 1));
}

#[test]
fn dropping_an_unrecorded_permit_is_a_cancellation() {
    let b = CircuitBreaker::builder("dropped-permit")
        .window(Window::Count(5))
        .build()
        .unwrap();
    drop(b.try_acquire().unwrap());
    assert_eq!(b.metrics().calls, 0);
}

// ---------------------------------------------------------------------------------
// Metrics and listeners
// ---------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn metrics_report_the_window_rejections_and_last_transition() {
    let b = CircuitBreaker::builder("metrics")
        .window(Window::Count(10))
        .min_calls(5)
        .slow_call(secs(1))
        .build()
        .unwrap();
    let m = b.metrics();
    assert_eq!(m.state, CircuitState::Closed);
    assert_eq!(
        (m.calls, m.failures, m.slow_calls, m.rejections),
        (0, 0, 0, 0)
    );
    assert_eq!((m.failure_rate, m.slow_call_rate), (0.0, 0.0));
    assert_eq!(m.last_transition, None);
    ok(&b).unwrap();
    let p = b.try_acquire().unwrap();
    advance(secs(2)).await;
    p.record_success();
    let _ = fail(&b);
    let m = b.metrics();
    assert_eq!((m.calls, m.failures, m.slow_calls), (3, 1, 1));
    assert!((m.failure_rate - 1.0 / 3.0).abs() < 1e-12);
    assert!((m.slow_call_rate - 1.0 / 3.0).abs() < 1e-12);
    let _ = fail(&b);
    let _ = fail(&b);
    let opened = Instant::now();
    let m = b.metrics();
    assert_eq!(m.state, CircuitState::Open);
    assert_eq!(
        (m.calls, m.failures),
        (5, 3),
        "an open breaker keeps its window"
    );
    assert_eq!(m.last_transition, Some(opened));
    for _ in 0..3 {
        let _ = ok(&b);
    }
    assert_eq!(b.metrics().rejections, 3);
}

#[tokio::test(start_paused = true)]
async fn half_open_metrics_count_the_trials() {
    let b = CircuitBreaker::builder("metrics-trials")
        .window(Window::Count(1))
        .open_for(secs(1))
        .half_open_calls(3)
        .build()
        .unwrap();
    trip(&b, 1);
    advance(secs(1)).await;
    let _ = fail(&b);
    ok(&b).unwrap();
    let m = b.metrics();
    assert_eq!(m.state, CircuitState::HalfOpen);
    assert_eq!((m.calls, m.failures), (2, 1));
}

#[test]
fn listeners_see_every_transition_with_its_reason_and_may_call_the_breaker() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let b = {
        let seen = seen.clone();
        CircuitBreaker::builder("listened")
            .window(Window::Count(10))
            .open_for(Duration::ZERO)
            .half_open_calls(1)
            .on_transition(move |t| {
                seen.lock()
                    .unwrap()
                    .push(format!("{}: {} -> {} {:?}", t.name, t.from, t.to, t.reason));
            })
            .build()
            .unwrap()
    };
    let b2 = b.clone();
    let _ = b.clone(); // listeners may hold clones; here one that reads the state:
    let reader = CircuitBreaker::builder("listened-reader")
        .on_transition(move |_| {
            let _ = b2.metrics();
        })
        .window(Window::Count(1))
        .build()
        .unwrap();
    trip(&reader, 1);
    for _ in 0..10 {
        let _ = fail(&b);
    }
    ok(&b).unwrap(); // trial: closes
    b.force_open();
    b.disable();
    b.reset();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "listened: closed -> open Some(\"10 of the last 10 calls failed (100% >= 50%)\")",
            "listened: open -> half-open None",
            "listened: half-open -> closed None",
            "listened: closed -> forced open Some(\"forced open by hand\")",
            "listened: forced open -> disabled None",
            "listened: disabled -> closed None",
        ]
    );
}

#[test]
fn a_panicking_listener_does_not_undo_the_transition() {
    let b = CircuitBreaker::builder("panicking-listener")
        .window(Window::Count(1))
        .on_transition(|_| panic!("listener bug"))
        .build()
        .unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fail(&b)));
    assert!(r.is_err(), "the listener's panic is resumed");
    assert_eq!(b.state(), CircuitState::Open);
}

// ---------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_rejection_message_is_a_diagnosis() {
    let b = CircuitBreaker::builder("payments")
        .window(Window::Count(10))
        .open_for(secs(30))
        .register()
        .unwrap();
    for i in 0..10 {
        let _ = if i % 5 < 3 { fail(&b) } else { ok(&b) };
    }
    assert_eq!(b.state(), CircuitState::Open);
    advance(secs(3)).await;
    let r = rejection(ok(&b));
    assert_eq!(r.name(), "payments");
    assert_eq!(
        r.to_string(),
        "circuit breaker 'payments' is open: 6 of the last 10 calls failed (60% >= 50%); next trial in 27s"
    );
}

#[test]
fn percentages_are_rounded_to_one_decimal() {
    let b = CircuitBreaker::builder("thirds")
        .window(Window::Count(3))
        .failure_rate(0.3)
        .build()
        .unwrap();
    ok(&b).unwrap();
    ok(&b).unwrap();
    let _ = fail(&b);
    assert!(
        rejection(ok(&b))
            .to_string()
            .contains("1 of the last 3 calls failed (33.3% >= 30%)")
    );
}

// ---------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------

#[test]
fn build_refuses_bad_settings() {
    let b = || CircuitBreaker::builder("bad");
    let field = |r: Result<CircuitBreaker, resilience_runtime::ConfigError>| r.unwrap_err().field;
    assert_eq!(field(b().failure_rate(0.0).build()), "failure_rate");
    assert_eq!(field(b().failure_rate(1.5).build()), "failure_rate");
    assert_eq!(field(b().failure_rate(f64::NAN).build()), "failure_rate");
    assert_eq!(field(b().window(Window::Count(0)).build()), "window");
    assert_eq!(
        field(b().window(Window::Count(MAX_WINDOW_CALLS + 1)).build()),
        "window"
    );
    assert_eq!(
        field(b().window(Window::Time(Duration::ZERO)).build()),
        "window"
    );
    assert_eq!(field(b().min_calls(0).build()), "min_calls");
    assert_eq!(
        field(b().consecutive_failures(0).build()),
        "consecutive_failures"
    );
    assert_eq!(field(b().slow_call_rate(0.5).build()), "slow_call_rate");
    assert_eq!(
        field(b().slow_call(secs(1)).slow_call_rate(0.0).build()),
        "slow_call_rate"
    );
    assert_eq!(
        field(b().open_for(secs(10)).open_for_max(secs(5)).build()),
        "open_for_max"
    );
    assert_eq!(field(b().half_open_calls(0).build()), "half_open_calls");
    assert_eq!(
        field(b().half_open_calls(MAX_HALF_OPEN_CALLS + 1).build()),
        "half_open_calls"
    );
    let e = b().failure_rate(1.5).build().unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid circuit_breaker configuration: `failure_rate` must be in (0, 1], got 1.5"
    );
    assert!(KeyedCircuitBreaker::new(b(), 0).is_err());
}

#[test]
fn clamped_settings_never_fail() {
    let b = CircuitBreaker::builder("clamped-macro-path")
        .failure_rate(7.0)
        .window(Window::Count(0))
        .min_calls(0)
        .half_open_calls(0)
        .consecutive_failures(0)
        .open_for(secs(10))
        .open_for_max(secs(1))
        .register_clamped();
    // count(1), rate 1.0, min_calls 1, consecutive 1: one failure opens.
    let _ = fail(&b);
    assert_eq!(b.state(), CircuitState::Open);
    let left = rejection(ok(&b)).retry_after().unwrap();
    assert!(left > secs(9) && left <= secs(10), "{left:?}");
}

// ---------------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------------

#[test]
fn the_same_name_is_the_same_breaker_and_the_first_configuration_wins() {
    let first = CircuitBreaker::builder("shared-name")
        .window(Window::Count(2))
        .register()
        .unwrap();
    let same = CircuitBreaker::builder("shared-name")
        .window(Window::Count(2))
        .register()
        .unwrap();
    assert!(first.ptr_eq(&same));
    assert!(
        !registry::config_conflicts()
            .iter()
            .any(|c| c.name == "shared-name"),
        "identical settings are no conflict"
    );
    let other = CircuitBreaker::builder("shared-name")
        .window(Window::Count(50))
        .register()
        .unwrap();
    assert!(first.ptr_eq(&other), "the first configuration wins");
    let conflicts: Vec<_> = registry::config_conflicts()
        .into_iter()
        .filter(|c| c.name == "shared-name")
        .collect();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].policy, "circuit_breaker");
    assert!(
        conflicts[0].kept.contains("Count(2)"),
        "{}",
        conflicts[0].kept
    );
    assert!(
        conflicts[0].ignored.contains("Count(50)"),
        "{}",
        conflicts[0].ignored
    );
    // Failures through one handle open the breaker for all.
    trip(&other, 2);
    assert_eq!(first.state(), CircuitState::Open);
    let handle = registry::circuit_breaker("shared-name").unwrap();
    assert_eq!(handle.state(), CircuitState::Open);
    assert!(registry::circuit_breakers().contains(&("shared-name".into(), CircuitState::Open)));
    handle.reset();
    assert_eq!(first.state(), CircuitState::Closed);
}

#[test]
fn built_breakers_are_not_registered() {
    let b = CircuitBreaker::builder("unregistered-only")
        .build()
        .unwrap();
    assert!(registry::circuit_breaker("unregistered-only").is_none());
    let other = CircuitBreaker::builder("unregistered-only")
        .build()
        .unwrap();
    assert!(!b.ptr_eq(&other));
}

#[test]
fn the_handle_forces_and_disables() {
    let b = CircuitBreaker::builder("handle-ops").register().unwrap();
    let handle = registry::circuit_breaker("handle-ops").unwrap();
    handle.force_open();
    assert!(is_rejected(&ok(&b)));
    handle.disable();
    assert_eq!(b.state(), CircuitState::Disabled);
    handle.reset();
    assert_eq!(handle.metrics().state, CircuitState::Closed);
}

// ---------------------------------------------------------------------------------
// Keyed
// ---------------------------------------------------------------------------------

#[test]
fn keyed_breakers_are_independent_per_key() {
    let keyed = KeyedCircuitBreaker::new(
        CircuitBreaker::builder("per-tenant").window(Window::Count(2)),
        100,
    )
    .unwrap();
    for _ in 0..2 {
        let _ = keyed.call_blocking("alice".to_owned(), || Err::<(), _>(Error::Down));
    }
    let r = keyed.call_blocking("alice".to_owned(), || Ok::<_, Error>(()));
    assert!(is_rejected(&r));
    assert_eq!(rejection(r).name(), "per-tenant");
    keyed
        .call_blocking("bob".to_owned(), || Ok::<_, Error>(()))
        .unwrap();
    assert_eq!(keyed.len(), 2);
    assert_eq!(
        keyed.get(&"alice".to_owned()).unwrap().state(),
        CircuitState::Open
    );
    assert_eq!(
        keyed.get(&"bob".to_owned()).unwrap().state(),
        CircuitState::Closed
    );
    assert!(keyed.get(&"carol".to_owned()).is_none());
    keyed.clear();
    assert!(keyed.is_empty());
    keyed
        .call_blocking("alice".to_owned(), || Ok::<_, Error>(()))
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn keyed_breakers_drop_the_least_recently_used_key() {
    let keyed =
        KeyedCircuitBreaker::new(CircuitBreaker::builder("lru").window(Window::Count(1)), 2)
            .unwrap();
    let call = |k: u32, outcome: Result<(), Error>| {
        let keyed = keyed.clone();
        async move { keyed.call(k, async move { outcome }).await }
    };
    let _ = call(1, Err(Error::Down)).await; // key 1 open
    call(2, Ok(())).await.unwrap();
    assert!(is_rejected(&call(1, Ok(())).await)); // key 1 used again
    call(3, Ok(())).await.unwrap(); // drops key 2, the least recently used
    assert_eq!(keyed.len(), 2);
    assert!(keyed.get(&2u32).is_none());
    assert_eq!(keyed.get(&1u32).unwrap().state(), CircuitState::Open);
    call(4, Ok(())).await.unwrap(); // drops key 3 (key 1 was just looked at)
    assert!(keyed.get(&3u32).is_none());
    assert!(keyed.get(&1u32).is_some());
}

#[test]
fn keyed_breakers_register_by_name() {
    let a = KeyedCircuitBreaker::new_clamped(
        CircuitBreaker::builder("keyed-shared").window(Window::Count(1)),
        10,
    );
    let b = KeyedCircuitBreaker::new_clamped(
        CircuitBreaker::builder("keyed-shared").window(Window::Count(1)),
        10,
    );
    let _ = a.call_blocking(7u8, || Err::<(), _>(Error::Down));
    assert!(is_rejected(&b.call_blocking(7u8, || Ok::<_, Error>(()))));
    let found = registry::keyed_circuit_breaker("keyed-shared").unwrap();
    assert_eq!(found.get(&7u8).unwrap().state(), CircuitState::Open);
    assert_eq!(found.max_keys(), 10);
}

// ---------------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------------

#[test]
fn concurrent_outcomes_add_up() {
    const THREADS: u64 = 4;
    const CALLS: u64 = 20_000;
    let b = CircuitBreaker::builder("stress-count")
        .window(Window::Count(1_000_000))
        .failure_rate(1.0)
        .build()
        .unwrap();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let b = &b;
            s.spawn(move || {
                for i in 0..CALLS {
                    // One call in 8 fails.
                    let _ = if (i + t) % 8 == 0 { fail(b) } else { ok(b) };
                }
            });
        }
    });
    let m = b.metrics();
    assert_eq!(m.state, CircuitState::Closed);
    assert_eq!(m.calls, THREADS * CALLS);
    assert_eq!(m.failures, THREADS * CALLS / 8);
}

#[test]
fn concurrent_outcomes_add_up_in_a_full_window() {
    // A window smaller than the calls: once every thread is done with 100% successes
    // the window must read as full and clean.
    let b = CircuitBreaker::builder("stress-full")
        .window(Window::Count(64))
        .failure_rate(1.0)
        .build()
        .unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let b = &b;
            s.spawn(move || {
                for i in 0..20_000 {
                    let _ = if i % 16 == t { fail(b) } else { ok(b) };
                }
            });
        }
    });
    for _ in 0..64 {
        ok(&b).unwrap();
    }
    let m = b.metrics();
    assert_eq!((m.calls, m.failures), (64, 0));
}

#[test]
fn concurrent_trials_are_never_more_than_half_open_calls() {
    let b = CircuitBreaker::builder("stress-trials")
        .window(Window::Count(1))
        .open_for(Duration::ZERO)
        .half_open_calls(5)
        .build()
        .unwrap();
    trip(&b, 1);
    let admitted = AtomicUsize::new(0);
    let barrier = std::sync::Barrier::new(4);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                barrier.wait();
                let mut held = vec![];
                for _ in 0..10 {
                    if let Ok(p) = b.try_acquire() {
                        admitted.fetch_add(1, Ordering::Relaxed);
                        held.push(p);
                    }
                }
                barrier.wait(); // every thread holds its permits here
                drop(held); // cancelled: slots come back
            });
        }
    });
    assert_eq!(admitted.load(Ordering::Relaxed), 5);
    assert_eq!(b.state(), CircuitState::HalfOpen);
    for _ in 0..5 {
        ok(&b).unwrap();
    }
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn concurrent_failures_open_exactly_once() {
    let opened = Arc::new(AtomicUsize::new(0));
    let b = {
        let opened = opened.clone();
        CircuitBreaker::builder("stress-open")
            .window(Window::Count(100))
            .consecutive_failures(10)
            .on_transition(move |t| {
                if t.to == CircuitState::Open {
                    opened.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build()
            .unwrap()
    };
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..1_000 {
                    let _ = fail(&b);
                }
            });
        }
    });
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(opened.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_futures_are_send() {
    let b = CircuitBreaker::builder("send").build().unwrap();
    let keyed = KeyedCircuitBreaker::new(CircuitBreaker::builder("send-keyed"), 10).unwrap();
    let handle = tokio::spawn(async move {
        b.call(async { Ok::<_, Error>(1) }).await.unwrap()
            + keyed
                .call_with("k", |_: &Error| true, async { Ok::<_, Error>(2) })
                .await
                .unwrap()
    });
    assert_eq!(handle.await.unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn admission_happens_when_the_call_is_first_polled() {
    let b = CircuitBreaker::builder("lazy-admission").build().unwrap();
    b.force_open();
    let call = b.call(async { Ok::<_, Error>(()) });
    b.reset();
    call.await.unwrap();
    // A call future dropped before its first poll takes nothing and records nothing.
    drop(b.call(async { Err::<(), _>(Error::Down) }));
    assert_eq!(b.metrics().calls, 1);
}

#[test]
fn concurrent_outcomes_add_up_in_a_time_window() {
    const THREADS: u64 = 4;
    const CALLS: u64 = 10_000;
    let b = CircuitBreaker::builder("stress-time")
        .window(Window::Time(secs(3600)))
        .failure_rate(1.0)
        .build()
        .unwrap();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let b = &b;
            s.spawn(move || {
                for i in 0..CALLS {
                    let _ = if (i + t) % 4 == 0 { fail(b) } else { ok(b) };
                }
            });
        }
    });
    let m = b.metrics();
    assert_eq!(m.state, CircuitState::Closed);
    assert_eq!(
        (m.calls, m.failures),
        (THREADS * CALLS, THREADS * CALLS / 4)
    );
}

#[test]
fn concurrent_keys_stay_independent_and_bounded() {
    let keyed = KeyedCircuitBreaker::new(
        CircuitBreaker::builder("stress-keyed").window(Window::Count(10)),
        100,
    )
    .unwrap();
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let keyed = &keyed;
            s.spawn(move || {
                for i in 0..5_000u32 {
                    // Thread 0's keys always fail; the others always succeed.
                    let key = (t, i % 20);
                    let _ =
                        keyed.call_blocking(key, || if t == 0 { Err(Error::Down) } else { Ok(()) });
                }
            });
        }
    });
    assert_eq!(keyed.len(), 80);
    for b in keyed.breakers() {
        let m = b.metrics();
        assert!(m.failures == 0 || m.failures == m.calls, "{m:?}");
    }
    let open = keyed
        .breakers()
        .iter()
        .filter(|b| b.state() == CircuitState::Open)
        .count();
    assert_eq!(open, 20, "thread 0's keys, and only those");
}
