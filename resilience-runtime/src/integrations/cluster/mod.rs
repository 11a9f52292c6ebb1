//! Cluster scope on Redis (feature `redis`): rate limits that hold across every
//! process connected to the same Redis, and breakers of one name that open together.
//!
//! ```no_run
//! use std::time::Duration;
//! use resilience_runtime::cluster::{self, OnStoreError};
//! use resilience_runtime::rate_limit::{Rate, RateLimiter};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // The process's cluster, for `#[rate_limit(scope = "cluster")]` and
//! // `#[circuit_breaker(scope = "cluster")]`:
//! let fleet = cluster::connect("redis://127.0.0.1:6379").await?;
//! // By hand, on any cluster:
//! let partner = RateLimiter::builder("partner-api")
//!     .rate(Rate::per_second(100))
//!     .cluster(&fleet)
//!     .batch(10)
//!     .on_store_error(OnStoreError::Local)
//!     .store_timeout(Duration::from_millis(50))
//!     .build()?;
//! partner.call(async { Ok::<_, resilience_runtime::Rejection>(()) }).await?;
//! # Ok(()) }
//! ```
//!
//! # Rate limits
//!
//! A cluster limiter keeps one GCRA state per name (and per key of a keyed limiter)
//! in one Redis string, `resilience:rl:{name}` (keyed: `resilience:rl:{name}:{hash of
//! the key}`), holding the theoretical arrival time in microseconds of Redis' clock.
//! Each decision is one `EVALSHA` of one Lua script (loaded once per connection, and
//! again when Redis answers `NOSCRIPT`, e.g. after a restart) that reads `TIME`,
//! decides, and writes the new state with an expiry at the moment the state would be
//! back to empty, so a limiter (or a key) that is idle leaves nothing in Redis.
//!
//! **What is exact.** Every process's decisions run on the one state, atomically, on
//! Redis' clock: over any period `T` the calls admitted by the whole fleet are at most
//! `burst + rate × T`, as for one local limiter, whatever the processes' clocks say.
//! `retry_after` is computed by the script on Redis' clock (rounded up to the
//! microsecond of `TIME`): a call made that much later is admitted unless another
//! process took the slot first. **What is not.** A wait for a slot (`max_wait`) is
//! slept on the process's clock, so it ends up to the network's latency after the
//! slot; a key's hash is the same in every process of the same build (two builds by
//! different Rust versions may hash keys differently and keep separate states).
//!
//! **Batches.** With `batch = N` a process asks for up to `N` slots in one round trip
//! (Redis grants as many as are free at that moment, at least the call's own) and
//! spends them itself, without a round trip, for at most `N` intervals after Redis
//! granted them; slots not spent by then lapse. Redis counts every slot it grants, so
//! the fleet never admits more than Redis granted: batching trades fairness between
//! processes (and slots that lapse unused) for round trips, never the bound.
//!
//! **Memory.** One key per limiter (per key of a keyed limiter) while it is in use:
//! about 90 bytes in Redis (the key's name, a 16-digit number and its expiry). The
//! script is cached once per Redis.
//!
//! **The sync paths.** `check`, `check_n` and the blocking `call_blocking*` cannot
//! await Redis: on a cluster limiter they decide on the process's own limiter (as
//! `on_store_error = "local"` does). Use `call`, `call_n` or `acquire_n` (and their
//! keyed forms). `#[rate_limit(scope = "cluster")]` on a plain `fn` is a compile error
//! for that reason.
//!
//! # When Redis is unreachable
//!
//! A call never waits on Redis longer than `store_timeout` (default 50ms). When Redis
//! does not answer in time or the connection fails, the call is decided by
//! `on_store_error`: [`OnStoreError::Local`] (default) by a limiter of this process
//! with the same settings (so the fleet admits up to N times the limit while the
//! outage lasts), [`OnStoreError::Allow`] admits, [`OnStoreError::Deny`] refuses with
//! `Rejection::RateLimited` (retry after one interval). The limiter emits
//! `EventKind::StoreUnavailable { error }` once per outage. From then on no call
//! touches Redis (none waits on it): one background task per [`Cluster`] sends `PING`
//! with a backoff from 25ms doubling to 400ms, and when Redis answers, decisions go
//! through it again (each limiter emits `EventKind::StoreRecovered` on its first
//! decision there), within about half a second of Redis answering. The task ends when
//! Redis answers or the cluster is dropped. The state in Redis is what it was (or
//! empty after a restart without persistence: a full burst).
//!
//! # Breakers
//!
//! See [`CircuitBreakerBuilder::cluster`](crate::circuit_breaker::CircuitBreakerBuilder::cluster):
//! each opening is published on the channel `resilience:cb:{name}` and recorded in
//! the sorted set `resilience:cb:{name}` (member: the process's id, score: when it
//! opened, on Redis' clock, expiring with `open_for`); once `quorum` distinct
//! processes opened within the last `open_for`, every process sharing the name opens
//! (reason "opened on N instances"), within 100 ms, and a process that starts later
//! reads the set when its breaker is built and opens too. Each process then recovers
//! through its own trials. With Redis unreachable, breakers act locally (their own
//! openings are not published, nor counted later) and each emits `StoreUnavailable`
//! once; a task per breaker subscribes again with a backoff from 25ms doubling to
//! 400ms, and `StoreRecovered` is emitted once it is subscribed. The task ends when
//! the breaker is dropped.
//!
//! # Running Redis for it
//!
//! Any Redis 6.2 or later (or Valkey); the state is small and recreated on demand, so
//! persistence is not needed (`redis-server --save '' --appendonly no`). Give every
//! process of the fleet the same URL (`redis://host:6379`, `rediss://` with TLS is
//! not enabled in this build). Redis Cluster (sharded) is not supported: use one
//! primary (with Sentinel or a managed failover if it must survive a machine).

mod breaker;
mod limiter;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

pub use limiter::OnStoreError;
pub(crate) use limiter::StoreOptions;

pub(crate) use breaker::BreakerCluster;
pub use breaker::DEFAULT_QUORUM;
pub use limiter::{DEFAULT_STORE_TIMEOUT, MAX_BATCH, script_hash};

/// What went wrong connecting to, or deciding through, the cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The URL is not a Redis URL.
    #[error("`{url}` is not a Redis URL ({error}): write e.g. `redis://127.0.0.1:6379`")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What the Redis client said.
        error: String,
    },
    /// Redis did not answer.
    #[error("could not reach Redis at `{url}`: {error}")]
    Unreachable {
        /// The URL given.
        url: String,
        /// What the Redis client said.
        error: String,
    },
    /// `scope = "cluster"` was used but this process connected no cluster.
    #[error(
        "{policy} '{name}' has `scope = \"cluster\"` but no cluster is connected: call \
         `resilience_runtime::cluster::connect(\"redis://...\").await` at start-up; until \
         then it decides locally"
    )]
    NotConnected {
        /// The attribute, e.g. `rate_limit`.
        policy: &'static str,
        /// The policy's name.
        name: String,
    },
}

/// A connection to the Redis that a fleet of processes shares. Cloning is cheap and
/// the clones share the connection.
#[derive(Clone)]
pub struct Cluster {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    url: String,
    client: redis::Client,
    connection: ConnectionManager,
    /// Redis answered the last decision (or ping).
    healthy: AtomicBool,
    /// A reconnection task is running.
    reconnecting: AtomicBool,
    /// Outages begun, for events.
    outages: AtomicU64,
    /// The last error seen, for `StoreUnavailable`.
    last_error: std::sync::Mutex<String>,
    /// This process's identity in the fleet (breaker quorums count distinct ids).
    pub(crate) id: String,
    /// Ends the background tasks when the last clone is dropped.
    stop: tokio::sync::watch::Sender<bool>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("url", &self.shared.url)
            .field("id", &self.shared.id)
            .field("healthy", &self.is_healthy())
            .finish()
    }
}

/// The process's cluster, set by [`connect`].
static PROCESS: RwLock<Option<Cluster>> = RwLock::new(None);

/// Connects to the Redis at `url` and makes it the process's cluster: the one
/// `#[rate_limit(scope = "cluster")]` and `#[circuit_breaker(scope = "cluster")]` use
/// (a later `connect` replaces it). Fails if Redis does not answer within a second.
pub async fn connect(url: &str) -> Result<Cluster, ClusterError> {
    let cluster = Cluster::connect(url).await?;
    *PROCESS.write().unwrap_or_else(|e| e.into_inner()) = Some(cluster.clone());
    Ok(cluster)
}

/// The process's cluster, if [`connect`] made one.
pub fn process() -> Option<Cluster> {
    PROCESS.read().unwrap_or_else(|e| e.into_inner()).clone()
}

impl Cluster {
    /// Connects to the Redis at `url` without making it the process's cluster (for
    /// by-hand builders, and tests that run several instances in one process). Fails
    /// if Redis does not answer within a second.
    pub async fn connect(url: &str) -> Result<Cluster, ClusterError> {
        let client = redis::Client::open(url).map_err(|e| ClusterError::InvalidUrl {
            url: url.to_owned(),
            error: e.to_string(),
        })?;
        let unreachable = |error: String| ClusterError::Unreachable {
            url: url.to_owned(),
            error,
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(100));
        let connection = tokio::time::timeout(
            Duration::from_secs(1),
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|_| unreachable("no answer within 1s".to_owned()))?
        .map_err(|e| unreachable(e.to_string()))?;
        let (stop, _) = tokio::sync::watch::channel(false);
        let cluster = Cluster {
            shared: Arc::new(Shared {
                url: url.to_owned(),
                client,
                connection,
                healthy: AtomicBool::new(true),
                reconnecting: AtomicBool::new(false),
                outages: AtomicU64::new(0),
                last_error: std::sync::Mutex::new(String::new()),
                id: format!("{:x}-{}", fastrand::u64(..), std::process::id()),
                stop,
            }),
        };
        Ok(cluster)
    }

    /// The URL it was connected with.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// This process's identity among the processes sharing the cluster (what a
    /// breaker's quorum counts).
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// Whether Redis answered the last decision: `false` during an outage, while
    /// decisions are made by `on_store_error`.
    pub fn is_healthy(&self) -> bool {
        self.shared.healthy.load(Ordering::Acquire)
    }

    /// Whether `self` and `other` are the same connection (clones of one another).
    pub fn ptr_eq(&self, other: &Cluster) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    pub(crate) fn connection(&self) -> ConnectionManager {
        self.shared.connection.clone()
    }

    pub(crate) fn client(&self) -> &redis::Client {
        &self.shared.client
    }

    pub(crate) fn stopped(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shared.stop.subscribe()
    }

    pub(crate) fn downgrade(&self) -> Weak<Shared> {
        Arc::downgrade(&self.shared)
    }

    /// The last error that began or continued an outage.
    pub(crate) fn last_error(&self) -> String {
        self.shared
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Redis failed or was too slow: decisions go local until a ping answers (one
    /// background task tries, with backoff, and ends when Redis answers or the
    /// cluster is dropped).
    pub(crate) fn failed(&self, error: String) {
        *self
            .shared
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = error;
        if self.shared.healthy.swap(false, Ordering::AcqRel) {
            self.shared.outages.fetch_add(1, Ordering::Relaxed);
        }
        if self.shared.reconnecting.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            self.shared.reconnecting.store(false, Ordering::Release);
            return;
        };
        handle.spawn(reconnect(self.downgrade(), self.stopped()));
    }
}

/// Pings Redis with backoff until it answers (decisions then go through it again),
/// or until the cluster is dropped.
async fn reconnect(shared: Weak<Shared>, mut stopped: tokio::sync::watch::Receiver<bool>) {
    let mut delay = Duration::from_millis(25);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stopped.changed() => return,
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let cluster = Cluster { shared };
        let mut connection = cluster.connection();
        let ping_cmd = redis::cmd("PING");
        let ping = ping_cmd.query_async::<String>(&mut connection);
        match tokio::time::timeout(Duration::from_millis(250), ping).await {
            Ok(Ok(_)) => {
                cluster.shared.reconnecting.store(false, Ordering::Release);
                cluster.shared.healthy.store(true, Ordering::Release);
                return;
            }
            Ok(Err(e)) => cluster.failed_again(e.to_string()),
            Err(_) => cluster.failed_again("no answer to PING within 250ms".to_owned()),
        }
        delay = (delay * 2).min(Duration::from_millis(400));
    }
}

impl Cluster {
    fn failed_again(&self, error: String) {
        *self
            .shared
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = error;
    }
}

/// Logs a [`ClusterError`] (a `tracing` error with feature `tracing`, else on
/// standard error).
pub(crate) fn log(error: &ClusterError) {
    #[cfg(feature = "tracing")]
    tracing::error!(target: "resilience_runtime", "{error}");
    #[cfg(not(feature = "tracing"))]
    eprintln!("resilience_runtime: {error}");
}
