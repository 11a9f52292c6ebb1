//! Feature `tracing`: every event is a `tracing` event with target
//! `resilience_runtime`, fields `policy`, `name`, `kind` and the kind's own, the
//! diagnosis as its message, at the level API.md gives it. Captured by a subscriber
//! set as this thread's default (tests run in parallel, each on its own thread, and a
//! current-thread runtime polls on it), so each test sees only its own events.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience_runtime::{
    Rejection, bulkhead, circuit_breaker, fallback, rate_limit, registry, retry, timeout,
};
use tokio::time::{advance, sleep};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Level, Metadata, Subscriber};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum ApiError {
    #[error("backend failed")]
    Backend,
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

/// One `tracing` event as the subscriber saw it.
#[derive(Debug, Clone)]
struct Captured {
    level: Level,
    target: String,
    /// Every field but the message, as text (`str` values without quotes).
    fields: BTreeMap<String, String>,
    message: String,
}

impl Captured {
    fn field(&self, name: &str) -> &str {
        self.fields
            .get(name)
            .unwrap_or_else(|| panic!("no field {name} in {self:?}"))
    }
}

/// A subscriber that keeps every event at `max` or more severe.
struct Capture {
    max: Level,
    seen: Arc<Mutex<Vec<Captured>>>,
}

#[derive(Default)]
struct Fields {
    fields: BTreeMap<String, String>,
    message: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else {
            self.fields.insert(field.name().to_owned(), text);
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields
            .insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(self.max.into())
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.seen.lock().unwrap().push(Captured {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            fields: fields.fields,
            message: fields.message,
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Captures this thread's events at `max` or more severe until the guard is dropped.
fn capture(max: Level) -> (tracing::subscriber::DefaultGuard, Arc<Mutex<Vec<Captured>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let guard = tracing::subscriber::set_default(Capture {
        max,
        seen: seen.clone(),
    });
    (guard, seen)
}

/// The captured events of the policy `name`.
fn of(seen: &Mutex<Vec<Captured>>, name: &str) -> Vec<Captured> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|e| e.fields.get("name").map(String::as_str) == Some(name))
        .cloned()
        .collect()
}

fn kinds(events: &[Captured]) -> Vec<(Level, &str)> {
    events.iter().map(|e| (e.level, e.field("kind"))).collect()
}

// ---------------------------------------------------------------------------------

#[circuit_breaker(
    name = "tracing-breaker",
    window = count(2),
    failure_rate = 0.5,
    open_for = "10s",
    half_open_calls = 1
)]
async fn breaker_call(fail: bool) -> Result<(), ApiError> {
    if fail { Err(ApiError::Backend) } else { Ok(()) }
}

#[tokio::test(start_paused = true)]
async fn a_breaker_opening_is_warn_with_from_to_and_reason_and_recovery_is_info() {
    let name = "tracing-breaker";
    let (_guard, seen) = capture(Level::TRACE);
    breaker_call(false).await.unwrap();
    assert!(of(&seen, name).is_empty(), "a success makes no event");
    // 1 of the last 2 calls failed: 50% >= 50%, it opens.
    assert_eq!(breaker_call(true).await, Err(ApiError::Backend));
    let err = breaker_call(false).await.unwrap_err();
    assert!(matches!(
        err,
        ApiError::Rejected(Rejection::CircuitOpen { .. })
    ));
    advance(Duration::from_secs(10)).await;
    breaker_call(false).await.unwrap();

    let events = of(&seen, name);
    assert_eq!(
        kinds(&events),
        [
            (Level::WARN, "state_changed"),
            (Level::DEBUG, "rejected"),
            (Level::INFO, "state_changed"),
            (Level::INFO, "state_changed"),
        ]
    );
    for e in &events {
        assert_eq!(e.target, "resilience_runtime");
        assert_eq!(e.field("policy"), "circuit_breaker");
        assert_eq!(e.field("name"), name);
    }
    let opened = &events[0];
    assert_eq!(
        (opened.field("from"), opened.field("to")),
        ("closed", "open")
    );
    let reason = opened.field("reason");
    assert!(
        reason.contains("1 of the last 2 calls failed (50% >= 50%)"),
        "reason: {reason}"
    );
    assert_eq!(
        opened.message,
        format!("circuit breaker '{name}' went closed -> open: {reason}")
    );

    let rejected = &events[1];
    assert_eq!(rejected.field("rejection"), err.to_string());
    assert_eq!(rejected.message, err.to_string());
    assert!(rejected.fields.contains_key("retry_after"), "{rejected:?}");

    let (half_open, closed) = (&events[2], &events[3]);
    assert_eq!(
        (half_open.field("from"), half_open.field("to")),
        ("open", "half_open")
    );
    assert_eq!(
        (closed.field("from"), closed.field("to")),
        ("half_open", "closed")
    );
    assert!(
        closed.message.starts_with(&format!(
            "circuit breaker '{name}' went half-open -> closed"
        )),
        "{}",
        closed.message
    );
}

#[tokio::test(start_paused = true)]
async fn changes_by_hand_forced_open_is_warn_and_back_is_info() {
    let name = "tracing-by-hand";
    resilience_runtime::CircuitBreaker::builder(name)
        .register()
        .unwrap();
    let breaker = registry::circuit_breaker(name).unwrap();
    let (_guard, seen) = capture(Level::TRACE);
    breaker.force_open();
    breaker.reset();
    let events = of(&seen, name);
    assert_eq!(
        kinds(&events),
        [
            (Level::WARN, "state_changed"),
            (Level::INFO, "state_changed")
        ]
    );
    assert_eq!(
        (events[0].field("from"), events[0].field("to")),
        ("closed", "forced_open")
    );
    assert_eq!(
        (events[1].field("from"), events[1].field("to")),
        ("forced_open", "closed")
    );
}

// ---------------------------------------------------------------------------------

#[retry(name = "tracing-retry", max_attempts = 3, backoff = fixed("250ms"), jitter = none)]
async fn always_fails() -> Result<(), ApiError> {
    Err(ApiError::Backend)
}

#[tokio::test(start_paused = true)]
async fn a_retry_scheduled_is_debug_with_attempt_and_delay_and_exhaustion_is_warn() {
    let name = "tracing-retry";
    let (_guard, seen) = capture(Level::TRACE);
    assert_eq!(always_fails().await, Err(ApiError::Backend));
    let events = of(&seen, name);
    assert_eq!(
        kinds(&events),
        [
            (Level::DEBUG, "retry_scheduled"),
            (Level::DEBUG, "retry_scheduled"),
            (Level::WARN, "retries_exhausted"),
        ]
    );
    for (e, attempt) in events.iter().zip(["1", "2"]) {
        assert_eq!(e.target, "resilience_runtime");
        assert_eq!(e.field("policy"), "retry");
        assert_eq!(e.field("attempt"), attempt);
        assert_eq!(e.field("delay"), "250ms");
        assert_eq!(
            e.message,
            format!("retry '{name}': attempt {attempt} failed; next attempt in 250ms")
        );
    }
    assert_eq!(events[2].field("attempts"), "3");
    assert_eq!(
        events[2].message,
        format!("retry '{name}': all 3 attempts failed; returning the last error")
    );
}

#[retry(name = "tracing-retry-filtered", max_attempts = 3, backoff = none)]
async fn always_fails_too() -> Result<(), ApiError> {
    Err(ApiError::Backend)
}

#[tokio::test(start_paused = true)]
async fn a_subscriber_that_wants_warn_only_gets_the_warn_events() {
    let name = "tracing-retry-filtered";
    let (_guard, seen) = capture(Level::WARN);
    assert_eq!(always_fails_too().await, Err(ApiError::Backend));
    let events = of(&seen, name);
    assert_eq!(kinds(&events), [(Level::WARN, "retries_exhausted")]);
}

// ---------------------------------------------------------------------------------

#[timeout(after = "1s", name = "tracing-timeout")]
async fn slow() -> Result<(), ApiError> {
    sleep(Duration::from_secs(5)).await;
    Ok(())
}

#[fallback(value = 7, name = "tracing-fallback")]
async fn falls_back() -> Result<u32, ApiError> {
    Err(ApiError::Backend)
}

#[bulkhead(max_concurrent = 1, name = "tracing-bulkhead")]
async fn one_at_a_time(work: Duration) -> Result<(), ApiError> {
    sleep(work).await;
    Ok(())
}

#[rate_limit(rate = "1/s", burst = 1, name = "tracing-rate")]
async fn paced() -> Result<(), ApiError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn timeouts_fallbacks_and_refusals_are_debug_with_their_fields() {
    let (_guard, seen) = capture(Level::TRACE);

    let err = slow().await.unwrap_err();
    let timed_out = of(&seen, "tracing-timeout");
    // The timeout passing, then the refusal the caller receives.
    assert_eq!(
        kinds(&timed_out)[0],
        (Level::DEBUG, "timed_out"),
        "{timed_out:?}"
    );
    assert_eq!(timed_out[0].field("policy"), "timeout");
    assert_eq!(timed_out[0].field("after"), "1s");
    assert_eq!(
        timed_out[0].message,
        "timeout 'tracing-timeout': timed out after 1s"
    );
    assert!(timed_out.iter().all(|e| e.level == Level::DEBUG));
    assert!(matches!(err, ApiError::Rejected(Rejection::Timeout { .. })));

    assert_eq!(falls_back().await, Ok(7));
    let fallback = of(&seen, "tracing-fallback");
    assert_eq!(kinds(&fallback), [(Level::DEBUG, "fallback_used")]);
    assert_eq!(fallback[0].field("policy"), "fallback");
    assert_eq!(
        fallback[0].message,
        "fallback 'tracing-fallback': fallback used"
    );

    let running = tokio::spawn(one_at_a_time(Duration::from_secs(1)));
    tokio::task::yield_now().await;
    let err = one_at_a_time(Duration::ZERO).await.unwrap_err();
    running.await.unwrap().unwrap();
    let full = of(&seen, "tracing-bulkhead");
    assert_eq!(kinds(&full), [(Level::DEBUG, "rejected")]);
    assert_eq!(full[0].field("policy"), "bulkhead");
    assert_eq!(full[0].field("rejection"), err.to_string());
    assert!(
        !full[0].fields.contains_key("retry_after"),
        "a full bulkhead does not know when: {:?}",
        full[0]
    );

    paced().await.unwrap();
    let err = paced().await.unwrap_err();
    let limited = of(&seen, "tracing-rate");
    assert_eq!(kinds(&limited), [(Level::DEBUG, "rejected")]);
    assert_eq!(limited[0].field("policy"), "rate_limit");
    assert_eq!(limited[0].field("rejection"), err.to_string());
    assert_eq!(limited[0].field("retry_after"), "1s");
    assert_eq!(limited[0].message, err.to_string());
}

#[bulkhead(max_concurrent = adaptive(initial = 8, min = 1, max = 16), name = "tracing-adaptive")]
async fn adaptive_failing() -> Result<(), ApiError> {
    sleep(Duration::from_millis(1)).await;
    Err(ApiError::Backend)
}

#[tokio::test(start_paused = true)]
async fn an_adaptive_limit_moving_is_debug_with_from_and_to() {
    let name = "tracing-adaptive";
    let (_guard, seen) = capture(Level::TRACE);
    for _ in 0..20 {
        let _ = adaptive_failing().await;
    }
    let events = of(&seen, name);
    assert!(!events.is_empty(), "failing calls shrink the limit");
    let mut limit = 8;
    for e in &events {
        assert_eq!((e.level, e.field("kind")), (Level::DEBUG, "limit_changed"));
        assert_eq!(e.field("policy"), "bulkhead");
        let from: usize = e.field("from").parse().unwrap();
        let to: usize = e.field("to").parse().unwrap();
        assert_eq!(from, limit, "each move starts where the last ended");
        assert!(to < from, "failures only shrink it: {e:?}");
        assert_eq!(
            e.message,
            format!("bulkhead '{name}': limit moved from {from} to {to}")
        );
        limit = to;
    }
    let now = registry::bulkhead(name).unwrap().limit();
    assert_eq!(limit, now);
}
