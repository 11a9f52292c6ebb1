//! Event listeners that misbehave: one that panics breaks neither the call that
//! caused the event nor the listeners after it, and a listener may subscribe and
//! unsubscribe (itself included) from inside a listener without a deadlock.
//!
//! Listeners are process-wide and the tests of this file run in parallel, so each
//! listener here looks only at the events of its own test's policy names.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience_runtime::events::{self, Event, EventKind, Subscription};
use resilience_runtime::{CircuitState, Rejection, circuit_breaker, registry, retry};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum ApiError {
    #[error("backend failed")]
    Backend,
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

/// Runs `f` on a thread of its own and returns what it returns, failing the test
/// (instead of hanging it) if it takes longer than 10 s: a deadlock shows as that.
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("finished in time (no deadlock, no lost panic)")
}

/// The names (`EventKind::name`) of `policy`'s events, as a listener saw them.
type Seen = Arc<Mutex<Vec<&'static str>>>;

fn recorder(policy: &'static str) -> (Seen, impl Fn(&Event) + Send + Sync + 'static) {
    let seen = Seen::default();
    let sink = seen.clone();
    (seen, move |event: &Event| {
        if event.name == policy {
            sink.lock().unwrap().push(event.kind.name());
        }
    })
}

// ---------------------------------------------------------------------------------

#[retry(name = "listeners-panic-retry", max_attempts = 3, backoff = none)]
fn retried(attempts: &AtomicU32) -> Result<u32, ApiError> {
    let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
    if n < 3 { Err(ApiError::Backend) } else { Ok(n) }
}

#[test]
fn a_panicking_listener_breaks_neither_the_call_nor_the_other_listeners() {
    let name = "listeners-panic-retry";
    let (before, first) = recorder(name);
    let (after, last) = recorder(name);
    let panics = Arc::new(AtomicU32::new(0));
    let count = panics.clone();
    let _first = events::subscribe(first);
    let _panicking = events::subscribe(move |event| {
        if event.name == name {
            count.fetch_add(1, Ordering::SeqCst);
            panic!("a listener that panics on {}", event.kind.name());
        }
    });
    let _last = events::subscribe(last);

    let outcome = bounded(|| {
        let attempts = AtomicU32::new(0);
        (retried(&attempts), attempts.into_inner())
    });
    assert_eq!(
        outcome,
        (Ok(3), 3),
        "every attempt ran, the result is the body's"
    );
    assert_eq!(
        *before.lock().unwrap(),
        ["retry_scheduled", "retry_scheduled"]
    );
    assert_eq!(
        *after.lock().unwrap(),
        ["retry_scheduled", "retry_scheduled"],
        "the listener after the panicking one saw every event"
    );
    assert_eq!(
        panics.load(Ordering::SeqCst),
        2,
        "the panicking listener stays subscribed"
    );
}

#[circuit_breaker(
    name = "listeners-panic-breaker",
    window = count(2),
    failure_rate = 0.5,
    open_for = "10s",
    half_open_calls = 1
)]
async fn guarded(fail: bool) -> Result<(), ApiError> {
    if fail { Err(ApiError::Backend) } else { Ok(()) }
}

#[tokio::test(start_paused = true)]
async fn a_listener_panicking_on_a_state_change_leaves_the_breaker_working() {
    let name = "listeners-panic-breaker";
    let (seen, listener) = recorder(name);
    let _panicking = events::subscribe(move |event| {
        if event.name == name && matches!(event.kind, EventKind::StateChanged { .. }) {
            panic!("a listener that panics on every state change");
        }
    });
    let _seen = events::subscribe(listener);

    assert_eq!(guarded(true).await, Err(ApiError::Backend));
    assert_eq!(
        guarded(true).await,
        Err(ApiError::Backend),
        "the call that opened it returns its own error"
    );
    let breaker = registry::circuit_breaker(name).unwrap();
    assert_eq!(breaker.state(), CircuitState::Open);
    let err = guarded(false).await.unwrap_err();
    assert!(
        matches!(&err, ApiError::Rejected(Rejection::CircuitOpen { retry_after, .. }) if *retry_after == Duration::from_secs(10)),
        "{err:?}"
    );
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(guarded(false).await, Ok(()), "the trial runs");
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "state_changed",
            "rejected",
            "state_changed",
            "state_changed"
        ]
    );
}

// ---------------------------------------------------------------------------------

#[retry(name = "listeners-nested", max_attempts = 5, backoff = none)]
fn five_failures() -> Result<(), ApiError> {
    Err(ApiError::Backend)
}

#[test]
fn a_listener_may_subscribe_and_unsubscribe_listeners_from_inside_a_listener() {
    let name = "listeners-nested";
    let (nested_seen, nested) = recorder(name);
    let nested = Arc::new(nested);
    let slot: Arc<Mutex<Option<Subscription>>> = Arc::default();
    let outer_slot = slot.clone();
    let attempts_seen = Arc::new(Mutex::new(Vec::new()));
    let outer_attempts = attempts_seen.clone();
    let _outer = events::subscribe(move |event| {
        if event.name != name {
            return;
        }
        if let EventKind::RetryScheduled { attempt, .. } = event.kind {
            outer_attempts.lock().unwrap().push(attempt);
            match attempt {
                // Subscribed from inside a listener: it sees the events from the
                // next one on.
                1 => {
                    let nested = nested.clone();
                    *outer_slot.lock().unwrap() =
                        Some(events::subscribe(move |event| nested(event)));
                }
                // Unsubscribed from inside a listener: it sees nothing after this
                // event.
                3 => drop(outer_slot.lock().unwrap().take()),
                _ => {}
            }
        }
    });

    let result = bounded(five_failures);
    assert_eq!(result, Err(ApiError::Backend));
    assert_eq!(*attempts_seen.lock().unwrap(), [1, 2, 3, 4]);
    assert_eq!(
        *nested_seen.lock().unwrap(),
        ["retry_scheduled", "retry_scheduled"],
        "subscribed after attempt 1's event, unsubscribed during attempt 3's: it saw 2 and 3"
    );
    assert!(slot.lock().unwrap().is_none());
}

#[retry(name = "listeners-self", max_attempts = 4, backoff = none)]
fn four_failures() -> Result<(), ApiError> {
    Err(ApiError::Backend)
}

#[test]
fn a_listener_may_drop_its_own_subscription() {
    let name = "listeners-self";
    let calls = Arc::new(AtomicU32::new(0));
    let own: Arc<Mutex<Option<Subscription>>> = Arc::default();
    let (counted, slot) = (calls.clone(), own.clone());
    *own.lock().unwrap() = Some(events::subscribe(move |event| {
        if event.name == name {
            counted.fetch_add(1, Ordering::SeqCst);
            // Unsubscribes itself, while it runs.
            drop(slot.lock().unwrap().take());
        }
    }));
    let (seen, listener) = recorder(name);
    let _seen = events::subscribe(listener);

    assert_eq!(bounded(four_failures), Err(ApiError::Backend));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "called once, then gone");
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "retry_scheduled",
            "retry_scheduled",
            "retry_scheduled",
            "retries_exhausted"
        ],
        "the listener after it saw every event"
    );
}
