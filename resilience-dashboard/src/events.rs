//! `GET /events`: every policy event as a server-sent event, one JSON object each.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::response::IntoResponse;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use resilience_runtime::events::{self, Event, EventKind, Subscription};
use resilience_runtime::{CircuitState, Rejection};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

/// How many events each `/events` client may have queued, not yet sent. A client that
/// falls further behind misses the events that do not fit (the policies never wait for
/// a client).
pub const EVENT_QUEUE: usize = 256;

/// How often a comment is written to an idle stream: it keeps proxies from closing it
/// and lets the server notice a client that went away (the write fails).
const KEEP_ALIVE: Duration = Duration::from_secs(3);

/// A stream of events for one client.
pub(crate) async fn events() -> impl IntoResponse {
    Sse::new(EventStream::subscribe()).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

/// One client's events. Dropping it (hyper does when the client disconnects) drops the
/// subscription, and with it the listener.
pub(crate) struct EventStream {
    queue: mpsc::Receiver<(Event, SystemTime)>,
    _subscription: Subscription,
}

impl EventStream {
    /// Subscribes a listener that queues every event for this stream.
    fn subscribe() -> EventStream {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        // Runs on the policy's thread: never block; when the queue is full, drop the
        // event (before copying it).
        let subscription = events::subscribe(move |event| {
            if let Ok(slot) = tx.try_reserve() {
                slot.send((event.clone(), SystemTime::now()));
            }
        });
        EventStream {
            queue: rx,
            _subscription: subscription,
        }
    }
}

impl futures_core::Stream for EventStream {
    type Item = Result<SseEvent, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.queue.poll_recv(cx).map(|next| {
            next.map(|(event, at)| {
                // Unnamed, so that `EventSource.onmessage` sees every kind; the
                // kind is in the object.
                Ok(SseEvent::default().data(to_json(&event, at).to_string()))
            })
        })
    }
}

/// The event as the page reads it: `policy`, `name`, `kind`, the kind's fields,
/// `message` (the diagnosis) and `timestamp` (milliseconds since the Unix epoch).
pub(crate) fn to_json(event: &Event, at: SystemTime) -> Value {
    let mut object = Map::new();
    object.insert("policy".into(), json!(event.policy.as_str()));
    object.insert("name".into(), json!(event.name));
    object.insert("kind".into(), json!(event.kind.name()));
    kind_fields(&event.kind, &mut object);
    object.insert("message".into(), json!(event.to_string()));
    let millis = at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    object.insert("timestamp".into(), json!(millis));
    Value::Object(object)
}

/// The kind's own fields, under their names in `EventKind`; durations in seconds.
fn kind_fields(kind: &EventKind, object: &mut Map<String, Value>) {
    let mut put = |key: &str, value: Value| {
        object.insert(key.to_owned(), value);
    };
    match kind {
        EventKind::RetryScheduled { attempt, delay } => {
            put("attempt", json!(attempt));
            put("delay", seconds(*delay));
        }
        EventKind::RetriesExhausted { attempts } => put("attempts", json!(attempts)),
        EventKind::StateChanged { from, to, reason } => {
            put("from", state(*from));
            put("to", state(*to));
            put("reason", json!(reason));
        }
        EventKind::Probe { healthy } => put("healthy", json!(healthy)),
        EventKind::Rejected { rejection } => {
            for (key, value) in rejection_fields(rejection) {
                put(key, value);
            }
        }
        EventKind::TimedOut { after } => put("after", seconds(*after)),
        EventKind::LimitChanged { from, to } => {
            put("from", json!(from));
            put("to", json!(to));
        }
        EventKind::Hedged { copy } => put("copy", json!(copy)),
        EventKind::StaleServed { age } => put("age", seconds(*age)),
        EventKind::StoreUnavailable { error } => put("error", json!(error)),
        // No fields of their own (and kinds added later show by name and message).
        _ => {}
    }
}

/// A rejection's variant in snake case under `rejection`, and what it knows.
fn rejection_fields(rejection: &Rejection) -> Vec<(&'static str, Value)> {
    let variant = match rejection {
        Rejection::CircuitOpen { .. } => "circuit_open",
        Rejection::Timeout { .. } => "timeout",
        Rejection::BulkheadFull { .. } => "bulkhead_full",
        Rejection::RateLimited { .. } => "rate_limited",
        Rejection::ShuttingDown { .. } => "shutting_down",
        _ => "other",
    };
    let mut fields = vec![("rejection", json!(variant))];
    if let Some(retry_after) = rejection.retry_after() {
        fields.push(("retry_after", seconds(retry_after)));
    }
    match rejection {
        Rejection::Timeout { after, .. } => fields.push(("after", seconds(*after))),
        Rejection::BulkheadFull { max_concurrent, .. } => {
            fields.push(("max_concurrent", json!(max_concurrent)));
        }
        _ => {}
    }
    fields
}

fn state(state: CircuitState) -> Value {
    json!(state.as_str())
}

/// Seconds as a number; `Duration::MAX` (a rate-limit cost that can never pass) is
/// past what JSON numbers carry exactly, but stays finite.
fn seconds(duration: Duration) -> Value {
    json!(duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_core::Stream;
    use resilience_runtime::CircuitBreaker;

    /// The tests take turns: listeners hear every event of the process.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn a_client_that_reads_nothing_keeps_at_most_its_queue_and_never_holds_up_a_policy() {
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let mut stream = EventStream::subscribe();
        assert_eq!(events::listener_count(), 1);
        let breaker = CircuitBreaker::builder("queue-test").build().unwrap();
        // Far more events than the queue holds, none read: each is emitted at once.
        let started = std::time::Instant::now();
        for _ in 0..2 * EVENT_QUEUE {
            breaker.force_open();
            breaker.reset();
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut queued = Vec::new();
        while let Poll::Ready(Some(event)) = Pin::new(&mut stream).poll_next(&mut cx) {
            queued.push(event.unwrap());
        }
        assert_eq!(
            queued.len(),
            EVENT_QUEUE,
            "the oldest events kept, the rest dropped"
        );
        drop(stream);
        assert_eq!(
            events::listener_count(),
            0,
            "the listener goes with the stream"
        );
    }

    #[test]
    fn the_json_of_an_event_has_its_kind_fields_message_and_timestamp() {
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        let _subscription = events::subscribe(move |e| {
            if e.name == "json-test" {
                sink.lock().unwrap().push(e.clone());
            }
        });
        let breaker = CircuitBreaker::builder("json-test").build().unwrap();
        breaker.force_open();
        let event = seen.lock().unwrap()[0].clone();
        let at = UNIX_EPOCH + Duration::from_millis(1_764_579_600_123);
        let json = to_json(&event, at);
        assert_eq!(json["policy"], "circuit_breaker");
        assert_eq!(json["name"], "json-test");
        assert_eq!(json["kind"], "state_changed");
        assert_eq!(
            (&json["from"], &json["to"]),
            (&json!("closed"), &json!("forced_open"))
        );
        assert_eq!(json["message"], event.to_string());
        assert_eq!(json["timestamp"], 1_764_579_600_123u64);

        let rejection = Rejection::RateLimited {
            name: "api".into(),
            retry_after: Duration::from_millis(250),
        };
        let mut object = Map::new();
        kind_fields(&EventKind::Rejected { rejection }, &mut object);
        assert_eq!(
            Value::Object(object),
            json!({"rejection": "rate_limited", "retry_after": 0.25})
        );
    }
}
