//! Every event kind the policies emit, with its fields, in order, under paused time;
//! and the counters `registry::snapshot` lists after known calls.
//!
//! Listeners are process-wide and the tests of this file run in parallel threads, so
//! each test gives its policies names of its own and keeps only their events.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience_runtime::events::{self, Event, EventKind, PolicyKind, Subscription};
use resilience_runtime::registry::{self, PolicySnapshot};
use resilience_runtime::{
    Bulkhead, CircuitState, Rejection, bulkhead, circuit_breaker, fallback, rate_limit, retry,
    timeout,
};
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum ApiError {
    #[error("server error")]
    Server,
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

/// The events of policies whose name starts with `prefix`, as they arrive.
struct Recorder {
    events: Arc<Mutex<Vec<Event>>>,
    _subscription: Subscription,
}

impl Recorder {
    fn new(prefix: &'static str) -> Self {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let subscription = events::subscribe(move |event| {
            if event.name.starts_with(prefix) {
                sink.lock().unwrap().push(event.clone());
            }
        });
        Recorder {
            events,
            _subscription: subscription,
        }
    }

    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }
}

fn snapshot_of(policy: PolicyKind, name: &str) -> PolicySnapshot {
    registry::snapshot()
        .into_iter()
        .find(|s| s.policy == policy && s.name == name)
        .unwrap_or_else(|| panic!("{policy} '{name}' is not registered"))
}

// ---------------------------------------------------------------------------------
// Retry
// ---------------------------------------------------------------------------------

#[retry(name = "ev-retry", max_attempts = 3, backoff = fixed("100ms"), jitter = none)]
async fn always_fails() -> Result<u32, ApiError> {
    Err(ApiError::Server)
}

#[tokio::test(start_paused = true)]
async fn retry_schedules_before_each_sleep_then_reports_exhaustion() {
    let recorder = Recorder::new("ev-retry");
    let start = Instant::now();
    assert_eq!(always_fails().await, Err(ApiError::Server));
    let events = recorder.take();
    let kinds: Vec<_> = events.iter().map(|e| e.kind.clone()).collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert!(matches!(
        kinds[0],
        EventKind::RetryScheduled { attempt: 1, delay } if delay == Duration::from_millis(100)
    ));
    assert!(matches!(
        kinds[1],
        EventKind::RetryScheduled { attempt: 2, delay } if delay == Duration::from_millis(100)
    ));
    assert!(matches!(
        kinds[2],
        EventKind::RetriesExhausted { attempts: 3 }
    ));
    // Emitted before each sleep: at 0 ms and 100 ms; exhaustion at 200 ms.
    let at: Vec<_> = events.iter().map(|e| e.at - start).collect();
    assert_eq!(
        at,
        [0, 100, 200].map(Duration::from_millis),
        "when each event was emitted"
    );
    assert!(events.iter().all(|e| e.policy == PolicyKind::Retry));
    assert_eq!(
        events[0].to_string(),
        "retry 'ev-retry': attempt 1 failed; next attempt in 100ms"
    );

    let s = snapshot_of(PolicyKind::Retry, "ev-retry");
    assert_eq!(
        (
            s.calls,
            s.successes,
            s.failures,
            s.retries,
            s.retries_exhausted
        ),
        (1, 0, 1, 2, 1)
    );
}

#[retry(name = "ev-retry-ok", max_attempts = 3, backoff = none)]
async fn succeeds() -> Result<u32, ApiError> {
    Ok(7)
}

#[tokio::test(start_paused = true)]
async fn a_successful_call_makes_no_event_but_is_counted() {
    let recorder = Recorder::new("ev-retry-ok");
    for _ in 0..5 {
        assert_eq!(succeeds().await, Ok(7));
    }
    assert!(recorder.take().is_empty());
    let s = snapshot_of(PolicyKind::Retry, "ev-retry-ok");
    assert_eq!((s.calls, s.successes, s.failures, s.retries), (5, 5, 0, 0));
}

// ---------------------------------------------------------------------------------
// Circuit breaker
// ---------------------------------------------------------------------------------

#[circuit_breaker(
    name = "ev-breaker",
    consecutive_failures = 2,
    open_for = "10s",
    half_open_calls = 1
)]
async fn guarded(fail: bool) -> Result<(), ApiError> {
    if fail { Err(ApiError::Server) } else { Ok(()) }
}

#[tokio::test(start_paused = true)]
async fn breaker_transitions_and_refusals_in_order() {
    let recorder = Recorder::new("ev-breaker");
    let _ = guarded(true).await;
    let _ = guarded(true).await; // opens
    let refused = guarded(false).await.unwrap_err();
    tokio::time::advance(Duration::from_secs(25)).await; // noticed 15s late
    guarded(false).await.unwrap(); // half-open trial, then closed
    let breaker = registry::circuit_breaker("ev-breaker").unwrap();
    breaker.force_open();
    breaker.reset();

    let events = recorder.take();
    let summary: Vec<String> = events
        .iter()
        .map(|e| match &e.kind {
            EventKind::StateChanged { from, to, reason } => {
                format!("{from:?}->{to:?} {}", reason.clone().unwrap_or_default())
            }
            EventKind::Rejected { rejection } => format!("rejected {rejection}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "Closed->Open 2 failures in a row".to_owned(),
            format!("rejected {refused}"),
            "Open->HalfOpen ".to_owned(),
            "HalfOpen->Closed ".to_owned(),
            "Closed->ForcedOpen forced open by hand".to_owned(),
            "ForcedOpen->Closed ".to_owned(),
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e.policy == PolicyKind::CircuitBreaker)
    );
    assert!(matches!(
        &events[1].kind,
        EventKind::Rejected { rejection: Rejection::CircuitOpen { name, .. } } if name == "ev-breaker"
    ));
    // The half-open transition is dated at the end of the open period.
    assert_eq!(events[2].at - events[0].at, Duration::from_secs(10));

    let s = snapshot_of(PolicyKind::CircuitBreaker, "ev-breaker");
    assert_eq!(s.state, Some(CircuitState::Closed));
    assert_eq!(
        (s.calls, s.successes, s.failures, s.rejections),
        (4, 1, 2, 1)
    );
    let transitions: Vec<_> = s
        .transitions
        .iter()
        .map(|t| (t.from, t.to, t.count))
        .collect();
    assert_eq!(
        transitions,
        [
            (CircuitState::Closed, CircuitState::Open, 1),
            (CircuitState::Open, CircuitState::HalfOpen, 1),
            (CircuitState::HalfOpen, CircuitState::Closed, 1),
            (CircuitState::Closed, CircuitState::ForcedOpen, 1),
            (CircuitState::ForcedOpen, CircuitState::Closed, 1),
        ]
    );
}

#[circuit_breaker(name = "ev-keyed", key = tenant, consecutive_failures = 1)]
async fn per_tenant(tenant: u32, fail: bool) -> Result<(), ApiError> {
    if fail { Err(ApiError::Server) } else { Ok(()) }
}

#[tokio::test(start_paused = true)]
async fn a_keyed_breaker_is_one_entry_with_its_keys_summed() {
    let _ = per_tenant(1, true).await;
    let _ = per_tenant(2, false).await;
    let _ = per_tenant(1, false).await; // refused: tenant 1 is open
    let s = snapshot_of(PolicyKind::CircuitBreaker, "ev-keyed");
    assert_eq!(
        (s.calls, s.successes, s.failures, s.rejections),
        (3, 1, 1, 1)
    );
    assert_eq!(
        s.state,
        Some(CircuitState::Open),
        "the most severe key's state"
    );
    assert_eq!(
        registry::snapshot()
            .iter()
            .filter(|s| s.name == "ev-keyed")
            .count(),
        1
    );
}

// ---------------------------------------------------------------------------------
// Timeout, fallback
// ---------------------------------------------------------------------------------

#[timeout(after = "50ms", name = "ev-timeout")]
async fn slow(ms: u64) -> Result<(), ApiError> {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_timeout_tells_when_it_passed() {
    let recorder = Recorder::new("ev-timeout");
    slow(10).await.unwrap();
    let start = Instant::now();
    assert!(slow(100).await.is_err());
    let events = recorder.take();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(matches!(
        events[0].kind,
        EventKind::TimedOut { after } if after == Duration::from_millis(50)
    ));
    assert_eq!(events[0].policy, PolicyKind::Timeout);
    assert_eq!(events[0].at - start, Duration::from_millis(50));
    let s = snapshot_of(PolicyKind::Timeout, "ev-timeout");
    assert_eq!((s.calls, s.successes, s.timeouts), (2, 1, 1));
}

#[fallback(value = 0, name = "ev-fallback")]
async fn with_default(fail: bool) -> Result<u32, ApiError> {
    if fail { Err(ApiError::Server) } else { Ok(5) }
}

#[tokio::test(start_paused = true)]
async fn a_fallback_tells_when_it_answered() {
    let recorder = Recorder::new("ev-fallback");
    assert_eq!(with_default(false).await, Ok(5));
    assert_eq!(with_default(true).await, Ok(0));
    let events = recorder.take();
    assert_eq!(events.len(), 1);
    assert!(matches!(events[0].kind, EventKind::FallbackUsed));
    assert_eq!(events[0].policy, PolicyKind::Fallback);
    let s = snapshot_of(PolicyKind::Fallback, "ev-fallback");
    assert_eq!(
        (s.calls, s.successes, s.failures, s.fallbacks),
        (2, 1, 1, 1),
        "failures counts the body's errors, fallbacks those it answered"
    );
}

// ---------------------------------------------------------------------------------
// Bulkhead, rate limit
// ---------------------------------------------------------------------------------

#[bulkhead(max_concurrent = 1, name = "ev-bulkhead")]
async fn one_at_a_time(ms: u64) -> Result<(), ApiError> {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_and_a_closed_one_refuse_with_events() {
    let recorder = Recorder::new("ev-bulkhead");
    let running = tokio::spawn(one_at_a_time(100));
    tokio::task::yield_now().await;
    let s = snapshot_of(PolicyKind::Bulkhead, "ev-bulkhead");
    assert_eq!((s.in_flight, s.limit), (Some(1), Some(1)));
    let refused = one_at_a_time(1).await.unwrap_err();
    running.await.unwrap().unwrap();
    registry::bulkhead("ev-bulkhead").unwrap().close();
    let closed = one_at_a_time(1).await.unwrap_err();
    let events = recorder.take();
    let rejections: Vec<_> = events
        .iter()
        .map(|e| match &e.kind {
            EventKind::Rejected { rejection } => rejection.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert!(matches!(
        rejections[0],
        Rejection::BulkheadFull {
            max_concurrent: 1,
            ..
        }
    ));
    assert!(matches!(rejections[1], Rejection::ShuttingDown { .. }));
    assert_eq!(ApiError::Rejected(rejections[0].clone()), refused);
    assert_eq!(ApiError::Rejected(rejections[1].clone()), closed);
    let s = snapshot_of(PolicyKind::Bulkhead, "ev-bulkhead");
    assert_eq!(
        (s.calls, s.successes, s.rejections, s.in_flight),
        (3, 1, 2, Some(0))
    );
}

#[rate_limit(rate = "2/s", name = "ev-rate")]
async fn limited() -> Result<(), ApiError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_refusal_carries_its_retry_after() {
    let recorder = Recorder::new("ev-rate");
    limited().await.unwrap();
    limited().await.unwrap();
    assert!(limited().await.is_err());
    let events = recorder.take();
    assert_eq!(events.len(), 1);
    assert!(matches!(
        &events[0].kind,
        EventKind::Rejected { rejection: Rejection::RateLimited { retry_after, .. } }
            if *retry_after == Duration::from_millis(500)
    ));
    assert_eq!(events[0].policy, PolicyKind::RateLimit);
    let s = snapshot_of(PolicyKind::RateLimit, "ev-rate");
    assert_eq!((s.calls, s.successes, s.rejections), (3, 2, 1));
}

#[tokio::test(start_paused = true)]
async fn an_adaptive_bulkhead_tells_when_its_limit_moves() {
    use resilience_runtime::bulkhead::Adaptive;
    let recorder = Recorder::new("ev-adaptive");
    let bh = Bulkhead::builder("ev-adaptive")
        .adaptive(Adaptive::new(10, 1, 20))
        .max_wait(Duration::MAX)
        .register()
        .unwrap();
    // Failing calls make an adaptive limit shrink.
    for _ in 0..50 {
        let _ = bh
            .call(async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Err::<(), _>(ApiError::Server)
            })
            .await;
    }
    let moves: Vec<(usize, usize)> = recorder
        .take()
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::LimitChanged { from, to } => Some((from, to)),
            _ => None,
        })
        .collect();
    assert!(!moves.is_empty(), "the limit never moved");
    assert_eq!(moves[0].0, 10, "{moves:?}");
    for pair in moves.windows(2) {
        assert_eq!(
            pair[0].1, pair[1].0,
            "each move starts where the last ended"
        );
    }
    assert_eq!(moves.last().unwrap().1, bh.limit());
}

// ---------------------------------------------------------------------------------
// Registration, and the listing
// ---------------------------------------------------------------------------------

#[retry(max_attempts = 2, backoff = none)]
#[timeout("1s")]
async fn default_named() -> Result<(), ApiError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn every_policy_of_an_annotated_function_is_registered_under_its_path() {
    default_named().await.unwrap();
    let name = concat!(module_path!(), "::default_named");
    for policy in [PolicyKind::Retry, PolicyKind::Timeout] {
        let s = snapshot_of(policy, name);
        assert_eq!(s.successes, 1, "{policy}");
    }
    let all = registry::snapshot();
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| (a.policy, &a.name).cmp(&(b.policy, &b.name)));
    assert_eq!(all, sorted, "sorted by policy, then name");
}

#[retry(name = "ev-shared", max_attempts = 1)]
async fn shared_a() -> Result<(), ApiError> {
    Ok(())
}

#[retry(name = "ev-shared", max_attempts = 1)]
async fn shared_b() -> Result<(), ApiError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn functions_that_give_one_name_share_the_policy() {
    shared_a().await.unwrap();
    shared_b().await.unwrap();
    assert_eq!(snapshot_of(PolicyKind::Retry, "ev-shared").successes, 2);
}

#[test]
fn counts_from_many_threads_add_up() {
    #[circuit_breaker(name = "ev-threads")]
    fn call(fail: bool) -> Result<(), ApiError> {
        if fail { Err(ApiError::Server) } else { Ok(()) }
    }
    // More threads than stripes, some of them ending early, so stripes are handed on
    // and the shared block is used too.
    let threads: Vec<_> = (0..80)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..500 {
                    let _ = call(t % 7 == 0 && i % 100 == 0);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = snapshot_of(PolicyKind::CircuitBreaker, "ev-threads");
    // Threads 0, 7, .., 77 (12 of them) fail 5 times each.
    assert_eq!(s.failures, 60);
    assert_eq!(s.successes + s.failures + s.rejections, 80 * 500);
}

#[test]
fn retry_and_fallback_counts_from_many_threads_and_functions_add_up() {
    // Two functions counting under each name, called first by many threads at once
    // (each function registers the policy once), by more threads than stripes.
    #[retry(name = "ev-sites-retry", max_attempts = 2, backoff = none)]
    fn retried_a(fail: bool) -> Result<(), ApiError> {
        if fail { Err(ApiError::Server) } else { Ok(()) }
    }
    #[retry(name = "ev-sites-retry", max_attempts = 2, backoff = none)]
    fn retried_b() -> Result<(), ApiError> {
        Ok(())
    }
    #[fallback(value = 7, name = "ev-sites-fallback")]
    fn fell_back_a(fail: bool) -> Result<u32, ApiError> {
        if fail { Err(ApiError::Server) } else { Ok(1) }
    }
    #[fallback(value = 7, name = "ev-sites-fallback")]
    fn fell_back_b() -> Result<u32, ApiError> {
        Ok(1)
    }
    let start = Arc::new(std::sync::Barrier::new(80));
    let threads: Vec<_> = (0..80)
        .map(|t| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                for i in 0..300 {
                    let fail = t % 8 == 0 && i % 100 == 0;
                    let _ = retried_a(fail);
                    retried_b().unwrap();
                    assert_eq!(fell_back_a(fail).unwrap(), if fail { 7 } else { 1 });
                    fell_back_b().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Threads 0, 8, .., 72 (10 of them) fail 3 times each: every attempt of a retry
    // (both fail), once for a fallback.
    let retry = snapshot_of(PolicyKind::Retry, "ev-sites-retry");
    assert_eq!(retry.failures, 30);
    assert_eq!(retry.retries, 30);
    assert_eq!(retry.successes, 2 * 80 * 300 - 30);
    let fallback = snapshot_of(PolicyKind::Fallback, "ev-sites-fallback");
    assert_eq!((fallback.failures, fallback.fallbacks), (30, 30));
    assert_eq!(fallback.successes, 2 * 80 * 300 - 30);
    let listed = registry::snapshot()
        .into_iter()
        .filter(|s| s.name.starts_with("ev-sites-"))
        .count();
    assert_eq!(listed, 2, "one entry per name");
}

#[test]
fn policy_kinds_display_as_their_attribute() {
    let names: Vec<String> = [
        PolicyKind::Retry,
        PolicyKind::CircuitBreaker,
        PolicyKind::Timeout,
        PolicyKind::Fallback,
        PolicyKind::Bulkhead,
        PolicyKind::RateLimit,
        PolicyKind::Hedge,
        PolicyKind::Cache,
        PolicyKind::Coalesce,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        names,
        [
            "retry",
            "circuit_breaker",
            "timeout",
            "fallback",
            "bulkhead",
            "rate_limit",
            "hedge",
            "cache",
            "coalesce"
        ]
    );
}

#[test]
fn dropping_the_subscription_unsubscribes() {
    let seen = Arc::new(Mutex::new(0));
    let sink = seen.clone();
    let sub = events::subscribe(move |e| {
        if e.name == "ev-unsub" {
            *sink.lock().unwrap() += 1;
        }
    });
    let b = resilience_runtime::CircuitBreaker::builder("ev-unsub")
        .build()
        .unwrap();
    b.force_open();
    drop(sub);
    b.reset();
    assert_eq!(*seen.lock().unwrap(), 1, "only the event before the drop");
}
