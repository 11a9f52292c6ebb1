//! Every policy's counters and gauges through the [`metrics`](https://docs.rs/metrics)
//! facade (feature `metrics`), so any exporter (Prometheus, StatsD, OpenTelemetry, ...)
//! shows them.
//!
//! [`publish`] writes the [`registry::snapshot`](crate::registry::snapshot) into the
//! installed recorder once: counters as absolute values (they are monotonic from each
//! policy's creation), gauges set to their value now. [`spawn_publisher`] does so
//! periodically on the current tokio runtime. The metric names, labels and values are
//! [`series::METRICS`](crate::series::METRICS), as
//! [`series::all`](crate::series::all) derives them: `resilience_calls_total` by
//! `policy`, `name` and `outcome`, `resilience_circuit_state` by `name` and `state`,
//! and so on. Keyed policies are one series per name: keys are never labels.
//!
//! ```
//! use std::time::Duration;
//! use resilience_runtime::retry;
//!
//! #[retry(max_attempts = 3, backoff = none, name = "metrics-doc")]
//! async fn lookup() -> Result<u32, String> {
//!     Ok(7)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // A service installs an exporter once, e.g.
//! // `metrics_exporter_prometheus::PrometheusBuilder::new().install()`, then:
//! let publisher = resilience_runtime::metrics::spawn_publisher(Duration::from_secs(5));
//! lookup().await.unwrap();
//! // ... or once, by hand (e.g. right before a scrape is answered):
//! resilience_runtime::metrics::publish();
//! // The publisher stops when its runtime shuts down, or when aborted:
//! publisher.abort();
//! # }
//! ```

use std::time::Duration;

use metrics::{Label, describe_counter, describe_gauge};

use crate::series::{self, METRICS, SeriesKind};

/// The shortest period [`spawn_publisher`] publishes at; a shorter one is raised to it.
pub const MIN_PERIOD: Duration = Duration::from_millis(1);

/// Writes every registered policy's series into the installed recorder: counters with
/// [`Counter::absolute`](metrics::Counter::absolute), gauges with
/// [`Gauge::set`](metrics::Gauge::set), and each metric's description (idempotent,
/// so whichever recorder is installed now, global or
/// [local](metrics::with_local_recorder), has them).
///
/// Without a recorder installed this does nothing but read the snapshot.
pub fn publish() {
    for (name, kind, help) in METRICS {
        match kind {
            SeriesKind::Counter => describe_counter!(name, help),
            SeriesKind::Gauge => describe_gauge!(name, help),
        }
    }
    for s in series::all() {
        let labels: Vec<Label> = s
            .labels
            .into_iter()
            .map(|(key, value)| Label::new(key, value))
            .collect();
        match s.kind {
            SeriesKind::Counter => metrics::counter!(s.name, labels).absolute(s.value as u64),
            SeriesKind::Gauge => metrics::gauge!(s.name, labels).set(s.value),
        }
    }
}

/// Spawns a task on the current tokio runtime that calls [`publish`] at once and then
/// every `every` (at least [`MIN_PERIOD`]; a late tick is not made up for in a burst).
/// It writes into the global recorder (a task runs on the runtime's threads, where a
/// thread's [local recorder](metrics::with_local_recorder) is not seen).
///
/// The task runs until it is stopped: [`abort`](tokio::task::JoinHandle::abort) the
/// returned handle, or shut the runtime down. Like every tokio task it does not keep
/// the runtime alive: when `#[tokio::main]` returns or the runtime is dropped, the
/// task is dropped with it. Dropping the handle does not stop it.
///
/// # Panics
///
/// Outside a tokio runtime, as [`tokio::spawn`] does.
pub fn spawn_publisher(every: Duration) -> tokio::task::JoinHandle<()> {
    let every = every.max(MIN_PERIOD);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            publish();
        }
    })
}
