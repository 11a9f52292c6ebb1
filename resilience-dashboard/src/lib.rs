//! A live dashboard of every policy `resilience-runtime` has registered, as Hystrix's
//! and Sentinel's dashboards gave their users: add it to a service to see breakers
//! open, bulkheads fill and retries pile up while it happens.
//!
//! [`router`] serves, relative to where it is nested:
//!
//! | path | what |
//! |---|---|
//! | `GET /` | the page: one self-contained HTML document (CSS and JS inline, no external URL, so it works offline) that polls the snapshot twice a second and streams the events |
//! | `GET /snapshot.json` | [`registry::snapshot`](resilience_runtime::registry::snapshot) as `{"policies": [...]}` |
//! | `GET /events` | every [event](resilience_runtime::events) as a server-sent event, one JSON object each |
//! | `GET /metrics` | the metric set of [`series`](resilience_runtime::series) in the Prometheus text format |
//!
//! Any other path answers `404 Not Found`. [`serve`] runs the router alone on an
//! address ([`serve_on`]: on a listener already bound).
//!
//! ```
//! use axum::Router;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! // The service's own routes, with the dashboard under /resilience. (`nest_service`
//! // serves its page at both /resilience and /resilience/; axum's `nest` only at the
//! // first.)
//! let app: Router = Router::new().nest_service("/resilience", resilience_dashboard::router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! println!("dashboard on http://{}/resilience/", listener.local_addr()?);
//! let server = tokio::spawn(async move { axum::serve(listener, app).await });
//! # server.abort();
//! # Ok(())
//! # }
//! ```
//!
//! # The page
//!
//! Each policy is one card, an element with `data-policy` (the policy kind, as
//! `PolicyKind`'s `Display`: `circuit_breaker`, `bulkhead`, ...), `data-name` and, for
//! circuit breakers, `data-state` (the state in snake case: `closed`, `open`,
//! `half_open`, `forced_open`, `disabled`, `metrics_only`). It shows breaker states in
//! colour, failure rates, bulkhead fill (running / limit, and calls waiting),
//! rejections, retries and fallbacks, and the latest events with their diagnoses. The
//! page finds the other endpoints relative to its own address, so it works at any
//! nesting path, with or without a trailing slash. It is served with a
//! `Content-Security-Policy` that lets it load nothing from anywhere else, and it
//! writes every name and message as text, never as markup.
//!
//! # Events
//!
//! Each client of `/events` gets its own listener ([`events::subscribe`]), dropped when
//! the client goes away: hyper notices a closed connection at once, and a keep-alive
//! comment written every 3 seconds finds a peer that vanished without closing it. The
//! listener runs on the thread of the policy that emitted the event, so it never
//! waits: it puts the event in the client's bounded queue (capacity [`EVENT_QUEUE`]),
//! and a client too slow to keep up misses events instead of growing memory. Each server-sent event is a plain `data:`
//! message (no `event:` name, so `EventSource.onmessage` sees them all) holding one
//! JSON object:
//!
//! ```json
//! {"policy": "circuit_breaker", "name": "payments", "kind": "state_changed",
//!  "from": "closed", "to": "open", "reason": "6 of the last 10 calls failed (60% >= 50%)",
//!  "message": "circuit breaker 'payments' went closed -> open: 6 of the last 10 calls failed (60% >= 50%)",
//!  "timestamp": 1764579600123}
//! ```
//!
//! `policy`, `name` and `kind` always; then the kind's own fields under their names in
//! `EventKind` (durations as seconds, a number; states in snake case; a `Rejected`
//! event's `rejection` as its variant in snake case, with `retry_after`, `after` or
//! `max_concurrent` where the rejection has them); `message`, the event's diagnosis
//! (its `Display`); and `timestamp`, when it happened, in milliseconds since the Unix
//! epoch (wall clock, read when the event was emitted).
//!
//! # Metrics
//!
//! `/metrics` is rendered on each request from
//! [`series::all`](resilience_runtime::series::all) through `prometheus-client`'s text
//! encoder into a registry made for that request: no global recorder is installed, and
//! the encoder escapes label values, so a policy name with quotes, backslashes or line
//! breaks cannot break the exposition. It is the classic Prometheus text format
//! (version 0.0.4, `text/plain; version=0.0.4`): `# HELP` and `# TYPE` lines named as
//! the samples are (`# TYPE resilience_calls_total counter`), counters as whole
//! numbers, one family per metric, families with no series left out.
//!
//! [`events::subscribe`]: resilience_runtime::events::subscribe

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;

mod events;
mod metrics;
mod page;
mod snapshot;

pub use events::EVENT_QUEUE;

/// The dashboard's routes: `GET /` (the page), `GET /snapshot.json`, `GET /events`
/// (server-sent events) and `GET /metrics` (Prometheus text), relative to where the
/// router is nested; any other path is a `404`.
pub fn router() -> Router {
    Router::new()
        .route("/", get(page::page))
        .route("/snapshot.json", get(snapshot::snapshot))
        .route("/events", get(events::events))
        .route("/metrics", get(metrics::metrics))
        .fallback(not_found)
}

/// Serves [`router`] alone on `addr` until the task is dropped or the listener fails
/// (an address that cannot be bound is the error, as from `TcpListener::bind`).
///
/// ```no_run
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// resilience_dashboard::serve("127.0.0.1:9000".parse().unwrap()).await
/// # }
/// ```
pub async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    serve_on(tokio::net::TcpListener::bind(addr).await?).await
}

/// Serves [`router`] alone on a listener already bound, e.g. to `127.0.0.1:0` when the
/// caller wants the port the system picked before serving.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// println!("dashboard on http://{}/", listener.local_addr()?);
/// let dashboard = tokio::spawn(resilience_dashboard::serve_on(listener));
/// # dashboard.abort();
/// # Ok(()) }
/// ```
pub async fn serve_on(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router()).await
}

/// Unknown paths: a 404 that says what there is.
async fn not_found(uri: axum::http::Uri) -> (axum::http::StatusCode, String) {
    (
        axum::http::StatusCode::NOT_FOUND,
        format!(
            "no such page: {}; the dashboard serves /, /snapshot.json, /events and /metrics\n",
            uri.path()
        ),
    )
}
