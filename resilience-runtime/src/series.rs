//! The metric set of every policy, as series derived from snapshots: one place that
//! says which metric, labels and value each counter and gauge becomes, for the
//! `metrics` facade (feature `metrics`) and any other exporter (the dashboard's
//! Prometheus text).

use std::borrow::Cow;

use crate::CircuitState;
use crate::events::PolicyKind;
use crate::registry::PolicySnapshot;

/// Whether a series only grows or moves both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SeriesKind {
    /// Monotonic, from the policy's creation (an absolute value, not a delta).
    Counter,
    /// A value now.
    Gauge,
}

/// One metric series: a name, its labels and its value now.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Series {
    /// The metric's name, e.g. `resilience_calls_total`.
    pub name: &'static str,
    /// Counter or gauge.
    pub kind: SeriesKind,
    /// A line of help for the metric.
    pub help: &'static str,
    /// Label names and values, in a fixed order (`policy`, `name`, then the
    /// metric's own).
    pub labels: Vec<(&'static str, Cow<'static, str>)>,
    /// The value.
    pub value: f64,
}

/// Every metric name, with its kind and help, in the order [`of`] lists series.
pub const METRICS: [(&str, SeriesKind, &str); 13] = [
    (
        CALLS,
        SeriesKind::Counter,
        "Calls by how they ended: success, failure, rejected (refused without running the body), timeout, ignored (breaker errors record_if leaves out).",
    ),
    (RETRIES, SeriesKind::Counter, "Attempts after the first."),
    (
        RETRIES_EXHAUSTED,
        SeriesKind::Counter,
        "Calls whose every attempt failed.",
    ),
    (
        BUDGET_EXHAUSTED,
        SeriesKind::Counter,
        "Retries skipped because the retry budget was spent.",
    ),
    (FALLBACKS, SeriesKind::Counter, "Answers a fallback served."),
    (
        CIRCUIT_STATE,
        SeriesKind::Gauge,
        "1 for the breaker's current state, 0 for the others.",
    ),
    (
        CIRCUIT_TRANSITIONS,
        SeriesKind::Counter,
        "Breaker state changes.",
    ),
    (
        CIRCUIT_FAILURE_RATE,
        SeriesKind::Gauge,
        "Failure share of the breaker's current window, 0 to 1.",
    ),
    (
        BULKHEAD_IN_FLIGHT,
        SeriesKind::Gauge,
        "Bodies running in the bulkhead.",
    ),
    (
        BULKHEAD_WAITING,
        SeriesKind::Gauge,
        "Calls waiting for a bulkhead slot.",
    ),
    (
        BULKHEAD_LIMIT,
        SeriesKind::Gauge,
        "The bulkhead's concurrency limit now.",
    ),
    (
        HEDGES,
        SeriesKind::Counter,
        "Hedged copies started after the first.",
    ),
    (
        CACHE_HITS,
        SeriesKind::Counter,
        "Answers from the cache, kind = fresh or stale.",
    ),
];

const CALLS: &str = "resilience_calls_total";
const RETRIES: &str = "resilience_retries_total";
const RETRIES_EXHAUSTED: &str = "resilience_retries_exhausted_total";
const BUDGET_EXHAUSTED: &str = "resilience_retry_budget_exhausted_total";
const FALLBACKS: &str = "resilience_fallbacks_total";
const CIRCUIT_STATE: &str = "resilience_circuit_state";
const CIRCUIT_TRANSITIONS: &str = "resilience_circuit_transitions_total";
const CIRCUIT_FAILURE_RATE: &str = "resilience_circuit_failure_rate";
const BULKHEAD_IN_FLIGHT: &str = "resilience_bulkhead_in_flight";
const BULKHEAD_WAITING: &str = "resilience_bulkhead_waiting";
const BULKHEAD_LIMIT: &str = "resilience_bulkhead_limit";
const HEDGES: &str = "resilience_hedges_total";
const CACHE_HITS: &str = "resilience_cache_hits_total";

fn help(name: &str) -> &'static str {
    METRICS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map_or("", |(_, _, h)| h)
}

fn kind(name: &str) -> SeriesKind {
    METRICS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map_or(SeriesKind::Gauge, |(_, k, _)| *k)
}

/// The series of one policy's snapshot: `resilience_calls_total` by outcome for
/// every policy (`rejected` for the kinds that refuse, `timeout` for timeouts,
/// `ignored` for breakers), and each kind's own metrics. Labels: `policy` (on
/// `resilience_calls_total`), `name`, and the metric's own.
pub fn of(s: &PolicySnapshot) -> Vec<Series> {
    let mut out = Vec::new();
    let name = || ("name", s.name.clone());
    let mut push =
        |metric: &'static str, extra: Vec<(&'static str, Cow<'static, str>)>, value: f64| {
            let mut labels = Vec::with_capacity(extra.len() + 2);
            if metric == CALLS {
                labels.push(("policy", Cow::Borrowed(s.policy.as_str())));
            }
            labels.push(name());
            labels.extend(extra);
            out.push(Series {
                name: metric,
                kind: kind(metric),
                help: help(metric),
                labels,
                value,
            });
        };
    let refuses = matches!(
        s.policy,
        PolicyKind::CircuitBreaker
            | PolicyKind::Bulkhead
            | PolicyKind::RateLimit
            | PolicyKind::Timeout
    );
    let outcomes = [
        ("success", s.successes, true),
        ("failure", s.failures, true),
        ("rejected", s.rejections, refuses),
        ("timeout", s.timeouts, s.policy == PolicyKind::Timeout),
        ("ignored", s.ignored, s.policy == PolicyKind::CircuitBreaker),
    ];
    for (outcome, n, applies) in outcomes {
        if applies {
            push(CALLS, vec![("outcome", Cow::Borrowed(outcome))], n as f64);
        }
    }
    match s.policy {
        PolicyKind::Retry => {
            push(RETRIES, vec![], s.retries as f64);
            push(RETRIES_EXHAUSTED, vec![], s.retries_exhausted as f64);
            push(BUDGET_EXHAUSTED, vec![], s.retry_budget_exhausted as f64);
        }
        PolicyKind::Fallback => push(FALLBACKS, vec![], s.fallbacks as f64),
        PolicyKind::CircuitBreaker => {
            for state in CircuitState::ALL {
                let on = s.state == Some(state);
                push(
                    CIRCUIT_STATE,
                    vec![("state", Cow::Borrowed(state.as_str()))],
                    if on { 1.0 } else { 0.0 },
                );
            }
            for t in &s.transitions {
                push(
                    CIRCUIT_TRANSITIONS,
                    vec![
                        ("from", Cow::Borrowed(t.from.as_str())),
                        ("to", Cow::Borrowed(t.to.as_str())),
                    ],
                    t.count as f64,
                );
            }
            push(CIRCUIT_FAILURE_RATE, vec![], s.failure_rate.unwrap_or(0.0));
        }
        PolicyKind::Bulkhead => {
            push(BULKHEAD_IN_FLIGHT, vec![], s.in_flight.unwrap_or(0) as f64);
            push(BULKHEAD_WAITING, vec![], s.waiting.unwrap_or(0) as f64);
            push(BULKHEAD_LIMIT, vec![], s.limit.unwrap_or(0) as f64);
        }
        PolicyKind::Hedge => push(HEDGES, vec![], s.hedges as f64),
        PolicyKind::Cache => {
            push(
                CACHE_HITS,
                vec![("kind", Cow::Borrowed("fresh"))],
                s.cache_hits_fresh as f64,
            );
            push(
                CACHE_HITS,
                vec![("kind", Cow::Borrowed("stale"))],
                s.cache_hits_stale as f64,
            );
        }
        _ => {}
    }
    out
}

/// The series of every registered policy ([`registry::snapshot`](crate::registry::snapshot)).
pub fn all() -> Vec<Series> {
    crate::registry::snapshot().iter().flat_map(of).collect()
}
