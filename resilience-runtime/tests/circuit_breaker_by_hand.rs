//! What a Resilience4j user reaches for by hand: manual transitions and the
//! metrics-only state, caller-timed outcomes, `max_wait_in_half_open`,
//! `open_for_factor`, the new metrics, and the metrics of a re-opened breaker.
//! Time runs on tokio's paused clock.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use resilience_runtime::circuit_breaker::Window;
use resilience_runtime::events::{self, Event, EventKind, Subscription};
use resilience_runtime::{CircuitBreaker, CircuitState, Rejection};
use tokio::time::advance;

#[derive(Debug, Clone, PartialEq)]
enum Error {
    Down,
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

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The events of the breaker named `name` (events are global, and tests run in
/// parallel).
struct Recorder {
    events: Arc<Mutex<Vec<Event>>>,
    _subscription: Subscription,
}

impl Recorder {
    fn new(name: &'static str) -> Self {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let subscription = events::subscribe(move |event| {
            if event.name == name {
                sink.lock().unwrap().push(event.clone());
            }
        });
        Recorder {
            events,
            _subscription: subscription,
        }
    }

    /// The state changes seen so far, taken.
    fn changes(&self) -> Vec<(CircuitState, CircuitState, Option<String>)> {
        std::mem::take(&mut *self.events.lock().unwrap())
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::StateChanged { from, to, reason } => Some((from, to, reason)),
                _ => None,
            })
            .collect()
    }
}

/// Polls `future` once, with a waker that does nothing.
fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

// ---------------------------------------------------------------------------------
// The metrics of a re-opened breaker
// ---------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn reopened_by_trials_the_metrics_describe_the_trials_count_window() {
    let b = CircuitBreaker::builder("reopen-metrics-count")
        .window(Window::Count(5))
        .failure_rate(0.5)
        .open_for(secs(10))
        .half_open_calls(4)
        .build()
        .unwrap();
    for _ in 0..5 {
        let _ = fail(&b);
    }
    let m = b.metrics();
    assert_eq!((m.state, m.calls, m.failures), (CircuitState::Open, 5, 5));
    advance(secs(10)).await;
    // Four trials, three fail: 75% >= 50% re-opens.
    ok(&b).unwrap();
    for _ in 0..3 {
        let _ = fail(&b);
    }
    let m = b.metrics();
    assert_eq!(m.state, CircuitState::Open);
    assert_eq!(
        (
            m.calls,
            m.successes,
            m.failures,
            m.slow_calls,
            m.slow_failures
        ),
        (4, 1, 3, 0, 0)
    );
    assert_eq!(m.failure_rate, 0.75);
    assert!(m.min_calls_reached);
    let message = rejection(ok(&b)).to_string();
    assert!(
        message.contains("3 of 4 trial calls failed (75% >= 50%)"),
        "{message}"
    );
    // They stay so for the whole open period.
    advance(secs(5)).await;
    assert_eq!((b.metrics().calls, b.metrics().failures), (4, 3));
}

#[tokio::test(start_paused = true)]
async fn reopened_by_trials_the_metrics_describe_the_trials_time_window() {
    let b = CircuitBreaker::builder("reopen-metrics-time")
        .window(Window::Time(secs(10)))
        .min_calls(5)
        .failure_rate(0.5)
        .slow_call(secs(1))
        .slow_call_rate(1.0)
        .open_for(secs(60))
        .half_open_calls(4)
        .build()
        .unwrap();
    for _ in 0..5 {
        let _ = fail(&b);
    }
    assert_eq!(b.state(), CircuitState::Open);
    // Long after the window slid past those calls, the metrics still tell what
    // opened the breaker, as its rejection does.
    advance(secs(30)).await;
    let m = b.metrics();
    assert_eq!((m.state, m.calls, m.failures), (CircuitState::Open, 5, 5));
    assert!(m.min_calls_reached);
    let message = rejection(ok(&b)).to_string();
    assert!(
        message.contains("5 of 5 calls in the last 10s failed"),
        "{message}"
    );
    advance(secs(30)).await;
    // Four trials: one slow failure, two failures, one success.
    let slow = b.try_acquire().unwrap();
    assert!(slow.is_trial());
    let others: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    advance(secs(2)).await;
    slow.record_failure();
    let mut others = others.into_iter();
    others.next().unwrap().record_success_in(ms(10));
    others.next().unwrap().record_failure_in(ms(10));
    others.next().unwrap().record_failure_in(ms(10));
    let m = b.metrics();
    assert_eq!(m.state, CircuitState::Open);
    assert_eq!(
        (
            m.calls,
            m.successes,
            m.failures,
            m.slow_calls,
            m.slow_failures
        ),
        (4, 1, 3, 1, 1),
        "{m:?}"
    );
    assert_eq!(m.failure_rate, 0.75);
    assert_eq!(m.slow_call_rate, 0.25);
    let message = rejection(ok(&b)).to_string();
    assert!(
        message.contains("3 of 4 trial calls failed (75% >= 50%)"),
        "{message}"
    );
}

#[tokio::test(start_paused = true)]
async fn metrics_count_successes_slow_failures_and_whether_min_calls_is_reached() {
    let b = CircuitBreaker::builder("new-metrics")
        .window(Window::Count(10))
        .min_calls(6)
        .slow_call(secs(1))
        .slow_call_rate(1.0)
        .build()
        .unwrap();
    b.try_acquire().unwrap().record_success_in(secs(2)); // slow success
    b.try_acquire().unwrap().record_failure_in(secs(2)); // slow failure
    b.try_acquire().unwrap().record_failure_in(secs(3)); // slow failure
    b.try_acquire().unwrap().record_failure_in(ms(3)); // failure
    b.try_acquire().unwrap().record_success_in(ms(3)); // success
    let m = b.metrics();
    assert_eq!(
        (
            m.calls,
            m.successes,
            m.failures,
            m.slow_calls,
            m.slow_failures
        ),
        (5, 2, 3, 3, 2)
    );
    assert!(!m.min_calls_reached);
    b.try_acquire().unwrap().record_success_in(ms(3));
    let m = b.metrics();
    assert!(m.min_calls_reached);
    assert_eq!(m.state, CircuitState::Open, "3 of 6 failed: 50% >= 50%");
}

#[tokio::test(start_paused = true)]
async fn slow_failures_leave_a_count_window_as_they_are_overwritten() {
    let b = CircuitBreaker::builder("slow-failures-roll")
        .window(Window::Count(3))
        .slow_call(secs(1))
        .build()
        .unwrap();
    b.transition_to_metrics_only();
    for _ in 0..3 {
        b.try_acquire().unwrap().record_failure_in(secs(2));
    }
    assert_eq!(b.metrics().slow_failures, 3);
    b.try_acquire().unwrap().record_failure_in(ms(1));
    b.try_acquire().unwrap().record_success_in(secs(2));
    let m = b.metrics();
    assert_eq!(
        (m.calls, m.failures, m.slow_calls, m.slow_failures),
        (3, 2, 2, 1)
    );
    // A time window counts them too.
    let t = CircuitBreaker::builder("slow-failures-time")
        .window(Window::Time(secs(10)))
        .min_calls(100)
        .slow_call(secs(1))
        .build()
        .unwrap();
    t.try_acquire().unwrap().record_failure_in(secs(2));
    t.try_acquire().unwrap().record_success_in(secs(2));
    t.try_acquire().unwrap().record_failure_in(ms(2));
    let m = t.metrics();
    assert_eq!(
        (
            m.calls,
            m.successes,
            m.failures,
            m.slow_calls,
            m.slow_failures
        ),
        (3, 1, 2, 2, 1)
    );
    advance(secs(11)).await;
    assert_eq!(t.metrics().slow_failures, 0);
}

// ---------------------------------------------------------------------------------
// Manual transitions
// ---------------------------------------------------------------------------------

/// A breaker named `name`, brought to `state` (by hand, with failures for `Open`),
/// with the calls it needs.
fn in_state(name: &'static str, state: CircuitState) -> CircuitBreaker {
    let b = CircuitBreaker::builder(name)
        .window(Window::Count(2))
        .open_for(secs(30))
        .half_open_calls(1)
        .build()
        .unwrap();
    match state {
        CircuitState::Closed => {
            let _ = fail(&b); // something in the window
        }
        CircuitState::Open => {
            let _ = fail(&b);
            let _ = fail(&b);
        }
        CircuitState::HalfOpen => b.transition_to_half_open(),
        CircuitState::ForcedOpen => b.force_open(),
        CircuitState::Disabled => b.disable(),
        CircuitState::MetricsOnly => b.transition_to_metrics_only(),
    }
    assert_eq!(b.state(), state);
    b
}

const NAMES: [&str; 6] = [
    "by-hand-closed",
    "by-hand-open",
    "by-hand-half-open",
    "by-hand-forced-open",
    "by-hand-disabled",
    "by-hand-metrics-only",
];

/// Runs `transition` from every state and checks the state after and the event.
async fn from_every_state(
    suffix: &'static str,
    to: CircuitState,
    reason: &str,
    transition: impl Fn(&CircuitBreaker),
    after: impl Fn(&CircuitBreaker),
) {
    for (from, name) in CircuitState::ALL.into_iter().zip(NAMES) {
        let name: &'static str = format!("{name}-{suffix}").leak();
        let b = in_state(name, from);
        let recorder = Recorder::new(name);
        transition(&b);
        assert_eq!(b.state(), to, "{from:?} -> {to:?}");
        let changes = recorder.changes();
        if from == to {
            assert_eq!(
                changes,
                [],
                "{from:?} -> {to:?}: no change of state to tell"
            );
        } else {
            assert_eq!(
                changes,
                [(from, to, Some(reason.to_owned()))],
                "{from:?} -> {to:?}"
            );
        }
        after(&b);
    }
}

#[tokio::test(start_paused = true)]
async fn transition_to_open_from_every_state() {
    from_every_state(
        "open",
        CircuitState::Open,
        "opened by hand",
        CircuitBreaker::transition_to_open,
        |b| {
            // Open for `open_for` from now, with the reason in the message.
            let r = rejection(ok(b));
            assert_eq!(r.retry_after(), Some(secs(30)));
            assert!(
                r.to_string()
                    .contains("is open: opened by hand; next trial in 30s")
            );
        },
    )
    .await;
    // Then half-open after `open_for`, as after any opening.
    let b = in_state("by-hand-open-then", CircuitState::Closed);
    b.transition_to_open();
    advance(secs(30)).await;
    assert_eq!(b.state(), CircuitState::HalfOpen);
    ok(&b).unwrap();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn transition_to_open_for_from_every_state() {
    from_every_state(
        "open-for",
        CircuitState::Open,
        "opened by hand for 5m",
        |b| b.transition_to_open_for(secs(300)),
        |b| {
            let r = rejection(ok(b));
            assert_eq!(r.retry_after(), Some(secs(300)), "whatever open_for says");
        },
    )
    .await;
    // Open until exactly `d` from now; later openings use `open_for` again.
    let b = in_state("by-hand-open-for-then", CircuitState::Closed);
    b.transition_to_open_for(secs(5));
    advance(ms(4_999)).await;
    assert_eq!(b.state(), CircuitState::Open);
    advance(ms(1)).await;
    assert_eq!(b.state(), CircuitState::HalfOpen);
    let _ = fail(&b); // the trial fails: re-open for open_for
    assert_eq!(rejection(ok(&b)).retry_after(), Some(secs(30)));
}

#[tokio::test(start_paused = true)]
async fn transition_to_half_open_from_every_state() {
    from_every_state(
        "half-open",
        CircuitState::HalfOpen,
        "half-open by hand",
        CircuitBreaker::transition_to_half_open,
        |b| {
            // Fresh trials: one is admitted, the next is refused while it runs.
            let trial = b.try_acquire().unwrap();
            assert!(trial.is_trial());
            assert!(b.try_acquire().is_err());
            trial.record_success();
            assert_eq!(b.state(), CircuitState::Closed);
        },
    )
    .await;
    // A trial admitted before the transition does not count for the new trials.
    let b = in_state("by-hand-half-open-stale", CircuitState::HalfOpen);
    let stale = b.try_acquire().unwrap();
    b.transition_to_half_open();
    stale.record_failure();
    assert_eq!(b.state(), CircuitState::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn transition_to_closed_from_every_state() {
    from_every_state(
        "closed",
        CircuitState::Closed,
        "closed by hand",
        CircuitBreaker::transition_to_closed,
        |b| {
            // A fresh window: one failure of two is not yet a decision.
            assert_eq!(b.metrics().calls, 0);
            let _ = fail(b);
            assert_eq!(b.state(), CircuitState::Closed);
            let _ = fail(b);
            assert_eq!(b.state(), CircuitState::Open);
        },
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn transition_to_metrics_only_from_every_state() {
    from_every_state(
        "metrics-only",
        CircuitState::MetricsOnly,
        "metrics only, by hand",
        CircuitBreaker::transition_to_metrics_only,
        |b| {
            assert_eq!(b.metrics().calls, 0, "a fresh window");
            for _ in 0..5 {
                assert_eq!(fail(b), Err(Error::Down), "every call is admitted");
            }
            let m = b.metrics();
            assert_eq!(
                (m.state, m.calls, m.failures),
                (CircuitState::MetricsOnly, 2, 2)
            );
        },
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn metrics_only_records_every_call_but_never_opens() {
    let b = CircuitBreaker::builder("metrics-only-100")
        .window(Window::Count(10))
        .consecutive_failures(3)
        .slow_call(ms(100))
        .build()
        .unwrap();
    let recorder = Recorder::new("metrics-only-100");
    b.transition_to_metrics_only();
    for _ in 0..50 {
        assert_eq!(fail(&b), Err(Error::Down));
    }
    b.try_acquire().unwrap().record_failure_in(secs(1));
    let m = b.metrics();
    assert_eq!(m.state, CircuitState::MetricsOnly);
    assert_eq!((m.calls, m.failures, m.slow_calls), (10, 10, 1));
    assert_eq!(m.failure_rate, 1.0);
    assert!(m.min_calls_reached);
    assert_eq!(m.rejections, 0);
    assert_eq!(
        recorder.changes(),
        [(
            CircuitState::Closed,
            CircuitState::MetricsOnly,
            Some("metrics only, by hand".to_owned())
        )]
    );
    // Counted in the policy's counters, as any call.
    let s = b.snapshot();
    assert_eq!((s.calls, s.failures), (51, 51));
    assert_eq!(s.state, Some(CircuitState::MetricsOnly));
    assert_eq!(CircuitState::MetricsOnly.as_str(), "metrics_only");
    assert_eq!(CircuitState::MetricsOnly.to_string(), "metrics only");
    // A time window too.
    let t = CircuitBreaker::builder("metrics-only-time")
        .window(Window::Time(secs(10)))
        .min_calls(1)
        .build()
        .unwrap();
    t.transition_to_metrics_only();
    for _ in 0..20 {
        let _ = fail(&t);
    }
    assert_eq!(t.state(), CircuitState::MetricsOnly);
    assert_eq!(t.metrics().failures, 20);
    // reset() leaves it, with a fresh window; then the breaker opens again.
    b.reset();
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().calls, 0);
    for _ in 0..3 {
        let _ = fail(&b);
    }
    assert_eq!(b.state(), CircuitState::Open);
}

// ---------------------------------------------------------------------------------
// Caller-timed outcomes
// ---------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn outcomes_timed_by_the_caller_count_as_slow_by_the_slow_call_rule() {
    let b = CircuitBreaker::builder("caller-timed")
        .window(Window::Count(6))
        .slow_call(secs(1))
        .slow_call_rate(0.5)
        .build()
        .unwrap();
    // No time passes, yet these took 2s, 1.5s and 3s: three slow calls.
    b.try_acquire().unwrap().record_success_in(secs(2));
    b.try_acquire().unwrap().record_success_in(ms(1_500));
    b.try_acquire().unwrap().record_success_in(secs(1)); // not strictly longer
    assert_eq!(b.metrics().slow_calls, 2);
    // Much time passes, yet the caller says it took 10ms: not slow.
    let permit = b.try_acquire().unwrap();
    advance(secs(20)).await;
    permit.record_success_in(ms(10));
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().slow_calls, 2);
    b.try_acquire().unwrap().record_failure_in(secs(3));
    assert_eq!(b.state(), CircuitState::Closed, "5 calls: below min_calls");
    b.try_acquire().unwrap().record_success_in(secs(3));
    assert_eq!(b.state(), CircuitState::Open);
    let message = rejection(ok(&b)).to_string();
    assert!(
        message.contains("4 of 6 calls slower than 1s (66.7% >= 50%)"),
        "{message}"
    );
    // Trials too.
    advance(secs(60)).await;
    for _ in 0..10 {
        b.try_acquire().unwrap().record_success_in(secs(2));
    }
    let message = rejection(ok(&b)).to_string();
    assert!(
        message.contains("10 of 10 trial calls slower than 1s"),
        "{message}"
    );
    // Without `slow_call`, a duration makes no call slow.
    let plain = CircuitBreaker::builder("caller-timed-plain")
        .window(Window::Count(2))
        .build()
        .unwrap();
    plain.try_acquire().unwrap().record_success_in(secs(3600));
    assert_eq!(plain.metrics().slow_calls, 0);
}

// ---------------------------------------------------------------------------------
// max_wait_in_half_open
// ---------------------------------------------------------------------------------

async fn pending() -> Result<(), Error> {
    std::future::pending().await
}

#[tokio::test(start_paused = true)]
async fn a_trial_that_never_finishes_cannot_hold_the_breaker_half_open() {
    let b = CircuitBreaker::builder("max-wait-half-open")
        .window(Window::Count(2))
        .open_for(secs(10))
        .half_open_calls(1)
        .max_wait_in_half_open(secs(5))
        .build()
        .unwrap();
    let recorder = Recorder::new("max-wait-half-open");
    let _ = fail(&b);
    let _ = fail(&b);
    // Noticed late: the wait counts from when the breaker turned half-open.
    advance(secs(40)).await;
    let mut hung = Box::pin(b.call(pending()));
    assert!(poll_once(hung.as_mut()).is_pending());
    assert_eq!(b.state(), CircuitState::HalfOpen);
    let r = rejection(ok(&b));
    assert_eq!(r.retry_after(), Some(Duration::ZERO));
    advance(ms(4_999)).await;
    assert_eq!(b.state(), CircuitState::HalfOpen);
    advance(ms(1)).await;
    // No trial finished within 5s: re-open.
    assert_eq!(b.state(), CircuitState::Open);
    let r = rejection(ok(&b));
    assert_eq!(r.retry_after(), Some(secs(10)));
    assert!(
        r.to_string()
            .contains("no trial call finished within 5s of turning half-open"),
        "{r}"
    );
    let m = b.metrics();
    assert_eq!((m.calls, m.failures, m.min_calls_reached), (0, 0, false));
    // The hung trial, still alive, counts for nothing when it is dropped.
    assert!(poll_once(hung.as_mut()).is_pending());
    drop(hung);
    assert_eq!(b.state(), CircuitState::Open);
    let changes = recorder.changes();
    assert_eq!(
        changes.iter().map(|c| (c.0, c.1)).collect::<Vec<_>>(),
        [
            (CircuitState::Closed, CircuitState::Open),
            (CircuitState::Open, CircuitState::HalfOpen),
            (CircuitState::HalfOpen, CircuitState::Open),
        ]
    );
    assert_eq!(
        changes[2].2.as_deref(),
        Some("no trial call finished within 5s of turning half-open")
    );
}

#[tokio::test(start_paused = true)]
async fn at_max_wait_in_half_open_the_finished_trials_decide() {
    let b = CircuitBreaker::builder("max-wait-decides")
        .window(Window::Count(2))
        .open_for(secs(10))
        .half_open_calls(3)
        .max_wait_in_half_open(secs(5))
        .build()
        .unwrap();
    b.transition_to_open();
    advance(secs(10)).await;
    let mut hung = Box::pin(b.call(pending()));
    assert!(poll_once(hung.as_mut()).is_pending());
    ok(&b).unwrap();
    ok(&b).unwrap();
    assert_eq!(b.state(), CircuitState::HalfOpen, "one trial still runs");
    advance(secs(5)).await;
    // Two of three finished, both succeeded: the next call finds it closed.
    let permit = b.try_acquire().unwrap();
    assert!(!permit.is_trial());
    permit.record_success();
    assert_eq!(b.state(), CircuitState::Closed);
    drop(hung);

    // Finished trials that fail re-open it, on their share.
    let b = CircuitBreaker::builder("max-wait-reopens")
        .window(Window::Count(2))
        .open_for(secs(10))
        .half_open_calls(3)
        .max_wait_in_half_open(secs(5))
        .build()
        .unwrap();
    b.transition_to_half_open();
    let mut hung = Box::pin(b.call(pending()));
    assert!(poll_once(hung.as_mut()).is_pending());
    ok(&b).unwrap();
    let _ = fail(&b);
    advance(secs(5)).await;
    let m = b.metrics();
    assert_eq!((m.state, m.calls, m.failures), (CircuitState::Open, 2, 1));
    let message = rejection(ok(&b)).to_string();
    assert!(
        message.contains("1 of 2 trial calls failed (50% >= 50%)"),
        "{message}"
    );
    drop(hung);
}

#[tokio::test(start_paused = true)]
async fn without_max_wait_in_half_open_a_hung_trial_holds_it() {
    let b = CircuitBreaker::builder("no-max-wait")
        .half_open_calls(1)
        .build()
        .unwrap();
    b.transition_to_half_open();
    let mut hung = Box::pin(b.call(pending()));
    assert!(poll_once(hung.as_mut()).is_pending());
    advance(secs(3600)).await;
    assert_eq!(b.state(), CircuitState::HalfOpen);
    drop(hung); // cancelled: its slot is given back
    ok(&b).unwrap();
    assert_eq!(b.state(), CircuitState::Closed);
}

// ---------------------------------------------------------------------------------
// open_for_factor
// ---------------------------------------------------------------------------------

/// The open times of successive re-opens of `b` (one trial that fails each time).
async fn open_times(b: &CircuitBreaker, n: usize) -> Vec<Duration> {
    let mut times = Vec::new();
    for _ in 0..n {
        let open_for = rejection(ok(b)).retry_after().unwrap();
        times.push(open_for);
        advance(open_for).await;
        let _ = fail(b);
    }
    times
}

#[tokio::test(start_paused = true)]
async fn open_times_grow_by_the_factor_up_to_the_max() {
    let b = CircuitBreaker::builder("factor")
        .window(Window::Count(1))
        .half_open_calls(1)
        .open_for(secs(1))
        .open_for_factor(1.5)
        .open_for_max(secs(5))
        .build()
        .unwrap();
    let _ = fail(&b);
    assert_eq!(
        open_times(&b, 7).await,
        [
            secs(1),
            ms(1_500),
            ms(2_250),
            ms(3_375),
            ms(5_000), // 5.0625s, capped
            ms(5_000),
            ms(5_000),
        ]
    );
    // Closing resets the open time.
    advance(secs(5)).await;
    ok(&b).unwrap();
    let _ = fail(&b);
    assert_eq!(open_times(&b, 2).await, [secs(1), ms(1_500)]);

    // The default factor is 2.
    let d = CircuitBreaker::builder("factor-default")
        .window(Window::Count(1))
        .half_open_calls(1)
        .open_for(secs(1))
        .open_for_max(secs(10))
        .build()
        .unwrap();
    let _ = fail(&d);
    assert_eq!(
        open_times(&d, 6).await,
        [secs(1), secs(2), secs(4), secs(8), secs(10), secs(10)]
    );
}

#[test]
fn the_builder_checks_the_new_settings() {
    let builder = || CircuitBreaker::builder("checked").open_for_max(secs(60));
    for bad in [1.0, 0.5, -2.0, f64::INFINITY, f64::NAN] {
        let e = builder().open_for_factor(bad).build().unwrap_err();
        assert!(
            e.to_string().contains("open_for_factor") && e.to_string().contains("above 1"),
            "{e}"
        );
    }
    assert!(builder().open_for_factor(1.01).build().is_ok());
    let e = CircuitBreaker::builder("checked")
        .open_for_factor(3.0)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("open_for_max"), "{e}");
    let e = CircuitBreaker::builder("checked")
        .max_wait_in_half_open(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("max_wait_in_half_open"), "{e}");
}
