//! Feature `metrics`: after known sequences of calls on annotated functions, the names,
//! labels and values that `resilience_runtime::metrics::publish` writes into a
//! recorder (metrics-util's `DebuggingRecorder`, local to the test's thread, since
//! tests run in parallel), and `spawn_publisher` doing so periodically.
//! Every policy here has a name of its own, so other tests' calls never reach it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use resilience_runtime::{
    Rejection, bulkhead, circuit_breaker, fallback, rate_limit, retry, timeout,
};
use tokio::sync::Notify;
use tokio::time::{advance, sleep};

const MS: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum ApiError {
    #[error("backend failed")]
    Backend,
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

/// One published series: its value, as the recorder holds it, by name and labels.
type Published = BTreeMap<(String, Vec<(String, String)>), DebugValue>;

/// What one `publish()` writes, into a fresh recorder local to this thread: every
/// series, and every metric's description.
fn publish() -> (Published, BTreeMap<String, String>) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, resilience_runtime::metrics::publish);
    read(&snapshotter)
}

fn read(snapshotter: &Snapshotter) -> (Published, BTreeMap<String, String>) {
    let mut series = Published::new();
    let mut help = BTreeMap::new();
    for (key, _unit, description, value) in snapshotter.snapshot().into_vec() {
        let (_, key) = key.into_parts();
        let labels = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        if let Some(d) = description {
            help.insert(key.name().to_owned(), d.to_string());
        }
        series.insert((key.name().to_owned(), labels), value);
    }
    (series, help)
}

/// The value of the series `metric` with exactly `labels` (in the order published).
fn value<'a>(all: &'a Published, metric: &str, labels: &[(&str, &str)]) -> Option<&'a DebugValue> {
    let labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    all.get(&(metric.to_owned(), labels))
}

fn counter(all: &Published, metric: &str, labels: &[(&str, &str)]) -> u64 {
    match value(all, metric, labels) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{metric} {labels:?}: expected a counter, got {other:?}"),
    }
}

fn gauge(all: &Published, metric: &str, labels: &[(&str, &str)]) -> f64 {
    match value(all, metric, labels) {
        Some(DebugValue::Gauge(v)) => v.into_inner(),
        other => panic!("{metric} {labels:?}: expected a gauge, got {other:?}"),
    }
}

/// Every series whose `name` label is `name`.
fn series_of<'a>(all: &'a Published, name: &str) -> Vec<(&'a str, &'a [(String, String)])> {
    all.keys()
        .filter(|(_, labels)| labels.iter().any(|(k, v)| k == "name" && v == name))
        .map(|(metric, labels)| (metric.as_str(), labels.as_slice()))
        .collect()
}

fn calls(all: &Published, policy: &str, name: &str, outcome: &str) -> u64 {
    counter(
        all,
        "resilience_calls_total",
        &[("policy", policy), ("name", name), ("outcome", outcome)],
    )
}

// ---------------------------------------------------------------------------------
// Circuit breaker: successes, failures, an opening, a rejection
// ---------------------------------------------------------------------------------

#[circuit_breaker(name = "metrics-breaker", failure_rate = 0.5, window = count(4), open_for = "30s")]
async fn breaker_call(fail: bool) -> Result<(), ApiError> {
    if fail { Err(ApiError::Backend) } else { Ok(()) }
}

#[tokio::test(start_paused = true)]
async fn a_breaker_opening_shows_in_its_calls_state_transitions_and_failure_rate() {
    let name = "metrics-breaker";
    breaker_call(false).await.unwrap();
    let before = publish().0;
    assert_eq!(calls(&before, "circuit_breaker", name, "success"), 1);
    assert_eq!(
        gauge(
            &before,
            "resilience_circuit_state",
            &[("name", name), ("state", "closed")]
        ),
        1.0
    );
    assert_eq!(
        gauge(
            &before,
            "resilience_circuit_state",
            &[("name", name), ("state", "open")]
        ),
        0.0
    );
    assert!(
        value(
            &before,
            "resilience_circuit_transitions_total",
            &[("name", name), ("from", "closed"), ("to", "open")]
        )
        .is_none(),
        "no transition yet"
    );

    for fail in [false, true, true] {
        let _ = breaker_call(fail).await;
    }
    let err = breaker_call(false).await.unwrap_err();
    assert!(matches!(
        err,
        ApiError::Rejected(Rejection::CircuitOpen { .. })
    ));

    let (all, help) = publish();
    assert_eq!(calls(&all, "circuit_breaker", name, "success"), 2);
    assert_eq!(calls(&all, "circuit_breaker", name, "failure"), 2);
    assert_eq!(calls(&all, "circuit_breaker", name, "rejected"), 1);
    assert_eq!(calls(&all, "circuit_breaker", name, "ignored"), 0);
    for (state, on) in [
        ("closed", 0.0),
        ("open", 1.0),
        ("half_open", 0.0),
        ("forced_open", 0.0),
        ("disabled", 0.0),
    ] {
        assert_eq!(
            gauge(
                &all,
                "resilience_circuit_state",
                &[("name", name), ("state", state)]
            ),
            on,
            "state {state}"
        );
    }
    assert_eq!(
        counter(
            &all,
            "resilience_circuit_transitions_total",
            &[("name", name), ("from", "closed"), ("to", "open")]
        ),
        1
    );
    assert_eq!(
        gauge(&all, "resilience_circuit_failure_rate", &[("name", name)]),
        0.5
    );
    // The breaker's whole metric set, and nothing else under its name.
    let mut metrics: Vec<&str> = series_of(&all, name).iter().map(|(m, _)| *m).collect();
    metrics.dedup();
    assert_eq!(
        metrics,
        [
            "resilience_calls_total",
            "resilience_circuit_failure_rate",
            "resilience_circuit_state",
            "resilience_circuit_transitions_total",
        ]
    );
    assert!(
        help["resilience_calls_total"].contains("rejected"),
        "{:?}",
        help.get("resilience_calls_total")
    );

    // A reset by hand: back to closed, and one more transition, counted on its own.
    resilience_runtime::registry::circuit_breaker(name)
        .unwrap()
        .reset();
    let all = publish().0;
    assert_eq!(
        gauge(
            &all,
            "resilience_circuit_state",
            &[("name", name), ("state", "closed")]
        ),
        1.0
    );
    assert_eq!(
        gauge(
            &all,
            "resilience_circuit_state",
            &[("name", name), ("state", "open")]
        ),
        0.0
    );
    assert_eq!(
        counter(
            &all,
            "resilience_circuit_transitions_total",
            &[("name", name), ("from", "open"), ("to", "closed")]
        ),
        1
    );
    assert_eq!(
        counter(
            &all,
            "resilience_circuit_transitions_total",
            &[("name", name), ("from", "closed"), ("to", "open")]
        ),
        1,
        "counters are absolute: publishing again does not add"
    );
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum ClientError {
    #[error("backend failed")]
    Backend,
    #[error("bad request")]
    BadRequest,
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

fn counts(e: &ClientError) -> bool {
    matches!(e, ClientError::Backend)
}

#[circuit_breaker(name = "metrics-breaker-ignored", record_if = counts, window = count(10))]
async fn picky(err: Option<ClientError>) -> Result<(), ClientError> {
    err.map_or(Ok(()), Err)
}

#[tokio::test(start_paused = true)]
async fn errors_record_if_leaves_out_are_outcome_ignored() {
    let name = "metrics-breaker-ignored";
    let _ = picky(Some(ClientError::BadRequest)).await;
    let _ = picky(Some(ClientError::BadRequest)).await;
    let _ = picky(Some(ClientError::Backend)).await;
    let _ = picky(None).await;
    let all = publish().0;
    assert_eq!(calls(&all, "circuit_breaker", name, "ignored"), 2);
    assert_eq!(calls(&all, "circuit_breaker", name, "failure"), 1);
    assert_eq!(calls(&all, "circuit_breaker", name, "success"), 1);
    assert_eq!(calls(&all, "circuit_breaker", name, "rejected"), 0);
}

// ---------------------------------------------------------------------------------
// Retry
// ---------------------------------------------------------------------------------

#[retry(name = "metrics-retry", max_attempts = 3, backoff = fixed("100ms"), jitter = none)]
async fn retried(attempts: &AtomicU32, succeed_on: u32) -> Result<u32, ApiError> {
    let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
    if n >= succeed_on {
        Ok(n)
    } else {
        Err(ApiError::Backend)
    }
}

#[tokio::test(start_paused = true)]
async fn a_retry_sequence_counts_retries_and_exhaustion() {
    let name = "metrics-retry";
    // Succeeds on the second attempt: one retry.
    assert_eq!(retried(&AtomicU32::new(0), 2).await, Ok(2));
    // Never succeeds: two retries, exhausted.
    assert_eq!(
        retried(&AtomicU32::new(0), 99).await,
        Err(ApiError::Backend)
    );
    // Succeeds at once: no retry.
    assert_eq!(retried(&AtomicU32::new(0), 1).await, Ok(1));

    let all = publish().0;
    assert_eq!(
        counter(&all, "resilience_retries_total", &[("name", name)]),
        3
    );
    assert_eq!(
        counter(
            &all,
            "resilience_retries_exhausted_total",
            &[("name", name)]
        ),
        1
    );
    assert_eq!(
        counter(
            &all,
            "resilience_retry_budget_exhausted_total",
            &[("name", name)]
        ),
        0
    );
    assert_eq!(calls(&all, "retry", name, "success"), 2);
    assert_eq!(calls(&all, "retry", name, "failure"), 1);
    assert!(
        value(
            &all,
            "resilience_calls_total",
            &[("policy", "retry"), ("name", name), ("outcome", "rejected")]
        )
        .is_none(),
        "a retry never refuses a call"
    );
}

// ---------------------------------------------------------------------------------
// Fallback
// ---------------------------------------------------------------------------------

#[fallback(value = 0, name = "metrics-fallback")]
async fn with_fallback(fail: bool) -> Result<u32, ApiError> {
    if fail { Err(ApiError::Backend) } else { Ok(1) }
}

#[tokio::test(start_paused = true)]
async fn a_fallback_served_is_counted() {
    let name = "metrics-fallback";
    assert_eq!(with_fallback(true).await, Ok(0));
    assert_eq!(with_fallback(true).await, Ok(0));
    assert_eq!(with_fallback(false).await, Ok(1));
    let all = publish().0;
    assert_eq!(
        counter(&all, "resilience_fallbacks_total", &[("name", name)]),
        2
    );
    assert_eq!(calls(&all, "fallback", name, "success"), 1);
    assert_eq!(calls(&all, "fallback", name, "failure"), 2);
}

// ---------------------------------------------------------------------------------
// Bulkhead
// ---------------------------------------------------------------------------------

#[bulkhead(max_concurrent = 1, max_wait = "5s", name = "metrics-bulkhead")]
async fn held(gate: &Notify) -> Result<(), ApiError> {
    gate.notified().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn bulkhead_gauges_follow_running_and_waiting_calls() {
    let name = "metrics-bulkhead";
    static GATE: Notify = Notify::const_new();
    let running = tokio::spawn(held(&GATE));
    let waiting = tokio::spawn(held(&GATE));
    for _ in 0..5 {
        tokio::task::yield_now().await;
    }
    let all = publish().0;
    assert_eq!(
        gauge(&all, "resilience_bulkhead_in_flight", &[("name", name)]),
        1.0
    );
    assert_eq!(
        gauge(&all, "resilience_bulkhead_waiting", &[("name", name)]),
        1.0
    );
    assert_eq!(
        gauge(&all, "resilience_bulkhead_limit", &[("name", name)]),
        1.0
    );

    // The waiting call gives up after max_wait; then the running one is let finish.
    advance(Duration::from_secs(5)).await;
    let err = waiting.await.unwrap().unwrap_err();
    assert!(matches!(
        err,
        ApiError::Rejected(Rejection::BulkheadFull { .. })
    ));
    GATE.notify_one();
    running.await.unwrap().unwrap();

    let all = publish().0;
    assert_eq!(
        gauge(&all, "resilience_bulkhead_in_flight", &[("name", name)]),
        0.0
    );
    assert_eq!(
        gauge(&all, "resilience_bulkhead_waiting", &[("name", name)]),
        0.0
    );
    assert_eq!(
        gauge(&all, "resilience_bulkhead_limit", &[("name", name)]),
        1.0
    );
    assert_eq!(calls(&all, "bulkhead", name, "success"), 1);
    assert_eq!(calls(&all, "bulkhead", name, "rejected"), 1);
    assert_eq!(calls(&all, "bulkhead", name, "failure"), 0);
}

// ---------------------------------------------------------------------------------
// Timeout
// ---------------------------------------------------------------------------------

#[timeout(after = "1s", name = "metrics-timeout")]
async fn slow(work: Duration) -> Result<(), ApiError> {
    sleep(work).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_timeout_is_outcome_timeout() {
    let name = "metrics-timeout";
    let err = slow(MS * 2000).await.unwrap_err();
    assert!(matches!(err, ApiError::Rejected(Rejection::Timeout { .. })));
    slow(MS * 10).await.unwrap();
    let all = publish().0;
    assert_eq!(calls(&all, "timeout", name, "timeout"), 1);
    assert_eq!(calls(&all, "timeout", name, "success"), 1);
    assert_eq!(calls(&all, "timeout", name, "failure"), 0);
}

// ---------------------------------------------------------------------------------
// Rate limit, plain and keyed
// ---------------------------------------------------------------------------------

#[rate_limit(rate = "1/s", burst = 1, name = "metrics-rate")]
async fn paced() -> Result<(), ApiError> {
    Ok(())
}

#[rate_limit(rate = "1/min", key = tenant.to_owned(), name = "metrics-rate-keyed")]
async fn per_tenant(tenant: &str) -> Result<(), ApiError> {
    let _ = tenant;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_refusal_is_outcome_rejected_and_keys_are_not_labels() {
    let name = "metrics-rate";
    paced().await.unwrap();
    let err = paced().await.unwrap_err();
    assert!(matches!(
        err,
        ApiError::Rejected(Rejection::RateLimited { .. })
    ));
    advance(Duration::from_secs(1)).await;
    paced().await.unwrap();
    let all = publish().0;
    assert_eq!(calls(&all, "rate_limit", name, "success"), 2);
    assert_eq!(calls(&all, "rate_limit", name, "rejected"), 1);

    let keyed = "metrics-rate-keyed";
    for tenant in ["a", "b", "a", "c"] {
        let _ = per_tenant(tenant).await;
    }
    let all = publish().0;
    assert_eq!(calls(&all, "rate_limit", keyed, "success"), 3);
    assert_eq!(calls(&all, "rate_limit", keyed, "rejected"), 1);
    for (metric, labels) in series_of(&all, keyed) {
        assert_eq!(metric, "resilience_calls_total");
        let keys: Vec<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["policy", "name", "outcome"], "no key label");
    }
}

// ---------------------------------------------------------------------------------
// The publisher
// ---------------------------------------------------------------------------------

/// The global recorder of this test binary, installed once, and a lock the tests that
/// publish into it hold (the others publish into recorders local to their thread).
fn global() -> (&'static Snapshotter, MutexGuard<'static, ()>) {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    let snapshotter = SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder.install().expect("no other global recorder");
        snapshotter
    });
    // Whatever an earlier test published is read (and so cleared) here.
    let _ = read(snapshotter);
    (snapshotter, guard)
}

#[retry(name = "metrics-publisher", max_attempts = 2, backoff = none)]
async fn published_call() -> Result<(), ApiError> {
    Ok(())
}

/// A current-thread runtime with paused time, for the tests that hold [`global`]'s
/// lock (a std lock, held outside the runtime, not across its awaits).
fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

#[test]
fn the_publisher_publishes_at_once_then_every_period_until_aborted() {
    let (snapshotter, _lock) = global();
    paused_runtime().block_on(publishes_periodically(snapshotter));
}

async fn publishes_periodically(snapshotter: &Snapshotter) {
    let name = "metrics-publisher";
    published_call().await.unwrap();
    let publisher = resilience_runtime::metrics::spawn_publisher(Duration::from_secs(10));
    tokio::task::yield_now().await;
    let all = read(snapshotter).0;
    assert_eq!(
        calls(&all, "retry", name, "success"),
        1,
        "published at once"
    );

    published_call().await.unwrap();
    published_call().await.unwrap();
    advance(Duration::from_secs(9)).await;
    tokio::task::yield_now().await;
    // The snapshotter takes counters as it reads them: a series not written since is
    // read as 0.
    assert_eq!(
        calls(&read(snapshotter).0, "retry", name, "success"),
        0,
        "not yet"
    );
    advance(Duration::from_secs(1)).await;
    tokio::task::yield_now().await;
    assert_eq!(
        calls(&read(snapshotter).0, "retry", name, "success"),
        3,
        "published after the period"
    );

    publisher.abort();
    let stopped = publisher.await.unwrap_err();
    assert!(stopped.is_cancelled());
    published_call().await.unwrap();
    advance(Duration::from_secs(30)).await;
    tokio::task::yield_now().await;
    assert_eq!(
        calls(&read(snapshotter).0, "retry", name, "success"),
        0,
        "nothing published once aborted"
    );
}

#[retry(name = "metrics-publisher-zero", max_attempts = 2, backoff = none)]
async fn published_call_zero() -> Result<(), ApiError> {
    Ok(())
}

#[test]
fn the_publisher_does_not_keep_its_runtime_alive_and_a_zero_period_is_allowed() {
    let (snapshotter, _lock) = global();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(published_call_zero()).unwrap();
    let publisher = {
        let _inside = runtime.enter();
        resilience_runtime::metrics::spawn_publisher(Duration::ZERO)
    };
    // Real time, on a machine that may be busy: wait (up to 5s) for a publication.
    // (Each read takes what was published since the last.)
    let mut successes = 0;
    for _ in 0..1000 {
        let all = read(snapshotter).0;
        let key = [
            ("policy", "retry"),
            ("name", "metrics-publisher-zero"),
            ("outcome", "success"),
        ];
        if value(&all, "resilience_calls_total", &key).is_some() {
            successes = calls(&all, "retry", "metrics-publisher-zero", "success");
            break;
        }
        runtime.block_on(async { sleep(MS * 5).await });
    }
    assert!(!publisher.is_finished(), "runs until stopped");
    assert!(
        successes >= 1,
        "a zero period publishes (at the shortest period)"
    );
    // Dropping the runtime ends the task with it (this would hang otherwise).
    drop(runtime);
    assert!(publisher.is_finished());
}

// ---------------------------------------------------------------------------------
// The snapshot as JSON (feature `serde`)
// ---------------------------------------------------------------------------------

fn json_of(policy: &str, name: &str) -> serde_json::Value {
    let all = resilience_runtime::registry::snapshot();
    let found: Vec<serde_json::Value> = all
        .iter()
        .filter(|s| s.name == name && s.policy.as_str() == policy)
        .map(|s| serde_json::to_value(s).expect("a snapshot serializes"))
        .collect();
    assert_eq!(found.len(), 1, "one entry for {policy} {name}");
    found.into_iter().next().unwrap()
}

#[circuit_breaker(name = "json-breaker", window = count(2), failure_rate = 0.5, open_for = "1m")]
async fn json_breaker(fail: bool) -> Result<(), ApiError> {
    if fail { Err(ApiError::Backend) } else { Ok(()) }
}

#[bulkhead(max_concurrent = 3, name = "json-bulkhead")]
async fn json_bulkhead() -> Result<(), ApiError> {
    Ok(())
}

#[retry(name = "json-retry", max_attempts = 2, backoff = none)]
async fn json_retry() -> Result<(), ApiError> {
    Err(ApiError::Backend)
}

#[tokio::test(start_paused = true)]
async fn the_snapshot_serializes_with_its_keys_and_values() {
    json_breaker(false).await.unwrap();
    let _ = json_breaker(true).await;
    let _ = json_breaker(false).await;
    assert_eq!(
        json_of("circuit_breaker", "json-breaker"),
        serde_json::json!({
            "policy": "circuit_breaker",
            "name": "json-breaker",
            "state": "open",
            "calls": 3,
            "successes": 1,
            "failures": 1,
            "rejections": 1,
            "timeouts": 0,
            "ignored": 0,
            "retries": 0,
            "retries_exhausted": 0,
            "retry_budget_exhausted": 0,
            "fallbacks": 0,
            "hedges": 0,
            "cache_hits_fresh": 0,
            "cache_hits_stale": 0,
            "failure_rate": 0.5,
            "transitions": [{ "from": "closed", "to": "open", "count": 1 }],
        })
    );

    json_bulkhead().await.unwrap();
    let bulkhead = json_of("bulkhead", "json-bulkhead");
    assert_eq!(bulkhead["policy"], "bulkhead");
    assert_eq!(bulkhead["successes"], 1);
    assert_eq!(bulkhead["calls"], 1);
    assert_eq!(bulkhead["in_flight"], 0);
    assert_eq!(bulkhead["waiting"], 0);
    assert_eq!(bulkhead["limit"], 3);
    for absent in ["state", "failure_rate", "transitions"] {
        assert!(bulkhead.get(absent).is_none(), "{absent} is a breaker's");
    }

    assert_eq!(json_retry().await, Err(ApiError::Backend));
    let retry = json_of("retry", "json-retry");
    assert_eq!(retry["policy"], "retry");
    assert_eq!(
        (&retry["calls"], &retry["failures"], &retry["retries"]),
        (
            &serde_json::json!(1),
            &serde_json::json!(1),
            &serde_json::json!(1)
        )
    );
    assert_eq!(retry["retries_exhausted"], 1);
    for absent in ["state", "in_flight", "limit"] {
        assert!(retry.get(absent).is_none(), "{absent}: {retry}");
    }

    // The whole listing serializes as one array, sorted by policy then name.
    let all = serde_json::to_value(resilience_runtime::registry::snapshot()).unwrap();
    let entries = all.as_array().unwrap();
    let order: Vec<(String, String)> = entries
        .iter()
        .map(|e| {
            (
                e["policy"].as_str().unwrap().to_owned(),
                e["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(order.contains(&("retry".to_owned(), "json-retry".to_owned())));
    // Each kind's entries together, by name.
    let mut kinds: Vec<&str> = order.iter().map(|(p, _)| p.as_str()).collect();
    kinds.dedup();
    let distinct: std::collections::BTreeSet<&str> = kinds.iter().copied().collect();
    assert_eq!(kinds.len(), distinct.len(), "grouped by policy: {kinds:?}");
    for pair in order.windows(2) {
        if pair[0].0 == pair[1].0 {
            assert!(pair[0].1 < pair[1].1, "sorted by name: {pair:?}");
        }
    }
}
