//! Every event as a `tracing` event (feature `tracing`).
//!
//! Target `resilience_runtime`; fields `policy` (the attribute's name), `name` (the
//! policy's name), `kind` ([`EventKind::name`]) and the kind's own fields; the
//! diagnosis ([`Event`]'s `Display`) as the message. Levels: a breaker opening (to
//! `Open` or `ForcedOpen`), `RetriesExhausted`, `RetryBudgetExhausted` and
//! `StoreUnavailable` are WARN; other state changes, an unhealthy probe and
//! `StoreRecovered` are INFO; the rest DEBUG.
//!
//! Durations (`delay`, `after`, `age`) are recorded with their `Debug` form (`100ms`),
//! states (`from`, `to`) in snake case as the metrics labels write them, `rejection`
//! and `error` with their `Display`.

use tracing::Level;

use crate::CircuitState;
use crate::events::{Event, EventKind};

/// The target of every event this crate records.
const TARGET: &str = "resilience_runtime";

/// One `tracing` event at `$level` (a constant, as each callsite needs), with the
/// fields every event has, then `$fields`.
macro_rules! record_at {
    ($level:expr, $event:expr $(, $($fields:tt)+)?) => {
        tracing::event!(
            target: TARGET,
            $level,
            policy = $event.policy.as_str(),
            name = &*$event.name,
            kind = $event.kind.name(),
            $($($fields)+ ,)?
            "{}",
            $event
        )
    };
}

/// Records `event` as a `tracing` event.
pub(crate) fn record(event: &Event) {
    match &event.kind {
        EventKind::RetryScheduled { attempt, delay } => {
            record_at!(Level::DEBUG, event, attempt = *attempt, delay = ?delay)
        }
        EventKind::RetriesExhausted { attempts } => {
            record_at!(Level::WARN, event, attempts = *attempts)
        }
        EventKind::RetryBudgetExhausted => record_at!(Level::WARN, event),
        EventKind::StateChanged { from, to, reason } => {
            let (from, to, reason) = (from.as_str(), *to, reason.as_deref());
            if matches!(to, CircuitState::Open | CircuitState::ForcedOpen) {
                record_at!(Level::WARN, event, from, to = to.as_str(), reason)
            } else {
                record_at!(Level::INFO, event, from, to = to.as_str(), reason)
            }
        }
        EventKind::Probe { healthy: true } => record_at!(Level::DEBUG, event, healthy = true),
        EventKind::Probe { healthy: false } => record_at!(Level::INFO, event, healthy = false),
        EventKind::Rejected { rejection } => {
            let retry_after = rejection.retry_after().map(tracing::field::debug);
            record_at!(Level::DEBUG, event, rejection = %rejection, retry_after)
        }
        EventKind::TimedOut { after } => record_at!(Level::DEBUG, event, after = ?after),
        EventKind::FallbackUsed => record_at!(Level::DEBUG, event),
        EventKind::LimitChanged { from, to } => {
            record_at!(Level::DEBUG, event, from = *from as u64, to = *to as u64)
        }
        EventKind::Hedged { copy } => record_at!(Level::DEBUG, event, copy = *copy),
        EventKind::StaleServed { age } => record_at!(Level::DEBUG, event, age = ?age),
        EventKind::StoreUnavailable { error } => {
            record_at!(Level::WARN, event, error = error.as_str())
        }
        EventKind::StoreRecovered => record_at!(Level::INFO, event),
    }
}
